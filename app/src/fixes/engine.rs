//! The fix engine: workers on every replica take new and regressed groups from
//! `fix_triggers` and queued runs from `fix_runs` with `FOR UPDATE SKIP LOCKED`, woken by
//! `NOTIFY` (and a slow poll in case a notification is missed). A run acts, verifies, and on
//! failure rolls back and hands the responder agent an `investigate_error` task. It holds a
//! lease while it runs; a run whose server died is started again if it had not acted yet,
//! else failed with the reason. Runs waiting for approval too long expire.

use super::ssr::{StartRequest, Trigger, activity, start_in};
use crate::error::AppError;
use crate::errors::pure::{scrub_text, truncate_utf8};
use crate::playbooks::rules::{Policy, check_command, check_url, forbidden_ip, url_host};
use crate::playbooks::ssr::{describe_action, describe_verify};
use crate::playbooks::{Action, PlaybookSpec, Verify};
use crate::state::Settings;
use serde_json::json;
use sqlx::PgPool;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How long a worker's claim on a run lasts without renewal.
pub const LEASE_SECS: i32 = 30;
/// How often a working worker renews its lease.
const RENEW: Duration = Duration::from_secs(10);
/// How often an idle worker looks for work even without a notification.
const IDLE_POLL: Duration = Duration::from_secs(2);
/// How often crashed runs are recovered and stale approvals expired.
const SWEEP: Duration = Duration::from_secs(5);
/// Longest an HTTP step or check may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Default wait for an agent task's result, and for a command.
const DEFAULT_STEP_SECS: u32 = 120;
/// Most output kept per step.
const MAX_OUTPUT: usize = 16 * 1024;

/// Starts the engine: `settings.fix_workers` workers, woken through `wake` (the process's
/// one listener, see `errors::live`), and the recovery sweeper.
pub fn spawn(pool: PgPool, settings: Arc<Settings>, wake: Arc<Notify>) {
    let process = uuid::Uuid::new_v4().simple().to_string();
    for n in 0..settings.fix_workers.max(1) {
        let worker = Worker {
            pool: pool.clone(),
            settings: settings.clone(),
            name: format!("{}-{n}", &process[..12]),
        };
        let wake = wake.clone();
        tokio::spawn(async move { worker.run(wake).await });
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = recover(&pool, &settings).await {
                tracing::warn!(error = ?e, "fix engine: recovering runs failed");
            }
            if let Err(e) = expire_approvals(&pool, settings.fix_approval_secs).await {
                tracing::warn!(error = ?e, "fix engine: expiring approvals failed");
            }
        }
    });
}

/// A run a worker holds.
#[derive(Debug, Clone)]
struct Held {
    tenant: i64,
    id: i64,
    group: i64,
    playbook_id: Option<i64>,
    playbook_name: String,
    spec: serde_json::Value,
    service: String,
    fingerprint: String,
}

/// How a run ended.
enum Outcome {
    Succeeded,
    /// Failed; rollback steps ran and all succeeded.
    RolledBack(String),
    Failed(String),
}

struct Worker {
    pool: PgPool,
    settings: Arc<Settings>,
    name: String,
}

