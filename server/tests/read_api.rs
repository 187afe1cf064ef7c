//! Reading, resolving, agents and health: agent functions and the seed REST API over one
//! service layer, always within the caller's tenant.

mod common;

use common::{TestApp, expect_error, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

async fn key(app: &TestApp, slug: &str, scopes: &str) -> String {
    server::commands::create_api_key(&app.pool, slug, "bot", scopes)
        .await
        .unwrap()
}

async fn log(
    app: &TestApp,
    key: &str,
    service: &str,
    severity: &str,
    error_type: &str,
    message: &str,
    agent: Option<&str>,
) -> Value {
    let mut body = json!({ "service": service, "severity": severity, "error_type": error_type, "message": message });
    if let Some(a) = agent {
        body["agent"] = json!(a);
    }
    let res = reqwest::Client::new()
        .post(app.url("/api/errors/log"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

async fn get(app: &TestApp, key: &str, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn list_filters_search_and_pages(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    let k = key(&app, "acme", "ingest,read,write").await;
    log(
        &app,
        &k,
        "billing",
        "critical",
        "OutOfMemoryError",
        "heap exhausted in invoice renderer",
        Some("w1"),
    )
    .await;
    for _ in 0..3 {
        log(
            &app,
            &k,
            "billing",
            "error",
            "ConnectionError",
            "connection refused by ledger",
            Some("w2"),
        )
        .await;
    }
    log(
        &app,
        &k,
        "search",
        "warning",
        "TimeoutError",
        "query took too long",
        None,
    )
    .await;

    let all: Value = get(&app, &k, "/api/errors").await.json().await.unwrap();
    assert_eq!(all["total"], 3);
    assert_eq!(all["errors"].as_array().unwrap().len(), 3);
    let first = &all["errors"][0];
    for field in [
        "id",
        "timestamp",
        "service",
        "severity",
        "error_type",
        "category",
        "message",
        "occurrences",
        "first_seen",
        "last_seen",
        "status",
        "resolved",
        "resolution_notes",
        "auto_fix_attempted",
        "auto_fix_successful",
    ] {
        assert!(first.get(field).is_some(), "missing {field}: {first}");
    }

    let errs: Value = get(&app, &k, "/api/errors?severity=critical")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(errs["total"], 1);
    assert_eq!(errs["errors"][0]["error_type"], "OutOfMemoryError");
    let by_service: Value = get(&app, &k, "/api/errors?service=search&resolved=false")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_service["total"], 1);
    let searched: Value = get(&app, &k, "/api/errors?q=ledger")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(searched["total"], 1);
    assert_eq!(searched["errors"][0]["occurrences"], 3);
    let by_agent: Value = get(&app, &k, "/api/errors?agent=w1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_agent["total"], 1);
    let by_count: Value = get(&app, &k, "/api/errors?sort=count&limit=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_count["errors"][0]["occurrences"], 3);

    // Keyset pages visit every group exactly once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/errors?limit=1&cursor={c}"),
            None => "/api/errors?limit=1".to_owned(),
        };
        let page: Value = get(&app, &k, &path).await.json().await.unwrap();
        assert_eq!(page["total"], 3);
        seen.extend(
            page["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 3);

    // The agent function takes the same filters.
    let listed: Value = app
        .agent(Some(&k), "list_errors", json!({ "severity": "error" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["total"], 1);

    for (query, field) in [
        ("severity=bogus", "severity"),
        ("limit=0", "limit"),
        ("cursor=zzz", "cursor"),
        ("sort=random", "sort"),
        ("limit=abc", "query"),
        ("since=yesterday", "since"),
    ] {
        let body = expect_error(
            get(&app, &k, &format!("/api/errors?{query}")).await,
            StatusCode::BAD_REQUEST,
            "invalid",
        )
        .await;
        assert_eq!(body["field"], field, "{query}");
    }
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn get_and_resolve_by_group_or_event_id(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    let k = key(&app, "acme", "ingest,read,write").await;
    let stored = log(
        &app,
        &k,
        "billing",
        "error",
        "ConnectionError",
        "connection refused",
        Some("w1"),
    )
    .await;
    let group = stored["group_id"].as_i64().unwrap();

    let detail: Value = get(&app, &k, &format!("/api/errors/{group}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["id"], group);
    assert_eq!(detail["latest_event"]["agent"], "w1");
    assert_eq!(detail["recent_events"].as_array().unwrap().len(), 1);
    assert_eq!(detail["activity"][0]["kind"], "first_seen");
    let by_event: Value = get(
        &app,
        &k,
        &format!("/api/errors/{}", stored["id"].as_str().unwrap()),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(by_event["id"], group);

    let res = reqwest::Client::new()
        .post(app.url(&format!("/api/errors/{group}/resolve")))
        .bearer_auth(&k)
        .json(&json!({ "resolution_notes": "raised the pool size" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let resolved: Value = res.json().await.unwrap();
    assert_eq!(resolved["resolved"], true);
    assert_eq!(resolved["resolution_notes"], "raised the pool size");
    assert_eq!(resolved["resolved_by"], "api_key:bot");
    let detail: Value = app
        .agent(Some(&k), "get_error", json!({ "id": group }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["activity"][0]["kind"], "resolved");
    assert_eq!(detail["activity"][0]["notes"], "raised the pool size");

    let res = app
        .agent(
            Some(&k),
            "resolve_error",
            json!({ "id": group, "resolution_notes": "again" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // Scopes: a read-only key cannot resolve; an ingest-only key cannot read.
    let reader = key(&app, "acme", "read").await;
    expect_error(
        app.agent(Some(&reader), "resolve_error", json!({ "id": group }))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let ingester = key(&app, "acme", "ingest").await;
    expect_error(
        get(&app, &ingester, "/api/errors").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        get(&app, &k, "/api/errors/999999").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        get(&app, &k, "/api/errors/not-an-id").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn other_tenants_ids_are_404_everywhere(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("alpha").await;
    app.tenant("beta").await;
    let a = key(&app, "alpha", "ingest,read,write").await;
    let b = key(&app, "beta", "ingest,read,write").await;
    let stored = log(
        &app,
        &b,
        "billing",
        "error",
        "ConnectionError",
        "beta's secret error",
        Some("beta-agent"),
    )
    .await;
    let group = stored["group_id"].as_i64().unwrap();
    let event = stored["id"].as_str().unwrap().to_owned();

    expect_error(
        get(&app, &a, &format!("/api/errors/{group}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        get(&app, &a, &format!("/api/errors/{event}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = reqwest::Client::new()
        .post(app.url(&format!("/api/errors/{group}/resolve")))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    expect_error(
        app.agent(Some(&a), "get_error", json!({ "id": group }))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.agent(Some(&a), "resolve_error", json!({ "id": group }))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.agent(
            Some(&a),
            "get_agent_errors",
            json!({ "agent": "beta-agent" }),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.agent(Some(&a), "heartbeat", json!({ "agent": "beta-agent" }))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let list: Value = get(&app, &a, "/api/errors").await.json().await.unwrap();
    assert_eq!(list["total"], 0);
    let status: String = sqlx::query_scalar("SELECT status FROM error_groups")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "unresolved", "nothing of beta changed");
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn agents_top_errors_and_health(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    let k = key(&app, "acme", "ingest,read").await;

    let reg = app
        .agent(Some(&k), "register_agent", json!({ "name": "deployer", "kind": "devops", "version": "1.2.0", "host": "node-1", "capabilities": ["restart_service"], "metadata": { "token": "s3cr3t-value" } }))
        .await;
    assert_eq!(reg.status(), StatusCode::OK);
    let reg: Value = reg.json().await.unwrap();
    let again: Value = app
        .agent(
            Some(&k),
            "register_agent",
            json!({ "name": "deployer", "version": "1.3.0" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        again["agent_id"], reg["agent_id"],
        "re-registering updates the same agent"
    );
    let meta: String = sqlx::query_scalar("SELECT metadata::text FROM agents")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(!meta.contains("s3cr3t-value"));
    let hb = app
        .agent(
            Some(&k),
            "heartbeat",
            json!({ "agent": "deployer", "status": "busy", "metrics": { "cpu": 0.7 } }),
        )
        .await;
    assert_eq!(hb.status(), StatusCode::OK);
    expect_error(
        app.agent(Some(&k), "heartbeat", json!({ "agent": "ghost" }))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.agent(Some(&k), "register_agent", json!({ "name": " " }))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;

    for _ in 0..2 {
        log(
            &app,
            &k,
            "billing",
            "critical",
            "OOM",
            "out of memory",
            Some("deployer"),
        )
        .await;
    }
    log(&app, &k, "billing", "warning", "Slow", "slow query", None).await;

    let top: Value = app
        .agent(
            Some(&k),
            "get_top_errors",
            json!({ "limit": 1, "hours": 24 }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(top.as_array().unwrap().len(), 1);
    assert_eq!(top[0]["recent_occurrences"], 2);
    let mine: Value = app
        .agent(
            Some(&k),
            "get_agent_errors",
            json!({ "agent": "deployer", "hours": 24 }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 1);
    expect_error(
        app.agent(Some(&k), "get_top_errors", json!({ "limit": 0 }))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;

    let health: Value = app
        .agent(Some(&k), "get_system_health", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(health["total_groups"], 2);
    assert_eq!(health["total_events"], 3);
    assert_eq!(health["unresolved_by_severity"]["critical"], 1);
    assert_eq!(health["events_last_hour"], 3);
    assert_eq!(health["agents_online"], 1);
    assert_eq!(health["top_categories"][0]["groups"], 1);
}
