//! The MCP server at `/mcp` (Streamable HTTP, stateless, so any replica answers any
//! request): tools for AI assistants over the same services as every other interface,
//! authenticated by the `Authorization: Bearer <api key>` of each request with the key's
//! scopes enforced per tool. Results are JSON text plus `structuredContent`; failures are tool
//! errors whose message names the bad argument.

use crate::api_keys::Scope;
use crate::api_keys::ssr::{ApiKeyContext, bearer, verify};
use crate::error::AppError;
use crate::state::AppState;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// The MCP service to mount at `/mcp`.
pub fn service(
    state: AppState,
) -> rmcp::transport::streamable_http_server::StreamableHttpService<
    Faultline,
    rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
> {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    StreamableHttpService::new(
        move || Ok(Faultline::new(state.clone())),
        Default::default(),
        // Stateless: no session to pin a client to one replica. Every call carries its own
        // bearer key (not an ambient credential), so the DNS-rebinding Host check is not
        // needed and behind a proxy it would refuse the public host name.
        StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .disable_allowed_hosts(),
    )
}

/// One MCP handler (made per request).
#[derive(Clone)]
pub struct Faultline {
    state: AppState,
    tool_router: ToolRouter<Self>,
}

/// The error as an assistant should read it: bad arguments by name.
fn tool_error(e: AppError) -> CallToolResult {
    let text = match &e {
        AppError::Invalid { field, .. } => {
            format!("invalid argument `{field}`: {}", e.message())
        }
        _ => format!("{} ({})", e.message(), e.code()),
    };
    CallToolResult::error(vec![ContentBlock::text(text)])
}

