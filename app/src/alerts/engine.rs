//! The alert engine, on every replica: turns triggers (new and regressed groups, failed fixes)
//! into alerts for the rules that match, checks rate and agent-offline rules every few
//! seconds, and sends the outbox — claimed with `SKIP LOCKED`, retried with exponential backoff
//! and jitter, given up after [`MAX_ATTEMPTS`].

use super::ssr::{Alert, allow_listed, enqueue, may_reach};
use crate::error::AppError;
use crate::errors::pure::{parse_severity, truncate_utf8};
use crate::state::Settings;
use serde_json::json;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Attempts before a delivery is given up as failed.
pub const MAX_ATTEMPTS: i32 = 8;

/// The wait before attempt `attempts + 1`: `base` doubled per attempt, at most an hour, with
/// ±20% jitter (`jitter` in 0..1) so replicas and receivers do not retry in lockstep.
pub fn backoff(base: Duration, attempts: i32, jitter: f64) -> Duration {
    let exp = base.as_secs_f64() * 2f64.powi(attempts.clamp(0, 30) - 1);
    let capped = exp.min(3600.0);
    Duration::from_secs_f64(capped * (0.8 + 0.4 * jitter.clamp(0.0, 1.0)))
}

/// Starts the engine, woken through `wake` (the process's one listener, see `errors::live`).
pub fn spawn(pool: PgPool, settings: Arc<Settings>, wake: Arc<Notify>) {
    tokio::spawn(async move {
        let check_every = Duration::from_millis(settings.alert_check_ms.max(100));
        let mut last_check: Option<Instant> = None;
        loop {
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Err(e) = take_triggers(&pool, &settings).await {
                tracing::warn!(error = ?e, "alerts: evaluating triggers failed");
            }
            if last_check.is_none_or(|t| t.elapsed() >= check_every) {
                last_check = Some(Instant::now());
                if let Err(e) = check_rules(&pool, &settings).await {
                    tracing::warn!(error = ?e, "alerts: checking rate and offline rules failed");
                }
            }
            if let Err(e) = deliver(&pool, &settings).await {
                tracing::warn!(error = ?e, "alerts: delivering failed");
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(check_every.min(Duration::from_secs(1))) => {}
            }
        }
    });
}

fn link(settings: &Settings, path: &str) -> String {
    format!("{}{path}", settings.public_url.trim_end_matches('/'))
}

