//! Ingestion load generator behind `cargo xtask bench ingest` (see docs/BENCHMARKS.md).
//!
//! Against a running Faultline (`--base-url`, an API key with the `ingest` scope) and its
//! database (`--database-url`), one phase after another, each bounded in time:
//!
//! * **single**: `--concurrency` workers each looping `POST /api/errors/log` with one event;
//!   only 201 answers count.
//! * **batched**: `--batch-concurrency` workers looping `POST /api/v1/log_errors` with
//!   `--batch` events; the answer's `accepted` counts.
//! * **fixed rate**: open loop, `--rate` single events per second scheduled at fixed
//!   intervals whatever the answers (at most `--max-in-flight` outstanding); latency is
//!   measured from the scheduled send time, so queueing delay is included.
//! * **baseline**: the same kind of rows written straight into PostgreSQL with
//!   `COPY … FROM STDIN`, in `--copy-chunk`-row transactions on `--copy-streams` connections,
//!   into a scratch copy of `error_events` (same columns and indexes, no foreign keys).
//!
//! Events come from 5,000 error templates (20 services, 40 error types, Python / JavaScript /
//! Java / Rust stack traces of about 2 KB) picked with a Zipf distribution; every event has
//! fresh volatile values (ids, numbers, addresses) and a fresh `event_id`.
//!
//! Prints a table, the targets met or missed and one `SUMMARY` line. Exits 1 only when
//! something failed (a non-2xx answer other than 429, a transport or database error); a
//! missed target is a result, not a failure.

mod common;

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sqlx::postgres::PgPoolOptions;
use tokio::sync::Semaphore;

/// The generator shares the machine with the server it measures: the allocator the server
/// uses keeps its own share of the cores small too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Targets of the issue, for a 2-core machine with everything co-located.
const TARGET_BATCHED_EVS: f64 = 50_000.0;
const TARGET_BATCHED_RATIO: f64 = 0.5;
const TARGET_SINGLE_EVS: f64 = 10_000.0;
const TARGET_P99_MS: f64 = 25.0;
const TARGET_RSS_MB: f64 = 150.0;

/// A failing phase stops after this many errors instead of spinning on them.
const MAX_ERRORS: u64 = 100;
const COPY_COLUMNS: &str =
    "tenant_id, event_id, group_id, service, severity, message, details, stack_trace, occurred_at";

