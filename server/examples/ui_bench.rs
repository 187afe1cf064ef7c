//! Dashboard page benchmark behind `cargo xtask bench ui` (see docs/BENCHMARKS.md).
//!
//! Against a running Faultline (`--base-url`) and its freshly migrated database
//! (`--database-url`) holding one tenant (`--tenant`) with one member (`--email`,
//! `--password`):
//!
//! 1. **Load**: writes `--events` events in `--groups` groups straight into PostgreSQL with
//!    `COPY`, shaped as the ingest writer (`app/src/errors/writer.rs`) leaves them: each group
//!    is a real event run through `LogErrorInput::normalize` (fingerprint, category, title),
//!    with Zipf-distributed occurrence counts that sum to the event count, first/last seen
//!    spread over 30 days, statuses, assignees and ignores; every event (~1 KB stack trace,
//!    `details`, tags, agent) in time order; hourly counts summed from the events; agents and
//!    each group's history. Then `VACUUM (ANALYZE)`, so no autovacuum runs while measuring.
//! 2. **Measure**: signs in through the login server function (session cookie), then per page
//!    a warm-up and `--requests` sequential plain `GET`s of the server-rendered HTML, as a
//!    browser's first load; every answer must be 200, signed in, and show what it should.
//! 3. **WASM**: with `--wasm`, the file's size raw and `gzip -9`.
//!
//! Prints a table, the targets met or missed and one `SUMMARY` line. Exits 1 only when
//! something failed (loading, signing in, a wrong answer); a missed target is a result.

mod common;

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use app::errors::model::LogErrorInput;
use chrono::{DateTime, Utc};
use clap::Parser;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use sqlx::postgres::PgConnection;

/// The issue's targets: p95 of the server-rendered feed and group pages, and the WASM budget.
const TARGET_P95_MS: f64 = 50.0;
const TARGET_WASM_GZ_BYTES: u64 = 400_000;
/// A word in many titles and types, for the search page.
const SEARCH_WORD: &str = "connection";
/// Distinct random groups the "random group" page cycles through.
const RANDOM_GROUPS: usize = 50;
/// Events per COPY (one transaction each).
const COPY_ROWS: usize = 5_000;
const HOUR_US: i64 = 3_600_000_000;
const DAY_US: i64 = 24 * HOUR_US;
/// Shown when the session is not valid (`app/src/ui/layout.rs`).
const SIGNED_OUT: &str = "Your session has ended";

#[derive(Parser, Debug)]
#[command(about = "Faultline dashboard page benchmark (normally run by `cargo xtask bench ui`)")]
struct Args {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    base_url: String,
    /// The server's database (migrated, the tenant and member created, no errors yet).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// The tenant's slug.
    #[arg(long, default_value = "bench")]
    tenant: String,
    /// A member of exactly that tenant.
    #[arg(long, env = "FAULTLINE_BENCH_EMAIL")]
    email: String,
    #[arg(long, env = "FAULTLINE_BENCH_PASSWORD", hide_env_values = true)]
    password: String,
    /// Events to load [default: 1000000, smoke: 20000].
    #[arg(long)]
    events: Option<u64>,
    /// Groups they fall into [default: 10000, smoke: 200].
    #[arg(long)]
    groups: Option<usize>,
    /// Measured requests per page [default: 200, smoke: 20].
    #[arg(long)]
    requests: Option<usize>,
    /// Unmeasured requests per page first [default: 20, smoke: 3].
    #[arg(long)]
    warmup: Option<usize>,
    /// Zipf exponent of the groups' occurrence counts.
    #[arg(long, default_value_t = 1.0)]
    zipf: f64,
    /// Days the first and last sightings are spread over.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Seed of the data generator (the same seed gives the same data, but for the clock).
    #[arg(long, default_value_t = 0x5eed_fa17)]
    seed: u64,
    /// The release WASM, to report its size raw and gzipped.
    #[arg(long)]
    wasm: Option<std::path::PathBuf>,
    /// The server's process id, to read its peak RSS from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Tiny data and few requests, only to prove that everything works; no targets.
    #[arg(long)]
    smoke: bool,
}

/// The run's settings, with smoke defaults applied.
struct Plan {
    events: u64,
    groups: usize,
    requests: usize,
    warmup: usize,
    smoke: bool,
}

impl Plan {
    fn from(args: &Args) -> anyhow::Result<Plan> {
        let smoke = args.smoke;
        let plan = Plan {
            events: args
                .events
                .unwrap_or(if smoke { 20_000 } else { 1_000_000 }),
            groups: args.groups.unwrap_or(if smoke { 200 } else { 10_000 }),
            requests: args.requests.unwrap_or(if smoke { 20 } else { 200 }),
            warmup: args.warmup.unwrap_or(if smoke { 3 } else { 20 }),
            smoke,
        };
        if plan.groups == 0 || plan.groups > 1_000_000 {
            bail!("--groups must be 1..=1000000");
        }
        if plan.events < plan.groups as u64 || plan.events > 100_000_000 {
            bail!(
                "--events must be at least --groups (every group has an event) and at most 100000000"
            );
        }
        if plan.requests == 0 {
            bail!("--requests must be at least 1");
        }
        if !(args.zipf.is_finite() && args.zipf > 0.0) || args.days == 0 {
            bail!("--zipf and --days must be positive");
        }
        Ok(plan)
    }
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    common::main_with("ui_bench", run(args))
}

// ---------------------------------------------------------------------------------------------
// What errors look like.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lang {
    Python,
    Js,
    Java,
    Rust,
}

impl Lang {
    fn runtime(self) -> &'static str {
        match self {
            Lang::Python => "cpython-3.12.7",
            Lang::Js => "node-22.11.0",
            Lang::Java => "openjdk-21.0.5",
            Lang::Rust => "rustc-1.95.0",
        }
    }
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