/// New and regressed groups and failed fixes: an alert per matching enabled rule.
async fn take_triggers(pool: &PgPool, settings: &Settings) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    let triggers = sqlx::query!(
        r#"DELETE FROM alert_triggers WHERE id IN (
               SELECT id FROM alert_triggers ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED)
           RETURNING tenant_id, kind, group_id, details"#
    )
    .fetch_all(&mut *tx)
    .await?;
    for t in triggers {
        let g = sqlx::query!(
            r#"SELECT g.error_type, g.title, g.service, g.severity, g.occurrences, g.status,
                      (SELECT e.environment FROM error_events e WHERE e.tenant_id = g.tenant_id
                         AND e.group_id = g.id ORDER BY e.id DESC LIMIT 1) AS environment
               FROM error_groups g WHERE g.tenant_id = $1 AND g.id = $2"#,
            t.tenant_id,
            t.group_id
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(g) = g else { continue };
        let rules = sqlx::query!(
            r#"SELECT id, min_severity, service, environment FROM alert_rules
               WHERE tenant_id = $1 AND enabled AND kind = $2"#,
            t.tenant_id,
            t.kind
        )
        .fetch_all(&mut *tx)
        .await?;
        let title = format!("{}: {}", g.error_type, g.title);
        let (summary, title) = match t.kind.as_str() {
            "new_group" => (format!("New error in {}: {title}", g.service), title),
            "regression" => (format!("Regression in {}: {title}", g.service), title),
            _ => (
                format!(
                    "Fix failed for {title}: {}",
                    t.details["reason"].as_str().unwrap_or("see the run")
                ),
                title,
            ),
        };
        let (summary, _) = truncate_utf8(&summary, 500, "…");
        let alert = Alert {
            event: t.kind.clone(),
            summary,
            link: link(settings, &format!("/errors/{}", t.group_id)),
            facts: json!({
                "group": { "id": t.group_id, "title": title, "service": g.service, "severity": g.severity,
                           "occurrences": g.occurrences, "status": g.status, "environment": g.environment },
                "fix_run": t.details.get("fix_run_id"),
            }),
        };
        for r in rules {
            let severe_enough = r.min_severity.as_deref().is_none_or(|min| {
                matches!((parse_severity(&g.severity), parse_severity(min)), (Ok(s), Ok(m)) if s >= m)
            });
            let service_ok = r.service.as_deref().is_none_or(|s| s == g.service);
            let env_ok = r
                .environment
                .as_deref()
                .is_none_or(|e| g.environment.as_deref() == Some(e));
            if severe_enough && service_ok && env_ok {
                enqueue(&mut tx, t.tenant_id, r.id, &alert, false).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Events a rate rule looks back over at most (the newest ones, by id): a bounded range of the
/// primary key instead of an index on arrival time, which every insert would pay for.
const RATE_SCAN_EVENTS: i64 = 50_000;

/// Rate rules (more than N events in M minutes per group or service) and agent-offline rules.
async fn check_rules(pool: &PgPool, settings: &Settings) -> Result<(), AppError> {
    let rules = sqlx::query!(
        r#"SELECT tenant_id, id, kind, threshold, window_minutes, per, min_severity, service, environment,
                  last_fired_at
           FROM alert_rules WHERE enabled AND kind IN ('rate', 'agent_offline')
             AND (last_fired_at IS NULL OR last_fired_at <= now() - make_interval(secs => throttle_secs))
           LIMIT 1000"#
    )
    .fetch_all(pool)
    .await?;
    for r in rules {
        if r.kind == "rate" {
            // The first event id within the window, among the newest RATE_SCAN_EVENTS.
            let start: i64 = sqlx::query_scalar!(
                r#"SELECT coalesce(min(e.id) - 1, max(m.max)) AS "start!"
                   FROM (SELECT coalesce(max(id), 0) AS max FROM error_events WHERE tenant_id = $1) m
                   LEFT JOIN error_events e ON e.tenant_id = $1 AND e.id > m.max - $3
                        AND e.received_at >= now() - make_interval(mins => $2)"#,
                r.tenant_id,
                r.window_minutes,
                RATE_SCAN_EVENTS
            )
            .fetch_one(pool)
            .await?;
            let rank = r
                .min_severity
                .as_deref()
                .and_then(|s| parse_severity(s).ok())
                .map_or(0i16, |s| s as i16);
            let top = sqlx::query!(
                r#"SELECT CASE WHEN $5 = 'service' THEN e.service ELSE e.group_id::text END AS "key!",
                          min(e.group_id) AS "group_id!", min(e.service) AS "service!", count(*) AS "count!"
                   FROM error_events e
                   WHERE e.tenant_id = $1 AND e.id > $2
                     AND ($3::text IS NULL OR e.service = $3)
                     AND ($4::text IS NULL OR e.environment = $4)
                     AND (CASE e.severity WHEN 'critical' THEN 3 WHEN 'error' THEN 2 WHEN 'warning' THEN 1 ELSE 0 END) >= $6
                   GROUP BY 1 HAVING count(*) > $7 ORDER BY count(*) DESC LIMIT 1"#,
                r.tenant_id,
                start,
                r.service,
                r.environment,
                r.per,
                i32::from(rank),
                i64::from(r.threshold)
            )
            .fetch_optional(pool)
            .await?;
            if let Some(hit) = top {
                let what = if r.per == "service" {
                    format!("service {}", hit.service)
                } else {
                    sqlx::query_scalar!(
                        "SELECT error_type || ': ' || title FROM error_groups WHERE tenant_id = $1 AND id = $2",
                        r.tenant_id,
                        hit.group_id
                    )
                    .fetch_optional(pool)
                    .await?
                    .flatten()
                    .unwrap_or_default()
                };
                let alert = Alert {
                    event: "rate".into(),
                    summary: format!("{} events in {} min: {what}", hit.count, r.window_minutes),
                    link: link(
                        settings,
                        &if r.per == "service" {
                            format!("/errors?service={}", hit.service)
                        } else {
                            format!("/errors/{}", hit.group_id)
                        },
                    ),
                    facts: json!({ "count": hit.count, "window_minutes": r.window_minutes, "per": r.per,
                                   "service": hit.service, "group_id": hit.group_id }),
                };
                let mut tx = pool.begin().await?;
                enqueue(&mut tx, r.tenant_id, r.id, &alert, false).await?;
                tx.commit().await?;
            }
        } else {
            // Agents that went silent longer than the threshold since the rule last fired.
            let names = sqlx::query_scalar!(
                r#"SELECT name FROM agents WHERE tenant_id = $1
                     AND last_heartbeat_at < now() - make_interval(mins => $2)
                     AND ($3::timestamptz IS NULL OR last_heartbeat_at > $3 - make_interval(mins => $2))
                   ORDER BY name LIMIT 50"#,
                r.tenant_id,
                r.threshold,
                r.last_fired_at
            )
            .fetch_all(pool)
            .await?;
            if !names.is_empty() {
                let alert = Alert {
                    event: "agent_offline".into(),
                    summary: format!(
                        "{} offline for more than {} min: {}",
                        if names.len() == 1 { "Agent" } else { "Agents" },
                        r.threshold,
                        names.join(", ")
                    ),
                    link: link(settings, "/agents"),
                    facts: json!({ "agents": names, "minutes": r.threshold }),
                };
                let mut tx = pool.begin().await?;
                enqueue(&mut tx, r.tenant_id, r.id, &alert, false).await?;
                tx.commit().await?;
            }
        }
    }
    Ok(())
}

/// Sends the due deliveries: each claimed (its next attempt pushed a minute out, so a crash
/// mid-send retries it), posted, then marked delivered, rescheduled or failed.
async fn deliver(pool: &PgPool, settings: &Settings) -> Result<(), AppError> {
    let due = sqlx::query!(
        r#"UPDATE alert_deliveries d SET attempts = d.attempts + 1, next_attempt_at = now() + interval '1 minute'
           WHERE (d.tenant_id, d.id) IN (
               SELECT tenant_id, id FROM alert_deliveries
               WHERE status = 'pending' AND next_attempt_at <= now()
               ORDER BY next_attempt_at LIMIT 20 FOR UPDATE SKIP LOCKED)
           RETURNING d.tenant_id, d.id, d.url, d.payload, d.attempts"#
    )
    .fetch_all(pool)
    .await?;
    for d in due {
        let result = post(&settings.fix_policy, &d.url, &d.payload).await;
        match result {
            Ok(status) => {
                sqlx::query!(
                    r#"UPDATE alert_deliveries SET status = 'delivered', delivered_at = now(), response_status = $3,
                           last_error = NULL
                       WHERE tenant_id = $1 AND id = $2"#,
                    d.tenant_id,
                    d.id,
                    i32::from(status)
                )
                .execute(pool)
                .await?;
            }
            Err((status, why)) => {
                let permanent = why.starts_with("refused");
                let wait = backoff(
                    Duration::from_millis(settings.alert_retry_base_ms),
                    d.attempts,
                    rand::random::<f64>(),
                );
                let give_up = permanent || d.attempts >= MAX_ATTEMPTS;
                sqlx::query!(
                    r#"UPDATE alert_deliveries SET status = CASE WHEN $3 THEN 'failed' ELSE 'pending' END,
                           next_attempt_at = now() + make_interval(secs => $4), last_error = $5, response_status = $6
                       WHERE tenant_id = $1 AND id = $2"#,
                    d.tenant_id,
                    d.id,
                    give_up,
                    wait.as_secs_f64(),
                    why,
                    status.map(i32::from)
                )
                .execute(pool)
                .await?;
            }
        }
    }
    Ok(())
}

/// Posts `payload` to `url` (addresses checked as for rules); the status on success, else the
/// status if any and why.
async fn post(
    policy: &crate::playbooks::rules::Policy,
    url: &str,
    payload: &serde_json::Value,
) -> Result<u16, (Option<u16>, String)> {
    let listed = allow_listed(url, policy);
    let (client, parsed) = crate::fixes::engine::pinned_client(url, |ip| may_reach(ip, listed))
        .await
        .map_err(|e| (None, e))?;
    let res = client
        .post(parsed)
        .json(payload)
        .send()
        .await
        .map_err(|e| (None, format!("sending failed: {}", e.without_url())))?;
    let status = res.status();
    if status.is_success() {
        Ok(status.as_u16())
    } else {
        let body = res.text().await.unwrap_or_default();
        let (body, _) = truncate_utf8(&body, 300, "…");
        Err((Some(status.as_u16()), format!("answered {status}: {body}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_a_cap() {
        let base = Duration::from_secs(5);
        assert_eq!(backoff(base, 1, 0.5), Duration::from_secs(5));
        assert_eq!(backoff(base, 2, 0.5), Duration::from_secs(10));
        assert_eq!(backoff(base, 4, 0.5), Duration::from_secs(40));
        assert_eq!(backoff(base, 3, 0.0), Duration::from_secs(16));
        assert_eq!(backoff(base, 3, 1.0), Duration::from_secs(24));
        assert_eq!(backoff(base, 30, 0.5), Duration::from_secs(3600));
    }
}
