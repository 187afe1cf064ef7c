//! Asking the Anthropic Messages API for a fix: the prompt (pure), the per-minute token
//! budget (reserved in PostgreSQL, so every replica counts the same tokens), the call, the
//! cache per fingerprint, and the playbook an answer may carry.

use super::Suggestion;
use crate::error::AppError;
use crate::errors::pure::truncate_utf8;
use crate::playbooks::{Mode, PlaybookSpec};
use crate::state::AiSettings;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;

/// The Messages API version this client speaks.
pub const API_VERSION: &str = "2023-06-01";
/// Longest wait for an answer.
const TIMEOUT: Duration = Duration::from_secs(90);
/// Longest stack trace and message sent, in bytes.
const MAX_STACK: usize = 6 * 1024;
const MAX_MESSAGE: usize = 2 * 1024;

/// What the prompt says about the error (all already scrubbed of secrets at ingest).
#[derive(Debug, Clone, Default)]
pub struct ErrorFacts {
    pub error_type: String,
    pub service: String,
    pub category: String,
    pub severity: String,
    pub occurrences: i64,
    pub status: String,
    pub message: String,
    pub stack_trace: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    /// The company's playbook names, so the answer can point at one.
    pub playbooks: Vec<String>,
}

/// The system prompt and the user message for `f`.
pub fn prompt(f: &ErrorFacts) -> (String, String) {
    let system = "You are an SRE assistant inside Faultline, an error tracker that fixes known errors with playbooks. \
Given one error, explain its most likely cause in two or three sentences, then list concrete steps to fix it, most likely first. \
Suggestions are reviewed by a person and never run automatically. \
If the fix can be automated, end with one playbook in a ```json fenced block with exactly these fields: \
{\"name\": string, \"description\": string, \"match\": {\"categories\": [..], \"error_types\": [..], \"services\": [..], \"min_severity\": string|null, \"message_pattern\": regex|null}, \
\"actions\": [steps], \"verify\": check|null, \"rollback\": [steps], \"risk\": \"low\"|\"medium\"|\"high\", \"mode\": \"manual\", \"enabled\": false}. \
A step is {\"type\":\"agent_task\",\"task\":\"restart_service\"|\"clear_cache\"|\"reset_pool\"|other snake_case name} or \
{\"type\":\"http\",\"method\":\"POST\",\"url\":\"http://…\",\"expect_status\":200} or {\"type\":\"wait\",\"secs\":N}. \
A check is {\"type\":\"no_recurrence\",\"secs\":N} or {\"type\":\"http\",\"url\":\"…\"}. Never suggest shell commands with side effects you cannot undo.".to_owned();
    let (message, _) = truncate_utf8(&f.message, MAX_MESSAGE, "… [truncated]");
    let mut user = format!(
        "Error type: {}\nService: {}\nCategory: {}\nSeverity: {}\nOccurrences: {} (status {})\nMessage: {}\n",
        f.error_type, f.service, f.category, f.severity, f.occurrences, f.status, message
    );
    if let Some(env) = &f.environment {
        user.push_str(&format!("Environment: {env}\n"));
    }
    if let Some(release) = &f.release {
        user.push_str(&format!("Release: {release}\n"));
    }
    if let Some(stack) = &f.stack_trace {
        let (stack, _) = truncate_utf8(stack, MAX_STACK, "\n… [truncated]");
        user.push_str(&format!("Stack trace:\n{stack}\n"));
    }
    if !f.playbooks.is_empty() {
        user.push_str(&format!(
            "The company's existing playbooks: {}\n",
            f.playbooks.join("; ")
        ));
    }
    (system, user)
}

/// A rough token count for budgeting before the call (about four characters a token).
pub fn estimate_tokens(system: &str, user: &str, max_tokens: u32) -> i64 {
    ((system.len() + user.len()) / 4) as i64 + i64::from(max_tokens)
}

