//! Fix-engine latency benchmark behind `cargo xtask bench fix` (see docs/BENCHMARKS.md).
//!
//! Against a running Faultline (`--base-url`) started with `FAULTLINE_FIX_ALLOWED_HOSTS`
//! naming its own host, its freshly migrated database (`--database-url`) holding one tenant
//! (`--tenant`) with an ingest key (`--key`):
//!
//! 1. **Playbook**: creates one enabled, automatic, low-risk playbook (through
//!    `app::playbooks::ssr::create`, validated as the playbooks page does) that matches
//!    messages containing "bench failure" and has a single step, `GET {base}/health`
//!    expecting 200, and no verification: a run that starts ends within milliseconds.
//! 2. **Baseline**: `--baseline` sequential `POST /api/errors/log` of one and the same error
//!    (a message the playbook does not match), timed from the send to the 201: the ingest
//!    round trip.
//! 3. **Measure**: `--runs` sequential iterations, each logging a *new* error (a new group
//!    every time, so the writer records a fix trigger) whose message the playbook matches.
//!    The wall clock is read just before the send; after the 201 the run of that group is
//!    polled in `fix_runs` every `--poll-ms` until it has started (`started_at`, set by the
//!    worker that claims it) and then until it has ended, so runs never pile up. "Logged →
//!    run started" is `started_at` minus the send time: both come from the same machine's
//!    clock, PostgreSQL's `now()` and the bench's `SystemTime`. A run that has not started
//!    within `--timeout-secs`, or that ends other than `succeeded`, is a failure.
//!
//! Prints a table, the target (p95 of logged → run started ≤ 200 ms) met or missed and one
//! `SUMMARY` line. Exits 1 only when something failed (a log not answered 201, a run that
//! did not start in time or did not succeed, a database error); a missed target is a result.

mod common;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::Parser;
use serde_json::json;
use sqlx::PgPool;

/// The target: p95 of "error logged → fix run started".
const TARGET_P95_MS: f64 = 200.0;
/// What the playbook's `message_pattern` matches.
const MATCHED: &str = "bench failure";
/// Failures after which the run stops early (each may have waited for the timeout).
const MAX_FAILURES: usize = 10;

#[derive(Parser, Debug)]
#[command(
    about = "Faultline fix-engine latency benchmark (normally run by `cargo xtask bench fix`)"
)]
struct Args {
    /// The server's base URL; the playbook's step calls its /health, so the server must
    /// allow that host (FAULTLINE_FIX_ALLOWED_HOSTS).
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    base_url: String,
    /// The server's database (migrated, the tenant created, no playbooks yet).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// An API key of the tenant with the `ingest` scope.
    #[arg(long, env = "FAULTLINE_BENCH_KEY", hide_env_values = true)]
    key: String,
    /// The tenant's slug.
    #[arg(long, default_value = "bench")]
    tenant: String,
    /// Measured fix runs [default: 500, smoke: 30].
    #[arg(long)]
    runs: Option<usize>,
    /// Measured baseline logs of one error [default: as many as --runs].
    #[arg(long)]
    baseline: Option<usize>,
    /// Unmeasured iterations before each phase [default: 10, smoke: 3].
    #[arg(long)]
    warmup: Option<usize>,
    /// How often a run's state is read while waiting for it, in milliseconds.
    #[arg(long, default_value_t = 2)]
    poll_ms: u64,
    /// Longest wait for a run to start (and then to end), in seconds.
    #[arg(long, default_value_t = 10)]
    timeout_secs: u64,
    /// The server's process id, to read its peak RSS from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Few runs, only to prove that everything works; no target.
    #[arg(long)]
    smoke: bool,
}

/// The run's settings, with smoke defaults applied.
struct Plan {
    runs: usize,
    baseline: usize,
    warmup: usize,
    poll: Duration,
    timeout: Duration,
    smoke: bool,
}

impl Plan {
    fn from(args: &Args) -> anyhow::Result<Plan> {
        let smoke = args.smoke;
        let runs = args.runs.unwrap_or(if smoke { 30 } else { 500 });
        let plan = Plan {
            runs,
            baseline: args.baseline.unwrap_or(runs),
            warmup: args.warmup.unwrap_or(if smoke { 3 } else { 10 }),
            poll: Duration::from_millis(args.poll_ms),
            timeout: Duration::from_secs(args.timeout_secs),
            smoke,
        };
        if !(1..=100_000).contains(&plan.runs) || !(1..=100_000).contains(&plan.baseline) {
            bail!("--runs and --baseline must be 1..=100000");
        }
        if !(1..=1000).contains(&args.poll_ms) || !(1..=600).contains(&args.timeout_secs) {
            bail!("--poll-ms must be 1..=1000 and --timeout-secs 1..=600");
        }
        Ok(plan)
    }
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    common::main_with("fix_bench", run(args))
}

