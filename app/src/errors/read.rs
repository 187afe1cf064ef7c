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
    assignee: Option<String>,
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
            assignee: r.assignee,
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
            v @ ("open" | "unresolved" | "resolved" | "ignored" | "regressed") => Ok(v.to_owned()),
            _ => Err(AppError::invalid(
                "status",
                "must be one of open (unresolved or regressed), unresolved, resolved, ignored, regressed",
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
        r#"WITH page AS (
               SELECT g.tenant_id, g.id, g.fingerprint, g.service, g.error_type, g.category, g.severity, g.title,
                      g.first_seen, g.last_seen, g.occurrences, g.status, g.resolved_at, g.resolved_by,
                      g.resolution_notes, g.last_agent_id, g.auto_fix_attempted, g.auto_fix_successful,
                      g.assignee_user_id, g.assignee_agent_id,
                      CASE $11 WHEN 'count' THEN g.occurrences
                                    WHEN 'first_seen' THEN (EXTRACT(EPOCH FROM g.first_seen) * 1000000)::int8
                                    ELSE (EXTRACT(EPOCH FROM g.last_seen) * 1000000)::int8 END AS sort_key
               FROM error_groups g
               WHERE g.tenant_id = $1
             AND ($2::text IS NULL OR g.severity = $2)
             AND ($3::text IS NULL OR g.status = $3 OR ($3 = 'open' AND g.status IN ('unresolved', 'regressed')))
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
           ORDER BY sort_key DESC, id DESC
           LIMIT $14)
           SELECT g.id, g.fingerprint, g.service, g.error_type, g.category, g.severity, g.title, g.first_seen,
                  g.last_seen, g.occurrences, g.status, g.resolved_at, g.resolved_by, g.resolution_notes,
                  a.name AS "agent?", g.auto_fix_attempted, g.auto_fix_successful,
                  coalesce(au.email, 'agent ' || aa.name) AS "assignee?"
           FROM page g
           LEFT JOIN agents a ON a.tenant_id = g.tenant_id AND a.id = g.last_agent_id
           LEFT JOIN users au ON au.id = g.assignee_user_id
           LEFT JOIN agents aa ON aa.tenant_id = g.tenant_id AND aa.id = g.assignee_agent_id
           ORDER BY g.sort_key DESC, g.id DESC"#,
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
             AND ($3::text IS NULL OR g.status = $3 OR ($3 = 'open' AND g.status IN ('unresolved', 'regressed')))
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
                  a.name AS "agent?", g.auto_fix_attempted, g.auto_fix_successful,
                  coalesce(au.email, 'agent ' || aa.name) AS "assignee?"
           FROM error_groups g
           LEFT JOIN agents a ON a.tenant_id = g.tenant_id AND a.id = g.last_agent_id
           LEFT JOIN users au ON au.id = g.assignee_user_id
           LEFT JOIN agents aa ON aa.tenant_id = g.tenant_id AND aa.id = g.assignee_agent_id
           WHERE g.tenant_id = $1 AND g.id = $2"#,
        tenant,
        id
    )
    .fetch_optional(db)
    .await?
    .map(Into::into)
    .ok_or_else(|| AppError::not_found("error"))
}

/// The latest 100 history entries of group `id` of `tenant`, newest first.
pub async fn activity_of(
    pool: &PgPool,
    tenant: i64,
    id: i64,
) -> Result<Vec<ActivityEntry>, AppError> {
    Ok(sqlx::query_as!(
        ActivityEntry,
        r#"SELECT at, kind, actor, notes FROM activity
           WHERE tenant_id = $1 AND group_id = $2 ORDER BY at DESC, id DESC LIMIT 100"#,
        tenant,
        id
    )
    .fetch_all(pool)
    .await?)
}

/// One group of `tenant`; 404 for any other id.
pub async fn group_by_id(pool: &PgPool, tenant: i64, id: i64) -> Result<ErrorGroup, AppError> {
    group(pool, tenant, id).await
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
    let recent_events: Vec<ErrorEvent> = group_events(pool, tenant, id, None, 20)
        .await?
        .into_iter()
        .map(|n| n.event)
        .collect();
    let activity = activity_of(pool, tenant, id).await?;
    Ok(ErrorDetail {
        group,
        latest_event: recent_events.first().cloned(),
        recent_events,
        activity,
    })
}

/// Events of a group listed per page on its page.
pub const EVENTS_PER_PAGE: i64 = 20;

