//! Reading and resolving errors, agents and health: every query filtered by the caller's tenant.

use super::pure::{parse_category, parse_severity};
use super::view::*;
use crate::error::AppError;
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};

const MAX_NOTES_CHARS: usize = 10_000;

struct GroupRow {
    id: i64,
    fingerprint: String,
    service: String,
    error_type: String,
    category: String,
    severity: String,
    title: String,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    occurrences: i64,
    status: String,
    resolved_at: Option<DateTime<Utc>>,
    resolved_by: Option<String>,
    resolution_notes: Option<String>,
    agent: Option<String>,
    auto_fix_attempted: bool,
    auto_fix_successful: bool,
}

impl From<GroupRow> for ErrorGroup {
    fn from(r: GroupRow) -> Self {
        ErrorGroup {
            id: r.id,
            fingerprint: r.fingerprint,
            service: r.service,
            error_type: r.error_type,
            category: r.category,
            severity: r.severity,
            message: r.title.clone(),
            title: r.title,
            timestamp: r.last_seen,
            first_seen: r.first_seen,
            last_seen: r.last_seen,
            occurrences: r.occurrences,
            resolved: r.status == "resolved",
            status: r.status,
            resolved_at: r.resolved_at,
            resolved_by: r.resolved_by,
            resolution_notes: r.resolution_notes,
            agent: r.agent,
            auto_fix_attempted: r.auto_fix_attempted,
            auto_fix_successful: r.auto_fix_successful,
        }
    }
}

fn opt(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn parse_time(field: &str, v: Option<&str>) -> Result<Option<DateTime<Utc>>, AppError> {
    v.map(|t| {
        DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                AppError::invalid(
                    field,
                    "must be an RFC 3339 time such as 2026-01-31T12:00:00Z",
                )
            })
    })
    .transpose()
}

/// Checked filters, ready for SQL.
struct Filters {
    severity: Option<String>,
    status: Option<String>,
    resolved: Option<bool>,
    service: Option<String>,
    agent: Option<String>,
    category: Option<String>,
    q: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    sort: &'static str,
    limit: i64,
    cursor: Option<(i64, i64)>,
}

fn check(q: &ListQuery) -> Result<Filters, AppError> {
    let severity = opt(&q.severity)
        .map(|s| {
            parse_severity(s)
                .map(|s| s.as_str().to_owned())
                .map_err(|r| AppError::invalid("severity", r))
        })
        .transpose()?;
    let status = opt(&q.status)
        .map(|s| match s.to_ascii_lowercase().as_str() {
            v @ ("unresolved" | "resolved" | "ignored" | "regressed") => Ok(v.to_owned()),
            _ => Err(AppError::invalid(
                "status",
                "must be one of unresolved, resolved, ignored, regressed",
            )),
        })
        .transpose()?;
    let category = opt(&q.category)
        .map(|c| {
            parse_category(c)
                .map(|c| c.as_str().to_owned())
                .map_err(|r| AppError::invalid("category", r))
        })
        .transpose()?;
    let sort = match opt(&q.sort).unwrap_or("last_seen") {
        "last_seen" => "last_seen",
        "count" | "occurrences" => "count",
        "first_seen" => "first_seen",
        _ => {
            return Err(AppError::invalid(
                "sort",
                "must be one of last_seen, count, first_seen",
            ));
        }
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 200"));
    }
    let cursor = opt(&q.cursor)
        .map(|c| {
            c.split_once(':')
                .and_then(|(k, id)| Some((k.parse().ok()?, id.parse().ok()?)))
                .ok_or_else(|| AppError::invalid("cursor", "is not a cursor this API returned"))
        })
        .transpose()?;
    if opt(&q.q).is_some_and(|s| s.chars().count() > 200) {
        return Err(AppError::invalid("q", "must be at most 200 characters"));
    }
    Ok(Filters {
        severity,
        status,
        resolved: q.resolved,
        service: opt(&q.service).map(str::to_owned),
        agent: opt(&q.agent).map(str::to_owned),
        category,
        q: opt(&q.q).map(str::to_owned),
        since: parse_time("since", opt(&q.since))?,
        until: parse_time("until", opt(&q.until))?,
        sort,
        limit,
        cursor,
    })
}

