//! The fix-run service behind every interface (UI, agent API, seed REST, the engine's
//! automatic trigger): start a run (choosing and gating the playbook), approve, reject,
//! cancel, and read the log.

use super::{Breaker, FixDetail, FixFilter, FixList, FixRun, FixStep, PAGE};
use crate::audit::ssr::{Entry, record};
use crate::error::AppError;
use crate::playbooks::PlaybookSpec;
use crate::playbooks::rules::{ErrorFacts, Gates, Matcher, Record, gate, needs_approval, rank};
use serde_json::json;
use sqlx::{PgConnection, PgPool};

/// The notification channel that wakes the engine: new triggers and newly queued runs.
pub const CHANNEL: &str = "faultline_fixes";

/// Most characters of approval or rejection notes.
pub const MAX_NOTES_CHARS: usize = 2000;

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A new or regressed group matched an automatic playbook.
    Auto,
    /// A person asked in the UI.
    User,
    /// An agent asked through the API.
    Agent,
    /// An AI assistant asked over MCP.
    Mcp,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Auto => "auto",
            Trigger::User => "user",
            Trigger::Agent => "agent",
            Trigger::Mcp => "mcp",
        }
    }
}

/// A request to fix one group.
#[derive(Debug, Clone, Copy)]
pub struct StartRequest<'a> {
    pub group: i64,
    /// A playbook chosen by the caller (it need not match; it must be enabled), or `None`
    /// for the best enabled playbook that matches.
    pub playbook: Option<i64>,
    pub trigger: Trigger,
    pub actor: &'a str,
}

/// Starts a fix run of `req.group` of `tenant`: 404 for other companies' groups and
/// playbooks; 409 when a run is already under way on the group, or no playbook may run
/// (none matches, disabled, cooldown, attempts used up, circuit breaker open — the message
/// says which). The run waits for approval when its playbook needs it, else it is queued
/// and the engine is woken.
pub async fn start(pool: &PgPool, tenant: i64, req: StartRequest<'_>) -> Result<FixRun, AppError> {
    let mut tx = pool.begin().await?;
    let id = start_in(&mut tx, tenant, req).await?;
    tx.commit().await?;
    run(pool, tenant, id).await
}

