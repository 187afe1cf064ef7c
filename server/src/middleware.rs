//! Request middleware: body size limit, server-function error statuses, sign-in redirects.

use app::AppError;
use app::error::ErrorBody;
use app::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use http::{Method, StatusCode, header};
use tower_sessions::Session;

/// Answers 413 (JSON) when `Content-Length` exceeds the limit, and caps streamed bodies.
pub async fn limit_body(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = state.settings.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return AppError::PayloadTooLarge(format!(
            "request body exceeds the limit of {limit} bytes"
        ))
        .into_response();
    }
    let req = req.map(|body| Body::new(http_body_util::Limited::new(body, limit)));
    next.run(req).await
}

/// Where server functions live: `/api/ui` for the browser, `/api/v1` for agents.
const SERVER_FN_PREFIXES: [&str; 2] = ["/api/ui/", "/api/v1/"];

/// Gives server-function errors their real status: server_fn answers every error with 500
/// and the JSON-encoded [`AppError`]; this reads the code and sets 400/401/403/404/409/429….
/// Unknown functions get a JSON 404 instead of server_fn's plain-text 400.
pub async fn server_fn_status(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if !SERVER_FN_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return next.run(req).await;
    }
    let method = req.method().clone();
    if leptos::server_fn::axum::get_server_fn_service(&path, method.clone()).is_none() {
        let known = [Method::GET, Method::POST].into_iter().any(|m| {
            m != method && leptos::server_fn::axum::get_server_fn_service(&path, m).is_some()
        });
        return if known {
            let mut res = AppError::invalid("method", format!("{method} is not allowed here"))
                .into_response();
            *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            res
        } else {
            AppError::NotFound(format!("no API endpoint at {path}")).into_response()
        };
    }
    let res = next.run(req).await;
    if res.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 256 * 1024).await else {
        return AppError::Internal.into_response();
    };
    match serde_json::from_slice::<ErrorBody>(&bytes)
        .ok()
        .and_then(|b| AppError::try_from(b).ok())
    {
        Some(err) => {
            if let Ok(status) = StatusCode::from_u16(err.status()) {
                parts.status = status;
            }
            if let AppError::RateLimited { retry_after, .. } = err {
                parts
                    .headers
                    .insert(header::RETRY_AFTER, retry_after.into());
            }
            Response::from_parts(parts, Body::from(bytes))
        }
        None => {
            tracing::error!(body = %String::from_utf8_lossy(&bytes), "server function failed without an AppError");
            AppError::Internal.into_response()
        }
    }
}

/// Sends anonymous page requests for signed-in sections to `/login?next=…`, and signed-in
/// users away from `/login`.
pub async fn require_sign_in(session: Session, req: Request, next: Next) -> Response {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let path = req.uri().path();
    let wants_login = app::requires_sign_in(path);
    if !wants_login && path != "/login" {
        return next.run(req).await;
    }
    let signed_in = matches!(
        session.get::<i64>(app::auth::ssr::SESSION_USER).await,
        Ok(Some(_))
    );
    if wants_login && !signed_in {
        let target = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        return Redirect::to(&format!(
            "/login?next={}",
            app::ui::layout::urlencode(target)
        ))
        .into_response();
    }
    if path == "/login" && signed_in {
        return Redirect::to("/").into_response();
    }
    next.run(req).await
}

/// Refuses requests without a valid API key (`Authorization: Bearer …`) with the usual 401
/// JSON before they reach the MCP server; each tool then checks the key's scopes.
pub async fn require_api_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let checked = match app::api_keys::ssr::bearer(req.headers()) {
        Ok(secret) => app::api_keys::ssr::verify(&state.pool, secret)
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    match checked {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}
