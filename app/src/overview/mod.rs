//! The overview (`/`): a company's last 24 hours at a glance, its trend of events by
//! severity, its top errors and what happened recently.

use crate::error::AppError;
use crate::errors::view::GroupCount;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;

/// The trend chart's ranges as (URL value, label).
pub const TREND_RANGES: [(&str, &str); 3] =
    [("24h", "24 hours"), ("7d", "7 days"), ("30d", "30 days")];

/// Everything the overview shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    /// The server's clock (relative times read the same on server and browser).
    pub now: DateTime<Utc>,
    pub events_24h: i64,
    pub events_previous_24h: i64,
    /// Groups unresolved or regressed.
    pub unresolved: i64,
    /// Groups first seen in the last 24 hours.
    pub new_groups_24h: i64,
    /// Groups that regressed in the last 24 hours.
    pub regressions_24h: i64,
    pub agents_online: i64,
    pub agents_total: i64,
    /// Fix runs that ended in the last 7 days, and how many of them succeeded.
    pub fixes_finished_7d: i64,
    pub fixes_succeeded_7d: i64,
    /// Fix runs waiting for an admin's approval.
    pub fixes_waiting: i64,
    /// The chart's range, one of [`TREND_RANGES`].
    pub range: String,
    /// The trend chart as an SVG document (drawn by the server).
    pub chart_svg: String,
    /// Events per severity within the chart's range (critical, error, warning, info).
    pub chart_totals: [i64; 4],
    pub top: Vec<GroupCount>,
    pub activity: Vec<RecentActivity>,
    /// Whether the company has received any error (else the page teaches how to send one).
    pub has_any: bool,
    /// The seed REST endpoint as the browser reaches this server.
    pub ingest_url: String,
}

/// One entry of a company's recent history, with the group it is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentActivity {
    pub group_id: i64,
    pub group_title: String,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub actor: String,
    pub notes: Option<String>,
}

/// The current company's overview (any role); `range` is one of [`TREND_RANGES`] (default 24h).
#[server(prefix = "/api/ui", endpoint = "overview", input = server_fn::codec::Json)]
pub async fn load_overview(range: Option<String>) -> Result<Overview, AppError> {
    let tenant = crate::auth::ssr::auth()
        .await?
        .require(crate::auth::Role::Viewer)?;
    let range = ssr::TrendRange::parse(range.as_deref())?;
    let headers = leptos_axum::extract::<http::HeaderMap>()
        .await
        .map_err(|_| AppError::Internal)?;
    let state = crate::state::app_state();
    ssr::overview(
        &state.pool,
        tenant,
        range,
        state.settings.agent_offline_secs,
        format!("{}/api/errors/log", crate::ui::widgets::origin(&headers)),
    )
    .await
}