/// [`start`] inside the caller's transaction; answers the new run's id.
pub async fn start_in(
    tx: &mut PgConnection,
    tenant: i64,
    req: StartRequest<'_>,
) -> Result<i64, AppError> {
    // The group row lock makes concurrent starts on one group take turns.
    let g = sqlx::query!(
        r#"SELECT id, fingerprint, service, error_type, category, severity, title
           FROM error_groups WHERE tenant_id = $1 AND id = $2 FOR UPDATE"#,
        tenant,
        req.group
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found("error"))?;
    if let Some(active) = sqlx::query!(
        r#"SELECT id, status FROM fix_runs WHERE tenant_id = $1 AND group_id = $2
             AND status IN ('pending_approval', 'queued', 'running', 'verifying')
           ORDER BY id DESC LIMIT 1"#,
        tenant,
        req.group
    )
    .fetch_optional(&mut *tx)
    .await?
    {
        return Err(AppError::Conflict(format!(
            "fix run #{} is already {} for this error",
            active.id,
            active.status.replace('_', " ")
        )));
    }
    let candidates = sqlx::query!(
        r#"SELECT p.id, p.spec, p.enabled, p.successes, p.failures,
                  coalesce(s.successes, 0) AS "fp_successes!", coalesce(s.failures, 0) AS "fp_failures!",
                  extract(epoch FROM b.open_until - now())::int8 AS breaker_open_secs,
                  (SELECT count(*) FROM fix_runs r
                   WHERE r.tenant_id = p.tenant_id AND r.group_id = $2 AND r.playbook_id = p.id
                     AND r.status NOT IN ('rejected', 'cancelled')) AS "attempts!",
                  (SELECT extract(epoch FROM now() - max(coalesce(r.finished_at, r.created_at)))::int8
                   FROM fix_runs r
                   WHERE r.tenant_id = p.tenant_id AND r.group_id = $2 AND r.playbook_id = p.id
                     AND r.status NOT IN ('rejected', 'cancelled')) AS since_last
           FROM playbooks p
           LEFT JOIN fix_stats s ON s.tenant_id = p.tenant_id AND s.playbook_id = p.id AND s.fingerprint = $3
           LEFT JOIN fix_breakers b ON b.tenant_id = p.tenant_id AND b.playbook_id = p.id AND b.service = $4
           WHERE p.tenant_id = $1 AND (p.enabled OR p.id = $5) AND ($5::int8 IS NULL OR p.id = $5)"#,
        tenant,
        req.group,
        g.fingerprint,
        g.service,
        req.playbook
    )
    .fetch_all(&mut *tx)
    .await?;
    if req.playbook.is_some() && candidates.is_empty() {
        return Err(AppError::not_found("playbook"));
    }
    let facts = ErrorFacts {
        category: g.category.clone(),
        error_type: g.error_type.clone(),
        service: g.service.clone(),
        severity: g.severity.clone(),
        message: g.title.clone(),
    };
    let mut specs = Vec::new();
    let mut ranked = Vec::new();
    for c in candidates {
        let spec: PlaybookSpec = match serde_json::from_value(c.spec) {
            Ok(spec) => spec,
            Err(e) => {
                tracing::error!(playbook = c.id, error = %e, "a stored playbook no longer parses");
                continue;
            }
        };
        let matches =
            req.playbook.is_some() || Matcher::new(&spec.matches).is_ok_and(|m| m.matches(&facts));
        if !matches {
            continue;
        }
        ranked.push((
            c.id,
            Record::new(c.fp_successes, c.fp_failures),
            Record::new(c.successes, c.failures),
        ));
        let gates = Gates {
            enabled: c.enabled,
            automatic_trigger: req.trigger == Trigger::Auto,
            attempts: c.attempts.max(0) as u64,
            secs_since_last_run: c.since_last,
            breaker_open_secs: c.breaker_open_secs,
        };
        specs.push((c.id, spec, gates));
    }
    rank(&mut ranked);
    let mut refusals = Vec::new();
    let chosen = ranked.iter().find_map(|(id, _, _)| {
        let (_, spec, gates) = specs.iter().find(|(s, _, _)| s == id)?;
        match gate(spec, gates) {
            Ok(()) => Some((*id, spec)),
            Err(why) => {
                refusals.push(why);
                None
            }
        }
    });
    let Some((playbook_id, spec)) = chosen else {
        return Err(AppError::Conflict(match refusals.first() {
            Some(why) => format!("no fix started: {why}"),
            None => "no enabled playbook matches this error; write one on /playbooks".into(),
        }));
    };
    let waits = needs_approval(spec);
    let status = if waits { "pending_approval" } else { "queued" };
    let spec_json = serde_json::to_value(spec).map_err(|_| AppError::Internal)?;
    let id = sqlx::query_scalar!(
        r#"INSERT INTO fix_runs (tenant_id, group_id, playbook_id, playbook_name, spec, trigger, triggered_by,
                                 service, fingerprint, status)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id"#,
        tenant,
        g.id,
        playbook_id,
        spec.name,
        spec_json,
        req.trigger.as_str(),
        req.actor,
        g.service,
        g.fingerprint,
        status
    )
    .fetch_one(&mut *tx)
    .await?;
    let notes = if waits {
        format!(
            "Fix run #{id} (“{}”) waits for an admin's approval",
            spec.name
        )
    } else {
        format!("Fix run #{id} (“{}”) queued", spec.name)
    };
    activity(&mut *tx, tenant, g.id, "fix_started", req.actor, &notes, id).await?;
    sqlx::query!(
        "UPDATE error_groups SET auto_fix_attempted = true WHERE tenant_id = $1 AND id = $2",
        tenant,
        g.id
    )
    .execute(&mut *tx)
    .await?;
    if !waits {
        wake(&mut *tx).await?;
    }
    Ok(id)
}

