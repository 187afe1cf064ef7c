//! The agent task channel: tasks handed out from the dashboard, claimed under a lease by
//! `next_task` (long-polling), finished by `complete_task` only by the agent that holds them.

mod common;

use common::{TestApp, expect_error, ok_json, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::{Duration, Instant};

async fn register(app: &TestApp, key: &str, name: &str) -> i64 {
    ok_json(
        app.agent(Some(key), "register_agent", json!({ "name": name }))
            .await,
    )
    .await["agent_id"]
        .as_i64()
        .unwrap()
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn tasks_are_claimed_under_a_lease_and_finished_by_their_holder(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let key = server::commands::create_api_key(&app.pool, "acme", "agent", "ingest,fix")
        .await
        .unwrap();
    let ingest_only = server::commands::create_api_key(&app.pool, "acme", "logger", "ingest")
        .await
        .unwrap();
    let theirs = server::commands::create_api_key(&app.pool, "globex", "agent", "ingest,fix")
        .await
        .unwrap();
    let worker = register(&app, &key, "worker").await;
    register(&app, &key, "other").await;
    let spy = register(&app, &theirs, "worker").await;
    let member = app.member_client("m@acme.test", "acme", "member").await;
    let viewer = app.member_client("v@acme.test", "acme", "viewer").await;
    let worker_s = worker.to_string();

    // Handing out tasks: members only, own agents only, valid names only.
    expect_error(
        app.call(
            &viewer,
            "agents/task",
            &[("agent_id", &worker_s), ("task", "restart_service")],
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        app.call(
            &member,
            "agents/task",
            &[("agent_id", &spy.to_string()), ("task", "restart_service")],
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.call(
            &member,
            "agents/task",
            &[("agent_id", &worker_s), ("task", "rm -rf /")],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    let first = ok_json(
        app.call(
            &member,
            "agents/task",
            &[("agent_id", &worker_s), ("task", "restart_service")],
        )
        .await,
    )
    .await;

    // Claiming: the fix scope, a registered agent, a bounded wait.
    expect_error(
        app.agent(
            Some(&ingest_only),
            "next_task",
            json!({ "agent": "worker", "wait_secs": 0 }),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        app.agent(
            Some(&key),
            "next_task",
            json!({ "agent": "ghost", "wait_secs": 0 }),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.agent(
            Some(&key),
            "next_task",
            json!({ "agent": "worker", "wait_secs": 31 }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid",
    )
    .await;
    assert_eq!(
        ok_json(
            app.agent(
                Some(&theirs),
                "next_task",
                json!({ "agent": "worker", "wait_secs": 0 })
            )
            .await
        )
        .await,
        Value::Null,
        "another company's agent of the same name gets nothing"
    );
    assert_eq!(
        ok_json(
            app.agent(
                Some(&key),
                "next_task",
                json!({ "agent": "other", "wait_secs": 0 })
            )
            .await
        )
        .await,
        Value::Null
    );
    let t = ok_json(
        app.agent(
            Some(&key),
            "next_task",
            json!({ "agent": "worker", "wait_secs": 0 }),
        )
        .await,
    )
    .await;
    assert_eq!(
        (&t["task_id"], &t["task"], &t["attempts"], &t["lease_secs"]),
        (&first, &json!("restart_service"), &json!(1), &json!(120))
    );
    assert_eq!(
        ok_json(
            app.agent(
                Some(&key),
                "next_task",
                json!({ "agent": "worker", "wait_secs": 0 })
            )
            .await
        )
        .await,
        Value::Null,
        "held under its lease"
    );

    // Finishing: only the holder, once; secrets in the output are scrubbed.
    let done = |agent: &str, task: &Value, ok: bool| json!({ "agent": agent, "task_id": task, "ok": ok, "output": "restarted; password=hunter2" });
    expect_error(
        app.agent(Some(&key), "complete_task", done("other", &first, true))
            .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    expect_error(
        app.agent(Some(&theirs), "complete_task", done("worker", &first, true))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.agent(
            Some(&key),
            "complete_task",
            done("worker", &json!(999_999), true),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    ok_json(
        app.agent(Some(&key), "complete_task", done("worker", &first, true))
            .await,
    )
    .await;
    expect_error(
        app.agent(Some(&key), "complete_task", done("worker", &first, false))
            .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let (status, output): (String, String) =
        sqlx::query_as("SELECT status, output FROM agent_tasks WHERE id = $1")
            .bind(first.as_i64().unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(status, "succeeded");
    assert!(
        output.contains("[Filtered]") && !output.contains("hunter2"),
        "{output}"
    );

    // An expired lease: the holder can no longer finish it, and it is claimable again.
    let second = ok_json(
        app.call(
            &member,
            "agents/task",
            &[("agent_id", &worker_s), ("task", "clear_cache")],
        )
        .await,
    )
    .await;
    ok_json(
        app.agent(
            Some(&key),
            "next_task",
            json!({ "agent": "worker", "wait_secs": 0 }),
        )
        .await,
    )
    .await;
    sqlx::query("UPDATE agent_tasks SET lease_until = now() - interval '1 second' WHERE id = $1")
        .bind(second.as_i64().unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    expect_error(
        app.agent(Some(&key), "complete_task", done("worker", &second, true))
            .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let again = ok_json(
        app.agent(
            Some(&key),
            "next_task",
            json!({ "agent": "worker", "wait_secs": 0 }),
        )
        .await,
    )
    .await;
    assert_eq!(
        (&again["task_id"], &again["attempts"]),
        (&second, &json!(2))
    );
    ok_json(
        app.agent(Some(&key), "complete_task", done("worker", &second, false))
            .await,
    )
    .await;

    // Long polling: a waiting agent gets a task sent while it waits.
    let waiting = {
        let url = app.url("/api/v1/next_task");
        let key = key.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let v: Value = reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .json(&json!({ "agent": "worker", "wait_secs": 10 }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (v, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(600)).await;
    let third = ok_json(
        app.call(
            &member,
            "agents/task",
            &[("agent_id", &worker_s), ("task", "reset_pool")],
        )
        .await,
    )
    .await;
    let (got, took) = waiting.await.unwrap();
    assert_eq!(got["task_id"], third);
    assert!(
        took < Duration::from_secs(5),
        "answered {took:?} after it was sent"
    );

    // The agent's page lists its tasks; members get the form.
    let html = member
        .get(app.url(&format!("/agents/{worker}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"agent-tasks\"") && html.contains("id=\"send-task\""));
    assert!(html.contains("succeeded") && html.contains("failed") && html.contains("[Filtered]"));
    let html = viewer
        .get(app.url(&format!("/agents/{worker}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"agent-tasks\"") && !html.contains("id=\"send-task\""));
}