#[derive(Parser, Debug)]
#[command(about = "Faultline ingestion benchmark (normally run by `cargo xtask bench ingest`)")]
struct Args {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    base_url: String,
    /// An API key with the `ingest` scope.
    #[arg(long, env = "FAULTLINE_BENCH_KEY", hide_env_values = true)]
    key: String,
    /// The server's database, for the COPY baseline (a scratch table is created and dropped).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Seconds per phase [default: 20, smoke: 2].
    #[arg(long)]
    seconds: Option<f64>,
    /// Concurrent workers of the single-event phase [default: 64, smoke: 4].
    #[arg(long)]
    concurrency: Option<usize>,
    /// Concurrent workers of the batched phase [default: 16, smoke: 2].
    #[arg(long)]
    batch_concurrency: Option<usize>,
    /// Events per `log_errors` call.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Offered events per second of the fixed-rate phase [default: 5000, smoke: 200].
    #[arg(long)]
    rate: Option<f64>,
    /// Most requests outstanding in the fixed-rate phase.
    #[arg(long, default_value_t = 512)]
    max_in_flight: usize,
    /// Connections writing the COPY baseline [default: 2, smoke: 1].
    #[arg(long)]
    copy_streams: Option<usize>,
    /// Rows per COPY (one transaction each).
    #[arg(long, default_value_t = 1000)]
    copy_chunk: usize,
    /// Distinct error templates.
    #[arg(long, default_value_t = 5000)]
    templates: usize,
    /// Zipf exponent of template frequencies.
    #[arg(long, default_value_t = 1.1)]
    zipf: f64,
    /// Who makes each event's id: `client` sends a fresh random `event_id` with every event
    /// (as Sentry SDKs and agents that retry do), `server` leaves it out (as the seed API's
    /// and docs/API.md's examples do) and the server makes one.
    #[arg(long, value_enum, default_value = "client")]
    event_ids: EventIds,
    /// The server's process id, to read its peak RSS and CPU time from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Seconds of unmeasured single-event load before the phases [default: 2, smoke: 0].
    #[arg(long)]
    warmup: Option<f64>,
    /// A quick run that only checks that everything works: short phases, low load, no targets.
    #[arg(long)]
    smoke: bool,
    /// Print this many `log_errors` bodies of the batched phase (one per line) and exit, to
    /// profile the server's parsing and normalization on their own.
    #[arg(long)]
    dump_batches: Option<usize>,
    /// Phases to run, comma-separated, among single, batched, fixed, baseline.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "single,batched,fixed,baseline"
    )]
    phases: Vec<Phase>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum EventIds {
    Client,
    Server,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Phase {
    Single,
    Batched,
    Fixed,
    Baseline,
}

/// The run's settings, with smoke defaults applied.
struct Plan {
    seconds: f64,
    concurrency: usize,
    batch_concurrency: usize,
    batch: usize,
    rate: f64,
    max_in_flight: usize,
    copy_streams: usize,
    copy_chunk: usize,
    warmup: f64,
    smoke: bool,
}

impl Plan {
    fn from(args: &Args) -> anyhow::Result<Plan> {
        let smoke = args.smoke;
        let plan = Plan {
            seconds: args.seconds.unwrap_or(if smoke { 2.0 } else { 20.0 }),
            concurrency: args.concurrency.unwrap_or(if smoke { 4 } else { 64 }),
            batch_concurrency: args.batch_concurrency.unwrap_or(if smoke { 2 } else { 16 }),
            batch: args.batch,
            rate: args.rate.unwrap_or(if smoke { 200.0 } else { 5000.0 }),
            max_in_flight: args.max_in_flight,
            copy_streams: args.copy_streams.unwrap_or(if smoke { 1 } else { 2 }),
            copy_chunk: args.copy_chunk,
            warmup: args.warmup.unwrap_or(if smoke { 0.0 } else { 2.0 }),
            smoke,
        };
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(plan.seconds) || plan.seconds > 3600.0 {
            bail!("--seconds must be between 0 and 3600");
        }
        if plan.concurrency == 0 || plan.batch_concurrency == 0 || plan.copy_streams == 0 {
            bail!("concurrency values must be at least 1");
        }
        if !(1..=1000).contains(&plan.batch) {
            bail!("--batch must be 1..=1000 (the server's limit per call)");
        }
        if !positive(plan.rate) || plan.max_in_flight == 0 || plan.copy_chunk == 0 {
            bail!("--rate, --max-in-flight and --copy-chunk must be positive");
        }
        if args.templates == 0 || !positive(args.zipf) {
            bail!("--templates and --zipf must be positive");
        }
        Ok(plan)
    }
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    common::main_with("ingest_bench", run(args))
}

// ---------------------------------------------------------------------------------------------
// Event corpus.

/// A volatile piece of a message: different in every event, normalized away by grouping.
#[derive(Clone, Copy, Debug)]
enum Volatile {
    /// A number such as a count, size or duration.
    Num,
    Port,
    Ip,
    Uuid,
    /// `0x…` (bare hex is only an id when it mixes digits and letters).
    Hex,
    /// A quoted user or object name.
    Quoted,
}

#[derive(Clone, Debug)]
enum Part {
    Text(String),
    Var(Volatile),
}

/// One distinct error: everything but the volatile values is fixed.
struct Template {
    service: &'static str,
    severity: &'static str,
    error_type: &'static str,
    message: Vec<Part>,
    /// The stack trace as a JSON string literal (with quotes).
    stack_json: String,
    /// The stack trace escaped for COPY's text format.
    stack_copy: String,
    /// `"key":value,…` members of `details` that do not change (JSON, COPY-safe).
    details_fixed: String,
    route: String,
    /// The group id written by the COPY baseline (no foreign key there).
    group: i64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lang {
    Python,
    Js,
    Java,
    Rust,
}

const SERVICES: [(&str, Lang); 20] = [
    ("billing-api", Lang::Python),
    ("checkout", Lang::Js),
    ("inventory", Lang::Java),
    ("search-indexer", Lang::Rust),
    ("auth-gateway", Lang::Js),
    ("notifications", Lang::Python),
    ("payments", Lang::Java),
    ("recommender", Lang::Python),
    ("media-transcoder", Lang::Rust),
    ("orders", Lang::Java),
    ("web-frontend", Lang::Js),
    ("agent-runner", Lang::Python),
    ("scheduler", Lang::Rust),
    ("reporting", Lang::Python),
    ("shipping", Lang::Java),
    ("user-profile", Lang::Js),
    ("ledger", Lang::Rust),
    ("ml-feature-store", Lang::Python),
    ("email-relay", Lang::Js),
    ("fraud-detector", Lang::Java),
];

/// Ten error types per language (40 in all), one a line: `language type: pattern | pattern`.
/// In patterns `{n}` is a number, `{port}`, `{ip}`, `{uuid}`, `{hex}`, and `{q}` a quoted name.
const ERRORS: &str = r#"
py ConnectionError: connection to {ip} port {port} refused after {n}ms | HTTPSConnectionPool(host={q}, port={port}): max retries exceeded with url: /v1/charges/{uuid}
py TimeoutError: operation timed out after {n} seconds waiting for {q}
py KeyError: {q} not found in payload of request {uuid}
py ValueError: invalid literal for int() with base 10: {q} | amount {n} exceeds the limit {n} for account {q}
py AttributeError: 'NoneType' object has no attribute {q} (record {n})
py psycopg2.OperationalError: could not connect to server: Connection refused. Is the server running on host {q} ({ip}) and accepting TCP/IP connections on port {port}?
py MemoryError: unable to allocate {n} MiB for an array with shape ({n}, {n}) and data type float64
py PermissionError: [Errno 13] Permission denied: {q} while writing batch {n}
py openai.RateLimitError: Error code: 429 - rate limit reached for requests in organization {q}: limit {n}, used {n}, requested {n}
py json.JSONDecodeError: Expecting value: line {n} column {n} (char {n}) in response of {ip}
js TypeError: Cannot read properties of undefined (reading {q}) at order {uuid} | fetch failed: request to https://{ip}/api/v2/items/{n} failed
js RangeError: Maximum call stack size exceeded while rendering {q} (depth {n})
js ECONNRESET: socket hang up: read ECONNRESET {ip}:{port} after {n} bytes
js ETIMEDOUT: connect ETIMEDOUT {ip}:{port} (attempt {n} of {n})
js SyntaxError: Unexpected token < in JSON at position {n} from upstream {q}
js UnhandledPromiseRejection: This error originated either by throwing inside of an async function without a catch block: job {uuid} failed
js PrismaClientKnownRequestError: Unique constraint failed on the fields: ({q}) for tenant {n}
js AxiosError: Request failed with status code {n} for GET /api/users/{n}/sessions
js ReferenceError: {q} is not defined in chunk {hex}
js RedisConnectionError: Connection is closed. Command {q} was rejected after {n} retries ({ip}:{port})
java java.lang.NullPointerException: Cannot invoke "String.length()" because {q} is null (order {n})
java java.net.SocketTimeoutException: Read timed out after {n} ms talking to {ip}:{port}
java java.lang.IllegalStateException: Transaction {uuid} already committed; cannot roll back
java org.postgresql.util.PSQLException: ERROR: deadlock detected. Detail: Process {n} waits for ShareLock on transaction {n}; blocked by process {n} | FATAL: remaining connection slots are reserved for non-replication superuser connections ({ip})
java java.lang.OutOfMemoryError: Java heap space (allocating {n} bytes for {q})
java java.util.ConcurrentModificationException: modified while iterating over cart {uuid} ({n} items)
java javax.net.ssl.SSLHandshakeException: PKIX path building failed for {q}:{port}: unable to find valid certification path
java org.springframework.dao.DataIntegrityViolationException: could not execute statement; constraint [{q}]; row {n}
java java.lang.IllegalArgumentException: Invalid currency code {q} for merchant {n}
java io.grpc.StatusRuntimeException: UNAVAILABLE: io exception talking to {ip}:{port} after {n} ms
rust panic: called `Option::unwrap()` on a `None` value (segment {n}) | index out of bounds: the len is {n} but the index is {n}
rust sqlx::Error: pool timed out while waiting for an open connection ({n} ms, {n} in use)
rust reqwest::Error: error sending request for url (http://{ip}:{port}/v1/jobs/{uuid}): connection closed before message completed
rust std::io::Error: No space left on device (os error 28) writing {q} at offset {hex}
rust serde_json::Error: invalid type: null, expected a string at line {n} column {n}
rust tokio::time::error::Elapsed: deadline has elapsed after {n}ms waiting for shard {n}
rust anyhow::Error: failed to decode frame {hex}: unexpected end of stream after {n} bytes
rust tonic::Status: status: Unavailable, message: "tcp connect error", peer {ip}:{port}
rust ffmpeg::Error: Invalid data found when processing input {q} (stream {n})
rust redis::RedisError: Connection refused (os error 111) to {ip}:{port}, retry {n}
"#;

/// Function names of in-app frames: verb × noun gives every template its own top frame.
const VERBS: &str = "\
load save fetch sync resolve render charge refund validate parse encode decode publish \
consume schedule dispatch reconcile export import index score rank notify archive restore \
compact migrate transcode upload download verify sign settle reserve release allocate merge \
split enrich dedupe throttle retry flush warm evict hydrate aggregate forecast tokenize \
embed";

const NOUNS: &str = "\
invoice order cart payment refund customer account session token profile address shipment \
parcel label route carrier warehouse sku stock price discount coupon tax currency ledger \
entry balance transfer payout merchant subscription plan trial usage quota report dashboard \
chart metric event webhook message email sms push template campaign segment audience \
feature model embedding prompt completion agent tool plan_step job task queue worker shard \
partition replica snapshot backup index document query cursor page thumbnail video audio \
frame manifest playlist asset bucket object upload download file folder permission role \
team member invite audit_log policy rule alert incident deploy release config secret \
certificate domain";

const NAMES: &str = "alice bob carol dave erin frank grace heidi ivan judy mallory trent";

fn words(list: &'static str) -> Vec<&'static str> {
    list.split_whitespace().collect()
}

/// `(language, error type, patterns)` from [`ERRORS`].
fn error_table() -> Vec<(Lang, &'static str, Vec<&'static str>)> {
    ERRORS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (lang, rest) = line.split_once(' ').expect("language first");
            let (error_type, patterns) = rest.split_once(": ").expect("type: patterns");
            let lang = match lang {
                "py" => Lang::Python,
                "js" => Lang::Js,
                "java" => Lang::Java,
                _ => Lang::Rust,
            };
            (lang, error_type, patterns.split(" | ").collect())
        })
        .collect()
}

static VERB_LIST: LazyLock<Vec<&str>> = LazyLock::new(|| words(VERBS));
static NOUN_LIST: LazyLock<Vec<&str>> = LazyLock::new(|| words(NOUNS));
static NAME_LIST: LazyLock<Vec<&str>> = LazyLock::new(|| words(NAMES));

const SEVERITIES: [(&str, u32); 4] = [("error", 70), ("warning", 18), ("critical", 7), ("info", 5)];
const REGIONS: [&str; 6] = [
    "eu-west-1",
    "eu-central-1",
    "us-east-1",
    "us-west-2",
    "ap-southeast-1",
    "sa-east-1",
];

fn parse_pattern(pattern: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| open + c) else {
            break;
        };
        let var = match &rest[open + 1..close] {
            "n" => Volatile::Num,
            "port" => Volatile::Port,
            "ip" => Volatile::Ip,
            "uuid" => Volatile::Uuid,
            "hex" => Volatile::Hex,
            "q" => Volatile::Quoted,
            _ => {
                parts.push(Part::Text(rest[..=close].to_owned()));
                rest = &rest[close + 1..];
                continue;
            }
        };
        if open > 0 {
            parts.push(Part::Text(rest[..open].to_owned()));
        }
        parts.push(Part::Var(var));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_owned()));
    }
    parts
}

