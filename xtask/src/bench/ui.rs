//! `cargo xtask bench ui [--events N] [--groups N] [--requests N] [--smoke]`: the dashboard
//! page benchmark.
//!
//! Builds the site as `cargo xtask run` does (`cargo leptos build --release`) and the data
//! generator and measurer (`server/examples/ui_bench.rs`), starts the private PostgreSQL, a
//! fresh database with a tenant `bench` and one member, and `faultline serve` on a free port;
//! the example loads 1,000,000 events in 10,000 groups straight into PostgreSQL, signs in,
//! times every page and reports the release WASM's size; then the server is stopped and the
//! database dropped. `--smoke` (what `cargo xtask test` runs): debug build, 20,000 events in
//! 200 groups, 20 requests per page, only to prove it still works.

use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::time::Instant;

use super::{Binaries, Scratch, build_binaries};
use crate::bail;
use crate::install;
use crate::pg::{Guard, Server, Source, Tuning};
use crate::util::{Result, check, command, step};

const SERVER_LOG: &str = "target/bench-ui-server.log";
const REPORT: &str = "target/bench-ui.txt";
const USAGE: &str = "usage: cargo xtask bench ui [--events N] [--groups N] [--requests N] [--smoke] [-- <generator options>]";
/// The member the benchmark signs in as.
const EMAIL: &str = "bench-ui@faultline.local";
/// Where `cargo leptos build` puts the WASM (site-root, site-pkg-dir and the output name).
const WASM: &str = "target/site/pkg/faultline.wasm";

