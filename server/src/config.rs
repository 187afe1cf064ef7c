//! Command line and environment configuration (`faultline --help` documents every option).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;

/// Faultline: error tracking and auto-remediation for fleets of AI agents and their services.
#[derive(Debug, Parser)]
#[command(name = "faultline", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options every subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// PostgreSQL connection URL, e.g. postgres://faultline@localhost/faultline.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Log format: `pretty` for people, `json` for log collectors.
    #[arg(long, env = "FAULTLINE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,
    /// Maximum database connections in the pool.
    #[arg(
        long,
        env = "FAULTLINE_DB_MAX_CONNECTIONS",
        default_value_t = 20,
        global = true
    )]
    pub db_max_connections: u32,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run migrations, create the first super-admin if there is none, and serve (the default).
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create a tenant (company).
    CreateTenant {
        /// URL-safe identifier: 2–63 of a-z, 0-9 and '-'.
        #[arg(long)]
        slug: String,
        /// Display name.
        #[arg(long)]
        name: String,
    },
    /// Create a user (or update their role) in a tenant. The password is read from
    /// FAULTLINE_PASSWORD, else from the first line of standard input.
    CreateUser {
        #[arg(long)]
        email: String,
        /// Slug of the tenant to add the user to (optional with --super-admin).
        #[arg(long, required_unless_present = "super_admin")]
        tenant: Option<String>,
        /// admin, member or viewer.
        #[arg(long, default_value = "member")]
        role: String,
        /// Make the user a super-admin (sees and manages every tenant).
        #[arg(long)]
        super_admin: bool,
    },
    /// Create an API key; prints the key (once) alone on standard output.
    CreateApiKey {
        /// Slug of the tenant the key belongs to.
        #[arg(long)]
        tenant: String,
        /// A name telling what uses the key.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes among ingest, read, write, fix.
        #[arg(long, default_value = "ingest,read")]
        scopes: String,
    },
    /// Prepare the auto-fix demo (what `cargo xtask demo` runs): the tenant `demo`, its admin
    /// demo@faultline.local (password from FAULTLINE_PASSWORD), an enabled playbook that has
    /// the reporting agent restart the demo service and checks its health, and a new agent
    /// key, printed alone on standard output.
    SeedDemo {
        /// Base URL of the demo service (its /health is the playbook's check).
        #[arg(long)]
        service_url: String,
    },
}

