//! The dashboard beyond the error pages: overview, agents, settings (company, members),
//! bulk actions, stepping through events, the super-admin views and retention — each
//! server function's role and tenant checks, and what its page renders.

mod common;

use common::{TestApp, browser, expect_error, ok_json, spawn_app};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

/// A key with every scope for `slug`.
async fn key(app: &TestApp, slug: &str) -> String {
    server::commands::create_api_key(&app.pool, slug, "bot", "ingest,read,write")
        .await
        .unwrap()
}

/// Logs an event and returns (group id, event id).
async fn log(app: &TestApp, key: &str, body: Value) -> (i64, String) {
    let res = app.agent(Some(key), "log_error", body).await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    (
        v["group_id"].as_i64().unwrap(),
        v["event_id"].as_str().unwrap().to_owned(),
    )
}

fn event(message: &str) -> Value {
    json!({ "service": "checkout", "severity": "error", "error_type": "ConnectionError", "message": message })
}

async fn ui(app: &TestApp, client: &Client, name: &str, body: Value) -> reqwest::Response {
    client
        .post(app.url(&format!("/api/ui/{name}")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn page(client: &Client, url: String) -> (StatusCode, String) {
    let res = client.get(url).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn overview_counts_only_the_current_company(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let acme = key(&app, "acme").await;
    let globex = key(&app, "globex").await;
    let (g, _) = log(&app, &acme, event("<script>alert(1)</script> refused")).await;
    log(&app, &acme, event("<script>alert(1)</script> refused")).await;
    log(&app, &acme, json!({ "service": "api", "severity": "critical", "error_type": "OOM", "message": "out of memory" })).await;
    for i in 0..5 {
        log(&app, &globex, event(&format!("globex outage {i}"))).await;
    }
    let viewer = app.member_client("v@acme.test", "acme", "viewer").await;

    let o = ok_json(ui(&app, &viewer, "overview", json!({})).await).await;
    assert_eq!(o["events_24h"], 3, "{o}");
    assert_eq!(o["unresolved"], 2);
    assert_eq!(o["new_groups_24h"], 2);
    assert_eq!(o["has_any"], true);
    assert_eq!(o["range"], "24h");
    assert_eq!(
        o["chart_totals"],
        json!([1, 2, 0, 0]),
        "critical, error, warning, info"
    );
    assert!(o["chart_svg"].as_str().unwrap().starts_with("<svg"));
    assert_eq!(o["top"][0]["id"], g, "the most frequent group first");
    let kinds: Vec<&str> = o["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["first_seen", "first_seen"]);

    for range in ["7d", "30d"] {
        let o = ok_json(ui(&app, &viewer, "overview", json!({ "range": range })).await).await;
        assert_eq!(o["chart_totals"], json!([1, 2, 0, 0]), "{range}");
    }
    expect_error(
        ui(&app, &viewer, "overview", json!({ "range": "1y" })).await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    expect_error(
        ui(&app, &browser(), "overview", json!({})).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // The page: the chart drawn on the server, client text escaped, no other company's data.
    let (status, html) = page(&viewer, app.url("/?range=7d")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"trend-chart\""), "{html}");
    assert!(html.contains("<svg"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script>alert(1)"));
    assert!(!html.contains("globex outage"));

    // A company without errors is taught how to send one.
    app.tenant("initech").await;
    let fresh = app
        .member_client("a@initech.test", "initech", "admin")
        .await;
    let (_, html) = page(&fresh, app.url("/")).await;
    assert!(html.contains("id=\"first-error\""), "{html}");
    assert!(html.contains("/api/errors/log"));
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn agents_list_and_detail_are_scoped(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let acme = key(&app, "acme").await;
    let globex = key(&app, "globex").await;
    let reg = |name: &str| json!({ "name": name, "kind": "worker", "version": "1.2.3", "host": "<i>node-1</i>" });
    let a: Value = app
        .agent(Some(&acme), "register_agent", reg("fixer"))
        .await
        .json()
        .await
        .unwrap();
    let agent_id = a["agent_id"].as_i64().unwrap();
    let b: Value = app
        .agent(Some(&globex), "register_agent", reg("spy"))
        .await
        .json()
        .await
        .unwrap();
    let theirs = b["agent_id"].as_i64().unwrap();
    app.agent(
        Some(&acme),
        "heartbeat",
        json!({ "agent": "fixer", "status": "degraded", "metrics": { "cpu": 0.93, "queue": 12 } }),
    )
    .await;
    let mut e = event("pool exhausted");
    e["agent"] = json!("fixer");
    let (group, _) = log(&app, &acme, e.clone()).await;
    log(&app, &acme, e).await;
    let member = app.member_client("m@acme.test", "acme", "member").await;
    app.call(
        &member,
        "errors/assign",
        &[
            ("id", &group.to_string()),
            ("assignee", &format!("agent:{agent_id}")),
        ],
    )
    .await;

    let list = ok_json(ui(&app, &member, "agents", json!({})).await).await;
    let agents = list["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 1, "{list}");
    let fixer = &agents[0];
    assert_eq!(fixer["name"], "fixer");
    assert_eq!(fixer["health"], "online");
    assert_eq!(fixer["reported_status"], "degraded");
    assert_eq!(fixer["errors_24h"], 2);
    assert_eq!(fixer["open_groups"], 1);
    assert_eq!(fixer["assigned"][0][0], group, "what it is working on");

    let d = ok_json(ui(&app, &member, "agents/detail", json!({ "id": agent_id })).await).await;
    assert_eq!(d["chart_total"], 2);
    assert_eq!(d["metrics"], json!([["cpu", "0.93"], ["queue", "12"]]));
    assert_eq!(d["groups"][0]["id"], group);
    expect_error(
        ui(&app, &member, "agents/detail", json!({ "id": theirs })).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let (status, html) = page(&member, app.url("/agents")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("&lt;i&gt;node-1&lt;/i&gt;"), "host escaped");
    assert!(!html.contains("spy"));
    let (status, html) = page(&member, app.url(&format!("/agents/{agent_id}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"agent-chart\""));
    assert!(html.contains("id=\"agent-metrics\""));
    let (status, _) = page(&member, app.url(&format!("/agents/{theirs}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    expect_error(
        ui(&app, &browser(), "agents", json!({})).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn members_are_managed_by_admins_and_one_admin_always_stays(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let admin = app.member_client("boss@acme.test", "acme", "admin").await;
    let viewer = app.member_client("v@acme.test", "acme", "viewer").await;
    let outsider = app
        .user("x@globex.test", Some("globex"), "admin", false)
        .await;

    let list = ok_json(app.call(&viewer, "members/list", &[]).await).await;
    assert_eq!(list["members"].as_array().unwrap().len(), 2);
    assert_eq!(list["can_manage"], false);
    assert_eq!(
        list["members"][0]["email"], "boss@acme.test",
        "admins first"
    );
    for (name, form) in [
        (
            "members/add",
            vec![
                ("email", "new@acme.test"),
                ("role", "member"),
                ("password", common::PASSWORD),
            ],
        ),
        ("members/role", vec![("user_id", "1"), ("role", "viewer")]),
        ("members/remove", vec![("user_id", "1")]),
    ] {
        expect_error(
            app.call(&viewer, name, &form).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }

    // A new account needs a password; an existing one joins with its own.
    let e = expect_error(
        app.call(
            &admin,
            "members/add",
            &[("email", "new@acme.test"), ("role", "member")],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    assert_eq!(e["field"], "password", "{e}");
    expect_error(
        app.call(
            &admin,
            "members/add",
            &[
                ("email", "new@acme.test"),
                ("role", "owner"),
                ("password", common::PASSWORD),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    let added = ok_json(
        app.call(
            &admin,
            "members/add",
            &[
                ("email", "New@Acme.test"),
                ("role", "member"),
                ("password", common::PASSWORD),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(added["email"], "new@acme.test");
    let new_id = added["user_id"].as_i64().unwrap().to_string();
    expect_error(
        app.call(
            &admin,
            "members/add",
            &[("email", "new@acme.test"), ("role", "viewer")],
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let joined = ok_json(
        app.call(
            &admin,
            "members/add",
            &[("email", "x@globex.test"), ("role", "viewer")],
        )
        .await,
    )
    .await;
    assert_eq!(
        joined["user_id"], outsider,
        "an existing account joins as it is"
    );
    let c = browser();
    app.login(&c, "new@acme.test").await;

    // Another company's member is not found here; the last admin cannot leave or be demoted.
    app.tenant("initech").await;
    let stranger = app
        .user("s@initech.test", Some("initech"), "admin", false)
        .await
        .to_string();
    expect_error(
        app.call(
            &admin,
            "members/role",
            &[("user_id", &stranger), ("role", "viewer")],
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.call(&admin, "members/remove", &[("user_id", &stranger)])
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let boss: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'boss@acme.test'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let boss = boss.to_string();
    expect_error(
        app.call(
            &admin,
            "members/role",
            &[("user_id", &boss), ("role", "member")],
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    expect_error(
        app.call(&admin, "members/remove", &[("user_id", &boss)])
            .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    ok_json(
        app.call(
            &admin,
            "members/role",
            &[("user_id", &new_id), ("role", "admin")],
        )
        .await,
    )
    .await;
    ok_json(
        app.call(
            &admin,
            "members/role",
            &[("user_id", &boss), ("role", "viewer")],
        )
        .await,
    )
    .await;
    // Now a viewer: the old boss can no longer manage anyone.
    expect_error(
        app.call(&admin, "members/remove", &[("user_id", &new_id)])
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    ok_json(app.call(&c, "members/remove", &[("user_id", &boss)]).await).await;
    let list = ok_json(app.call(&c, "members/list", &[]).await).await;
    let emails: Vec<&str> = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["new@acme.test", "v@acme.test", "x@globex.test"]);
    let audit: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action LIKE 'member.%' AND actor LIKE 'user:%'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        audit, 5,
        "adds, role changes and the removal are audit-logged"
    );

    let (status, html) = page(&c, app.url("/settings")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"members\"") && html.contains("id=\"add-member\""));
    assert!(html.contains("id=\"company-settings\""));
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn company_settings_are_validated_and_admin_only(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let acme = key(&app, "acme").await;
    let globex = key(&app, "globex").await;
    let ours: Value = app
        .agent(
            Some(&acme),
            "register_agent",
            json!({ "name": "responder" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let theirs: Value = app
        .agent(Some(&globex), "register_agent", json!({ "name": "other" }))
        .await
        .json()
        .await
        .unwrap();
    let admin = app.member_client("a@acme.test", "acme", "admin").await;
    let member = app.member_client("m@acme.test", "acme", "member").await;

    let s = ok_json(app.call(&member, "tenants/settings", &[]).await).await;
    assert_eq!(s["can_edit"], false);
    assert_eq!(s["retention_days"], 90);
    assert_eq!(s["agents"][0][1], "responder");
    expect_error(
        app.call(
            &member,
            "tenants/settings/update",
            &[("name", "Acme"), ("retention_days", "30")],
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    for (field, form) in [
        ("name", vec![("name", "  "), ("retention_days", "30")]),
        (
            "retention_days",
            vec![("name", "Acme"), ("retention_days", "0")],
        ),
        (
            "retention_days",
            vec![("name", "Acme"), ("retention_days", "many")],
        ),
        (
            "responder_agent",
            vec![
                ("name", "Acme"),
                ("retention_days", "30"),
                ("responder_agent", "x"),
            ],
        ),
    ] {
        let e = expect_error(
            app.call(&admin, "tenants/settings/update", &form).await,
            StatusCode::BAD_REQUEST,
            "invalid",
        )
        .await;
        assert_eq!(e["field"], field, "{e}");
    }
    let other = theirs["agent_id"].as_i64().unwrap().to_string();
    expect_error(
        app.call(
            &admin,
            "tenants/settings/update",
            &[
                ("name", "Acme"),
                ("retention_days", "30"),
                ("responder_agent", &other),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    let mine = ours["agent_id"].as_i64().unwrap().to_string();
    ok_json(
        app.call(
            &admin,
            "tenants/settings/update",
            &[
                ("name", "Acme <Corp>"),
                ("retention_days", "30"),
                ("responder_agent", &mine),
            ],
        )
        .await,
    )
    .await;
    let s = ok_json(app.call(&admin, "tenants/settings", &[]).await).await;
    assert_eq!(
        (s["name"].as_str(), s["retention_days"].as_i64()),
        (Some("Acme <Corp>"), Some(30))
    );
    assert_eq!(s["responder_agent_id"].as_i64().unwrap().to_string(), mine);
    assert_eq!(s["can_edit"], true);
    let (_, html) = page(&member, app.url("/settings")).await;
    assert!(html.contains("Acme &lt;Corp&gt;"), "names are escaped");
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn bulk_actions_change_only_own_groups(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let acme = key(&app, "acme").await;
    let globex = key(&app, "globex").await;
    let (a, _) = log(&app, &acme, event("first")).await;
    let (b, _) = log(&app, &acme, json!({ "service": "api", "severity": "warning", "error_type": "Timeout", "message": "slow" })).await;
    let (theirs, _) = log(&app, &globex, event("theirs")).await;
    let member = app.member_client("m@acme.test", "acme", "member").await;
    let viewer = app.member_client("v@acme.test", "acme", "viewer").await;
    let (a_s, b_s, t_s) = (a.to_string(), b.to_string(), theirs.to_string());

    expect_error(
        app.call(
            &viewer,
            "errors/bulk",
            &[("ids[]", a_s.as_str()), ("action", "resolve")],
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // One foreign id: nothing changes, and the answer does not tell whether it exists.
    expect_error(
        app.call(
            &member,
            "errors/bulk",
            &[
                ("ids[]", a_s.as_str()),
                ("ids[]", t_s.as_str()),
                ("action", "resolve"),
            ],
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    for bad in [
        vec![("action", "resolve")],
        vec![("ids[]", a_s.as_str()), ("action", "delete")],
        vec![("ids[]", a_s.as_str()), ("action", "ignore:count")],
    ] {
        expect_error(
            app.call(&member, "errors/bulk", &bad).await,
            StatusCode::BAD_REQUEST,
            "invalid",
        )
        .await;
    }
    let n = ok_json(
        app.call(
            &member,
            "errors/bulk",
            &[
                ("ids[]", a_s.as_str()),
                ("ids[]", b_s.as_str()),
                ("action", "resolve"),
                ("notes", "deployed 1.4"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(n, 2);
    let statuses: Vec<(i64, String, Option<String>)> =
        sqlx::query_as("SELECT id, status, resolution_notes FROM error_groups ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        statuses,
        [
            (a, "resolved".into(), Some("deployed 1.4".into())),
            (b, "resolved".into(), Some("deployed 1.4".into())),
            (theirs, "unresolved".into(), None)
        ]
    );
    ok_json(
        app.call(
            &member,
            "errors/bulk",
            &[("ids[]", a_s.as_str()), ("action", "ignore:24h")],
        )
        .await,
    )
    .await;
    let me: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'm@acme.test'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    ok_json(
        app.call(
            &member,
            "errors/bulk",
            &[
                ("ids[]", b_s.as_str()),
                ("action", "assign"),
                ("assignee", &format!("user:{me}")),
            ],
        )
        .await,
    )
    .await;
    let rows: Vec<(String, Option<i64>)> = sqlx::query_as(
        "SELECT status, assignee_user_id FROM error_groups WHERE id = ANY($1) ORDER BY id",
    )
    .bind(vec![a, b])
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [("ignored".into(), None), ("resolved".into(), Some(me))]
    );

    // The feed offers the bulk form to members, not to viewers.
    let (_, html) = page(&member, app.url("/errors?status=all")).await;
    assert!(html.contains("id=\"bulk-form\"") && html.contains("name=\"ids[]\""));
    let (_, html) = page(&viewer, app.url("/errors?status=all")).await;
    assert!(!html.contains("id=\"bulk-form\""));
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn group_events_page_and_step(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let acme = key(&app, "acme").await;
    let globex = key(&app, "globex").await;
    let mut events = Vec::new();
    let mut group = 0;
    for i in 0..25 {
        let (g, e) = log(&app, &acme, event(&format!("refused {i}"))).await;
        group = g;
        events.push(e);
    }
    let (_, foreign_event) = log(&app, &globex, event("refused 1")).await;
    let viewer = app.member_client("v@acme.test", "acme", "viewer").await;

    let p = ok_json(ui(&app, &viewer, "errors/group", json!({ "id": group })).await).await;
    assert_eq!(p["shown"]["event_id"], events[24], "the latest by default");
    assert_eq!(p["newer"], Value::Null);
    assert_eq!(p["older"], events[23]);
    assert_eq!(p["recent"].as_array().unwrap().len(), 20);
    assert_eq!(p["events_before"], Value::Null, "the newest page");
    let next = p["events_next"].as_i64().expect("a next page");

    let p2 = ok_json(
        ui(
            &app,
            &viewer,
            "errors/group",
            json!({ "id": group, "before": next }),
        )
        .await,
    )
    .await;
    let older: Vec<&str> = p2["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = events[..5].iter().rev().map(String::as_str).collect();
    assert_eq!(older, expected);
    assert_eq!(p2["events_next"], Value::Null);
    assert_eq!(p2["events_before"], next, "a later page");
    let (_, html) = page(&viewer, app.url(&format!("/errors/{group}?before={next}"))).await;
    assert!(
        html.contains(&format!("?event={}&amp;before={next}", events[4])),
        "picking an event keeps the list's page"
    );

    let p3 = ok_json(
        ui(
            &app,
            &viewer,
            "errors/group",
            json!({ "id": group, "event": events[10] }),
        )
        .await,
    )
    .await;
    assert_eq!(p3["shown"]["event_id"], events[10]);
    assert_eq!(p3["shown"]["message"], "refused 10");
    assert_eq!(
        (p3["newer"].as_str(), p3["older"].as_str()),
        (Some(events[11].as_str()), Some(events[9].as_str()))
    );

    for bad in [json!(foreign_event), json!("not-a-uuid")] {
        expect_error(
            ui(
                &app,
                &viewer,
                "errors/group",
                json!({ "id": group, "event": bad }),
            )
            .await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    let (status, html) = page(
        &viewer,
        app.url(&format!("/errors/{group}?event={}", events[10])),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("refused 10") && html.contains("aria-label=\"Step through events\""));
    assert!(
        html.contains(&format!("?event={}", events[11])),
        "a link to the newer one"
    );
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn super_admin_sees_every_company_and_opens_their_errors(pool: PgPool) {
    let app = spawn_app(pool).await;
    let acme_id = app.tenant("acme").await;
    app.tenant("globex").await;
    let acme = key(&app, "acme").await;
    let globex = key(&app, "globex").await;
    let (g, _) = log(&app, &acme, event("acme down")).await;
    log(&app, &globex, event("globex down")).await;
    log(&app, &globex, event("globex down")).await;
    app.user("root@faultline.test", None, "admin", true).await;
    let root = browser();
    app.login(&root, "root@faultline.test").await;
    let company_admin = app.member_client("a@acme.test", "acme", "admin").await;

    let tenants = ok_json(app.call(&root, "tenants/list", &[]).await).await;
    let by_slug = |slug: &str| {
        tenants
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["slug"] == slug)
            .unwrap()
            .clone()
    };
    assert_eq!(
        (
            by_slug("acme")["events_24h"].as_i64(),
            by_slug("acme")["unresolved_groups"].as_i64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(by_slug("globex")["events_24h"], 2);

    let feed = ok_json(app.call(&root, "tenants/errors", &[]).await).await;
    let names: Vec<&str> = feed["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["tenant_name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{feed}");
    assert!(names.contains(&"acme Inc.") && names.contains(&"globex Inc."));
    for c in [&company_admin, &browser()] {
        let res = app.call(c, "tenants/errors", &[]).await;
        assert!(matches!(
            res.status(),
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED
        ));
    }

    // "Open" switches into the company and lands on the group (a plain form post).
    let res = root
        .post(app.url("/api/ui/switch_tenant"))
        .header("accept", "text/html")
        .form(&[
            ("tenant_id", acme_id.to_string()),
            ("next", format!("/errors/{g}")),
        ])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(res.headers()["location"], format!("/errors/{g}").as_str());
    let (status, html) = page(&root, app.url(&format!("/errors/{g}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("acme down"));
    let (_, html) = page(&root, app.url("/admin")).await;
    assert!(html.contains("id=\"all-errors\""));
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn retention_deletes_only_old_events(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let acme = key(&app, "acme").await;
    let globex = key(&app, "globex").await;
    for i in 0..3 {
        log(&app, &acme, event(&format!("old {i}"))).await;
        log(&app, &globex, event(&format!("old {i}"))).await;
    }
    log(&app, &acme, event("new")).await;
    sqlx::query("UPDATE tenants SET retention_days = 7 WHERE slug = 'acme'")
        .execute(&app.pool)
        .await
        .unwrap();
    // Age every event but the newest of acme, and globex's too (whose retention is 90 days).
    sqlx::query(
        "UPDATE error_events SET received_at = now() - interval '8 days' WHERE message LIKE 'old%'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let deleted = app::errors::read::apply_retention(&app.pool).await.unwrap();
    assert_eq!(deleted, 3);
    let left: Vec<(String, String)> = sqlx::query_as(
        "SELECT t.slug, e.message FROM error_events e JOIN tenants t ON t.id = e.tenant_id ORDER BY t.slug, e.id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(left.iter().filter(|(t, _)| t == "acme").count(), 1);
    assert_eq!(left.iter().filter(|(t, _)| t == "globex").count(), 3);
    let groups: i64 = sqlx::query_scalar("SELECT count(*) FROM error_groups")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(groups, 3, "groups stay (acme's old and new, globex's)");
}