/// Records steps an agent or assistant proposes for group `group` of `tenant` as a run that
/// waits for an admin's approval — never run before. The steps are checked like a
/// playbook's (field errors), against `policy`. 404 for other companies' groups, 409 while
/// another run is under way on the group.
pub async fn propose(
    pool: &PgPool,
    tenant: i64,
    group: i64,
    spec: &PlaybookSpec,
    policy: &crate::playbooks::rules::Policy,
    trigger: Trigger,
    actor: &str,
) -> Result<FixRun, AppError> {
    crate::playbooks::ssr::check_all(std::slice::from_ref(spec), policy)?;
    let mut tx = pool.begin().await?;
    let g = sqlx::query!(
        "SELECT id, fingerprint, service FROM error_groups WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        tenant,
        group
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found("error"))?;
    if let Some(active) = sqlx::query_scalar!(
        r#"SELECT id FROM fix_runs WHERE tenant_id = $1 AND group_id = $2
             AND status IN ('pending_approval', 'queued', 'running', 'verifying') LIMIT 1"#,
        tenant,
        group
    )
    .fetch_optional(&mut *tx)
    .await?
    {
        return Err(AppError::Conflict(format!(
            "fix run #{active} is already under way for this error"
        )));
    }
    let name = format!("Proposed: {}", spec.name.trim());
    let spec_json = serde_json::to_value(spec).map_err(|_| AppError::Internal)?;
    let id = sqlx::query_scalar!(
        r#"INSERT INTO fix_runs (tenant_id, group_id, playbook_id, playbook_name, spec, trigger, triggered_by,
                                 service, fingerprint, status)
           VALUES ($1, $2, NULL, $3, $4, $5, $6, $7, $8, 'pending_approval') RETURNING id"#,
        tenant,
        g.id,
        name,
        spec_json,
        trigger.as_str(),
        actor,
        g.service,
        g.fingerprint
    )
    .fetch_one(&mut *tx)
    .await?;
    activity(
        &mut *tx,
        tenant,
        g.id,
        "fix_started",
        actor,
        &format!("Fix run #{id} (“{name}”) proposed; it waits for an admin's approval"),
        id,
    )
    .await?;
    tx.commit().await?;
    run(pool, tenant, id).await
}

/// Tells every engine (on every replica) that there is work, once the transaction commits.
pub async fn wake(db: impl sqlx::PgExecutor<'_>) -> Result<(), AppError> {
    sqlx::query!("SELECT pg_notify($1, 'run')", CHANNEL)
        .execute(db)
        .await?;
    Ok(())
}

