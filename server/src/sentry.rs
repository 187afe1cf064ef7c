//! Sentry SDK endpoints: `POST /api/{project_id}/envelope/` and `POST /api/{project_id}/store/`,
//! a thin adapter over `app::sentry` (see there). Answers `200 {"id": …}`; 403 without a
//! known key or for another project; 400 for a malformed body; 413 past the decompressed
//! limit; 429 with `Retry-After` and `X-Sentry-Rate-Limits` over the per-minute allowance.

use app::AppError;
use app::sentry::{decompress, parse_envelope, sentry_key};
use app::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// How much larger than the request limit a body may grow when decompressed.
const DECOMPRESSED_FACTOR: usize = 20;

async fn tenant_and_body(
    state: &AppState,
    project: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(i64, String, Vec<u8>), AppError> {
    let auth = headers.get("x-sentry-auth").and_then(|v| v.to_str().ok());
    let key = sentry_key(auth, query).ok_or_else(|| {
        AppError::Forbidden(
            "missing Sentry authentication: send X-Sentry-Auth or ?sentry_key= (any Sentry SDK does, given the DSN)".into(),
        )
    })?;
    let tenant = app::sentry::ssr::tenant_for_key(&state.pool, &key, project).await?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let body = decompress(
        encoding,
        body,
        state.settings.max_body_bytes * DECOMPRESSED_FACTOR,
    )?;
    Ok((tenant, key, body))
}

/// Adds what Sentry SDKs read from a refusal: `X-Sentry-Rate-Limits` with the wait.
fn answer(result: Result<Option<String>, AppError>) -> Response {
    match result {
        Ok(id) => Json(json!({ "id": id })).into_response(),
        Err(e) => {
            app::metrics::METRICS.rejected(e.code(), 1);
            let wait = match &e {
                AppError::RateLimited { retry_after, .. } => Some(*retry_after),
                _ => None,
            };
            let mut res = e.into_response();
            if let Some(wait) = wait
                && let Ok(v) = HeaderValue::from_str(&format!("{wait}::key"))
            {
                res.headers_mut().insert("x-sentry-rate-limits", v);
            }
            res
        }
    }
}

/// Which Sentry endpoint `/api/{rest}` is, if any: (project id, `true` for envelopes).
fn endpoint(rest: &str) -> Option<(&str, bool)> {
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (project, kind) = rest.split_once('/')?;
    if project.is_empty() || !project.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match kind {
        "envelope" => Some((project, true)),
        "store" => Some((project, false)),
        _ => None,
    }
}

/// `POST /api/{project_id}/envelope/` and `/store/`; any other path under `/api` (or another
/// method) is a JSON 404.
pub async fn or_not_found(
    state: State<AppState>,
    method: Method,
    Path(rest): Path<String>,
    query: RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match endpoint(&rest) {
        Some((project, true)) if method == Method::POST => {
            envelope(state, Path(project.to_owned()), query, headers, body).await
        }
        Some((project, false)) if method == Method::POST => {
            store(state, Path(project.to_owned()), query, headers, body).await
        }
        _ => AppError::NotFound(format!("no API endpoint at /api/{rest}")).into_response(),
    }
}

/// `POST /api/{project_id}/envelope/`.
pub async fn envelope(
    State(state): State<AppState>,
    Path(project): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(
        async {
            let (tenant, key, body) =
                tenant_and_body(&state, &project, query.as_deref(), &headers, &body).await?;
            let envelope = parse_envelope(&body)?;
            app::sentry::ssr::ingest_envelope(&state, tenant, &key, &envelope).await
        }
        .await,
    )
}

/// `POST /api/{project_id}/store/` (the legacy single-event endpoint).
pub async fn store(
    State(state): State<AppState>,
    Path(project): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(
        async {
            let (tenant, key, body) =
                tenant_and_body(&state, &project, query.as_deref(), &headers, &body).await?;
            app::sentry::ssr::ingest_event(&state, tenant, &key, &body)
                .await
                .map(Some)
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn sentry_paths() {
        assert_eq!(super::endpoint("12/envelope/"), Some(("12", true)));
        assert_eq!(super::endpoint("12/store"), Some(("12", false)));
        assert_eq!(super::endpoint("errors/envelope/"), None);
        assert_eq!(super::endpoint("12/other/"), None);
        assert_eq!(super::endpoint("/envelope/"), None);
        assert_eq!(super::endpoint("12/envelope/x"), None);
    }
}
