//! Ingestion through the real router: dedup, retries, regressions, scrubbing, batches and
//! every kind of bad input.

mod common;

use common::{TestApp, expect_error, ok_json, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

const PY_TRACE: &str = "Traceback (most recent call last):\n  File \"/app/billing/db.py\", line 42, in connect\n    conn = pool.get()\nConnectionError: refused";
const PY_TRACE_OTHER_SITE: &str = "Traceback (most recent call last):\n  File \"/app/billing/cache.py\", line 7, in warm\n    conn = pool.get()\nConnectionError: refused";

async fn setup(app: &TestApp, slug: &str, scopes: &str) -> String {
    app.tenant(slug).await;
    server::commands::create_api_key(&app.pool, slug, "agent", scopes)
        .await
        .unwrap()
}

fn event(message: &str) -> Value {
    json!({
        "service": "billing",
        "severity": "error",
        "error_type": "ConnectionError",
        "message": message,
        "stack_trace": PY_TRACE,
    })
}

async fn rest_log(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/api/errors/log"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn identical_errors_fold_into_one_group(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = setup(&app, "acme", "ingest").await;

    let mut answers = Vec::new();
    for port in [5432, 6543, 7654] {
        let res = rest_log(
            &app,
            &key,
            &event(&format!(
                "connection to 10.0.0.{} port {port} refused after 30s",
                port % 7
            )),
        )
        .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        answers.push(res.json::<Value>().await.unwrap());
    }
    assert_eq!(answers[0]["is_new_group"], true);
    assert_eq!(answers[1]["is_new_group"], false);
    assert_eq!(answers[2]["occurrences"], 3);
    assert_eq!(answers[0]["group_id"], answers[2]["group_id"]);
    // The ids the server makes are time-ordered (UUIDv7), so they go in at the end of the
    // event id index instead of at random places in it.
    let ids: Vec<uuid::Uuid> = answers
        .iter()
        .map(|a| a["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids.iter().all(|id| id.get_version_num() == 7), "{ids:?}");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // Another call site is another group.
    let mut other = event("connection to 10.0.0.1 port 5432 refused after 30s");
    other["stack_trace"] = json!(PY_TRACE_OTHER_SITE);
    let res: Value = rest_log(&app, &key, &other).await.json().await.unwrap();
    assert_eq!(res["is_new_group"], true);
    assert_ne!(res["group_id"], answers[0]["group_id"]);

    let (groups, events, hourly): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM error_groups), (SELECT count(*) FROM error_events), (SELECT sum(count)::int8 FROM group_counts_hourly)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((groups, events, hourly), (2, 4, 4));
    let category: String = sqlx::query_scalar("SELECT category FROM error_groups LIMIT 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(category, "network");
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn the_agent_function_and_retries_with_the_same_event_id(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = setup(&app, "acme", "ingest").await;
    let mut body = event("disk full on /var/lib/data");
    body["event_id"] = json!("5f0c7c1e-1b7d-4a8e-9a51-1f2b3c4d5e6f");
    body["agent"] = json!("worker-7");
    body["tags"] = json!({ "region": "eu-1", "attempt": 2 });
    let first = app.agent(Some(&key), "log_error", body.clone()).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().await.unwrap();
    let again: Value = app
        .agent(Some(&key), "log_error", body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["event_id"], "5f0c7c1e-1b7d-4a8e-9a51-1f2b3c4d5e6f");
    assert_eq!(again["group_id"], first["group_id"]);
    assert_eq!(again["occurrences"], 1, "a retry is counted once");
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM error_events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(events, 1, "a retry is stored once");
    let agent: String = sqlx::query_scalar("SELECT name FROM agents")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(agent, "worker-7", "agents are registered on first sight");
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn a_resolved_group_that_recurs_regresses(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = setup(&app, "acme", "ingest").await;
    let first: Value = rest_log(&app, &key, &event("connection refused"))
        .await
        .json()
        .await
        .unwrap();
    sqlx::query("UPDATE error_groups SET status = 'resolved', resolved_at = now()")
        .execute(&app.pool)
        .await
        .unwrap();
    let again: Value = rest_log(&app, &key, &event("connection refused"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["group_id"], first["group_id"]);
    let status: String = sqlx::query_scalar("SELECT status FROM error_groups")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "regressed");
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM activity ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(kinds, ["first_seen", "regressed"]);
    // A third occurrence does not log a second regression.
    rest_log(&app, &key, &event("connection refused")).await;
    let regressions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM activity WHERE kind = 'regressed'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(regressions, 1);
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn secrets_never_reach_the_database(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = setup(&app, "acme", "ingest").await;
    let body = json!({
        "service": "billing",
        "severity": "critical",
        "error_type": "AuthError",
        "message": "login failed for postgres://svc:hunter2secret@db:5432/app with password=hunter2secret",
        "stack_trace": "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2VjcmV0\n  at login (/app/auth.js:1:1)",
        "details": { "request": { "headers": { "Cookie": "sid=hunter2secret" }, "body": { "user": { "password": "hunter2secret", "api_key": "AKIAIOSFODNN7EXAMPLE" } } } },
        "tags": { "session": "hunter2secret", "region": "eu" },
    });
    assert_eq!(
        rest_log(&app, &key, &body).await.status(),
        StatusCode::CREATED
    );
    let dump: String = sqlx::query_scalar(
        "SELECT (SELECT string_agg(e::text, ' ') FROM error_events e) || (SELECT string_agg(g::text, ' ') FROM error_groups g)
             || (SELECT string_agg(s::text, ' ') FROM stack_traces s)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    for secret in [
        "hunter2secret",
        "AKIAIOSFODNN7EXAMPLE",
        "c2lnbmF0dXJlc2VjcmV0",
    ] {
        assert!(!dump.contains(secret), "{secret} was stored: {dump}");
    }
    assert!(dump.contains("[Filtered]"));
    assert!(dump.contains("eu"), "harmless values are kept");
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn one_bad_item_does_not_reject_the_batch(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = setup(&app, "acme", "ingest").await;
    let mut bad = event("x");
    bad["severity"] = json!("catastrophic");
    let batch =
        json!({ "events": [event("a failed"), bad, { "service": "s" }, event("a failed")] });
    let res = app.agent(Some(&key), "log_errors", batch).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["accepted"], 2);
    assert_eq!(body["rejected"], 2);
    assert_eq!(body["results"][1]["error"]["field"], "severity");
    assert_eq!(body["results"][2]["ok"], false);
    assert_eq!(body["results"][3]["occurrences"], 2);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM error_events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(events, 2);

    let too_many: Vec<Value> = (0..1001).map(|i| event(&format!("e{i}"))).collect();
    let body = expect_error(
        app.agent(Some(&key), "log_errors", json!({ "events": too_many }))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    assert_eq!(body["field"], "events");
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn bad_input_gets_clear_4xx_answers(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = setup(&app, "acme", "ingest").await;

    let mut bad = event("x");
    bad["severity"] = json!("catastrophic");
    let body = expect_error(
        rest_log(&app, &key, &bad).await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    assert_eq!(body["field"], "severity");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("critical, error, warning, info")
    );

    let res = reqwest::Client::new()
        .post(app.url("/api/errors/log"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{\"service\": \"x\",")
        .send()
        .await
        .unwrap();
    let body = expect_error(res, StatusCode::BAD_REQUEST, "invalid").await;
    assert!(
        body["message"].as_str().unwrap().contains("line 1 column"),
        "{body}"
    );

    let missing = json!({ "service": "billing", "severity": "error" });
    let body = expect_error(
        rest_log(&app, &key, &missing).await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("error_type"),
        "{body}"
    );

    let mut big_details = event("x");
    big_details["details"] = json!({ "blob": "x".repeat(70 * 1024) });
    assert_eq!(
        expect_error(
            rest_log(&app, &key, &big_details).await,
            StatusCode::BAD_REQUEST,
            "invalid"
        )
        .await["field"],
        "details"
    );
    let mut big_stack = event("x");
    big_stack["stack_trace"] = json!("y".repeat(70 * 1024));
    assert_eq!(
        expect_error(
            rest_log(&app, &key, &big_stack).await,
            StatusCode::BAD_REQUEST,
            "invalid"
        )
        .await["field"],
        "stack_trace"
    );
    let mut bad_id = event("x");
    bad_id["event_id"] = json!("not-a-uuid");
    assert_eq!(
        expect_error(
            rest_log(&app, &key, &bad_id).await,
            StatusCode::BAD_REQUEST,
            "invalid"
        )
        .await["field"],
        "event_id"
    );

    let huge = json!({ "service": "s", "severity": "error", "error_type": "E", "message": "m".repeat(1_100_000) });
    expect_error(
        rest_log(&app, &key, &huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;

    // Long messages are kept, cut at 8 KiB with a marker.
    let res = rest_log(&app, &key, &event(&"z".repeat(20_000))).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let stored: String =
        sqlx::query_scalar("SELECT message FROM error_events WHERE message LIKE 'zzz%'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(stored.len() <= 8 * 1024 && stored.ends_with("[truncated]"));

    expect_error(
        rest_log(&app, "flt_nonsense", &event("x")).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let res = reqwest::Client::new()
        .post(app.url("/api/errors/log"))
        .json(&event("x"))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let read_only = server::commands::create_api_key(&app.pool, "acme", "reader", "read")
        .await
        .unwrap();
    expect_error(
        rest_log(&app, &read_only, &event("x")).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        app.agent(Some(&read_only), "log_error", event("x")).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn tenants_never_share_groups(pool: PgPool) {
    let app = spawn_app(pool).await;
    let a = setup(&app, "alpha", "ingest").await;
    let b = setup(&app, "beta", "ingest").await;
    let ra: Value = rest_log(&app, &a, &event("boom"))
        .await
        .json()
        .await
        .unwrap();
    let rb: Value = rest_log(&app, &b, &event("boom"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ra["is_new_group"], true);
    assert_eq!(
        rb["is_new_group"], true,
        "the same error in another tenant is its own group"
    );
    assert_ne!(ra["group_id"], rb["group_id"]);
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn a_full_queue_answers_429_and_loses_nothing_it_acknowledged(pool: PgPool) {
    let settings = app::state::Settings {
        ingest_queue: 1,
        ingest_writers: 1,
        ..Default::default()
    };
    let app = common::spawn_app_with(pool, settings).await;
    let key = setup(&app, "acme", "ingest").await;
    // Hold the groups table so the writer blocks inside its first batch.
    let mut blocker = app.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE error_groups IN EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();

    let send = |message: String| {
        let url = app.url("/api/errors/log");
        let key = key.clone();
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .json(&event(&message))
                .send()
                .await
                .unwrap()
        })
    };
    let in_writer = send("first".into());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let queued = send("second".into());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let refused = send("third".into()).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().get("retry-after").is_some());
    expect_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    blocker.rollback().await.unwrap();
    assert_eq!(in_writer.await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(queued.await.unwrap().status(), StatusCode::CREATED);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM error_events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(events, 2, "both acknowledged events are stored");
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn nul_characters_cannot_fail_a_batch(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = setup(&app, "acme", "ingest").await;
    let mut body = event("bad\u{0}byte");
    body["details"] = json!({ "k\u{0}ey": ["v\u{0}al"] });
    body["tags"] = json!({ "t": "x\u{0}y" });
    body["stack_trace"] = json!("Traceback (most recent call last):\n  \u{0} boom");
    // Twice: the second time the trace is prepared already.
    for _ in 0..2 {
        let res = rest_log(&app, &key, &body).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let stored: Vec<String> = sqlx::query_scalar("SELECT message FROM error_events")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, ["bad\u{FFFD}byte", "bad\u{FFFD}byte"]);
    let trace: String = sqlx::query_scalar("SELECT trace FROM stack_traces")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(trace, "Traceback (most recent call last):\n  \u{FFFD} boom");
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn batches_spanning_writers_mix_retries_and_new_events(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = setup(&app, "acme", "ingest").await;
    // 40 distinct groups (different error types), so both writers get a share.
    let item = |i: usize, id: usize| {
        let mut e = event("quota exceeded");
        e["error_type"] = json!(format!(
            "Error{}",
            ["A", "B", "C", "D", "E", "F", "G", "H"][i % 8]
        ));
        e["service"] = json!(format!("svc-{}", i % 5));
        e["event_id"] = json!(format!("00000000-0000-4000-8000-{id:012}"));
        e
    };
    let first: Vec<Value> = (0..40).map(|i| item(i, i)).collect();
    let res = ok_json(
        app.agent(Some(&key), "log_errors", json!({ "events": first }))
            .await,
    )
    .await;
    assert_eq!(res["accepted"], 40);

    // The same 40 again (a client retry) plus 40 new ones, in one call.
    let mixed: Vec<Value> = (0..80).map(|i| item(i % 40, i)).collect();
    let res = ok_json(
        app.agent(Some(&key), "log_errors", json!({ "events": mixed }))
            .await,
    )
    .await;
    assert_eq!(res["accepted"], 80, "{res}");
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM error_events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(events, 80, "retries are stored once");
    let counts: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT g.occurrences, (SELECT count(*) FROM error_events e WHERE e.group_id = g.id)
         FROM error_groups g",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(counts.len(), 40);
    for (occurrences, stored) in counts {
        assert_eq!(
            occurrences, stored,
            "each group counts exactly its stored events"
        );
        assert_eq!(occurrences, 2);
    }
    let hourly: i64 = sqlx::query_scalar("SELECT sum(count)::int8 FROM group_counts_hourly")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(hourly, 80, "hourly counts match the stored events");

    // A group deleted while the writers remember its id is created again on its next event.
    let gone: i64 = res["results"][0]["stored"]["group_id"]
        .as_i64()
        .or_else(|| res["results"][0]["group_id"].as_i64())
        .expect("a group id in the first result");
    sqlx::query("DELETE FROM error_events WHERE group_id = $1")
        .bind(gone)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM error_groups WHERE id = $1")
        .bind(gone)
        .execute(&app.pool)
        .await
        .unwrap();
    let again: Value = app
        .agent(Some(&key), "log_error", item(0, 500))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["is_new_group"], true, "{again}");
    assert_eq!(again["occurrences"], 1);
    assert_ne!(again["group_id"], json!(gone));
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn each_distinct_stack_trace_is_stored_once_and_dropped_when_unused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = setup(&app, "acme", "ingest,read").await;
    let other_key = setup(&app, "globex", "ingest").await;
    let mut group = 0;
    for i in 0..3 {
        let res = rest_log(&app, &key, &event(&format!("refused after {i} s"))).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        group = res.json::<Value>().await.unwrap()["group_id"]
            .as_i64()
            .unwrap();
    }
    let mut other = event("refused");
    other["stack_trace"] = json!(PY_TRACE_OTHER_SITE);
    assert_eq!(
        rest_log(&app, &key, &other).await.status(),
        StatusCode::CREATED
    );
    // The same trace from another company is that company's own row.
    assert_eq!(
        rest_log(&app, &other_key, &event("refused")).await.status(),
        StatusCode::CREATED
    );
    let per_tenant: Vec<(String, i64)> = sqlx::query_as(
        "SELECT t.slug, count(*) FROM stack_traces s JOIN tenants t ON t.id = s.tenant_id GROUP BY t.slug ORDER BY t.slug",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(per_tenant, [("acme".into(), 2), ("globex".into(), 1)]);
    let unhashed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM error_events WHERE stack_hash IS NULL")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(unhashed, 0);

    // Every event reads its trace back.
    let detail = app.get_json(&key, &format!("/api/errors/{group}")).await;
    assert_eq!(detail["latest_event"]["stack_trace"], PY_TRACE);
    let events = detail["recent_events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert!(
        events.iter().all(|e| e["stack_trace"] == PY_TRACE),
        "{events:?}"
    );

    // Retention: a trace no remaining event can refer to goes with the events; one still in
    // use stays.
    sqlx::query("UPDATE tenants SET retention_days = 7 WHERE slug = 'acme'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE error_events SET received_at = now() - interval '30 days'
         WHERE tenant_id = (SELECT id FROM tenants WHERE slug = 'acme') AND group_id <> $1",
    )
    .bind(group)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE stack_traces SET last_seen = now() - interval '30 days'
         WHERE tenant_id = (SELECT id FROM tenants WHERE slug = 'acme') AND trace <> $1",
    )
    .bind(PY_TRACE)
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        app::errors::read::apply_retention(&app.pool).await.unwrap(),
        1
    );
    let left: Vec<String> = sqlx::query_scalar("SELECT trace FROM stack_traces ORDER BY trace")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, [PY_TRACE, PY_TRACE]);
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn large_batches_store_the_same_rows_as_small_ones(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = setup(&app, "acme", "ingest").await;
    // Every field set, with characters COPY's text format would have to escape.
    let item = |n: usize| {
        let mut e = event("quota\texceeded for \\\\tenant\n“ünïcödé” line two");
        e["event_id"] = json!(format!("00000000-0000-4000-8000-{n:012}"));
        e["details"] =
            json!({ "path": "C:\\tmp\\x", "nested": { "n": 1.5, "ok": true, "none": null } });
        e["agent"] = json!("runner-1");
        e["timestamp"] = json!("2026-01-31T12:00:00.123456Z");
        e["environment"] = json!("prod");
        e["release"] = json!("1.2.3");
        e["tags"] = json!({ "region": "eu\tw" });
        e
    };
    // One event alone is inserted with one statement; 150 of one group reach one writer in
    // one batch and go through COPY; then 70 more, a smaller COPY batch: the writer reuses its
    // COPY buffer, and nothing of the previous batch's rows may remain in it.
    for events in [0..=0, 1..=150, 151..=220] {
        let events: Vec<Value> = events.map(item).collect();
        let res = ok_json(
            app.agent(Some(&key), "log_errors", json!({ "events": events }))
                .await,
        )
        .await;
        assert_eq!(res["accepted"], events.len(), "{res}");
    }

    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT concat_ws('|', a.name, e.group_id, e.service, e.severity, e.message, e.details::text,
                          encode(e.stack_hash, 'hex'), e.environment, e.release, e.tags::text,
                          to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')),
                count(*)
         FROM error_events e JOIN agents a ON a.tenant_id = e.tenant_id AND a.id = e.agent_id
         GROUP BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1, "every row is the same: {rows:#?}");
    let (row, count) = &rows[0];
    assert_eq!(*count, 221);
    assert!(row.starts_with("runner-1|"), "{row}");
    assert!(
        row.contains("quota\texceeded for \\\\tenant\n“ünïcödé” line two"),
        "{row}"
    );
    assert!(row.contains(r#"{"region":"eu\tw"}"#), "{row}");
    assert!(row.ends_with("|2026-01-31 12:00:00.123456"), "{row}");
    let group_occurrences: i64 = sqlx::query_scalar("SELECT occurrences FROM error_groups")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(group_occurrences, 221);
}

/// A writer keeps its connection between batches; when PostgreSQL ends it, the writer must
/// take a new one instead of failing every later batch on the dead one.
#[sqlx::test(migrator = "app::MIGRATOR")]
async fn a_writer_whose_connection_ends_takes_a_new_one(pool: PgPool) {
    let settings = app::state::Settings {
        ingest_writers: 1,
        ..Default::default()
    };
    let app = common::spawn_app_with(pool, settings).await;
    let key = setup(&app, "acme", "ingest").await;
    assert_eq!(
        rest_log(&app, &key, &event("before")).await.status(),
        StatusCode::CREATED
    );
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()) t",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(
        ended >= 1,
        "the server's connections (the writer's among them) were ended"
    );

    // The first batch may find the connection dead (503, nothing stored); the next ones
    // must not.
    let mut stored = 1;
    for i in 0..3 {
        let answer = rest_log(&app, &key, &event(&format!("after {i}"))).await;
        match answer.status() {
            StatusCode::CREATED => stored += 1,
            StatusCode::SERVICE_UNAVAILABLE if i == 0 => {}
            other => panic!("answer {i} after the connection ended: {other}"),
        }
    }
    assert!(stored >= 3, "the writer recovered");
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM error_events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        events, stored,
        "every acknowledged event is stored, nothing else"
    );
}
