//! Health, readiness, request ids, limits and error pages.

mod common;

use common::{browser, expect_error, spawn_app};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn health_and_readiness(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let res = reqwest::get(app.url("/health")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers().get("x-request-id").is_some(),
        "every response carries a request id"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["db"], "ok");
    assert!(body["version"].is_string() && body["uptime_s"].is_u64());

    assert_eq!(
        reqwest::get(app.url("/ready")).await.unwrap().status(),
        StatusCode::OK
    );
    // Readiness fails when migrations are missing.
    sqlx::query("DELETE FROM _sqlx_migrations")
        .execute(&pool)
        .await
        .unwrap();
    expect_error(
        reqwest::get(app.url("/ready")).await.unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn unknown_routes_get_real_404s(pool: PgPool) {
    let app = spawn_app(pool).await;
    let res = reqwest::get(app.url("/no/such/page")).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let html = res.text().await.unwrap();
    assert!(html.contains("Page not found"), "{html}");
    expect_error(
        reqwest::get(app.url("/api/nothing-here")).await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/no_such_function"))
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn oversized_bodies_get_413(pool: PgPool) {
    let app = spawn_app(pool).await;
    let big = "x".repeat(2 * 1024 * 1024);
    let res = browser()
        .post(app.url("/api/ui/login"))
        .form(&[("email", big.as_str()), ("password", "p")])
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn malformed_json_to_agent_functions_is_a_400(pool: PgPool) {
    let app = spawn_app(pool).await;
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/whoami"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "invalid").await;
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn prometheus_metrics_count_requests_events_and_fixes(pool: PgPool) {
    let app = common::spawn_app_with(
        pool,
        app::state::Settings {
            metrics_token: Some("scrape-me".into()),
            ..Default::default()
        },
    )
    .await;
    app.tenant("acme").await;
    let key = server::commands::create_api_key(&app.pool, "acme", "agent", "ingest")
        .await
        .unwrap();
    let client = reqwest::Client::new();
    for i in 0..3 {
        let res = client
            .post(app.url("/api/errors/log"))
            .bearer_auth(&key)
            .json(&serde_json::json!({ "service": "api", "severity": "error", "error_type": format!("Boom{}", ["Alpha", "Beta", "Gamma"][i]), "message": "boom" }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let res = client
        .post(app.url("/api/errors/log"))
        .bearer_auth(&key)
        .json(&serde_json::json!({ "service": "api", "severity": "loud", "error_type": "Boom", "message": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    client
        .get(app.url("/no/such/page/for/tenant-42"))
        .send()
        .await
        .unwrap();

    // The token is required when configured.
    expect_error(
        client.get(app.url("/metrics")).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let res = client
        .get(app.url("/metrics"))
        .bearer_auth("scrape-me")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = res.text().await.unwrap();
    let value = |prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
    };
    // Counters are per process (other tests share it), so at least what this test did.
    assert!(value("faultline_events_ingested_total ") >= 3.0);
    assert!(value("faultline_groups_created_total ") >= 3.0);
    assert!(value("faultline_events_rejected_total{reason=\"invalid\"}") >= 1.0);
    assert!(
        value(
            "faultline_http_request_duration_seconds_count{route=\"/api/errors/log\",method=\"POST\",status=\"201\"}"
        ) >= 3.0
    );
    assert!(value("faultline_ingest_batch_size_events_count") >= 3.0);
    assert_eq!(value("faultline_fix_runs{status=\"queued\"}"), 0.0);
    assert_eq!(value("faultline_agent_tasks{status=\"pending\"}"), 0.0);
    assert!(value("faultline_db_connections{state=\"idle\"}") >= 0.0);
    assert_eq!(value("faultline_ingest_queue_depth "), 0.0);
    assert!(text.contains("# TYPE faultline_http_request_duration_seconds histogram"));
    // No free text or ids in labels: the unknown path is counted as `unmatched`.
    assert!(
        !text.contains("tenant-42") && !text.contains("acme"),
        "{text}"
    );
    assert!(text.contains("route=\"unmatched\""));
}
