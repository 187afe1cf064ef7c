//! The seed REST API (`/api/errors…`): a thin adapter over the same service functions the
//! agent server functions call.

use app::AppError;
use app::api_keys::ssr::{bearer, verify};
use app::errors::model::LogErrorInput;
use app::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Decodes a JSON body, saying where it is malformed.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(body).map_err(|e| {
        let field = if e.is_data() { "body" } else { "json" };
        AppError::invalid(field, format!("malformed request body: {e}"))
    })
}

/// `POST /api/errors/log` → `201 {id, group_id, is_new_group, occurrences}`.
pub async fn log_error(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let key = verify(&state.pool, bearer(&headers)?).await?;
    let input: LogErrorInput = json_body(&body)?;
    let stored = app::errors::ssr::log_one(&state, &key, input).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": stored.event_id,
            "group_id": stored.group_id,
            "is_new_group": stored.is_new_group,
            "occurrences": stored.occurrences,
        })),
    )
        .into_response())
}
