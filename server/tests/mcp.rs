//! The MCP server at `/mcp` driven by the official Python `mcp` client: protocol
//! negotiation, the tool list with input schemas, every tool's structured result, scope and
//! tenant enforcement, and tool errors that name the bad argument.

mod common;

use common::{ok_json, spawn_app};
use serde_json::{Value, json};
use sqlx::PgPool;

const CLIENT: &str = r#"
import asyncio, json, sys
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

URL, KEY, CALLS = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

async def main():
    out = {}
    async with create_mcp_http_client(headers={"Authorization": f"Bearer {KEY}"}) as http:
        async with streamable_http_client(URL, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                out["protocol"] = init.protocol_version
                out["server"] = init.server_info.name
                tools = (await session.list_tools()).tools
                out["tools"] = {t.name: {"description": t.description, "schema": t.input_schema} for t in tools}
                out["calls"] = []
                for name, args in CALLS:
                    r = await session.call_tool(name, args)
                    out["calls"].append({
                        "tool": name,
                        "error": bool(r.is_error),
                        "text": r.content[0].text if r.content else "",
                        "structured": r.structured_content,
                    })
    print(json.dumps(out))

asyncio.run(main())
"#;

async fn run_client(base: &str, key: &str, calls: Value) -> Value {
    let python = common::python_with_test_packages().await;
    let out = tokio::process::Command::new(python)
        .args([
            "-c",
            CLIENT,
            &format!("{base}/mcp"),
            key,
            &calls.to_string(),
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "the MCP client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[sqlx::test(migrator = "app::MIGRATOR")]
async fn an_mcp_client_reads_acts_and_is_kept_to_its_scopes(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let key =
        server::commands::create_api_key(&app.pool, "acme", "assistant", "ingest,read,write,fix")
            .await
            .unwrap();
    let reader = server::commands::create_api_key(&app.pool, "acme", "reader", "read")
        .await
        .unwrap();
    let theirs = server::commands::create_api_key(&app.pool, "globex", "spy", "read,write,fix")
        .await
        .unwrap();
    ok_json(
        app.agent(Some(&key), "register_agent", json!({ "name": "helper" }))
            .await,
    )
    .await;
    let group = ok_json(
        app.agent(
            Some(&key),
            "log_error",
            json!({ "service": "checkout", "severity": "critical", "error_type": "PoolTimeout",
                    "message": "connection pool exhausted", "agent": "helper" }),
        )
        .await,
    )
    .await["group_id"]
        .as_i64()
        .unwrap();

    let out = run_client(
        &app.base,
        &key,
        json!([
            ["errors_list", { "severity": "critical" }],
            ["errors_get", { "id": group }],
            // Two hours: the current hour alone misses the event when the clock passes the
            // hour between logging it and asking.
            ["errors_top", { "hours": 2 }],
            ["agents_list", {}],
            ["system_health", {}],
            ["errors_comment", { "id": group, "notes": "pool size is 5; raising it" }],
            ["errors_assign", { "id": group, "agent": "helper" }],
            ["errors_fix", { "id": group }],
            ["fix_propose", { "id": group, "name": "Reset the pool",
                              "actions": [{ "type": "agent_task", "task": "reset_pool" }],
                              "verify": { "type": "no_recurrence", "secs": 60 } }],
            ["fixes_list", { "status": "pending_approval" }],
            ["errors_ignore", { "id": group, "mode": "24h" }],
            ["errors_resolve", { "id": group, "notes": "pool raised to 20" }],
            ["errors_list", { "limit": 0 }],
            ["errors_get", { "id": "abc" }],
            ["errors_get", {}],
            ["errors_get", { "id": 987654 }],
            ["fix_propose", { "id": group, "name": "Metadata", "actions": [{ "type": "http", "method": "GET", "url": "http://169.254.169.254/" }] }]
        ]),
    )
    .await;
    assert!(out["protocol"].as_str().unwrap().starts_with("20"), "{out}");
    assert_eq!(out["server"], "faultline");
    let tools = out["tools"].as_object().unwrap();
    for name in [
        "errors_list",
        "errors_get",
        "errors_resolve",
        "errors_ignore",
        "errors_assign",
        "errors_comment",
        "errors_fix",
        "errors_top",
        "agents_list",
        "system_health",
        "fixes_list",
        "fix_propose",
    ] {
        let t = &tools[name];
        assert!(
            t["description"].as_str().is_some_and(|d| d.len() > 40),
            "{name}: {t}"
        );
        assert_eq!(t["schema"]["type"], "object", "{name}");
    }
    assert_eq!(tools["errors_get"]["schema"]["required"], json!(["id"]));
    let calls = out["calls"].as_array().unwrap();
    let call = |i: usize| &calls[i];
    for i in 0..7 {
        assert_eq!(call(i)["error"], false, "{}", call(i));
        assert!(call(i)["structured"].is_object(), "{}", call(i));
        // The text is the same JSON as the structured content.
        let text: Value = serde_json::from_str(call(i)["text"].as_str().unwrap()).unwrap();
        assert_eq!(text, call(i)["structured"]);
    }
    assert_eq!(call(0)["structured"]["total"], 1);
    assert_eq!(call(1)["structured"]["error_type"], "PoolTimeout");
    assert_eq!(call(2)["structured"]["errors"][0]["id"], group);
    assert_eq!(call(3)["structured"]["agents"][0]["name"], "helper");
    assert_eq!(call(4)["structured"]["unresolved_groups"], 1);
    assert_eq!(call(6)["structured"]["assignee"], "agent helper");
    // No playbook yet: refused with the reason, as a tool error.
    assert_eq!(call(7)["error"], true);
    assert!(
        call(7)["text"]
            .as_str()
            .unwrap()
            .contains("no enabled playbook matches"),
        "{}",
        call(7)
    );
    // A proposal waits for a person.
    assert_eq!(call(8)["error"], false, "{}", call(8));
    assert_eq!(call(8)["structured"]["status"], "pending_approval");
    assert_eq!(call(8)["structured"]["trigger"], "mcp");
    assert_eq!(call(9)["structured"]["pending_approval"], 1);
    assert_eq!(call(10)["structured"]["status"], "ignored");
    assert_eq!(call(11)["structured"]["status"], "resolved");
    // Bad arguments name the argument.
    for (i, name) in [
        (12, "limit"),
        (13, "id"),
        (14, "id"),
        (16, "actions[0].url"),
    ] {
        assert_eq!(call(i)["error"], true, "{}", call(i));
        assert!(
            call(i)["text"].as_str().unwrap().contains(name),
            "{}",
            call(i)
        );
    }
    assert!(
        call(15)["text"].as_str().unwrap().contains("not found"),
        "{}",
        call(15)
    );

    let history: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, actor FROM activity WHERE group_id = $1 ORDER BY id")
            .bind(group)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(
        history.contains(&("commented".into(), "api_key:assistant".into())),
        "{history:?}"
    );
    assert!(
        history.contains(&("resolved".into(), "api_key:assistant".into())),
        "{history:?}"
    );

    // A read-only key reads but does not act; another company's key sees nothing.
    let out = run_client(
        &app.base,
        &reader,
        json!([["errors_get", { "id": group }], ["errors_resolve", { "id": group }]]),
    )
    .await;
    assert_eq!(out["calls"][0]["error"], false);
    assert_eq!(out["calls"][1]["error"], true);
    assert!(
        out["calls"][1]["text"]
            .as_str()
            .unwrap()
            .contains("`write` scope"),
        "{out}"
    );
    let out = run_client(
        &app.base,
        &theirs,
        json!([["errors_get", { "id": group }], ["errors_list", {}]]),
    )
    .await;
    assert!(
        out["calls"][0]["text"]
            .as_str()
            .unwrap()
            .contains("not found"),
        "{out}"
    );
    assert_eq!(out["calls"][1]["structured"]["total"], 0);

    // Without a valid key nothing gets in.
    let res = reqwest::Client::new()
        .post(app.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {} }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
}