/// The sort key a cursor carries: the count, or the time in microseconds.
fn sort_key(sort: &str, g: &ErrorGroup) -> i64 {
    match sort {
        "count" => g.occurrences,
        "first_seen" => g.first_seen.timestamp_micros(),
        _ => g.last_seen.timestamp_micros(),
    }
}

/// Groups of `tenant` matching `query`, with the total and a keyset cursor.
pub async fn list(pool: &PgPool, tenant: i64, query: &ListQuery) -> Result<ErrorList, AppError> {
    let f = check(query)?;
    let (cursor_key, cursor_id) = f.cursor.map_or((None, None), |(k, i)| (Some(k), Some(i)));
    let rows = sqlx::query_as!(
        GroupRow,
        r#"SELECT g.id, g.fingerprint, g.service, g.error_type, g.category, g.severity, g.title, g.first_seen,
                  g.last_seen, g.occurrences, g.status, g.resolved_at, g.resolved_by, g.resolution_notes,
                  a.name AS "agent?", g.auto_fix_attempted, g.auto_fix_successful
           FROM error_groups g
           LEFT JOIN agents a ON a.tenant_id = g.tenant_id AND a.id = g.last_agent_id
           WHERE g.tenant_id = $1
             AND ($2::text IS NULL OR g.severity = $2)
             AND ($3::text IS NULL OR g.status = $3)
             AND ($4::bool IS NULL OR (g.status = 'resolved') = $4)
             AND ($5::text IS NULL OR g.service = $5)
             AND ($6::text IS NULL OR EXISTS (
                   SELECT 1 FROM error_events e JOIN agents ea ON ea.tenant_id = e.tenant_id AND ea.id = e.agent_id
                   WHERE e.tenant_id = g.tenant_id AND e.group_id = g.id AND ea.name = $6))
             AND ($7::text IS NULL OR g.category = $7)
             AND ($8::text IS NULL OR g.search @@ websearch_to_tsquery('simple', $8))
             AND ($9::timestamptz IS NULL OR g.last_seen >= $9)
             AND ($10::timestamptz IS NULL OR g.last_seen < $10)
             AND ($12::int8 IS NULL OR (
                   CASE $11 WHEN 'count' THEN g.occurrences
                            WHEN 'first_seen' THEN (EXTRACT(EPOCH FROM g.first_seen) * 1000000)::int8
                            ELSE (EXTRACT(EPOCH FROM g.last_seen) * 1000000)::int8 END, g.id) < ($12, $13))
           ORDER BY CASE $11 WHEN 'count' THEN g.occurrences
                             WHEN 'first_seen' THEN (EXTRACT(EPOCH FROM g.first_seen) * 1000000)::int8
                             ELSE (EXTRACT(EPOCH FROM g.last_seen) * 1000000)::int8 END DESC, g.id DESC
           LIMIT $14"#,
        tenant,
        f.severity,
        f.status,
        f.resolved,
        f.service,
        f.agent,
        f.category,
        f.q,
        f.since,
        f.until,
        f.sort,
        cursor_key,
        cursor_id,
        f.limit + 1
    )
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "total!" FROM error_groups g
           WHERE g.tenant_id = $1
             AND ($2::text IS NULL OR g.severity = $2)
             AND ($3::text IS NULL OR g.status = $3)
             AND ($4::bool IS NULL OR (g.status = 'resolved') = $4)
             AND ($5::text IS NULL OR g.service = $5)
             AND ($6::text IS NULL OR EXISTS (
                   SELECT 1 FROM error_events e JOIN agents ea ON ea.tenant_id = e.tenant_id AND ea.id = e.agent_id
                   WHERE e.tenant_id = g.tenant_id AND e.group_id = g.id AND ea.name = $6))
             AND ($7::text IS NULL OR g.category = $7)
             AND ($8::text IS NULL OR g.search @@ websearch_to_tsquery('simple', $8))
             AND ($9::timestamptz IS NULL OR g.last_seen >= $9)
             AND ($10::timestamptz IS NULL OR g.last_seen < $10)"#,
        tenant,
        f.severity,
        f.status,
        f.resolved,
        f.service,
        f.agent,
        f.category,
        f.q,
        f.since,
        f.until
    )
    .fetch_one(pool)
    .await?;
    let mut errors: Vec<ErrorGroup> = rows.into_iter().map(Into::into).collect();
    let next_cursor = if errors.len() as i64 > f.limit {
        errors.truncate(f.limit as usize);
        errors
            .last()
            .map(|g| format!("{}:{}", sort_key(f.sort, g), g.id))
    } else {
        None
    };
    Ok(ErrorList {
        total,
        errors,
        next_cursor,
    })
}