/// Error types per language, one a line: `language type: pattern | pattern`. In patterns
/// `{n}` is a number, `{port}`, `{ip}`, `{uuid}`, `{hex}`, and `{q}` a quoted name: the
/// volatile parts grouping normalizes away. The classifier puts them in every category.
const ERRORS: &str = r#"
py ConnectionError: connection to {ip} port {port} refused after {n}ms | HTTPSConnectionPool(host={q}, port={port}): max retries exceeded with url: /v1/charges/{uuid}
py TimeoutError: operation timed out after {n} seconds waiting for {q}
py KeyError: {q} not found in payload of request {uuid} | KeyError 'DATABASE_URL' missing from settings of worker {n}
py ValueError: invalid literal for int() with base 10: {q}
py AttributeError: 'NoneType' object has no attribute {q} (record {n})
py psycopg2.OperationalError: could not connect to server: Connection refused. Is the server running on host {q} ({ip}) and accepting TCP/IP connections on port {port}?
py MemoryError: unable to allocate {n} MiB for an array with shape ({n}, {n}) and data type float64
py PermissionError: [Errno 13] Permission denied: {q} while writing batch {n}
py openai.RateLimitError: Error code: 429 - rate limit reached for requests in organization {q}: limit {n}, used {n}
py ModuleNotFoundError: No module named {q} (plugin {n})
js TypeError: Cannot read properties of undefined (reading {q}) at order {uuid}
js RangeError: Maximum call stack size exceeded while rendering {q} (depth {n})
js ECONNRESET: socket hang up: read ECONNRESET {ip}:{port} after {n} bytes
js ETIMEDOUT: connect ETIMEDOUT {ip}:{port} (attempt {n} of {n})
js SyntaxError: Unexpected token < in JSON at position {n} from upstream {q}
js JsonWebTokenError: invalid signature for token of user {n} (401 Unauthorized)
js PrismaClientKnownRequestError: Unique constraint failed on the fields: ({q}) for tenant {n}
js AxiosError: Request failed with status code 503 for GET /api/users/{n}/sessions
js ReferenceError: {q} is not defined in chunk {hex}
js RedisConnectionError: Connection is closed. Command {q} was rejected after {n} retries ({ip}:{port})
java java.lang.NullPointerException: Cannot invoke "String.length()" because {q} is null (order {n})
java java.net.SocketTimeoutException: Read timed out after {n} ms talking to {ip}:{port}
java java.lang.IllegalStateException: Transaction {uuid} already committed; cannot roll back
java org.postgresql.util.PSQLException: ERROR: deadlock detected. Detail: Process {n} waits for ShareLock on transaction {n} | FATAL: remaining connection slots are reserved for non-replication superuser connections ({ip})
java java.lang.OutOfMemoryError: Java heap space (allocating {n} bytes for {q})
java org.springframework.security.access.AccessDeniedException: Access is denied for user {q} on resource {n} (403 Forbidden)
java javax.net.ssl.SSLHandshakeException: PKIX path building failed for {q}:{port}: unable to find valid certification path
java org.springframework.beans.factory.BeanCreationException: Could not resolve placeholder {q} in value of bean {n}
java java.lang.IllegalArgumentException: Invalid currency code {q} for merchant {n}
java io.grpc.StatusRuntimeException: UNAVAILABLE: io exception talking to {ip}:{port} after {n} ms
rust panic: called `Option::unwrap()` on a `None` value (segment {n}) | index out of bounds: the len is {n} but the index is {n}
rust sqlx::Error: pool timed out while waiting for an open connection ({n} ms, {n} in use)
rust reqwest::Error: error sending request for url (http://{ip}:{port}/v1/jobs/{uuid}): connection closed before message completed
rust std::io::Error: No space left on device (os error 28) writing {q} at offset {hex}
rust serde_json::Error: invalid type: null, expected a string at line {n} column {n}
rust tokio::time::error::Elapsed: deadline has elapsed after {n}ms waiting for shard {n}
rust config::ConfigError: missing configuration field {q} in /etc/app/config.toml (line {n})
rust tonic::Status: status: Unavailable, message: "tcp connect error", peer {ip}:{port}
rust ffmpeg::Error: Invalid data found when processing input {q} (stream {n})
rust redis::RedisError: Connection refused (os error 111) to {ip}:{port}, retry {n}
"#;

/// In-app function names: verb × noun × area gives every group its own innermost frame.
const VERBS: &str = "load save fetch sync resolve render charge refund validate parse encode \
decode publish consume schedule dispatch reconcile export import index score rank notify \
archive restore compact migrate transcode upload download verify sign settle reserve release \
allocate merge split enrich dedupe throttle retry flush warm evict hydrate aggregate forecast";

const NOUNS: &str = "invoice order cart payment refund customer account session token profile \
address shipment parcel label route carrier warehouse sku stock price discount coupon tax \
currency ledger entry balance transfer payout merchant subscription plan trial usage quota \
report dashboard chart metric event webhook message email template campaign segment feature \
model embedding prompt completion agent tool job task queue worker shard partition replica \
snapshot backup document query cursor page thumbnail video frame manifest asset bucket object \
file folder permission role team member invite policy rule alert incident deploy config secret";

const AREAS: [&str; 8] = [
    "api", "jobs", "domain", "adapters", "core", "handlers", "services", "workers",
];

const NAMES: [&str; 12] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "trent",
];

const REGIONS: [&str; 6] = [
    "eu-west-1",
    "eu-central-1",
    "us-east-1",
    "us-west-2",
    "ap-southeast-1",
    "sa-east-1",
];

/// (severity, weight) of a group's events.
const SEVERITIES: [(&str, u32); 4] = [
    ("error", 60),
    ("warning", 20),
    ("critical", 10),
    ("info", 10),
];

const RESOLUTION_NOTES: [&str; 6] = [
    "Raised the connection pool to 40 and added a retry with backoff.",
    "Fixed in the last deploy: the null check was missing on the legacy path.",
    "Upstream incident, resolved by the provider.",
    "Rotated the expired certificate.",
    "Config fixed in the deployment manifest.",
    "Duplicate of a known issue; patched in the client library.",
];

const COMMENTS: [&str; 5] = [
    "Looking into it — seems to start after the last deploy.",
    "Same root cause as the checkout timeouts last week?",
    "Only in eu-west-1 so far.",
    "Added a dashboard panel for this; rate is stable.",
    "Can reproduce locally with the staging snapshot.",
];

fn words(list: &'static str) -> Vec<&'static str> {
    list.split_whitespace().collect()
}

/// A volatile piece of a message.
#[derive(Clone, Copy, Debug)]
enum Volatile {
    Num,
    Port,
    Ip,
    Uuid,
    Hex,
    Quoted,
}

#[derive(Clone, Debug)]
enum Part {
    Text(&'static str),
    Var(Volatile),
}

fn parse_pattern(pattern: &'static str) -> Vec<Part> {
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
                parts.push(Part::Text(&rest[..=close]));
                rest = &rest[close + 1..];
                continue;
            }
        };
        if open > 0 {
            parts.push(Part::Text(&rest[..open]));
        }
        parts.push(Part::Var(var));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest));
    }
    parts
}

fn render_volatile(out: &mut String, v: Volatile, rng: &mut StdRng) {
    let _ = match v {
        Volatile::Num => write!(out, "{}", rng.gen_range(1..100_000u32)),
        Volatile::Port => write!(out, "{}", rng.gen_range(1024..65_535u32)),
        Volatile::Ip => write!(
            out,
            "10.{}.{}.{}",
            rng.gen_range(0..256u32),
            rng.gen_range(0..256u32),
            rng.gen_range(1..255u32)
        ),
        Volatile::Uuid => write!(out, "{}", new_uuid(rng)),
        Volatile::Hex => write!(out, "0x{:012x}", rng.r#gen::<u64>() & 0xffff_ffff_ffff),
        Volatile::Quoted => write!(
            out,
            "'{}_{}'",
            NAMES[rng.gen_range(0..NAMES.len())],
            rng.gen_range(1..10_000u32)
        ),
    };
}

fn render(parts: &[Part], out: &mut String, rng: &mut StdRng) {
    for part in parts {
        match part {
            Part::Text(t) => out.push_str(t),
            Part::Var(v) => render_volatile(out, *v, rng),
        }
    }
}

fn new_uuid(rng: &mut StdRng) -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rng.r#gen()).into_uuid()
}

