//! Storing playbooks: list, save (one, or many imported at once), enable, delete, and the
//! starter set. Every write is checked by `rules::validate` against the server's policy and
//! audit-logged.

use super::PlaybookSpec;
use super::rules::{FieldErrors, Policy, starters, validate};
use crate::audit::ssr::{Entry, record};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};

/// Largest playbook JSON accepted at once (one spec or an imported list).
pub const MAX_JSON_BYTES: usize = 256 * 1024;
/// Most playbooks one import brings.
pub const MAX_IMPORT: usize = 100;

/// A stored playbook with what the engine learned of it.
#[derive(Debug, Clone)]
pub struct StoredPlaybook {
    pub id: i64,
    pub spec: PlaybookSpec,
    pub successes: i64,
    pub failures: i64,
    pub updated_at: DateTime<Utc>,
}

/// Reads playbook JSON: one object, or a list of them (an export). Malformed JSON names the
/// line and column.
pub fn parse_specs(json: &str) -> Result<Vec<PlaybookSpec>, AppError> {
    if json.len() > MAX_JSON_BYTES {
        return Err(AppError::invalid("spec", "must be at most 256 KiB of JSON"));
    }
    let bad = |e: serde_json::Error| {
        AppError::invalid(
            "spec",
            format!("line {} column {}: {e}", e.line(), e.column()),
        )
    };
    let specs = if json.trim_start().starts_with('[') {
        serde_json::from_str::<Vec<PlaybookSpec>>(json).map_err(bad)?
    } else {
        vec![serde_json::from_str::<PlaybookSpec>(json).map_err(bad)?]
    };
    match specs.len() {
        0 => Err(AppError::invalid("spec", "the list is empty")),
        n if n > MAX_IMPORT => Err(AppError::invalid(
            "spec",
            format!("at most {MAX_IMPORT} playbooks at once"),
        )),
        _ => Ok(specs),
    }
}

/// All problems of `errors` as one answer: the first field, every message.
pub fn field_errors(errors: FieldErrors) -> AppError {
    let field = errors.first().map(|(f, _)| f.clone()).unwrap_or_default();
    let message = errors
        .iter()
        .map(|(f, m)| format!("{f}: {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    AppError::invalid(field, message)
}

/// Checks every spec; for a list, field paths start with its index (`[2].actions[0].url`).
pub fn check_all(specs: &[PlaybookSpec], policy: &Policy) -> Result<(), AppError> {
    let mut all = FieldErrors::new();
    for (i, spec) in specs.iter().enumerate() {
        if let Err(errors) = validate(spec, policy) {
            all.extend(errors.into_iter().map(|(f, m)| {
                if specs.len() == 1 {
                    (f, m)
                } else {
                    (format!("[{i}].{f}"), m)
                }
            }));
        }
    }
    if all.is_empty() {
        Ok(())
    } else {
        Err(field_errors(all))
    }
}

fn row(
    id: i64,
    spec: serde_json::Value,
    successes: i64,
    failures: i64,
    updated_at: DateTime<Utc>,
) -> Result<StoredPlaybook, AppError> {
    let spec = serde_json::from_value(spec).map_err(|e| {
        tracing::error!(playbook = id, error = %e, "a stored playbook no longer parses");
        AppError::Internal
    })?;
    Ok(StoredPlaybook {
        id,
        spec,
        successes,
        failures,
        updated_at,
    })
}

/// The playbooks of `tenant`, enabled first, then by name.
pub async fn list(pool: &PgPool, tenant: i64) -> Result<Vec<StoredPlaybook>, AppError> {
    sqlx::query!(
        r#"SELECT id, spec, successes, failures, updated_at FROM playbooks
           WHERE tenant_id = $1 ORDER BY enabled DESC, lower(name), id LIMIT 500"#,
        tenant
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| row(r.id, r.spec, r.successes, r.failures, r.updated_at))
    .collect()
}

/// One playbook of `tenant`; 404 for any other id.
pub async fn get(pool: &PgPool, tenant: i64, id: i64) -> Result<StoredPlaybook, AppError> {
    let r = sqlx::query!(
        "SELECT id, spec, successes, failures, updated_at FROM playbooks WHERE tenant_id = $1 AND id = $2",
        tenant,
        id
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| AppError::not_found("playbook"))?;
    row(r.id, r.spec, r.successes, r.failures, r.updated_at)
}

async fn insert(
    conn: &mut PgConnection,
    tenant: i64,
    spec: &PlaybookSpec,
    actor: &str,
) -> Result<i64, AppError> {
    let json = serde_json::to_value(spec).map_err(|_| AppError::Internal)?;
    let id = sqlx::query_scalar!(
        r#"INSERT INTO playbooks (tenant_id, name, spec, enabled, mode, risk, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"#,
        tenant,
        spec.name.trim(),
        json,
        spec.enabled,
        mode_str(spec),
        risk_str(spec),
        actor
    )
    .fetch_one(&mut *conn)
    .await?;
    record(
        &mut *conn,
        Entry {
            tenant_id: tenant,
            actor,
            action: "playbook.create",
            target_type: "playbook",
            target_id: id.to_string(),
            details: json!({ "name": spec.name.trim(), "enabled": spec.enabled }),
        },
    )
    .await?;
    Ok(id)
}

pub(crate) fn mode_str(spec: &PlaybookSpec) -> &'static str {
    match spec.mode {
        super::Mode::Automatic => "automatic",
        super::Mode::Manual => "manual",
    }
}

pub(crate) fn risk_str(spec: &PlaybookSpec) -> &'static str {
    match spec.risk {
        super::Risk::Low => "low",
        super::Risk::Medium => "medium",
        super::Risk::High => "high",
    }
}

