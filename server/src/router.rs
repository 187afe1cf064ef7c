//! Router assembly: pages, server functions, operational endpoints and the middleware stack.

use crate::session_store::PgSessionStore;
use crate::{health, metrics, middleware, rest, sentry, stream};
use app::state::AppState;
use app::{App, shell};
use axum::Router;
use axum::extract::Request;
use axum::routing::{any, get, post};
use http::HeaderName;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Session cookie options.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub secure: bool,
    pub inactivity_days: i64,
}

/// Builds the whole application router over `state`.
pub fn build(state: AppState, sessions: &SessionOptions) -> Router {
    let routes = generate_route_list(App);
    let leptos_options = state.leptos_options.clone();
    let store = PgSessionStore::new(state.pool.clone());
    let session_layer = SessionManagerLayer::new(store)
        .with_name("faultline_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(sessions.secure)
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::days(sessions.inactivity_days),
        ));

    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(metrics::metrics))
        .route("/api/errors", get(rest::list_errors))
        .route("/api/errors/log", post(rest::log_error))
        .route("/api/errors/{id}", get(rest::get_error))
        .route("/api/errors/{id}/resolve", post(rest::resolve_error))
        .route("/api/errors/{id}/fix", post(rest::fix_error))
        .route("/api/stream", get(stream::stream))
        .nest_service(
            "/mcp",
            tower::ServiceBuilder::new()
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    middleware::require_api_key,
                ))
                .service(app::mcp::service(state.clone())),
        )
        // Sentry's `/api/{project_id}/envelope/` and `/store/` share this catch-all (a route
        // of their own would clash with it); anything else under /api is a JSON 404.
        .route("/api/{*rest}", any(sentry::or_not_found))
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let state = state.clone();
                move || provide_context(state.clone())
            },
            move || shell(leptos_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn(middleware::server_fn_status))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(axum::middleware::from_fn(middleware::require_sign_in))
        .layer(session_layer)
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::limit_body))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request| {
                            let id = req
                                .headers()
                                .get(REQUEST_ID)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("-");
                            tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
                        })
                        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
        )
        .with_state(state)
}
