//! Errors: ingestion (validation, scrubbing, classification, fingerprinting, the group-commit
//! writer) and the agent functions over it.

#[cfg(feature = "ssr")]
pub mod live;
pub mod model;
#[cfg(feature = "ssr")]
pub mod pure;
#[cfg(feature = "ssr")]
pub mod read;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;
pub mod view;
#[cfg(feature = "ssr")]
pub mod writer;

#[cfg(feature = "ssr")]
use crate::error::AppError;
use crate::error::ErrorBody;
#[cfg(feature = "ssr")]
use leptos::prelude::*;
use model::StoredEvent;
use serde::{Deserialize, Serialize};
#[cfg(feature = "ssr")]
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
#[cfg(feature = "ssr")]
#[server(prefix = "/api/v1", endpoint = "log_error", input = server_fn::codec::Json)]
pub async fn log_error(
    service: String,
    severity: String,
    error_type: String,
    message: String,
    details: Option<model::JsonText>,
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
#[cfg(feature = "ssr")]
#[server(prefix = "/api/v1", endpoint = "log_errors", input = server_fn::codec::Json)]
pub async fn log_errors(events: Vec<model::BatchItem>) -> Result<BatchResult, AppError> {
    let key = crate::api_keys::ssr::authenticate().await?;
    ssr::log_batch(&crate::state::app_state(), &key, events).await
}

/// Lists groups with filters, sort and keyset pagination (scope `read`). Every argument is
/// optional; see [`view::ListQuery`].
#[allow(clippy::too_many_arguments)]
#[cfg(feature = "ssr")]
#[server(prefix = "/api/v1", endpoint = "list_errors", input = server_fn::codec::Json)]
pub async fn list_errors(
    severity: Option<String>,
    status: Option<String>,
    resolved: Option<bool>,
    service: Option<String>,
    agent: Option<String>,
    category: Option<String>,
    q: Option<String>,
    since: Option<String>,
    until: Option<String>,
    sort: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
) -> Result<view::ErrorList, AppError> {
    let query = view::ListQuery {
        severity,
        status,
        resolved,
        service,
        agent,
        category,
        q,
        since,
        until,
        sort,
        limit,
        cursor,
    };
    let key = crate::api_keys::ssr::authenticate().await?;
    read::list(
        &crate::state::pool(),
        key.require(crate::api_keys::Scope::Read)?,
        &query,
    )
    .await
}

/// One group with its latest event, recent events and activity (scope `read`).
#[cfg(feature = "ssr")]
#[server(prefix = "/api/v1", endpoint = "get_error", input = server_fn::codec::Json)]
pub async fn get_error(id: i64) -> Result<view::ErrorDetail, AppError> {
    let key = crate::api_keys::ssr::authenticate().await?;
    read::detail(
        &crate::state::pool(),
        key.require(crate::api_keys::Scope::Read)?,
        id,
    )
    .await
}

/// Resolves a group with notes; the key is recorded as the actor (scope `write`).
#[cfg(feature = "ssr")]
#[server(prefix = "/api/v1", endpoint = "resolve_error", input = server_fn::codec::Json)]
pub async fn resolve_error(
    id: i64,
    resolution_notes: Option<String>,
) -> Result<view::ErrorGroup, AppError> {
    let key = crate::api_keys::ssr::authenticate().await?;
    let tenant = key.require(crate::api_keys::Scope::Write)?;
    read::resolve(
        &crate::state::pool(),
        tenant,
        id,
        resolution_notes.as_deref(),
        &key.actor(),
    )
    .await
}

/// The most frequent groups of the last `hours` (scope `read`).
#[cfg(feature = "ssr")]
#[server(prefix = "/api/v1", endpoint = "get_top_errors", input = server_fn::codec::Json)]
pub async fn get_top_errors(
    limit: Option<i64>,
    hours: Option<i64>,
) -> Result<Vec<view::TopError>, AppError> {
    let key = crate::api_keys::ssr::authenticate().await?;
    read::top(
        &crate::state::pool(),
        key.require(crate::api_keys::Scope::Read)?,
        limit,
        hours,
    )
    .await
}

/// The groups one agent reported in the last `hours` (scope `read`).
#[cfg(feature = "ssr")]
#[server(prefix = "/api/v1", endpoint = "get_agent_errors", input = server_fn::codec::Json)]
pub async fn get_agent_errors(
    agent: String,
    hours: Option<i64>,
) -> Result<Vec<view::TopError>, AppError> {
    let key = crate::api_keys::ssr::authenticate().await?;
    read::agent_errors(
        &crate::state::pool(),
        key.require(crate::api_keys::Scope::Read)?,
        &agent,
        hours,
    )
    .await
}

/// Totals, unresolved by severity, error-rate trend, agents and top categories (scope `read`).
#[cfg(feature = "ssr")]
#[server(prefix = "/api/v1", endpoint = "get_system_health", input = server_fn::codec::Json)]
pub async fn get_system_health() -> Result<view::SystemHealth, AppError> {
    let key = crate::api_keys::ssr::authenticate().await?;
    let state = crate::state::app_state();
    read::health(
        &state.pool,
        key.require(crate::api_keys::Scope::Read)?,
        state.settings.agent_offline_secs,
    )
    .await
}
