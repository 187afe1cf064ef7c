//! `cargo xtask bench fix [--runs N] [--smoke]`: the fix-engine latency benchmark.
//!
//! Builds the server and the measurer (`server/examples/fix_bench.rs`) with plain cargo (the
//! benchmark serves no pages), starts the private PostgreSQL, a fresh database with a tenant
//! `bench` and an API key, and `faultline serve` on a free port allowed to call itself
//! (`FAULTLINE_FIX_ALLOWED_HOSTS=127.0.0.1`); the example creates an automatic playbook,
//! times the ingest round trip of one error as a baseline, then logs N new errors one at a
//! time and measures how long each takes from being logged to its fix run being started;
//! then the server is stopped and the database dropped. `--smoke` (what `cargo xtask test`
//! runs): debug build, 30 runs, only to prove it still works.

use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::time::Instant;

use super::{Binaries, Scratch, build_binaries};
use crate::bail;
use crate::pg::{Guard, Server, Source, Tuning};
use crate::util::{Result, command, step};

const SERVER_LOG: &str = "target/bench-fix-server.log";
const REPORT: &str = "target/bench-fix.txt";
const USAGE: &str = "usage: cargo xtask bench fix [--runs N] [--smoke] [-- <measurer options>]";
/// Fix runs in the smoke run (the example's own smoke default, named for `cargo xtask test`).
const SMOKE_RUNS: u64 = 30;

/// What to run.
#[derive(Debug, Default)]
struct Options {
    runs: Option<u64>,
    smoke: bool,
    /// Passed to the measurer as they are (e.g. `--poll-ms 1`).
    extra: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--smoke" => options.smoke = true,
            "--runs" => match args.next().map(|v| v.replace('_', "").parse::<u64>()) {
                Some(Ok(n)) if (1..=100_000).contains(&n) => options.runs = Some(n),
                _ => bail!("--runs wants a whole number (1–100000)\n{USAGE}"),
            },
            "--" => {
                options.extra = args.cloned().collect();
                break;
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    Ok(options)
}

/// `cargo xtask bench fix …`.
pub fn bench(root: &Path, args: &[String]) -> Result<ExitCode> {
    let options = match parse(args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    let started = Instant::now();
    let source = Source::detect()?;
    let release = !options.smoke;
    let rustflags = options.smoke.then(crate::test::leptos_debug_rustflags);
    let binaries = build(root, release, rustflags.as_deref())?;
    let mut guard = Guard::default();
    let (_, server) = source.connect(root, Tuning::Durable, &mut guard, None)?;
    let status = run(root, &server, &binaries, &options)?;
    drop(guard);
    step(format!(
        "bench fix: {} s in all, builds included",
        started.elapsed().as_secs()
    ));
    Ok(ExitCode::from(status))
}

/// The smoke run inside `cargo xtask test`, on its database server and its debug build
/// flags. Fails when the measurer reports an error.
pub fn smoke(root: &Path, server: &Server, rustflags: &str) -> Result<()> {
    let binaries = build(root, false, Some(rustflags))?;
    let options = Options {
        runs: Some(SMOKE_RUNS),
        smoke: true,
        ..Options::default()
    };
    match run(root, server, &binaries, &options)? {
        0 => Ok(()),
        code => bail!("the fix-engine benchmark smoke run failed (exit code {code})"),
    }
}

fn build(root: &Path, release: bool, rustflags: Option<&str>) -> Result<Binaries> {
    build_binaries(root, "fix_bench", true, release, rustflags)
}

/// A fresh database and server, the measurer against them, and the cleanup. Returns the
/// measurer's exit code.
fn run(root: &Path, db: &Server, binaries: &Binaries, options: &Options) -> Result<u8> {
    let mut scratch = Scratch::create(root, db, &binaries.server)?;
    let key = scratch.bench_tenant("ingest,read,fix")?;

    // The playbook's step calls the server's own /health.
    let env = [("FAULTLINE_FIX_ALLOWED_HOSTS", "127.0.0.1".to_string())];
    let (addr, pid) = scratch.serve(SERVER_LOG, &env)?;

    let mut bench = command(&binaries.bench, root);
    bench
        .arg("--base-url")
        .arg(format!("http://{addr}"))
        .arg("--server-pid")
        .arg(pid.to_string())
        .arg("--tenant")
        .arg("bench")
        // Through the environment, so the key and URL stay out of process listings.
        .env("FAULTLINE_BENCH_KEY", &key)
        .env("DATABASE_URL", &scratch.url)
        .stdin(Stdio::null());
    if let Some(runs) = options.runs {
        bench.arg("--runs").arg(runs.to_string());
    }
    if options.smoke {
        bench.arg("--smoke");
    }
    bench.args(&options.extra);
    let note = if options.smoke {
        " --smoke (~10 s)"
    } else {
        " (baseline, then one run at a time; about a minute)"
    };
    scratch.measure(
        &mut bench,
        &binaries.bench,
        note,
        REPORT,
        SERVER_LOG,
        "fix-engine benchmark",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_the_command_line() {
        let o = parse(&args(&[])).unwrap();
        assert_eq!((o.runs, o.smoke), (None, false));
        let o = parse(&args(&["--runs", "1_000", "--smoke"])).unwrap();
        assert_eq!((o.runs, o.smoke), (Some(1000), true));
        assert!(parse(&args(&["--runs"])).is_err());
        assert!(parse(&args(&["--runs", "0"])).is_err());
        assert!(parse(&args(&["--runs", "many"])).is_err());
        assert!(parse(&args(&["--fast"])).is_err());
        let o = parse(&args(&["--", "--poll-ms", "1"])).unwrap();
        assert_eq!(o.extra, ["--poll-ms", "1"]);
    }
}
