//! AI fix suggestions (opt-in, with `ANTHROPIC_API_KEY`): "Suggest a fix" on an error's page
//! asks the Anthropic Messages API about the error, caches the answer per company and error
//! fingerprint, keeps each company within a token budget per minute, and shows the answer as
//! text with "create a playbook from this". A suggestion is never run by itself.

use crate::error::AppError;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;

/// An answer about one error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    pub text: String,
    pub model: String,
    /// Whether it came from the cache (asked before about an error with this fingerprint).
    pub cached: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// Tokens it cost (prompt and answer).
    pub tokens: i64,
    /// Whether it holds a playbook the editor can start from.
    pub has_playbook: bool,
}

/// What the group page shows: whether suggestions are on, and the cached one if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuggestionState {
    pub enabled: bool,
    pub suggestion: Option<Suggestion>,
    /// Whether the user may ask (members).
    pub can_ask: bool,
    /// The server's time, for relative times.
    pub now: DateTime<Utc>,
}

/// The cached suggestion for group `group`, if any, and whether suggestions are on (any
/// role); never calls the AI.
#[server(prefix = "/api/ui", endpoint = "suggest/get", input = server_fn::codec::Json)]
pub async fn load_suggestion(group: i64) -> Result<SuggestionState, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Viewer)?;
    let state = crate::state::app_state();
    Ok(SuggestionState {
        enabled: state.settings.ai.is_some(),
        suggestion: ssr::cached_for_group(&state.pool, tenant, group).await?,
        can_ask: ctx.require(crate::auth::Role::Member).is_ok(),
        now: Utc::now(),
    })
}

/// Asks the AI how to fix group `group` (members): the cached answer when this kind of error
/// was asked about before; 409 when suggestions are off (the message says how to turn them
/// on); 429 when the company's token budget for this minute is spent.
#[server(prefix = "/api/ui", endpoint = "suggest/ask")]
pub async fn suggest_fix(group: i64) -> Result<Suggestion, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Member)?;
    let state = crate::state::app_state();
    ssr::suggest(
        &state.pool,
        state.settings.ai.as_ref(),
        tenant,
        group,
        &ctx.actor(),
    )
    .await
}
