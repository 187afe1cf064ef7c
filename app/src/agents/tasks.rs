//! The agent task channel: work handed to an agent, claimed under a lease with
//! `FOR UPDATE SKIP LOCKED` (an expired lease makes a task claimable again), and finished by
//! the agent that holds it.

use super::{AgentTask, TaskRow};
use crate::error::AppError;
use sqlx::PgPool;
use std::time::Duration;

/// How long a claimed task is held before another claim may take it.
pub const LEASE_SECS: i32 = 120;
/// Longest wait of one `next_task` call.
pub const MAX_WAIT_SECS: u32 = 30;
/// How often a waiting `next_task` looks again.
const POLL: Duration = Duration::from_millis(250);
/// Most output kept from an agent's answer.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// What a task name may be, for people.
pub const TASK_NAME_RULE: &str =
    "a task name is 1–100 of a-z, 0-9, '_' and '.' (e.g. restart_service)";

/// Whether `task` is 1–100 of `a-z`, `0-9`, `_` and `.` (`restart_service`).
pub fn is_task_name(task: &str) -> bool {
    (1..=100).contains(&task.len())
        && task
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
}

/// Checks a task name (see [`is_task_name`]), trimmed.
pub fn parse_task(raw: &str) -> Result<String, AppError> {
    let task = raw.trim();
    if is_task_name(task) {
        Ok(task.to_owned())
    } else {
        Err(AppError::invalid("task", TASK_NAME_RULE))
    }
}

async fn agent_id(pool: &PgPool, tenant: i64, name: &str) -> Result<i64, AppError> {
    super::ssr::id_by_name(pool, tenant, name)
        .await?
        .ok_or_else(|| AppError::NotFound("agent not registered; call register_agent first".into()))
}

/// Hands `task` to agent `agent` of `tenant` (404 for other tenants' agents).
pub async fn enqueue(
    pool: &PgPool,
    tenant: i64,
    agent: i64,
    task: &str,
    params: serde_json::Value,
    group: Option<i64>,
    actor: &str,
) -> Result<i64, AppError> {
    let task = parse_task(task)?;
    let known = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM agents WHERE tenant_id = $1 AND id = $2) AS "known!""#,
        tenant,
        agent
    )
    .fetch_one(pool)
    .await?;
    if !known {
        return Err(AppError::not_found("agent"));
    }
    Ok(sqlx::query_scalar!(
        r#"INSERT INTO agent_tasks (tenant_id, agent_id, task, params, group_id, created_by)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"#,
        tenant,
        agent,
        task,
        params,
        group,
        actor
    )
    .fetch_one(pool)
    .await?)
}

/// Claims the oldest task agent `agent` may take (pending, or claimed with an expired
/// lease), if any.
pub async fn claim(pool: &PgPool, tenant: i64, agent: i64) -> Result<Option<AgentTask>, AppError> {
    Ok(sqlx::query_as!(
        AgentTask,
        r#"UPDATE agent_tasks t SET status = 'claimed', attempts = t.attempts + 1, claimed_at = now(),
               lease_until = now() + make_interval(secs => $3)
           WHERE t.tenant_id = $1 AND t.id = (
               SELECT id FROM agent_tasks
               WHERE tenant_id = $1 AND agent_id = $2
                 AND (status = 'pending' OR (status = 'claimed' AND lease_until < now()))
               ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
           RETURNING t.id AS task_id, t.task, t.params, t.group_id, t.attempts,
                     $3::int4 AS "lease_secs!""#,
        tenant,
        agent,
        LEASE_SECS
    )
    .fetch_optional(pool)
    .await?)
}

/// The next task for the agent named `agent`, waiting up to `wait_secs` (at most 30) for
/// one to arrive; `None` when none did.
pub async fn next(
    pool: &PgPool,
    tenant: i64,
    agent: &str,
    wait_secs: Option<u32>,
) -> Result<Option<AgentTask>, AppError> {
    let wait = wait_secs.unwrap_or(MAX_WAIT_SECS);
    if wait > MAX_WAIT_SECS {
        return Err(AppError::invalid("wait_secs", "must be 0 to 30"));
    }
    let agent = agent_id(pool, tenant, agent).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait.into());
    loop {
        if let Some(task) = claim(pool, tenant, agent).await? {
            return Ok(Some(task));
        }
        if tokio::time::Instant::now() + POLL > deadline {
            return Ok(None);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Records the result of task `task` held by the agent named `agent`: 404 when the company
/// has no such task, 409 when the agent does not hold it (never claimed, claimed by the
/// lease of another, or already finished). The output is scrubbed and truncated.
pub async fn complete(
    pool: &PgPool,
    tenant: i64,
    agent: &str,
    task: i64,
    ok: bool,
    output: Option<&str>,
) -> Result<(), AppError> {
    let agent = agent_id(pool, tenant, agent).await?;
    let output = output.map(|o| {
        let (o, _) = crate::errors::pure::truncate_utf8(o, MAX_OUTPUT_BYTES, "… [truncated]");
        crate::errors::pure::scrub_text(&o)
    });
    let done = sqlx::query_scalar!(
        r#"UPDATE agent_tasks SET status = CASE WHEN $4 THEN 'succeeded' ELSE 'failed' END,
               finished_at = now(), lease_until = NULL, output = $5
           WHERE tenant_id = $1 AND id = $2 AND agent_id = $3 AND status = 'claimed'
             AND lease_until >= now()
           RETURNING id"#,
        tenant,
        task,
        agent,
        ok,
        output
    )
    .fetch_optional(pool)
    .await?;
    if done.is_some() {
        return Ok(());
    }
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM agent_tasks WHERE tenant_id = $1 AND id = $2) AS "exists!""#,
        tenant,
        task
    )
    .fetch_one(pool)
    .await?;
    if exists {
        Err(AppError::Conflict(
            "this agent does not hold that task (not claimed by it, its lease expired, or it is finished)"
                .into(),
        ))
    } else {
        Err(AppError::not_found("task"))
    }
}

/// The latest tasks of agent `agent` of `tenant`, newest first.
pub async fn recent(pool: &PgPool, tenant: i64, agent: i64) -> Result<Vec<TaskRow>, AppError> {
    Ok(sqlx::query_as!(
        TaskRow,
        r#"SELECT id, task, status, attempts, created_by, created_at, finished_at,
                  left(output, 500) AS output
           FROM agent_tasks WHERE tenant_id = $1 AND agent_id = $2
           ORDER BY created_at DESC, id DESC LIMIT 20"#,
        tenant,
        agent
    )
    .fetch_all(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn task_names() {
        assert_eq!(
            super::parse_task(" restart_service ").unwrap(),
            "restart_service"
        );
        for bad in ["", "Restart", "rm -rf", "a/b", &"x".repeat(101)] {
            assert_eq!(
                super::parse_task(bad).unwrap_err().field(),
                Some("task"),
                "{bad}"
            );
        }
    }
}