/// A result as JSON text and `structuredContent` (always an object).
fn done(value: Value) -> CallToolResult {
    CallToolResult::structured(value)
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListArgs {
    /// Only this severity: critical, error, warning or info.
    #[serde(default)]
    pub severity: Option<String>,
    /// Only this status: unresolved (the default view), resolved, ignored or regressed.
    #[serde(default)]
    pub status: Option<String>,
    /// true: only resolved groups; false: only open ones.
    #[serde(default)]
    pub resolved: Option<bool>,
    /// Only errors from this service.
    #[serde(default)]
    pub service: Option<String>,
    /// Only errors reported by the agent with this name.
    #[serde(default)]
    pub agent: Option<String>,
    /// Full-text search over service, error type and message.
    #[serde(default)]
    pub q: Option<String>,
    /// How many groups (1–200, default 50).
    #[serde(default)]
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct IdArgs {
    /// The error group's id (from errors_list).
    pub id: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ResolveArgs {
    /// The error group's id.
    pub id: i64,
    /// What fixed it, for the people and agents who see it next.
    #[serde(default)]
    pub notes: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct IgnoreArgs {
    /// The error group's id.
    pub id: i64,
    /// forever (default), 1h, 24h, 7d, or count (until `count` more events arrive).
    #[serde(default)]
    pub mode: Option<String>,
    /// With mode `count`: how many more events end the ignore.
    #[serde(default)]
    pub count: Option<i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AssignArgs {
    /// The error group's id.
    pub id: i64,
    /// The name of the agent that takes the error (usually yourself, as registered).
    pub agent: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CommentArgs {
    /// The error group's id.
    pub id: i64,
    /// The comment (what you found, what you tried).
    pub notes: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct FixArgs {
    /// The error group's id.
    pub id: i64,
    /// A playbook to run; without it, the best enabled playbook that matches the error.
    #[serde(default)]
    pub playbook_id: Option<i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TopArgs {
    /// How many groups (1–100, default 10).
    #[serde(default)]
    pub limit: Option<i64>,
    /// The window in hours (1–720, default 24).
    #[serde(default)]
    pub hours: Option<i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct FixesArgs {
    /// Only runs with this status: pending_approval, queued, running, verifying, succeeded,
    /// failed, rolled_back, rejected or cancelled.
    #[serde(default)]
    pub status: Option<String>,
    /// Only runs on this error group.
    #[serde(default)]
    pub error_id: Option<i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ProposeArgs {
    /// The error group's id.
    pub id: i64,
    /// A short name for the fix.
    pub name: String,
    /// Why these steps should fix it.
    #[serde(default)]
    pub description: Option<String>,
    /// The steps, in order. Each is an object: {"type":"agent_task","task":"restart_service",
    /// "agent":"<name, optional>"}, {"type":"http","method":"POST","url":"http://…",
    /// "expect_status":200}, {"type":"wait","secs":N}, or {"type":"command","program":"/abs/path",
    /// "args":[…]} (only allow-listed programs).
    pub actions: Vec<Value>,
    /// How to prove it worked: {"type":"no_recurrence","secs":N}, {"type":"http","url":"…"} or
    /// {"type":"agent_task","task":"…"}; null for none.
    #[serde(default)]
    pub verify: Option<Value>,
    /// Steps that undo the fix if it fails, same shape as `actions`.
    #[serde(default)]
    pub rollback: Vec<Value>,
    /// low, medium (default) or high.
    #[serde(default)]
    pub risk: Option<String>,
}

impl Faultline {
    /// The calling key, from this request's `Authorization` header, with `scope`.
    async fn key(
        &self,
        ctx: &RequestContext<RoleServer>,
        scope: Scope,
    ) -> Result<(ApiKeyContext, i64), CallToolResult> {
        let parts = ctx
            .extensions
            .get::<http::request::Parts>()
            .ok_or_else(|| tool_error(AppError::Unauthorized("no HTTP request".into())))?;
        let secret = bearer(&parts.headers).map_err(tool_error)?;
        let key = verify(&self.state.pool, secret).await.map_err(tool_error)?;
        let tenant = key.require(scope).map_err(tool_error)?;
        Ok((key, tenant))
    }
}

/// Runs `body` with the caller's key, turning every failure into a tool error.
macro_rules! with_key {
    ($self:ident, $ctx:ident, $scope:expr, |$key:ident, $tenant:ident| $body:expr) => {{
        match $self.key(&$ctx, $scope).await {
            Err(refusal) => Ok(refusal),
            Ok(($key, $tenant)) => {
                let _ = &$key;
                let result: Result<Value, AppError> = async { $body }.await;
                Ok(match result {
                    Ok(v) => done(v),
                    Err(e) => tool_error(e),
                })
            }
        }
    }};
}

#[tool_router]
impl Faultline {
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "List error groups (deduplicated errors with counts), newest first. Filter by severity, status or resolved, service, agent, or a full-text query. Each group has an id for errors_get, errors_resolve and errors_fix. Needs the `read` scope."
    )]
    async fn errors_list(
        &self,
        Parameters(Args(a)): Parameters<Args<ListArgs>>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        with_key!(self, ctx, Scope::Read, |key, tenant| {
            let q = crate::errors::view::ListQuery {
                severity: a.severity,
                status: a.status,
                resolved: a.resolved,
                service: a.service,
                agent: a.agent,
                q: a.q,
                limit: a.limit,
                ..Default::default()
            };
            Ok(to_value(
                &crate::errors::read::list(&self.state.pool, tenant, &q).await?,
            ))
        })
    }

    #[tool(
        description = "One error group in full: its counts and status, the latest event (message, stack trace, details, tags), recent events, and its history (resolutions, fixes, comments). Needs `read`."
    )]
    async fn errors_get(
        &self,
        Parameters(Args(a)): Parameters<Args<IdArgs>>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        with_key!(self, ctx, Scope::Read, |key, tenant| {
            Ok(to_value(
                &crate::errors::read::detail(&self.state.pool, tenant, a.id).await?,
            ))
        })
    }

    #[tool(
        description = "Mark an error group resolved, with notes on what fixed it. If it happens again it comes back as regressed. Needs `write`."
    )]
    async fn errors_resolve(
        &self,
        Parameters(Args(a)): Parameters<Args<ResolveArgs>>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        with_key!(self, ctx, Scope::Write, |key, tenant| {
            Ok(to_value(
                &crate::errors::read::resolve(
                    &self.state.pool,
                    tenant,
                    a.id,
                    a.notes.as_deref(),
                    &key.actor(),
                )
                .await?,
            ))
        })
    }

    #[tool(
        description = "Ignore an error group: forever, for 1h/24h/7d, or until `count` more events arrive; it reopens by itself when the ignore ends. Needs `write`."
    )]
    async fn errors_ignore(
        &self,
        Parameters(Args(a)): Parameters<Args<IgnoreArgs>>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        with_key!(self, ctx, Scope::Write, |key, tenant| {
            let how = crate::errors::read::IgnoreFor::parse(
                a.mode.as_deref().unwrap_or("forever"),
                a.count,
            )?;
            crate::errors::read::ignore(&self.state.pool, tenant, a.id, how, &key.actor()).await?;
            Ok(json!({ "id": a.id, "status": "ignored" }))
        })
    }

    #[tool(
        description = "Claim an error group for an agent (assign it to the agent by name), so others see who is working on it. Needs `write`."
    )]
    async fn errors_assign(
        &self,
        Parameters(Args(a)): Parameters<Args<AssignArgs>>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        with_key!(self, ctx, Scope::Write, |key, tenant| {
            let agent = crate::agents::ssr::id_by_name(&self.state.pool, tenant, a.agent.trim())
                .await?
                .ok_or_else(|| {
                    AppError::invalid("agent", "no agent with this name is registered")
                })?;
            crate::errors::read::assign(
                &self.state.pool,
                tenant,
                a.id,
                &format!("agent:{agent}"),
                &key.actor(),
            )
            .await?;
            Ok(json!({ "id": a.id, "assignee": format!("agent {}", a.agent.trim()) }))
        })
    }

    #[tool(
        description = "Add a comment to an error group's history (what you found or tried). Needs `write`."
    )]
    async fn errors_comment(
        &self,
        Parameters(Args(a)): Parameters<Args<CommentArgs>>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        with_key!(self, ctx, Scope::Write, |key, tenant| {
            crate::errors::read::comment(&self.state.pool, tenant, a.id, &a.notes, &key.actor())
                .await?;
            Ok(json!({ "id": a.id, "commented": true }))
        })
    }

    #[tool(
        description = "Start a fix run on an error group with a playbook (the best enabled match, or `playbook_id`). Risky playbooks wait for a person's approval. Returns the run; follow it with fixes_list. Refused (with the reason) when a run is under way, nothing matches, or a cooldown, attempt limit or circuit breaker holds it back. Needs `fix`."
    )]
    async fn errors_fix(
        &self,
        Parameters(Args(a)): Parameters<Args<FixArgs>>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        with_key!(self, ctx, Scope::Fix, |key, tenant| {
            Ok(to_value(
                &crate::fixes::ssr::start(
                    &self.state.pool,
                    tenant,
                    crate::fixes::ssr::StartRequest {
                        group: a.id,
                        playbook: a.playbook_id,
                        trigger: crate::fixes::ssr::Trigger::Mcp,
                        actor: &key.actor(),
                    },
                )
                .await?,
            ))
        })
    }

    #[tool(
        description = "The error groups with the most events in the last `hours` (default 24). Needs `read`."
    )]
    async fn errors_top(
        &self,
        Parameters(Args(a)): Parameters<Args<TopArgs>>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        with_key!(self, ctx, Scope::Read, |key, tenant| {
            let top = crate::errors::read::top(&self.state.pool, tenant, a.limit, a.hours).await?;
            Ok(json!({ "errors": top }))
        })
    }

    #[tool(
        description = "The company's agents: online/stale/offline from heartbeats, version, host, errors in 24 h, open groups, and what each is working on. Needs `read`."
    )]
    async fn agents_list(
        &self,
        Parameters(Args(_)): Parameters<Args<Empty>>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        with_key!(self, ctx, Scope::Read, |key, tenant| {
            let list = crate::agents::ssr::list(
                &self.state.pool,
                tenant,
                self.state.settings.agent_offline_secs,
            )
            .await?;
            Ok(json!({ "agents": list.agents }))
        })
    }

    #[tool(
        description = "System health: totals, unresolved groups by severity, the error rate in the last hour against the hour before, agents online/offline, top categories. Needs `read`."
    )]
    async fn system_health(
        &self,
        Parameters(Args(_)): Parameters<Args<Empty>>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        with_key!(self, ctx, Scope::Read, |key, tenant| {
            Ok(to_value(
                &crate::errors::read::health(
                    &self.state.pool,
                    tenant,
                    self.state.settings.agent_offline_secs,
                )
                .await?,
            ))
        })
    }

    #[tool(
        description = "Fix runs, newest first: status (pending_approval, queued, running, verifying, succeeded, failed, rolled_back, rejected, cancelled), playbook, error, who started it, and why it ended. Needs `read`."
    )]
    async fn fixes_list(
        &self,
        Parameters(Args(a)): Parameters<Args<FixesArgs>>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        with_key!(self, ctx, Scope::Read, |key, tenant| {
            let list = crate::fixes::ssr::list(
                &self.state.pool,
                tenant,
                &crate::fixes::FixFilter {
                    status: a.status,
                    group: a.error_id,
                    ..Default::default()
                },
            )
            .await?;
            Ok(json!({ "runs": list.runs, "pending_approval": list.pending }))
        })
    }

    #[tool(
        description = "Propose fix steps for an error group. They arrive as a fix run waiting for a person's approval on the dashboard and never run before. Steps are checked like a playbook's: hosts and programs must be on the server's allow-lists. Needs `fix`."
    )]
    async fn fix_propose(
        &self,
        Parameters(Args(a)): Parameters<Args<ProposeArgs>>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        with_key!(self, ctx, Scope::Fix, |key, tenant| {
            let spec: crate::playbooks::PlaybookSpec = serde_json::from_value(json!({
                "name": a.name,
                "description": a.description.unwrap_or_default(),
                "actions": a.actions,
                "verify": a.verify,
                "rollback": a.rollback,
                "risk": a.risk.as_deref().unwrap_or("medium"),
                "needs_approval": true,
                "mode": "manual",
                "enabled": false,
            }))
            .map_err(|e| AppError::invalid("actions", format!("steps do not parse: {e}")))?;
            Ok(to_value(
                &crate::fixes::ssr::propose(
                    &self.state.pool,
                    tenant,
                    a.id,
                    &spec,
                    &self.state.settings.fix_policy,
                    crate::fixes::ssr::Trigger::Mcp,
                    &key.actor(),
                )
                .await?,
            ))
        })
    }
}

/// Tool arguments whose deserialization errors name the argument (`invalid argument `id`:
/// invalid type: string "x", expected i64`), with `T`'s schema.
pub struct Args<T>(pub T);

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Args<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = Value::deserialize(d)?;
        serde_path_to_error::deserialize(v).map(Args).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                D::Error::custom(e.into_inner())
            } else {
                D::Error::custom(format!("invalid argument `{path}`: {}", e.into_inner()))
            }
        })
    }
}

impl<T: JsonSchema> JsonSchema for Args<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// No arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Empty {}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Faultline {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("faultline", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Faultline tracks the errors of a company's agents and services and fixes known ones with playbooks. \
                 Start with errors_list or errors_top, read one with errors_get, then resolve, comment, claim (errors_assign), \
                 or fix it (errors_fix, or fix_propose for steps a person approves).",
            )
    }
}