/// Creates playbooks (all or none), checked against `policy`; returns their ids.
pub async fn create(
    pool: &PgPool,
    tenant: i64,
    specs: &[PlaybookSpec],
    policy: &Policy,
    actor: &str,
) -> Result<Vec<i64>, AppError> {
    check_all(specs, policy)?;
    let mut tx = pool.begin().await?;
    let mut ids = Vec::with_capacity(specs.len());
    for spec in specs {
        ids.push(insert(&mut tx, tenant, spec, actor).await?);
    }
    tx.commit().await?;
    Ok(ids)
}

/// Replaces playbook `id` of `tenant` with `spec` (its learned counts stay); 404 for others.
pub async fn update(
    pool: &PgPool,
    tenant: i64,
    id: i64,
    spec: &PlaybookSpec,
    policy: &Policy,
    actor: &str,
) -> Result<(), AppError> {
    check_all(std::slice::from_ref(spec), policy)?;
    let json = serde_json::to_value(spec).map_err(|_| AppError::Internal)?;
    let mut tx = pool.begin().await?;
    let updated = sqlx::query_scalar!(
        r#"UPDATE playbooks SET name = $3, spec = $4, enabled = $5, mode = $6, risk = $7, updated_at = now()
           WHERE tenant_id = $1 AND id = $2 RETURNING id"#,
        tenant,
        id,
        spec.name.trim(),
        json,
        spec.enabled,
        mode_str(spec),
        risk_str(spec)
    )
    .fetch_optional(&mut *tx)
    .await?;
    if updated.is_none() {
        return Err(AppError::not_found("playbook"));
    }
    record(
        &mut *tx,
        Entry {
            tenant_id: tenant,
            actor,
            action: "playbook.update",
            target_type: "playbook",
            target_id: id.to_string(),
            details: json!({ "name": spec.name.trim(), "enabled": spec.enabled }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Turns playbook `id` on or off; 404 for other tenants' ids.
pub async fn set_enabled(
    pool: &PgPool,
    tenant: i64,
    id: i64,
    enabled: bool,
    actor: &str,
) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    let updated = sqlx::query_scalar!(
        r#"UPDATE playbooks SET enabled = $3, spec = jsonb_set(spec, '{enabled}', to_jsonb($3::bool)),
               updated_at = now()
           WHERE tenant_id = $1 AND id = $2 RETURNING id"#,
        tenant,
        id,
        enabled
    )
    .fetch_optional(&mut *tx)
    .await?;
    if updated.is_none() {
        return Err(AppError::not_found("playbook"));
    }
    record(
        &mut *tx,
        Entry {
            tenant_id: tenant,
            actor,
            action: if enabled {
                "playbook.enable"
            } else {
                "playbook.disable"
            },
            target_type: "playbook",
            target_id: id.to_string(),
            details: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes playbook `id`; 404 for other tenants' ids.
pub async fn delete(pool: &PgPool, tenant: i64, id: i64, actor: &str) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    let name = sqlx::query_scalar!(
        "DELETE FROM playbooks WHERE tenant_id = $1 AND id = $2 RETURNING name",
        tenant,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found("playbook"))?;
    record(
        &mut *tx,
        Entry {
            tenant_id: tenant,
            actor,
            action: "playbook.delete",
            target_type: "playbook",
            target_id: id.to_string(),
            details: json!({ "name": name }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Adds the starter playbooks `tenant` does not have yet (by name), disabled; returns how
/// many were added.
pub async fn install_starters(pool: &PgPool, tenant: i64, actor: &str) -> Result<usize, AppError> {
    let mut tx = pool.begin().await?;
    let mut added = 0;
    for spec in starters() {
        let exists = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM playbooks WHERE tenant_id = $1 AND name = $2) AS "exists!""#,
            tenant,
            spec.name
        )
        .fetch_one(&mut *tx)
        .await?;
        if !exists {
            insert(&mut tx, tenant, &spec, actor).await?;
            added += 1;
        }
    }
    tx.commit().await?;
    Ok(added)
}

/// One step in words: `POST http://svc/restart (expects 200)`, `agent task clear_cache on
/// the reporting agent`, …
pub fn describe_action(a: &super::Action) -> String {
    use super::Action;
    match a {
        Action::Http {
            method,
            url,
            expect_status,
            ..
        } => format!(
            "{method} {url}{}",
            expect_status.map_or_else(String::new, |s| format!(" (expects {s})"))
        ),
        Action::AgentTask { task, agent, .. } => format!(
            "agent task {task} on {}",
            agent.as_deref().unwrap_or("the reporting agent")
        ),
        Action::Command { program, args, .. } => format!("run {program} {}", args.join(" "))
            .trim_end()
            .to_owned(),
        Action::Wait { secs } => format!("wait {secs} s"),
    }
}

/// How a run is verified, in words.
pub fn describe_verify(v: Option<&super::Verify>) -> String {
    use super::Verify;
    match v {
        None => "not verified".into(),
        Some(Verify::Http { url, expect_status }) => format!(
            "GET {url} answers {}",
            expect_status.map_or_else(|| "2xx".to_owned(), |s| s.to_string())
        ),
        Some(Verify::AgentTask { task, agent }) => format!(
            "agent task {task} on {} succeeds",
            agent.as_deref().unwrap_or("the reporting agent")
        ),
        Some(Verify::NoRecurrence { secs }) => format!("no new event for {secs} s"),
    }
}

/// A stored playbook shaped for the page.
pub fn info(p: StoredPlaybook) -> super::PlaybookInfo {
    use super::Mode;
    let spec = &p.spec;
    let m = &spec.matches;
    let mut applies = Vec::new();
    if !m.categories.is_empty() {
        applies.push(format!("category {}", m.categories.join(" or ")));
    }
    if !m.error_types.is_empty() {
        applies.push(format!("type {}", m.error_types.join(" or ")));
    }
    if !m.services.is_empty() {
        applies.push(format!("service {}", m.services.join(" or ")));
    }
    if let Some(s) = &m.min_severity {
        applies.push(format!("severity {s} or worse"));
    }
    if let Some(p) = &m.message_pattern {
        applies.push(format!("message matching /{p}/"));
    }
    let mut steps: Vec<String> = spec.actions.iter().map(describe_action).collect();
    steps.extend(
        spec.rollback
            .iter()
            .map(|a| format!("on failure: {}", describe_action(a))),
    );
    super::PlaybookInfo {
        id: p.id,
        name: spec.name.clone(),
        description: spec.description.clone(),
        enabled: spec.enabled,
        mode: match spec.mode {
            Mode::Automatic => "automatic",
            Mode::Manual => "manual only",
        }
        .into(),
        risk: risk_str(spec).into(),
        needs_approval: super::rules::needs_approval(spec),
        applies_to: if applies.is_empty() {
            "any error".into()
        } else {
            applies.join(" · ")
        },
        steps,
        verify: describe_verify(spec.verify.as_ref()),
        successes: p.successes,
        failures: p.failures,
        json: serde_json::to_string_pretty(spec).unwrap_or_default(),
    }
}

/// Which of `playbooks` would act on group `group` of `tenant`, best candidate first; 404
/// for other tenants' groups.
pub async fn match_test(
    pool: &PgPool,
    tenant: i64,
    group: i64,
    playbooks: &[StoredPlaybook],
) -> Result<super::MatchTest, AppError> {
    use super::rules::{ErrorFacts, Matcher, Record, needs_approval, rank};
    let g = crate::errors::read::group_by_id(pool, tenant, group).await?;
    let facts = ErrorFacts {
        category: g.category.clone(),
        error_type: g.error_type.clone(),
        service: g.service.clone(),
        severity: g.severity.clone(),
        message: g.message.clone(),
    };
    let records = fingerprint_records(pool, tenant, &g.fingerprint).await?;
    let mut hits: Vec<(i64, Record, Record)> = Vec::new();
    for p in playbooks {
        let matcher = Matcher::new(&p.spec.matches).map_err(|e| {
            tracing::error!(playbook = p.id, error = %e, "a stored playbook's match rules no longer parse");
            AppError::Internal
        })?;
        if matcher.matches(&facts) {
            let on_this = records.get(&p.id).copied().unwrap_or_default();
            hits.push((p.id, on_this, Record::new(p.successes, p.failures)));
        }
    }
    rank(&mut hits);
    let matches = hits
        .into_iter()
        .filter_map(|(id, _, _)| playbooks.iter().find(|p| p.id == id))
        .map(|p| {
            (
                p.id,
                p.spec.name.clone(),
                p.spec.enabled && p.spec.mode == super::Mode::Automatic,
                needs_approval(&p.spec),
            )
        })
        .collect();
    Ok(super::MatchTest {
        group_id: g.id,
        group_title: format!("{}: {}", g.error_type, g.title),
        matches,
    })
}

/// What each playbook of `tenant` achieved on errors with `fingerprint`, by playbook id.
pub async fn fingerprint_records(
    db: impl sqlx::PgExecutor<'_>,
    tenant: i64,
    fingerprint: &str,
) -> Result<std::collections::HashMap<i64, super::rules::Record>, AppError> {
    Ok(sqlx::query!(
        "SELECT playbook_id, successes, failures FROM fix_stats WHERE tenant_id = $1 AND fingerprint = $2",
        tenant,
        fingerprint
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| (r.playbook_id, super::rules::Record::new(r.successes, r.failures)))
    .collect())
}

/// A draft playbook (pretty JSON) from how group `group` of `tenant` was resolved: 404 for
/// other companies' groups, 409 while it is not resolved.
pub async fn draft_from_group(pool: &PgPool, tenant: i64, group: i64) -> Result<String, AppError> {
    use super::rules::{Resolution, draft_from_resolution};
    let g = sqlx::query!(
        r#"SELECT error_type, service, title, status, resolution_notes, resolved_by, resolved_at
           FROM error_groups WHERE tenant_id = $1 AND id = $2"#,
        tenant,
        group
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| AppError::not_found("error"))?;
    if g.status != "resolved" {
        return Err(AppError::Conflict(
            "only a resolved error has a resolution to learn from".into(),
        ));
    }
    // The agent tasks that worked on it before it was resolved, each task once, in order.
    let tasks = sqlx::query!(
        r#"SELECT t.task, a.name AS agent FROM agent_tasks t
           JOIN agents a ON a.tenant_id = t.tenant_id AND a.id = t.agent_id
           WHERE t.tenant_id = $1 AND t.group_id = $2 AND t.status = 'succeeded'
             AND t.task <> 'investigate_error' AND ($3::timestamptz IS NULL OR t.finished_at <= $3)
           ORDER BY t.finished_at, t.id LIMIT 20"#,
        tenant,
        group,
        g.resolved_at
    )
    .fetch_all(pool)
    .await?;
    let mut steps: Vec<(String, String)> = Vec::new();
    for t in tasks {
        if !steps.iter().any(|(task, _)| *task == t.task) {
            steps.push((t.task, t.agent));
        }
    }
    steps.truncate(super::rules::MAX_STEPS);
    let spec = draft_from_resolution(&Resolution {
        group_id: group,
        error_type: g.error_type,
        service: g.service,
        message: g.title,
        notes: g.resolution_notes,
        resolved_by: g.resolved_by,
        tasks: steps,
    });
    serde_json::to_string_pretty(&spec).map_err(|_| AppError::Internal)
}
