//! Sentry ingest as a service: the DSN key names the company (403 for an unknown key or a
//! project id that is not the key's company), a per-company rate limit per minute, and the
//! events of an envelope mapped and handed to the ingest writer like any other.

use super::protocol::{Envelope, map_event};
use crate::error::AppError;
use crate::errors::model::NormalizedEvent;
use crate::state::AppState;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// Item types that carry an event Faultline stores; every other type (transaction, session,
/// sessions, client_report, attachment, profile, replay, check_in, …) is accepted and dropped,
/// as the protocol allows.
const EVENT_ITEMS: [&str; 1] = ["event"];

/// The company a DSN public key belongs to, checked against the URL's project id.
pub async fn tenant_for_key(
    pool: &sqlx::PgPool,
    key: &str,
    project: &str,
) -> Result<i64, AppError> {
    let tenant = sqlx::query_scalar!("SELECT id FROM tenants WHERE sentry_key = $1", key)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| AppError::Forbidden("unknown DSN key; copy the DSN from Settings".into()))?;
    if project.parse::<i64>().ok() != Some(tenant) {
        return Err(AppError::Forbidden(format!(
            "project {project} is not this DSN's project; use the DSN from Settings as it is"
        )));
    }
    Ok(tenant)
}

/// The DSN of company `tenant` with public key `key`, as a client reaches this server at
/// `origin` (`http://host:port`).
pub fn dsn(key: &str, tenant: i64, origin: &str) -> String {
    let (scheme, host) = origin.split_once("://").unwrap_or(("http", origin));
    format!("{scheme}://{key}@{host}/{tenant}")
}

/// Fixed one-minute windows per DSN key: (window start, events taken).
static WINDOWS: LazyLock<Mutex<HashMap<String, (Instant, u32)>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Takes `n` events of the DSN `key`'s allowance for this minute (`per_minute` 0:
/// unlimited); when it is used up, a 429 saying how many seconds remain.
pub fn take_allowance(key: &str, n: u32, per_minute: u32) -> Result<(), AppError> {
    if per_minute == 0 || n == 0 {
        return Ok(());
    }
    let mut windows = WINDOWS.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    let entry = windows.entry(key.to_owned()).or_insert((now, 0));
    if now.duration_since(entry.0) >= Duration::from_secs(60) {
        *entry = (now, 0);
    }
    if entry.1.saturating_add(n) > per_minute {
        let wait = 60u64
            .saturating_sub(now.duration_since(entry.0).as_secs())
            .max(1);
        return Err(AppError::RateLimited {
            retry_after: wait,
            message: format!(
                "this DSN may send {per_minute} events per minute; try again in {wait} s"
            ),
        });
    }
    entry.1 += n;
    Ok(())
}

/// Maps an event to a normalized one; when only its `details` (contexts, extra, …) are
/// refused, the event is kept without them rather than lost.
fn normalize(v: &Value, now: chrono::DateTime<chrono::Utc>) -> Result<NormalizedEvent, AppError> {
    let input = map_event(v)?;
    match input.clone().normalize(now) {
        Err(e) if e.field() == Some("details") && input.details.is_some() => {
            let mut bare = input;
            bare.details = None;
            bare.normalize(now)
        }
        other => other,
    }
}

/// Stores the events of `envelope` for `tenant`; answers the id to report (the envelope's
/// `event_id`, else the first stored event's). Events that do not map are skipped when
/// others in the envelope are valid; an envelope whose only events are all invalid is a 400.
pub async fn ingest_envelope(
    state: &AppState,
    tenant: i64,
    key: &str,
    envelope: &Envelope,
) -> Result<Option<String>, AppError> {
    let now = chrono::Utc::now();
    let mut events = Vec::new();
    let mut first_error = None;
    for item in envelope
        .items
        .iter()
        .filter(|i| EVENT_ITEMS.contains(&i.kind.as_str()))
    {
        let parsed = serde_json::from_slice::<Value>(&item.payload)
            .map_err(|e| AppError::invalid("event", format!("an event item is not JSON: {e}")))
            .and_then(|v| normalize(&v, now));
        match parsed {
            Ok(e) => events.push(e),
            Err(e) => {
                tracing::info!(error = %e.message(), "sentry: skipping an event that does not map");
                first_error.get_or_insert(e);
            }
        }
    }
    let header_id = envelope.header["event_id"].as_str().map(str::to_owned);
    if events.is_empty() {
        return match first_error {
            Some(e) => Err(e),
            None => Ok(header_id),
        };
    }
    store(state, tenant, key, events)
        .await
        .map(|id| header_id.or(id))
}

/// Stores one legacy `store` event; answers its id.
pub async fn ingest_event(
    state: &AppState,
    tenant: i64,
    key: &str,
    body: &[u8],
) -> Result<String, AppError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| AppError::invalid("event", format!("the event is not JSON: {e}")))?;
    let event = normalize(&v, chrono::Utc::now())?;
    store(state, tenant, key, vec![event])
        .await?
        .ok_or(AppError::Internal)
}

async fn store(
    state: &AppState,
    tenant: i64,
    key: &str,
    events: Vec<NormalizedEvent>,
) -> Result<Option<String>, AppError> {
    take_allowance(key, events.len() as u32, state.settings.sentry_per_minute)?;
    let outcomes = state.ingest.submit(tenant, events).await?;
    let mut first = None;
    for o in outcomes {
        let stored = o?;
        first.get_or_insert(stored.event_id.simple().to_string());
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_allowance_is_per_key_and_minute() {
        let (a, b) = ("test-key-a", "test-key-b");
        assert!(super::take_allowance(a, 3, 5).is_ok());
        assert!(super::take_allowance(a, 2, 5).is_ok());
        let e = super::take_allowance(a, 1, 5).unwrap_err();
        assert_eq!(e.code(), "rate_limited");
        assert!(matches!(
            e,
            crate::error::AppError::RateLimited {
                retry_after: 1..=60,
                ..
            }
        ));
        assert!(super::take_allowance(b, 5, 5).is_ok());
        assert!(
            super::take_allowance(a, 1000, 0).is_ok(),
            "0 means no limit"
        );
    }
}