/// What to run.
#[derive(Debug, Default)]
struct Options {
    events: Option<u64>,
    groups: Option<u64>,
    requests: Option<u64>,
    smoke: bool,
    /// Passed to the generator as they are (e.g. `--zipf 1.2`).
    extra: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options::default();
    let mut args = args.iter();
    let number = |flag: &str, value: Option<&String>, max: u64| -> Result<u64> {
        match value.map(|v| v.replace('_', "").parse::<u64>()) {
            Some(Ok(n)) if (1..=max).contains(&n) => Ok(n),
            _ => bail!("{flag} wants a whole number (1–{max})\n{USAGE}"),
        }
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--smoke" => options.smoke = true,
            "--events" => options.events = Some(number(arg, args.next(), 100_000_000)?),
            "--groups" => options.groups = Some(number(arg, args.next(), 1_000_000)?),
            "--requests" => options.requests = Some(number(arg, args.next(), 100_000)?),
            "--" => {
                options.extra = args.cloned().collect();
                break;
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    if let (Some(events), Some(groups)) = (options.events, options.groups)
        && events < groups
    {
        bail!("--events must be at least --groups (every group has an event)\n{USAGE}");
    }
    Ok(options)
}

/// `cargo xtask bench ui …`.
pub fn bench(root: &Path, args: &[String]) -> Result<ExitCode> {
    let options = match parse(args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    let started = Instant::now();
    install::wasm_target(root)?;
    install::cargo_leptos(root)?;
    install::wasm_bindgen(root)?;
    let release = !options.smoke;
    if release {
        install::wasm_opt(root)?;
    }
    let source = Source::detect()?;
    let (site, rustflags) = if release {
        (["leptos", "build", "--release"].as_slice(), None)
    } else {
        (
            ["leptos", "build"].as_slice(),
            Some(crate::test::leptos_debug_rustflags()),
        )
    };
    step(format!("building: cargo {}", site.join(" ")));
    check(command("cargo", root).args(site))?;
    let binaries = build(root, release, rustflags.as_deref())?;
    let mut guard = Guard::default();
    let (_, server) = source.connect(root, Tuning::Durable, &mut guard, None)?;
    let status = run(root, &server, &binaries, &options)?;
    drop(guard);
    step(format!(
        "bench ui: {} s in all, builds included",
        started.elapsed().as_secs()
    ));
    Ok(ExitCode::from(status))
}

/// The smoke run inside `cargo xtask test`, on its database server and the debug site and
/// server `cargo leptos build` made there. Fails when the generator reports an error.
pub fn smoke(root: &Path, server: &Server, rustflags: &str) -> Result<()> {
    let binaries = build(root, false, Some(rustflags))?;
    let options = Options {
        smoke: true,
        ..Options::default()
    };
    match run(root, server, &binaries, &options)? {
        0 => Ok(()),
        code => bail!("the dashboard benchmark smoke run failed (exit code {code})"),
    }
}

/// The generator, built apart from the server (whose binary cargo-leptos has just made).
fn build(root: &Path, release: bool, rustflags: Option<&str>) -> Result<Binaries> {
    build_binaries(root, "ui_bench", false, release, rustflags)
}

/// A fresh database and server, the generator against them, and the cleanup. Returns the
/// generator's exit code.
fn run(root: &Path, db: &Server, binaries: &Binaries, options: &Options) -> Result<u8> {
    let mut scratch = Scratch::create(root, db, &binaries.server)?;
    let password = format!("bench-ui-password-{}", std::process::id());
    step(format!(
        "fresh database {}: migrate, tenant `bench`, member {EMAIL}",
        scratch.database()
    ));
    scratch.admin(&["migrate"], &[])?;
    scratch.admin(
        &["create-tenant", "--slug", "bench", "--name", "Bench"],
        &[],
    )?;
    scratch.admin(
        &[
            "create-user",
            "--email",
            EMAIL,
            "--tenant",
            "bench",
            "--role",
            "member",
        ],
        &[("FAULTLINE_PASSWORD", &password)],
    )?;

    // Served as `cargo xtask run` serves it (the site, and production mode for release).
    let site = root.join("target/site");
    let mut env = vec![
        ("LEPTOS_SITE_ROOT", site.display().to_string()),
        ("LEPTOS_SITE_PKG_DIR", "pkg".to_string()),
        ("LEPTOS_OUTPUT_NAME", "faultline".to_string()),
    ];
    if !options.smoke {
        env.push(("LEPTOS_ENV", "PROD".to_string()));
    }
    let (addr, pid) = scratch.serve(SERVER_LOG, &env)?;

    let mut bench = command(&binaries.bench, root);
    bench
        .arg("--base-url")
        .arg(format!("http://{addr}"))
        .arg("--server-pid")
        .arg(pid.to_string())
        .arg("--tenant")
        .arg("bench")
        // Through the environment, so the password and URL stay out of process listings.
        .env("DATABASE_URL", &scratch.url)
        .env("FAULTLINE_BENCH_EMAIL", EMAIL)
        .env("FAULTLINE_BENCH_PASSWORD", &password)
        .stdin(Stdio::null());
    let wasm = root.join(WASM);
    if wasm.is_file() {
        bench.arg("--wasm").arg(&wasm);
    }
    for (flag, value) in [
        ("--events", options.events),
        ("--groups", options.groups),
        ("--requests", options.requests),
    ] {
        if let Some(v) = value {
            bench.arg(flag).arg(v.to_string());
        }
    }
    if options.smoke {
        bench.arg("--smoke");
    }
    bench.args(&options.extra);
    let note = if options.smoke {
        " --smoke (~15 s)"
    } else {
        " (load, then every page; a few minutes)"
    };
    scratch.measure(
        &mut bench,
        &binaries.bench,
        note,
        REPORT,
        SERVER_LOG,
        "dashboard benchmark",
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
        assert_eq!(
            (o.events, o.groups, o.requests, o.smoke),
            (None, None, None, false)
        );
        let o = parse(&args(&[
            "--events",
            "2_000_000",
            "--groups",
            "20000",
            "--requests",
            "50",
            "--smoke",
        ]))
        .unwrap();
        assert_eq!(
            (o.events, o.groups, o.requests, o.smoke),
            (Some(2_000_000), Some(20_000), Some(50), true)
        );
        assert!(parse(&args(&["--events"])).is_err());
        assert!(parse(&args(&["--events", "0"])).is_err());
        assert!(parse(&args(&["--groups", "many"])).is_err());
        assert!(parse(&args(&["--events", "10", "--groups", "20"])).is_err());
        assert!(parse(&args(&["--fast"])).is_err());
        let o = parse(&args(&["--", "--zipf", "1.2"])).unwrap();
        assert_eq!(o.extra, ["--zipf", "1.2"]);
    }
}
