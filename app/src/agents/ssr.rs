//! Agent registration and heartbeats, and what the agent pages show.

use super::{AgentDetail, AgentList, AgentRow};
use crate::charts::{severity_bars, stacked_bars};
use crate::error::AppError;
use crate::errors::view::AgentInfo;
use chrono::{DateTime, Duration, DurationRound, Timelike, Utc};
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

/// The id of the agent named `name` in `tenant`, if it registered.
pub async fn id_by_name(pool: &PgPool, tenant: i64, name: &str) -> Result<Option<i64>, AppError> {
    Ok(sqlx::query_scalar!(
        "SELECT id FROM agents WHERE tenant_id = $1 AND name = $2",
        tenant,
        name.trim()
    )
    .fetch_optional(pool)
    .await?)
}

struct AgentFacts {
    id: i64,
    name: String,
    kind: String,
    version: Option<String>,
    host: Option<String>,
    status: String,
    last_heartbeat_at: DateTime<Utc>,
    registered_at: DateTime<Utc>,
    errors_24h: i64,
    open_groups: i64,
}

impl AgentFacts {
    fn row(
        self,
        now: DateTime<Utc>,
        offline_after_secs: i64,
        assigned: Vec<(i64, String)>,
    ) -> AgentRow {
        let age = (now - self.last_heartbeat_at).num_seconds();
        AgentRow {
            id: self.id,
            name: self.name,
            kind: self.kind,
            version: self.version,
            host: self.host,
            reported_status: self.status,
            health: super::health(age, offline_after_secs).to_owned(),
            last_heartbeat_at: self.last_heartbeat_at,
            registered_at: self.registered_at,
            errors_24h: self.errors_24h,
            open_groups: self.open_groups,
            assigned,
        }
    }
}

/// What agents of `tenant` (all of them, or the one `agent`) are working on, as (agent id,
/// group id, text): the tasks they hold or are about to get about a group (a fix run's, say)
/// first, then the open groups assigned to them, most recently seen first.
async fn assigned_groups(
    pool: &PgPool,
    tenant: i64,
    agent: Option<i64>,
) -> Result<Vec<(i64, i64, String)>, AppError> {
    Ok(sqlx::query!(
        r#"(SELECT t.agent_id AS "agent!", g.id AS "id!",
                   t.task || ' (' || t.created_by || '): ' || g.error_type || ': ' || g.title AS "title!"
            FROM agent_tasks t JOIN error_groups g ON g.tenant_id = t.tenant_id AND g.id = t.group_id
            WHERE t.tenant_id = $1 AND t.status IN ('pending', 'claimed')
              AND ($2::int8 IS NULL OR t.agent_id = $2)
            ORDER BY t.id LIMIT 500)
           UNION ALL
           (SELECT assignee_agent_id, id, error_type || ': ' || title
            FROM error_groups
            WHERE tenant_id = $1 AND assignee_agent_id IS NOT NULL
              AND ($2::int8 IS NULL OR assignee_agent_id = $2)
              AND status IN ('unresolved', 'regressed')
            ORDER BY last_seen DESC LIMIT 500)"#,
        tenant,
        agent
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (r.agent, r.id, r.title))
    .collect())
}

/// Every agent of `tenant` by name, with its recent errors and what it is working on.
pub async fn list(
    pool: &PgPool,
    tenant: i64,
    offline_after_secs: i64,
) -> Result<AgentList, AppError> {
    let now = Utc::now();
    let facts = sqlx::query_as!(
        AgentFacts,
        r#"SELECT a.id, a.name, a.kind, a.version, a.host, a.status, a.last_heartbeat_at, a.registered_at,
                  (SELECT count(*) FROM error_events e
                   WHERE e.tenant_id = a.tenant_id AND e.agent_id = a.id
                     AND e.received_at >= now() - interval '24 hours') AS "errors_24h!",
                  (SELECT count(*) FROM error_groups g
                   WHERE g.tenant_id = a.tenant_id AND g.last_agent_id = a.id
                     AND g.status IN ('unresolved', 'regressed')) AS "open_groups!"
           FROM agents a WHERE a.tenant_id = $1 ORDER BY a.name LIMIT 1000"#,
        tenant
    )
    .fetch_all(pool)
    .await?;
    let mut assigned = assigned_groups(pool, tenant, None).await?;
    let agents = facts
        .into_iter()
        .map(|f| {
            let mine = assigned
                .extract_if(.., |(a, _, _)| *a == f.id)
                .map(|(_, g, t)| (g, t))
                .collect();
            f.row(now, offline_after_secs, mine)
        })
        .collect();
    Ok(AgentList {
        agents,
        now,
        offline_after_secs,
    })
}