async fn group(db: impl PgExecutor<'_>, tenant: i64, id: i64) -> Result<ErrorGroup, AppError> {
    sqlx::query_as!(
        GroupRow,
        r#"SELECT g.id, g.fingerprint, g.service, g.error_type, g.category, g.severity, g.title, g.first_seen,
                  g.last_seen, g.occurrences, g.status, g.resolved_at, g.resolved_by, g.resolution_notes,
                  a.name AS "agent?", g.auto_fix_attempted, g.auto_fix_successful
           FROM error_groups g
           LEFT JOIN agents a ON a.tenant_id = g.tenant_id AND a.id = g.last_agent_id
           WHERE g.tenant_id = $1 AND g.id = $2"#,
        tenant,
        id
    )
    .fetch_optional(db)
    .await?
    .map(Into::into)
    .ok_or_else(|| AppError::not_found("error"))
}

/// The group an event id belongs to (within `tenant`).
pub async fn group_of_event(
    pool: &PgPool,
    tenant: i64,
    event_id: uuid::Uuid,
) -> Result<i64, AppError> {
    sqlx::query_scalar!(
        "SELECT group_id FROM error_events WHERE tenant_id = $1 AND event_id = $2",
        tenant,
        event_id
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| AppError::not_found("error"))
}

/// One group with its latest events and history; 404 for other tenants' ids.
pub async fn detail(pool: &PgPool, tenant: i64, id: i64) -> Result<ErrorDetail, AppError> {
    let group = group(pool, tenant, id).await?;
    let recent_events = sqlx::query_as!(
        ErrorEvent,
        r#"SELECT e.event_id, e.service, e.severity, e.message, e.details, e.stack_trace, e.environment, e.release,
                  e.tags, a.name AS "agent?", e.occurred_at, e.received_at
           FROM error_events e
           LEFT JOIN agents a ON a.tenant_id = e.tenant_id AND a.id = e.agent_id
           WHERE e.tenant_id = $1 AND e.group_id = $2
           ORDER BY e.id DESC LIMIT 20"#,
        tenant,
        id
    )
    .fetch_all(pool)
    .await?;
    let activity = sqlx::query_as!(
        ActivityEntry,
        r#"SELECT at, kind, actor, notes FROM activity
           WHERE tenant_id = $1 AND group_id = $2 ORDER BY at DESC, id DESC LIMIT 100"#,
        tenant,
        id
    )
    .fetch_all(pool)
    .await?;
    Ok(ErrorDetail {
        group,
        latest_event: recent_events.first().cloned(),
        recent_events,
        activity,
    })
}

