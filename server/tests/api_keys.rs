//! API keys: create, authenticate, revoke, and the CLI's key.

mod common;

use common::{expect_error, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn created_keys_authenticate_until_revoked(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    let admin = app.member_client("admin@acme.test", "acme", "admin").await;

    let created: Value = app
        .call(
            &admin,
            "api_keys/create",
            &[
                ("name", "billing-worker"),
                ("scope_ingest", "on"),
                ("scope_read", "on"),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("flt_"));
    assert_eq!(created["key"]["scopes"], json!(["ingest", "read"]));

    // Only the hash is stored.
    let stored: Vec<String> = sqlx::query_scalar("SELECT key_hash FROM api_keys")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], secret);
    assert!(!stored[0].contains(&secret[4..]));

    let who: Value = app
        .agent(Some(&secret), "whoami", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(who["tenant_slug"], "acme");
    assert_eq!(who["key_name"], "billing-worker");

    // The list shows the prefix and that it was used, never the secret.
    // The last use is recorded off the request path: wait for it (at most 5 s).
    let mut list: Value = Value::Null;
    for _ in 0..50 {
        list = app
            .call(&admin, "api_keys/list", &[])
            .await
            .json()
            .await
            .unwrap();
        if list["keys"][0]["last_used_at"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        list["just_created"].is_null(),
        "script calls never keep the secret in the session"
    );
    let listed = &list["keys"][0];
    assert!(secret.starts_with(listed["prefix"].as_str().unwrap()));
    assert!(listed["last_used_at"].is_string());
    assert!(!list.to_string().contains(&secret));

    let id = created["key"]["id"].to_string();
    assert_eq!(
        app.call(&admin, "api_keys/revoke", &[("id", &id)])
            .await
            .status(),
        StatusCode::OK
    );
    let body = expect_error(
        app.agent(Some(&secret), "whoami", json!({})).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("revoked"));
    let audit: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action IN ('api_key.create', 'api_key.revoke')",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(audit, 2);
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn bad_keys_are_refused_with_401(pool: PgPool) {
    let app = spawn_app(pool).await;
    expect_error(
        app.agent(None, "whoami", json!({})).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        app.agent(Some("flt_doesnotexist"), "whoami", json!({}))
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        app.agent(Some("garbage"), "whoami", json!({})).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/whoami"))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn the_cli_key_authenticates(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    let secret =
        server::commands::create_api_key(&app.pool, "acme", "deploy-bot", "ingest,read,write,fix")
            .await
            .unwrap();
    let who: Value = app
        .agent(Some(&secret), "whoami", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(who["scopes"], json!(["ingest", "read", "write", "fix"]));
    assert!(
        server::commands::create_api_key(&app.pool, "acme", "x", "ingest,root")
            .await
            .is_err()
    );
    assert!(
        server::commands::create_api_key(&app.pool, "nope", "x", "ingest")
            .await
            .is_err()
    );
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn key_creation_validates_its_fields(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    let admin = app.member_client("admin@acme.test", "acme", "admin").await;
    let body = expect_error(
        app.call(&admin, "api_keys/create", &[("name", "  ")]).await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    assert_eq!(body["field"], "name");
    let body = expect_error(
        app.call(&admin, "api_keys/create", &[("name", "no scopes")])
            .await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    assert_eq!(body["field"], "scopes");
    let long = "x".repeat(101);
    let body = expect_error(
        app.call(
            &admin,
            "api_keys/create",
            &[("name", &long), ("scope_read", "on")],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    assert_eq!(body["field"], "name");
    expect_error(
        app.call(&admin, "api_keys/revoke", &[("id", "abc")]).await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
}