fn capitalize(word: &str) -> String {
    word.split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or(String::new(), |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect()
}

/// A stack trace of about 1 KB in the language's own format, whose innermost in-app frame
/// (`area`/`noun`/`verb`) is unique to the group.
fn stack_trace(
    lang: Lang,
    service: &str,
    error_type: &str,
    (verb, noun, area): (&str, &str, &str),
    rng: &mut StdRng,
) -> String {
    let module = service.replace('-', "_");
    let mut line = || rng.gen_range(12..900u32);
    let mut s = String::with_capacity(1200);
    match lang {
        Lang::Python => {
            s.push_str("Traceback (most recent call last):\n");
            for (path, func, code) in [
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
            ] {
                let _ = writeln!(
                    s,
                    "  File \"{path}\", line {}, in {func}\n    {code}",
                    line()
                );
            }
            let _ = writeln!(
                s,
                "  File \"/app/{module}/{area}/{noun}.py\", line {}, in {verb}_{noun}\n    result = await self._{verb}({noun}_id, timeout=self.settings.timeout)",
                line()
            );
            let _ = writeln!(
                s,
                "  File \"/app/{module}/clients/{noun}_client.py\", line {}, in {verb}\n    response = await self.http.post(url, json=payload)",
                line()
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
            ] {
                let _ = writeln!(
                    s,
                    "  File \"{path}\", line {}, in {func}\n    {code}",
                    line()
                );
            }
            let _ = write!(s, "{error_type}: see message");
        }
        Lang::Js => {
            let _ = writeln!(s, "{error_type}: see message");
            let _ = writeln!(
                s,
                "    at {verb}{} (/srv/{module}/src/{area}/{noun}.service.ts:{}:{})",
                capitalize(noun),
                line(),
                line() % 80
            );
            let _ = writeln!(
                s,
                "    at async {}Controller.handle (/srv/{module}/src/{area}/{noun}.controller.ts:{}:{})",
                capitalize(noun),
                line(),
                line() % 80
            );
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
                ("listOnTimeout", "node:internal/timers"),
                ("process.processTimers", "node:internal/timers"),
            ] {
                let _ = writeln!(s, "    at {func} ({path}:{}:{})", line(), line() % 80);
            }
        }
        Lang::Java => {
            let _ = writeln!(s, "{error_type}: see message");
            let class = capitalize(noun);
            let _ = writeln!(
                s,
                "\tat com.example.{module}.{area}.{class}Service.{verb}{class}({class}Service.java:{})",
                line()
            );
            let _ = writeln!(
                s,
                "\tat com.example.{module}.{area}.{class}Controller.handle({class}Controller.java:{})",
                line()
            );
            for frame in [
                "jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)",
                "java.lang.reflect.Method.invoke(Method.java:580)",
                "org.springframework.web.method.support.InvocableHandlerMethod.doInvoke(InvocableHandlerMethod.java:255)",
                "org.springframework.web.servlet.mvc.method.annotation.ServletInvocableHandlerMethod.invokeAndHandle(ServletInvocableHandlerMethod.java:118)",
                "org.springframework.web.servlet.DispatcherServlet.doDispatch(DispatcherServlet.java:1089)",
                "org.springframework.web.servlet.FrameworkServlet.processRequest(FrameworkServlet.java:1014)",
                "jakarta.servlet.http.HttpServlet.service(HttpServlet.java:658)",
                "org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:138)",
                "java.base/java.lang.Thread.run(Thread.java:1583)",
            ] {
                let _ = writeln!(s, "\tat {frame}");
            }
        }
        Lang::Rust => {
            let _ = writeln!(
                s,
                "thread 'tokio-runtime-worker' panicked at src/{area}/{noun}.rs:{}:{}:\n{error_type}: see message\nstack backtrace:",
                line(),
                line() % 80
            );
            let frames = [
                (
                    "core::panicking::panic_fmt".to_owned(),
                    "/rustc/library/core/src/panicking.rs:75:14".to_owned(),
                ),
                (
                    format!("{module}::{area}::{noun}::{verb}_{noun}"),
                    format!("./src/{area}/{noun}.rs:{}:9", line()),
                ),
                (
                    format!("{module}::{area}::handle::{{{{closure}}}}"),
                    format!("./src/{area}/mod.rs:{}:30", line()),
                ),
                (
                    "<core::pin::Pin<P> as core::future::future::Future>::poll".to_owned(),
                    "/rustc/library/core/src/future/future.rs:124:9".to_owned(),
                ),
                (
                    "tokio::runtime::task::core::Core<T,S>::poll::{{closure}}".to_owned(),
                    "/cargo/registry/src/tokio-1.47.1/src/runtime/task/core.rs:375:24".to_owned(),
                ),
                (
                    "tokio::runtime::scheduler::multi_thread::worker::Context::run_task".to_owned(),
                    "/cargo/registry/src/tokio-1.47.1/src/runtime/scheduler/multi_thread/worker.rs:594:13".to_owned(),
                ),
                (
                    "tokio::runtime::task::harness::Harness<T,S>::poll".to_owned(),
                    "/cargo/registry/src/tokio-1.47.1/src/runtime/task/harness.rs:154:15"
                        .to_owned(),
                ),
                (
                    "std::thread::Builder::spawn_unchecked_::{{closure}}".to_owned(),
                    "/rustc/library/std/src/thread/mod.rs:559:17".to_owned(),
                ),
            ];
            for (n, (sym, loc)) in frames.iter().enumerate() {
                let _ = writeln!(s, "  {n:>2}: {sym}\n             at {loc}");
            }
        }
    }
    s
}

/// Escapes a value for COPY's text format.
fn copy_escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
}

fn copy_opt(out: &mut String, v: Option<&str>) {
    match v {
        Some(v) => copy_escape(out, v),
        None => out.push_str("\\N"),
    }
}

fn copy_time(out: &mut String, us: i64) {
    let t = DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default();
    let _ = write!(out, "{}", t.format("%Y-%m-%d %H:%M:%S%.6f+00"));
}

fn copy_opt_time(out: &mut String, us: Option<i64>) {
    match us {
        Some(us) => copy_time(out, us),
        None => out.push_str("\\N"),
    }
}

// ---------------------------------------------------------------------------------------------
// The data plan.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Unresolved,
    Resolved,
    Regressed,
    Ignored,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Unresolved => "unresolved",
            Status::Resolved => "resolved",
            Status::Regressed => "regressed",
            Status::Ignored => "ignored",
        }
    }
}

#[derive(Clone, Copy)]
enum Assignee {
    User,
    Agent(usize),
}

#[derive(Clone, Copy)]
enum Ignore {
    Forever,
    Until(i64),
    Events(i64),
}

/// One group as the writer would have left it, plus what its events look like.
struct Group {
    fingerprint: String,
    service: &'static str,
    lang: Lang,
    error_type: String,
    category: &'static str,
    severity: &'static str,
    rank: i16,
    title: String,
    message: Vec<Part>,
    /// The scrubbed stack trace as stored once in `stack_traces`, escaped for COPY.
    stack_copy: String,
    /// Its key, as events refer to it (`\\x…` for COPY).
    stack_hash_copy: String,
    release: String,
    route: String,
    /// Index into the agents, when an agent reports it.
    agent: Option<usize>,
    count: u64,
    first_seen: i64,
    last_seen: i64,
    status: Status,
    resolved_at: Option<i64>,
    resolution_notes: Option<&'static str>,
    regressed_at: Option<i64>,
    ignore: Option<(i64, Ignore)>,
    assignee: Option<(i64, Assignee)>,
    comments: Vec<(i64, &'static str)>,
    auto_fix: Option<(i64, bool)>,
    /// The database id, once inserted.
    id: i64,
}

impl Group {
    /// When events may happen: a regressed group was quiet between its resolution and its
    /// regression.
    fn windows(&self) -> Vec<(i64, i64)> {
        match (self.status, self.resolved_at, self.regressed_at) {
            (Status::Regressed, Some(resolved), Some(regressed)) => {
                vec![(self.first_seen, resolved), (regressed, self.last_seen)]
            }
            _ => vec![(self.first_seen, self.last_seen)],
        }
    }
}

const AGENTS: usize = 12;

/// Occurrence counts by rank (most first): Zipf with exponent `s`, at least 1 each, summing
/// to exactly `events`.
fn zipf_counts(groups: usize, events: u64, s: f64) -> Vec<u64> {
    let weights: Vec<f64> = (1..=groups).map(|k| (k as f64).powf(-s)).collect();
    let total: f64 = weights.iter().sum();
    let spare = (events - groups as u64) as f64;
    let mut counts: Vec<u64> = weights
        .iter()
        .map(|w| 1 + (spare * w / total).floor() as u64)
        .collect();
    let sum: u64 = counts.iter().sum();
    // Flooring left a remainder smaller than the number of groups: one more each, top first.
    for c in counts.iter_mut().take((events - sum) as usize) {
        *c += 1;
    }
    counts
}

fn pick_weighted<T: Copy>(items: &[(T, u32)], rng: &mut StdRng) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut pick = rng.gen_range(0..total);
    for (item, w) in items {
        if pick < *w {
            return *item;
        }
        pick -= w;
    }
    items[0].0
}