/// Marks a group resolved with notes, recording who did it; 404 for other tenants' ids.
pub async fn resolve(
    pool: &PgPool,
    tenant: i64,
    id: i64,
    notes: Option<&str>,
    actor: &str,
) -> Result<ErrorGroup, AppError> {
    let notes = notes.map(str::trim).filter(|n| !n.is_empty());
    if notes.is_some_and(|n| n.chars().count() > MAX_NOTES_CHARS) {
        return Err(AppError::invalid(
            "resolution_notes",
            format!("must be at most {MAX_NOTES_CHARS} characters"),
        ));
    }
    let mut tx = pool.begin().await?;
    let updated = sqlx::query_scalar!(
        r#"UPDATE error_groups SET status = 'resolved', resolved_at = now(), resolved_by = $3, resolution_notes = $4
           WHERE tenant_id = $1 AND id = $2 RETURNING id"#,
        tenant,
        id,
        actor,
        notes
    )
    .fetch_optional(&mut *tx)
    .await?;
    if updated.is_none() {
        return Err(AppError::not_found("error"));
    }
    sqlx::query!(
        "INSERT INTO activity (tenant_id, group_id, kind, actor, notes) VALUES ($1, $2, 'resolved', $3, $4)",
        tenant,
        id,
        actor,
        notes
    )
    .execute(&mut *tx)
    .await?;
    let g = group(&mut *tx, tenant, id).await?;
    tx.commit().await?;
    Ok(g)
}

fn check_window(limit: Option<i64>, hours: Option<i64>) -> Result<(i64, i64), AppError> {
    let limit = limit.unwrap_or(10);
    let hours = hours.unwrap_or(24);
    if !(1..=100).contains(&limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 100"));
    }
    if !(1..=24 * 90).contains(&hours) {
        return Err(AppError::invalid("hours", "must be between 1 and 2160"));
    }
    Ok((limit, hours))
}

/// The most frequent groups of the last `hours` (from the hourly counts).
pub async fn top(
    pool: &PgPool,
    tenant: i64,
    limit: Option<i64>,
    hours: Option<i64>,
) -> Result<Vec<TopError>, AppError> {
    let (limit, hours) = check_window(limit, hours)?;
    let recent = sqlx::query!(
        r#"SELECT group_id, sum(count)::int8 AS "recent!" FROM group_counts_hourly
           WHERE tenant_id = $1 AND hour >= date_trunc('hour', now()) - make_interval(hours => $2::int4 - 1)
           GROUP BY group_id ORDER BY 2 DESC, group_id DESC LIMIT $3"#,
        tenant,
        hours as i32,
        limit
    )
    .fetch_all(pool)
    .await?;
    with_groups(
        pool,
        tenant,
        recent.into_iter().map(|r| (r.group_id, r.recent)).collect(),
    )
    .await
}

/// Groups an agent reported in the last `hours`, most frequent first; 404 for unknown agents.
pub async fn agent_errors(
    pool: &PgPool,
    tenant: i64,
    agent: &str,
    hours: Option<i64>,
) -> Result<Vec<TopError>, AppError> {
    let (_, hours) = check_window(None, hours)?;
    let agent_id = sqlx::query_scalar!(
        "SELECT id FROM agents WHERE tenant_id = $1 AND name = $2",
        tenant,
        agent.trim()
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| AppError::not_found("agent"))?;
    let rows = sqlx::query!(
        r#"SELECT group_id, count(*) AS "recent!" FROM error_events
           WHERE tenant_id = $1 AND agent_id = $2 AND received_at >= now() - make_interval(hours => $3::int4)
           GROUP BY group_id ORDER BY 2 DESC, group_id DESC LIMIT 100"#,
        tenant,
        agent_id,
        hours as i32
    )
    .fetch_all(pool)
    .await?;
    with_groups(
        pool,
        tenant,
        rows.into_iter().map(|r| (r.group_id, r.recent)).collect(),
    )
    .await
}

