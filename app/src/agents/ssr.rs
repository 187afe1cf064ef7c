//! Agent registration and heartbeats.

use crate::error::AppError;
use crate::errors::view::AgentInfo;
use serde_json::Value;
use sqlx::PgPool;

const MAX_JSON_BYTES: usize = 16 * 1024;

fn text(field: &str, v: Option<String>, max: usize) -> Result<Option<String>, AppError> {
    match v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) {
        Some(s) if s.chars().count() > max => Err(AppError::invalid(
            field,
            format!("must be at most {max} characters"),
        )),
        other => Ok(other),
    }
}

fn object(field: &str, v: Option<Value>) -> Result<Value, AppError> {
    match v {
        None | Some(Value::Null) => Ok(Value::Object(Default::default())),
        Some(v @ Value::Object(_)) => {
            if serde_json::to_vec(&v)
                .map(|b| b.len())
                .unwrap_or(usize::MAX)
                > MAX_JSON_BYTES
            {
                return Err(AppError::invalid(field, "must be at most 16 KiB"));
            }
            let mut v = v;
            crate::errors::pure::scrub_json(&mut v);
            Ok(v)
        }
        Some(_) => Err(AppError::invalid(field, "must be an object")),
    }
}

/// A checked registration.
pub struct Registration {
    pub name: String,
    pub kind: String,
    pub version: Option<String>,
    pub host: Option<String>,
    pub capabilities: Vec<String>,
    pub metadata: Value,
}

impl Registration {
    pub fn parse(
        name: String,
        kind: Option<String>,
        version: Option<String>,
        host: Option<String>,
        capabilities: Option<Vec<String>>,
        metadata: Option<Value>,
    ) -> Result<Self, AppError> {
        let name = text("name", Some(name), 200)?
            .ok_or_else(|| AppError::invalid("name", "is required"))?;
        let capabilities = capabilities.unwrap_or_default();
        if capabilities.len() > 100
            || capabilities
                .iter()
                .any(|c| c.is_empty() || c.chars().count() > 100)
        {
            return Err(AppError::invalid(
                "capabilities",
                "at most 100 names of 1–100 characters",
            ));
        }
        Ok(Self {
            name,
            kind: text("kind", kind, 100)?.unwrap_or_else(|| "agent".into()),
            version: text("version", version, 100)?,
            host: text("host", host, 255)?,
            capabilities,
            metadata: object("metadata", metadata)?,
        })
    }
}

/// Creates or updates the agent named `reg.name` in `tenant`.
pub async fn register(
    pool: &PgPool,
    tenant: i64,
    reg: &Registration,
) -> Result<AgentInfo, AppError> {
    Ok(sqlx::query_as!(
        AgentInfo,
        r#"INSERT INTO agents (tenant_id, name, kind, version, host, capabilities, metadata, status, last_heartbeat_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'online', now())
           ON CONFLICT (tenant_id, name) DO UPDATE SET kind = EXCLUDED.kind, version = EXCLUDED.version,
               host = EXCLUDED.host, capabilities = EXCLUDED.capabilities, metadata = EXCLUDED.metadata,
               status = 'online', last_heartbeat_at = now()
           RETURNING id AS agent_id, name, status, last_heartbeat_at"#,
        tenant,
        reg.name,
        reg.kind,
        reg.version,
        reg.host,
        &reg.capabilities,
        reg.metadata
    )
    .fetch_one(pool)
    .await?)
}

/// Records a heartbeat; 404 when the agent never registered.
pub async fn heartbeat(
    pool: &PgPool,
    tenant: i64,
    agent: &str,
    status: Option<&str>,
    metrics: Option<Value>,
) -> Result<AgentInfo, AppError> {
    let status = text("status", status.map(str::to_owned), 50)?.unwrap_or_else(|| "online".into());
    let metrics = object("metrics", metrics)?;
    sqlx::query_as!(
        AgentInfo,
        r#"UPDATE agents SET status = $3, metrics = $4, last_heartbeat_at = now()
           WHERE tenant_id = $1 AND name = $2
           RETURNING id AS agent_id, name, status, last_heartbeat_at"#,
        tenant,
        agent.trim(),
        status,
        metrics
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| AppError::NotFound("agent not registered; call register_agent first".into()))
}
