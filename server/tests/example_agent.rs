//! `examples/agent.py` against a real Faultline and a flaky service: it registers, logs the
//! failed health check with its stack trace, and runs the restart task it is handed.

mod common;

use axum::Router;
use axum::routing::{get, post};
use common::spawn_app;
use reqwest::StatusCode;
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A service that fails its health check until it is restarted.
async fn flaky_service() -> (String, Arc<AtomicBool>) {
    let healthy = Arc::new(AtomicBool::new(false));
    let (h1, h2) = (healthy.clone(), healthy.clone());
    let app = Router::new()
        .route(
            "/health",
            get(move || async move {
                if h1.load(Ordering::SeqCst) {
                    (StatusCode::OK, "ok")
                } else {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "database connection refused",
                    )
                }
            }),
        )
        .route(
            "/admin/restart",
            post(move || async move {
                h2.store(true, Ordering::SeqCst);
                "restarted"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), healthy)
}

async fn run_agent(base: &str, key: &str, service: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = tokio::process::Command::new("python3")
        .current_dir(&root)
        .args(["examples/agent.py", "--once", "--name", "py-agent"])
        .args(["--url", base, "--key", key, "--service", service])
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "agent.py failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn the_example_agent_reports_and_fixes(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    let key = server::commands::create_api_key(&app.pool, "acme", "agent", "ingest,fix")
        .await
        .unwrap();
    let (service, healthy) = flaky_service().await;

    let out = run_agent(&app.base, &key, &service).await;
    assert!(out.contains("registered py-agent"), "{out}");
    assert!(out.contains("logged: health check failed"), "{out}");
    let (agent_id, metrics): (i64, serde_json::Value) =
        sqlx::query_as("SELECT id, metrics FROM agents WHERE name = 'py-agent'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(metrics["failed_checks"], 1, "{metrics}");
    let (error_type, stack, agent): (String, String, Option<i64>) = sqlx::query_as(
        "SELECT g.error_type, st.trace, e.agent_id FROM error_events e JOIN error_groups g ON g.id = e.group_id LEFT JOIN stack_traces st ON st.tenant_id = e.tenant_id AND st.hash = e.stack_hash",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(error_type, "ServiceUnhealthy");
    assert!(
        stack.starts_with("Traceback (most recent call last)") && stack.contains("in check"),
        "{stack}"
    );
    assert_eq!(agent, Some(agent_id));

    // A member hands it the restart; its next round runs it and reports back.
    let member = app.member_client("m@acme.test", "acme", "member").await;
    let task = app
        .call(
            &member,
            "agents/task",
            &[
                ("agent_id", &agent_id.to_string()),
                ("task", "restart_service"),
            ],
        )
        .await;
    assert_eq!(task.status(), StatusCode::OK);
    let out = run_agent(&app.base, &key, &service).await;
    assert!(out.contains("restart_service: ok"), "{out}");
    assert!(healthy.load(Ordering::SeqCst), "the service was restarted");
    let (status, output): (String, String) =
        sqlx::query_as("SELECT status, output FROM agent_tasks")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(status, "succeeded");
    assert!(output.contains("POST /admin/restart → 200"), "{output}");

    // Healthy now: nothing more is logged.
    run_agent(&app.base, &key, &service).await;
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM error_events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(events, 2, "one failed check per round until the restart");
}