/// Plans every group: its first event goes through the app's normalization, so fingerprint,
/// category and title are what ingestion would compute.
fn plan_groups(plan: &Plan, args: &Args, now: i64, rng: &mut StdRng) -> Vec<Group> {
    let table: Vec<(Lang, &'static str, Vec<&'static str>)> = ERRORS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|line| {
            let (lang, rest) = line.split_once(' ')?;
            let (error_type, patterns) = rest.split_once(": ")?;
            let lang = match lang {
                "py" => Lang::Python,
                "js" => Lang::Js,
                "java" => Lang::Java,
                _ => Lang::Rust,
            };
            Some((lang, error_type, patterns.split(" | ").collect()))
        })
        .collect();
    let (verbs, nouns) = (words(VERBS), words(NOUNS));
    let span = i64::from(args.days) * DAY_US;
    let mut counts = zipf_counts(plan.groups, plan.events, args.zipf);
    // The busiest 1 % are long-lived and still active.
    let busy = counts[(plan.groups / 100).min(plan.groups - 1)];
    counts.shuffle(rng);

    let mut fingerprints = HashSet::new();
    let mut groups = Vec::with_capacity(plan.groups);
    let mut salt = 0usize;
    for (i, count) in counts.into_iter().enumerate() {
        loop {
            let (service, lang) = SERVICES[rng.gen_range(0..SERVICES.len())];
            let choices: Vec<_> = table.iter().filter(|(l, _, _)| *l == lang).collect();
            let (_, error_type, patterns) = choices[rng.gen_range(0..choices.len())];
            let pattern = parse_pattern(patterns[rng.gen_range(0..patterns.len())]);
            let severity = pick_weighted(&SEVERITIES, rng);
            let k = i + salt;
            let frame = (
                verbs[k % verbs.len()],
                nouns[(k / verbs.len()) % nouns.len()],
                AREAS[(k / (verbs.len() * nouns.len())) % AREAS.len()],
            );
            let stack = stack_trace(lang, service, error_type, frame, rng);
            let mut message = String::new();
            render(&pattern, &mut message, rng);
            let input = LogErrorInput {
                service: service.to_owned(),
                severity: severity.to_owned(),
                error_type: (*error_type).to_owned(),
                message,
                stack_trace: Some(stack.clone()),
                ..Default::default()
            };
            let Ok(n) = input.normalize(Utc::now()) else {
                salt += 1;
                continue;
            };
            if !fingerprints.insert(n.fingerprint.clone()) {
                // Two groups drew the same call site and message: draw again.
                salt += plan.groups;
                continue;
            }
            let stored = n.stack_trace.as_deref().unwrap_or_default();
            let mut stack_copy = String::with_capacity(stored.len() + 64);
            copy_escape(&mut stack_copy, stored);
            let mut stack_hash_copy = String::from("\\\\x");
            for b in n.stack_hash.unwrap_or_default() {
                let _ = write!(stack_hash_copy, "{b:02x}");
            }
            let category = n.category().as_str();
            let mut g = Group {
                fingerprint: n.fingerprint,
                service,
                lang,
                error_type: n.error_type,
                category,
                severity: n.severity.as_str(),
                rank: n.severity as i16,
                title: n.title,
                message: pattern,
                stack_copy,
                stack_hash_copy,
                release: format!(
                    "{service}@{}.{}.{}",
                    rng.gen_range(1..4),
                    rng.gen_range(0..30),
                    rng.gen_range(0..20)
                ),
                route: format!("/api/v1/{}s/{{id}}", frame.1),
                agent: rng.gen_bool(0.6).then(|| rng.gen_range(0..AGENTS)),
                count,
                first_seen: 0,
                last_seen: 0,
                status: Status::Unresolved,
                resolved_at: None,
                resolution_notes: None,
                regressed_at: None,
                ignore: None,
                assignee: None,
                comments: Vec::new(),
                auto_fix: None,
                id: 0,
            };
            schedule(&mut g, count >= busy, now, span, rng);
            groups.push(g);
            break;
        }
    }
    groups
}

/// Times, status and workflow of one group.
fn schedule(g: &mut Group, busy: bool, now: i64, span: i64, rng: &mut StdRng) {
    let age = if busy {
        span * rng.gen_range(70..=100) / 100
    } else {
        rng.gen_range(HOUR_US..=span)
    };
    g.first_seen = now - age;
    let roll: f64 = rng.r#gen();
    g.status = if busy {
        if roll < 0.85 {
            Status::Unresolved
        } else {
            Status::Regressed
        }
    } else if roll < 0.62 {
        Status::Unresolved
    } else if roll < 0.80 {
        Status::Resolved
    } else if roll < 0.90 {
        Status::Regressed
    } else {
        Status::Ignored
    };
    if g.count < 3 && g.status == Status::Regressed {
        g.status = Status::Unresolved;
    }
    let lifetime = now - g.first_seen;
    g.last_seen = if g.count == 1 {
        g.first_seen
    } else if g.status == Status::Resolved {
        g.first_seen + (lifetime as f64 * rng.gen_range(0.05..0.9)) as i64
    } else if busy || rng.gen_bool(0.5) {
        // Still happening: seen within the last three hours.
        (now - rng.gen_range(0..3 * HOUR_US)).max(g.first_seen + 1)
    } else {
        g.first_seen + (lifetime as f64 * rng.gen_range(0.1..1.0)) as i64
    };
    let between = |rng: &mut StdRng, a: i64, b: i64| if b > a { rng.gen_range(a..=b) } else { a };
    match g.status {
        Status::Resolved => {
            g.resolved_at = Some(between(rng, g.last_seen + 60_000_000, now).min(now));
        }
        Status::Regressed => {
            let length = g.last_seen - g.first_seen;
            let resolved = g.first_seen + (length as f64 * rng.gen_range(0.2..0.7)) as i64;
            g.resolved_at = Some(resolved);
            g.regressed_at = Some(between(
                rng,
                resolved + 1,
                resolved + (g.last_seen - resolved) / 3,
            ));
        }
        Status::Ignored => {
            g.ignore = Some(match rng.gen_range(0..10) {
                0..=6 => (between(rng, g.first_seen, now), Ignore::Forever),
                // Ignored for 7 days, not over yet (or the sweeper would reopen it).
                7 | 8 => {
                    let at = between(rng, g.first_seen.max(now - 6 * DAY_US), now);
                    (at, Ignore::Until(at + 7 * DAY_US))
                }
                _ => (
                    between(rng, g.first_seen, now),
                    Ignore::Events(g.count as i64 + rng.gen_range(100..5_000)),
                ),
            });
        }
        Status::Unresolved => {}
    }
    if g.resolved_at.is_some() && rng.gen_bool(0.8) {
        g.resolution_notes = Some(RESOLUTION_NOTES[rng.gen_range(0..RESOLUTION_NOTES.len())]);
    }
    if rng.gen_bool(0.12) {
        let who = if rng.gen_bool(0.5) {
            Assignee::User
        } else {
            Assignee::Agent(rng.gen_range(0..AGENTS))
        };
        g.assignee = Some((between(rng, g.first_seen, g.last_seen), who));
    }
    if rng.gen_bool(0.08) {
        for _ in 0..rng.gen_range(1..=3) {
            let at = between(rng, g.first_seen, now);
            g.comments
                .push((at, COMMENTS[rng.gen_range(0..COMMENTS.len())]));
        }
    }
    if rng.gen_bool(0.03) {
        g.auto_fix = Some((between(rng, g.first_seen, g.last_seen), rng.gen_bool(0.66)));
    }
}

/// Every event's time and group (index into the plan), oldest first.
fn event_times(groups: &[Group], rng: &mut StdRng) -> Vec<(i64, u32)> {
    let total: u64 = groups.iter().map(|g| g.count).sum();
    let mut events = Vec::with_capacity(total as usize);
    for (i, g) in groups.iter().enumerate() {
        let i = i as u32;
        events.push((g.first_seen, i));
        if g.count == 1 {
            continue;
        }
        events.push((g.last_seen, i));
        let mut left = g.count - 2;
        if let Some(regressed) = g.regressed_at {
            events.push((regressed, i));
            left -= 1;
        }
        let windows = g.windows();
        let length: i64 = windows.iter().map(|(a, b)| (b - a).max(1)).sum();
        for _ in 0..left {
            let mut at = rng.gen_range(0..length);
            let mut t = g.first_seen;
            for &(a, b) in &windows {
                let w = (b - a).max(1);
                if at < w {
                    t = a + at;
                    break;
                }
                at -= w;
            }
            events.push((t, i));
        }
    }
    events.sort_unstable();
    events
}

// ---------------------------------------------------------------------------------------------
// Loading.

/// Database ids the load needs.
struct Ids {
    tenant: i64,
    user: i64,
    agents: Vec<i64>,
    agent_names: Vec<String>,
}