// ---------------------------------------------------------------------------------------------
// Measuring.

/// Latencies of one kind, in milliseconds, sorted once complete.
struct Series {
    name: &'static str,
    ms: Vec<f64>,
}

impl Series {
    fn new(name: &'static str, capacity: usize) -> Series {
        Series {
            name,
            ms: Vec::with_capacity(capacity),
        }
    }

    fn sort(&mut self) {
        self.ms.sort_by(f64::total_cmp);
    }

    /// Nearest-rank percentile of the sorted values.
    fn percentile(&self, q: f64) -> Option<f64> {
        common::nearest_rank(&self.ms, q)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Milliseconds from `from` to `to` (both wall-clock times).
fn between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from)
        .num_microseconds()
        .map_or(f64::INFINITY, |us| us as f64 / 1000.0)
}

/// `n` in letters (a, b, …, z, ba, bb, …): numbers in messages are normalized away by
/// grouping, and a unique error type is what makes every error a new group.
fn letters(mut n: u64) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'a' + (n % 26) as u8);
        n /= 26;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn snippet(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &body[..i]),
        None => body.to_owned(),
    }
}

/// What a 201 from `POST /api/errors/log` says.
#[derive(serde::Deserialize)]
struct Logged {
    group_id: i64,
    is_new_group: bool,
}

/// One `POST /api/errors/log`: the answer when it is a 201.
async fn log_error(
    client: &reqwest::Client,
    url: &str,
    auth: &str,
    body: &serde_json::Value,
) -> Result<Logged, String> {
    let res = client
        .post(url)
        .header(reqwest::header::AUTHORIZATION, auth)
        .json(body)
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    let status = res.status();
    let text = res
        .text()
        .await
        .map_err(|e| format!("POST {url} ({status}): reading: {e}"))?;
    if status != reqwest::StatusCode::CREATED {
        return Err(format!("POST {url} answered {status}: {}", snippet(&text)));
    }
    serde_json::from_str(&text).map_err(|e| format!("POST {url}: unexpected answer {e}: {text}"))
}