/// The playbook in an answer's first ```json block, if it is one — always manual and
/// disabled, whatever the answer says.
pub fn playbook_in(text: &str) -> Option<PlaybookSpec> {
    let start = text.find("```json")? + "```json".len();
    let end = text[start..].find("```")? + start;
    let mut spec: PlaybookSpec = serde_json::from_str(text[start..end].trim()).ok()?;
    spec.mode = Mode::Manual;
    spec.enabled = false;
    Some(spec)
}

/// The text and token usage of a Messages API answer.
pub fn parse_answer(body: &Value) -> Result<(String, i64, i64), String> {
    let text: String = body["content"]
        .as_array()
        .ok_or("the answer has no content")?
        .iter()
        .filter(|c| c["type"] == "text")
        .filter_map(|c| c["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    if text.trim().is_empty() {
        return Err("the answer has no text".into());
    }
    let usage = |k: &str| body["usage"][k].as_i64().unwrap_or(0);
    Ok((text, usage("input_tokens"), usage("output_tokens")))
}

fn row_to_suggestion(
    text: String,
    model: String,
    cached: bool,
    created_at: chrono::DateTime<chrono::Utc>,
    created_by: String,
    tokens: i64,
) -> Suggestion {
    let has_playbook = playbook_in(&text).is_some();
    Suggestion {
        text,
        model,
        cached,
        created_at,
        created_by,
        tokens,
        has_playbook,
    }
}

/// The cached suggestion for group `group` of `tenant` (by its fingerprint); 404 for other
/// companies' groups.
pub async fn cached_for_group(
    pool: &PgPool,
    tenant: i64,
    group: i64,
) -> Result<Option<Suggestion>, AppError> {
    let fingerprint = sqlx::query_scalar!(
        "SELECT fingerprint FROM error_groups WHERE tenant_id = $1 AND id = $2",
        tenant,
        group
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| AppError::not_found("error"))?;
    cached(pool, tenant, &fingerprint).await
}

async fn cached(
    pool: &PgPool,
    tenant: i64,
    fingerprint: &str,
) -> Result<Option<Suggestion>, AppError> {
    Ok(sqlx::query!(
        r#"SELECT suggestion, model, created_at, created_by, input_tokens, output_tokens
           FROM ai_suggestions WHERE tenant_id = $1 AND fingerprint = $2"#,
        tenant,
        fingerprint
    )
    .fetch_optional(pool)
    .await?
    .map(|r| {
        row_to_suggestion(
            r.suggestion,
            r.model,
            true,
            r.created_at,
            r.created_by,
            i64::from(r.input_tokens) + i64::from(r.output_tokens),
        )
    }))
}

/// A suggestion for group `group` of `tenant`: cached, or asked for within the company's
/// budget. 409 without `ai` (how to turn it on), 429 over budget, 503 when the AI service
/// fails (nothing is cached or counted then beyond what it answered).
pub async fn suggest(
    pool: &PgPool,
    ai: Option<&AiSettings>,
    tenant: i64,
    group: i64,
    actor: &str,
) -> Result<Suggestion, AppError> {
    let Some(ai) = ai else {
        return Err(AppError::Conflict(
            "AI suggestions are off: start the server with ANTHROPIC_API_KEY set (and FAULTLINE_AI_BASE_URL for a compatible endpoint)".into(),
        ));
    };
    let detail = crate::errors::read::detail(pool, tenant, group).await?;
    let g = &detail.group;
    if let Some(hit) = cached(pool, tenant, &g.fingerprint).await? {
        return Ok(hit);
    }
    let latest = detail.recent_events.first();
    let playbooks = sqlx::query_scalar!(
        "SELECT name FROM playbooks WHERE tenant_id = $1 ORDER BY lower(name) LIMIT 50",
        tenant
    )
    .fetch_all(pool)
    .await?;
    let facts = ErrorFacts {
        error_type: g.error_type.clone(),
        service: g.service.clone(),
        category: g.category.clone(),
        severity: g.severity.clone(),
        occurrences: g.occurrences,
        status: g.status.clone(),
        message: latest.map_or_else(|| g.message.clone(), |e| e.message.clone()),
        stack_trace: latest.and_then(|e| e.stack_trace.clone()),
        environment: latest.and_then(|e| e.environment.clone()),
        release: latest.and_then(|e| e.release.clone()),
        playbooks,
    };
    let (system, user) = prompt(&facts);
    let estimate = estimate_tokens(&system, &user, ai.max_tokens);
    let reservation = reserve(pool, tenant, estimate, ai.tokens_per_minute).await?;
    let answer = call(ai, &system, &user).await;
    let (text, input, output) = match answer {
        Ok(a) => a,
        Err(e) => {
            sqlx::query!(
                "DELETE FROM ai_usage WHERE tenant_id = $1 AND id = $2",
                tenant,
                reservation
            )
            .execute(pool)
            .await?;
            return Err(e);
        }
    };
    // What it really cost replaces the estimate.
    sqlx::query!(
        "UPDATE ai_usage SET tokens = $3 WHERE tenant_id = $1 AND id = $2",
        tenant,
        reservation,
        (input + output).clamp(0, i64::from(i32::MAX)) as i32
    )
    .execute(pool)
    .await?;
    let text = crate::errors::pure::scrub_text(&text);
    let r = sqlx::query!(
        r#"INSERT INTO ai_suggestions (tenant_id, fingerprint, model, suggestion, input_tokens, output_tokens, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (tenant_id, fingerprint) DO UPDATE SET model = EXCLUDED.model,
               suggestion = EXCLUDED.suggestion, input_tokens = EXCLUDED.input_tokens,
               output_tokens = EXCLUDED.output_tokens, created_by = EXCLUDED.created_by, created_at = now()
           RETURNING created_at"#,
        tenant,
        g.fingerprint,
        ai.model,
        text,
        input.clamp(0, i64::from(i32::MAX)) as i32,
        output.clamp(0, i64::from(i32::MAX)) as i32,
        actor
    )
    .fetch_one(pool)
    .await?;
    Ok(row_to_suggestion(
        text,
        ai.model.clone(),
        false,
        r.created_at,
        actor.to_owned(),
        input + output,
    ))
}

/// Reserves `tokens` of `tenant`'s budget for the minute (under a per-company lock, so two
/// requests cannot both take the last of it); 429 with the wait when it would go over.
async fn reserve(pool: &PgPool, tenant: i64, tokens: i64, budget: i64) -> Result<i64, AppError> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtext('faultline.ai_budget'), $1::int4)",
        (tenant % i64::from(i32::MAX)) as i32
    )
    .execute(&mut *tx)
    .await?;
    let used = sqlx::query!(
        r#"SELECT coalesce(sum(tokens), 0)::int8 AS "used!",
                  coalesce(extract(epoch FROM min(at) + interval '60 seconds' - now()), 0)::int8 AS "wait!"
           FROM ai_usage WHERE tenant_id = $1 AND at > now() - interval '60 seconds'"#,
        tenant
    )
    .fetch_one(&mut *tx)
    .await?;
    if used.used + tokens > budget {
        return Err(AppError::RateLimited {
            retry_after: used.wait.clamp(1, 60) as u64,
            message: format!(
                "this company's AI budget of {budget} tokens per minute is used up ({} spent in the last minute, this request needs about {tokens}); try again in {} s",
                used.used,
                used.wait.clamp(1, 60)
            ),
        });
    }
    let id = sqlx::query_scalar!(
        "INSERT INTO ai_usage (tenant_id, tokens) VALUES ($1, $2) RETURNING id",
        tenant,
        tokens.clamp(0, i64::from(i32::MAX)) as i32
    )
    .fetch_one(&mut *tx)
    .await?;
    // Old entries go as new ones come.
    sqlx::query!(
        "DELETE FROM ai_usage WHERE tenant_id = $1 AND at < now() - interval '1 hour'",
        tenant
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// One Messages API call: the answer's text and its input and output tokens.
async fn call(ai: &AiSettings, system: &str, user: &str) -> Result<(String, i64, i64), AppError> {
    let unavailable = |why: String| {
        tracing::warn!(%why, "AI suggestion failed");
        AppError::Unavailable(format!("the AI service could not answer: {why}"))
    };
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| unavailable(e.to_string()))?;
    let res = client
        .post(format!("{}/v1/messages", ai.base_url))
        .header("x-api-key", &ai.api_key)
        .header("anthropic-version", API_VERSION)
        .json(&json!({
            "model": ai.model,
            "max_tokens": ai.max_tokens,
            "system": system,
            "messages": [{ "role": "user", "content": user }],
        }))
        .send()
        .await
        .map_err(|e| unavailable(e.without_url().to_string()))?;
    let status = res.status();
    let body: Value = res
        .json()
        .await
        .map_err(|e| unavailable(format!("{status}: {e}")))?;
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or("no message");
        return Err(unavailable(format!("{status}: {message}")));
    }
    parse_answer(&body).map_err(unavailable)
}