/// Options of `faultline serve`.
#[derive(Debug, Clone, Parser)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "FAULTLINE_BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,
    /// E-mail of the super-admin created on first start.
    #[arg(
        long,
        env = "FAULTLINE_ADMIN_EMAIL",
        default_value = "admin@faultline.local"
    )]
    pub admin_email: String,
    /// Password of the super-admin created on first start; generated and printed once when unset.
    #[arg(long, env = "FAULTLINE_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Largest accepted request body in bytes (larger bodies get 413).
    #[arg(long, env = "FAULTLINE_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Mark the session cookie `Secure` (set when serving over HTTPS).
    #[arg(long, env = "FAULTLINE_SECURE_COOKIES", default_value_t = false)]
    pub secure_cookies: bool,
    /// Sign users out after this many days without activity.
    #[arg(long, env = "FAULTLINE_SESSION_DAYS", default_value_t = 7)]
    pub session_days: i64,
    /// Failed sign-ins per e-mail address before sign-in is paused.
    #[arg(long, env = "FAULTLINE_LOGIN_MAX_FAILURES", default_value_t = 5)]
    pub login_max_failures: i32,
    /// Window (seconds) over which failed sign-ins are counted, and the pause length.
    #[arg(long, env = "FAULTLINE_LOGIN_WINDOW_SECS", default_value_t = 900)]
    pub login_window_secs: i64,
    /// Ingest requests queued before new ones are answered 429.
    #[arg(long, env = "FAULTLINE_INGEST_QUEUE", default_value_t = 4096)]
    pub ingest_queue: usize,
    /// Ingest writer tasks, each committing its own batches on its own connection.
    #[arg(long, env = "FAULTLINE_INGEST_WRITERS", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..=16))]
    pub ingest_writers: u16,
    /// Agents silent for longer than this many seconds show as offline.
    #[arg(long, env = "FAULTLINE_AGENT_OFFLINE_SECS", default_value_t = 120)]
    pub agent_offline_secs: i64,
    /// Hosts playbook `http` steps and checks may call, comma-separated (`svc.internal`,
    /// `*.example.com`, `10.0.0.5`); link-local and cloud metadata addresses never.
    #[arg(
        long,
        env = "FAULTLINE_FIX_ALLOWED_HOSTS",
        value_delimiter = ',',
        default_value = ""
    )]
    pub fix_allowed_hosts: Vec<String>,
    /// Programs playbook `command` steps may run, by absolute path, comma-separated; none by
    /// default (commands are off).
    #[arg(
        long,
        env = "FAULTLINE_FIX_ALLOWED_COMMANDS",
        value_delimiter = ',',
        default_value = ""
    )]
    pub fix_allowed_commands: Vec<String>,
    /// Fix-run workers in this process (runs are claimed from PostgreSQL, so replicas share
    /// the work).
    #[arg(long, env = "FAULTLINE_FIX_WORKERS", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub fix_workers: u16,
    /// Consecutive failures of one playbook on one service that open its circuit breaker.
    #[arg(long, env = "FAULTLINE_FIX_BREAKER_FAILURES", default_value_t = 3,
          value_parser = clap::value_parser!(i32).range(1..=100))]
    pub fix_breaker_failures: i32,
    /// Seconds an open circuit breaker stays open.
    #[arg(long, env = "FAULTLINE_FIX_BREAKER_SECS", default_value_t = 900,
          value_parser = clap::value_parser!(i64).range(1..=7 * 86400))]
    pub fix_breaker_secs: i64,
    /// Seconds a fix run waits for an admin's approval before it expires.
    #[arg(long, env = "FAULTLINE_FIX_APPROVAL_SECS", default_value_t = 86400,
          value_parser = clap::value_parser!(i64).range(1..=30 * 86400))]
    pub fix_approval_secs: i64,
    /// Anthropic API key: turns on "Suggest a fix" on error pages (off without it).
    #[arg(long, env = "ANTHROPIC_API_KEY", hide_env_values = true)]
    pub anthropic_api_key: Option<String>,
    /// Base URL of the Anthropic Messages API (or a compatible endpoint).
    #[arg(
        long,
        env = "FAULTLINE_AI_BASE_URL",
        default_value = "https://api.anthropic.com"
    )]
    pub ai_base_url: String,
    /// The model asked for fix suggestions.
    #[arg(long, env = "FAULTLINE_AI_MODEL", default_value = "claude-sonnet-4-5")]
    pub ai_model: String,
    /// Tokens (prompt and answer) one company may spend on suggestions per minute.
    #[arg(long, env = "FAULTLINE_AI_TOKENS_PER_MINUTE", default_value_t = 20_000,
          value_parser = clap::value_parser!(i64).range(1000..=10_000_000))]
    pub ai_tokens_per_minute: i64,
    /// Sentry events one company's DSN may send per minute (0: no limit); more are answered
    /// 429 with Retry-After and X-Sentry-Rate-Limits, as Sentry SDKs expect.
    #[arg(long, env = "FAULTLINE_SENTRY_RATE_LIMIT", default_value_t = 6000)]
    pub sentry_rate_limit: u32,
    /// A token Prometheus must send (`Authorization: Bearer …`) to scrape /metrics; open
    /// when unset.
    #[arg(long, env = "FAULTLINE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Where people reach this server, for links in alerts (default: http://<bind>).
    #[arg(long, env = "FAULTLINE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Directory holding the built site (pkg/ with WASM, JS, CSS).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,
}

impl Default for ServeArgs {
    fn default() -> Self {
        ServeArgs::parse_from(["serve"])
    }
}

impl ServeArgs {
    /// The service-layer settings these options imply.
    pub fn settings(&self) -> app::state::Settings {
        app::state::Settings {
            login_max_failures: self.login_max_failures,
            login_window_secs: self.login_window_secs,
            max_body_bytes: self.max_body_bytes,
            ingest_queue: self.ingest_queue,
            ingest_writers: self.ingest_writers.into(),
            agent_offline_secs: self.agent_offline_secs,
            fix_policy: app::playbooks::rules::Policy {
                allowed_hosts: clean(&self.fix_allowed_hosts),
                allowed_commands: clean(&self.fix_allowed_commands),
            },
            fix_workers: self.fix_workers.into(),
            fix_breaker_failures: self.fix_breaker_failures,
            fix_breaker_secs: self.fix_breaker_secs,
            fix_approval_secs: self.fix_approval_secs,
            ai: self
                .anthropic_api_key
                .as_deref()
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|key| app::state::AiSettings {
                    api_key: key.to_owned(),
                    base_url: self.ai_base_url.trim_end_matches('/').to_owned(),
                    model: self.ai_model.clone(),
                    tokens_per_minute: self.ai_tokens_per_minute,
                    max_tokens: 1500,
                }),
            sentry_per_minute: self.sentry_rate_limit,
            public_url: self
                .public_url
                .clone()
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| format!("http://{}", self.bind)),
            alert_retry_base_ms: 5000,
            alert_check_ms: 10_000,
            metrics_token: self
                .metrics_token
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
        }
    }
}

/// A comma-separated option's values, trimmed, without empty ones.
fn clean(values: &[String]) -> Vec<String> {
    values
        .iter()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}
