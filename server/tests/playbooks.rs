//! Playbooks through the dashboard's functions: roles, tenant isolation, validation against
//! the server's allow-lists, import/export, the starter set and "which playbooks match".

mod common;

use app::playbooks::rules::Policy;
use app::state::Settings;
use common::{TestApp, browser, expect_error, ok_json, spawn_app_with};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

async fn app(pool: PgPool) -> TestApp {
    spawn_app_with(
        pool,
        Settings {
            fix_policy: Policy {
                allowed_hosts: vec!["svc.internal".into()],
                allowed_commands: vec![],
            },
            ..Settings::default()
        },
    )
    .await
}

async fn list(app: &TestApp, c: &Client, test: Option<i64>) -> reqwest::Response {
    c.post(app.url("/api/ui/playbooks/list"))
        .json(&json!({ "test": test }))
        .send()
        .await
        .unwrap()
}

fn spec(name: &str, url: &str) -> Value {
    json!({
        "name": name,
        "match": { "categories": ["network"], "message_pattern": "refused" },
        "actions": [{ "type": "http", "method": "POST", "url": url, "expect_status": 200 }],
        "verify": { "type": "no_recurrence", "secs": 60 },
        "risk": "low",
        "mode": "automatic",
        "enabled": false
    })
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn admins_write_playbooks_viewers_read_them(pool: PgPool) {
    let app = app(pool).await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let admin = app.member_client("a@acme.test", "acme", "admin").await;
    let viewer = app.member_client("v@acme.test", "acme", "viewer").await;
    let other = app.member_client("a@globex.test", "globex", "admin").await;

    // Nothing yet; the starters arrive disabled, once.
    let l = ok_json(list(&app, &viewer, None).await).await;
    assert_eq!(
        (l["playbooks"].as_array().unwrap().len(), &l["can_edit"]),
        (0, &json!(false))
    );
    expect_error(
        app.call(&viewer, "playbooks/starters", &[]).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        ok_json(app.call(&admin, "playbooks/starters", &[]).await).await,
        4
    );
    assert_eq!(
        ok_json(app.call(&admin, "playbooks/starters", &[]).await).await,
        0
    );
    let l = ok_json(list(&app, &admin, None).await).await;
    let all = l["playbooks"].as_array().unwrap();
    assert_eq!(all.len(), 4);
    assert!(all.iter().all(|p| p["enabled"] == false));
    assert_eq!(l["can_edit"], true);
    assert_eq!(l["allowed_hosts"], json!(["svc.internal"]));

    // Validation: JSON syntax, field paths, the allow-lists.
    let e = expect_error(
        app.call(&admin, "playbooks/save", &[("spec", "{\"name\": ")])
            .await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    assert!(
        e["message"].as_str().unwrap().contains("line 1 column"),
        "{e}"
    );
    for (url, why) in [
        ("http://169.254.169.254/latest/meta-data/", "never allowed"),
        ("http://evil.test/restart", "not on the server's list"),
    ] {
        let body = spec("Restart", url).to_string();
        let e = expect_error(
            app.call(&admin, "playbooks/save", &[("spec", &body)]).await,
            StatusCode::BAD_REQUEST,
            "invalid",
        )
        .await;
        assert_eq!(e["field"], "actions[0].url", "{e}");
        assert!(e["message"].as_str().unwrap().contains(why), "{e}");
    }
    let mut cmd = spec("Run a command", "http://svc.internal/x");
    cmd["actions"] = json!([{ "type": "command", "program": "/bin/sh", "args": ["-c", "reboot"] }]);
    let e = expect_error(
        app.call(&admin, "playbooks/save", &[("spec", &cmd.to_string())])
            .await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("commands are disabled"),
        "{e}"
    );
    let good = spec("Restart checkout", "http://svc.internal/restart").to_string();
    expect_error(
        app.call(&viewer, "playbooks/save", &[("spec", &good)])
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        ok_json(app.call(&admin, "playbooks/save", &[("spec", &good)]).await).await,
        1
    );
    expect_error(
        app.call(&admin, "playbooks/save", &[("spec", &good)]).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    // Import is all or nothing.
    let import = json!([
        spec("One", "http://svc.internal/1"),
        spec("Two", "http://169.254.169.254/")
    ])
    .to_string();
    let e = expect_error(
        app.call(&admin, "playbooks/save", &[("spec", &import)])
            .await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    assert_eq!(e["field"], "[1].actions[0].url", "{e}");
    let import = json!([
        spec("One", "http://svc.internal/1"),
        spec("Two", "http://svc.internal/2")
    ])
    .to_string();
    assert_eq!(
        ok_json(
            app.call(&admin, "playbooks/save", &[("spec", &import)])
                .await
        )
        .await,
        2
    );

    // Enable, edit, delete — only one's own.
    let l = ok_json(list(&app, &admin, None).await).await;
    let id_of = |l: &Value, name: &str| {
        l["playbooks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let restart = id_of(&l, "Restart checkout").to_string();
    expect_error(
        app.call(
            &viewer,
            "playbooks/enable",
            &[("id", &restart), ("enabled", "true")],
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    for (name, form) in [
        (
            "playbooks/enable",
            vec![("id", restart.as_str()), ("enabled", "true")],
        ),
        ("playbooks/delete", vec![("id", restart.as_str())]),
        (
            "playbooks/save",
            vec![("id", restart.as_str()), ("spec", good.as_str())],
        ),
    ] {
        expect_error(
            app.call(&other, name, &form).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    ok_json(
        app.call(
            &admin,
            "playbooks/enable",
            &[("id", &restart), ("enabled", "true")],
        )
        .await,
    )
    .await;
    let l = ok_json(list(&app, &admin, None).await).await;
    assert_eq!(
        l["playbooks"][0]["name"], "Restart checkout",
        "enabled first"
    );
    assert_eq!(l["playbooks"][0]["enabled"], true);
    assert!(
        l["playbooks"][0]["json"]
            .as_str()
            .unwrap()
            .contains("\"enabled\": true")
    );
    assert_eq!(
        l["playbooks"][0]["steps"],
        json!(["POST http://svc.internal/restart (expects 200)"])
    );
    let mut edited = spec("Restart checkout", "http://svc.internal/restart");
    edited["risk"] = json!("high");
    ok_json(
        app.call(
            &admin,
            "playbooks/save",
            &[("id", &restart), ("spec", &edited.to_string())],
        )
        .await,
    )
    .await;
    let l = ok_json(list(&app, &admin, None).await).await;
    let p = l["playbooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Restart checkout")
        .unwrap()
        .clone();
    assert_eq!(
        (p["risk"].as_str(), &p["needs_approval"], &p["enabled"]),
        (Some("high"), &json!(true), &json!(false))
    );
    let two = id_of(&l, "Two").to_string();
    ok_json(app.call(&admin, "playbooks/delete", &[("id", &two)]).await).await;
    assert_eq!(
        ok_json(list(&app, &admin, None).await).await["playbooks"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
    assert!(
        ok_json(list(&app, &other, None).await).await["playbooks"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let audit: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'playbook.%'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        audit,
        4 + 1 + 2 + 1 + 1 + 1,
        "creates, enable, update, delete"
    );

    // Export: every playbook as a JSON list, importable as it is.
    let res = admin
        .get(app.url("/api/ui/playbooks/export"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("playbooks.json")
    );
    let exported: Value = res.json().await.unwrap();
    assert_eq!(exported.as_array().unwrap().len(), 6);
    assert_eq!(
        ok_json(
            app.call(&other, "playbooks/save", &[("spec", &exported.to_string())])
                .await
        )
        .await,
        6
    );

    // Pages: the editor for admins only.
    let (admin_page, viewer_page) = (
        admin
            .get(app.url("/playbooks"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        viewer
            .get(app.url("/playbooks"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert!(
        admin_page.contains("id=\"playbook-editor\"") && admin_page.contains("Restart checkout")
    );
    assert!(
        !viewer_page.contains("id=\"playbook-editor\"") && viewer_page.contains("id=\"playbooks\"")
    );
    expect_error(
        list(&app, &browser(), None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn which_playbooks_match_an_error(pool: PgPool) {
    let app = app(pool).await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let key = server::commands::create_api_key(&app.pool, "acme", "bot", "ingest")
        .await
        .unwrap();
    let theirs_key = server::commands::create_api_key(&app.pool, "globex", "bot", "ingest")
        .await
        .unwrap();
    let log = |key: String, message: &'static str| {
        let app_url = app.url("/api/errors/log");
        async move {
            let v: Value = Client::new()
                .post(app_url)
                .bearer_auth(key)
                .json(&json!({ "service": "db", "severity": "error", "error_type": "PoolTimeout", "message": message }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["group_id"].as_i64().unwrap()
        }
    };
    let pool_group = log(key.clone(), "Connection pool exhausted after 30 s").await;
    let other_group = log(key, "disk quota exceeded").await;
    let theirs = log(theirs_key, "Connection pool exhausted").await;
    let admin = app.member_client("a@acme.test", "acme", "admin").await;
    ok_json(app.call(&admin, "playbooks/starters", &[]).await).await;

    let l = ok_json(list(&app, &admin, Some(pool_group)).await).await;
    let t = &l["test"];
    assert_eq!(t["group_id"], pool_group);
    assert_eq!(t["matches"].as_array().unwrap().len(), 1, "{t}");
    assert_eq!(t["matches"][0][1], "Reset an exhausted connection pool");
    assert_eq!(t["matches"][0][2], false, "disabled, so not automatic");
    let l = ok_json(list(&app, &admin, Some(other_group)).await).await;
    assert!(l["test"]["matches"].as_array().unwrap().is_empty());
    expect_error(
        list(&app, &admin, Some(theirs)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let html = admin
        .get(app.url(&format!("/playbooks?test={pool_group}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("id=\"test-result\"") && html.contains("Reset an exhausted connection pool")
    );
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn the_form_editor_saves_what_it_posts_and_names_bad_fields(pool: PgPool) {
    let app = app(pool).await;
    app.tenant("acme").await;
    let admin = app.member_client("a@acme.test", "acme", "admin").await;
    let viewer = app.member_client("v@acme.test", "acme", "viewer").await;
    // As the browser posts the form: unused step rows included, checkboxes only when ticked.
    let mut fields = vec![
        ("id", ""),
        ("form[name]", "Restart checkout"),
        ("form[description]", "From the form"),
        ("form[categories][]", "network"),
        ("form[categories][]", "resource"),
        ("form[error_types]", "ConnectionError, TimeoutError"),
        ("form[services]", "checkout"),
        ("form[min_severity]", "error"),
        ("form[message_pattern]", "refused|timed out"),
        ("form[steps][0][kind]", "http"),
        ("form[steps][0][method]", "POST"),
        ("form[steps][0][url]", "http://svc.internal/restart"),
        ("form[steps][0][expect_status]", "202"),
        ("form[steps][0][headers]", "X-Token: abc"),
        ("form[steps][1][kind]", ""),
        ("form[steps][1][method]", "POST"),
        ("form[steps][2][kind]", "wait"),
        ("form[steps][2][secs]", "5"),
        ("form[verify_kind]", "no_recurrence"),
        ("form[verify_secs]", "120"),
        ("form[rollback][0][kind]", "agent_task"),
        ("form[rollback][0][task]", "rollback_release"),
        ("form[risk]", "high"),
        ("form[mode]", "automatic"),
        ("form[cooldown_secs]", "60"),
        ("form[max_attempts]", "2"),
        ("form[enabled]", "on"),
    ];
    expect_error(
        app.call(&viewer, "playbooks/save_form", &fields).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        ok_json(app.call(&admin, "playbooks/save_form", &fields).await).await,
        json!(1)
    );
    let spec: Value =
        sqlx::query_scalar("SELECT spec FROM playbooks WHERE name = 'Restart checkout'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(spec["match"]["categories"], json!(["network", "resource"]));
    assert_eq!(
        spec["match"]["error_types"],
        json!(["ConnectionError", "TimeoutError"])
    );
    assert_eq!(
        spec["actions"],
        json!([
            { "type": "http", "method": "POST", "url": "http://svc.internal/restart", "headers": [["X-Token", "abc"]], "body": null, "expect_status": 202 },
            { "type": "wait", "secs": 5 }
        ])
    );
    assert_eq!(spec["rollback"][0]["task"], "rollback_release");
    assert_eq!(
        (
            &spec["risk"],
            &spec["mode"],
            &spec["enabled"],
            &spec["needs_approval"]
        ),
        (
            &json!("high"),
            &json!("automatic"),
            &json!(true),
            &json!(false)
        )
    );

    // Problems are refused, every one named by its field.
    fields.retain(|(k, _)| *k != "form[name]");
    fields.push(("form[name]", ""));
    fields.retain(|(k, _)| *k != "form[steps][0][url]");
    fields.push(("form[steps][0][url]", "http://169.254.169.254/"));
    fields.retain(|(k, _)| *k != "form[steps][2][secs]");
    fields.push(("form[steps][2][secs]", "soon"));
    let body = expect_error(
        app.call(&admin, "playbooks/save_form", &fields).await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    assert_eq!(body["field"], "actions[1].secs", "{body}");
    fields.retain(|(k, _)| *k != "form[steps][2][secs]");
    fields.push(("form[steps][2][secs]", "5"));
    let body = expect_error(
        app.call(&admin, "playbooks/save_form", &fields).await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("name: enter a name") && message.contains("actions[0].url: link-local"),
        "{message}"
    );
    assert_eq!(body["field"], "name");
}