impl Worker {
    async fn run(self, wake: Arc<Notify>) {
        loop {
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let mut busy = false;
            match take_triggers(&self.pool).await {
                Ok(n) => busy |= n > 0,
                Err(e) => tracing::warn!(error = ?e, "fix engine: taking triggers failed"),
            }
            match self.claim().await {
                Ok(Some(run)) => {
                    busy = true;
                    self.execute(run).await;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = ?e, "fix engine: claiming a run failed");
                    tokio::time::sleep(IDLE_POLL).await;
                }
            }
            if !busy {
                tokio::select! {
                    _ = &mut notified => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                }
            }
        }
    }

    async fn claim(&self) -> Result<Option<Held>, AppError> {
        Ok(sqlx::query_as!(
            Held,
            r#"UPDATE fix_runs r SET status = 'running', worker = $1,
                   lease_until = now() + make_interval(secs => $2), started_at = coalesce(r.started_at, now())
               WHERE (r.tenant_id, r.id) = (
                   SELECT tenant_id, id FROM fix_runs WHERE status = 'queued'
                   ORDER BY created_at, tenant_id, id LIMIT 1 FOR UPDATE SKIP LOCKED)
               RETURNING r.tenant_id AS tenant, r.id, r.group_id AS "group", r.playbook_id, r.playbook_name,
                         r.spec, r.service, r.fingerprint"#,
            self.name,
            f64::from(LEASE_SECS)
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Carries out a held run to its end; never leaves it running unless the process dies.
    async fn execute(&self, run: Held) {
        let renew = {
            let (pool, name, tenant, id) =
                (self.pool.clone(), self.name.clone(), run.tenant, run.id);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(RENEW).await;
                    let renewed = sqlx::query!(
                        r#"UPDATE fix_runs SET lease_until = now() + make_interval(secs => $4)
                           WHERE tenant_id = $1 AND id = $2 AND worker = $3 AND status IN ('running', 'verifying')"#,
                        tenant,
                        id,
                        name,
                        f64::from(LEASE_SECS)
                    )
                    .execute(&pool)
                    .await;
                    if let Err(e) = renewed {
                        tracing::warn!(run = id, error = ?e, "fix engine: renewing a lease failed");
                    }
                }
            })
        };
        let outcome = match self.carry_out(&run).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(run = run.id, error = ?e, "fix engine: a run broke off");
                Outcome::Failed("the engine could not record its progress (database error)".into())
            }
        };
        renew.abort();
        if let Err(e) = conclude(&self.pool, &self.settings, &run, Some(&self.name), outcome).await
        {
            tracing::error!(run = run.id, error = ?e, "fix engine: recording a run's end failed; recovery will finish it");
        }
    }

    async fn carry_out(&self, run: &Held) -> Result<Outcome, AppError> {
        let mut log = StepLog::new(&self.pool, run).await?;
        let spec: PlaybookSpec = match serde_json::from_value(run.spec.clone()) {
            Ok(spec) => spec,
            Err(e) => {
                return Ok(Outcome::Failed(format!(
                    "its playbook no longer parses: {e}"
                )));
            }
        };
        let ctx = StepContext {
            pool: &self.pool,
            policy: &self.settings.fix_policy,
            run,
            reporting_agent: sqlx::query_scalar!(
                "SELECT last_agent_id FROM error_groups WHERE tenant_id = $1 AND id = $2",
                run.tenant,
                run.group
            )
            .fetch_optional(&self.pool)
            .await?
            .flatten(),
        };
        let mut failure = None;
        for (i, action) in spec.actions.iter().enumerate() {
            if i == 0 {
                sqlx::query!(
                    "UPDATE fix_runs SET acted = true WHERE tenant_id = $1 AND id = $2",
                    run.tenant,
                    run.id
                )
                .execute(&self.pool)
                .await?;
            }
            let seq = log.begin("act", &describe_action(action)).await?;
            let result = perform(&ctx, action).await;
            let ok = result.is_ok();
            log.end(seq, result).await?;
            if !ok {
                failure = Some(format!(
                    "step {} ({}) failed",
                    i + 1,
                    describe_action(action)
                ));
                break;
            }
        }
        if failure.is_none()
            && let Some(verify) = &spec.verify
        {
            sqlx::query!(
                "UPDATE fix_runs SET status = 'verifying' WHERE tenant_id = $1 AND id = $2 AND status = 'running'",
                run.tenant,
                run.id
            )
            .execute(&self.pool)
            .await?;
            let seq = log.begin("verify", &describe_verify(Some(verify))).await?;
            let result = check(&ctx, verify).await;
            let ok = result.is_ok();
            log.end(seq, result).await?;
            if !ok {
                failure = Some(format!(
                    "verification ({}) failed",
                    describe_verify(Some(verify))
                ));
            }
        }
        let Some(reason) = failure else {
            return Ok(Outcome::Succeeded);
        };
        if spec.rollback.is_empty() {
            return Ok(Outcome::Failed(reason));
        }
        for action in &spec.rollback {
            let seq = log.begin("rollback", &describe_action(action)).await?;
            let result = perform(&ctx, action).await;
            let ok = result.is_ok();
            log.end(seq, result).await?;
            if !ok {
                return Ok(Outcome::Failed(format!(
                    "{reason}; rolling back failed too ({})",
                    describe_action(action)
                )));
            }
        }
        Ok(Outcome::RolledBack(format!("{reason}; rolled back")))
    }
}

