//! Sign-in, sessions, throttling and roles, through the real router and PostgreSQL.

mod common;

use app::state::Settings;
use common::{PASSWORD, browser, expect_error, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;
use std::time::Instant;

fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.cookies()
        .find(|c| c.name() == "faultline_session")
        .map(|c| c.value().to_owned())
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn login_sets_a_safe_rotated_cookie_and_me_reports_the_user(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    app.user("Ops@Acme.test", Some("acme"), "admin", false)
        .await;
    let client = browser();

    let me: Value = app.call(&client, "me", &[]).await.json().await.unwrap();
    assert!(me.is_null(), "anonymous callers have no user");

    let res = app
        .call(
            &client,
            "login",
            &[("email", "ops@acme.test"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let header = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(header.contains("HttpOnly"), "{header}");
    assert!(header.contains("SameSite=Lax"), "{header}");
    let first = session_cookie(&res).unwrap();

    let me: Value = app.call(&client, "me", &[]).await.json().await.unwrap();
    assert_eq!(me["email"], "ops@acme.test");
    assert_eq!(me["tenant"]["slug"], "acme");
    assert_eq!(me["tenant"]["role"], "admin");

    // A second sign-in gets a new session id, and the old id stops working.
    let res = app
        .call(
            &client,
            "login",
            &[("email", "ops@acme.test"), ("password", PASSWORD)],
        )
        .await;
    let second = session_cookie(&res).unwrap();
    assert_ne!(first, second, "session id must rotate at sign-in");
    let stale = reqwest::Client::new()
        .post(app.url("/api/ui/me"))
        .header("cookie", format!("faultline_session={first}"))
        .send()
        .await
        .unwrap();
    assert!(stale.json::<Value>().await.unwrap().is_null());
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn wrong_password_and_unknown_email_look_the_same(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    app.user("ops@acme.test", Some("acme"), "member", false)
        .await;
    let client = browser();

    let mut known = Vec::new();
    let mut unknown = Vec::new();
    let mut bodies = Vec::new();
    for round in 0..6 {
        let email = if round % 2 == 0 {
            "ops@acme.test"
        } else {
            "nobody@acme.test"
        };
        let start = Instant::now();
        let res = app
            .call(
                &client,
                "login",
                &[("email", email), ("password", "wrong password!")],
            )
            .await;
        let took = start.elapsed().as_secs_f64();
        if round % 2 == 0 {
            known.push(took)
        } else {
            unknown.push(took)
        }
        bodies.push(expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await);
    }
    assert_eq!(
        bodies[0], bodies[1],
        "same message for wrong password and unknown e-mail"
    );
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (k, u) = (median(&mut known), median(&mut unknown));
    // Both verify one Argon2 hash; without the dummy hash the unknown address would answer
    // in a fraction of the time.
    assert!(
        k.max(u) / k.min(u) < 2.5,
        "timings differ too much: known {k:.4}s unknown {u:.4}s"
    );
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn repeated_failures_are_throttled(pool: PgPool) {
    let settings = Settings {
        login_max_failures: 3,
        ..Settings::default()
    };
    let app = spawn_app_with(pool, settings).await;
    app.tenant("acme").await;
    app.user("ops@acme.test", Some("acme"), "member", false)
        .await;
    let client = browser();
    for _ in 0..3 {
        let res = app
            .call(
                &client,
                "login",
                &[("email", "ops@acme.test"), ("password", "nope nope")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused while throttled.
    let res = app
        .call(
            &client,
            "login",
            &[("email", "ops@acme.test"), ("password", PASSWORD)],
        )
        .await;
    assert!(res.headers().get("retry-after").is_some());
    let body = expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(body["retry_after"].as_u64().unwrap() > 0);
    // Another address is not affected.
    app.user("dev@acme.test", Some("acme"), "member", false)
        .await;
    app.login(&client, "dev@acme.test").await;
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn malformed_sign_in_gets_field_errors(pool: PgPool) {
    let app = spawn_app(pool).await;
    let client = browser();
    let body = expect_error(
        app.call(
            &client,
            "login",
            &[("email", "not-an-email"), ("password", "x")],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    assert_eq!(body["field"], "email");
    let body = expect_error(
        app.call(&client, "login", &[("email", "a@b.c"), ("password", "")])
            .await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    assert_eq!(body["field"], "password");
    // A missing field is a 400 that says what is wrong, not a 500.
    expect_error(
        app.call(&client, "login", &[("email", "a@b.c")]).await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn sessions_survive_a_restart_and_logout_ends_them(pool: PgPool) {
    let first = spawn_app(pool.clone()).await;
    first.tenant("acme").await;
    first
        .user("ops@acme.test", Some("acme"), "member", false)
        .await;
    let client = browser();
    let res = first
        .call(
            &client,
            "login",
            &[("email", "ops@acme.test"), ("password", PASSWORD)],
        )
        .await;
    let cookie = session_cookie(&res).unwrap();

    // A second server process over the same database (a restart, or another replica).
    let second = spawn_app(pool).await;
    let with_cookie = |app: &common::TestApp, path: &str| {
        reqwest::Client::new()
            .post(app.url(path))
            .header("cookie", format!("faultline_session={cookie}"))
    };
    let me: Value = with_cookie(&second, "/api/ui/me")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "ops@acme.test");

    let res = with_cookie(&second, "/api/ui/logout").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = with_cookie(&first, "/api/ui/me")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(me.is_null(), "the session is gone everywhere after logout");
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn roles_are_enforced_on_the_server(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    let viewer = app
        .member_client("viewer@acme.test", "acme", "viewer")
        .await;
    let member = app
        .member_client("member@acme.test", "acme", "member")
        .await;
    let admin = app.member_client("admin@acme.test", "acme", "admin").await;
    let create = [("name", "ci"), ("scope_ingest", "on")];

    expect_error(
        app.call(&browser(), "api_keys/create", &create).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        app.call(&viewer, "api_keys/create", &create).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        app.call(&member, "api_keys/create", &create).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        app.call(&admin, "api_keys/create", &create).await.status(),
        StatusCode::OK
    );
    // Everyone in the tenant may read the list.
    let list: Value = app
        .call(&viewer, "api_keys/list", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["keys"].as_array().unwrap().len(), 1);
    // Only super-admins see and create tenants.
    expect_error(
        app.call(&admin, "tenants/list", &[]).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let new_tenant = [
        ("slug", "other"),
        ("name", "Other"),
        ("admin_email", "x@other.test"),
        ("admin_password", PASSWORD),
    ];
    expect_error(
        app.call(&admin, "tenants/create", &new_tenant).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn pages_need_sign_in_and_login_redirects_home(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    app.user("ops@acme.test", Some("acme"), "member", false)
        .await;
    let client = browser();

    let res = client.get(app.url("/settings")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login?next=/settings");

    let res = client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("name=\"email\"") && html.contains("name=\"password\""));

    // A plain form post (no JavaScript) redirects to `next`.
    let res = client
        .post(app.url("/api/ui/login"))
        .header("accept", "text/html")
        .header("referer", app.url("/login?next=/settings"))
        .form(&[
            ("email", "ops@acme.test"),
            ("password", PASSWORD),
            ("next", "/settings"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], "/settings");

    let html = client
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Overview") && html.contains("ops@acme.test"),
        "{html}"
    );
    let res = client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "signed-in users skip the login page"
    );

    // A failed plain form post returns to the form with the error in the URL.
    let res = browser()
        .post(app.url("/api/ui/login"))
        .header("accept", "text/html")
        .header("referer", app.url("/login"))
        .form(&[("email", "ops@acme.test"), ("password", "wrong password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/login") || location.contains("/login?"),
        "{location}"
    );
    assert!(location.contains("__err="), "{location}");
}