/// One stored event with its position (the internal, arrival-ordered id).
#[derive(Debug, Clone)]
pub struct NumberedEvent {
    pub id: i64,
    pub event: ErrorEvent,
}

struct EventRow {
    id: i64,
    event_id: uuid::Uuid,
    service: String,
    severity: String,
    message: String,
    details: Option<serde_json::Value>,
    stack_trace: Option<String>,
    environment: Option<String>,
    release: Option<String>,
    tags: Option<serde_json::Value>,
    agent: Option<String>,
    occurred_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
}

impl From<EventRow> for NumberedEvent {
    fn from(r: EventRow) -> Self {
        NumberedEvent {
            id: r.id,
            event: ErrorEvent {
                event_id: r.event_id,
                service: r.service,
                severity: r.severity,
                message: r.message,
                details: r.details,
                stack_trace: r.stack_trace,
                environment: r.environment,
                release: r.release,
                tags: r.tags,
                agent: r.agent,
                occurred_at: r.occurred_at,
                received_at: r.received_at,
            },
        }
    }
}

/// A group's events for its page: the one shown in full and a page of the list.
#[derive(Debug, Clone)]
pub struct EventsPage {
    /// The event asked for, else the latest (none when retention removed them all).
    pub shown: Option<NumberedEvent>,
    /// The next newer and older events than the shown one.
    pub newer: Option<uuid::Uuid>,
    pub older: Option<uuid::Uuid>,
    /// Up to [`EVENTS_PER_PAGE`] events older than `before` (or the latest), newest first.
    pub list: Vec<NumberedEvent>,
    /// `before` for the next (older) page of the list.
    pub next_before: Option<i64>,
}

