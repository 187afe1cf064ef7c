//! The auto-fix loop end to end against a real local HTTP service that fails, gets
//! restarted and recovers: automatic runs on new and regressed groups, verification,
//! rollback, the responder agent, the circuit breaker, cooldown and attempts, approval and
//! rejection, expiry, agent-task timeouts, crash recovery, and the allow-lists at run time.

mod common;

use app::playbooks::rules::Policy;
use app::state::Settings;
use axum::Router;
use axum::routing::{get, post};
use common::{TestApp, expect_error, ok_json, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A service whose health check fails until it is restarted — unless it is `stuck`, when a
/// restart does not help. Counts restarts and rollbacks.
#[derive(Default)]
struct Service {
    healthy: AtomicBool,
    stuck: AtomicBool,
    restarts: AtomicU32,
    rollbacks: AtomicU32,
}

async fn service() -> (String, Arc<Service>) {
    let s = Arc::new(Service::default());
    let (a, b, c) = (s.clone(), s.clone(), s.clone());
    let app = Router::new()
        .route(
            "/health",
            get(move || async move {
                if a.healthy.load(Ordering::SeqCst) {
                    (StatusCode::OK, "ok")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "connection refused")
                }
            }),
        )
        .route(
            "/admin/restart",
            post(move || async move {
                b.restarts.fetch_add(1, Ordering::SeqCst);
                if !b.stuck.load(Ordering::SeqCst) {
                    b.healthy.store(true, Ordering::SeqCst);
                }
                "restarted"
            }),
        )
        .route(
            "/admin/rollback",
            post(move || async move {
                c.rollbacks.fetch_add(1, Ordering::SeqCst);
                "rolled back"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), s)
}

fn settings() -> Settings {
    Settings {
        fix_policy: Policy {
            allowed_hosts: vec!["127.0.0.1".into()],
            allowed_commands: vec!["/bin/echo".into()],
        },
        fix_breaker_failures: 2,
        fix_breaker_secs: 600,
        ..Settings::default()
    }
}

struct Setup {
    app: TestApp,
    key: String,
    admin: reqwest::Client,
}

async fn setup(pool: PgPool) -> Setup {
    let app = spawn_app_with(pool, settings()).await;
    app.tenant("acme").await;
    let key = server::commands::create_api_key(&app.pool, "acme", "agent", "ingest,read,fix")
        .await
        .unwrap();
    let admin = app.member_client("a@acme.test", "acme", "admin").await;
    Setup { app, key, admin }
}

/// A playbook restarting the service over HTTP, verified by its health check.
fn restart(svc: &str, name: &str) -> Value {
    json!({
        "name": name,
        "match": { "message_pattern": "refused" },
        "actions": [{ "type": "http", "method": "POST", "url": format!("{svc}/admin/restart"), "expect_status": 200 }],
        "verify": { "type": "http", "url": format!("{svc}/health") },
        "rollback": [{ "type": "http", "method": "POST", "url": format!("{svc}/admin/rollback") }],
        "risk": "low",
        "mode": "automatic",
        "enabled": true
    })
}

async fn save(s: &Setup, spec: Value) -> i64 {
    ok_json(
        s.app
            .call(&s.admin, "playbooks/save", &[("spec", &spec.to_string())])
            .await,
    )
    .await;
    sqlx::query_scalar("SELECT id FROM playbooks WHERE name = $1")
        .bind(spec["name"].as_str().unwrap())
        .fetch_one(&s.app.pool)
        .await
        .unwrap()
}

/// Logs an error and answers its group id.
async fn log(s: &Setup, message: &str) -> i64 {
    let res = s
        .app
        .agent(
            Some(&s.key),
            "log_error",
            json!({ "service": "checkout", "severity": "error",
                    "error_type": if message.contains("pool") { "PoolTimeout" } else { "ConnectionError" },
                    "message": message }),
        )
        .await;
    ok_json(res).await["group_id"].as_i64().unwrap()
}

/// Waits until run `id` has one of `statuses`; answers the status.
async fn wait_run(pool: &PgPool, id: i64, statuses: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status: String = sqlx::query_scalar("SELECT status FROM fix_runs WHERE id = $1")
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap();
        if statuses.contains(&status.as_str()) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "run {id} stayed {status}, wanted {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts playbook `playbook` on group `group` as `c`, waits for the run to end; answers its
/// status and the output of its (only) step.
async fn run_once(s: &Setup, c: &reqwest::Client, group: i64, playbook: i64) -> (String, String) {
    let run = ok_json(
        s.app
            .call(
                c,
                "fixes/start",
                &[
                    ("group", &group.to_string()),
                    ("playbook", &playbook.to_string()),
                ],
            )
            .await,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let status = wait_run(&s.app.pool, run, &["failed", "succeeded"]).await;
    let output: String = sqlx::query_scalar("SELECT output FROM fix_run_steps WHERE run_id = $1")
        .bind(run)
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
    (status, output)
}

/// The latest run of group `group`, waiting for one to appear.
async fn run_of(pool: &PgPool, group: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT max(id) FROM fix_runs WHERE group_id = $1")
                .bind(group)
                .fetch_one(pool)
                .await
                .unwrap();
        if let Some(id) = id {
            return id;
        }
        assert!(
            Instant::now() < deadline,
            "no run started for group {group}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn activity(pool: &PgPool, group: i64) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT kind, actor, coalesce(notes, '') FROM activity WHERE group_id = $1 ORDER BY id",
    )
    .bind(group)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn new_and_regressed_errors_are_fixed_verified_and_resolved(pool: PgPool) {
    let s = setup(pool).await;
    let (svc, service) = service().await;
    let playbook = save(&s, restart(&svc, "Restart checkout")).await;

    let group = log(&s, "upstream connection refused").await;
    let run = run_of(&s.app.pool, group).await;
    assert_eq!(
        wait_run(&s.app.pool, run, &["succeeded", "failed", "rolled_back"]).await,
        "succeeded"
    );
    assert_eq!(service.restarts.load(Ordering::SeqCst), 1);
    assert_eq!(service.rollbacks.load(Ordering::SeqCst), 0);
    let (status, by): (String, String) =
        sqlx::query_as("SELECT status, resolved_by FROM error_groups WHERE id = $1")
            .bind(group)
            .fetch_one(&s.app.pool)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), by.as_str()),
        ("resolved", &*format!("fix run #{run}"))
    );
    let history = activity(&s.app.pool, group).await;
    let kinds: Vec<&str> = history.iter().map(|h| h.0.as_str()).collect();
    assert_eq!(
        kinds,
        ["first_seen", "fix_started", "resolved", "fix_finished"]
    );
    assert!(history[2].2.contains("Restart checkout") && history[2].2.contains(&format!("#{run}")));

    // The run's log, through the agent API: the action and the check, with their outputs.
    let detail = ok_json(
        s.app
            .agent(Some(&s.key), "get_fix_run", json!({ "id": run }))
            .await,
    )
    .await;
    assert_eq!(detail["run"]["trigger"], "auto");
    let steps = detail["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{detail}");
    assert_eq!(
        (&steps[0]["phase"], &steps[0]["status"]),
        (&json!("act"), &json!("ok"))
    );
    assert!(
        steps[0]["output"].as_str().unwrap().contains("200 OK"),
        "{detail}"
    );
    assert_eq!(
        (&steps[1]["phase"], &steps[1]["status"]),
        (&json!("verify"), &json!("ok"))
    );

    // It breaks again: the resolved group regresses, and the playbook fixes it again.
    service.healthy.store(false, Ordering::SeqCst);
    assert_eq!(log(&s, "upstream connection refused").await, group);
    let deadline = Instant::now() + Duration::from_secs(10);
    let second = loop {
        let id = run_of(&s.app.pool, group).await;
        if id != run {
            break id;
        }
        assert!(Instant::now() < deadline, "no run for the regression");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        wait_run(&s.app.pool, second, &["succeeded", "failed"]).await,
        "succeeded"
    );
    let learned: (i64, i64, i64) = sqlx::query_as(
        "SELECT p.successes, p.failures, s.successes FROM playbooks p JOIN fix_stats s ON s.playbook_id = p.id WHERE p.id = $1",
    )
    .bind(playbook)
    .fetch_one(&s.app.pool)
    .await
    .unwrap();
    assert_eq!(learned, (2, 0, 2));
    // The overview counts them.
    let overview = ok_json(
        s.admin
            .post(s.app.url("/api/ui/overview"))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (
            &overview["fixes_succeeded_7d"],
            &overview["fixes_finished_7d"],
            &overview["fixes_waiting"]
        ),
        (&json!(2), &json!(2), &json!(0))
    );

    // The auto-fix log lists both, newest first; other companies see nothing of them.
    let list = ok_json(
        s.admin
            .post(s.app.url("/api/ui/fixes/list"))
            .json(&json!({ "filter": { "status": "succeeded" } }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let ids: Vec<i64> = list["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [second, run]);
    s.app.tenant("globex").await;
    let other = s
        .app
        .member_client("a@globex.test", "globex", "admin")
        .await;
    let theirs = ok_json(
        other
            .post(s.app.url("/api/ui/fixes/list"))
            .json(&json!({ "filter": {} }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(theirs["runs"], json!([]));
    expect_error(
        other
            .post(s.app.url("/api/ui/fixes/get"))
            .json(&json!({ "id": run }))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        s.app
            .call(&other, "fixes/start", &[("group", &group.to_string())])
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn failed_verification_rolls_back_asks_the_responder_and_opens_the_breaker(pool: PgPool) {
    let s = setup(pool).await;
    let (svc, service) = service().await;
    service.stuck.store(true, Ordering::SeqCst);
    let mut spec = restart(&svc, "Restart checkout");
    spec["mode"] = json!("manual");
    save(&s, spec).await;
    // The company's responder agent.
    ok_json(
        s.app
            .agent(Some(&s.key), "register_agent", json!({ "name": "oncall" }))
            .await,
    )
    .await;
    sqlx::query(
        "UPDATE tenants SET responder_agent_id = (SELECT id FROM agents WHERE name = 'oncall')",
    )
    .execute(&s.app.pool)
    .await
    .unwrap();

    let group = log(&s, "upstream connection refused").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM fix_runs")
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
    assert_eq!(none, 0, "a manual playbook never starts by itself");

    // The seed REST call answers 202 with the queued run.
    let fix = |body: Value| {
        let (url, key) = (
            s.app.url(&format!("/api/errors/{group}/fix")),
            s.key.clone(),
        );
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let res = fix(json!({})).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let run: Value = res.json().await.unwrap();
    // Queued, and the engine may have taken it already.
    assert!(
        ["queued", "running", "verifying", "rolled_back"]
            .contains(&run["status"].as_str().unwrap()),
        "{run}"
    );
    let run = run["id"].as_i64().unwrap();
    assert_eq!(
        wait_run(&s.app.pool, run, &["rolled_back", "failed", "succeeded"]).await,
        "rolled_back"
    );
    assert_eq!(service.rollbacks.load(Ordering::SeqCst), 1);
    let (reason, task): (String, Option<i64>) =
        sqlx::query_as("SELECT reason, responder_task_id FROM fix_runs WHERE id = $1")
            .bind(run)
            .fetch_one(&s.app.pool)
            .await
            .unwrap();
    assert!(
        reason.contains("verification") && reason.contains("rolled back"),
        "{reason}"
    );
    let (name, params): (String, Value) = sqlx::query_as(
        "SELECT t.task, t.params FROM agent_tasks t JOIN agents a ON a.id = t.agent_id WHERE t.id = $1 AND a.name = 'oncall'",
    )
    .bind(task.expect("the responder got a task"))
    .fetch_one(&s.app.pool)
    .await
    .unwrap();
    assert_eq!(
        (name.as_str(), &params["fix_run_id"]),
        ("investigate_error", &json!(run))
    );
    let status: String = sqlx::query_scalar("SELECT status FROM error_groups WHERE id = $1")
        .bind(group)
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
    assert_eq!(status, "unresolved");
    let history = activity(&s.app.pool, group).await;
    assert!(
        history.last().unwrap().2.contains("responder agent oncall"),
        "{history:?}"
    );

    // A second failure in a row opens the breaker (threshold 2): the next start is refused.
    let res = fix(json!({})).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let second = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    wait_run(&s.app.pool, second, &["rolled_back", "failed"]).await;
    let body = expect_error(fix(json!({})).await, StatusCode::CONFLICT, "conflict").await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("circuit breaker"),
        "{body}"
    );
    let list = ok_json(
        s.admin
            .post(s.app.url("/api/ui/fixes/list"))
            .json(&json!({ "filter": {} }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list["breakers"][0]["service"], "checkout");
    assert!(list["breakers"][0]["open_until"].is_string(), "{list}");
    // Bad input: an unknown playbook, a malformed body, a foreign-looking id.
    expect_error(
        fix(json!({ "playbook_id": 999_999 })).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        fix(json!({ "playbook": 1 })).await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    let res = reqwest::Client::new()
        .post(s.app.url("/api/errors/987654/fix"))
        .bearer_auth(&s.key)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn risky_runs_wait_for_an_admin_who_approves_or_rejects(pool: PgPool) {
    let s = setup(pool).await;
    let (svc, service) = service().await;
    let mut spec = restart(&svc, "Restart checkout (risky)");
    spec["risk"] = json!("high");
    spec["mode"] = json!("manual");
    spec["max_attempts"] = json!(2);
    save(&s, spec).await;
    let group = log(&s, "upstream connection refused").await;
    let member = s.app.member_client("m@acme.test", "acme", "member").await;

    let start = |c: reqwest::Client| {
        let url = s.app.url("/api/ui/fixes/start");
        async move {
            c.post(url)
                .form(&[("group", group.to_string())])
                .send()
                .await
                .unwrap()
        }
    };
    let run = ok_json(start(member.clone()).await).await;
    assert_eq!(run["status"], "pending_approval");
    let run = run["id"].as_i64().unwrap();
    let decide = |c: &reqwest::Client, approve: &str, notes: &str| {
        let req = c.post(s.app.url("/api/ui/fixes/decide")).form(&[
            ("id", run.to_string()),
            ("approve", approve.into()),
            ("notes", notes.into()),
        ]);
        async move { req.send().await.unwrap() }
    };
    // Members cannot decide; a rejection needs a reason; another run cannot start meanwhile.
    expect_error(
        decide(&member, "true", "").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        decide(&s.admin, "false", "  ").await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    expect_error(
        decide(&s.admin, "maybe", "").await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    let body = expect_error(
        start(member.clone()).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("already pending approval"),
        "{body}"
    );
    ok_json(decide(&s.admin, "false", "not during the sale").await).await;
    assert_eq!(wait_run(&s.app.pool, run, &["rejected"]).await, "rejected");
    expect_error(
        decide(&s.admin, "true", "").await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_eq!(
        service.restarts.load(Ordering::SeqCst),
        0,
        "a rejected run never acts"
    );

    // The next one is approved and fixes it.
    let second = ok_json(start(member.clone()).await).await["id"]
        .as_i64()
        .unwrap();
    let req = s.admin.post(s.app.url("/api/ui/fixes/decide")).form(&[
        ("id", second.to_string()),
        ("approve", "true".into()),
        ("notes", "go".into()),
    ]);
    ok_json(req.send().await.unwrap()).await;
    assert_eq!(
        wait_run(&s.app.pool, second, &["succeeded", "failed", "rolled_back"]).await,
        "succeeded"
    );
    let decided: (String, String) =
        sqlx::query_as("SELECT decided_by, decision_notes FROM fix_runs WHERE id = $1")
            .bind(second)
            .fetch_one(&s.app.pool)
            .await
            .unwrap();
    assert_eq!(decided, ("user:a@acme.test".into(), "go".into()));
    let audit: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE target_type = 'fix_run' ORDER BY id",
    )
    .fetch_all(&s.app.pool)
    .await
    .unwrap();
    assert_eq!(audit, ["fix.reject", "fix.approve"]);

    // A third waits, and expires when nobody decides in time.
    sqlx::query("UPDATE error_groups SET status = 'unresolved' WHERE id = $1")
        .bind(group)
        .execute(&s.app.pool)
        .await
        .unwrap();
    let third = ok_json(start(member.clone()).await).await["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        app::fixes::engine::expire_approvals(&s.app.pool, 0)
            .await
            .unwrap(),
        1
    );
    let (status, reason): (String, String) =
        sqlx::query_as("SELECT status, reason FROM fix_runs WHERE id = $1")
            .bind(third)
            .fetch_one(&s.app.pool)
            .await
            .unwrap();
    assert_eq!(status, "cancelled");
    assert!(reason.starts_with("expired"), "{reason}");
    // Cancelled runs do not count either: the playbook allows two attempts, one was used.
    let fourth = ok_json(start(member.clone()).await).await["id"]
        .as_i64()
        .unwrap();
    ok_json(
        s.app
            .call(&s.admin, "fixes/cancel", &[("id", &fourth.to_string())])
            .await,
    )
    .await;
    expect_error(
        s.app
            .call(&s.admin, "fixes/cancel", &[("id", &fourth.to_string())])
            .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let fifth = ok_json(start(member.clone()).await).await["id"]
        .as_i64()
        .unwrap();
    let req = s
        .admin
        .post(s.app.url("/api/ui/fixes/decide"))
        .form(&[("id", fifth.to_string()), ("approve", "true".into())]);
    ok_json(req.send().await.unwrap()).await;
    assert_eq!(
        wait_run(&s.app.pool, fifth, &["succeeded", "failed"]).await,
        "succeeded"
    );
    sqlx::query("UPDATE error_groups SET status = 'unresolved' WHERE id = $1")
        .bind(group)
        .execute(&s.app.pool)
        .await
        .unwrap();
    let body = expect_error(start(member).await, StatusCode::CONFLICT, "conflict").await;
    assert!(
        body["message"].as_str().unwrap().contains("limit"),
        "{body}"
    );
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn cooldown_agent_task_timeouts_and_the_allow_lists_at_run_time(pool: PgPool) {
    let s = setup(pool).await;
    let member = s.app.member_client("m@acme.test", "acme", "member").await;
    // An agent task nobody picks up fails its step after its timeout; the late result is
    // refused.
    ok_json(
        s.app
            .agent(Some(&s.key), "register_agent", json!({ "name": "sleepy" }))
            .await,
    )
    .await;
    save(
        &s,
        json!({
            "name": "Ask the agent", "match": {}, "mode": "manual", "risk": "low", "enabled": true,
            "cooldown_secs": 3600,
            "actions": [{ "type": "agent_task", "task": "clear_cache", "agent": "sleepy", "timeout_secs": 1 }],
            "verify": null
        }),
    )
    .await;
    let group = log(&s, "stale cache").await;
    let started = ok_json(
        s.app
            .call(&member, "fixes/start", &[("group", &group.to_string())])
            .await,
    )
    .await;
    let run = started["id"].as_i64().unwrap();
    assert_eq!(
        wait_run(&s.app.pool, run, &["failed", "succeeded"]).await,
        "failed"
    );
    let output: String =
        sqlx::query_scalar("SELECT output FROM fix_run_steps WHERE run_id = $1 AND phase = 'act'")
            .bind(run)
            .fetch_one(&s.app.pool)
            .await
            .unwrap();
    assert!(output.contains("no result within 1 s"), "{output}");
    let task: i64 = sqlx::query_scalar("SELECT id FROM agent_tasks WHERE task = 'clear_cache'")
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
    expect_error(
        s.app
            .agent(
                Some(&s.key),
                "complete_task",
                json!({ "agent": "sleepy", "task_id": task, "ok": true }),
            )
            .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    // Its cooldown holds the next manual start back.
    let body = expect_error(
        s.app
            .call(&member, "fixes/start", &[("group", &group.to_string())])
            .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("cooldown"),
        "{body}"
    );

    // Refused at save: a host and a program outside the allow-lists, and metadata addresses.
    for (step, field) in [
        (
            json!({ "type": "http", "method": "GET", "url": "http://169.254.169.254/latest/meta-data/" }),
            "actions[0].url",
        ),
        (
            json!({ "type": "http", "method": "GET", "url": "http://evil.example/" }),
            "actions[0].url",
        ),
        (
            json!({ "type": "command", "program": "/bin/sh", "args": ["-c", "id"] }),
            "actions[0].program",
        ),
    ] {
        let spec = json!({ "name": "bad", "mode": "manual", "risk": "low", "actions": [step], "verify": null });
        let body = expect_error(
            s.app
                .call(&s.admin, "playbooks/save", &[("spec", &spec.to_string())])
                .await,
            StatusCode::BAD_REQUEST,
            "invalid",
        )
        .await;
        assert_eq!(body["field"], field, "{body}");
    }
    // Refused at run: playbooks that got past an older, wider allow-list.
    let echo = save(
        &s,
        json!({ "name": "Echo", "match": {}, "mode": "manual", "risk": "low", "enabled": true,
                "actions": [{ "type": "command", "program": "/bin/echo", "args": ["cache", "cleared"] }],
                "verify": null }),
    )
    .await;
    for (name, step, refusal) in [
        (
            "Shell",
            json!({ "type": "command", "program": "/bin/sh", "args": ["-c", "touch /tmp/pwned"] }),
            "not on the server's list of allowed programs",
        ),
        (
            "Metadata",
            json!({ "type": "http", "method": "GET", "url": "http://169.254.169.254/latest/meta-data/" }),
            "never allowed",
        ),
        (
            "Elsewhere",
            json!({ "type": "http", "method": "GET", "url": "http://localhost:9/" }),
            "not on the server's list of allowed hosts",
        ),
    ] {
        let spec = json!({ "name": name, "match": {}, "mode": "manual", "risk": "low", "enabled": true,
                           "actions": [step], "verify": null });
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO playbooks (tenant_id, name, spec, enabled, mode, risk, created_by) SELECT id, $1, $2, true, 'manual', 'low', 'test' FROM tenants WHERE slug = 'acme' RETURNING id",
        )
        .bind(name)
        .bind(&spec)
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
        let g = log(&s, &format!("{name} broke")).await;
        let (status, output) = run_once(&s, &member, g, id).await;
        assert_eq!(status, "failed", "{name}");
        assert!(
            output.starts_with("refused") && output.contains(refusal),
            "{name}: {output}"
        );
    }
    assert!(!std::path::Path::new("/tmp/pwned").exists());
    // The allowed program runs, its output captured.
    let g = log(&s, "echo me").await;
    let (status, output) = run_once(&s, &member, g, echo).await;
    assert_eq!(status, "succeeded");
    assert!(output.contains("cache cleared"), "{output}");
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn runs_of_a_dead_server_are_restarted_or_failed_never_left_running(pool: PgPool) {
    // Two runs a server left behind when it died: one had not acted yet, one had.
    let s = setup(pool.clone()).await;
    let (svc, service) = service().await;
    let mut spec = restart(&svc, "Restart checkout");
    spec["mode"] = json!("manual");
    let playbook = save(&s, spec.clone()).await;
    let fresh = log(&s, "connection refused by the primary").await;
    let acted = log(&s, "connection refused by the replica").await;
    assert_ne!(fresh, acted);
    let insert = |group: i64, acted: bool| {
        let (pool, spec) = (pool.clone(), spec.clone());
        async move {
            let id: i64 = sqlx::query_scalar(
                r#"INSERT INTO fix_runs (tenant_id, group_id, playbook_id, playbook_name, spec, trigger, triggered_by,
                       service, fingerprint, status, worker, lease_until, acted, started_at)
                   SELECT tenant_id, id, $2, 'Restart checkout', $3, 'user', 'test', service, fingerprint, 'running',
                          'dead-worker', now() - interval '1 minute', $4, now() - interval '2 minutes'
                   FROM error_groups WHERE id = $1 RETURNING id"#,
            )
            .bind(group)
            .bind(playbook)
            .bind(&spec)
            .bind(acted)
            .fetch_one(&pool)
            .await
            .unwrap();
            if acted {
                sqlx::query(
                    "INSERT INTO fix_run_steps (tenant_id, run_id, seq, phase, description, status) SELECT tenant_id, id, 1, 'act', 'POST …/admin/restart', 'running' FROM fix_runs WHERE id = $1",
                )
                .bind(id)
                .execute(&pool)
                .await
                .unwrap();
            }
            id
        }
    };
    let not_acted = insert(fresh, false).await;
    let half_done = insert(acted, true).await;
    // The engine's sweeper (every 5 s) finds both.
    assert_eq!(
        wait_run(&pool, not_acted, &["succeeded", "failed"]).await,
        "succeeded"
    );
    assert_eq!(
        wait_run(&pool, half_done, &["failed", "succeeded"]).await,
        "failed"
    );
    assert_eq!(
        service.restarts.load(Ordering::SeqCst),
        1,
        "only the run that had not acted ran again"
    );
    let (reason, step): (String, String) = sqlx::query_as(
        "SELECT r.reason, s.status FROM fix_runs r JOIN fix_run_steps s ON s.run_id = r.id AND s.seq = 1 WHERE r.id = $1",
    )
    .bind(half_done)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(reason.contains("server running it stopped"), "{reason}");
    assert_eq!(step, "failed");
    let stuck: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM fix_runs WHERE status IN ('running', 'verifying')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stuck, 0);
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn a_resolution_is_saved_as_a_playbook(pool: PgPool) {
    let s = setup(pool).await;
    ok_json(
        s.app
            .agent(
                Some(&s.key),
                "register_agent",
                json!({ "name": "db-agent" }),
            )
            .await,
    )
    .await;
    let group = log(&s, "pool exhausted after 30 s on shard 7").await;
    let draft = |g: i64| {
        let req = s
            .admin
            .post(s.app.url("/api/ui/playbooks/list"))
            .json(&json!({ "from_group": g }));
        async move { req.send().await.unwrap() }
    };
    // Not resolved yet: nothing to learn from.
    expect_error(draft(group).await, StatusCode::CONFLICT, "conflict").await;
    // The agent reset the pool on this error, then a person resolved it.
    sqlx::query(
        "INSERT INTO agent_tasks (tenant_id, agent_id, task, group_id, status, created_by, finished_at)
         SELECT tenant_id, id, 'reset_pool', $1, 'succeeded', 'test', now() FROM agents WHERE name = 'db-agent'",
    )
    .bind(group)
    .execute(&s.app.pool)
    .await
    .unwrap();
    // A task still open about the error shows as what the agent is working on.
    sqlx::query(
        "INSERT INTO agent_tasks (tenant_id, agent_id, task, group_id, created_by)
         SELECT tenant_id, id, 'clear_cache', $1, 'fix run #77' FROM agents WHERE name = 'db-agent'",
    )
    .bind(group)
    .execute(&s.app.pool)
    .await
    .unwrap();
    let agents = ok_json(
        s.admin
            .post(s.app.url("/api/ui/agents"))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let working = &agents["agents"][0]["assigned"][0];
    assert_eq!(working[0], group);
    assert!(
        working[1]
            .as_str()
            .unwrap()
            .starts_with("clear_cache (fix run #77): PoolTimeout"),
        "{working}"
    );
    sqlx::query("DELETE FROM agent_tasks WHERE task = 'clear_cache'")
        .execute(&s.app.pool)
        .await
        .unwrap();
    ok_json(
        s.app
            .call(
                &s.admin,
                "errors/resolve",
                &[
                    ("id", &group.to_string()),
                    ("notes", "reset the pool <b>again</b>"),
                ],
            )
            .await,
    )
    .await;
    let list = ok_json(draft(group).await).await;
    assert_eq!(list["draft"]["group_id"], group);
    let spec: Value = serde_json::from_str(list["draft"]["json"].as_str().unwrap()).unwrap();
    assert_eq!(
        spec["actions"],
        json!([{ "type": "agent_task", "task": "reset_pool", "agent": "db-agent", "timeout_secs": 120 }])
    );
    assert_eq!(
        (&spec["mode"], &spec["enabled"]),
        (&json!("manual"), &json!(false))
    );
    assert!(
        spec["description"]
            .as_str()
            .unwrap()
            .contains("reset the pool <b>again</b>"),
        "{spec}"
    );
    let pattern = regex::Regex::new(&format!(
        "(?i){}",
        spec["match"]["message_pattern"].as_str().unwrap()
    ))
    .unwrap();
    assert!(pattern.is_match("pool exhausted after 12 s on shard 3"));
    // It saves as it is, and then matches the error.
    ok_json(
        s.app
            .call(&s.admin, "playbooks/save", &[("spec", &spec.to_string())])
            .await,
    )
    .await;
    let test = ok_json(
        s.admin
            .post(s.app.url("/api/ui/playbooks/list"))
            .json(&json!({ "test": group }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(test["test"]["matches"][0][1], spec["name"]);
    // Other companies' groups are not found.
    s.app.tenant("globex").await;
    let other = s
        .app
        .member_client("a@globex.test", "globex", "admin")
        .await;
    expect_error(
        other
            .post(s.app.url("/api/ui/playbooks/list"))
            .json(&json!({ "from_group": group }))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}
