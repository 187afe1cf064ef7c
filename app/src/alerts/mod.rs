//! Alert rules: a company hears about a new group, a regression, more than N events in M
//! minutes (per group or service), a failed fix, or an agent offline for N minutes — through
//! a generic webhook (JSON) or a Slack incoming webhook — at most once per throttle period.
//! Alerts go through an outbox (`alert_deliveries`) sent with retries and exponential backoff
//! with jitter; the outbox is the delivery log Settings shows. Managed in Settings by admins.

use crate::error::AppError;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod engine;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;

/// The kinds of rule, as (value, label).
pub const KINDS: [(&str, &str); 5] = [
    ("new_group", "a new error group"),
    ("regression", "a resolved error comes back"),
    ("rate", "more than N events in M minutes"),
    ("fix_failed", "a fix run fails"),
    ("agent_offline", "an agent is offline for N minutes"),
];

/// One rule as Settings shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRule {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub threshold: i32,
    pub window_minutes: i32,
    pub per: String,
    pub min_severity: Option<String>,
    pub service: Option<String>,
    pub environment: Option<String>,
    pub channel: String,
    pub url: String,
    pub throttle_secs: i32,
    pub enabled: bool,
    pub last_fired_at: Option<DateTime<Utc>>,
}

/// One alert sent (or being sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: i64,
    pub rule_name: String,
    pub event: String,
    pub summary: String,
    pub channel: String,
    /// pending, delivered or failed.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub response_status: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub next_attempt_at: DateTime<Utc>,
}

/// The company's rules and its latest deliveries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertSettings {
    pub rules: Vec<AlertRule>,
    pub deliveries: Vec<Delivery>,
    pub can_edit: bool,
    pub now: DateTime<Utc>,
}

/// A rule as the form posts it (all text; checked by `ssr::parse_rule`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuleForm {
    pub name: String,
    pub kind: String,
    pub threshold: String,
    pub window_minutes: String,
    pub per: String,
    pub min_severity: String,
    pub service: String,
    pub environment: String,
    pub channel: String,
    pub url: String,
    pub throttle_secs: String,
}

/// The current company's alert rules and delivery log (any role; admins edit).
#[server(prefix = "/api/ui", endpoint = "alerts/list", input = server_fn::codec::Json)]
pub async fn load_alerts() -> Result<AlertSettings, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Viewer)?;
    let pool = crate::state::pool();
    Ok(AlertSettings {
        rules: ssr::rules(&pool, tenant).await?,
        deliveries: ssr::deliveries(&pool, tenant).await?,
        can_edit: ctx.require(crate::auth::Role::Admin).is_ok(),
        now: Utc::now(),
    })
}

/// Adds an alert rule (admin); every problem is named by its field.
#[server(prefix = "/api/ui", endpoint = "alerts/create")]
pub async fn create_alert_rule(rule: RuleForm) -> Result<i64, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Admin)?;
    let state = crate::state::app_state();
    let rule = ssr::parse_rule(&rule, &state.settings.fix_policy)?;
    ssr::create(&state.pool, tenant, &rule, &ctx.actor()).await
}

/// Turns a rule on or off, or deletes it (admin): `action` is `enable`, `disable` or
/// `delete`.
#[server(prefix = "/api/ui", endpoint = "alerts/change")]
pub async fn change_alert_rule(id: i64, action: String) -> Result<(), AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Admin)?;
    ssr::change(&crate::state::pool(), tenant, id, &action, &ctx.actor()).await
}

/// Sends a test alert through a rule's channel (admin); it shows in the delivery log.
#[server(prefix = "/api/ui", endpoint = "alerts/test")]
pub async fn test_alert_rule(id: i64) -> Result<(), AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Admin)?;
    ssr::send_test(&crate::state::pool(), tenant, id, &ctx.actor()).await
}