async fn insert_agents(
    conn: &mut PgConnection,
    tenant: i64,
    now: i64,
    span: i64,
    rng: &mut StdRng,
) -> anyhow::Result<(Vec<i64>, Vec<String>)> {
    let mut ids = Vec::with_capacity(AGENTS);
    let mut names = Vec::with_capacity(AGENTS);
    for i in 0..AGENTS {
        let (service, lang) = SERVICES[i % SERVICES.len()];
        let name = format!("{service}-agent-{:02}", i + 1);
        // Three in four are online (a heartbeat seconds ago), the others went quiet.
        let heartbeat = if i % 4 == 3 {
            now - rng.gen_range(2 * HOUR_US..2 * DAY_US)
        } else {
            now - rng.gen_range(1_000_000..30_000_000)
        };
        let metadata =
            serde_json::json!({ "runtime": lang.runtime(), "region": REGIONS[i % REGIONS.len()] });
        let metrics = serde_json::json!({ "cpu": rng.gen_range(3..90), "memory_mb": rng.gen_range(100..4000), "queue": rng.gen_range(0..50) });
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO agents (tenant_id, name, kind, version, host, capabilities, metadata, status, metrics, registered_at, last_heartbeat_at)
             VALUES ($1, $2, 'agent', $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(tenant)
        .bind(&name)
        .bind(format!("1.{}.{}", rng.gen_range(0..9), rng.gen_range(0..20)))
        .bind(format!("ip-10-0-{}-{}", rng.gen_range(0..256), rng.gen_range(1..255)))
        .bind(vec!["restart", "scale", "rollback"])
        .bind(metadata)
        .bind(if i % 4 == 3 { "offline" } else { "online" })
        .bind(metrics)
        .bind(time(now - span))
        .bind(time(heartbeat))
        .fetch_one(&mut *conn)
        .await
        .context("inserting agents")?;
        ids.push(id);
        names.push(name);
    }
    Ok((ids, names))
}

fn time(us: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default()
}

/// Groups in first-seen order (so ids grow with it, as when the writer creates them), through
/// a staging table so that `search` is computed by the writer's own expression.
/// Each group's stack trace, stored once as the writer stores it (two groups may share one).
async fn insert_stack_traces(
    conn: &mut sqlx::PgConnection,
    groups: &[Group],
    tenant: i64,
) -> anyhow::Result<()> {
    let mut seen = HashSet::new();
    let mut buf = String::new();
    for g in groups {
        if seen.insert(g.stack_hash_copy.as_str()) {
            let _ = writeln!(buf, "{tenant}\t{}\t{}", g.stack_hash_copy, g.stack_copy);
        }
    }
    let mut copy = conn
        .copy_in_raw("COPY stack_traces (tenant_id, hash, trace) FROM STDIN")
        .await?;
    copy.send(buf.as_bytes()).await?;
    copy.finish().await.context("COPY into stack_traces")?;
    Ok(())
}

async fn insert_groups(
    conn: &mut PgConnection,
    groups: &mut [Group],
    ids: &Ids,
    email: &str,
) -> anyhow::Result<()> {
    sqlx::query(
        "CREATE TEMP TABLE stage_groups (
             ord int8, fingerprint text, service text, error_type text, category text, severity text,
             severity_rank int2, title text, first_seen timestamptz, last_seen timestamptz,
             occurrences int8, status text, resolved_at timestamptz, resolved_by text,
             resolution_notes text, regressed_at timestamptz, last_agent_id int8,
             auto_fix_attempted bool, auto_fix_successful bool, ignored_until timestamptz,
             ignored_until_count int8, assignee_user_id int8, assignee_agent_id int8)",
    )
    .execute(&mut *conn)
    .await?;
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&i| (groups[i].first_seen, i));
    let mut buf = String::with_capacity(groups.len() * 400);
    for (ord, &i) in order.iter().enumerate() {
        let g = &groups[i];
        let _ = write!(buf, "{ord}\t{}\t{}\t", g.fingerprint, g.service);
        copy_escape(&mut buf, &g.error_type);
        let _ = write!(buf, "\t{}\t{}\t{}\t", g.category, g.severity, g.rank);
        copy_escape(&mut buf, &g.title);
        buf.push('\t');
        copy_time(&mut buf, g.first_seen);
        buf.push('\t');
        copy_time(&mut buf, g.last_seen);
        let _ = write!(buf, "\t{}\t{}\t", g.count, g.status.as_str());
        copy_opt_time(&mut buf, g.resolved_at);
        buf.push('\t');
        let resolver = format!("user:{email}");
        copy_opt(&mut buf, g.resolved_at.map(|_| resolver.as_str()));
        buf.push('\t');
        copy_opt(&mut buf, g.resolution_notes);
        buf.push('\t');
        copy_opt_time(&mut buf, g.regressed_at);
        buf.push('\t');
        match g.agent {
            Some(a) => {
                let _ = write!(buf, "{}", ids.agents[a]);
            }
            None => buf.push_str("\\N"),
        }
        let (attempted, successful) = g.auto_fix.map_or((false, false), |(_, ok)| (true, ok));
        let _ = write!(buf, "\t{attempted}\t{successful}\t");
        match g.ignore.map(|(_, how)| how) {
            Some(Ignore::Until(t)) => {
                copy_time(&mut buf, t);
                buf.push_str("\t\\N");
            }
            Some(Ignore::Events(n)) => {
                let _ = write!(buf, "\\N\t{n}");
            }
            _ => buf.push_str("\\N\t\\N"),
        }
        match g.assignee.map(|(_, who)| who) {
            Some(Assignee::User) => {
                let _ = write!(buf, "\t{}\t\\N", ids.user);
            }
            Some(Assignee::Agent(a)) => {
                let _ = write!(buf, "\t\\N\t{}", ids.agents[a]);
            }
            None => buf.push_str("\t\\N\t\\N"),
        }
        buf.push('\n');
    }
    let mut copy = conn.copy_in_raw("COPY stage_groups FROM STDIN").await?;
    copy.send(buf.as_bytes()).await?;
    copy.finish().await?;
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "INSERT INTO error_groups (tenant_id, fingerprint, service, error_type, category, severity,
             severity_rank, title, first_seen, last_seen, occurrences, status, resolved_at, resolved_by,
             resolution_notes, regressed_at, last_agent_id, auto_fix_attempted, auto_fix_successful,
             ignored_until, ignored_until_count, assignee_user_id, assignee_agent_id, search)
         SELECT $1, fingerprint, service, error_type, category, severity, severity_rank, title,
             first_seen, last_seen, occurrences, status, resolved_at, resolved_by, resolution_notes,
             regressed_at, last_agent_id, auto_fix_attempted, auto_fix_successful, ignored_until,
             ignored_until_count, assignee_user_id, assignee_agent_id,
             to_tsvector('simple', service || ' ' || error_type || ' ' || title)
         FROM stage_groups ORDER BY ord
         RETURNING id, fingerprint",
    )
    .bind(ids.tenant)
    .fetch_all(&mut *conn)
    .await
    .context("inserting error_groups")?;
    sqlx::query("DROP TABLE stage_groups")
        .execute(&mut *conn)
        .await?;
    let by_fingerprint: HashMap<String, i64> = rows.into_iter().map(|(id, f)| (f, id)).collect();
    for g in groups.iter_mut() {
        g.id = *by_fingerprint
            .get(&g.fingerprint)
            .context("a group is missing after the insert")?;
    }
    Ok(())
}

/// Writes one event row in COPY's text format.
fn event_row(
    out: &mut String,
    tenant: i64,
    g: &Group,
    agent_id: Option<i64>,
    at: i64,
    rng: &mut StdRng,
) {
    let _ = write!(out, "{tenant}\t{}\t{}\t", new_uuid(rng), g.id);
    match agent_id {
        Some(a) => {
            let _ = write!(out, "{a}");
        }
        None => out.push_str("\\N"),
    }
    let _ = write!(out, "\t{}\t{}\t", g.service, g.severity);
    let mut message = String::with_capacity(160);
    render(&g.message, &mut message, rng);
    copy_escape(out, &message);
    let region = REGIONS[rng.gen_range(0..REGIONS.len())];
    let host = format!(
        "ip-10-{}-{}-{}",
        rng.gen_range(0..8),
        rng.gen_range(0..256),
        rng.gen_range(1..255)
    );
    // JSON without characters COPY would need escaped.
    out.push('\t');
    let _ = write!(
        out,
        r#"{{"request_id":"{}","route":"{}","method":"{}","attempt":{},"duration_ms":{},"user":"{}_{}","pod":"{}-{:x}","region":"{region}","runtime":"{}"}}"#,
        new_uuid(rng),
        g.route,
        ["GET", "POST", "PUT"][rng.gen_range(0..3)],
        rng.gen_range(1..4),
        rng.gen_range(1..30_000),
        NAMES[rng.gen_range(0..NAMES.len())],
        rng.gen_range(1..10_000),
        g.service,
        rng.gen_range(0x1000_0000u32..0xffff_ffff),
        g.lang.runtime(),
    );
    out.push('\t');
    out.push_str(&g.stack_hash_copy);
    let environment = if rng.gen_bool(0.85) {
        "production"
    } else {
        "staging"
    };
    let _ = write!(
        out,
        "\t{environment}\t{}\t{{\"region\":\"{region}\",\"host\":\"{host}\",\"runtime\":\"{}\"}}\t",
        g.release,
        g.lang.runtime()
    );
    copy_time(out, at);
    out.push('\t');
    copy_time(out, at + rng.gen_range(2_000..400_000));
    out.push('\n');
}

