//! The dashboard's error functions (`/api/ui/errors/*`) and pages: roles, tenant isolation,
//! the resolution workflow, and escaping of whatever clients sent.

mod common;

use common::{TestApp, browser, expect_error, spawn_app};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

/// Logs an error into `slug` through the seed REST API and returns its group id.
async fn log(app: &TestApp, slug: &str, message: &str) -> i64 {
    let key = server::commands::create_api_key(&app.pool, slug, "bot", "ingest")
        .await
        .unwrap();
    let res: Value = reqwest::Client::new()
        .post(app.url("/api/errors/log"))
        .bearer_auth(key)
        .json(&json!({
            "service": "checkout",
            "severity": "error",
            "error_type": "ConnectionError",
            "message": message,
            "tags": { "region": "<b>eu</b>" },
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    res["group_id"].as_i64().unwrap()
}

async fn json_call(app: &TestApp, client: &Client, name: &str, body: Value) -> reqwest::Response {
    client
        .post(app.url(&format!("/api/ui/{name}")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn feed_and_group_are_scoped_to_the_current_company(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let ours = log(&app, "acme", "connection refused to db:5432").await;
    let theirs = log(&app, "globex", "globex secret outage").await;
    let viewer = app
        .member_client("viewer@acme.test", "acme", "viewer")
        .await;

    let feed: Value = json_call(&app, &viewer, "errors/feed", json!({ "query": {} }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(feed["list"]["total"], 1, "{feed}");
    assert_eq!(feed["list"]["errors"][0]["id"], ours);
    assert_eq!(feed["has_any"], true);
    assert!(
        feed["ingest_url"]
            .as_str()
            .unwrap()
            .ends_with("/api/errors/log")
    );
    let spark = &feed["sparklines"][0];
    assert_eq!(spark[0], ours, "a sparkline for the listed group");
    let counts: Vec<i64> = spark[1]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_i64().unwrap())
        .collect();
    assert_eq!(counts.len(), 24);
    assert_eq!(counts.iter().sum::<i64>(), 1);

    let group: Value = json_call(&app, &viewer, "errors/group", json!({ "id": ours }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(group["group"]["id"], ours);
    assert_eq!(group["can_act"], false, "viewers see no actions");
    let hourly = group["hourly"].as_array().unwrap();
    assert_eq!(hourly.len(), 48, "one bar per hour");
    let recent = hourly[46][1].as_i64().unwrap() + hourly[47][1].as_i64().unwrap();
    assert_eq!(
        recent, 1,
        "the newest hour holds the event just sent (or the one before, at an hour's turn)"
    );
    assert_eq!(
        hourly.iter().map(|h| h[1].as_i64().unwrap()).sum::<i64>(),
        1
    );

    // Another company's group: the same answer as an id that does not exist.
    expect_error(
        json_call(&app, &viewer, "errors/group", json!({ "id": theirs })).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let page = viewer
        .get(app.url(&format!("/errors/{theirs}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(!page.text().await.unwrap().contains("globex secret"));

    // Signed out: 401, never data.
    expect_error(
        json_call(&app, &browser(), "errors/feed", json!({ "query": {} })).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn members_resolve_reopen_and_comment_viewers_cannot(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let id = log(&app, "acme", "disk full").await;
    let theirs = log(&app, "globex", "disk full").await;
    let member = app.member_client("dev@acme.test", "acme", "member").await;
    let viewer = app
        .member_client("viewer@acme.test", "acme", "viewer")
        .await;
    let id_s = id.to_string();

    for (name, form) in [
        (
            "errors/resolve",
            vec![("id", id_s.as_str()), ("notes", "x")],
        ),
        ("errors/reopen", vec![("id", id_s.as_str())]),
        (
            "errors/comment",
            vec![("id", id_s.as_str()), ("notes", "x")],
        ),
    ] {
        expect_error(
            app.call(&viewer, name, &form).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    let theirs_s = theirs.to_string();
    for (name, form) in [
        ("errors/resolve", vec![("id", theirs_s.as_str())]),
        ("errors/reopen", vec![("id", theirs_s.as_str())]),
        (
            "errors/comment",
            vec![("id", theirs_s.as_str()), ("notes", "hi")],
        ),
    ] {
        expect_error(
            app.call(&member, name, &form).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }

    let resolved = app
        .call(
            &member,
            "errors/resolve",
            &[("id", &id_s), ("notes", "freed space on /var")],
        )
        .await;
    assert_eq!(resolved.status(), StatusCode::OK);
    expect_error(
        app.call(&member, "errors/comment", &[("id", &id_s), ("notes", "  ")])
            .await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    assert_eq!(
        app.call(
            &member,
            "errors/comment",
            &[("id", &id_s), ("notes", "watching it")]
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.call(&member, "errors/reopen", &[("id", &id_s)])
            .await
            .status(),
        StatusCode::OK
    );
    expect_error(
        app.call(&member, "errors/reopen", &[("id", &id_s)]).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    let group: Value = json_call(&app, &member, "errors/group", json!({ "id": id }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(group["can_act"], true);
    assert_eq!(group["group"]["status"], "unresolved");
    let kinds: Vec<&str> = group["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["reopened", "commented", "resolved", "first_seen"]);
    assert_eq!(group["activity"][2]["notes"], "freed space on /var");
    assert_eq!(group["activity"][2]["actor"], "user:dev@acme.test");

    // The feed's "open" default hides resolved groups and finds them under "resolved".
    app.call(&member, "errors/resolve", &[("id", &id_s)]).await;
    let open: Value = json_call(
        &app,
        &member,
        "errors/feed",
        json!({ "query": { "status": "open" } }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(open["list"]["total"], 0);
    let done: Value = json_call(
        &app,
        &member,
        "errors/feed",
        json!({ "query": { "status": "resolved" }, "range": "24h" }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(done["list"]["total"], 1);
    expect_error(
        json_call(
            &app,
            &member,
            "errors/feed",
            json!({ "query": {}, "range": "1y" }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn pages_render_what_clients_sent_escaped(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    let id = log(
        &app,
        "acme",
        "<script>alert('x')</script> & <img src=x onerror=alert(1)>",
    )
    .await;
    let viewer = app
        .member_client("viewer@acme.test", "acme", "viewer")
        .await;
    for path in ["/errors".to_owned(), format!("/errors/{id}")] {
        let res = viewer.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let html = res.text().await.unwrap();
        assert!(!html.contains("<script>alert"), "{path}: raw script tag");
        assert!(!html.contains("<img src=x"), "{path}: raw img tag");
        assert!(
            html.contains("&lt;script&gt;alert"),
            "{path}: escaped text shown"
        );
    }
    let detail = viewer
        .get(app.url(&format!("/errors/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(detail.contains("&lt;b&gt;eu&lt;/b&gt;"), "tags are escaped");
    assert!(
        !detail.contains("id=\"resolve-form\""),
        "no actions for a viewer"
    );
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn ignored_groups_reopen_by_count_or_time_and_forever_stays(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    let by_count = log(&app, "acme", "flaky probe A").await;
    let member = app.member_client("dev@acme.test", "acme", "member").await;
    let viewer = app
        .member_client("viewer@acme.test", "acme", "viewer")
        .await;
    let id = by_count.to_string();
    expect_error(
        app.call(
            &viewer,
            "errors/ignore",
            &[("id", &id), ("mode", "forever")],
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    for (mode, count, field) in [
        ("count", "0", "count"),
        ("count", "x", "count"),
        ("1y", "", "mode"),
    ] {
        let body = expect_error(
            app.call(
                &member,
                "errors/ignore",
                &[("id", &id), ("mode", mode), ("count", count)],
            )
            .await,
            StatusCode::BAD_REQUEST,
            "invalid",
        )
        .await;
        assert_eq!(body["field"], field);
    }
    let ok = app
        .call(
            &member,
            "errors/ignore",
            &[("id", &id), ("mode", "count"), ("count", "2")],
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let status = |id: i64| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT status FROM error_groups WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(status(by_count).await, "ignored");
    log(&app, "acme", "flaky probe A").await;
    assert_eq!(
        status(by_count).await,
        "ignored",
        "one more event is not enough"
    );
    log(&app, "acme", "flaky probe A").await;
    assert_eq!(
        status(by_count).await,
        "unresolved",
        "the second one reopens it"
    );
    let last: (String, String) = sqlx::query_as(
        "SELECT kind, actor FROM activity WHERE group_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(by_count)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(last, ("reopened".to_owned(), "system".to_owned()));

    // For a while: the sweeper reopens it once the time has passed, even without events.
    let by_time = log(&app, "acme", "flaky probe B").await;
    let forever = log(&app, "acme", "known noise C").await;
    app.call(
        &member,
        "errors/ignore",
        &[("id", &by_time.to_string()), ("mode", "1h")],
    )
    .await;
    app.call(
        &member,
        "errors/ignore",
        &[("id", &forever.to_string()), ("mode", "forever")],
    )
    .await;
    assert_eq!(
        app::errors::read::end_expired_ignores(&app.pool)
            .await
            .unwrap(),
        0
    );
    sqlx::query(
        "UPDATE error_groups SET ignored_until = now() - interval '1 second' WHERE id = $1",
    )
    .bind(by_time)
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        app::errors::read::end_expired_ignores(&app.pool)
            .await
            .unwrap(),
        1
    );
    assert_eq!(status(by_time).await, "unresolved");
    for _ in 0..3 {
        log(&app, "acme", "known noise C").await;
    }
    assert_eq!(status(forever).await, "ignored", "forever means forever");
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn groups_are_assigned_only_to_this_companys_members_and_agents(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let id = log(&app, "acme", "queue stuck").await;
    let theirs = log(&app, "globex", "queue stuck").await;
    let member = app.member_client("dev@acme.test", "acme", "member").await;
    let outsider = app
        .user("ops@globex.test", Some("globex"), "member", false)
        .await;
    let key = server::commands::create_api_key(&app.pool, "acme", "a", "ingest")
        .await
        .unwrap();
    let agent: Value = app
        .agent(Some(&key), "register_agent", json!({ "name": "fixer-1" }))
        .await
        .json()
        .await
        .unwrap();
    let agent_id = agent["agent_id"].as_i64().unwrap();
    let gkey = server::commands::create_api_key(&app.pool, "globex", "g", "ingest")
        .await
        .unwrap();
    let foreign: Value = app
        .agent(
            Some(&gkey),
            "register_agent",
            json!({ "name": "their-bot" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let id_s = id.to_string();

    let group: Value = json_call(&app, &member, "errors/group", json!({ "id": id }))
        .await
        .json()
        .await
        .unwrap();
    let options: Vec<&str> = group["assignees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        options,
        ["dev@acme.test", "agent fixer-1"],
        "only this company's people and agents"
    );

    for bad in [
        format!("user:{outsider}"),
        format!("agent:{}", foreign["agent_id"]),
        "user:abc".to_owned(),
        "team:1".to_owned(),
    ] {
        expect_error(
            app.call(
                &member,
                "errors/assign",
                &[("id", &id_s), ("assignee", &bad)],
            )
            .await,
            StatusCode::BAD_REQUEST,
            "invalid",
        )
        .await;
    }
    expect_error(
        app.call(
            &member,
            "errors/assign",
            &[("id", &theirs.to_string()), ("assignee", "")],
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let to_agent = format!("agent:{agent_id}");
    assert_eq!(
        app.call(
            &member,
            "errors/assign",
            &[("id", &id_s), ("assignee", &to_agent)]
        )
        .await
        .status(),
        StatusCode::OK
    );
    let group: Value = json_call(&app, &member, "errors/group", json!({ "id": id }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(group["assignee"]["label"], "agent fixer-1");
    let feed: Value = json_call(&app, &member, "errors/feed", json!({ "query": {} }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        feed["list"]["errors"][0]["assignee"], "agent fixer-1",
        "the feed shows it too"
    );
    assert_eq!(group["activity"][0]["kind"], "assigned");
    assert_eq!(group["activity"][0]["notes"], "to agent fixer-1");
    app.call(&member, "errors/assign", &[("id", &id_s), ("assignee", "")])
        .await;
    let group: Value = json_call(&app, &member, "errors/group", json!({ "id": id }))
        .await
        .json()
        .await
        .unwrap();
    assert!(group["assignee"].is_null());
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn the_live_stream_tells_a_company_only_about_its_own_groups(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    expect_error(
        browser().get(app.url("/api/stream")).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let viewer = app
        .member_client("viewer@acme.test", "acme", "viewer")
        .await;
    let mut res = viewer.get(app.url("/api/stream")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");

    // The handler subscribed before answering: both commits below reach it.
    let theirs = log(&app, "globex", "their outage").await;
    let ours = log(&app, "acme", "our outage").await;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !text.contains("event: groups") {
        let chunk = tokio::time::timeout_at(deadline, res.chunk())
            .await
            .expect("a groups event within 10 s")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let data = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("a data line");
    let event: Value = serde_json::from_str(data).unwrap();
    assert_eq!(event["g"], json!([ours]), "the first event is ours: {text}");
    assert_ne!(ours, theirs);
}
