//! What the benchmark programs share: running `main` on a runtime, the database they check
//! and the tenant in it, nearest-rank percentiles, and the server's peak memory.
#![allow(dead_code)]

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// Runs `run` on a multi-threaded runtime: success when it answers `Ok(true)`; an error is
/// printed as `<name>: error: …`.
pub fn main_with<F>(name: &str, run: F) -> ExitCode
where
    F: Future<Output = anyhow::Result<bool>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{name}: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The nearest-rank `q` percentile of `sorted` (ascending), if it has any value.
pub fn nearest_rank<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// A value (in kB) of a process's `/proc/<pid>/status`, such as `VmHWM:`, in MB.
pub fn status_mb(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
}

/// `VmHWM` (peak resident set) of a process, in MB.
pub fn peak_rss_mb(pid: u32) -> Option<f64> {
    status_mb(pid, "VmHWM:")
}

/// A small pool on the benchmark's database, its PostgreSQL version and `shared_buffers` (for
/// the report), and the id of tenant `slug` in it.
pub async fn database(url: &str, slug: &str) -> anyhow::Result<(PgPool, (String, String), i64)> {
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(30))
        .connect(url)
        .await
        .context("connecting to --database-url")?;
    let tenant: i64 = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_optional(&pool)
        .await
        .context("reading the tenant (is the database migrated?)")?
        .with_context(|| format!("no tenant `{slug}`"))?;
    let settings: (String, String) = sqlx::query_as(
        "SELECT current_setting('server_version'), current_setting('shared_buffers')",
    )
    .fetch_one(&pool)
    .await?;
    Ok((pool, settings, tenant))
}