/// How long each part of the load took.
#[derive(Default)]
struct LoadTimes {
    plan: Duration,
    groups: Duration,
    events: Duration,
    rest: Duration,
    vacuum: Duration,
    table_bytes: i64,
}

async fn load(
    pool: &PgPool,
    args: &Args,
    plan: &Plan,
    ids: &mut Ids,
) -> anyhow::Result<(Vec<Group>, LoadTimes)> {
    let mut times = LoadTimes::default();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let now = Utc::now().timestamp_micros();
    let span = i64::from(args.days) * DAY_US;
    let started = Instant::now();
    let mut groups = plan_groups(plan, args, now, &mut rng);
    let events = event_times(&groups, &mut rng);
    times.plan = started.elapsed();

    let mut conn = pool.acquire().await?;
    // Nothing here needs to wait for the WAL flush of each COPY; the data is thrown away after.
    sqlx::query("SET synchronous_commit = off")
        .execute(&mut *conn)
        .await?;
    let started = Instant::now();
    let (agents, names) = insert_agents(&mut conn, ids.tenant, now, span, &mut rng).await?;
    ids.agents = agents;
    ids.agent_names = names;
    insert_groups(&mut conn, &mut groups, ids, &args.email).await?;
    insert_stack_traces(&mut conn, &groups, ids.tenant).await?;
    times.groups = started.elapsed();

    // Events: a thread renders COPY chunks (oldest first, so ids grow with time as when the
    // writer stores them) while this task sends them; the hourly counts are summed on the way.
    let started = Instant::now();
    let groups = std::sync::Arc::new(groups);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(4);
    let generator = {
        let groups = std::sync::Arc::clone(&groups);
        let tenant = ids.tenant;
        let agents = ids.agents.clone();
        let seed = args.seed.wrapping_add(1);
        std::thread::spawn(move || {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut hourly: HashMap<(u32, i64), i64> = HashMap::new();
            for chunk in events.chunks(COPY_ROWS) {
                let mut buf = String::with_capacity(chunk.len() * 1700);
                for &(at, gi) in chunk {
                    let g = &groups[gi as usize];
                    event_row(
                        &mut buf,
                        tenant,
                        g,
                        g.agent.map(|a| agents[a]),
                        at,
                        &mut rng,
                    );
                    *hourly.entry((gi, at - at.rem_euclid(HOUR_US))).or_default() += 1;
                }
                if tx.blocking_send(buf).is_err() {
                    break;
                }
            }
            hourly
        })
    };
    let statement = "COPY error_events (tenant_id, event_id, group_id, agent_id, service, severity, \
         message, details, stack_hash, environment, release, tags, occurred_at, received_at) FROM STDIN";
    let mut loaded = 0u64;
    let mut next_report = plan.events / 4;
    while let Some(buf) = rx.recv().await {
        let mut copy = conn.copy_in_raw(statement).await?;
        copy.send(buf.as_bytes()).await?;
        loaded += copy.finish().await.context("COPY into error_events")?;
        if !plan.smoke && loaded >= next_report && loaded < plan.events {
            println!(
                "  … {loaded} events in {:.0} s",
                started.elapsed().as_secs_f64()
            );
            next_report += plan.events / 4;
        }
    }
    let hourly = generator
        .join()
        .map_err(|_| anyhow::anyhow!("the event generator panicked"))?;
    if loaded != plan.events {
        bail!("loaded {loaded} events instead of {}", plan.events);
    }
    times.events = started.elapsed();

    let started = Instant::now();
    let mut buf = String::with_capacity(hourly.len() * 60);
    let mut rows: Vec<_> = hourly.into_iter().collect();
    rows.sort_unstable();
    for ((gi, hour), count) in rows {
        let _ = write!(buf, "{}\t{}\t", ids.tenant, groups[gi as usize].id);
        copy_time(&mut buf, hour);
        let _ = writeln!(buf, "\t{count}");
    }
    let mut copy = conn
        .copy_in_raw("COPY group_counts_hourly (tenant_id, group_id, hour, count) FROM STDIN")
        .await?;
    copy.send(buf.as_bytes()).await?;
    copy.finish()
        .await
        .context("COPY into group_counts_hourly")?;
    insert_activity(&mut conn, &groups, ids, &args.email).await?;
    times.rest = started.elapsed();

    let started = Instant::now();
    for table in [
        "error_events",
        "error_groups",
        "group_counts_hourly",
        "activity",
        "agents",
    ] {
        sqlx::query(&format!("VACUUM (ANALYZE) {table}"))
            .execute(&mut *conn)
            .await
            .with_context(|| format!("VACUUM (ANALYZE) {table}"))?;
    }
    times.vacuum = started.elapsed();
    times.table_bytes = sqlx::query_scalar("SELECT pg_total_relation_size('error_events')")
        .fetch_one(&mut *conn)
        .await?;
    drop(conn);
    let groups = std::sync::Arc::try_unwrap(groups)
        .map_err(|_| anyhow::anyhow!("the event generator still holds the groups"))?;
    Ok((groups, times))
}

/// Each group's history as the app records it, oldest first.
async fn insert_activity(
    conn: &mut PgConnection,
    groups: &[Group],
    ids: &Ids,
    email: &str,
) -> anyhow::Result<()> {
    let user = format!("user:{email}");
    let mut rows: Vec<(i64, i64, &str, String, Option<String>)> = Vec::new();
    for g in groups {
        rows.push((g.first_seen, g.id, "first_seen", "system".into(), None));
        if let Some(resolved) = g.resolved_at {
            let notes = g.resolution_notes.map(str::to_owned);
            rows.push((resolved, g.id, "resolved", user.clone(), notes));
        }
        if let Some(regressed) = g.regressed_at {
            rows.push((regressed, g.id, "regressed", "system".into(), None));
        }
        if let Some((at, how)) = g.ignore {
            let notes = match how {
                Ignore::Forever => "forever".to_owned(),
                Ignore::Until(until) => format!("for {} days", (until - at) / DAY_US),
                Ignore::Events(n) => format!("until {} more events", n - g.count as i64),
            };
            rows.push((at, g.id, "ignored", user.clone(), Some(notes)));
        }
        if let Some((at, who)) = g.assignee {
            let to = match who {
                Assignee::User => format!("to {email}"),
                Assignee::Agent(a) => format!("to agent {}", ids.agent_names[a]),
            };
            rows.push((at, g.id, "assigned", user.clone(), Some(to)));
        }
        for &(at, text) in &g.comments {
            rows.push((at, g.id, "commented", user.clone(), Some(text.into())));
        }
        if let Some((at, ok)) = g.auto_fix {
            let agent = g
                .agent
                .map_or("agent-runner", |a| ids.agent_names[a].as_str());
            rows.push((
                at,
                g.id,
                "fix_started",
                format!("agent:{agent}"),
                Some("playbook: restart the failing worker".into()),
            ));
            rows.push((
                at + 90_000_000,
                g.id,
                "fix_finished",
                format!("agent:{agent}"),
                Some(
                    if ok {
                        "succeeded"
                    } else {
                        "failed: verification did not pass"
                    }
                    .into(),
                ),
            ));
        }
    }
    rows.sort_by_key(|r| (r.0, r.1));
    let mut buf = String::with_capacity(rows.len() * 100);
    for (at, group, kind, actor, notes) in &rows {
        let _ = write!(buf, "{}\t{group}\t", ids.tenant);
        copy_time(&mut buf, *at);
        let _ = write!(buf, "\t{kind}\t");
        copy_escape(&mut buf, actor);
        buf.push('\t');
        copy_opt(&mut buf, notes.as_deref());
        buf.push('\n');
    }
    let mut copy = conn
        .copy_in_raw("COPY activity (tenant_id, group_id, at, kind, actor, notes) FROM STDIN")
        .await?;
    copy.send(buf.as_bytes()).await?;
    copy.finish().await.context("COPY into activity")?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Measuring.

/// One measured page: the URLs it cycles through, each with a text its HTML must contain.
struct Page {
    name: String,
    /// Whether the issue's p95 target applies (the feed and the group page).
    target: bool,
    urls: Vec<(String, String)>,
}

/// What one page's requests saw.
struct Measured {
    name: String,
    target: bool,
    latencies_us: Vec<u32>,
    bytes: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Measured {
    fn percentile_ms(&self, q: f64) -> Option<f64> {
        common::nearest_rank(&self.latencies_us, q).map(|us| f64::from(us) / 1000.0)
    }

    fn p95(&self) -> Option<f64> {
        self.percentile_ms(0.95)
    }
}

fn snippet(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &body[..i]),
        None => body.to_owned(),
    }
}

