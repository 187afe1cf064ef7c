//! The seed REST API (`/api/errors…`): a thin adapter over the same service functions the
//! agent server functions call.

use app::AppError;
use app::api_keys::Scope;
use app::api_keys::ssr::{ApiKeyContext, bearer, verify};
use app::errors::model::LogErrorInput;
use app::errors::read;
use app::errors::view::{ErrorDetail, ErrorGroup, ErrorList, ListQuery};
use app::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
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
    let (key, _) = authenticate(&state, &headers, Scope::Ingest).await?;
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

async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    scope: Scope,
) -> Result<(ApiKeyContext, i64), AppError> {
    let key = verify(&state.pool, bearer(headers)?).await?;
    let tenant = key.require(scope)?;
    Ok((key, tenant))
}

/// `GET /api/errors?severity=&resolved=&limit=…` → `{total, errors, next_cursor}`.
pub async fn list_errors(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<ErrorList>, AppError> {
    let (_, tenant) = authenticate(&state, &headers, Scope::Read).await?;
    let query: ListQuery = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|e| AppError::invalid("query", format!("malformed query string: {e}")))?;
    Ok(Json(read::list(&state.pool, tenant, &query).await?))
}

/// The group an id names: a group id, or an event id (UUID) resolved to its group.
async fn group_id(state: &AppState, tenant: i64, raw: &str) -> Result<i64, AppError> {
    if let Ok(id) = raw.parse::<i64>() {
        return Ok(id);
    }
    match uuid::Uuid::parse_str(raw) {
        Ok(event) => read::group_of_event(&state.pool, tenant, event).await,
        Err(_) => Err(AppError::not_found("error")),
    }
}

/// `GET /api/errors/{id}` → the group with its events and activity.
pub async fn get_error(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ErrorDetail>, AppError> {
    let (_, tenant) = authenticate(&state, &headers, Scope::Read).await?;
    let id = group_id(&state, tenant, &id).await?;
    Ok(Json(read::detail(&state.pool, tenant, id).await?))
}

/// Body of `POST /api/errors/{id}/resolve`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ResolveBody {
    #[serde(default)]
    pub resolution_notes: Option<String>,
}

/// `POST /api/errors/{id}/resolve {resolution_notes}` → the resolved group.
pub async fn resolve_error(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<ErrorGroup>, AppError> {
    let (key, tenant) = authenticate(&state, &headers, Scope::Write).await?;
    let body: ResolveBody = if body.iter().all(u8::is_ascii_whitespace) {
        ResolveBody::default()
    } else {
        json_body(&body)?
    };
    let id = group_id(&state, tenant, &id).await?;
    Ok(Json(
        read::resolve(
            &state.pool,
            tenant,
            id,
            body.resolution_notes.as_deref(),
            &key.actor(),
        )
        .await?,
    ))
}

/// Body of `POST /api/errors/{id}/fix` (optional).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixBody {
    /// A playbook to run; without it, the best enabled playbook that matches.
    #[serde(default)]
    pub playbook_id: Option<i64>,
}

/// `POST /api/errors/{id}/fix {playbook_id?}` → `202` with the run (queued, or waiting for
/// approval); 409 when no playbook may run, saying why.
pub async fn fix_error(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let (key, tenant) = authenticate(&state, &headers, Scope::Fix).await?;
    let body: FixBody = if body.iter().all(u8::is_ascii_whitespace) {
        FixBody::default()
    } else {
        json_body(&body)?
    };
    let id = group_id(&state, tenant, &id).await?;
    let run = app::fixes::ssr::start(
        &state.pool,
        tenant,
        app::fixes::ssr::StartRequest {
            group: id,
            playbook: body.playbook_id,
            trigger: app::fixes::ssr::Trigger::Agent,
            actor: &key.actor(),
        },
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(run)).into_response())
}
