//! The Faultline server: configuration, router assembly, operational endpoints, admin
//! commands and start-up. Everything that is not a server function lives here.

pub mod commands;
pub mod config;
pub mod health;
pub mod metrics;
pub mod middleware;
pub mod rest;
pub mod router;
pub mod sentry;
pub mod session_store;
pub mod stream;
pub mod telemetry;

use anyhow::Context;
use app::state::{AppState, Settings};
use leptos::prelude::LeptosOptions;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// Opens the connection pool.
pub async fn connect(database_url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        // Not a ping before every use (a round trip per ingest transaction); a connection
        // that died fails its query, is dropped, and the caller's retry gets a fresh one.
        .test_before_acquire(false)
        .connect(database_url)
        .await
        .context("connecting to PostgreSQL (check DATABASE_URL)")
}

/// Leptos options for serving on `addr` with the built site under `site_root`.
pub fn leptos_options(addr: SocketAddr, site_root: &str) -> LeptosOptions {
    let mut options = leptos::config::get_configuration(None)
        .map(|c| c.leptos_options)
        .unwrap_or_else(|_| LeptosOptions::builder().output_name("faultline").build());
    if options.output_name.is_empty() {
        options.output_name = "faultline".into();
    }
    options.site_addr = addr;
    options.site_root = site_root.into();
    options
}

/// The shared state over an open pool; starts the ingest writers, the fix engine and the
/// sweepers that end time-limited ignores and apply retention (call inside the runtime).
pub fn state(pool: PgPool, settings: Settings, leptos_options: LeptosOptions) -> AppState {
    app::errors::ssr::spawn_ignore_sweeper(pool.clone(), Duration::from_secs(30));
    app::errors::ssr::spawn_retention_sweeper(pool.clone(), Duration::from_secs(3600));
    let settings = Arc::new(settings);
    let live = app::errors::live::Live::spawn(pool.clone());
    app::fixes::engine::spawn(pool.clone(), settings.clone(), live.fix_wakeups());
    app::alerts::engine::spawn(pool.clone(), settings.clone(), live.alert_wakeups());
    AppState {
        leptos_options,
        ingest: app::errors::writer::IngestHandle::spawn(
            pool.clone(),
            settings.ingest_queue,
            settings.ingest_writers,
        ),
        live,
        pool,
        settings,
        started_at: Instant::now(),
    }
}

/// Serves the app on `listener` until `shutdown` resolves.
pub async fn serve_on(
    listener: TcpListener,
    state: AppState,
    sessions: router::SessionOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    app::auth::ssr::warm_up();
    tokio::spawn(
        session_store::PgSessionStore::new(state.pool.clone())
            .delete_expired_every(Duration::from_secs(3600)),
    );
    let app = router::build(state, &sessions);
    // Answers go out as soon as they are written, not after the peer acknowledges the last
    // segment (Nagle): agents and SDKs send their next request on the same connection.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set on a connection");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("serving HTTP")
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