/// One GET: the body when it is a 200 that contains `expect` and the signed-in user.
async fn fetch_page(
    client: &reqwest::Client,
    url: &str,
    expect: &str,
    email: &str,
) -> Result<String, String> {
    let res = client
        .get(url)
        .header(reqwest::header::ACCEPT, "text/html")
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = res.status();
    let body = res
        .text()
        .await
        .map_err(|e| format!("GET {url} ({status}): reading: {e}"))?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("GET {url} answered {status}: {}", snippet(&body)));
    }
    if body.contains(SIGNED_OUT) || !body.contains(email) {
        return Err(format!("GET {url}: the page is not signed in"));
    }
    if !body.contains(expect) {
        return Err(format!("GET {url}: the page does not contain `{expect}`"));
    }
    Ok(body)
}

/// Warm-up, then `requests` sequential requests cycling through the page's URLs.
async fn measure(client: &reqwest::Client, page: &Page, plan: &Plan, email: &str) -> Measured {
    let mut m = Measured {
        name: page.name.clone(),
        target: page.target,
        latencies_us: Vec::with_capacity(plan.requests),
        bytes: 0,
        errors: 0,
        first_error: None,
    };
    for i in 0..plan.warmup + plan.requests {
        let (url, expect) = &page.urls[i % page.urls.len()];
        let started = Instant::now();
        let result = fetch_page(client, url, expect, email).await;
        let elapsed = started.elapsed();
        match result {
            Ok(body) if i >= plan.warmup => {
                m.latencies_us
                    .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
                m.bytes += body.len() as u64;
            }
            Ok(_) => {}
            Err(e) => {
                m.errors += 1;
                m.first_error.get_or_insert(e);
                if m.errors >= 10 {
                    break;
                }
            }
        }
    }
    m.latencies_us.sort_unstable();
    m
}

