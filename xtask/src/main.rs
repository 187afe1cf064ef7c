//! Faultline's developer and CI entry point (std only, so it compiles in seconds).
//!
//! ```text
//! cargo xtask run           install what is missing, start PostgreSQL, build (release), serve
//! cargo xtask test          fmt, clippy, unit/integration tests, debug build, Playwright e2e
//! cargo xtask demo          the auto-fix loop live: Faultline, a flaky service, the example agent
//! cargo xtask sqlx-prepare  regenerate .sqlx/ (offline query data) from migrations/
//! cargo xtask bench ingest  ingestion benchmark (release build, private PostgreSQL)
//! cargo xtask bench ui      dashboard pages over 1M events (release build, private PostgreSQL)
//! cargo xtask bench fix     fix-engine latency, error logged → run started (release build)
//! cargo xtask pg            start the private PostgreSQL; print its DATABASE_URL
//! cargo xtask pg-stop       stop the private PostgreSQL
//! ```

mod bench;
mod demo;
mod install;
mod pg;
mod prepare;
mod run;
mod served;
mod test;
mod util;

use std::path::Path;
use std::process::ExitCode;

use pg::{CLUSTER_DIR, Cluster, Tuning};
use util::{Result, step};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  run           Install missing tools, start a private PostgreSQL (unless DATABASE_URL is set),
                build with `cargo leptos build --release` and serve on FAULTLINE_BIND
                (default 127.0.0.1:3000). Ctrl-C stops the server and the database.
  test          cargo fmt --check, clippy, cargo test (with PostgreSQL), cargo leptos build,
                then the Playwright tests in end2end/ against a fresh server and database.
  demo          The auto-fix loop, live: builds like `run`, then starts Faultline on
                FAULTLINE_BIND with a `faultline_demo` database, a flaky demo service
                (examples/demo_service.py) and the example agent (examples/agent.py), with
                the company `demo`, its admin demo@faultline.local (password
                FAULTLINE_DEMO_PASSWORD, default faultline-demo) and an enabled playbook.
                Open /errors and /fixes and watch errors get fixed. Ctrl-C stops it all.
  sqlx-prepare  Regenerate .sqlx/ (the query data offline builds check against) from
                migrations/, without sqlx-cli.
  bench ingest [--seconds N] [--smoke]
                Ingestion benchmark: release build, private PostgreSQL, a fresh database and
                server, then a load generator (N seconds per phase, default 20); prints
                events/s, latency percentiles, peak server RSS and the COPY baseline
                (docs/BENCHMARKS.md). --smoke: debug build, ~2 s phases (CI).
  bench ui [--events N] [--groups N] [--requests N] [--smoke]
                Dashboard page benchmark: `cargo leptos build --release`, private PostgreSQL,
                a fresh database loaded with N events (default 1,000,000) in N groups
                (10,000), a fresh server; prints p50/p95/max per page over N sequential
                signed-in requests (200) and the WASM size raw and gzipped
                (docs/BENCHMARKS.md). --smoke: debug build, 20,000 events, 20 requests (CI).
  bench fix [--runs N] [--smoke]
                Fix-engine latency benchmark: release build, private PostgreSQL, a fresh
                database and server with an automatic playbook; logs N new errors (default
                500) one at a time and prints p50/p95/p99 from error logged to fix run
                started, against the ingest round trip of one error as the baseline
                (docs/BENCHMARKS.md). --smoke: debug build, 30 runs (CI).
  pg            Start (or reuse) the private PostgreSQL in target/faultline-pg and print
                DATABASE_URL=… for its `faultline` database; it keeps running.
  pg-stop       Stop the private PostgreSQL.

Environment: DATABASE_URL (use this PostgreSQL instead of the private one), FAULTLINE_BIND,
FAULTLINE_ADMIN_EMAIL / FAULTLINE_ADMIN_PASSWORD (first super-admin, `run`).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = util::workspace_root();
    if let Err(e) = std::env::set_current_dir(&root) {
        eprintln!("xtask: error: cannot enter {}: {e}", root.display());
        return ExitCode::FAILURE;
    }
    let result = match args.first().map(String::as_str) {
        Some("run") if args.len() == 1 => with_signals(|| run::run(&root)),
        Some("test") if args.len() == 1 => with_signals(|| test::test(&root)),
        Some("demo") if args.len() == 1 => with_signals(|| demo::demo(&root)),
        Some("sqlx-prepare") if args.len() == 1 => with_signals(|| prepare::sqlx_prepare(&root)),
        Some("bench") => with_signals(|| bench::bench(&root, &args[1..])),
        Some("pg") if args.len() == 1 => {
            util::progress_to_stderr();
            pg_start(&root)
        }
        Some("pg-stop") if args.len() == 1 => pg_stop(&root),
        Some("help" | "-h" | "--help") => {
            util::say(USAGE);
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(code) => code,
        Err(e) if util::interrupted() => {
            eprintln!("xtask: interrupted ({e})");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a long command with xtask surviving Ctrl-C long enough to clean up.
fn with_signals(f: impl FnOnce() -> Result<ExitCode>) -> Result<ExitCode> {
    util::install_signal_handlers();
    f()
}

/// `cargo xtask pg`: progress on stderr, `DATABASE_URL=…` alone on stdout.
fn pg_start(root: &Path) -> Result<ExitCode> {
    let bin = install::postgres()?;
    let cluster = Cluster::start(root, &bin, Tuning::Durable)?;
    let server = cluster.server();
    if server.ensure_database("faultline")? {
        step("created the database faultline");
    } else {
        step("database faultline … already exists");
    }
    step(format!(
        "the private PostgreSQL keeps running; `cargo xtask pg-stop` stops it (data in {CLUSTER_DIR}/data)"
    ));
    util::say(format_args!("DATABASE_URL={}", cluster.url("faultline")));
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask pg-stop`.
fn pg_stop(root: &Path) -> Result<ExitCode> {
    match Cluster::existing(root)? {
        None => step(format!(
            "no private PostgreSQL in {CLUSTER_DIR} … nothing to stop"
        )),
        Some(cluster) if !cluster.is_running() => {
            step(format!(
                "private PostgreSQL ({CLUSTER_DIR}) … already stopped"
            ));
        }
        Some(cluster) => cluster.stop()?,
    }
    Ok(ExitCode::SUCCESS)
}
