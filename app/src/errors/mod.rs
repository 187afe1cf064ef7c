//! Errors: ingestion (validation, scrubbing, classification, fingerprinting, the group-commit
//! writer) and the agent functions over it.

pub mod model;
#[cfg(feature = "ssr")]
pub mod pure;
#[cfg(feature = "ssr")]
pub mod ssr;
#[cfg(feature = "ssr")]
pub mod writer;

use crate::error::{AppError, ErrorBody};
use leptos::prelude::*;
use model::StoredEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The outcome of one item of a `log_errors` batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchItemResult {
    pub index: usize,
    pub ok: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub stored: Option<StoredEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// What `log_errors` answers: per-item results, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResult {
    pub accepted: usize,
    pub rejected: usize,
    pub results: Vec<BatchItemResult>,
}

/// Logs one error occurrence (scope `ingest`). Answers only once it is committed.
#[allow(clippy::too_many_arguments)]
#[server(prefix = "/api/v1", endpoint = "log_error", input = server_fn::codec::Json)]
pub async fn log_error(
    service: String,
    severity: String,
    error_type: String,
    message: String,
    details: Option<Value>,
    stack_trace: Option<String>,
    agent: Option<String>,
    timestamp: Option<String>,
    event_id: Option<String>,
    category: Option<String>,
    environment: Option<String>,
    release: Option<String>,
    tags: Option<Value>,
    fingerprint: Option<Vec<String>>,
) -> Result<StoredEvent, AppError> {
    let key = crate::api_keys::ssr::authenticate().await?;
    let input = model::LogErrorInput {
        service,
        severity,
        error_type,
        message,
        details,
        stack_trace,
        agent,
        timestamp,
        event_id,
        category,
        environment,
        release,
        tags,
        fingerprint,
    };
    ssr::log_one(&crate::state::app_state(), &key, input).await
}

/// Logs up to 1000 occurrences (scope `ingest`); one bad item does not reject the others.
#[server(prefix = "/api/v1", endpoint = "log_errors", input = server_fn::codec::Json)]
pub async fn log_errors(events: Vec<Value>) -> Result<BatchResult, AppError> {
    let key = crate::api_keys::ssr::authenticate().await?;
    ssr::log_batch(&crate::state::app_state(), &key, events).await
}