/// A stack trace of about 2 KB whose in-app frames are unique to template `i`.
fn stack_trace(lang: Lang, service: &str, error_type: &str, i: usize, rng: &mut StdRng) -> String {
    let verb = VERB_LIST[i % VERB_LIST.len()];
    let noun = NOUN_LIST[(i / VERB_LIST.len()) % NOUN_LIST.len()];
    let other = |rng: &mut StdRng| {
        (
            *VERB_LIST.choose(rng).expect("not empty"),
            *NOUN_LIST.choose(rng).expect("not empty"),
        )
    };
    let module = service.replace('-', "_");
    let line = |rng: &mut StdRng| rng.gen_range(12..900);
    let mut s = String::with_capacity(2400);
    match lang {
        Lang::Python => {
            s.push_str("Traceback (most recent call last):\n");
            let library = [
                (
                    "/usr/local/lib/python3.12/site-packages/starlette/middleware/errors.py",
                    "__call__",
                    "await self.app(scope, receive, _send)",
                ),
                (
                    "/usr/local/lib/python3.12/site-packages/starlette/routing.py",
                    "handle",
                    "await self.app(scope, receive, send)",
                ),
                (
                    "/usr/local/lib/python3.12/site-packages/fastapi/routing.py",
                    "app",
                    "raw_response = await run_endpoint_function(",
                ),
                (
                    "/usr/local/lib/python3.12/site-packages/fastapi/routing.py",
                    "run_endpoint_function",
                    "return await dependant.call(**values)",
                ),
            ];
            for (path, func, code) in library {
                let _ = writeln!(
                    s,
                    "  File \"{path}\", line {}, in {func}\n    {code}",
                    line(rng)
                );
            }
            for _ in 0..3 {
                let (v, n) = other(rng);
                let _ = writeln!(
                    s,
                    "  File \"/app/{module}/services/{n}.py\", line {}, in {v}_{n}\n    result = await self._{v}({n}_id, timeout=self.settings.timeout)",
                    line(rng)
                );
            }
            let _ = writeln!(
                s,
                "  File \"/app/{module}/handlers/{noun}.py\", line {}, in {verb}_{noun}\n    response = await client.{verb}({noun}, retries=3)",
                line(rng)
            );
            for (path, func, code) in [
                (
                    "/usr/local/lib/python3.12/site-packages/httpx/_client.py",
                    "send",
                    "response = await self._send_handling_auth(",
                ),
                (
                    "/usr/local/lib/python3.12/site-packages/httpx/_transports/default.py",
                    "handle_async_request",
                    "resp = await self._pool.handle_async_request(req)",
                ),
                (
                    "/usr/local/lib/python3.12/site-packages/httpcore/_async/connection_pool.py",
                    "handle_async_request",
                    "raise exc from None",
                ),
            ] {
                let _ = writeln!(
                    s,
                    "  File \"{path}\", line {}, in {func}\n    {code}",
                    line(rng)
                );
            }
            let _ = write!(s, "{error_type}: see message");
        }
        Lang::Js => {
            let _ = writeln!(s, "{error_type}: see message");
            let _ = writeln!(
                s,
                "    at {verb}{} (/srv/{module}/src/{noun}/{noun}.service.ts:{}:{})",
                capitalize(noun),
                line(rng),
                line(rng) % 80
            );
            for _ in 0..3 {
                let (v, n) = other(rng);
                let _ = writeln!(
                    s,
                    "    at async {}Controller.{v} (/srv/{module}/src/{n}/{n}.controller.ts:{}:{})",
                    capitalize(n),
                    line(rng),
                    line(rng) % 80
                );
            }
            for (func, path) in [
                (
                    "Layer.handle [as handle_request]",
                    "/srv/app/node_modules/express/lib/router/layer.js",
                ),
                ("next", "/srv/app/node_modules/express/lib/router/route.js"),
                (
                    "Route.dispatch",
                    "/srv/app/node_modules/express/lib/router/route.js",
                ),
                (
                    "Function.process_params",
                    "/srv/app/node_modules/express/lib/router/index.js",
                ),
                ("next", "/srv/app/node_modules/express/lib/router/index.js"),
                (
                    "jsonParser",
                    "/srv/app/node_modules/body-parser/lib/types/json.js",
                ),
                (
                    "Layer.handle [as handle_request]",
                    "/srv/app/node_modules/express/lib/router/layer.js",
                ),
                (
                    "trim_prefix",
                    "/srv/app/node_modules/express/lib/router/index.js",
                ),
                (
                    "process.processTicksAndRejections",
                    "node:internal/process/task_queues",
                ),
                ("runNextTicks", "node:internal/process/task_queues"),
                ("listOnTimeout", "node:internal/timers"),
                ("process.processTimers", "node:internal/timers"),
            ] {
                let _ = writeln!(s, "    at {func} ({path}:{}:{})", line(rng), line(rng) % 80);
            }
        }
        Lang::Java => {
            let _ = writeln!(s, "{error_type}: see message");
            let pkg = format!("com.example.{module}");
            let _ = writeln!(
                s,
                "\tat {pkg}.{noun}.{}Service.{verb}{}({}Service.java:{})",
                capitalize(noun),
                capitalize(noun),
                capitalize(noun),
                line(rng)
            );
            for _ in 0..3 {
                let (v, n) = other(rng);
                let _ = writeln!(
                    s,
                    "\tat {pkg}.{n}.{}Controller.{v}({}Controller.java:{})",
                    capitalize(n),
                    capitalize(n),
                    line(rng)
                );
            }
            for frame in [
                "jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)",
                "java.lang.reflect.Method.invoke(Method.java:580)",
                "org.springframework.web.method.support.InvocableHandlerMethod.doInvoke(InvocableHandlerMethod.java:255)",
                "org.springframework.web.method.support.InvocableHandlerMethod.invokeForRequest(InvocableHandlerMethod.java:188)",
                "org.springframework.web.servlet.mvc.method.annotation.ServletInvocableHandlerMethod.invokeAndHandle(ServletInvocableHandlerMethod.java:118)",
                "org.springframework.web.servlet.DispatcherServlet.doDispatch(DispatcherServlet.java:1089)",
                "org.springframework.web.servlet.FrameworkServlet.processRequest(FrameworkServlet.java:1014)",
                "jakarta.servlet.http.HttpServlet.service(HttpServlet.java:658)",
                "org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:138)",
                "java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1144)",
                "java.base/java.lang.Thread.run(Thread.java:1583)",
            ] {
                let _ = writeln!(s, "\tat {frame}");
            }
        }
        Lang::Rust => {
            let _ = writeln!(
                s,
                "thread 'tokio-runtime-worker' panicked at src/{noun}.rs:{}:{}:\n{error_type}: see message\nstack backtrace:",
                line(rng),
                line(rng) % 80
            );
            let mut n = 0;
            let mut frame = |s: &mut String, sym: &str, loc: &str| {
                let _ = writeln!(s, "  {n:>2}: {sym}\n             at {loc}");
                n += 1;
            };
            frame(
                &mut s,
                "std::panicking::begin_panic_handler::{{closure}}",
                "/rustc/library/std/src/panicking.rs:697:5",
            );
            frame(
                &mut s,
                "core::panicking::panic_fmt",
                "/rustc/library/core/src/panicking.rs:75:14",
            );
            frame(
                &mut s,
                &format!("{module}::{noun}::{verb}_{noun}"),
                &format!("./src/{noun}.rs:{}:9", line(rng)),
            );
            for _ in 0..3 {
                let (v, n) = other(rng);
                frame(
                    &mut s,
                    &format!("{module}::{n}::{}::{v}::{{{{closure}}}}", capitalize(n)),
                    &format!("./src/{n}.rs:{}:30", line(rng)),
                );
            }
            for (sym, loc) in [
                (
                    "<core::pin::Pin<P> as core::future::future::Future>::poll",
                    "/rustc/library/core/src/future/future.rs:124:9",
                ),
                (
                    "tokio::runtime::task::core::Core<T,S>::poll::{{closure}}",
                    "/cargo/registry/src/tokio-1.47.1/src/runtime/task/core.rs:375:24",
                ),
                (
                    "tokio::runtime::task::harness::Harness<T,S>::poll",
                    "/cargo/registry/src/tokio-1.47.1/src/runtime/task/harness.rs:154:15",
                ),
                (
                    "tokio::runtime::scheduler::multi_thread::worker::Context::run_task",
                    "/cargo/registry/src/tokio-1.47.1/src/runtime/scheduler/multi_thread/worker.rs:594:13",
                ),
                (
                    "tokio::runtime::scheduler::multi_thread::worker::run",
                    "/cargo/registry/src/tokio-1.47.1/src/runtime/scheduler/multi_thread/worker.rs:497:21",
                ),
                (
                    "std::sys::backtrace::__rust_begin_short_backtrace",
                    "/rustc/library/std/src/sys/backtrace.rs:152:18",
                ),
                (
                    "std::thread::Builder::spawn_unchecked_::{{closure}}",
                    "/rustc/library/std/src/thread/mod.rs:559:17",
                ),
            ] {
                frame(&mut s, sym, loc);
            }
        }
    }
    s
}