/// Appends a run's log lines.
struct StepLog<'a> {
    pool: &'a PgPool,
    tenant: i64,
    run: i64,
    next: i32,
}

impl<'a> StepLog<'a> {
    async fn new(pool: &'a PgPool, run: &Held) -> Result<Self, AppError> {
        let next = next_seq(pool, run.tenant, run.id).await?;
        Ok(Self {
            pool,
            tenant: run.tenant,
            run: run.id,
            next,
        })
    }

    async fn begin(&mut self, phase: &str, description: &str) -> Result<i32, AppError> {
        let seq = self.next;
        self.next += 1;
        sqlx::query!(
            r#"INSERT INTO fix_run_steps (tenant_id, run_id, seq, phase, description, status)
               VALUES ($1, $2, $3, $4, $5, 'running')"#,
            self.tenant,
            self.run,
            seq,
            phase,
            description
        )
        .execute(self.pool)
        .await?;
        Ok(seq)
    }

    async fn end(&self, seq: i32, result: Result<String, String>) -> Result<(), AppError> {
        let (status, output) = match result {
            Ok(o) => ("ok", o),
            Err(o) => ("failed", o),
        };
        let (output, _) = truncate_utf8(&output, MAX_OUTPUT, "… [truncated]");
        sqlx::query!(
            r#"UPDATE fix_run_steps SET status = $4, output = $5, finished_at = now()
               WHERE tenant_id = $1 AND run_id = $2 AND seq = $3"#,
            self.tenant,
            self.run,
            seq,
            status,
            scrub_text(&output)
        )
        .execute(self.pool)
        .await?;
        Ok(())
    }
}

/// The number the next line of run `run`'s log gets.
async fn next_seq(db: impl sqlx::PgExecutor<'_>, tenant: i64, run: i64) -> Result<i32, AppError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT coalesce(max(seq), 0) + 1 AS "n!" FROM fix_run_steps WHERE tenant_id = $1 AND run_id = $2"#,
        tenant,
        run
    )
    .fetch_one(db)
    .await?)
}

struct StepContext<'a> {
    pool: &'a PgPool,
    policy: &'a Policy,
    run: &'a Held,
    /// The agent that last reported the group.
    reporting_agent: Option<i64>,
}

/// Carries out one step: its output on success, the reason and output on failure.
async fn perform(ctx: &StepContext<'_>, action: &Action) -> Result<String, String> {
    match action {
        Action::Http {
            method,
            url,
            headers,
            body,
            expect_status,
        } => {
            http_call(
                ctx.policy,
                method,
                url,
                headers,
                body.as_deref(),
                *expect_status,
            )
            .await
        }
        Action::AgentTask {
            task,
            agent,
            timeout_secs,
        } => {
            agent_task(
                ctx,
                task,
                agent.as_deref(),
                timeout_secs.unwrap_or(DEFAULT_STEP_SECS),
            )
            .await
        }
        Action::Command {
            program,
            args,
            timeout_secs,
        } => {
            command(
                ctx.policy,
                program,
                args,
                timeout_secs.unwrap_or(DEFAULT_STEP_SECS),
            )
            .await
        }
        Action::Wait { secs } => {
            tokio::time::sleep(Duration::from_secs((*secs).into())).await;
            Ok(format!("waited {secs} s"))
        }
    }
}