/// Adds a fix entry to a group's history.
pub(crate) async fn activity(
    db: impl sqlx::PgExecutor<'_>,
    tenant: i64,
    group: i64,
    kind: &str,
    actor: &str,
    notes: &str,
    run: i64,
) -> Result<(), AppError> {
    sqlx::query!(
        r#"INSERT INTO activity (tenant_id, group_id, kind, actor, notes, details)
           VALUES ($1, $2, $3, $4, $5, $6)"#,
        tenant,
        group,
        kind,
        actor,
        notes,
        json!({ "run_id": run })
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Approves or rejects run `id` of `tenant` waiting for approval; a rejection needs `notes`
/// (the reason). 404 for other companies' runs, 409 when it is not waiting. Audit-logged.
pub async fn decide(
    pool: &PgPool,
    tenant: i64,
    id: i64,
    approve: bool,
    notes: Option<&str>,
    actor: &str,
) -> Result<(), AppError> {
    let field = if approve { "notes" } else { "reason" };
    let notes = crate::errors::read::check_text(field, notes, MAX_NOTES_CHARS)?.map(str::to_owned);
    if !approve && notes.is_none() {
        return Err(AppError::invalid("reason", "say why the fix is rejected"));
    }
    let mut tx = pool.begin().await?;
    let done = sqlx::query!(
        r#"UPDATE fix_runs SET status = CASE WHEN $3 THEN 'queued' ELSE 'rejected' END,
               decided_by = $4, decided_at = now(), decision_notes = $5,
               finished_at = CASE WHEN $3 THEN NULL ELSE now() END,
               reason = CASE WHEN $3 THEN NULL ELSE 'rejected by ' || $4 END
           WHERE tenant_id = $1 AND id = $2 AND status = 'pending_approval'
           RETURNING group_id, playbook_name"#,
        tenant,
        id,
        approve,
        actor,
        notes
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(run) = done else {
        return Err(not_waiting(pool, tenant, id, "waiting for approval").await);
    };
    let (kind, what) = if approve {
        ("fix_started", "approved")
    } else {
        ("fix_finished", "rejected")
    };
    let text = match &notes {
        Some(n) => format!("Fix run #{id} (“{}”) {what}: {n}", run.playbook_name),
        None => format!("Fix run #{id} (“{}”) {what}", run.playbook_name),
    };
    activity(&mut *tx, tenant, run.group_id, kind, actor, &text, id).await?;
    record(
        &mut *tx,
        Entry {
            tenant_id: tenant,
            actor,
            action: if approve { "fix.approve" } else { "fix.reject" },
            target_type: "fix_run",
            target_id: id.to_string(),
            details: json!({ "playbook": run.playbook_name, "notes": notes }),
        },
    )
    .await?;
    if approve {
        wake(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Cancels run `id` of `tenant` before it acts (waiting for approval or queued); 404 for
/// other companies' runs, 409 once it runs or has ended. Audit-logged.
pub async fn cancel(pool: &PgPool, tenant: i64, id: i64, actor: &str) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    let Some(run) = sqlx::query!(
        r#"UPDATE fix_runs SET status = 'cancelled', finished_at = now(), reason = 'cancelled by ' || $3
           WHERE tenant_id = $1 AND id = $2 AND status IN ('pending_approval', 'queued')
           RETURNING group_id, playbook_name"#,
        tenant,
        id,
        actor
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Err(not_waiting(pool, tenant, id, "waiting or queued").await);
    };
    let text = format!("Fix run #{id} (“{}”) cancelled", run.playbook_name);
    activity(
        &mut *tx,
        tenant,
        run.group_id,
        "fix_finished",
        actor,
        &text,
        id,
    )
    .await?;
    record(
        &mut *tx,
        Entry {
            tenant_id: tenant,
            actor,
            action: "fix.cancel",
            target_type: "fix_run",
            target_id: id.to_string(),
            details: json!({ "playbook": run.playbook_name }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// 404 when `tenant` has no run `id`, else 409 naming its status.
async fn not_waiting(pool: &PgPool, tenant: i64, id: i64, expected: &str) -> AppError {
    match sqlx::query_scalar!(
        "SELECT status FROM fix_runs WHERE tenant_id = $1 AND id = $2",
        tenant,
        id
    )
    .fetch_optional(pool)
    .await
    {
        Ok(Some(status)) => AppError::Conflict(format!(
            "fix run #{id} is {}, not {expected}",
            status.replace('_', " ")
        )),
        Ok(None) => AppError::not_found("fix run"),
        Err(e) => e.into(),
    }
}

/// Run `id` of `tenant`; 404 for others.
pub async fn run(pool: &PgPool, tenant: i64, id: i64) -> Result<FixRun, AppError> {
    list_rows(pool, tenant, &FixFilter::default(), Some(id), 1)
        .await?
        .pop()
        .ok_or_else(|| AppError::not_found("fix run"))
}

async fn list_rows(
    pool: &PgPool,
    tenant: i64,
    f: &FixFilter,
    only: Option<i64>,
    limit: i64,
) -> Result<Vec<FixRun>, AppError> {
    Ok(sqlx::query_as!(
        FixRun,
        r#"SELECT r.id, r.group_id, g.error_type || ': ' || g.title AS "group_title!", r.service,
                  r.playbook_id, r.playbook_name, r.trigger, r.triggered_by, r.status, r.decided_by,
                  r.decision_notes, r.reason, r.created_at, r.started_at, r.finished_at
           FROM fix_runs r
           JOIN error_groups g ON g.tenant_id = r.tenant_id AND g.id = r.group_id
           WHERE r.tenant_id = $1
             AND ($2::int8 IS NULL OR r.id = $2)
             AND ($3::text IS NULL OR r.status = $3)
             AND ($4::int8 IS NULL OR r.playbook_id = $4)
             AND ($5::int8 IS NULL OR r.group_id = $5)
             AND ($6::text IS NULL OR r.trigger = $6)
             AND ($7::int8 IS NULL OR r.id < $7)
           ORDER BY r.id DESC LIMIT $8"#,
        tenant,
        only,
        f.status,
        f.playbook,
        f.group,
        f.trigger,
        f.before,
        limit
    )
    .fetch_all(pool)
    .await?)
}

/// A page of `tenant`'s runs matching `f`, newest first, with the breakers and the count of
/// runs waiting for approval. Unknown statuses and triggers are refused.
pub async fn list(pool: &PgPool, tenant: i64, f: &FixFilter) -> Result<FixList, AppError> {
    if f.status
        .as_deref()
        .is_some_and(|s| !super::STATUSES.contains(&s))
    {
        return Err(AppError::invalid(
            "status",
            format!("must be one of {}", super::STATUSES.join(", ")),
        ));
    }
    if f.trigger
        .as_deref()
        .is_some_and(|t| !["auto", "user", "agent", "mcp"].contains(&t))
    {
        return Err(AppError::invalid(
            "trigger",
            "must be one of auto, user, agent, mcp",
        ));
    }
    let mut runs = list_rows(pool, tenant, f, None, PAGE + 1).await?;
    let next_before = if runs.len() as i64 > PAGE {
        runs.truncate(PAGE as usize);
        runs.last().map(|r| r.id)
    } else {
        None
    };
    let pending = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM fix_runs WHERE tenant_id = $1 AND status = 'pending_approval'"#,
        tenant
    )
    .fetch_one(pool)
    .await?;
    let breakers = sqlx::query_as!(
        Breaker,
        r#"SELECT b.playbook_id, p.name AS playbook_name, b.service, b.consecutive_failures,
                  CASE WHEN b.open_until > now() THEN b.open_until END AS open_until
           FROM fix_breakers b JOIN playbooks p ON p.tenant_id = b.tenant_id AND p.id = b.playbook_id
           WHERE b.tenant_id = $1 AND (b.consecutive_failures > 0 OR b.open_until > now())
           ORDER BY b.open_until DESC NULLS LAST, p.name, b.service LIMIT 100"#,
        tenant
    )
    .fetch_all(pool)
    .await?;
    let playbooks = sqlx::query!(
        "SELECT id, name FROM playbooks WHERE tenant_id = $1 ORDER BY lower(name), id LIMIT 500",
        tenant
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|p| (p.id, p.name))
    .collect();
    Ok(FixList {
        runs,
        next_before,
        pending,
        breakers,
        playbooks,
        can_decide: false,
        now: chrono::Utc::now(),
    })
}

/// Run `id` of `tenant` with its log; 404 for others.
pub async fn detail(pool: &PgPool, tenant: i64, id: i64) -> Result<FixDetail, AppError> {
    let run = run(pool, tenant, id).await?;
    let extra = sqlx::query!(
        "SELECT spec, responder_task_id FROM fix_runs WHERE tenant_id = $1 AND id = $2",
        tenant,
        id
    )
    .fetch_one(pool)
    .await?;
    let steps = sqlx::query_as!(
        FixStep,
        r#"SELECT seq, phase, description, status, output, started_at, finished_at
           FROM fix_run_steps WHERE tenant_id = $1 AND run_id = $2 ORDER BY seq"#,
        tenant,
        id
    )
    .fetch_all(pool)
    .await?;
    Ok(FixDetail {
        run,
        steps,
        spec_json: serde_json::to_string_pretty(&extra.spec).unwrap_or_default(),
        responder_task_id: extra.responder_task_id,
        can_decide: false,
        now: chrono::Utc::now(),
    })
}

/// The runs of group `group` of `tenant`, newest first (for the group page).
pub async fn of_group(pool: &PgPool, tenant: i64, group: i64) -> Result<Vec<FixRun>, AppError> {
    list_rows(
        pool,
        tenant,
        &FixFilter {
            group: Some(group),
            ..Default::default()
        },
        None,
        20,
    )
    .await
}
