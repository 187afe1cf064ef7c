//! Fix runs: a playbook applied to an error group — queued or waiting for approval, acted,
//! verified, rolled back on failure, and learned from. `ssr` holds the service (start,
//! approve, reject, cancel, list), `engine` the workers that carry runs out, `ui` the
//! auto-fix log at `/fixes`.

use crate::error::AppError;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod engine;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;

/// Every status a run can have, in the order a run goes through them.
pub const STATUSES: [&str; 9] = [
    "pending_approval",
    "queued",
    "running",
    "verifying",
    "succeeded",
    "failed",
    "rolled_back",
    "rejected",
    "cancelled",
];

/// Whether a run in `status` has not finished yet.
pub fn is_active(status: &str) -> bool {
    matches!(
        status,
        "pending_approval" | "queued" | "running" | "verifying"
    )
}

/// Whether a run in `status` is changing by itself now (queued, running or verifying) — what
/// pages showing it follow live.
pub fn is_moving(status: &str) -> bool {
    matches!(status, "queued" | "running" | "verifying")
}

/// One fix run as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixRun {
    pub id: i64,
    pub group_id: i64,
    /// The group's type and title.
    pub group_title: String,
    pub service: String,
    pub playbook_id: Option<i64>,
    pub playbook_name: String,
    /// `auto`, `user`, `agent` or `mcp`.
    pub trigger: String,
    pub triggered_by: String,
    pub status: String,
    /// Who approved or rejected it (or `system` when it expired), and their notes.
    pub decided_by: Option<String>,
    pub decision_notes: Option<String>,
    /// Why it ended as it did.
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl FixRun {
    /// How long it ran (or has been running), in milliseconds, once started.
    pub fn duration_ms(&self, now: DateTime<Utc>) -> Option<i64> {
        self.started_at.map(|s| {
            (self.finished_at.unwrap_or(now) - s)
                .num_milliseconds()
                .max(0)
        })
    }
}

/// One line of a run's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixStep {
    pub seq: i32,
    /// `act`, `verify`, `rollback` or `note`.
    pub phase: String,
    pub description: String,
    /// `running`, `ok` or `failed`.
    pub status: String,
    pub output: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A run with its step-by-step log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixDetail {
    pub run: FixRun,
    pub steps: Vec<FixStep>,
    /// The playbook as the run copied it, as pretty JSON.
    pub spec_json: String,
    /// The investigate_error task handed to the responder agent when it failed.
    pub responder_task_id: Option<i64>,
    /// Whether the signed-in user may approve, reject or cancel it.
    pub can_decide: bool,
    pub now: DateTime<Utc>,
}

/// A playbook's circuit breaker on one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breaker {
    pub playbook_id: i64,
    pub playbook_name: String,
    pub service: String,
    pub consecutive_failures: i32,
    /// Until when no run of the playbook on the service starts (`None`: closed).
    pub open_until: Option<DateTime<Utc>>,
}

/// Filters of the auto-fix log (all optional; they live in the URL).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FixFilter {
    pub status: Option<String>,
    pub playbook: Option<i64>,
    pub group: Option<i64>,
    pub trigger: Option<String>,
    /// Runs older than this id (keyset paging).
    pub before: Option<i64>,
}

/// A page of the auto-fix log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixList {
    pub runs: Vec<FixRun>,
    /// Where the next page starts, if there is one.
    pub next_before: Option<i64>,
    /// Runs waiting for approval (whatever the filter).
    pub pending: i64,
    /// Circuit breakers that have seen failures.
    pub breakers: Vec<Breaker>,
    /// The company's playbooks as (id, name), for the filter.
    pub playbooks: Vec<(i64, String)>,
    pub can_decide: bool,
    /// The server's time, for relative times (the browser has no clock here).
    pub now: DateTime<Utc>,
}

/// Runs shown per page.
pub const PAGE: i64 = 50;

/// The current company's fix runs, newest first (any role).
#[server(prefix = "/api/ui", endpoint = "fixes/list", input = server_fn::codec::Json)]
pub async fn list_fixes(filter: FixFilter) -> Result<FixList, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Viewer)?;
    let mut list = ssr::list(&crate::state::pool(), tenant, &filter).await?;
    list.can_decide = ctx.require(crate::auth::Role::Admin).is_ok();
    Ok(list)
}

/// One fix run with its log (any role); 404 for other companies' runs.
#[server(prefix = "/api/ui", endpoint = "fixes/get", input = server_fn::codec::Json)]
pub async fn get_fix(id: i64) -> Result<FixDetail, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Viewer)?;
    let mut detail = ssr::detail(&crate::state::pool(), tenant, id).await?;
    detail.can_decide = ctx.require(crate::auth::Role::Admin).is_ok();
    Ok(detail)
}

