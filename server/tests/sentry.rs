//! Sentry SDK ingest: envelopes and legacy events, authentication, compression, framing, bad
//! input, the per-DSN rate limit — and the official Python `sentry-sdk` sending real
//! exceptions with stack traces, messages and a custom fingerprint.

mod common;

use app::state::Settings;
use common::{TestApp, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::io::Write;

/// The DSN of tenant `slug`: (public key, company id).
async fn dsn(app: &TestApp, slug: &str) -> (String, i64) {
    sqlx::query_as("SELECT sentry_key, id FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

fn auth(key: &str) -> String {
    format!("Sentry sentry_version=7, sentry_client=test/1.0, sentry_key={key}")
}

fn exception_event(id: &str, kind: &str) -> Value {
    json!({
        "event_id": id, "level": "error", "platform": "python", "server_name": "web-1",
        "exception": { "values": [{ "type": kind, "value": "boom", "stacktrace": { "frames": [
            { "abs_path": "/app/views.py", "filename": "views.py", "function": "checkout", "lineno": 7, "in_app": true }
        ]}}]}
    })
}

fn envelope(items: &[(&str, Vec<u8>)], header: Value) -> Vec<u8> {
    let mut out = serde_json::to_vec(&header).unwrap();
    out.push(b'\n');
    for (kind, payload) in items {
        out.extend_from_slice(
            format!("{{\"type\":\"{kind}\",\"length\":{}}}\n", payload.len()).as_bytes(),
        );
        out.extend_from_slice(payload);
        out.push(b'\n');
    }
    out
}

async fn post(
    app: &TestApp,
    path: &str,
    key: Option<&str>,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(app.url(path)).body(body);
    if let Some(k) = key {
        req = req.header("x-sentry-auth", auth(k));
    }
    if let Some(e) = encoding {
        req = req.header("content-encoding", e);
    }
    req.send().await.unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.pool).await.unwrap()
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn envelopes_are_authenticated_decompressed_framed_and_stored(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let (key, project) = dsn(&app, "acme").await;
    let (their_key, _) = dsn(&app, "globex").await;
    let path = format!("/api/{project}/envelope/");
    let id = "9ec79c33ec9942ab8353589fcb2e04dc";

    // An event with a session and a client report, which are accepted and dropped.
    let body = envelope(
        &[
            (
                "event",
                serde_json::to_vec(&exception_event(id, "ValueError")).unwrap(),
            ),
            ("session", br#"{"sid":"s1","status":"ok"}"#.to_vec()),
            ("client_report", br#"{"discarded_events":[]}"#.to_vec()),
        ],
        json!({ "event_id": id, "sent_at": "2026-11-30T10:00:00Z" }),
    );
    let res = post(&app, &path, Some(&key), None, body.clone()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({ "id": id }));
    // Sent again (an SDK retry): stored and counted once.
    assert_eq!(
        post(&app, &path, Some(&key), None, body).await.status(),
        StatusCode::OK
    );
    assert_eq!(count(&app, "SELECT count(*) FROM error_events").await, 1);
    let (kind, service, stack): (String, String, String) = sqlx::query_as(
        "SELECT g.error_type, g.service, st.trace FROM error_groups g JOIN error_events e ON e.group_id = g.id LEFT JOIN stack_traces st ON st.tenant_id = e.tenant_id AND st.hash = e.stack_hash",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((kind.as_str(), service.as_str()), ("ValueError", "web-1"));
    assert!(stack.contains("line 7, in checkout"), "{stack}");

    // gzip, deflate and br bodies; the key in the query string.
    let one = |n: usize| {
        envelope(
            &[(
                "event",
                serde_json::to_vec(&exception_event(&format!("{n:032x}"), "KeyError")).unwrap(),
            )],
            json!({}),
        )
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&one(1)).unwrap();
    assert_eq!(
        post(&app, &path, Some(&key), Some("gzip"), gz.finish().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&one(2)).unwrap();
    assert_eq!(
        post(
            &app,
            &path,
            Some(&key),
            Some("deflate"),
            z.finish().unwrap()
        )
        .await
        .status(),
        StatusCode::OK
    );
    let mut br = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
        w.write_all(&one(3)).unwrap();
    }
    assert_eq!(
        post(&app, &path, Some(&key), Some("br"), br).await.status(),
        StatusCode::OK
    );
    let res = post(
        &app,
        &format!("{path}?sentry_version=7&sentry_key={key}"),
        None,
        None,
        one(4),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    // The legacy store endpoint takes a bare event.
    let res = post(
        &app,
        &format!("/api/{project}/store/"),
        Some(&key),
        None,
        serde_json::to_vec(&exception_event(&format!("{:032x}", 5), "KeyError")).unwrap(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["id"],
        format!("{:032x}", 5)
    );
    assert_eq!(count(&app, "SELECT count(*) FROM error_events").await, 6);
    assert_eq!(
        count(
            &app,
            "SELECT occurrences FROM error_groups WHERE error_type = 'KeyError'"
        )
        .await,
        5
    );

    // A valid event next to an invalid one is kept; only invalid events are a 400.
    let mixed = envelope(
        &[
            ("event", b"{not json".to_vec()),
            (
                "event",
                serde_json::to_vec(&exception_event(&format!("{:032x}", 6), "KeyError")).unwrap(),
            ),
        ],
        json!({}),
    );
    assert_eq!(
        post(&app, &path, Some(&key), None, mixed).await.status(),
        StatusCode::OK
    );
    assert_eq!(count(&app, "SELECT count(*) FROM error_events").await, 7);

    // Refusals: each with the right status and the usual JSON body.
    let check = |res: reqwest::Response, status: StatusCode| async move {
        assert_eq!(res.status(), status);
        let body: Value = res.json().await.unwrap();
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{body}"
        );
        body
    };
    check(
        post(&app, &path, None, None, one(7)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    check(
        post(
            &app,
            &path,
            Some("0123456789abcdef0123456789abcdef"),
            None,
            one(7),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let body = check(
        post(&app, &path, Some(&their_key), None, one(7)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("not this DSN's project"),
        "{body}"
    );
    check(
        post(&app, &path, Some(&key), None, b"not an envelope".to_vec()).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let truncated = b"{}\n{\"type\":\"event\",\"length\":500}\n{\"message\":\"short\"}".to_vec();
    let body = check(
        post(&app, &path, Some(&key), None, truncated).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("runs past the end"),
        "{body}"
    );
    check(
        post(
            &app,
            &path,
            Some(&key),
            Some("gzip"),
            b"plain text".to_vec(),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    check(
        post(&app, &path, Some(&key), Some("zstd"), one(7)).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&vec![b' '; 50_000_000]).unwrap();
    check(
        post(
            &app,
            &path,
            Some(&key),
            Some("gzip"),
            bomb.finish().unwrap(),
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    let only_invalid = envelope(&[("event", br#"{"level":"error"}"#.to_vec())], json!({}));
    check(
        post(&app, &path, Some(&key), None, only_invalid).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    // Only item types Faultline does not store: accepted, nothing stored.
    let none = envelope(
        &[("transaction", b"{}".to_vec()), ("profile", b"{}".to_vec())],
        json!({ "event_id": id }),
    );
    assert_eq!(
        post(&app, &path, Some(&key), None, none).await.status(),
        StatusCode::OK
    );
    assert_eq!(count(&app, "SELECT count(*) FROM error_events").await, 7);
    assert_eq!(count(&app, "SELECT count(*) FROM error_events e JOIN tenants t ON t.id = e.tenant_id WHERE t.slug = 'globex'").await, 0);
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn a_dsn_over_its_allowance_is_told_to_wait(pool: PgPool) {
    let app = spawn_app_with(
        pool,
        Settings {
            sentry_per_minute: 3,
            ..Settings::default()
        },
    )
    .await;
    app.tenant("acme").await;
    let (key, project) = dsn(&app, "acme").await;
    let path = format!("/api/{project}/envelope/");
    for n in 0..3 {
        let body = envelope(
            &[(
                "event",
                serde_json::to_vec(&exception_event(&format!("{n:032x}"), "E")).unwrap(),
            )],
            json!({}),
        );
        assert_eq!(
            post(&app, &path, Some(&key), None, body).await.status(),
            StatusCode::OK
        );
    }
    let body = envelope(
        &[(
            "event",
            serde_json::to_vec(&exception_event(&format!("{:032x}", 9), "E")).unwrap(),
        )],
        json!({}),
    );
    let res = post(&app, &path, Some(&key), None, body).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));
    assert_eq!(
        res.headers()["x-sentry-rate-limits"].to_str().unwrap(),
        format!("{wait}::key")
    );
    assert_eq!(count(&app, "SELECT count(*) FROM error_events").await, 3);
}

/// (type, service, severity, message, environment, release, stack trace) of a stored event.
type StoredRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
);

const SCRIPT: &str = r#"
import sys
import sentry_sdk

sentry_sdk.init(dsn=sys.argv[1], default_integrations=False, traces_sample_rate=0,
                environment="staging", release="shop@2.0.0", server_name="py-host")

def charge(cart):
    return cart["total"] / cart["items"]

try:
    charge({"total": 10, "items": 0})
except ZeroDivisionError:
    sentry_sdk.capture_exception()

sentry_sdk.capture_message("disk almost full on /var", level="warning")
sentry_sdk.capture_message("custom grouped", fingerprint=["payments", "declined"], tags={"service": "billing"})
sentry_sdk.flush(timeout=10)
print("sent")
"#;

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn the_official_python_sdk_reports_here(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    let (key, project) = dsn(&app, "acme").await;
    let dsn = format!(
        "http://{key}@{}/{project}",
        app.base.trim_start_matches("http://")
    );
    // Settings shows exactly this DSN.
    let admin = app.member_client("a@acme.test", "acme", "admin").await;
    let settings = common::ok_json(app.call(&admin, "tenants/settings", &[]).await).await;
    assert_eq!(settings["sentry_dsn"], dsn);
    let python = common::python_with_test_packages().await;
    // A real file, so the SDK sends each frame's source line.
    let script =
        std::env::temp_dir().join(format!("faultline-sentry-app-{}.py", std::process::id()));
    std::fs::write(&script, SCRIPT).unwrap();
    let out = tokio::process::Command::new(python)
        .arg(&script)
        .arg(&dsn)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<StoredRow> = sqlx::query_as(
        r#"SELECT g.error_type, g.service, g.severity, e.message, e.environment, e.release, coalesce(st.trace, '')
           FROM error_events e JOIN error_groups g ON g.id = e.group_id LEFT JOIN stack_traces st ON st.tenant_id = e.tenant_id AND st.hash = e.stack_hash
           ORDER BY e.id"#,
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let (kind, service, severity, message, env, release, stack) = &rows[0];
    assert_eq!(
        (kind.as_str(), service.as_str(), severity.as_str()),
        ("ZeroDivisionError", "py-host", "error")
    );
    assert_eq!(message, "division by zero");
    assert_eq!(
        (env.as_deref(), release.as_deref()),
        (Some("staging"), Some("shop@2.0.0"))
    );
    assert!(
        stack.contains("in charge") && stack.contains("cart[\"total\"] / cart[\"items\"]"),
        "{stack}"
    );
    assert_eq!(
        (rows[1].0.as_str(), rows[1].2.as_str(), rows[1].3.as_str()),
        ("Message", "warning", "disk almost full on /var")
    );
    // The custom fingerprint decides the group; the service tag names the service.
    assert_eq!(rows[2].1, "billing");
    let fingerprint: String =
        sqlx::query_scalar("SELECT fingerprint FROM error_groups WHERE service = 'billing'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let expected = app::errors::pure::apply_client_fingerprint(
        &["payments".into(), "declined".into()],
        "unused",
    );
    assert_eq!(fingerprint, expected);
}
