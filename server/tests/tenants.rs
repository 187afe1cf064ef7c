//! Tenants: super-admin creation and switching, and isolation between tenants.

mod common;

use common::{PASSWORD, browser, expect_error, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn super_admin_creates_a_tenant_whose_admin_can_sign_in(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.user("root@faultline.test", None, "admin", true).await;
    let root = browser();
    app.login(&root, "root@faultline.test").await;

    let form = [
        ("slug", "acme"),
        ("name", "Acme <Corp>"),
        ("admin_email", "boss@acme.test"),
        ("admin_password", PASSWORD),
    ];
    let created: Value = app
        .call(&root, "tenants/create", &form)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["slug"], "acme");
    expect_error(
        app.call(&root, "tenants/create", &form).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    let bad = [
        ("slug", "Not A Slug!"),
        ("name", "x"),
        ("admin_email", "a@b.c"),
        ("admin_password", PASSWORD),
    ];
    let body = expect_error(
        app.call(&root, "tenants/create", &bad).await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    assert_eq!(body["field"], "slug");
    let weak = [
        ("slug", "weak"),
        ("name", "Weak"),
        ("admin_email", "new@weak.test"),
        ("admin_password", "short"),
    ];
    let body = expect_error(
        app.call(&root, "tenants/create", &weak).await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    assert_eq!(body["field"], "admin_password");
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants WHERE slug = 'weak'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(none, 0, "a failed creation leaves nothing behind");

    let list: Value = app
        .call(&root, "tenants/list", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["members"], 1);

    let boss = browser();
    app.login(&boss, "boss@acme.test").await;
    let me: Value = app.call(&boss, "me", &[]).await.json().await.unwrap();
    assert_eq!(me["tenant"]["name"], "Acme <Corp>");
    assert_eq!(me["tenant"]["role"], "admin");
    assert_eq!(me["is_super_admin"], false);

    // The super-admin switches into the tenant and acts as its admin.
    let id = created["id"].to_string();
    assert_eq!(
        app.call(&root, "switch_tenant", &[("tenant_id", &id)])
            .await
            .status(),
        StatusCode::OK
    );
    let me: Value = app.call(&root, "me", &[]).await.json().await.unwrap();
    assert_eq!(me["tenant"]["slug"], "acme");
    assert_eq!(
        app.call(&root, "api_keys/list", &[]).await.status(),
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn users_with_several_tenants_switch_between_them(pool: PgPool) {
    let app = spawn_app(pool).await;
    let a = app.tenant("alpha").await;
    let b = app.tenant("beta").await;
    app.user("dev@multi.test", Some("alpha"), "admin", false)
        .await;
    app.user("dev@multi.test", Some("beta"), "viewer", false)
        .await;
    let c = browser();
    app.login(&c, "dev@multi.test").await;
    let me: Value = app.call(&c, "me", &[]).await.json().await.unwrap();
    assert_eq!(me["tenants"].as_array().unwrap().len(), 2);
    assert_eq!(me["tenant"]["id"], a);
    app.call(&c, "switch_tenant", &[("tenant_id", &b.to_string())])
        .await;
    let me: Value = app.call(&c, "me", &[]).await.json().await.unwrap();
    assert_eq!(me["tenant"]["id"], b);
    assert_eq!(me["tenant"]["role"], "viewer");
    // The role follows the tenant: a viewer in beta cannot create keys there.
    expect_error(
        app.call(
            &c,
            "api_keys/create",
            &[("name", "k"), ("scope_read", "on")],
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn a_tenant_never_reaches_another_tenants_objects(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("alpha").await;
    let beta = app.tenant("beta").await;
    let alpha_admin = app
        .member_client("admin@alpha.test", "alpha", "admin")
        .await;
    let beta_admin = app.member_client("admin@beta.test", "beta", "admin").await;

    let beta_key: Value = app
        .call(
            &beta_admin,
            "api_keys/create",
            &[("name", "beta-key"), ("scope_read", "on")],
        )
        .await
        .json()
        .await
        .unwrap();
    let beta_key_id = beta_key["key"]["id"].to_string();

    // Revoking beta's key by id from alpha: 404, and the key keeps working.
    expect_error(
        app.call(&alpha_admin, "api_keys/revoke", &[("id", &beta_key_id)])
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let who = app
        .agent(beta_key["secret"].as_str(), "whoami", json!({}))
        .await;
    assert_eq!(who.status(), StatusCode::OK);
    // Alpha's list never shows beta's keys.
    let list: Value = app
        .call(&alpha_admin, "api_keys/list", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["keys"], json!([]));
    // Switching into a tenant one is not a member of: 404, and the session stays in alpha.
    expect_error(
        app.call(
            &alpha_admin,
            "switch_tenant",
            &[("tenant_id", &beta.to_string())],
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let me: Value = app
        .call(&alpha_admin, "me", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["tenant"]["slug"], "alpha");
    assert_eq!(me["tenants"].as_array().unwrap().len(), 1);
    // Unknown ids are 404 as well.
    expect_error(
        app.call(&alpha_admin, "api_keys/revoke", &[("id", "999999")])
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}