/// Up to `limit` events of group `group` of `tenant` older than `before` (all when none),
/// newest first.
async fn group_events(
    pool: &PgPool,
    tenant: i64,
    group: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<NumberedEvent>, AppError> {
    Ok(sqlx::query_as!(
        EventRow,
        r#"SELECT e.id, e.event_id, e.service, e.severity, e.message, e.details, st.trace AS "stack_trace?",
                  e.environment, e.release, e.tags, a.name AS "agent?", e.occurred_at, e.received_at
           FROM error_events e
           LEFT JOIN agents a ON a.tenant_id = e.tenant_id AND a.id = e.agent_id
           LEFT JOIN stack_traces st ON st.tenant_id = e.tenant_id AND st.hash = e.stack_hash
           WHERE e.tenant_id = $1 AND e.group_id = $2 AND ($3::int8 IS NULL OR e.id < $3)
           ORDER BY e.id DESC LIMIT $4"#,
        tenant,
        group,
        before,
        limit
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(NumberedEvent::from)
    .collect())
}

/// Event `event` of group `group` of `tenant`, found by its unique event id.
async fn event_of_group(
    pool: &PgPool,
    tenant: i64,
    group: i64,
    event: uuid::Uuid,
) -> Result<Option<NumberedEvent>, AppError> {
    Ok(sqlx::query_as!(
        EventRow,
        r#"SELECT e.id, e.event_id, e.service, e.severity, e.message, e.details, st.trace AS "stack_trace?",
                  e.environment, e.release, e.tags, a.name AS "agent?", e.occurred_at, e.received_at
           FROM error_events e
           LEFT JOIN agents a ON a.tenant_id = e.tenant_id AND a.id = e.agent_id
           LEFT JOIN stack_traces st ON st.tenant_id = e.tenant_id AND st.hash = e.stack_hash
           WHERE e.tenant_id = $1 AND e.event_id = $2 AND e.group_id = $3"#,
        tenant,
        event,
        group
    )
    .fetch_optional(pool)
    .await?
    .map(NumberedEvent::from))
}

/// The events of group `group` of `tenant` to show: `event` (404 when not one of the
/// group's) or the latest, and a list page of events older than `before`.
pub async fn events_page(
    pool: &PgPool,
    tenant: i64,
    group: i64,
    event: Option<uuid::Uuid>,
    before: Option<i64>,
) -> Result<EventsPage, AppError> {
    let mut list = group_events(pool, tenant, group, before, EVENTS_PER_PAGE + 1).await?;
    let next_before = (list.len() as i64 > EVENTS_PER_PAGE).then(|| {
        list.truncate(EVENTS_PER_PAGE as usize);
        list.last().map(|e| e.id)
    });
    let shown = match (event, before) {
        (Some(wanted), _) => Some(
            event_of_group(pool, tenant, group, wanted)
                .await?
                .ok_or_else(|| AppError::not_found("event"))?,
        ),
        (None, None) => list.first().cloned(),
        (None, Some(_)) => group_events(pool, tenant, group, None, 1).await?.pop(),
    };
    let (newer, older) = match &shown {
        None => (None, None),
        Some(s) => {
            let n = sqlx::query!(
                r#"SELECT
                     (SELECT event_id FROM error_events
                      WHERE tenant_id = $1 AND group_id = $2 AND id > $3 ORDER BY id LIMIT 1) AS newer,
                     (SELECT event_id FROM error_events
                      WHERE tenant_id = $1 AND group_id = $2 AND id < $3 ORDER BY id DESC LIMIT 1) AS older"#,
                tenant,
                group,
                s.id
            )
            .fetch_one(pool)
            .await?;
            (n.newer, n.older)
        }
    };
    Ok(EventsPage {
        shown,
        newer,
        older,
        list,
        next_before: next_before.flatten(),
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
    let notes = check_notes("resolution_notes", notes)?;
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
    record(&mut tx, tenant, id, "resolved", actor, notes).await?;
    let g = group(&mut *tx, tenant, id).await?;
    tx.commit().await?;
    Ok(g)
}

/// Adds an entry to a group's history, inside the change it records.
async fn record(
    tx: &mut sqlx::PgConnection,
    tenant: i64,
    group: i64,
    kind: &str,
    actor: &str,
    notes: Option<&str>,
) -> Result<(), AppError> {
    sqlx::query!(
        "INSERT INTO activity (tenant_id, group_id, kind, actor, notes) VALUES ($1, $2, $3, $4, $5)",
        tenant,
        group,
        kind,
        actor,
        notes
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Checks optional notes: trimmed, empty means none, at most [`MAX_NOTES_CHARS`].
fn check_notes<'a>(field: &str, notes: Option<&'a str>) -> Result<Option<&'a str>, AppError> {
    check_text(field, notes, MAX_NOTES_CHARS)
}

/// Checks optional free text: trimmed, empty means none, at most `max` characters.
pub(crate) fn check_text<'a>(
    field: &str,
    text: Option<&'a str>,
    max: usize,
) -> Result<Option<&'a str>, AppError> {
    let text = text.map(str::trim).filter(|n| !n.is_empty());
    if text.is_some_and(|n| n.chars().count() > max) {
        return Err(AppError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(text)
}

/// Opens a resolved or ignored group again; 404 for other tenants' ids.
pub async fn reopen(
    pool: &PgPool,
    tenant: i64,
    id: i64,
    actor: &str,
) -> Result<ErrorGroup, AppError> {
    let mut tx = pool.begin().await?;
    let previous = sqlx::query_scalar!(
        "SELECT status FROM error_groups WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        tenant,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found("error"))?;
    if previous == "unresolved" || previous == "regressed" {
        return Err(AppError::Conflict("this error is already open".into()));
    }
    sqlx::query!(
        r#"UPDATE error_groups SET status = 'unresolved', resolved_at = NULL, resolved_by = NULL
           WHERE tenant_id = $1 AND id = $2"#,
        tenant,
        id
    )
    .execute(&mut *tx)
    .await?;
    record(
        &mut tx,
        tenant,
        id,
        "reopened",
        actor,
        Some(&format!("was {previous}")),
    )
    .await?;
    let g = group(&mut *tx, tenant, id).await?;
    tx.commit().await?;
    Ok(g)
}

/// Adds a comment to a group's history; 404 for other tenants' ids.
pub async fn comment(
    pool: &PgPool,
    tenant: i64,
    id: i64,
    notes: &str,
    actor: &str,
) -> Result<(), AppError> {
    let notes = check_notes("notes", Some(notes))?
        .ok_or_else(|| AppError::invalid("notes", "write a comment first"))?;
    let inserted = sqlx::query!(
        r#"INSERT INTO activity (tenant_id, group_id, kind, actor, notes)
           SELECT tenant_id, id, 'commented', $3, $4 FROM error_groups WHERE tenant_id = $1 AND id = $2"#,
        tenant,
        id,
        actor,
        notes
    )
    .execute(pool)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(AppError::not_found("error"));
    }
    Ok(())
}

/// How long an ignore lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreFor {
    Forever,
    /// Until this many hours have passed.
    Hours(i64),
    /// Until this many more events have arrived.
    Events(i64),
}

impl IgnoreFor {
    /// Parses the form's choice: `forever`, `1h`, `24h`, `7d`, or `count` with `count` events.
    pub fn parse(mode: &str, count: Option<i64>) -> Result<Self, AppError> {
        match mode {
            "forever" => Ok(Self::Forever),
            "1h" => Ok(Self::Hours(1)),
            "24h" => Ok(Self::Hours(24)),
            "7d" => Ok(Self::Hours(24 * 7)),
            "count" => match count {
                Some(n) if (1..=1_000_000).contains(&n) => Ok(Self::Events(n)),
                _ => Err(AppError::invalid(
                    "count",
                    "give a number of events between 1 and 1000000",
                )),
            },
            _ => Err(AppError::invalid(
                "mode",
                "must be one of forever, 1h, 24h, 7d, count",
            )),
        }
    }

    fn describe(self) -> String {
        match self {
            Self::Forever => "forever".into(),
            Self::Hours(h) if h % 24 == 0 => format!("for {} days", h / 24),
            Self::Hours(h) => format!("for {h} hours"),
            Self::Events(n) => format!("until {n} more events"),
        }
    }
}

/// Ignores a group: it leaves the open list and comes back by itself when the ignore ends
/// (time or count); 404 for other tenants' ids.
pub async fn ignore(
    pool: &PgPool,
    tenant: i64,
    id: i64,
    how: IgnoreFor,
    actor: &str,
) -> Result<(), AppError> {
    let (hours, events) = match how {
        IgnoreFor::Forever => (None, None),
        IgnoreFor::Hours(h) => (Some(h), None),
        IgnoreFor::Events(n) => (None, Some(n)),
    };
    let mut tx = pool.begin().await?;
    let updated = sqlx::query_scalar!(
        r#"UPDATE error_groups SET status = 'ignored',
               ignored_until = now() + make_interval(hours => $3::int4),
               ignored_until_count = occurrences + $4::int8,
               resolved_at = NULL, resolved_by = NULL
           WHERE tenant_id = $1 AND id = $2 RETURNING id"#,
        tenant,
        id,
        hours.map(|h| h as i32),
        events
    )
    .fetch_optional(&mut *tx)
    .await?;
    if updated.is_none() {
        return Err(AppError::not_found("error"));
    }
    record(&mut tx, tenant, id, "ignored", actor, Some(&how.describe())).await?;
    tx.commit().await?;
    Ok(())
}

/// What a bulk action does to each selected group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bulk {
    /// Resolve with optional notes.
    Resolve(Option<String>),
    Ignore(IgnoreFor),
    /// Assign to `user:<id>`, `agent:<id>` or nobody (`""`).
    Assign(String),
}

/// The most groups one bulk action changes.
pub const MAX_BULK: usize = 100;

/// Applies `what` to each of `ids`, each group in its own transaction with its own history
/// entry; when any id is not a group of `tenant`, nothing changes and the answer is 404.
/// Returns how many groups changed.
pub async fn bulk(
    pool: &PgPool,
    tenant: i64,
    ids: &[i64],
    what: &Bulk,
    actor: &str,
) -> Result<usize, AppError> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Err(AppError::invalid("ids", "select at least one error"));
    }
    if ids.len() > MAX_BULK {
        return Err(AppError::invalid(
            "ids",
            format!("select at most {MAX_BULK} errors at once"),
        ));
    }
    let owned = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM error_groups WHERE tenant_id = $1 AND id = ANY($2)"#,
        tenant,
        &ids
    )
    .fetch_one(pool)
    .await?;
    if owned != ids.len() as i64 {
        return Err(AppError::not_found("error"));
    }
    if let Bulk::Resolve(notes) = what {
        check_notes("notes", notes.as_deref())?;
    }
    for &id in &ids {
        match what {
            Bulk::Resolve(notes) => resolve(pool, tenant, id, notes.as_deref(), actor)
                .await
                .map(drop)?,
            Bulk::Ignore(how) => ignore(pool, tenant, id, *how, actor).await?,
            Bulk::Assign(to) => assign(pool, tenant, id, to, actor).await?,
        }
    }
    Ok(ids.len())
}