/// Runs a verification.
async fn check(ctx: &StepContext<'_>, verify: &Verify) -> Result<String, String> {
    match verify {
        Verify::Http { url, expect_status } => {
            http_call(ctx.policy, "GET", url, &[], None, *expect_status).await
        }
        Verify::AgentTask { task, agent } => {
            agent_task(ctx, task, agent.as_deref(), DEFAULT_STEP_SECS).await
        }
        Verify::NoRecurrence { secs } => {
            let count = || async {
                sqlx::query_scalar!(
                    "SELECT occurrences FROM error_groups WHERE tenant_id = $1 AND id = $2",
                    ctx.run.tenant,
                    ctx.run.group
                )
                .fetch_optional(ctx.pool)
                .await
                .map_err(|e| format!("could not read the error's count: {e}"))?
                .ok_or_else(|| "the error group is gone".to_owned())
            };
            let before = count().await?;
            tokio::time::sleep(Duration::from_secs((*secs).into())).await;
            let after = count().await?;
            if after > before {
                Err(format!(
                    "{} new occurrence(s) within {secs} s",
                    after - before
                ))
            } else {
                Ok(format!("no new occurrence within {secs} s"))
            }
        }
    }
}

/// An HTTP step or check: the URL is checked against the policy again, its host resolved
/// and every address checked (no link-local or metadata address, whatever DNS says), and
/// the request pinned to those addresses; redirects are not followed.
async fn http_call(
    policy: &Policy,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Option<&str>,
    expect: Option<u16>,
) -> Result<String, String> {
    check_url(url, policy).map_err(|e| format!("refused: {url} {e}"))?;
    let (client, parsed) = pinned_client(url, |_| true).await?;
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|_| format!("refused: bad method {method}"))?;
    let mut request = client.request(method.clone(), parsed);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    if let Some(body) = body {
        request = request.body(body.to_owned());
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("{method} {url} failed: {e}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let (text, _) = truncate_utf8(&text, 4096, "… [truncated]");
    let out = format!("{method} {url} → {status}\n{text}");
    let ok = match expect {
        Some(want) => status.as_u16() == want,
        None => status.is_success(),
    };
    if ok { Ok(out) } else { Err(out) }
}

/// A client for `url` that can only reach the addresses its host resolves to now, each
/// checked: never link-local or metadata addresses, and only addresses `allowed` accepts; it
/// follows no redirect. The URL must be http(s) without credentials.
pub(crate) async fn pinned_client(
    url: &str,
    allowed: impl Fn(IpAddr) -> bool,
) -> Result<(reqwest::Client, reqwest::Url), String> {
    let host = url_host(url)?;
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("refused: {url}: {e}"))?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("could not resolve {host}: {e}"))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(format!("{host} has no address"));
    }
    if let Some(bad) = addrs.iter().find(|a| forbidden_ip(a.ip())) {
        return Err(format!(
            "refused: {host} resolves to {}, a link-local or metadata address",
            bad.ip()
        ));
    }
    if let Some(bad) = addrs.iter().find(|a| !allowed(a.ip())) {
        return Err(format!(
            "refused: {host} resolves to {}, a private address not on FAULTLINE_FIX_ALLOWED_HOSTS",
            bad.ip()
        ));
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(HTTP_TIMEOUT)
        .resolve_to_addrs(&host, &addrs)
        .build()
        .map_err(|e| format!("could not prepare the request: {e}"))?;
    Ok((client, parsed))
}