/// Starts a fix of group `group` (members): with `playbook`, that one; without, the best
/// enabled playbook that matches. Answers the run (queued, or waiting for approval).
#[server(prefix = "/api/ui", endpoint = "fixes/start")]
pub async fn start_fix(group: i64, playbook: Option<String>) -> Result<FixRun, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Member)?;
    let playbook = match playbook.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => Some(
            p.parse::<i64>()
                .map_err(|_| AppError::not_found("playbook"))?,
        ),
    };
    ssr::start(
        &crate::state::pool(),
        tenant,
        ssr::StartRequest {
            group,
            playbook,
            trigger: ssr::Trigger::User,
            actor: &ctx.actor(),
        },
    )
    .await
}

/// Approves (`approve` = `true`) or rejects a run waiting for approval (admin); a rejection
/// needs a reason. Audit-logged.
#[server(prefix = "/api/ui", endpoint = "fixes/decide")]
pub async fn decide_fix(id: i64, approve: String, notes: Option<String>) -> Result<(), AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Admin)?;
    let approve = match approve.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(AppError::invalid("approve", "must be true or false")),
    };
    ssr::decide(
        &crate::state::pool(),
        tenant,
        id,
        approve,
        notes.as_deref(),
        &ctx.actor(),
    )
    .await
}

/// Cancels a run that has not started acting (waiting for approval or queued; admin).
#[server(prefix = "/api/ui", endpoint = "fixes/cancel")]
pub async fn cancel_fix(id: i64) -> Result<(), AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Admin)?;
    ssr::cancel(&crate::state::pool(), tenant, id, &ctx.actor()).await
}

/// Starts a fix of error group `id` for an agent (scope `fix`): with `playbook_id`, that
/// playbook; without, the best enabled match. Answers the run.
#[cfg(feature = "ssr")]
#[server(prefix = "/api/v1", endpoint = "fix_error", input = server_fn::codec::Json)]
pub async fn fix_error(id: i64, playbook_id: Option<i64>) -> Result<FixRun, AppError> {
    let key = crate::api_keys::ssr::authenticate().await?;
    let tenant = key.require(crate::api_keys::Scope::Fix)?;
    ssr::start(
        &crate::state::pool(),
        tenant,
        ssr::StartRequest {
            group: id,
            playbook: playbook_id,
            trigger: ssr::Trigger::Agent,
            actor: &key.actor(),
        },
    )
    .await
}

/// One fix run with its step log, for an agent (scope `read`).
#[cfg(feature = "ssr")]
#[server(prefix = "/api/v1", endpoint = "get_fix_run", input = server_fn::codec::Json)]
pub async fn get_fix_run(id: i64) -> Result<FixDetail, AppError> {
    let key = crate::api_keys::ssr::authenticate().await?;
    ssr::detail(
        &crate::state::pool(),
        key.require(crate::api_keys::Scope::Read)?,
        id,
    )
    .await
}

/// The fix runs of one group and what may be started on it, for the group page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupFixes {
    pub runs: Vec<FixRun>,
    /// Enabled playbooks as (id, name, whether it matches this error), matching ones first,
    /// best candidate first.
    pub playbooks: Vec<(i64, String, bool)>,
    /// Whether the user may start a run (members) and decide on one (admins).
    pub can_start: bool,
    pub can_decide: bool,
    pub now: DateTime<Utc>,
}

/// The runs of group `group` and the playbooks that could fix it (any role).
#[server(prefix = "/api/ui", endpoint = "fixes/group", input = server_fn::codec::Json)]
pub async fn load_group_fixes(group: i64) -> Result<GroupFixes, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Viewer)?;
    let pool = crate::state::pool();
    let runs = ssr::of_group(&pool, tenant, group).await?;
    let stored = crate::playbooks::ssr::list(&pool, tenant).await?;
    let test = crate::playbooks::ssr::match_test(&pool, tenant, group, &stored).await?;
    let mut playbooks: Vec<(i64, String, bool)> = test
        .matches
        .iter()
        .filter(|m| stored.iter().any(|p| p.id == m.0 && p.spec.enabled))
        .map(|m| (m.0, m.1.clone(), true))
        .collect();
    let others: Vec<(i64, String, bool)> = stored
        .iter()
        .filter(|p| p.spec.enabled && !playbooks.iter().any(|m| m.0 == p.id))
        .map(|p| (p.id, p.spec.name.clone(), false))
        .collect();
    playbooks.extend(others);
    Ok(GroupFixes {
        runs,
        playbooks,
        can_start: ctx.require(crate::auth::Role::Member).is_ok(),
        can_decide: ctx.require(crate::auth::Role::Admin).is_ok(),
        now: Utc::now(),
    })
}