fn capitalize(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for part in word.split('_') {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

/// The 5,000 templates and the Zipf CDF over them (rank 0 most frequent).
struct Corpus {
    templates: Vec<Template>,
    cdf: Vec<f64>,
    /// Whether events carry a client-made `event_id`.
    client_ids: bool,
}

impl Corpus {
    fn new(count: usize, s: f64, ids: EventIds) -> Corpus {
        // Fixed seed: the same templates every run.
        let mut rng = StdRng::seed_from_u64(0x_fa17_11e5);
        let table = error_table();
        let severity_total: u32 = SEVERITIES.iter().map(|(_, w)| w).sum();
        let templates = (0..count)
            .map(|i| {
                let (service, lang) = SERVICES[rng.gen_range(0..SERVICES.len())];
                let errors: Vec<_> = table.iter().filter(|(l, _, _)| *l == lang).collect();
                let (_, error_type, patterns) = errors[rng.gen_range(0..errors.len())];
                let pattern = patterns[rng.gen_range(0..patterns.len())];
                let mut pick = rng.gen_range(0..severity_total);
                let severity = SEVERITIES
                    .iter()
                    .find(|(_, w)| {
                        if pick < *w {
                            true
                        } else {
                            pick -= w;
                            false
                        }
                    })
                    .map_or("error", |(name, _)| name);
                let stack = stack_trace(lang, service, error_type, i, &mut rng);
                let noun = NOUN_LIST[(i / VERB_LIST.len()) % NOUN_LIST.len()];
                let details_fixed = format!(
                    r#""region":"{}","runtime":"{}","component":"{noun}","pod":"{service}-{:x}-{}","build":"{}.{}.{}""#,
                    REGIONS[rng.gen_range(0..REGIONS.len())],
                    match lang {
                        Lang::Python => "cpython-3.12.7",
                        Lang::Js => "node-22.11.0",
                        Lang::Java => "openjdk-21.0.5",
                        Lang::Rust => "rustc-1.95.0",
                    },
                    rng.gen_range(0x1000_0000u32..0xffff_ffff),
                    rng.gen_range(10_000..99_999),
                    rng.gen_range(1..4),
                    rng.gen_range(0..40),
                    rng.gen_range(0..200),
                );
                Template {
                    service,
                    severity,
                    error_type,
                    message: parse_pattern(pattern),
                    stack_json: serde_json::to_string(&stack).expect("a string serializes"),
                    stack_copy: copy_escape(&stack),
                    details_fixed,
                    route: format!("/api/v1/{noun}s/{{id}}"),
                    group: i as i64 + 1,
                }
            })
            .collect();
        let weights: Vec<f64> = (1..=count).map(|k| (k as f64).powf(-s)).collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cdf = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        Corpus {
            templates,
            cdf,
            client_ids: ids == EventIds::Client,
        }
    }

    fn pick(&self, rng: &mut StdRng) -> &Template {
        let u: f64 = rng.r#gen();
        let i = self.cdf.partition_point(|&c| c < u);
        &self.templates[i.min(self.templates.len() - 1)]
    }

    /// Appends a picked event as a JSON object.
    fn write_event(&self, out: &mut String, rng: &mut StdRng) {
        self.pick(rng).write_json(out, self.client_ids, rng);
    }

    /// Appends a `log_errors` body of `size` events.
    fn write_batch(&self, out: &mut String, size: usize, rng: &mut StdRng) {
        out.push_str(r#"{"events":["#);
        for i in 0..size {
            if i > 0 {
                out.push(',');
            }
            self.write_event(out, rng);
        }
        out.push_str("]}");
    }

    fn average_sizes(&self) -> (usize, usize) {
        let mut rng = StdRng::seed_from_u64(7);
        let mut json = String::new();
        let mut stack = 0;
        let n = 200;
        for _ in 0..n {
            let t = self.pick(&mut rng);
            t.write_json(&mut json, self.client_ids, &mut rng);
            stack += t.stack_json.len();
        }
        (json.len() / n, stack / n)
    }
}

/// Volatile values of one event.
fn render_volatile(out: &mut String, v: Volatile, rng: &mut StdRng) {
    match v {
        Volatile::Num => {
            let _ = write!(out, "{}", rng.gen_range(1..100_000u32));
        }
        Volatile::Port => {
            let _ = write!(out, "{}", rng.gen_range(1024..65_535u32));
        }
        Volatile::Ip => {
            let _ = write!(
                out,
                "10.{}.{}.{}",
                rng.gen_range(0..256u32),
                rng.gen_range(0..256u32),
                rng.gen_range(1..255u32)
            );
        }
        Volatile::Uuid => {
            let _ = write!(out, "{}", new_uuid(rng));
        }
        Volatile::Hex => {
            let _ = write!(out, "0x{:012x}", rng.r#gen::<u64>() & 0xffff_ffff_ffff);
        }
        Volatile::Quoted => {
            let _ = write!(
                out,
                "'{}_{}'",
                NAME_LIST[rng.gen_range(0..NAME_LIST.len())],
                rng.gen_range(1..10_000u32)
            );
        }
    }
}

fn new_uuid(rng: &mut StdRng) -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rng.r#gen()).into_uuid()
}

impl Template {
    fn message(&self, out: &mut String, rng: &mut StdRng) {
        for part in &self.message {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var(v) => render_volatile(out, *v, rng),
            }
        }
    }

    /// `{"request_id":…,…}` (JSON without characters COPY would need escaped).
    fn details(&self, out: &mut String, rng: &mut StdRng) {
        let _ = write!(
            out,
            r#"{{"request_id":"{}","route":"{}","attempt":{},"duration_ms":{},"user":"{}_{}",{}}}"#,
            new_uuid(rng),
            self.route,
            rng.gen_range(1..4u32),
            rng.gen_range(1..30_000u32),
            NAME_LIST[rng.gen_range(0..NAME_LIST.len())],
            rng.gen_range(1..10_000u32),
            self.details_fixed
        );
    }

    /// Appends the event as a JSON object (fresh volatile values, and a fresh event id when
    /// `with_id`).
    fn write_json(&self, out: &mut String, with_id: bool, rng: &mut StdRng) {
        let mut message = String::with_capacity(160);
        self.message(&mut message, rng);
        let _ = write!(
            out,
            r#"{{"service":"{}","severity":"{}","error_type":"{}","#,
            self.service, self.severity, self.error_type,
        );
        if with_id {
            let _ = write!(out, r#""event_id":"{}","#, new_uuid(rng));
        }
        out.push_str(r#""message":"#);
        json_escape(out, &message);
        out.push_str(r#","details":"#);
        self.details(out, rng);
        out.push_str(r#","stack_trace":"#);
        out.push_str(&self.stack_json);
        out.push('}');
    }

    /// Appends the event as one COPY text-format row.
    fn write_copy_row(&self, out: &mut String, tenant: i64, occurred_at: &str, rng: &mut StdRng) {
        let mut message = String::with_capacity(160);
        self.message(&mut message, rng);
        let _ = write!(
            out,
            "{tenant}\t{}\t{}\t{}\t{}\t",
            new_uuid(rng),
            self.group,
            self.service,
            self.severity
        );
        out.push_str(&copy_escape(&message));
        out.push('\t');
        let mut details = String::with_capacity(300);
        self.details(&mut details, rng);
        out.push_str(&copy_escape(&details));
        out.push('\t');
        out.push_str(&self.stack_copy);
        out.push('\t');
        out.push_str(occurred_at);
        out.push('\n');
    }
}

fn json_escape(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Escapes a value for COPY's text format.
fn copy_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 64);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Measurements.

/// What one phase (or one of its workers) saw.
#[derive(Default)]
struct Stats {
    /// Events committed (201 answers, `accepted` counts, COPY rows).
    events: u64,
    requests: u64,
    /// Per request (or per COPY), microseconds.
    latencies_us: Vec<u32>,
    rate_limited: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Stats {
    fn merge(&mut self, other: Stats) {
        self.events += other.events;
        self.requests += other.requests;
        self.latencies_us.extend(other.latencies_us);
        self.rate_limited += other.rate_limited;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn error(&mut self, message: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(message);
        }
    }

    fn record_latency(&mut self, since: Instant) {
        let us = since.elapsed().as_micros();
        self.latencies_us
            .push(u32::try_from(us).unwrap_or(u32::MAX));
    }
}

/// Processes whose CPU time is reported.
#[derive(Clone, Copy)]
struct Pids {
    server: Option<u32>,
    /// PostgreSQL's postmaster, when it runs on this machine (its children are the backends).
    postmaster: Option<u32>,
}

/// CPU time used (clock ticks) by the server, this process, PostgreSQL and the whole machine.
#[derive(Clone, Copy, Default)]
struct CpuSample {
    server: u64,
    bench: u64,
    pg: u64,
    busy: u64,
}

/// `(parent pid, utime + stime)` of a process, from /proc/PID/stat.
fn proc_stat(pid: &str) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesized command name: state is field 3, ppid 4, utime 14, stime 15.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let ppid = u32::try_from(field(4)?).ok()?;
    Some((ppid, field(14)? + field(15)?))
}

fn clock_ticks_of(pid: &str) -> u64 {
    proc_stat(pid).map_or(0, |(_, ticks)| ticks)
}

/// CPU ticks of the postmaster and all its children (backends, WAL writer, checkpointer…).
fn postgres_ticks(postmaster: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let name = name.to_str()?;
            let pid: u32 = name.parse().ok()?;
            let (ppid, ticks) = proc_stat(name)?;
            (pid == postmaster || ppid == postmaster).then_some(ticks)
        })
        .sum()
}

fn machine_busy_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let Some(line) = stat.lines().next() else {
        return 0;
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    v.iter().take(8).sum::<u64>().saturating_sub(idle)
}

impl CpuSample {
    fn now(pids: Pids) -> CpuSample {
        CpuSample {
            server: pids.server.map_or(0, |p| clock_ticks_of(&p.to_string())),
            bench: clock_ticks_of("self"),
            pg: pids.postmaster.map_or(0, postgres_ticks),
            busy: machine_busy_ticks(),
        }
    }
}

/// `VmHWM` (peak resident set) and `VmRSS` of a process, in MB.
fn memory_mb(pid: u32) -> Option<(f64, f64)> {
    Some((
        common::status_mb(pid, "VmHWM:")?,
        common::status_mb(pid, "VmRSS:")?,
    ))
}

/// One finished phase.
struct Outcome {
    name: String,
    stats: Stats,
    elapsed: Duration,
    /// Average cores used by the server, this process, PostgreSQL and everything else.
    cpu: [f64; 4],
    /// For the fixed-rate phase: the offered rate.
    offered: Option<f64>,
    show_latency: bool,
}

impl Outcome {
    fn events_per_s(&self) -> f64 {
        self.stats.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn percentile_ms(&self, q: f64) -> Option<f64> {
        common::nearest_rank(&self.stats.latencies_us, q).map(|us| f64::from(us) / 1000.0)
    }
}

// ---------------------------------------------------------------------------------------------
// Phases.

/// Where the closed-loop workers send their requests.
const SINGLE_PATH: &str = "/api/errors/log";
const BATCH_PATH: &str = "/api/v1/log_errors";
/// A request unanswered this long counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

struct Ctx {
    /// For the open-loop phase (any number of requests in flight).
    client: reqwest::Client,
    /// Parsed once: parsing a URL per request cost the generator a few percent of a core.
    single_url: reqwest::Url,
    /// The server, for the closed-loop workers' own connections.
    addr: std::net::SocketAddr,
    host: http::HeaderValue,
    auth: http::HeaderValue,
    corpus: Arc<Corpus>,
    abort: AtomicBool,
    error_count: AtomicU64,
}

impl Ctx {
    fn note_error(&self) {
        if self.error_count.fetch_add(1, Ordering::Relaxed) + 1 >= MAX_ERRORS {
            self.abort.store(true, Ordering::Relaxed);
        }
    }
}

#[derive(serde::Deserialize)]
struct BatchReply {
    accepted: u64,
    rejected: u64,
}

fn snippet(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &body[..i]),
        None => body.to_owned(),
    }
}

/// What a request answered: its status and body, or why there was no answer.
type Reply = Result<(StatusCode, String), String>;

/// One keep-alive HTTP/1.1 connection of a closed-loop worker, driven through hyper directly:
/// reqwest's pool, timeouts and URL handling cost the generator about a third of its CPU per
/// single-event request, which the server and PostgreSQL then lacked on this shared machine.
struct Conn {
    sender: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
}

impl Conn {
    fn new() -> Conn {
        Conn { sender: None }
    }

    async fn post(&mut self, ctx: &Ctx, path: &'static str, body: String) -> Reply {
        let sender = match &mut self.sender {
            Some(sender) if !sender.is_closed() => sender,
            _ => self.sender.insert(connect(ctx).await?),
        };
        let sent = async {
            sender.ready().await.map_err(|e| e.to_string())?;
            let req = http::Request::post(path)
                .header(http::header::HOST, ctx.host.clone())
                .header(http::header::AUTHORIZATION, ctx.auth.clone())
                .header(http::header::CONTENT_TYPE, "application/json")
                .header(http::header::ACCEPT, "application/json")
                .body(Full::new(Bytes::from(body)))
                .map_err(|e| e.to_string())?;
            let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
            let status = res.status();
            let body = res
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("reading: {e}"))?
                .to_bytes();
            Ok((status, String::from_utf8_lossy(&body).into_owned()))
        };
        let reply = match tokio::time::timeout(REQUEST_TIMEOUT, sent).await {
            Ok(reply) => reply,
            Err(_) => Err(format!("no answer within {REQUEST_TIMEOUT:?}")),
        };
        if reply.is_err() {
            self.sender = None;
        }
        reply
    }
}

async fn connect(
    ctx: &Ctx,
) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, String> {
    let stream = tokio::net::TcpStream::connect(ctx.addr)
        .await
        .map_err(|e| format!("connecting to {}: {e}", ctx.addr))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Sends one single-event request through the shared client (open loop: any number in
/// flight); records its outcome.
async fn send_single(ctx: &Ctx, body: String, stats: &mut Stats, started: Instant) {
    let res = ctx
        .client
        .post(ctx.single_url.clone())
        .header(reqwest::header::AUTHORIZATION, ctx.auth.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    let reply = match res {
        Ok(res) => {
            let status = res.status();
            res.text()
                .await
                .map(|text| (status, text))
                .map_err(|e| format!("({status}): reading: {e}"))
        }
        Err(e) => Err(e.to_string()),
    };
    count_single(ctx, reply, stats, started);
}

/// Records what one single-event request answered.
fn count_single(ctx: &Ctx, reply: Reply, stats: &mut Stats, started: Instant) {
    stats.requests += 1;
    match reply {
        Ok((StatusCode::CREATED, _)) => {
            stats.events += 1;
            stats.record_latency(started);
        }
        Ok((StatusCode::TOO_MANY_REQUESTS, _)) => stats.rate_limited += 1,
        Ok((status, text)) => {
            ctx.note_error();
            stats.error(format!(
                "POST /api/errors/log answered {status}: {}",
                snippet(&text)
            ));
        }
        Err(e) => {
            ctx.note_error();
            stats.error(format!("POST /api/errors/log: {e}"));
        }
    }
}

/// Records what one `log_errors` call of `size` events answered.
fn count_batch(ctx: &Ctx, reply: Reply, size: usize, stats: &mut Stats, started: Instant) {
    stats.requests += 1;
    let (status, text) = match reply {
        Ok(answer) => answer,
        Err(e) => {
            ctx.note_error();
            stats.error(format!("POST /api/v1/log_errors: {e}"));
            return;
        }
    };
    if status == StatusCode::TOO_MANY_REQUESTS {
        stats.rate_limited += 1;
        return;
    }
    if !status.is_success() {
        ctx.note_error();
        stats.error(format!(
            "POST /api/v1/log_errors answered {status}: {}",
            snippet(&text)
        ));
        return;
    }
    match serde_json::from_str::<BatchReply>(&text) {
        Ok(reply) if reply.rejected == 0 && reply.accepted == size as u64 => {
            stats.events += reply.accepted;
            stats.record_latency(started);
        }
        Ok(reply) => {
            stats.events += reply.accepted;
            ctx.note_error();
            stats.error(format!(
                "log_errors accepted {} and rejected {} of {size}: {}",
                reply.accepted,
                reply.rejected,
                snippet(&text)
            ));
        }
        Err(e) => {
            ctx.note_error();
            stats.error(format!(
                "log_errors answered {status} with an unexpected body ({e}): {}",
                snippet(&text)
            ));
        }
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Single,
    Batched(usize),
}

/// Closed loop: `workers` tasks each sending one request after the other until the deadline.
async fn closed_loop(
    ctx: &Arc<Ctx>,
    mode: Mode,
    workers: usize,
    seconds: f64,
) -> (Stats, Duration) {
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let ctx = Arc::clone(ctx);
        tasks.spawn(async move {
            let mut rng = StdRng::from_entropy();
            let mut stats = Stats::default();
            let mut conn = Conn::new();
            let mut body = String::new();
            let mut last_429 = 0;
            while Instant::now() < deadline && !ctx.abort.load(Ordering::Relaxed) {
                if stats.rate_limited > 0 && stats.rate_limited != last_429 {
                    // Told to slow down: a short pause instead of spinning on 429s.
                    last_429 = stats.rate_limited;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                body.clear();
                match mode {
                    Mode::Single => {
                        ctx.corpus.write_event(&mut body, &mut rng);
                        let started = Instant::now();
                        let reply = conn
                            .post(&ctx, SINGLE_PATH, std::mem::take(&mut body))
                            .await;
                        count_single(&ctx, reply, &mut stats, started);
                    }
                    Mode::Batched(size) => {
                        ctx.corpus.write_batch(&mut body, size, &mut rng);
                        let started = Instant::now();
                        let reply = conn.post(&ctx, BATCH_PATH, std::mem::take(&mut body)).await;
                        count_batch(&ctx, reply, size, &mut stats, started);
                    }
                }
            }
            stats
        });
    }
    let mut total = Stats::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(stats) => total.merge(stats),
            Err(e) => total.error(format!("a worker failed: {e}")),
        }
    }
    (total, start.elapsed())
}

/// Open loop: single events scheduled every 1/rate seconds, whatever the answers; latency
/// counts from the scheduled time.
async fn fixed_rate(
    ctx: &Arc<Ctx>,
    rate: f64,
    max_in_flight: usize,
    seconds: f64,
) -> (Stats, Duration) {
    let total_events = (rate * seconds).round().max(1.0) as u64;
    let results = Arc::new(Mutex::new(Stats::default()));
    let slots = Arc::new(Semaphore::new(max_in_flight));
    let mut rng = StdRng::from_entropy();
    let start = Instant::now() + Duration::from_millis(5);
    let mut delayed = 0u64;
    for n in 0..total_events {
        if ctx.abort.load(Ordering::Relaxed) {
            break;
        }
        let scheduled = start + Duration::from_secs_f64(n as f64 / rate);
        if scheduled > Instant::now() {
            tokio::time::sleep_until(scheduled.into()).await;
        }
        let mut body = String::with_capacity(3000);
        ctx.corpus.write_event(&mut body, &mut rng);
        let permit = match Arc::clone(&slots).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                // All slots busy: the send is late; its latency still counts from `scheduled`.
                delayed += 1;
                Arc::clone(&slots)
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed")
            }
        };
        let ctx = Arc::clone(ctx);
        let results = Arc::clone(&results);
        tokio::spawn(async move {
            let mut stats = Stats::default();
            send_single(&ctx, body, &mut stats, scheduled).await;
            results.lock().expect("not poisoned").merge(stats);
            drop(permit);
        });
    }
    let _all = slots
        .acquire_many(u32::try_from(max_in_flight).unwrap_or(u32::MAX))
        .await
        .expect("the semaphore is never closed");
    let elapsed = start.elapsed();
    let stats = std::mem::take(&mut *results.lock().expect("not poisoned"));
    if delayed > 0 {
        println!(
            "  note: {delayed} sends waited for one of the {max_in_flight} in-flight slots (their wait is in the latency)"
        );
    }
    (stats, elapsed)
}

/// The physical limit: the same rows COPYed into a scratch copy of `error_events`.
async fn baseline(
    pool: &sqlx::PgPool,
    corpus: &Arc<Corpus>,
    tenant: i64,
    streams: usize,
    chunk: usize,
    seconds: f64,
) -> anyhow::Result<(Stats, Duration)> {
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..streams {
        let pool = pool.clone();
        let corpus = Arc::clone(corpus);
        tasks.spawn(async move {
            let mut conn = pool.acquire().await?;
            let mut rng = StdRng::from_entropy();
            let mut stats = Stats::default();
            let mut buf = String::with_capacity(chunk * 2800);
            let statement = format!("COPY bench_copy ({COPY_COLUMNS}) FROM STDIN");
            while Instant::now() < deadline {
                buf.clear();
                let now = chrono::Utc::now().to_rfc3339();
                for _ in 0..chunk {
                    corpus
                        .pick(&mut rng)
                        .write_copy_row(&mut buf, tenant, &now, &mut rng);
                }
                let started = Instant::now();
                let mut copy = conn.copy_in_raw(&statement).await?;
                copy.send(buf.as_bytes()).await?;
                let rows = copy.finish().await?;
                stats.requests += 1;
                stats.events += rows;
                stats.record_latency(started);
            }
            anyhow::Ok(stats)
        });
    }
    let mut total = Stats::default();
    while let Some(joined) = tasks.join_next().await {
        total.merge(joined.context("a COPY task failed")??);
    }
    Ok((total, start.elapsed()))
}

// ---------------------------------------------------------------------------------------------
// The run.

async fn run(args: Args) -> anyhow::Result<bool> {
    let plan = Plan::from(&args)?;
    let base = args.base_url.trim_end_matches('/').to_owned();
    let corpus = Arc::new(Corpus::new(args.templates, args.zipf, args.event_ids));
    if let Some(n) = args.dump_batches {
        use std::io::Write as _;
        let mut rng = StdRng::seed_from_u64(11);
        let mut body = String::new();
        let mut out = std::io::stdout().lock();
        for _ in 0..n {
            body.clear();
            corpus.write_batch(&mut body, plan.batch, &mut rng);
            writeln!(out, "{body}").context("writing the batches")?;
        }
        return Ok(true);
    }
    let (event_bytes, stack_bytes) = corpus.average_sizes();

    let pool = PgPoolOptions::new()
        .max_connections(u32::try_from(plan.copy_streams + 1).unwrap_or(8))
        .acquire_timeout(Duration::from_secs(30))
        .connect(&args.database_url)
        .await
        .context("connecting to --database-url")?;
    let (version, fsync, sync_commit, shared_buffers, max_wal): (
        String,
        String,
        String,
        String,
        String,
    ) = sqlx::query_as(
        "SELECT current_setting('server_version'), current_setting('fsync'), \
             current_setting('synchronous_commit'), current_setting('shared_buffers'), \
             current_setting('max_wal_size')",
    )
    .fetch_one(&pool)
    .await
    .context("reading PostgreSQL settings")?;
    let tenant: i64 = sqlx::query_scalar(
        "SELECT coalesce((SELECT tenant_id FROM api_keys ORDER BY id DESC LIMIT 1), 1)",
    )
    .fetch_one(&pool)
    .await
    .context("reading the tenant (is the database migrated?)")?;
    // The backend's parent is the postmaster (when PostgreSQL runs on this machine).
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&pool)
        .await?;
    let postmaster = proc_stat(&backend.to_string())
        .map(|(ppid, _)| ppid)
        .filter(|ppid| {
            std::fs::read_to_string(format!("/proc/{ppid}/comm"))
                .is_ok_and(|comm| comm.trim() == "postgres")
        });
    let events_before: i64 = sqlx::query_scalar("SELECT count(*) FROM error_events")
        .fetch_one(&pool)
        .await?;

    println!(
        "ingest bench{}: {} s per phase; {} templates (Zipf s={}), events ~{} B of JSON (stack traces ~{} B), event ids made by the {}",
        if plan.smoke { " (smoke)" } else { "" },
        plan.seconds,
        args.templates,
        args.zipf,
        event_bytes,
        stack_bytes,
        if corpus.client_ids {
            "client"
        } else {
            "server"
        }
    );
    println!(
        "  server {base}; PostgreSQL {version} (fsync={fsync}, synchronous_commit={sync_commit}, shared_buffers={shared_buffers}, max_wal_size={max_wal}); {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if fsync != "on" || sync_commit != "on" {
        println!("  warning: PostgreSQL is not durable here; the figures are not comparable");
    }

    let addr = reqwest::Url::parse(&base)
        .context("the base URL")?
        .socket_addrs(|| None)
        .context("the base URL names no address")?
        .into_iter()
        .next()
        .context("the base URL names no address")?;
    let ctx = Arc::new(Ctx {
        client: reqwest::Client::builder()
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(plan.max_in_flight.max(plan.concurrency))
            .build()
            .context("building the HTTP client")?,
        single_url: format!("{base}{SINGLE_PATH}")
            .parse()
            .context("the base URL")?,
        addr,
        host: http::HeaderValue::from_str(&format!("{}:{}", addr.ip(), addr.port()))
            .context("the server's address")?,
        auth: format!("Bearer {}", args.key.trim())
            .parse()
            .context("the API key is not a valid header value")?,
        corpus: Arc::clone(&corpus),
        abort: AtomicBool::new(false),
        error_count: AtomicU64::new(0),
    });

    let pids = Pids {
        server: args.server_pid,
        postmaster,
    };
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut counted_http: u64 = 0;
    let mut failed = false;

    if plan.warmup > 0.0 {
        let (stats, _) = closed_loop(&ctx, Mode::Single, 8, plan.warmup).await;
        println!(
            "  warm-up: {} events in {} s (not measured)",
            stats.events, plan.warmup
        );
        counted_http += stats.events;
        if stats.errors > 0 {
            println!(
                "error: warm-up: {} errors; first: {}",
                stats.errors,
                stats.first_error.as_deref().unwrap_or("?")
            );
            return Ok(false);
        }
    }

    let wants = |phase: Phase| args.phases.contains(&phase) && !ctx.abort.load(Ordering::Relaxed);
    // (a) single events, closed loop.
    if wants(Phase::Single) {
        checkpoint(&pool).await;
        let cpu = CpuSample::now(pids);
        let (stats, elapsed) =
            closed_loop(&ctx, Mode::Single, plan.concurrency, plan.seconds).await;
        outcomes.push(outcome(
            format!("single (c={})", plan.concurrency),
            stats,
            elapsed,
            cpu,
            pids,
            None,
            true,
        ));
    }
    // (b) batches, closed loop.
    if wants(Phase::Batched) {
        checkpoint(&pool).await;
        let cpu = CpuSample::now(pids);
        let (stats, elapsed) = closed_loop(
            &ctx,
            Mode::Batched(plan.batch),
            plan.batch_concurrency,
            plan.seconds,
        )
        .await;
        outcomes.push(outcome(
            format!(
                "batched ({}/call, c={})",
                plan.batch, plan.batch_concurrency
            ),
            stats,
            elapsed,
            cpu,
            pids,
            None,
            true,
        ));
    }
    // (c) single events at a fixed offered rate, open loop.
    if wants(Phase::Fixed) {
        checkpoint(&pool).await;
        let cpu = CpuSample::now(pids);
        let (stats, elapsed) = fixed_rate(&ctx, plan.rate, plan.max_in_flight, plan.seconds).await;
        outcomes.push(outcome(
            format!("fixed rate ({:.0}/s offered)", plan.rate),
            stats,
            elapsed,
            cpu,
            pids,
            Some(plan.rate),
            true,
        ));
    }
    counted_http += outcomes.iter().map(|o| o.stats.events).sum::<u64>();

    // (d) the baseline: COPY straight into PostgreSQL.
    let mut baseline_evs = None;
    if wants(Phase::Baseline) {
        sqlx::query("DROP TABLE IF EXISTS bench_copy")
            .execute(&pool)
            .await?;
        // LIKE … INCLUDING ALL: same columns, defaults, identity, checks and indexes
        // (primary key, unique event id, group and agent indexes); never foreign keys. Each
        // row carries its event's whole stack trace, as a naive store would (the server keeps
        // each distinct trace once, in `stack_traces`).
        for statement in [
            "CREATE TABLE bench_copy (LIKE error_events INCLUDING ALL)",
            "ALTER TABLE bench_copy ADD COLUMN stack_trace text",
        ] {
            sqlx::query(statement)
                .execute(&pool)
                .await
                .context("creating the scratch table bench_copy")?;
        }
        checkpoint(&pool).await;
        let cpu = CpuSample::now(pids);
        let result = baseline(
            &pool,
            &corpus,
            tenant,
            plan.copy_streams,
            plan.copy_chunk,
            plan.seconds,
        )
        .await;
        let dropped = sqlx::query("DROP TABLE IF EXISTS bench_copy")
            .execute(&pool)
            .await;
        let (stats, elapsed) = result.context("the COPY baseline")?;
        dropped.context("dropping bench_copy")?;
        let o = outcome(
            format!(
                "baseline COPY ({} rows/tx, {} conn)",
                plan.copy_chunk, plan.copy_streams
            ),
            stats,
            elapsed,
            cpu,
            pids,
            None,
            false,
        );
        baseline_evs = Some(o.events_per_s());
        outcomes.push(o);
    }

    // Every counted event must be in the table: the server answers only after the commit.
    let events_after: i64 = sqlx::query_scalar("SELECT count(*) FROM error_events")
        .fetch_one(&pool)
        .await?;
    let stored = u64::try_from(events_after - events_before).unwrap_or(0);
    let memory = pids.server.and_then(memory_mb);

    // The report.
    println!();
    println!(
        "{:<34} {:>10} {:>8} {:>8} {:>8} {:>9} {:>6} {:>7}  cores srv/gen/pg/other",
        "phase", "events/s", "p50 ms", "p95 ms", "p99 ms", "×baseline", "429s", "errors"
    );
    let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    for o in &outcomes {
        let (p50, p95, p99) = if o.show_latency {
            (
                o.percentile_ms(0.50),
                o.percentile_ms(0.95),
                o.percentile_ms(0.99),
            )
        } else {
            (None, None, None)
        };
        let ratio = baseline_evs
            .filter(|b| *b > 0.0)
            .map_or("-".to_owned(), |b| format!("{:.2}×", o.events_per_s() / b));
        println!(
            "{:<34} {:>10.0} {:>8} {:>8} {:>8} {:>9} {:>6} {:>7}  {:.2}/{:.2}/{:.2}/{:.2}",
            o.name,
            o.events_per_s(),
            ms(p50),
            ms(p95),
            ms(p99),
            ratio,
            o.stats.rate_limited,
            o.stats.errors,
            o.cpu[0],
            o.cpu[1],
            o.cpu[2],
            o.cpu[3],
        );
    }
    println!(
        "  (cores: average CPU cores used by the server, this load generator, PostgreSQL, and everything else)"
    );
    if pids.postmaster.is_none() {
        println!(
            "  (PostgreSQL's processes were not found on this machine: its CPU is in `other`)"
        );
    }
    match memory {
        Some((hwm, rss)) => println!("peak server RSS (VmHWM): {hwm:.0} MB (now {rss:.0} MB)"),
        None => println!("peak server RSS: unknown (pass --server-pid)"),
    }
    println!(
        "committed rows in error_events: {stored} (counted {counted_http} acknowledged events)"
    );
    if stored < counted_http {
        failed = true;
        println!("  error: fewer rows than acknowledged events — acknowledged events were lost");
    }

    for o in &outcomes {
        if o.stats.errors > 0 {
            failed = true;
            println!(
                "error: {}: {} errors; first: {}",
                o.name,
                o.stats.errors,
                o.stats.first_error.as_deref().unwrap_or("?")
            );
        }
        if o.stats.rate_limited > 0 {
            println!(
                "note: {}: {} requests were answered 429 (not counted)",
                o.name, o.stats.rate_limited
            );
        }
        if o.cpu[3] > 0.15 {
            println!(
                "note: {}: other processes used {:.2} cores — the machine was not quiet",
                o.name, o.cpu[3]
            );
        }
        if let Some(offered) = o.offered
            && o.events_per_s() < offered * 0.95
        {
            println!(
                "note: {}: only {:.0} of {offered:.0} events/s were committed",
                o.name,
                o.events_per_s()
            );
        }
    }

    let find = |prefix: &str| outcomes.iter().find(|o| o.name.starts_with(prefix));
    let single = find("single").map(Outcome::events_per_s);
    let batched = find("batched").map(Outcome::events_per_s);
    let p99 = find("fixed").and_then(|o| o.percentile_ms(0.99));
    let ratio = match (batched, baseline_evs) {
        (Some(b), Some(base)) if base > 0.0 => Some(b / base),
        _ => None,
    };
    let rss = memory.map(|(hwm, _)| hwm);

    if plan.smoke {
        println!("targets: not evaluated in a smoke run");
    } else {
        println!("targets (2 cores, everything co-located):");
        let mark = |ok: Option<bool>| match ok {
            Some(true) => "PASS",
            Some(false) => "MISS",
            None => "n/a ",
        };
        let show =
            |v: Option<f64>, digits: usize| v.map_or("?".to_owned(), |v| format!("{v:.digits$}"));
        println!(
            "  {} batched ≥ {TARGET_BATCHED_EVS:.0} events/s: {}",
            mark(batched.map(|v| v >= TARGET_BATCHED_EVS)),
            show(batched, 0)
        );
        println!(
            "  {} batched ≥ {TARGET_BATCHED_RATIO}× baseline: {}×",
            mark(ratio.map(|v| v >= TARGET_BATCHED_RATIO)),
            show(ratio, 2)
        );
        println!(
            "  {} single ≥ {TARGET_SINGLE_EVS:.0} events/s: {}",
            mark(single.map(|v| v >= TARGET_SINGLE_EVS)),
            show(single, 0)
        );
        println!(
            "  {} p99 ≤ {TARGET_P99_MS} ms at {:.0} events/s offered: {} ms",
            mark(p99.map(|v| v <= TARGET_P99_MS)),
            plan.rate,
            show(p99, 1)
        );
        println!(
            "  {} peak server RSS ≤ {TARGET_RSS_MB} MB: {} MB",
            mark(rss.map(|v| v <= TARGET_RSS_MB)),
            show(rss, 0)
        );
    }
    let n = |v: Option<f64>| v.map_or("?".to_owned(), |v| format!("{v:.0}"));
    println!(
        "SUMMARY batched={} ev/s ({}× baseline) single={} ev/s p99@{:.0}={} ms rss={} MB baseline={} ev/s{}",
        n(batched),
        ratio.map_or("?".to_owned(), |r| format!("{r:.2}")),
        n(single),
        plan.rate,
        p99.map_or("?".to_owned(), |v| format!("{v:.1}")),
        n(rss),
        n(baseline_evs),
        if failed { " (ERRORS)" } else { "" }
    );
    Ok(!failed)
}

/// Every phase starts from the same state: no dirty buffers left by the previous one
/// (needs a superuser or pg_checkpoint; skipped otherwise).
async fn checkpoint(pool: &sqlx::PgPool) {
    let _ = sqlx::query("CHECKPOINT").execute(pool).await;
}

fn outcome(
    name: String,
    mut stats: Stats,
    elapsed: Duration,
    before: CpuSample,
    pids: Pids,
    offered: Option<f64>,
    show_latency: bool,
) -> Outcome {
    let after = CpuSample::now(pids);
    // Linux reports CPU time in USER_HZ ticks, 100 per second.
    let secs = elapsed.as_secs_f64().max(1e-9) * 100.0;
    let server = after.server.saturating_sub(before.server) as f64 / secs;
    let bench = after.bench.saturating_sub(before.bench) as f64 / secs;
    let pg = after.pg.saturating_sub(before.pg) as f64 / secs;
    let busy = after.busy.saturating_sub(before.busy) as f64 / secs;
    stats.latencies_us.sort_unstable();
    Outcome {
        name,
        stats,
        elapsed,
        cpu: [server, bench, pg, (busy - server - bench - pg).max(0.0)],
        offered,
        show_latency,
    }
}
