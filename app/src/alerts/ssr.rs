//! Alert rules and the outbox: checking a rule, storing it, the delivery log, queueing an
//! alert (throttled per rule), and the two message formats — a documented JSON body for
//! generic webhooks and a readable Slack message.

use super::{AlertRule, Delivery, RuleForm};
use crate::audit::ssr::{Entry, record};
use crate::error::AppError;
use crate::playbooks::rules::{Policy, forbidden_ip, url_host};
use serde_json::{Value, json};
use sqlx::{PgExecutor, PgPool};
use std::net::IpAddr;

/// A checked rule, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRule {
    pub name: String,
    pub kind: String,
    pub threshold: i32,
    pub window_minutes: i32,
    pub per: String,
    pub min_severity: Option<String>,
    pub service: Option<String>,
    pub environment: Option<String>,
    pub channel: String,
    pub url: String,
    pub throttle_secs: i32,
}

/// Whether an alert may be sent to `ip`: never link-local or metadata addresses; loopback and
/// private ones only for hosts on the server's allow-list (`FAULTLINE_FIX_ALLOWED_HOSTS`).
pub fn may_reach(ip: IpAddr, host_allow_listed: bool) -> bool {
    if forbidden_ip(ip) {
        return false;
    }
    let private = match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_unspecified(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    };
    !private || host_allow_listed
}

/// Whether `url`'s host is on `policy`'s allow-list.
pub fn allow_listed(url: &str, policy: &Policy) -> bool {
    crate::playbooks::rules::check_url(url, policy).is_ok()
}

/// Checks a webhook URL: http(s), no credentials, not a link-local or metadata address, and
/// a private address only when allow-listed. The sender checks the resolved addresses again.
pub fn check_webhook(url: &str, policy: &Policy) -> Result<(), String> {
    let host = url_host(url)?;
    if let Ok(ip) = host.parse::<IpAddr>()
        && !may_reach(ip, allow_listed(url, policy))
    {
        return Err(if forbidden_ip(ip) {
            "link-local and cloud metadata addresses are never allowed".into()
        } else {
            "private addresses only when the host is on FAULTLINE_FIX_ALLOWED_HOSTS".into()
        });
    }
    if crate::playbooks::rules::METADATA_HOSTS.contains(&host.as_str()) {
        return Err("cloud metadata endpoints are never allowed".into());
    }
    Ok(())
}

fn text(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Checks a rule from the form; every problem at once, each named by its field.
pub fn parse_rule(f: &RuleForm, policy: &Policy) -> Result<NewRule, AppError> {
    let mut errors: Vec<(String, String)> = Vec::new();
    let mut err = |field: &str, m: &str| errors.push((field.to_owned(), m.to_owned()));
    let name = f.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        err("name", "enter a name of 1–200 characters");
    }
    if !super::KINDS.iter().any(|(k, _)| *k == f.kind) {
        err("kind", "choose what the rule is about");
    }
    let number = |s: &str, default: i32| -> Option<i32> {
        if s.trim().is_empty() {
            Some(default)
        } else {
            s.trim().parse::<i32>().ok()
        }
    };
    let threshold = number(&f.threshold, 0);
    let window = number(&f.window_minutes, 5);
    let throttle = number(&f.throttle_secs, 300);
    match (f.kind.as_str(), threshold) {
        ("rate", Some(n)) if !(1..=1_000_000).contains(&n) => {
            err("threshold", "give a number of events from 1 to 1000000")
        }
        ("agent_offline", Some(n)) if !(1..=1440).contains(&n) => {
            err("threshold", "give a number of minutes from 1 to 1440")
        }
        (_, None) => err("threshold", "must be a whole number"),
        _ => {}
    }
    if !window.is_some_and(|w| (1..=1440).contains(&w)) {
        err("window_minutes", "give minutes from 1 to 1440");
    }
    if !throttle.is_some_and(|t| (0..=86_400).contains(&t)) {
        err("throttle_secs", "give seconds from 0 to 86400");
    }
    let per = if f.per.is_empty() {
        "group"
    } else {
        f.per.as_str()
    };
    if !["group", "service"].contains(&per) {
        err("per", "must be group or service");
    }
    let min_severity = text(&f.min_severity);
    if min_severity
        .as_deref()
        .is_some_and(|s| crate::errors::pure::parse_severity(s).is_err())
    {
        err("min_severity", "must be critical, error, warning or info");
    }
    if !["webhook", "slack"].contains(&f.channel.as_str()) {
        err("channel", "must be webhook or slack");
    }
    let url = f.url.trim().to_owned();
    if let Err(e) = check_webhook(&url, policy) {
        err("url", &e);
    }
    for (field, v) in [("service", &f.service), ("environment", &f.environment)] {
        if v.chars().count() > 200 {
            err(field, "must be at most 200 characters");
        }
    }
    if !errors.is_empty() {
        return Err(crate::playbooks::ssr::field_errors(errors));
    }
    Ok(NewRule {
        name,
        kind: f.kind.clone(),
        threshold: threshold.unwrap_or(0),
        window_minutes: window.unwrap_or(5),
        per: per.to_owned(),
        min_severity,
        service: text(&f.service),
        environment: text(&f.environment),
        channel: f.channel.clone(),
        url,
        throttle_secs: throttle.unwrap_or(300),
    })
}

