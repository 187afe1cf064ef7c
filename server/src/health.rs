//! Liveness (`/health`) and readiness (`/ready`) endpoints.

use app::AppError;
use app::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Always 200 while the process runs; reports whether the database answers.
pub async fn health(State(state): State<AppState>) -> Response {
    let db = sqlx::query_scalar!("SELECT 1 AS \"one!\"")
        .fetch_one(&state.pool)
        .await
        .is_ok();
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.started_at.elapsed().as_secs(),
        "db": if db { "ok" } else { "unreachable" },
    }))
    .into_response()
}

/// 200 only when the database is reachable and every migration is applied; 503 otherwise.
pub async fn ready(State(state): State<AppState>) -> Response {
    let expected = app::MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied = sqlx::query_scalar!(
        r#"SELECT max(version) AS "version" FROM _sqlx_migrations WHERE success"#
    )
    .fetch_one(&state.pool)
    .await;
    match applied {
        Ok(Some(v)) if v >= expected => Json(json!({ "status": "ready" })).into_response(),
        Ok(_) => {
            AppError::Unavailable("database migrations are not applied yet".into()).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            AppError::Unavailable("database unreachable".into()).into_response()
        }
    }
}