/// A run's state as polled.
#[derive(sqlx::FromRow)]
struct RunRow {
    status: String,
    reason: Option<String>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

/// What one measured iteration saw.
struct Sample {
    ack_ms: f64,
    created_ms: f64,
    started_ms: f64,
    finished_ms: f64,
}

/// Waits for the run of `group` to start, then to end. `sent` is when the log was sent.
async fn follow(
    pool: &PgPool,
    tenant: i64,
    group: i64,
    sent: DateTime<Utc>,
    plan: &Plan,
) -> Result<RunRow, String> {
    let since = Instant::now();
    let mut started = false;
    loop {
        let row: Option<RunRow> = sqlx::query_as(
            "SELECT status, reason, created_at, started_at, finished_at FROM fix_runs
             WHERE tenant_id = $1 AND group_id = $2 ORDER BY id LIMIT 1",
        )
        .bind(tenant)
        .bind(group)
        .fetch_optional(pool)
        .await
        .map_err(|e| format!("reading the run of group {group}: {e}"))?;
        if let Some(row) = row {
            if !started && row.started_at.is_some() {
                started = true;
            }
            if !matches!(row.status.as_str(), "queued" | "running" | "verifying") {
                return match (row.status.as_str(), row.started_at) {
                    ("succeeded", Some(_)) => Ok(row),
                    (status, _) => Err(format!(
                        "the run of group {group} ended {status}: {}",
                        row.reason.as_deref().unwrap_or("no reason given")
                    )),
                };
            }
        }
        if since.elapsed() >= plan.timeout {
            if !started {
                let waited = between(sent, Utc::now()) / 1000.0;
                let triggers: i64 = sqlx::query_scalar("SELECT count(*) FROM fix_triggers")
                    .fetch_one(pool)
                    .await
                    .unwrap_or(-1);
                return Err(format!(
                    "no run of group {group} started within {waited:.1} s ({triggers} triggers waiting)"
                ));
            }
            // Started but not ended: give it as long again before calling it stuck.
            if since.elapsed() >= 2 * plan.timeout {
                return Err(format!(
                    "the run of group {group} started but did not end within {} s",
                    2 * plan.timeout.as_secs()
                ));
            }
        }
        tokio::time::sleep(plan.poll).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The run.

async fn run(args: Args) -> anyhow::Result<bool> {
    let plan = Plan::from(&args)?;
    let base = args.base_url.trim_end_matches('/').to_owned();
    let host =
        app::playbooks::rules::url_host(&base).map_err(|e| anyhow::anyhow!("--base-url {e}"))?;
    let (pool, (version, shared_buffers), tenant) =
        common::database(&args.database_url, &args.tenant).await?;
    let playbooks: i64 = sqlx::query_scalar("SELECT count(*) FROM playbooks WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(&pool)
        .await?;
    if playbooks > 0 {
        bail!(
            "tenant `{}` already has {playbooks} playbooks; use a fresh database",
            args.tenant
        );
    }

    // 1. The playbook: one cheap HTTP step on the server itself, so a run ends at once.
    let spec: app::playbooks::PlaybookSpec = serde_json::from_value(json!({
        "name": "bench restart",
        "match": {"message_pattern": MATCHED},
        "actions": [{"type": "http", "method": "GET", "url": format!("{base}/health"), "expect_status": 200}],
        "verify": null,
        "risk": "low",
        "mode": "automatic",
        "enabled": true,
    }))
    .context("the bench playbook")?;
    let policy = app::playbooks::rules::Policy {
        allowed_hosts: vec![host.clone()],
        allowed_commands: Vec::new(),
    };
    let playbook = app::playbooks::ssr::create(&pool, tenant, &[spec], &policy, "bench")
        .await
        .map_err(|e| anyhow::anyhow!("creating the playbook: {e:?}"))?;

    println!(
        "fix bench{}: {} runs after {} warm-up, baseline {} logs of one error after {} warm-up; poll every {} ms, timeout {} s",
        if plan.smoke { " (smoke)" } else { "" },
        plan.runs,
        plan.warmup,
        plan.baseline,
        plan.warmup,
        plan.poll.as_millis(),
        plan.timeout.as_secs()
    );
    println!(
        "  server {base}; PostgreSQL {version} (shared_buffers={shared_buffers}); {} CPUs; playbook #{} (automatic, low risk: GET {base}/health, no verification)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        playbook.first().copied().unwrap_or_default()
    );

    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    let url = format!("{base}/api/errors/log");
    let auth = format!("Bearer {}", args.key);
    let mut failures: Vec<String> = Vec::new();

    // 2. The baseline: the same error again and again (an existing group, no trigger).
    let started = Instant::now();
    let same = json!({
        "service": "bench",
        "severity": "error",
        "error_type": "BenchBaseline",
        "message": "bench baseline: the same error again",
    });
    let mut baseline = Series::new("baseline: log → 201, same error", plan.baseline);
    for i in 0..plan.warmup + plan.baseline {
        let t0 = Instant::now();
        let result = log_error(&client, &url, &auth, &same).await;
        let elapsed = t0.elapsed();
        match result {
            Ok(_) if i >= plan.warmup => baseline.ms.push(ms(elapsed)),
            Ok(_) => {}
            Err(e) => {
                failures.push(e);
                if failures.len() >= MAX_FAILURES {
                    break;
                }
            }
        }
    }
    baseline.sort();
    let baseline_secs = started.elapsed().as_secs_f64();

    // 3. The runs: a new group each time, its run followed to its end.
    let started = Instant::now();
    let nonce = letters(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    let mut ack = Series::new("log → 201, new group (the runs' logs)", plan.runs);
    let mut created = Series::new("logged → run created (trigger taken)", plan.runs);
    let mut start = Series::new("logged → run started", plan.runs);
    let mut queued = Series::new("run created → started (claimed)", plan.runs);
    let mut finished = Series::new("logged → run succeeded", plan.runs);
    if failures.is_empty() {
        for i in 0..plan.warmup + plan.runs {
            let body = json!({
                "service": "bench",
                "severity": "error",
                "error_type": format!("BenchFailure{}{}", capitalize(&nonce), capitalize(&letters(i as u64))),
                "message": format!("{MATCHED}: the service stopped answering"),
            });
            match iteration(&client, &url, &auth, &body, &pool, tenant, &plan).await {
                Ok(s) if i >= plan.warmup => {
                    ack.ms.push(s.ack_ms);
                    created.ms.push(s.created_ms);
                    start.ms.push(s.started_ms);
                    queued.ms.push(s.started_ms - s.created_ms);
                    finished.ms.push(s.finished_ms);
                }
                Ok(_) => {}
                Err(e) => {
                    failures.push(e);
                    if failures.len() >= MAX_FAILURES {
                        break;
                    }
                }
            }
            let done = i + 1;
            if done > plan.warmup
                && (done - plan.warmup) % 100 == 0
                && done < plan.warmup + plan.runs
            {
                println!(
                    "  … {} runs in {:.1} s",
                    done - plan.warmup,
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    let runs_secs = started.elapsed().as_secs_f64();
    let mut all = [baseline, ack, created, queued, start, finished];
    for s in &mut all {
        s.sort();
    }
    let [baseline, ack, created, queued, start, finished] = all;
    let (runs_total, succeeded, triggers_left): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM fix_runs WHERE tenant_id = $1),
                (SELECT count(*) FROM fix_runs WHERE tenant_id = $1 AND status = 'succeeded'),
                (SELECT count(*) FROM fix_triggers)",
    )
    .bind(tenant)
    .fetch_one(&pool)
    .await?;
    let rss = args.server_pid.and_then(common::peak_rss_mb);

    // 4. The report.
    println!(
        "baseline in {baseline_secs:.1} s; runs in {runs_secs:.1} s ({runs_total} runs recorded, {succeeded} succeeded, {triggers_left} triggers left)"
    );
    println!();
    let fmt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    println!(
        "{:<40} {:>5} {:>8} {:>8} {:>8} {:>8}",
        "latency", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    for s in [&baseline, &ack, &created, &queued, &start, &finished] {
        println!(
            "{:<40} {:>5} {:>8} {:>8} {:>8} {:>8}",
            s.name,
            s.ms.len(),
            fmt(s.percentile(0.50)),
            fmt(s.percentile(0.95)),
            fmt(s.percentile(0.99)),
            fmt(s.percentile(1.0)),
        );
    }
    println!(
        "  (sequential, one at a time: each run ends before the next error is logged; \"logged\" = the bench's clock just before the send, run times = PostgreSQL's now() in the engine's statements)"
    );
    let start_p95 = start.percentile(0.95);
    let ack_p95 = baseline.percentile(0.95);
    let ratio = match (start_p95, ack_p95) {
        (Some(s), Some(a)) if a > 0.0 => Some(s / a),
        _ => None,
    };
    println!(
        "p95 logged → run started / p95 baseline ack: {}",
        ratio.map_or("-".to_owned(), |r| format!("{r:.1}×"))
    );
    if let Some(rss) = rss {
        println!("peak server RSS (VmHWM): {rss:.0} MB");
    }
    for e in failures.iter().take(5) {
        println!("error: {e}");
    }
    if failures.len() > 5 {
        println!("error: … and {} more", failures.len() - 5);
    }
    let failed = !failures.is_empty();
    if plan.smoke {
        println!("target: not evaluated in a smoke run (debug build, few runs)");
    } else {
        let verdict = match start_p95 {
            Some(p) if !failed && p <= TARGET_P95_MS => "PASS",
            Some(_) => "MISS",
            None => "n/a ",
        };
        println!("target (2 cores, everything co-located):");
        println!(
            "  {verdict} logged → run started p95 ≤ {TARGET_P95_MS} ms: {} ms",
            fmt(start_p95)
        );
    }
    println!(
        "SUMMARY start_p50={} ms start_p95={} ms start_p99={} ms ack_p50={} ms ack_p95={} ms ratio={} succeeded_p95={} ms runs={} failures={}{}",
        fmt(start.percentile(0.50)),
        fmt(start_p95),
        fmt(start.percentile(0.99)),
        fmt(baseline.percentile(0.50)),
        fmt(ack_p95),
        ratio.map_or("-".to_owned(), |r| format!("{r:.1}")),
        fmt(finished.percentile(0.95)),
        start.ms.len(),
        failures.len(),
        if failed { " (ERRORS)" } else { "" }
    );
    Ok(!failed)
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or(String::new(), |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// Logs one new error and follows its run to its end.
async fn iteration(
    client: &reqwest::Client,
    url: &str,
    auth: &str,
    body: &serde_json::Value,
    pool: &PgPool,
    tenant: i64,
    plan: &Plan,
) -> Result<Sample, String> {
    let sent = Utc::now();
    let t0 = Instant::now();
    let logged = log_error(client, url, auth, body).await?;
    let ack_ms = ms(t0.elapsed());
    if !logged.is_new_group {
        return Err(format!(
            "the error {} fell into an existing group ({}); every iteration needs a new one",
            body["error_type"], logged.group_id
        ));
    }
    let run = follow(pool, tenant, logged.group_id, sent, plan).await?;
    let (Some(started), Some(ended)) = (run.started_at, run.finished_at) else {
        return Err(format!(
            "the run of group {} succeeded without start or end times",
            logged.group_id
        ));
    };
    Ok(Sample {
        ack_ms,
        created_ms: between(sent, run.created_at),
        started_ms: between(sent, started),
        finished_ms: between(sent, ended),
    })
}