/// Reopens every group whose time-limited ignore has ended (all tenants; a background task).
pub async fn end_expired_ignores(pool: &PgPool) -> Result<u64, AppError> {
    let reopened = sqlx::query!(
        r#"WITH ended AS (
               UPDATE error_groups SET status = 'unresolved', reopened_at = now(),
                   ignored_until = NULL, ignored_until_count = NULL
               WHERE status = 'ignored' AND ignored_until <= now()
               RETURNING tenant_id, id)
           INSERT INTO activity (tenant_id, group_id, kind, actor, notes)
           SELECT tenant_id, id, 'reopened', 'system', $1 FROM ended"#,
        super::writer::IGNORE_ENDED
    )
    .execute(pool)
    .await?;
    Ok(reopened.rows_affected())
}

/// Events deleted per statement by [`apply_retention`].
const RETENTION_SLICE: i64 = 5_000;

/// Deletes events older than each company's retention, their hourly counts and the stack
/// traces no remaining event refers to (all tenants; a background task). Events are taken
/// oldest id first in slices, which follows arrival order, so no index on the arrival time is
/// needed; groups and their history stay.
pub async fn apply_retention(pool: &PgPool) -> Result<u64, AppError> {
    let tenants = sqlx::query!("SELECT id, retention_days FROM tenants ORDER BY id")
        .fetch_all(pool)
        .await?;
    let mut deleted = 0;
    for t in tenants {
        loop {
            let n = sqlx::query!(
                r#"WITH oldest AS (
                       SELECT id, received_at FROM error_events WHERE tenant_id = $1 ORDER BY id LIMIT $3)
                   DELETE FROM error_events e USING oldest o
                   WHERE e.tenant_id = $1 AND e.id = o.id
                     AND o.received_at < now() - make_interval(days => $2)"#,
                t.id,
                t.retention_days,
                RETENTION_SLICE
            )
            .execute(pool)
            .await?
            .rows_affected();
            deleted += n;
            if n < RETENTION_SLICE as u64 {
                break;
            }
        }
        sqlx::query!(
            "DELETE FROM group_counts_hourly WHERE tenant_id = $1 AND hour < now() - make_interval(days => $2)",
            t.id,
            t.retention_days
        )
        .execute(pool)
        .await?;
        // A trace's `last_seen` is at most an hour behind the newest event referring to it
        // (see the writer), so one not seen for a day longer than the retention is unused.
        sqlx::query!(
            "DELETE FROM stack_traces WHERE tenant_id = $1 AND last_seen < now() - make_interval(days => $2 + 1)",
            t.id,
            t.retention_days
        )
        .execute(pool)
        .await?;
    }
    Ok(deleted)
}

