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
