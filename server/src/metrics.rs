//! `GET /metrics` (Prometheus text format) and the middleware that times every request by
//! its matched route. With `FAULTLINE_METRICS_TOKEN` set, scrapes need
//! `Authorization: Bearer <token>`.

use app::AppError;
use app::metrics::{Gauge, METRICS};
use app::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;

/// Times a request and counts it under its matched route (`unmatched` for 404s, so URLs
/// people type never become labels).
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let res = next.run(req).await;
    // The live feed's stream stays open for as long as the browser does: its duration
    // would only say how long people keep a tab open.
    if route != "/api/stream" {
        METRICS.http(
            &route,
            &method,
            res.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    res
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = state.settings.metrics_token.as_deref() {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token) {
            return AppError::Unauthorized(
                "send Authorization: Bearer <FAULTLINE_METRICS_TOKEN>".into(),
            )
            .into_response();
        }
    }
    let mut gauges = vec![
        Gauge {
            name: "faultline_ingest_queue_depth",
            help: "Ingest requests waiting for a writer in this process.",
            kind: "gauge",
            rows: vec![(String::new(), state.ingest.queued() as f64)],
        },
        Gauge {
            name: "faultline_db_connections",
            help: "Database connections of this process's pool, by state.",
            kind: "gauge",
            rows: vec![
                (
                    "state=\"in_use\"".into(),
                    f64::from(state.pool.size()) - state.pool.num_idle() as f64,
                ),
                ("state=\"idle\"".into(), state.pool.num_idle() as f64),
            ],
        },
    ];
    match counts(&state.pool).await {
        Ok((runs, tasks)) => {
            gauges.push(Gauge {
                name: "faultline_fix_runs",
                help: "Fix runs of every company, by status.",
                kind: "gauge",
                rows: runs,
            });
            gauges.push(Gauge {
                name: "faultline_agent_tasks",
                help: "Agent tasks of every company, by status.",
                kind: "gauge",
                rows: tasks,
            });
        }
        Err(e) => tracing::warn!(error = ?e, "metrics: counting fix runs and tasks failed"),
    }
    let mut res = METRICS.render(&gauges).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

type Rows = Vec<(String, f64)>;

/// Fix runs and agent tasks by status (every status listed, zeros included).
async fn counts(pool: &sqlx::PgPool) -> Result<(Rows, Rows), sqlx::Error> {
    let runs: Vec<(String, i64)> = sqlx::query_as(
        "SELECT s, (SELECT count(*) FROM fix_runs WHERE status = s) FROM unnest($1::text[]) AS s",
    )
    .bind(app::fixes::STATUSES.to_vec())
    .fetch_all(pool)
    .await?;
    let tasks: Vec<(String, i64)> = sqlx::query_as(
        "SELECT s, (SELECT count(*) FROM agent_tasks WHERE status = s) FROM unnest($1::text[]) AS s",
    )
    .bind(vec!["pending", "claimed", "succeeded", "failed"])
    .fetch_all(pool)
    .await?;
    let rows = |v: Vec<(String, i64)>| {
        v.into_iter()
            .map(|(s, n)| (format!("status=\"{s}\""), n as f64))
            .collect()
    };
    Ok((rows(runs), rows(tasks)))
}
