//! Test helpers: the real router on a random port over the test's own database.
#![allow(dead_code)]

use app::state::Settings;
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use sqlx::PgPool;
use std::net::SocketAddr;

pub const PASSWORD: &str = "correct horse battery staple";

/// A running Faultline on 127.0.0.1:<random>, stopped when the test's runtime ends.
pub struct TestApp {
    pub base: String,
    pub pool: PgPool,
}

pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, Settings::default()).await
}

pub async fn spawn_app_with(pool: PgPool, settings: Settings) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let options = server::leptos_options(addr, "target/site");
    let state = server::state(pool.clone(), settings, options);
    let sessions = server::router::SessionOptions {
        secure: false,
        inactivity_days: 7,
    };
    tokio::spawn(server::serve_on(
        listener,
        state,
        sessions,
        std::future::pending(),
    ));
    TestApp {
        base: format!("http://{addr}"),
        pool,
    }
}

/// A client that keeps cookies and never follows redirects (tests look at them).
pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl TestApp {
    /// `GET path` with an API key, as JSON (any status).
    pub async fn get_json(&self, key: &str, path: &str) -> serde_json::Value {
        Client::new()
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates a tenant and returns its id.
    pub async fn tenant(&self, slug: &str) -> i64 {
        server::commands::create_tenant(&self.pool, slug, &format!("{slug} Inc."))
            .await
            .unwrap()
    }

    /// Creates a user with [`PASSWORD`] and `role` in `tenant_slug`.
    pub async fn user(
        &self,
        email: &str,
        tenant_slug: Option<&str>,
        role: &str,
        super_admin: bool,
    ) -> i64 {
        server::commands::create_user(&self.pool, email, tenant_slug, role, super_admin, PASSWORD)
            .await
            .unwrap()
    }

    /// Calls a browser server function (`/api/ui/<name>`) with form fields.
    pub async fn call(&self, client: &Client, name: &str, form: &[(&str, &str)]) -> Response {
        client
            .post(self.url(&format!("/api/ui/{name}")))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Signs `client` in and asserts success.
    pub async fn login(&self, client: &Client, email: &str) {
        let res = self
            .call(client, "login", &[("email", email), ("password", PASSWORD)])
            .await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "login failed: {}",
            res.text().await.unwrap()
        );
    }

    /// A signed-in client for a fresh user with `role` in `tenant_slug`.
    pub async fn member_client(&self, email: &str, tenant_slug: &str, role: &str) -> Client {
        self.user(email, Some(tenant_slug), role, false).await;
        let c = browser();
        self.login(&c, email).await;
        c
    }

    /// Calls an agent server function with a bearer key and a JSON body.
    pub async fn agent(&self, key: Option<&str>, name: &str, body: Value) -> Response {
        let mut req = Client::new()
            .post(self.url(&format!("/api/v1/{name}")))
            .json(&body);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        req.send().await.unwrap()
    }
}

/// Asserts the status and the `{error, message}` body shape; returns the body.
pub async fn expect_error(res: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status, "unexpected status");
    let body: Value = res.json().await.expect("error body is JSON");
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

/// Asserts a 200 answer and returns its JSON body (the body is shown when it is not 200).
pub async fn ok_json(res: Response) -> Value {
    let status = res.status();
    let body = res.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// A Python with the official `sentry-sdk` and `mcp` packages: a virtualenv under target/
/// that the tests make (once) and reuse.
pub async fn python_with_test_packages() -> std::path::PathBuf {
    tokio::task::spawn_blocking(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let venv = root.join("target/test-venv");
        let python = venv.join("bin/python");
        let has = |py: &std::path::Path| {
            std::process::Command::new(py)
                .args(["-c", "import sentry_sdk, mcp"])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !python.is_file() {
            let ok = std::process::Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("python3 runs");
            assert!(ok.success(), "python3 -m venv failed");
        }
        if !has(&python) {
            let ok = std::process::Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "sentry-sdk>=2,<3", "mcp>=1.9"])
                .status()
                .expect("pip runs");
            assert!(ok.success(), "pip install sentry-sdk mcp failed");
        }
        python
    })
    .await
    .unwrap()
}