/// One agent of `tenant`; 404 for any other id.
pub async fn detail(
    pool: &PgPool,
    tenant: i64,
    id: i64,
    offline_after_secs: i64,
) -> Result<AgentDetail, AppError> {
    let now = Utc::now();
    let a = sqlx::query!(
        r#"SELECT a.id, a.name, a.kind, a.version, a.host, a.status, a.last_heartbeat_at, a.registered_at,
                  a.capabilities, a.metadata, a.metrics,
                  (SELECT count(*) FROM error_events e
                   WHERE e.tenant_id = a.tenant_id AND e.agent_id = a.id
                     AND e.received_at >= now() - interval '24 hours') AS "errors_24h!",
                  (SELECT count(*) FROM error_groups g
                   WHERE g.tenant_id = a.tenant_id AND g.last_agent_id = a.id
                     AND g.status IN ('unresolved', 'regressed')) AS "open_groups!"
           FROM agents a WHERE a.tenant_id = $1 AND a.id = $2"#,
        tenant,
        id
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| AppError::not_found("agent"))?;
    let start = now.duration_trunc(Duration::hours(1)).unwrap_or(now) - Duration::hours(47);
    let hourly: Vec<(DateTime<Utc>, String, i64)> = sqlx::query!(
        r#"SELECT date_trunc('hour', received_at) AS "hour!", severity, count(*) AS "count!"
           FROM error_events
           WHERE tenant_id = $1 AND agent_id = $2 AND received_at >= $3
           GROUP BY 1, 2"#,
        tenant,
        id,
        start
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (r.hour, r.severity, r.count))
    .collect();
    let bars = severity_bars(
        start,
        Duration::hours(1),
        48,
        |at| format!("{:02}:00", at.hour()),
        &hourly,
    );
    let chart_total = bars.iter().flat_map(|b| b.counts).sum();
    let chart_svg = stacked_bars(&bars, 6).map_err(|e| {
        tracing::error!(error = %e, "drawing an agent's chart failed");
        AppError::Internal
    })?;
    let groups = crate::errors::read::agent_errors(pool, tenant, &a.name, Some(24 * 7))
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    let assigned = assigned_groups(pool, tenant, Some(id))
        .await?
        .into_iter()
        .map(|(_, g, t)| (g, t))
        .collect();
    let metadata = match &a.metadata {
        Value::Object(m) if m.is_empty() => String::new(),
        v => serde_json::to_string_pretty(v).unwrap_or_default(),
    };
    let metrics = match a.metrics {
        Value::Object(m) => m
            .into_iter()
            .map(|(k, v)| {
                let shown = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, shown)
            })
            .collect(),
        _ => Vec::new(),
    };
    let facts = AgentFacts {
        id: a.id,
        name: a.name,
        kind: a.kind,
        version: a.version,
        host: a.host,
        status: a.status,
        last_heartbeat_at: a.last_heartbeat_at,
        registered_at: a.registered_at,
        errors_24h: a.errors_24h,
        open_groups: a.open_groups,
    };
    Ok(AgentDetail {
        agent: facts.row(now, offline_after_secs, assigned),
        now,
        capabilities: a.capabilities,
        metadata,
        metrics,
        chart_svg,
        chart_total,
        groups,
        tasks: Vec::new(),
        can_act: false,
    })
}