/// Hands `task` to an agent (by name, or the one that reported the error) and waits up to
/// `timeout` seconds for its result; a task still open then is failed so a late answer is
/// refused.
async fn agent_task(
    ctx: &StepContext<'_>,
    task: &str,
    agent: Option<&str>,
    timeout: u32,
) -> Result<String, String> {
    let (pool, run) = (ctx.pool, ctx.run);
    let agent_id = match agent {
        Some(name) => crate::agents::ssr::id_by_name(pool, run.tenant, name)
            .await
            .map_err(|e| format!("could not look up agent {name}: {e:?}"))?
            .ok_or_else(|| format!("no agent named {name} is registered"))?,
        None => ctx
            .reporting_agent
            .ok_or("no agent reported this error; name the agent in the step")?,
    };
    let params = json!({
        "fix_run_id": run.id,
        "group_id": run.group,
        "service": run.service,
        "playbook": run.playbook_name,
    });
    let task_id = crate::agents::tasks::enqueue(
        pool,
        run.tenant,
        agent_id,
        task,
        params,
        Some(run.group),
        &format!("fix run #{}", run.id),
    )
    .await
    .map_err(|e| format!("could not hand the task over: {e:?}"))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout.into());
    loop {
        let t = sqlx::query!(
            "SELECT status, output FROM agent_tasks WHERE tenant_id = $1 AND id = $2",
            run.tenant,
            task_id
        )
        .fetch_optional(pool)
        .await
        .map_err(|e| format!("could not read task #{task_id}: {e}"))?
        .ok_or_else(|| format!("task #{task_id} is gone"))?;
        let output = t.output.unwrap_or_default();
        match t.status.as_str() {
            "succeeded" => return Ok(format!("task #{task_id} {task} succeeded\n{output}")),
            "failed" => return Err(format!("task #{task_id} {task} failed\n{output}")),
            _ if tokio::time::Instant::now() >= deadline => {
                sqlx::query!(
                    r#"UPDATE agent_tasks SET status = 'failed', finished_at = now(), lease_until = NULL,
                           output = 'timed out: no result within ' || $3 || ' s'
                       WHERE tenant_id = $1 AND id = $2 AND status IN ('pending', 'claimed')"#,
                    run.tenant,
                    task_id,
                    timeout.to_string()
                )
                .execute(pool)
                .await
                .map_err(|e| format!("could not end task #{task_id}: {e}"))?;
                return Err(format!(
                    "task #{task_id} {task}: no result within {timeout} s (status {})",
                    t.status
                ));
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Runs an allow-listed program without a shell, with a clean environment, killed at the
/// timeout; exit status 0 is success.
async fn command(
    policy: &Policy,
    program: &str,
    args: &[String],
    timeout: u32,
) -> Result<String, String> {
    check_command(program, policy).map_err(|e| format!("refused: {e}"))?;
    let child = tokio::process::Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("could not start {program}: {e}"))?;
    let out = tokio::time::timeout(
        Duration::from_secs(timeout.into()),
        child.wait_with_output(),
    )
    .await
    .map_err(|_| format!("{program} did not finish within {timeout} s; killed"))?
    .map_err(|e| format!("{program} failed: {e}"))?;
    let text = format!(
        "{program} exited with {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

/// Records how run `run` ended, in one transaction: its status, the group (resolved on
/// success), what was learned (playbook and fingerprint counts, the circuit breaker), and on
/// failure an `investigate_error` task for the company's responder agent. With `worker`,
/// only if that worker still holds it; without, whoever held it (recovery).
async fn conclude(
    pool: &PgPool,
    settings: &Settings,
    run: &Held,
    worker: Option<&str>,
    outcome: Outcome,
) -> Result<(), AppError> {
    let (status, reason) = match &outcome {
        Outcome::Succeeded => ("succeeded", None),
        Outcome::RolledBack(r) => ("rolled_back", Some(r.as_str())),
        Outcome::Failed(r) => ("failed", Some(r.as_str())),
    };
    let mut tx = pool.begin().await?;
    let ended = sqlx::query_scalar!(
        r#"UPDATE fix_runs SET status = $3, reason = $4, finished_at = now(), worker = NULL, lease_until = NULL
           WHERE tenant_id = $1 AND id = $2 AND status IN ('running', 'verifying')
             AND ($5::text IS NULL OR worker = $5)
           RETURNING id"#,
        run.tenant,
        run.id,
        status,
        reason,
        worker
    )
    .fetch_optional(&mut *tx)
    .await?;
    if ended.is_none() {
        return Ok(());
    }
    sqlx::query!(
        r#"UPDATE fix_run_steps SET status = 'failed', finished_at = now(),
               output = coalesce(output || E'\n', '') || 'interrupted: the server running it stopped'
           WHERE tenant_id = $1 AND run_id = $2 AND status = 'running'"#,
        run.tenant,
        run.id
    )
    .execute(&mut *tx)
    .await?;
    let actor = format!("fix run #{}", run.id);
    let success = matches!(outcome, Outcome::Succeeded);
    let (ds, df) = if success { (1, 0) } else { (0, 1) };
    if let Some(playbook) = run.playbook_id {
        sqlx::query!(
            "UPDATE playbooks SET successes = successes + $3, failures = failures + $4 WHERE tenant_id = $1 AND id = $2",
            run.tenant,
            playbook,
            ds,
            df
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            r#"INSERT INTO fix_stats AS s (tenant_id, playbook_id, fingerprint, successes, failures)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (tenant_id, fingerprint, playbook_id)
               DO UPDATE SET successes = s.successes + $4, failures = s.failures + $5"#,
            run.tenant,
            playbook,
            run.fingerprint,
            ds,
            df
        )
        .execute(&mut *tx)
        .await?;
    }
    let mut notes = vec![match &outcome {
        Outcome::Succeeded => format!("Fix run #{} (“{}”) succeeded", run.id, run.playbook_name),
        Outcome::RolledBack(r) | Outcome::Failed(r) => {
            format!(
                "Fix run #{} (“{}”) {}: {r}",
                run.id,
                run.playbook_name,
                status.replace('_', " ")
            )
        }
    }];
    let mut log_notes = Vec::new();
    if success {
        let resolved = sqlx::query_scalar!(
            r#"UPDATE error_groups SET status = 'resolved', resolved_at = now(), resolved_by = $3,
                   resolution_notes = $4, auto_fix_successful = true
               WHERE tenant_id = $1 AND id = $2 AND status IN ('unresolved', 'regressed') RETURNING id"#,
            run.tenant,
            run.group,
            actor,
            format!("Fixed by the playbook “{}” (fix run #{})", run.playbook_name, run.id)
        )
        .fetch_optional(&mut *tx)
        .await?;
        if resolved.is_some() {
            activity(
                &mut *tx,
                run.tenant,
                run.group,
                "resolved",
                &actor,
                &format!(
                    "Fixed by the playbook “{}” (fix run #{})",
                    run.playbook_name, run.id
                ),
                run.id,
            )
            .await?;
        }
        if let Some(playbook) = run.playbook_id {
            sqlx::query!(
                r#"UPDATE fix_breakers SET consecutive_failures = 0, open_until = NULL
                   WHERE tenant_id = $1 AND playbook_id = $2 AND service = $3"#,
                run.tenant,
                playbook,
                run.service
            )
            .execute(&mut *tx)
            .await?;
        }
    } else {
        if let Some(playbook) = run.playbook_id {
            let opened = sqlx::query_scalar!(
                r#"INSERT INTO fix_breakers AS b (tenant_id, playbook_id, service, consecutive_failures, open_until)
                   VALUES ($1, $2, $3, 1, CASE WHEN $4 <= 1 THEN now() + make_interval(secs => $5) END)
                   ON CONFLICT (tenant_id, playbook_id, service) DO UPDATE SET
                       consecutive_failures = b.consecutive_failures + 1,
                       open_until = CASE WHEN b.consecutive_failures + 1 >= $4
                                         THEN now() + make_interval(secs => $5) ELSE b.open_until END
                   RETURNING (consecutive_failures >= $4) AS "opened!""#,
                run.tenant,
                playbook,
                run.service,
                settings.fix_breaker_failures,
                settings.fix_breaker_secs as f64
            )
            .fetch_one(&mut *tx)
            .await?;
            if opened {
                let text = format!(
                    "Circuit breaker opened: “{}” failed {} times in a row on {}; no run of it starts there for {} s",
                    run.playbook_name,
                    settings.fix_breaker_failures,
                    run.service,
                    settings.fix_breaker_secs
                );
                log_notes.push(text.clone());
                notes.push(text);
            }
        }
        sqlx::query!(
            r#"INSERT INTO alert_triggers (tenant_id, kind, group_id, details)
               SELECT $1, 'fix_failed', $2, $3
               WHERE EXISTS (SELECT 1 FROM alert_rules WHERE tenant_id = $1 AND enabled AND kind = 'fix_failed')"#,
            run.tenant,
            run.group,
            json!({ "fix_run_id": run.id, "playbook": run.playbook_name, "reason": reason })
        )
        .execute(&mut *tx)
        .await?;
        crate::alerts::ssr::wake(&mut *tx).await?;
        let responder = sqlx::query!(
            r#"SELECT a.id, a.name FROM tenants t JOIN agents a ON a.tenant_id = t.id AND a.id = t.responder_agent_id
               WHERE t.id = $1"#,
            run.tenant
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(agent) = responder {
            let task = sqlx::query_scalar!(
                r#"INSERT INTO agent_tasks (tenant_id, agent_id, task, params, group_id, created_by)
                   VALUES ($1, $2, 'investigate_error', $3, $4, $5) RETURNING id"#,
                run.tenant,
                agent.id,
                json!({
                    "group_id": run.group,
                    "fix_run_id": run.id,
                    "playbook": run.playbook_name,
                    "service": run.service,
                    "reason": reason,
                }),
                run.group,
                actor
            )
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query!(
                "UPDATE fix_runs SET responder_task_id = $3 WHERE tenant_id = $1 AND id = $2",
                run.tenant,
                run.id,
                task
            )
            .execute(&mut *tx)
            .await?;
            let text = format!(
                "The responder agent {} was asked to investigate (task #{task})",
                agent.name
            );
            log_notes.push(text.clone());
            notes.push(text);
        }
    }
    let mut seq = next_seq(&mut *tx, run.tenant, run.id).await?;
    for text in log_notes {
        sqlx::query!(
            r#"INSERT INTO fix_run_steps (tenant_id, run_id, seq, phase, description, status, finished_at)
               VALUES ($1, $2, $3, 'note', $4, 'ok', now())"#,
            run.tenant,
            run.id,
            seq,
            text
        )
        .execute(&mut *tx)
        .await?;
        seq += 1;
    }
    activity(
        &mut *tx,
        run.tenant,
        run.group,
        "fix_finished",
        &actor,
        &notes.join(". "),
        run.id,
    )
    .await?;
    crate::errors::live::notify(&mut *tx, run.tenant, &[run.group]).await?;
    tx.commit().await?;
    Ok(())
}

/// New and regressed groups the writers recorded: each gets the best automatic playbook
/// that matches and may run, if any. Answers how many triggers were taken.
async fn take_triggers(pool: &PgPool) -> Result<usize, AppError> {
    let mut tx = pool.begin().await?;
    let triggers = sqlx::query!(
        r#"DELETE FROM fix_triggers WHERE id IN (
               SELECT id FROM fix_triggers ORDER BY id LIMIT 50 FOR UPDATE SKIP LOCKED)
           RETURNING tenant_id, group_id, reason"#
    )
    .fetch_all(&mut *tx)
    .await?;
    for t in &triggers {
        let mut one = sqlx::Acquire::begin(&mut *tx).await?;
        let started = start_in(
            &mut one,
            t.tenant_id,
            StartRequest {
                group: t.group_id,
                playbook: None,
                trigger: Trigger::Auto,
                actor: "system",
            },
        )
        .await;
        match started {
            Ok(run) => {
                one.commit().await?;
                tracing::info!(tenant = t.tenant_id, group = t.group_id, run, reason = %t.reason, "fix run started automatically");
            }
            Err(AppError::Conflict(why)) => {
                one.rollback().await?;
                tracing::debug!(tenant = t.tenant_id, group = t.group_id, %why, "no automatic fix");
            }
            Err(AppError::NotFound(_)) => one.rollback().await?,
            Err(e) => {
                one.rollback().await?;
                tracing::warn!(tenant = t.tenant_id, group = t.group_id, error = ?e, "an automatic fix could not start");
            }
        }
    }
    tx.commit().await?;
    Ok(triggers.len())
}

/// Runs whose worker's lease ran out (its server died or hung): started again when they had
/// not acted yet, else failed with the reason. Answers how many were recovered.
pub async fn recover(pool: &PgPool, settings: &Settings) -> Result<u64, AppError> {
    let requeued = sqlx::query!(
        r#"UPDATE fix_runs SET status = 'queued', worker = NULL, lease_until = NULL
           WHERE status IN ('running', 'verifying') AND lease_until < now() AND NOT acted
           RETURNING tenant_id, id"#
    )
    .fetch_all(pool)
    .await?;
    for r in &requeued {
        tracing::warn!(
            tenant = r.tenant_id,
            run = r.id,
            "fix engine: a run's server stopped before it acted; started again"
        );
    }
    if !requeued.is_empty() {
        super::ssr::wake(pool).await?;
    }
    let stranded = sqlx::query_as!(
        Held,
        r#"SELECT tenant_id AS tenant, id, group_id AS "group", playbook_id, playbook_name, spec, service, fingerprint
           FROM fix_runs WHERE status IN ('running', 'verifying') AND lease_until < now() AND acted
           LIMIT 100"#
    )
    .fetch_all(pool)
    .await?;
    for run in &stranded {
        let at = sqlx::query_scalar!(
            r#"SELECT description FROM fix_run_steps WHERE tenant_id = $1 AND run_id = $2
               ORDER BY seq DESC LIMIT 1"#,
            run.tenant,
            run.id
        )
        .fetch_optional(pool)
        .await?
        .unwrap_or_default();
        tracing::warn!(
            tenant = run.tenant,
            run = run.id,
            "fix engine: a run's server stopped after it acted; failing it"
        );
        conclude(
            pool,
            settings,
            run,
            None,
            Outcome::Failed(format!(
                "the server running it stopped during “{at}”; not resumed, because its actions may already have taken effect"
            )),
        )
        .await?;
    }
    Ok((requeued.len() + stranded.len()) as u64)
}

/// Runs waiting for approval longer than `ttl_secs` are cancelled as expired. Answers how
/// many.
pub async fn expire_approvals(pool: &PgPool, ttl_secs: i64) -> Result<u64, AppError> {
    let mut tx = pool.begin().await?;
    let expired = sqlx::query!(
        r#"UPDATE fix_runs SET status = 'cancelled', finished_at = now(), decided_by = 'system',
               decided_at = now(), reason = 'expired: nobody approved it within ' || $1 || ' s'
           WHERE status = 'pending_approval' AND created_at < now() - make_interval(secs => $2)
           RETURNING tenant_id, id, group_id, playbook_name"#,
        ttl_secs.to_string(),
        ttl_secs as f64
    )
    .fetch_all(&mut *tx)
    .await?;
    for r in &expired {
        activity(
            &mut *tx,
            r.tenant_id,
            r.group_id,
            "fix_finished",
            "system",
            &format!(
                "Fix run #{} (“{}”) expired: nobody approved it within {ttl_secs} s",
                r.id, r.playbook_name
            ),
            r.id,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(expired.len() as u64)
}
