//! What reading errors returns: groups, events, activity, lists, health. Shared by server
//! functions, the seed REST API and (later) the dashboard.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One error group (seed 001 calls it an error; `id` is the group id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorGroup {
    pub id: i64,
    pub fingerprint: String,
    pub service: String,
    pub error_type: String,
    pub category: String,
    pub severity: String,
    pub title: String,
    /// The latest message (seed 001's `message`).
    pub message: String,
    pub timestamp: DateTime<Utc>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub occurrences: i64,
    pub status: String,
    pub resolved: bool,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub resolution_notes: Option<String>,
    pub agent: Option<String>,
    pub auto_fix_attempted: bool,
    pub auto_fix_successful: bool,
    /// The member (e-mail) or agent (`agent <name>`) it is assigned to.
    #[serde(default)]
    pub assignee: Option<String>,
}

/// One stored occurrence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent {
    pub event_id: uuid::Uuid,
    pub service: String,
    pub severity: String,
    pub message: String,
    pub details: Option<Value>,
    pub stack_trace: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub tags: Option<Value>,
    pub agent: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

/// One entry of a group's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityEntry {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub actor: String,
    pub notes: Option<String>,
}

/// A group with its latest and recent events and its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    #[serde(flatten)]
    pub group: ErrorGroup,
    pub latest_event: Option<ErrorEvent>,
    pub recent_events: Vec<ErrorEvent>,
    pub activity: Vec<ActivityEntry>,
}

/// A page of groups: `total` counts every match, `next_cursor` continues the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorList {
    pub total: i64,
    pub errors: Vec<ErrorGroup>,
    pub next_cursor: Option<String>,
}

/// Filters for listing groups; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListQuery {
    pub severity: Option<String>,
    /// unresolved, resolved, ignored or regressed.
    pub status: Option<String>,
    /// Seed 001's filter: `true` = resolved, `false` = anything else.
    pub resolved: Option<bool>,
    pub service: Option<String>,
    /// Agent name: groups with an event from that agent.
    pub agent: Option<String>,
    pub category: Option<String>,
    /// Full-text search over service, type and title.
    pub q: Option<String>,
    /// RFC 3339 bounds on `last_seen`.
    pub since: Option<String>,
    pub until: Option<String>,
    /// last_seen (default), count or first_seen; always newest/most first.
    pub sort: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A group with its count within a time window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopError {
    #[serde(flatten)]
    pub group: ErrorGroup,
    pub recent_occurrences: i64,
}

/// A group with its count in a time window, as dashboard lists show it (fewer fields than
/// [`TopError`] and no flattening, so the browser build stays small).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupCount {
    pub id: i64,
    pub severity: String,
    pub error_type: String,
    pub title: String,
    pub service: String,
    pub status: String,
    pub count: i64,
}

impl From<TopError> for GroupCount {
    fn from(t: TopError) -> Self {
        let g = t.group;
        GroupCount {
            id: g.id,
            severity: g.severity,
            error_type: g.error_type,
            title: g.title,
            service: g.service,
            status: g.status,
            count: t.recent_occurrences,
        }
    }
}

/// The fleet at a glance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemHealth {
    pub total_groups: i64,
    pub total_events: i64,
    pub unresolved_groups: i64,
    pub unresolved_by_severity: Value,
    pub events_last_hour: i64,
    pub events_previous_hour: i64,
    /// Relative change of the last hour against the one before (null when that was 0).
    pub error_rate_change: Option<f64>,
    pub agents_online: i64,
    pub agents_offline: i64,
    pub top_categories: Vec<CategoryCount>,
}

/// Unresolved groups of one category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryCount {
    pub category: String,
    pub groups: i64,
}

/// An agent as `register_agent` and `heartbeat` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub agent_id: i64,
    pub name: String,
    pub status: String,
    pub last_heartbeat_at: DateTime<Utc>,
}