/// Who a group can be assigned to: the company's members and agents.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Assignee {
    /// `user:<id>` or `agent:<id>`, as the form sends it back.
    pub value: String,
    pub label: String,
}

/// The members and agents of `tenant`, members first.
pub async fn assignees(pool: &PgPool, tenant: i64) -> Result<Vec<Assignee>, AppError> {
    let rows = sqlx::query!(
        r#"SELECT 'user:' || u.id AS "value!", u.email AS "label!", 0 AS "k!" FROM memberships m
               JOIN users u ON u.id = m.user_id WHERE m.tenant_id = $1
           UNION ALL
           SELECT 'agent:' || a.id, 'agent ' || a.name, 1 FROM agents a WHERE a.tenant_id = $1
           ORDER BY 3, 2 LIMIT 500"#,
        tenant
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Assignee {
            value: r.value,
            label: r.label,
        })
        .collect())
}

/// A group's current assignee as the form's value (`user:<id>` / `agent:<id>`) and label.
pub async fn assignee_of(
    pool: &PgPool,
    tenant: i64,
    id: i64,
) -> Result<Option<Assignee>, AppError> {
    let row = sqlx::query!(
        r#"SELECT CASE WHEN u.id IS NOT NULL THEN 'user:' || u.id ELSE 'agent:' || a.id END AS "value!",
                  coalesce(u.email, 'agent ' || a.name) AS "label!"
           FROM error_groups g
           LEFT JOIN users u ON u.id = g.assignee_user_id
           LEFT JOIN agents a ON a.tenant_id = g.tenant_id AND a.id = g.assignee_agent_id
           WHERE g.tenant_id = $1 AND g.id = $2 AND (u.id IS NOT NULL OR a.id IS NOT NULL)"#,
        tenant,
        id
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Assignee {
        value: r.value,
        label: r.label,
    }))
}

