//! Agents: registration and heartbeats (the dashboard's agent pages build on this).

use crate::error::AppError;
use crate::errors::view::AgentInfo;
use leptos::prelude::*;
use serde_json::Value;

#[cfg(feature = "ssr")]
pub mod ssr;

/// Registers an agent by name, or updates it when the name is known (scope `ingest`).
#[server(prefix = "/api/v1", endpoint = "register_agent", input = server_fn::codec::Json)]
pub async fn register_agent(
    name: String,
    kind: Option<String>,
    version: Option<String>,
    host: Option<String>,
    capabilities: Option<Vec<String>>,
    metadata: Option<Value>,
) -> Result<AgentInfo, AppError> {
    let key = crate::api_keys::ssr::authenticate().await?;
    let tenant = key.require(crate::api_keys::Scope::Ingest)?;
    let reg = ssr::Registration::parse(name, kind, version, host, capabilities, metadata)?;
    ssr::register(&crate::state::pool(), tenant, &reg).await
}

/// Records that an agent is alive, with its status and metrics (scope `ingest`).
#[server(prefix = "/api/v1", endpoint = "heartbeat", input = server_fn::codec::Json)]
pub async fn heartbeat(
    agent: String,
    status: Option<String>,
    metrics: Option<Value>,
) -> Result<AgentInfo, AppError> {
    let key = crate::api_keys::ssr::authenticate().await?;
    let tenant = key.require(crate::api_keys::Scope::Ingest)?;
    ssr::heartbeat(
        &crate::state::pool(),
        tenant,
        &agent,
        status.as_deref(),
        metrics,
    )
    .await
}
