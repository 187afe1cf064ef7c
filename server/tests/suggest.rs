//! AI fix suggestions against a local HTTP server that speaks the Anthropic Messages API:
//! the request's shape, the answer shown and cached per fingerprint, the per-minute token
//! budget, upstream failures, roles, tenants, and the "off" state without a key.

mod common;

use app::state::{AiSettings, Settings};
use axum::Json;
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::{TestApp, expect_error, ok_json, spawn_app, spawn_app_with};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

const ANSWER: &str = "Cause: the connection pool is too small for the load.\n\nSteps:\n1. Reset the pool.\n2. Raise its size.\n\n```json\n{\"name\": \"Reset the pool\", \"match\": {\"error_types\": [\"PoolTimeout\"]}, \"actions\": [{\"type\": \"agent_task\", \"task\": \"reset_pool\"}], \"verify\": {\"type\": \"no_recurrence\", \"secs\": 120}, \"risk\": \"low\", \"mode\": \"automatic\", \"enabled\": true}\n```";

/// A Messages API stand-in: checks what a real one would, answers [`ANSWER`] (or a 401 when
/// the error's message asks for it), and counts calls.
async fn messages_api() -> (String, Arc<AtomicU32>) {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let app = Router::new().route(
        "/v1/messages",
        post(move |headers: HeaderMap, Json(body): Json<Value>| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                let user = body["messages"][0]["content"].as_str().unwrap_or("").to_owned();
                let well_formed = header("anthropic-version") == "2023-06-01"
                    && header("content-type").starts_with("application/json")
                    && body["model"] == "claude-test"
                    && body["max_tokens"].as_u64().is_some()
                    && body["system"].as_str().is_some_and(|s| s.contains("never run automatically"))
                    && body["messages"][0]["role"] == "user"
                    && user.contains("Error type: PoolTimeout");
                if header("x-api-key") != "test-key" || user.contains("upstream-fails") {
                    return (
                        StatusCode::UNAUTHORIZED,
                        Json(json!({ "type": "error", "error": { "type": "authentication_error", "message": "invalid x-api-key" } })),
                    );
                }
                if !well_formed {
                    return (
                        StatusCode::BAD_REQUEST,
                        Json(json!({ "type": "error", "error": { "type": "invalid_request_error", "message": format!("unexpected request: {body}") } })),
                    );
                }
                (
                    StatusCode::OK,
                    Json(json!({
                        "id": "msg_test", "type": "message", "role": "assistant", "model": "claude-test",
                        "content": [{ "type": "text", "text": ANSWER }],
                        "stop_reason": "end_turn",
                        "usage": { "input_tokens": 900, "output_tokens": 300 }
                    })),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), calls)
}

async fn log(app: &TestApp, key: &str, message: &str) -> i64 {
    let body = json!({ "service": "db", "severity": "error", "error_type": "PoolTimeout", "message": message,
                       "stack_trace": "Traceback (most recent call last):\n  File \"app.py\", line 3, in query\nPoolTimeout: pool exhausted" });
    ok_json(app.agent(Some(key), "log_error", body).await).await["group_id"]
        .as_i64()
        .unwrap()
}

async fn ask(app: &TestApp, c: &reqwest::Client, group: i64) -> reqwest::Response {
    app.call(c, "suggest/ask", &[("group", &group.to_string())])
        .await
}

async fn state(app: &TestApp, c: &reqwest::Client, group: i64) -> Value {
    ok_json(
        c.post(app.url("/api/ui/suggest/get"))
            .json(&json!({ "group": group }))
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn suggestions_are_asked_cached_budgeted_and_drafted(pool: PgPool) {
    let (api, calls) = messages_api().await;
    let app = spawn_app_with(
        pool,
        Settings {
            ai: Some(AiSettings {
                api_key: "test-key".into(),
                base_url: api,
                model: "claude-test".into(),
                tokens_per_minute: 2400,
                max_tokens: 1500,
            }),
            ..Settings::default()
        },
    )
    .await;
    app.tenant("acme").await;
    let key = server::commands::create_api_key(&app.pool, "acme", "agent", "ingest")
        .await
        .unwrap();
    let member = app.member_client("m@acme.test", "acme", "member").await;
    let viewer = app.member_client("v@acme.test", "acme", "viewer").await;
    let group = log(&app, &key, "pool exhausted after 30 s").await;
    let other = log(&app, &key, "connection pool timed out waiting for a slot").await;
    let failing = log(&app, &key, "upstream-fails for this one").await;

    // Nothing asked yet; viewers cannot ask.
    let s = state(&app, &viewer, group).await;
    assert_eq!(
        (&s["enabled"], &s["suggestion"], &s["can_ask"]),
        (&json!(true), &Value::Null, &json!(false))
    );
    expect_error(
        ask(&app, &viewer, group).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // The AI service failing is a clear 503, and costs nothing of the budget.
    let body = expect_error(
        ask(&app, &member, failing).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("invalid x-api-key"),
        "{body}"
    );
    let spent: i64 = sqlx::query_scalar("SELECT coalesce(sum(tokens), 0)::int8 FROM ai_usage")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(spent, 0);

    // Asked once, then answered from the cache.
    let first = ok_json(ask(&app, &member, group).await).await;
    assert_eq!(
        (&first["cached"], &first["has_playbook"], &first["tokens"]),
        (&json!(false), &json!(true), &json!(1200))
    );
    assert!(
        first["text"]
            .as_str()
            .unwrap()
            .starts_with("Cause: the connection pool")
    );
    let again = ok_json(ask(&app, &member, group).await).await;
    assert_eq!(again["cached"], true);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one failed call and one answered; the repeat was cached"
    );
    let s = state(&app, &viewer, group).await;
    assert_eq!(s["suggestion"]["model"], "claude-test");

    // A second error within the same minute would go over 2,400 tokens: refused, with when.
    let res = ask(&app, &member, other).await;
    assert!(res.headers().contains_key("retry-after"));
    let body = expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("2400 tokens per minute"),
        "{body}"
    );

    // "Create a playbook from this": the answer's playbook, made manual and disabled.
    let list = ok_json(
        member
            .post(app.url("/api/ui/playbooks/list"))
            .json(&json!({ "from_suggestion": group }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let spec: Value = serde_json::from_str(list["draft"]["json"].as_str().unwrap()).unwrap();
    assert_eq!(
        (&spec["name"], &spec["mode"], &spec["enabled"]),
        (&json!("Reset the pool"), &json!("manual"), &json!(false))
    );
    expect_error(
        member
            .post(app.url("/api/ui/playbooks/list"))
            .json(&json!({ "from_suggestion": other }))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Other companies see nothing of it.
    app.tenant("globex").await;
    let spy = app.member_client("a@globex.test", "globex", "admin").await;
    expect_error(
        ask(&app, &spy, group).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        spy.post(app.url("/api/ui/suggest/get"))
            .json(&json!({ "group": group }))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn without_a_key_the_button_explains_how_to_turn_it_on(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    let key = server::commands::create_api_key(&app.pool, "acme", "agent", "ingest")
        .await
        .unwrap();
    let member = app.member_client("m@acme.test", "acme", "member").await;
    let group = log(&app, &key, "pool exhausted").await;
    assert_eq!(state(&app, &member, group).await["enabled"], false);
    let body = expect_error(
        ask(&app, &member, group).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("ANTHROPIC_API_KEY"),
        "{body}"
    );
    // The page says so too.
    let html = member
        .get(app.url(&format!("/errors/{group}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("AI suggestions are off"),
        "the group page explains it"
    );
}