/// A draft playbook from the cached suggestion for group `group` (pretty JSON): the answer's
/// playbook, or — when it has none — one matching the error with the suggestion as its
/// description and no steps yet. 404 when there is no suggestion for it.
pub async fn draft(pool: &PgPool, tenant: i64, group: i64) -> Result<String, AppError> {
    let s = cached_for_group(pool, tenant, group)
        .await?
        .ok_or_else(|| AppError::not_found("suggestion"))?;
    let spec = match playbook_in(&s.text) {
        Some(spec) => spec,
        None => {
            let g = crate::errors::read::group_by_id(pool, tenant, group).await?;
            let mut spec = crate::playbooks::rules::draft_from_resolution(
                &crate::playbooks::rules::Resolution {
                    group_id: group,
                    error_type: g.error_type,
                    service: g.service,
                    message: g.title,
                    ..Default::default()
                },
            );
            let (text, _) = truncate_utf8(&s.text, 1500, "…");
            spec.description = format!("Suggested by {} for error #{group}: {text}", s.model)
                .chars()
                .take(2000)
                .collect();
            spec
        }
    };
    serde_json::to_string_pretty(&spec).map_err(|_| AppError::Internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_carries_the_error_and_stays_bounded() {
        let f = ErrorFacts {
            error_type: "PoolTimeout".into(),
            service: "db".into(),
            message: "pool exhausted".into(),
            stack_trace: Some("x".repeat(100_000)),
            playbooks: vec!["Reset pool".into()],
            ..Default::default()
        };
        let (system, user) = prompt(&f);
        assert!(system.contains("```json") && system.contains("never run automatically"));
        assert!(user.contains("Error type: PoolTimeout") && user.contains("Reset pool"));
        assert!(user.len() < 10_000, "{}", user.len());
        assert!(estimate_tokens(&system, &user, 1500) > 1500);
    }

    #[test]
    fn answers_and_their_playbooks() {
        let body = json!({
            "content": [{ "type": "text", "text": "Cause: the pool is too small.\n```json\n{\"name\":\"Reset\",\"actions\":[{\"type\":\"agent_task\",\"task\":\"reset_pool\"}],\"verify\":null,\"risk\":\"low\",\"mode\":\"automatic\",\"enabled\":true}\n```" }],
            "usage": { "input_tokens": 120, "output_tokens": 80 }
        });
        let (text, input, output) = parse_answer(&body).unwrap();
        assert_eq!((input, output), (120, 80));
        let spec = playbook_in(&text).unwrap();
        assert_eq!(
            (spec.mode, spec.enabled),
            (Mode::Manual, false),
            "never automatic, never on"
        );
        assert!(playbook_in("no block here").is_none());
        assert!(playbook_in("```json\n{\"not\": \"a playbook\"}\n```").is_none());
        assert!(parse_answer(&json!({ "content": [] })).is_err());
        assert!(parse_answer(&json!({ "error": { "message": "bad" } })).is_err());
    }
}
