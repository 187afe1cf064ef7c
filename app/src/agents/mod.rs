//! Agents: registration and heartbeats over the agent API, and the dashboard's agent pages.

use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::errors::view::AgentInfo;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[cfg(feature = "ssr")]
pub mod ssr;
#[cfg(feature = "ssr")]
pub mod tasks;

/// Registers an agent by name, or updates it when the name is known (scope `ingest`).
#[cfg(feature = "ssr")]
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
#[cfg(feature = "ssr")]
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

pub mod ui;

/// How an agent's heartbeats look: `online` (recent), `stale` (late, not yet offline) or
/// `offline` (silent longer than the configured time).
pub fn health(age_secs: i64, offline_after_secs: i64) -> &'static str {
    if age_secs <= offline_after_secs / 2 {
        "online"
    } else if age_secs <= offline_after_secs {
        "stale"
    } else {
        "offline"
    }
}

/// An agent as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub version: Option<String>,
    pub host: Option<String>,
    /// What the agent last reported about itself (`online`, `degraded`, …).
    pub reported_status: String,
    /// From heartbeats: see [`health`].
    pub health: String,
    pub last_heartbeat_at: DateTime<Utc>,
    pub registered_at: DateTime<Utc>,
    /// Events it sent in the last 24 hours.
    pub errors_24h: i64,
    /// Unresolved or regressed groups it reported last.
    pub open_groups: i64,
    /// What it is working on, as (group id, text): open tasks about a group (fix runs'
    /// included), then the open groups assigned to it.
    pub assigned: Vec<(i64, String)>,
}

/// The agent list and the server's clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentList {
    pub agents: Vec<AgentRow>,
    pub now: DateTime<Utc>,
    /// After how long without a heartbeat an agent counts as offline, in seconds.
    pub offline_after_secs: i64,
}

/// One agent with its errors over time and its latest heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentDetail {
    pub agent: AgentRow,
    pub now: DateTime<Utc>,
    pub capabilities: Vec<String>,
    /// Registration metadata, pretty-printed JSON (empty when none).
    pub metadata: String,
    /// The latest heartbeat's metrics as (name, value), by name.
    pub metrics: Vec<(String, String)>,
    /// Its events per hour over the last 48 hours by severity, as an SVG chart.
    pub chart_svg: String,
    pub chart_total: i64,
    /// Groups it reported in the last 7 days, most frequent first.
    pub groups: Vec<crate::errors::view::GroupCount>,
    /// Its latest tasks, newest first.
    pub tasks: Vec<TaskRow>,
    /// Whether the signed-in user may hand it tasks (member or admin).
    pub can_act: bool,
}

/// A task as the agent receives it from `next_task`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentTask {
    pub task_id: i64,
    /// The task's name, e.g. `restart_service`.
    pub task: String,
    pub params: Value,
    /// The error group it is about, if any.
    pub group_id: Option<i64>,
    /// How many times it has been claimed (more than 1: an earlier lease expired).
    pub attempts: i32,
    /// Seconds the agent holds it; after that another claim may take it.
    pub lease_secs: i32,
}

/// A task as the agent's page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRow {
    pub id: i64,
    pub task: String,
    /// `pending`, `claimed`, `succeeded` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The start of the agent's output.
    pub output: Option<String>,
}

/// The next task for `agent`, waiting up to `wait_secs` (default and most 30) for one; `null`
/// when none arrived (scope `fix`). The task is held for `lease_secs`.
#[cfg(feature = "ssr")]
#[server(prefix = "/api/v1", endpoint = "next_task", input = server_fn::codec::Json)]
pub async fn next_task(
    agent: String,
    wait_secs: Option<u32>,
) -> Result<Option<AgentTask>, AppError> {
    let key = crate::api_keys::ssr::authenticate().await?;
    let tenant = key.require(crate::api_keys::Scope::Fix)?;
    tasks::next(&crate::state::pool(), tenant, &agent, wait_secs).await
}

/// Reports the result of a task `agent` holds (scope `fix`); 409 for a task it does not hold.
#[cfg(feature = "ssr")]
#[server(prefix = "/api/v1", endpoint = "complete_task", input = server_fn::codec::Json)]
pub async fn complete_task(
    agent: String,
    task_id: i64,
    ok: bool,
    output: Option<String>,
) -> Result<(), AppError> {
    let key = crate::api_keys::ssr::authenticate().await?;
    let tenant = key.require(crate::api_keys::Scope::Fix)?;
    tasks::complete(
        &crate::state::pool(),
        tenant,
        &agent,
        task_id,
        ok,
        output.as_deref(),
    )
    .await
}

/// Hands a task to one of the company's agents from its page (member or admin).
#[server(prefix = "/api/ui", endpoint = "agents/task")]
pub async fn send_agent_task(agent_id: i64, task: String) -> Result<i64, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Member)?;
    tasks::enqueue(
        &crate::state::pool(),
        tenant,
        agent_id,
        &task,
        serde_json::json!({}),
        None,
        &ctx.actor(),
    )
    .await
}

/// Every agent of the current company (any role).
#[server(prefix = "/api/ui", endpoint = "agents", input = server_fn::codec::Json)]
pub async fn load_agents() -> Result<AgentList, AppError> {
    let tenant = crate::auth::ssr::auth()
        .await?
        .require(crate::auth::Role::Viewer)?;
    let state = crate::state::app_state();
    ssr::list(&state.pool, tenant, state.settings.agent_offline_secs).await
}

/// One agent of the current company; 404 for any other id.
#[server(prefix = "/api/ui", endpoint = "agents/detail", input = server_fn::codec::Json)]
pub async fn load_agent(id: i64) -> Result<AgentDetail, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Viewer)?;
    let state = crate::state::app_state();
    let mut detail =
        ssr::detail(&state.pool, tenant, id, state.settings.agent_offline_secs).await?;
    detail.tasks = tasks::recent(&state.pool, tenant, id).await?;
    detail.can_act = ctx.require(crate::auth::Role::Member).is_ok();
    Ok(detail)
}