/// Loads the groups of `counts` (group id, recent count) in one query, keeping their order.
async fn with_groups(
    pool: &PgPool,
    tenant: i64,
    counts: Vec<(i64, i64)>,
) -> Result<Vec<TopError>, AppError> {
    let ids: Vec<i64> = counts.iter().map(|(id, _)| *id).collect();
    let mut groups: std::collections::HashMap<i64, ErrorGroup> = sqlx::query_as!(
        GroupRow,
        r#"SELECT g.id, g.fingerprint, g.service, g.error_type, g.category, g.severity, g.title, g.first_seen,
                  g.last_seen, g.occurrences, g.status, g.resolved_at, g.resolved_by, g.resolution_notes,
                  a.name AS "agent?", g.auto_fix_attempted, g.auto_fix_successful
           FROM error_groups g
           LEFT JOIN agents a ON a.tenant_id = g.tenant_id AND a.id = g.last_agent_id
           WHERE g.tenant_id = $1 AND g.id = ANY($2)"#,
        tenant,
        &ids
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (r.id, ErrorGroup::from(r)))
    .collect();
    Ok(counts
        .into_iter()
        .filter_map(|(id, recent)| {
            groups.remove(&id).map(|group| TopError {
                group,
                recent_occurrences: recent,
            })
        })
        .collect())
}

/// Totals, unresolved by severity, the error rate trend, agents and top categories.
/// Agents silent for longer than `offline_after_secs` count as offline.
pub async fn health(
    pool: &PgPool,
    tenant: i64,
    offline_after_secs: i64,
) -> Result<SystemHealth, AppError> {
    let t = sqlx::query!(
        r#"SELECT count(*) AS "groups!", COALESCE(sum(occurrences), 0)::int8 AS "events!",
                  count(*) FILTER (WHERE status <> 'resolved' AND status <> 'ignored') AS "unresolved!",
                  count(*) FILTER (WHERE status IN ('unresolved', 'regressed') AND severity = 'critical') AS "critical!",
                  count(*) FILTER (WHERE status IN ('unresolved', 'regressed') AND severity = 'error') AS "error!",
                  count(*) FILTER (WHERE status IN ('unresolved', 'regressed') AND severity = 'warning') AS "warning!",
                  count(*) FILTER (WHERE status IN ('unresolved', 'regressed') AND severity = 'info') AS "info!"
           FROM error_groups WHERE tenant_id = $1"#,
        tenant
    )
    .fetch_one(pool)
    .await?;
    let rate = sqlx::query!(
        r#"SELECT COALESCE(sum(count) FILTER (WHERE hour >= date_trunc('hour', now())), 0)::int8 AS "last!",
                  COALESCE(sum(count) FILTER (WHERE hour = date_trunc('hour', now()) - interval '1 hour'), 0)::int8 AS "prev!"
           FROM group_counts_hourly WHERE tenant_id = $1 AND hour >= date_trunc('hour', now()) - interval '1 hour'"#,
        tenant
    )
    .fetch_one(pool)
    .await?;
    let agents = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE last_heartbeat_at >= now() - make_interval(secs => $2)) AS "online!",
                  count(*) FILTER (WHERE last_heartbeat_at < now() - make_interval(secs => $2)) AS "offline!"
           FROM agents WHERE tenant_id = $1"#,
        tenant,
        offline_after_secs as f64
    )
    .fetch_one(pool)
    .await?;
    let top_categories = sqlx::query_as!(
        CategoryCount,
        r#"SELECT category, count(*) AS "groups!" FROM error_groups
           WHERE tenant_id = $1 AND status IN ('unresolved', 'regressed')
           GROUP BY category ORDER BY 2 DESC, 1 LIMIT 7"#,
        tenant
    )
    .fetch_all(pool)
    .await?;
    Ok(SystemHealth {
        total_groups: t.groups,
        total_events: t.events,
        unresolved_groups: t.unresolved,
        unresolved_by_severity: serde_json::json!({
            "critical": t.critical, "error": t.error, "warning": t.warning, "info": t.info,
        }),
        events_last_hour: rate.last,
        events_previous_hour: rate.prev,
        error_rate_change: (rate.prev > 0)
            .then(|| (rate.last - rate.prev) as f64 / rate.prev as f64),
        agents_online: agents.online,
        agents_offline: agents.offline,
        top_categories,
    })
}
