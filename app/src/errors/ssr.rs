//! The ingestion service: one implementation behind the agent functions, the seed REST API
//! and (later) the Sentry and MCP adapters.

use super::model::{BatchItem, LogErrorInput, MAX_BATCH, StoredEvent};
use super::{BatchItemResult, BatchResult};
use crate::api_keys::Scope;
use crate::api_keys::ssr::ApiKeyContext;
use crate::error::AppError;
use crate::state::AppState;

/// Stores one event sent with `key`.
pub async fn log_one(
    state: &AppState,
    key: &ApiKeyContext,
    input: LogErrorInput,
) -> Result<StoredEvent, AppError> {
    let tenant = key.require(Scope::Ingest)?;
    let stored = async {
        let event = input.normalize(chrono::Utc::now())?;
        let mut outcomes = state.ingest.submit(tenant, vec![event]).await?;
        outcomes.pop().unwrap_or(Err(AppError::Internal))
    }
    .await;
    if let Err(e) = &stored {
        crate::metrics::METRICS.rejected(e.code(), 1);
    }
    stored
}

/// Stores a batch; each item is validated on its own and answered in order.
pub async fn log_batch(
    state: &AppState,
    key: &ApiKeyContext,
    items: Vec<BatchItem>,
) -> Result<BatchResult, AppError> {
    let tenant = key.require(Scope::Ingest)?;
    if items.is_empty() {
        return Err(AppError::invalid("events", "send at least one event"));
    }
    if items.len() > MAX_BATCH {
        return Err(AppError::invalid(
            "events",
            format!("at most {MAX_BATCH} events per call"),
        ));
    }
    let now = chrono::Utc::now();
    let mut results: Vec<Option<Result<StoredEvent, AppError>>> = Vec::with_capacity(items.len());
    let mut valid = Vec::new();
    let mut positions = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        // An item that does not fit the shape is answered on its own (see `BatchItem`)
        // while the others are stored.
        let parsed = item.0.and_then(|input| input.normalize(now));
        match parsed {
            Ok(event) => {
                valid.push(event);
                positions.push(i);
                results.push(None);
            }
            Err(e) => results.push(Some(Err(e))),
        }
    }
    if !valid.is_empty() {
        let outcomes = match state.ingest.submit(tenant, valid).await {
            Ok(o) => o,
            Err(e) => {
                crate::metrics::METRICS.rejected(e.code(), results.len() as u64);
                return Err(e);
            }
        };
        for (pos, outcome) in positions.into_iter().zip(outcomes) {
            results[pos] = Some(outcome);
        }
    }
    let results: Vec<BatchItemResult> = results
        .into_iter()
        .enumerate()
        .map(|(index, r)| match r {
            Some(Ok(stored)) => BatchItemResult {
                index,
                ok: true,
                stored: Some(stored),
                error: None,
            },
            Some(Err(e)) => BatchItemResult {
                index,
                ok: false,
                stored: None,
                error: Some(e.into()),
            },
            None => BatchItemResult {
                index,
                ok: false,
                stored: None,
                error: Some(AppError::Internal.into()),
            },
        })
        .collect();
    for r in &results {
        if let Some(e) = &r.error {
            crate::metrics::METRICS.rejected(&e.error, 1);
        }
    }
    let accepted = results.iter().filter(|r| r.ok).count();
    Ok(BatchResult {
        accepted,
        rejected: results.len() - accepted,
        results,
    })
}

/// Reopens groups whose time-limited ignore has ended, every `every`, for as long as the
/// process runs. Every replica may run it: a second one finds nothing left to reopen.
pub fn spawn_ignore_sweeper(pool: sqlx::PgPool, every: std::time::Duration) {
    spawn_sweeper(
        pool,
        every,
        "ignores ended; groups reopened",
        "ending expired ignores",
        |pool| async move { super::read::end_expired_ignores(&pool).await },
    );
}

/// Applies every company's event retention every `every` (the first time at once).
pub fn spawn_retention_sweeper(pool: sqlx::PgPool, every: std::time::Duration) {
    spawn_sweeper(
        pool,
        every,
        "events past retention deleted",
        "applying retention",
        |pool| async move { super::read::apply_retention(&pool).await },
    );
}

/// Runs `job` every `every` (the first time at once), logging how many rows it changed
/// (`done`) or why it failed (`what` failed).
fn spawn_sweeper<F, Fut>(
    pool: sqlx::PgPool,
    every: std::time::Duration,
    done: &'static str,
    what: &'static str,
    job: F,
) where
    F: Fn(sqlx::PgPool) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<u64, AppError>> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match job(pool.clone()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "{done}"),
                Err(e) => tracing::warn!(error = ?e, "{what} failed"),
            }
        }
    });
}