/// The rules of `tenant`.
pub async fn rules(pool: &PgPool, tenant: i64) -> Result<Vec<AlertRule>, AppError> {
    Ok(sqlx::query_as!(
        AlertRule,
        r#"SELECT id, name, kind, threshold, window_minutes, per, min_severity, service, environment,
                  channel, url, throttle_secs, enabled, last_fired_at
           FROM alert_rules WHERE tenant_id = $1 ORDER BY lower(name), id LIMIT 200"#,
        tenant
    )
    .fetch_all(pool)
    .await?)
}

/// The latest deliveries of `tenant`, newest first.
pub async fn deliveries(pool: &PgPool, tenant: i64) -> Result<Vec<Delivery>, AppError> {
    Ok(sqlx::query_as!(
        Delivery,
        r#"SELECT id, rule_name, event, summary, channel, status, attempts, last_error, response_status,
                  created_at, delivered_at, next_attempt_at
           FROM alert_deliveries WHERE tenant_id = $1 ORDER BY id DESC LIMIT 30"#,
        tenant
    )
    .fetch_all(pool)
    .await?)
}

/// Stores a rule; audit-logged.
pub async fn create(pool: &PgPool, tenant: i64, r: &NewRule, actor: &str) -> Result<i64, AppError> {
    let mut tx = pool.begin().await?;
    let id = sqlx::query_scalar!(
        r#"INSERT INTO alert_rules (tenant_id, name, kind, threshold, window_minutes, per, min_severity,
                                    service, environment, channel, url, throttle_secs, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id"#,
        tenant,
        r.name,
        r.kind,
        r.threshold,
        r.window_minutes,
        r.per,
        r.min_severity,
        r.service,
        r.environment,
        r.channel,
        r.url,
        r.throttle_secs,
        actor
    )
    .fetch_one(&mut *tx)
    .await?;
    record(
        &mut *tx,
        Entry {
            tenant_id: tenant,
            actor,
            action: "alert_rule.create",
            target_type: "alert_rule",
            target_id: id.to_string(),
            details: json!({ "name": r.name, "kind": r.kind, "channel": r.channel }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Enables, disables or deletes rule `id` of `tenant`; 404 for others; audit-logged.
pub async fn change(
    pool: &PgPool,
    tenant: i64,
    id: i64,
    action: &str,
    actor: &str,
) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    let done =
        match action {
            "enable" | "disable" => sqlx::query_scalar!(
                "UPDATE alert_rules SET enabled = $3 WHERE tenant_id = $1 AND id = $2 RETURNING id",
                tenant,
                id,
                action == "enable"
            )
            .fetch_optional(&mut *tx)
            .await?,
            "delete" => {
                sqlx::query_scalar!(
                    "DELETE FROM alert_rules WHERE tenant_id = $1 AND id = $2 RETURNING id",
                    tenant,
                    id
                )
                .fetch_optional(&mut *tx)
                .await?
            }
            _ => {
                return Err(AppError::invalid(
                    "action",
                    "must be enable, disable or delete",
                ));
            }
        };
    if done.is_none() {
        return Err(AppError::not_found("alert rule"));
    }
    record(
        &mut *tx,
        Entry {
            tenant_id: tenant,
            actor,
            action: &format!("alert_rule.{action}"),
            target_type: "alert_rule",
            target_id: id.to_string(),
            details: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What an alert is about, for both formats.
#[derive(Debug, Clone, Default)]
pub struct Alert {
    /// new_group, regression, rate, fix_failed, agent_offline or test.
    pub event: String,
    /// One line for people.
    pub summary: String,
    /// A link to the page about it.
    pub link: String,
    /// Event-specific facts (the group, counts, agents, the fix run).
    pub facts: Value,
}

/// The generic webhook body (documented in docs/API.md).
pub fn webhook_body(rule: (i64, &str), company: &str, a: &Alert) -> Value {
    json!({
        "event": a.event,
        "rule": { "id": rule.0, "name": rule.1 },
        "company": company,
        "summary": a.summary,
        "url": a.link,
        "details": a.facts,
        "sent_by": "faultline",
    })
}

/// A Slack incoming-webhook message: the summary as text (for notifications), and a block
/// with the linked title and the facts that matter.
pub fn slack_body(rule_name: &str, a: &Alert) -> Value {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut lines = vec![format!("*<{}|{}>*", a.link, escape(&a.summary))];
    if let Some(count) = a.facts.get("count").and_then(Value::as_i64) {
        lines.push(format!("Count: *{count}*"));
    }
    if let Some(g) = a.facts.get("group") {
        lines.push(format!(
            "{} · {} · {} events in all",
            escape(g["service"].as_str().unwrap_or("")),
            escape(g["severity"].as_str().unwrap_or("")),
            g["occurrences"].as_i64().unwrap_or(0)
        ));
    }
    json!({
        "text": format!("{}: {}", rule_name, a.summary),
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": lines.join("\n") } },
            { "type": "context", "elements": [{ "type": "mrkdwn", "text": format!("Faultline alert rule “{}”", escape(rule_name)) }] }
        ]
    })
}

/// Queues `alert` for rule `rule_id` of `tenant` — unless the rule fired within its throttle
/// period (`ignore_throttle` for test sends). Answers whether it was queued.
pub async fn enqueue(
    db: &mut sqlx::PgConnection,
    tenant: i64,
    rule_id: i64,
    alert: &Alert,
    ignore_throttle: bool,
) -> Result<bool, AppError> {
    let rule = sqlx::query!(
        r#"UPDATE alert_rules r SET last_fired_at = CASE WHEN $3 THEN r.last_fired_at ELSE now() END
           FROM tenants t
           WHERE r.tenant_id = $1 AND r.id = $2 AND t.id = r.tenant_id
             AND ($3 OR r.last_fired_at IS NULL
                  OR r.last_fired_at <= now() - make_interval(secs => r.throttle_secs))
           RETURNING r.name, r.channel, r.url, t.name AS company"#,
        tenant,
        rule_id,
        ignore_throttle
    )
    .fetch_optional(&mut *db)
    .await?;
    let Some(rule) = rule else {
        return Ok(false);
    };
    let payload = match rule.channel.as_str() {
        "slack" => slack_body(&rule.name, alert),
        _ => webhook_body((rule_id, &rule.name), &rule.company, alert),
    };
    sqlx::query!(
        r#"INSERT INTO alert_deliveries (tenant_id, rule_id, rule_name, event, summary, payload, channel, url)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"#,
        tenant,
        rule_id,
        rule.name,
        alert.event,
        alert.summary,
        payload,
        rule.channel,
        rule.url
    )
    .execute(&mut *db)
    .await?;
    wake(&mut *db).await?;
    Ok(true)
}

/// The channel that wakes the alert engine.
pub const CHANNEL: &str = "faultline_alerts";

/// Wakes every replica's alert engine once the transaction commits.
pub async fn wake(db: impl PgExecutor<'_>) -> Result<(), AppError> {
    sqlx::query!("SELECT pg_notify($1, 'alert')", CHANNEL)
        .execute(db)
        .await?;
    Ok(())
}

/// Sends a test alert through rule `id` of `tenant` (whatever its throttle); 404 for others.
pub async fn send_test(pool: &PgPool, tenant: i64, id: i64, actor: &str) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    let alert = Alert {
        event: "test".into(),
        summary: format!("Test alert sent by {actor}"),
        link: String::new(),
        facts: json!({ "test": true }),
    };
    if !enqueue(&mut tx, tenant, id, &alert, true).await? {
        return Err(AppError::not_found("alert rule"));
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            allowed_hosts: vec!["127.0.0.1".into()],
            allowed_commands: vec![],
        }
    }

    fn form(kind: &str, url: &str) -> RuleForm {
        RuleForm {
            name: "Pager".into(),
            kind: kind.into(),
            channel: "webhook".into(),
            url: url.into(),
            ..Default::default()
        }
    }

    #[test]
    fn rules_are_checked_field_by_field() {
        let ok = parse_rule(
            &form("new_group", "https://hooks.slack.com/services/T/B/x"),
            &policy(),
        )
        .unwrap();
        assert_eq!(
            (ok.throttle_secs, ok.window_minutes, ok.per.as_str()),
            (300, 5, "group")
        );
        assert!(parse_rule(&form("new_group", "http://127.0.0.1:9/hook"), &policy()).is_ok());
        for (f, field) in [
            (form("new_group", "http://10.1.2.3/hook"), "url"),
            (form("new_group", "http://169.254.169.254/"), "url"),
            (form("new_group", "ftp://x/"), "url"),
            (form("sometimes", "https://example.com/"), "kind"),
            (
                RuleForm {
                    threshold: "0".into(),
                    ..form("rate", "https://example.com/")
                },
                "threshold",
            ),
            (
                RuleForm {
                    window_minutes: "0".into(),
                    threshold: "5".into(),
                    ..form("rate", "https://example.com/")
                },
                "window_minutes",
            ),
            (
                RuleForm {
                    min_severity: "loud".into(),
                    ..form("new_group", "https://example.com/")
                },
                "min_severity",
            ),
            (
                RuleForm {
                    channel: "pigeon".into(),
                    ..form("new_group", "https://example.com/")
                },
                "channel",
            ),
            (
                RuleForm {
                    name: " ".into(),
                    ..form("new_group", "https://example.com/")
                },
                "name",
            ),
        ] {
            let e = parse_rule(&f, &policy()).unwrap_err();
            assert_eq!(e.field(), Some(field), "{}", e.message());
        }
    }

    #[test]
    fn slack_messages_are_readable_and_escaped() {
        let a = Alert {
            event: "rate".into(),
            summary: "<b>Boom</b> happened 12 times in 5 minutes".into(),
            link: "http://faultline/errors/3".into(),
            facts: json!({ "count": 12, "group": { "service": "api", "severity": "error", "occurrences": 40 } }),
        };
        let s = slack_body("Pager", &a);
        let text = s["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(
            text.starts_with("*<http://faultline/errors/3|&lt;b&gt;Boom&lt;/b&gt; happened"),
            "{text}"
        );
        assert!(
            text.contains("Count: *12*") && text.contains("api · error · 40 events"),
            "{text}"
        );
        assert!(s["text"].as_str().unwrap().starts_with("Pager: "));
        let w = webhook_body((7, "Pager"), "Acme", &a);
        assert_eq!(
            (&w["event"], &w["rule"]["id"], &w["details"]["count"]),
            (&json!("rate"), &json!(7), &json!(12))
        );
    }
}