/// The `href` of the page's `rel="next"` link, unescaped.
fn next_link(html: &str) -> Option<String> {
    let rel = html.find(r#"rel="next""#)?;
    let start = html[..rel].rfind("<a ")?;
    let end = rel + html[rel..].find('>')?;
    let tag = &html[start..end];
    let href = tag.find(r#"href=""#)? + 6;
    let value = &tag[href..href + tag[href..].find('"')?];
    Some(value.replace("&amp;", "&"))
}

/// The `cursor` query parameter of a feed URL, percent-decoded.
fn cursor_of(url: &str) -> Option<(i64, i64)> {
    let query = url.split_once('?')?.1;
    let raw = query.split('&').find_map(|kv| kv.strip_prefix("cursor="))?;
    let mut bytes = Vec::with_capacity(raw.len());
    let mut rest = raw.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' && tail.len() >= 2 {
            let hex = std::str::from_utf8(&tail[..2]).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    let cursor = String::from_utf8(bytes).ok()?;
    let (key, id) = cursor.split_once(':')?;
    Some((key.parse().ok()?, id.parse().ok()?))
}

fn row_marker(id: i64) -> String {
    format!(r#"data-group-id="{id}""#)
}

/// The pages and what each must show, read from the database as the app would list it.
async fn pages(
    pool: &PgPool,
    client: &reqwest::Client,
    base: &str,
    tenant: i64,
    groups: &[Group],
    email: &str,
    notes: &mut Vec<String>,
) -> anyhow::Result<Vec<Page>> {
    const OPEN: &str = "status IN ('unresolved', 'regressed')";
    let first = |filter: &str, order: &str| {
        format!(
            "SELECT id, (SELECT count(*) FROM error_groups WHERE tenant_id = $1 AND {filter}) \
             FROM error_groups WHERE tenant_id = $1 AND {filter} ORDER BY {order} LIMIT 1"
        )
    };
    let top = |sql: String, bind: Option<&'static str>| async move {
        let mut q = sqlx::query_as::<_, (i64, i64)>(&sql).bind(tenant);
        if let Some(b) = bind {
            q = q.bind(b);
        }
        q.fetch_optional(pool).await
    };
    let by_time = "last_seen DESC, id DESC";
    let (feed_top, open) = top(first(OPEN, by_time), None)
        .await?
        .context("no open group")?;
    let (count_top, _) = top(first(OPEN, "occurrences DESC, id DESC"), None)
        .await?
        .context("no open group")?;
    let search = format!("{OPEN} AND search @@ websearch_to_tsquery('simple', $2)");
    let search_top = top(first(&search, by_time), Some(SEARCH_WORD)).await?;
    let critical_top = top(first("severity = 'critical'", by_time), None).await?;

    let mut list = vec![
        Page {
            name: "/ (overview)".into(),
            target: false,
            urls: vec![(format!("{base}/"), "<title>Overview".into())],
        },
        Page {
            name: format!("/errors ({open} open groups)"),
            target: true,
            urls: vec![(format!("{base}/errors"), row_marker(feed_top))],
        },
        Page {
            name: "/errors?sort=count".into(),
            target: true,
            urls: vec![(format!("{base}/errors?sort=count"), row_marker(count_top))],
        },
    ];
    match search_top {
        Some((id, n)) => list.push(Page {
            name: format!("/errors?q={SEARCH_WORD} ({n} groups)"),
            target: true,
            urls: vec![(format!("{base}/errors?q={SEARCH_WORD}"), row_marker(id))],
        }),
        None => notes.push(format!(
            "no open group matches `{SEARCH_WORD}`: search page skipped"
        )),
    }
    match critical_top {
        Some((id, n)) => list.push(Page {
            name: format!("/errors?severity=critical&status=all ({n})"),
            target: true,
            urls: vec![(
                format!("{base}/errors?severity=critical&status=all"),
                row_marker(id),
            )],
        }),
        None => notes.push("no critical group: critical page skipped".into()),
    }
    // Page 2 through the feed's own next link and keyset cursor.
    let page1 = fetch_page(
        client,
        &format!("{base}/errors"),
        &row_marker(feed_top),
        email,
    )
    .await
    .map_err(|e| anyhow::anyhow!(e))?;
    match next_link(&page1).and_then(|href| Some((cursor_of(&href)?, href))) {
        Some(((key, id), href)) => {
            let next: i64 = sqlx::query_scalar(&format!(
                "SELECT id FROM error_groups WHERE tenant_id = $1 AND {OPEN}
                   AND ((EXTRACT(EPOCH FROM last_seen) * 1000000)::int8, id) < ($2, $3)
                 ORDER BY {by_time} LIMIT 1"
            ))
            .bind(tenant)
            .bind(key)
            .bind(id)
            .fetch_one(pool)
            .await
            .context("the group after the feed's cursor")?;
            list.push(Page {
                name: "/errors page 2 (cursor)".into(),
                target: true,
                urls: vec![(format!("{base}{href}"), row_marker(next))],
            });
        }
        None if open > 200 => bail!("GET /errors: no rel=\"next\" link with a cursor on page 1"),
        None => notes.push("the feed has a single page: page 2 skipped".into()),
    }
    let hottest = groups
        .iter()
        .max_by_key(|g| (g.count, g.id))
        .context("no groups")?;
    list.push(Page {
        name: format!("/errors/{{id}} hottest ({} events)", hottest.count),
        target: true,
        urls: vec![(
            format!("{base}/errors/{}", hottest.id),
            hottest.fingerprint[..12].to_owned(),
        )],
    });
    let mut rng = StdRng::seed_from_u64(11);
    let sample: Vec<&Group> = groups
        .choose_multiple(&mut rng, RANDOM_GROUPS.min(groups.len()))
        .collect();
    list.push(Page {
        name: format!("/errors/{{id}} random ({} groups)", sample.len()),
        target: true,
        urls: sample
            .iter()
            .map(|g| {
                (
                    format!("{base}/errors/{}", g.id),
                    g.fingerprint[..12].to_owned(),
                )
            })
            .collect(),
    });
    list.push(Page {
        name: "/agents".into(),
        target: false,
        urls: vec![(format!("{base}/agents"), "<title>Agents".into())],
    });
    Ok(list)
}

/// Size of the WASM raw and compressed with `gzip -9`.
fn wasm_sizes(path: &std::path::Path) -> anyhow::Result<(u64, u64)> {
    let raw = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let out = std::process::Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .output()
        .context("running gzip")?;
    if !out.status.success() {
        bail!("gzip -9 -c {} failed: {}", path.display(), out.status);
    }
    Ok((raw, out.stdout.len() as u64))
}

// ---------------------------------------------------------------------------------------------
// The run.

async fn run(args: Args) -> anyhow::Result<bool> {
    let plan = Plan::from(&args)?;
    let base = args.base_url.trim_end_matches('/').to_owned();
    let (pool, (version, shared_buffers), tenant) =
        common::database(&args.database_url, &args.tenant).await?;
    let user: i64 = sqlx::query_scalar(
        "SELECT u.id FROM users u JOIN memberships m ON m.user_id = u.id AND m.tenant_id = $2
         WHERE u.email = lower($1)",
    )
    .bind(&args.email)
    .bind(tenant)
    .fetch_optional(&pool)
    .await?
    .with_context(|| format!("{} is not a member of `{}`", args.email, args.tenant))?;
    let existing: i64 =
        sqlx::query_scalar("SELECT count(*) FROM error_groups WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_one(&pool)
            .await?;
    if existing > 0 {
        bail!(
            "tenant `{}` already has {existing} groups; use a fresh database",
            args.tenant
        );
    }
    println!(
        "ui bench{}: {} events in {} groups (Zipf s={}, {} days), {} requests per page after {} warm-up",
        if plan.smoke { " (smoke)" } else { "" },
        plan.events,
        plan.groups,
        args.zipf,
        args.days,
        plan.requests,
        plan.warmup
    );
    println!(
        "  server {base}; PostgreSQL {version} (shared_buffers={shared_buffers}); {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // 1. The data.
    let started = Instant::now();
    let mut ids = Ids {
        tenant,
        user,
        agents: Vec::new(),
        agent_names: Vec::new(),
    };
    let (groups, times) = load(&pool, &args, &plan, &mut ids).await?;
    let load_secs = started.elapsed().as_secs_f64();
    let (hourly_rows, activity_rows): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM group_counts_hourly WHERE tenant_id = $1),
                (SELECT count(*) FROM activity WHERE tenant_id = $1)",
    )
    .bind(tenant)
    .fetch_one(&pool)
    .await?;
    println!(
        "loaded in {load_secs:.1} s: plan {:.1} s, agents + groups {:.1} s, {} events {:.1} s ({:.0}/s), hourly + activity {:.1} s, VACUUM ANALYZE {:.1} s",
        times.plan.as_secs_f64(),
        times.groups.as_secs_f64(),
        plan.events,
        times.events.as_secs_f64(),
        plan.events as f64 / times.events.as_secs_f64().max(1e-9),
        times.rest.as_secs_f64(),
        times.vacuum.as_secs_f64(),
    );
    let hottest = groups.iter().map(|g| g.count).max().unwrap_or(0);
    println!(
        "  error_events {:.0} MB with indexes; {hourly_rows} hourly rows, {activity_rows} activity rows, {AGENTS} agents; busiest group {hottest} events",
        times.table_bytes as f64 / 1e6
    );

    // 2. The pages, signed in as the member.
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()
        .context("building the HTTP client")?;
    let res = client
        .post(format!("{base}/api/ui/login"))
        .form(&[
            ("email", args.email.as_str()),
            ("password", args.password.as_str()),
            ("next", "/"),
        ])
        .send()
        .await
        .context("signing in")?;
    let status = res.status();
    if !(status.is_success() || status.is_redirection()) {
        let body = res.text().await.unwrap_or_default();
        bail!("signing in answered {status}: {}", snippet(&body));
    }
    let mut notes = Vec::new();
    let pages = pages(
        &pool,
        &client,
        &base,
        tenant,
        &groups,
        &args.email,
        &mut notes,
    )
    .await?;
    let mut results = Vec::with_capacity(pages.len());
    for page in &pages {
        results.push(measure(&client, page, &plan, &args.email).await);
    }
    let wasm = args.wasm.as_deref().map(wasm_sizes).transpose()?;
    let rss = args.server_pid.and_then(common::peak_rss_mb);

    // 3. The report.
    println!();
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>8} {:>7}  target",
        "page", "p50 ms", "p95 ms", "max ms", "KB", "errors"
    );
    let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    let mark = |m: &Measured| match (m.target, m.p95()) {
        (false, _) => "",
        (true, Some(p)) if m.errors == 0 && p <= TARGET_P95_MS => "PASS",
        (true, _) if plan.smoke => "n/a",
        (true, _) => "MISS",
    };
    for m in &results {
        let n = m.latencies_us.len().max(1) as f64;
        println!(
            "{:<44} {:>8} {:>8} {:>8} {:>8.1} {:>7}  {}",
            m.name,
            ms(m.percentile_ms(0.50)),
            ms(m.p95()),
            ms(m.percentile_ms(1.0)),
            m.bytes as f64 / n / 1000.0,
            m.errors,
            if plan.smoke && m.target {
                "n/a"
            } else {
                mark(m)
            }
        );
    }
    println!(
        "  (each page: {} warm-up then {} sequential GETs of the HTML with the session cookie; KB = 1,000 bytes of HTML per answer)",
        plan.warmup, plan.requests
    );
    match wasm {
        Some((raw, gz)) => println!(
            "WASM {}: {:.1} KB raw, {:.1} KB gzip -9 ({gz} bytes){}",
            args.wasm
                .as_deref()
                .map_or(String::new(), |p| p.display().to_string()),
            raw as f64 / 1000.0,
            gz as f64 / 1000.0,
            if plan.smoke { " (debug build)" } else { "" }
        ),
        None => println!("WASM: not measured (pass --wasm)"),
    }
    if let Some(rss) = rss {
        println!("peak server RSS (VmHWM): {rss:.0} MB");
    }
    for note in &notes {
        println!("note: {note}");
    }

    let mut failed = false;
    for m in &results {
        if m.errors > 0 {
            failed = true;
            println!(
                "error: {}: {} failed requests; first: {}",
                m.name,
                m.errors,
                m.first_error.as_deref().unwrap_or("?")
            );
        }
    }
    // The worst p95 among the feed's variants, and among the group pages.
    let worst = |group_page: bool| {
        results
            .iter()
            .filter(|m| m.target && m.name.starts_with("/errors/") == group_page)
            .filter_map(Measured::p95)
            .fold(None, |acc: Option<f64>, p| {
                Some(acc.map_or(p, |a| a.max(p)))
            })
    };
    let feed_p95 = results.get(1).and_then(Measured::p95);
    let feeds_worst = worst(false);
    let group_worst = worst(true);
    if plan.smoke {
        println!("targets: not evaluated in a smoke run (debug build, tiny data)");
    } else {
        println!("targets (2 cores, everything co-located):");
        let verdict = |ok: Option<bool>| match ok {
            Some(true) => "PASS",
            Some(false) => "MISS",
            None => "n/a ",
        };
        println!(
            "  {} /errors p95 ≤ {TARGET_P95_MS} ms: {} ms (worst feed variant {} ms)",
            verdict(feed_p95.map(|p| p <= TARGET_P95_MS)),
            ms(feed_p95),
            ms(feeds_worst)
        );
        println!(
            "  {} group page p95 ≤ {TARGET_P95_MS} ms: {} ms (worst of hottest and random)",
            verdict(group_worst.map(|p| p <= TARGET_P95_MS)),
            ms(group_worst)
        );
        println!(
            "  {} WASM ≤ {} KB gzipped: {} KB",
            verdict(wasm.map(|(_, gz)| gz <= TARGET_WASM_GZ_BYTES)),
            TARGET_WASM_GZ_BYTES / 1000,
            wasm.map_or("?".to_owned(), |(_, gz)| format!(
                "{:.1}",
                gz as f64 / 1000.0
            ))
        );
    }
    println!(
        "SUMMARY errors_p95={} ms feeds_worst_p95={} ms group_worst_p95={} ms wasm_gz={} KB load={load_secs:.0} s events={} groups={}{}",
        ms(feed_p95),
        ms(feeds_worst),
        ms(group_worst),
        wasm.map_or("?".to_owned(), |(_, gz)| format!(
            "{:.1}",
            gz as f64 / 1000.0
        )),
        plan.events,
        plan.groups,
        if failed { " (ERRORS)" } else { "" }
    );
    Ok(!failed)
}