/// Assigns a group to a member or agent of the same company, or to nobody (`""`); 404 for
/// other tenants' groups, and `assignee` must name someone of this company.
pub async fn assign(
    pool: &PgPool,
    tenant: i64,
    id: i64,
    assignee: &str,
    actor: &str,
) -> Result<(), AppError> {
    let bad = || AppError::invalid("assignee", "choose a member or an agent of this company");
    let (user, agent) = match assignee.trim().split_once(':') {
        None if assignee.trim().is_empty() => (None, None),
        Some(("user", id)) => (Some(id.parse::<i64>().map_err(|_| bad())?), None),
        Some(("agent", id)) => (None, Some(id.parse::<i64>().map_err(|_| bad())?)),
        _ => return Err(bad()),
    };
    let mut tx = pool.begin().await?;
    let label = match (user, agent) {
        (Some(u), _) => sqlx::query_scalar!(
            "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.tenant_id = $1 AND m.user_id = $2",
            tenant,
            u
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(bad)?,
        (_, Some(a)) => sqlx::query_scalar!(
            "SELECT 'agent ' || name AS \"name!\" FROM agents WHERE tenant_id = $1 AND id = $2",
            tenant,
            a
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(bad)?,
        (None, None) => "nobody".to_owned(),
    };
    let updated = sqlx::query_scalar!(
        r#"UPDATE error_groups SET assignee_user_id = $3, assignee_agent_id = $4
           WHERE tenant_id = $1 AND id = $2 RETURNING id"#,
        tenant,
        id,
        user,
        agent
    )
    .fetch_optional(&mut *tx)
    .await?;
    if updated.is_none() {
        return Err(AppError::not_found("error"));
    }
    record(
        &mut tx,
        tenant,
        id,
        "assigned",
        actor,
        Some(&format!("to {label}")),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A group's events per hour, oldest first.
pub type HourlySeries = Vec<(DateTime<Utc>, i64)>;

/// Events per hour over the last `hours` hours (this hour included) for each of `groups`,
/// oldest first with empty hours as zero: one range read of the hourly counts' primary key
/// for a whole feed page or one group, the empty hours filled in here.
pub async fn hourly_counts(
    pool: &PgPool,
    tenant: i64,
    groups: &[i64],
    hours: i32,
) -> Result<Vec<(i64, HourlySeries)>, AppError> {
    use chrono::{Duration, DurationRound};
    if groups.is_empty() || hours < 1 {
        return Ok(Vec::new());
    }
    let now = Utc::now();
    let last = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    let first = last - Duration::hours(i64::from(hours) - 1);
    let counts: std::collections::HashMap<(i64, DateTime<Utc>), i64> = sqlx::query!(
        r#"SELECT group_id, hour, count FROM group_counts_hourly
           WHERE tenant_id = $1 AND group_id = ANY($2) AND hour >= $3 AND hour <= $4"#,
        tenant,
        groups,
        first,
        last
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| ((r.group_id, r.hour), r.count))
    .collect();
    Ok(groups
        .iter()
        .map(|&g| {
            let series = (0..i64::from(hours))
                .map(|i| {
                    let hour = first + Duration::hours(i);
                    (hour, counts.get(&(g, hour)).copied().unwrap_or(0))
                })
                .collect();
            (g, series)
        })
        .collect())
}

/// Whether `tenant` has received any error yet (for the teaching empty state).
pub async fn has_groups(pool: &PgPool, tenant: i64) -> Result<bool, AppError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM error_groups WHERE tenant_id = $1) AS "any!""#,
        tenant
    )
    .fetch_one(pool)
    .await?)
}

/// The services that reported errors, for filters (at most 200, by name).
pub async fn services(pool: &PgPool, tenant: i64) -> Result<Vec<String>, AppError> {
    Ok(sqlx::query_scalar!(
        "SELECT DISTINCT service FROM error_groups WHERE tenant_id = $1 ORDER BY service LIMIT 200",
        tenant
    )
    .fetch_all(pool)
    .await?)
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
    let agent_id = crate::agents::ssr::id_by_name(pool, tenant, agent)
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
                  a.name AS "agent?", g.auto_fix_attempted, g.auto_fix_successful,
                  coalesce(au.email, 'agent ' || aa.name) AS "assignee?"
           FROM error_groups g
           LEFT JOIN agents a ON a.tenant_id = g.tenant_id AND a.id = g.last_agent_id
           LEFT JOIN users au ON au.id = g.assignee_user_id
           LEFT JOIN agents aa ON aa.tenant_id = g.tenant_id AND aa.id = g.assignee_agent_id
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
