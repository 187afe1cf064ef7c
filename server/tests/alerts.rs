//! Alert rules against a local webhook receiver: new groups, regressions (Slack format), rates,
//! failed fixes and offline agents; the throttle; retries with backoff; the test button; the
//! delivery log; bad input, roles and tenants.

mod common;

use app::playbooks::rules::Policy;
use app::state::Settings;
use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::post;
use common::{TestApp, expect_error, ok_json, spawn_app_with};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Receiver {
    got: Mutex<Vec<(String, Value)>>,
    /// Requests to /flaky answered 500 before it works.
    flaky_failures: AtomicU32,
}

async fn receiver() -> (String, Arc<Receiver>) {
    let r = Arc::new(Receiver::default());
    r.flaky_failures.store(2, Ordering::SeqCst);
    let shared = r.clone();
    let app = Router::new().route(
        "/{name}",
        post(move |Path(name): Path<String>, Json(body): Json<Value>| {
            let r = shared.clone();
            async move {
                if name == "flaky"
                    && r.flaky_failures
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok()
                {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                r.got.lock().unwrap().push((name, body));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), r)
}

/// Waits until the receiver got something at `name` matching `pred`; answers it.
async fn wait_for(r: &Receiver, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some((_, v)) = r
            .got
            .lock()
            .unwrap()
            .iter()
            .find(|(n, v)| n == name && pred(v))
        {
            return v.clone();
        }
        assert!(
            Instant::now() < deadline,
            "nothing arrived at /{name}: {:?}",
            r.got.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn rule(app: &TestApp, c: &reqwest::Client, fields: &[(&str, &str)]) -> reqwest::Response {
    let form: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (format!("rule[{k}]"), v.to_string()))
        .collect();
    c.post(app.url("/api/ui/alerts/create"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Settings → Alerts as `c` sees it: the rules and the delivery log.
async fn alerts_list(app: &TestApp, c: &reqwest::Client) -> Value {
    ok_json(
        c.post(app.url("/api/ui/alerts/list"))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn log(app: &TestApp, key: &str, kind: &str, severity: &str) -> i64 {
    ok_json(
        app.agent(
            Some(key),
            "log_error",
            json!({ "service": "checkout", "severity": severity, "error_type": kind, "message": "it broke",
                    "environment": "production" }),
        )
        .await,
    )
    .await["group_id"]
        .as_i64()
        .unwrap()
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn alerts_reach_webhooks_and_slack_throttled_and_retried(pool: PgPool) {
    let app = spawn_app_with(
        pool,
        Settings {
            fix_policy: Policy {
                allowed_hosts: vec!["127.0.0.1".into()],
                allowed_commands: vec![],
            },
            public_url: "https://faultline.example".into(),
            alert_retry_base_ms: 50,
            alert_check_ms: 300,
            ..Settings::default()
        },
    )
    .await;
    app.tenant("acme").await;
    let key = server::commands::create_api_key(&app.pool, "acme", "agent", "ingest,read,fix")
        .await
        .unwrap();
    let admin = app.member_client("a@acme.test", "acme", "admin").await;
    let viewer = app.member_client("v@acme.test", "acme", "viewer").await;
    let (hooks, got) = receiver().await;
    let url = |name: &str| format!("{hooks}/{name}");

    // Bad input, each named by its field; viewers cannot add rules.
    for (fields, field) in [
        (
            vec![
                ("name", "x"),
                ("kind", "new_group"),
                ("channel", "webhook"),
                ("url", "http://169.254.169.254/"),
            ],
            "url",
        ),
        (
            vec![
                ("name", "x"),
                ("kind", "new_group"),
                ("channel", "webhook"),
                ("url", "http://10.0.0.9/hook"),
            ],
            "url",
        ),
        (
            vec![
                ("name", "x"),
                ("kind", "rate"),
                ("threshold", "0"),
                ("channel", "webhook"),
                ("url", "https://example.com/"),
            ],
            "threshold",
        ),
        (
            vec![
                ("name", ""),
                ("kind", "new_group"),
                ("channel", "webhook"),
                ("url", "https://example.com/"),
            ],
            "name",
        ),
    ] {
        let body = expect_error(
            rule(&app, &admin, &fields).await,
            reqwest::StatusCode::BAD_REQUEST,
            "invalid",
        )
        .await;
        assert_eq!(body["field"], field, "{body}");
    }
    let new_url = url("new");
    expect_error(
        rule(
            &app,
            &viewer,
            &[
                ("name", "x"),
                ("kind", "new_group"),
                ("channel", "webhook"),
                ("url", &new_url),
            ],
        )
        .await,
        reqwest::StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // The rules.
    let slack_url = url("slack");
    let rate_url = url("rate");
    let fix_url = url("fix");
    let offline_url = url("offline");
    let flaky_url = url("flaky");
    for fields in [
        vec![
            ("name", "New errors"),
            ("kind", "new_group"),
            ("min_severity", "error"),
            ("environment", "production"),
            ("channel", "webhook"),
            ("url", new_url.as_str()),
        ],
        vec![
            ("name", "Regressions"),
            ("kind", "regression"),
            ("channel", "slack"),
            ("url", slack_url.as_str()),
            ("throttle_secs", "0"),
        ],
        vec![
            ("name", "Storm"),
            ("kind", "rate"),
            ("threshold", "2"),
            ("window_minutes", "5"),
            ("per", "group"),
            ("channel", "webhook"),
            ("url", rate_url.as_str()),
        ],
        vec![
            ("name", "Fix failed"),
            ("kind", "fix_failed"),
            ("channel", "webhook"),
            ("url", fix_url.as_str()),
        ],
        vec![
            ("name", "Agent gone"),
            ("kind", "agent_offline"),
            ("threshold", "1"),
            ("channel", "webhook"),
            ("url", offline_url.as_str()),
        ],
        vec![
            ("name", "Flaky receiver"),
            ("kind", "new_group"),
            ("channel", "webhook"),
            ("url", flaky_url.as_str()),
        ],
    ] {
        ok_json(rule(&app, &admin, &fields).await).await;
    }

    // A warning is below the rule's severity; the error that follows alerts.
    log(&app, &key, "Whisper", "warning").await;
    let group = log(&app, &key, "ConnectionError", "error").await;
    let body = wait_for(&got, "new", |_| true).await;
    assert_eq!(body["event"], "new_group");
    assert_eq!(body["rule"]["name"], "New errors");
    assert_eq!(
        body["url"],
        format!("https://faultline.example/errors/{group}")
    );
    assert_eq!(
        body["details"]["group"]["title"],
        "ConnectionError: it broke"
    );
    assert!(
        body["summary"]
            .as_str()
            .unwrap()
            .starts_with("New error in checkout"),
        "{body}"
    );
    // A delivery refused twice by its receiver is retried until it gets through.
    wait_for(&got, "flaky", |b| {
        b["details"]["group"]["id"].as_i64().is_some()
    })
    .await;

    // More than 2 events of one group within 5 minutes.
    log(&app, &key, "ConnectionError", "error").await;
    log(&app, &key, "ConnectionError", "error").await;
    let body = wait_for(&got, "rate", |_| true).await;
    assert_eq!(body["event"], "rate");
    assert!(body["details"]["count"].as_i64().unwrap() >= 3, "{body}");

    // Throttled: another new group within 300 s does not alert that rule again.
    log(&app, &key, "TimeoutError", "critical").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        got.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n == "new")
            .count(),
        1
    );

    // A regression, in Slack's format.
    ok_json(
        app.call(&admin, "errors/resolve", &[("id", &group.to_string())])
            .await,
    )
    .await;
    log(&app, &key, "ConnectionError", "error").await;
    let body = wait_for(&got, "slack", |_| true).await;
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("Regressions: Regression in checkout"),
        "{body}"
    );
    assert!(
        body["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains(&format!("<https://faultline.example/errors/{group}|"))
    );

    // A failed fix.
    let spec = json!({ "name": "Poke", "mode": "manual", "risk": "low", "enabled": true, "verify": null,
                       "actions": [{ "type": "http", "method": "POST", "url": "http://127.0.0.1:9/restart" }] });
    ok_json(
        app.call(&admin, "playbooks/save", &[("spec", &spec.to_string())])
            .await,
    )
    .await;
    ok_json(
        app.call(&admin, "fixes/start", &[("group", &group.to_string())])
            .await,
    )
    .await;
    let body = wait_for(&got, "fix", |_| true).await;
    assert_eq!(body["event"], "fix_failed");
    assert!(body["details"]["fix_run"].as_i64().is_some(), "{body}");

    // An agent silent for more than a minute.
    ok_json(
        app.agent(
            Some(&key),
            "register_agent",
            json!({ "name": "night-shift" }),
        )
        .await,
    )
    .await;
    sqlx::query("UPDATE agents SET last_heartbeat_at = now() - interval '10 minutes' WHERE name = 'night-shift'")
        .execute(&app.pool)
        .await
        .unwrap();
    let body = wait_for(&got, "offline", |_| true).await;
    assert_eq!(body["details"]["agents"], json!(["night-shift"]));

    // The test button, and the delivery log.
    let list = alerts_list(&app, &admin).await;
    let rule_id = list["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Regressions")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    ok_json(
        app.call(&admin, "alerts/test", &[("id", &rule_id.to_string())])
            .await,
    )
    .await;
    wait_for(&got, "slack", |b| {
        b["text"].as_str().is_some_and(|t| t.contains("Test alert"))
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let list = alerts_list(&app, &admin).await;
        let deliveries = list["deliveries"].as_array().unwrap().clone();
        if deliveries.iter().all(|d| d["status"] == "delivered") || Instant::now() > deadline {
            break deliveries;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(log.iter().all(|d| d["status"] == "delivered"), "{log:?}");
    let flaky = log
        .iter()
        .find(|d| d["rule_name"] == "Flaky receiver")
        .unwrap();
    assert_eq!(flaky["attempts"], 3, "{flaky}");
    assert!(log.iter().any(|d| d["event"] == "test"));

    // Settings shows the rules and the log, escaped.
    let html = admin
        .get(app.url("/settings"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("id=\"alert-rules\"")
            && html.contains("Regressions")
            && html.contains("id=\"alert-deliveries\"")
    );

    // Other companies can neither see nor change these rules.
    app.tenant("globex").await;
    let spy = app.member_client("a@globex.test", "globex", "admin").await;
    let theirs = alerts_list(&app, &spy).await;
    assert_eq!(
        (
            theirs["rules"].as_array().unwrap().len(),
            theirs["deliveries"].as_array().unwrap().len()
        ),
        (0, 0)
    );
    for (name, form) in [
        ("alerts/test", vec![("id", rule_id.to_string())]),
        (
            "alerts/change",
            vec![
                ("id", rule_id.to_string()),
                ("action", "delete".to_string()),
            ],
        ),
    ] {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        expect_error(
            app.call(&spy, name, &form).await,
            reqwest::StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    ok_json(
        app.call(
            &admin,
            "alerts/change",
            &[("id", &rule_id.to_string()), ("action", "disable")],
        )
        .await,
    )
    .await;
    let audit: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE target_type = 'alert_rule' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        audit.iter().filter(|a| *a == "alert_rule.create").count(),
        6
    );
    assert_eq!(audit.last().map(String::as_str), Some("alert_rule.disable"));
}
