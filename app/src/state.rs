//! Shared server state, handed to every server function as Leptos context and to axum
//! handlers as router state.

use crate::errors::writer::IngestHandle;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Instant;

/// Tunables the service layer needs; the server fills them from its configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Failed sign-ins allowed per e-mail address within `login_window_secs`.
    pub login_max_failures: i32,
    /// Length of the failed sign-in window, in seconds.
    pub login_window_secs: i64,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Requests the ingest queue holds before answering 429.
    pub ingest_queue: usize,
    /// Writer tasks committing events side by side (each owns a share of the groups).
    pub ingest_writers: usize,
    /// Agents silent for longer than this show as offline.
    pub agent_offline_secs: i64,
    /// What playbook steps may reach (hosts) and run (programs).
    pub fix_policy: crate::playbooks::rules::Policy,
    /// Fix-run workers per server process.
    pub fix_workers: usize,
    /// Consecutive failures of a playbook on one service that open its circuit breaker.
    pub fix_breaker_failures: i32,
    /// How long an open circuit breaker stays open, in seconds.
    pub fix_breaker_secs: i64,
    /// How long a run waits for approval before it expires, in seconds.
    pub fix_approval_secs: i64,
    /// AI fix suggestions, when an Anthropic API key is configured.
    pub ai: Option<AiSettings>,
    /// Sentry events one company's DSN may send per minute (0: no limit).
    pub sentry_per_minute: u32,
    /// When set, `/metrics` needs `Authorization: Bearer <this>`.
    pub metrics_token: Option<String>,
    /// Where people reach this server (links in alerts), e.g. `https://faultline.example.com`.
    pub public_url: String,
    /// The first retry of a failed alert delivery waits this long (then doubling).
    pub alert_retry_base_ms: u64,
    /// How often rate and agent-offline alert rules are checked, in milliseconds.
    pub alert_check_ms: u64,
}

/// Where and how AI fix suggestions are asked for.
#[derive(Clone)]
pub struct AiSettings {
    pub api_key: String,
    /// The Messages API's base URL (`https://api.anthropic.com`, or a compatible proxy).
    pub base_url: String,
    pub model: String,
    /// Tokens (prompt and answer) one company may spend per minute.
    pub tokens_per_minute: i64,
    /// Longest answer, in tokens.
    pub max_tokens: u32,
}

impl std::fmt::Debug for AiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AiSettings")
            .field("api_key", &"[Filtered]")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("tokens_per_minute", &self.tokens_per_minute)
            .field("max_tokens", &self.max_tokens)
            .finish()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            login_max_failures: 5,
            login_window_secs: 15 * 60,
            max_body_bytes: 1024 * 1024,
            ingest_queue: 4096,
            ingest_writers: 2,
            agent_offline_secs: 120,
            fix_policy: Default::default(),
            fix_workers: 4,
            fix_breaker_failures: 3,
            fix_breaker_secs: 15 * 60,
            fix_approval_secs: 24 * 3600,
            ai: None,
            sentry_per_minute: 6000,
            metrics_token: None,
            public_url: "http://127.0.0.1:3000".into(),
            alert_retry_base_ms: 5000,
            alert_check_ms: 10_000,
        }
    }
}

/// Everything a request handler may need. Cheap to clone.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub started_at: Instant,
    /// The group-commit writer every ingest path submits to.
    pub ingest: IngestHandle,
    /// Changes to groups, for the live feed.
    pub live: crate::errors::live::Live,
}

/// The state provided to the current server function (panics only if the router was built
/// without providing it, which the integration tests would catch at once).
pub fn app_state() -> AppState {
    leptos::prelude::expect_context::<AppState>()
}

/// The connection pool of the current server function.
pub fn pool() -> PgPool {
    app_state().pool
}
