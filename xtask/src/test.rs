//! `cargo xtask test`: formatting, lints, unit/integration tests with PostgreSQL, a debug build
//! and the Playwright end-to-end tests against a freshly started server.

use std::fs::File;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{ExitCode, ExitStatus, Stdio};

use crate::bail;
use crate::install;
use crate::pg::{Guard, Server, Source, Tuning};
use crate::served::{ServedDatabase, wait_ready};
use crate::util::{
    Context, Result, addr_free, check, command, describe_status, env_var, free_port, interrupted,
    rel, say, spawn, step, strip_ansi, tail, target_dir, tee,
};

pub const E2E_ADMIN_EMAIL: &str = "admin@faultline.local";
pub const E2E_ADMIN_PASSWORD: &str = "e2e-admin-password";
const SERVER_LOG: &str = "target/e2e-server.log";

pub fn test(root: &Path) -> Result<ExitCode> {
    step("cargo fmt --all --check");
    check(command("cargo", root).args(["fmt", "--all", "--check"]))?;

    install::wasm_target(root)?;
    install::cargo_leptos(root)?;
    install::wasm_bindgen(root)?;
    let source = Source::detect()?;
    install::chromium()?;
    install::playwright(root)?;

    let mut guard = Guard::default();
    let (database_url, server) =
        source.connect(root, Tuning::Fast, &mut guard, Some("faultline_test"))?;

    // cargo-leptos builds the debug server with `--cfg erase_components`; using the same flags
    // here lets `cargo test` and `cargo leptos build` share compiled dependencies.
    let rustflags = leptos_debug_rustflags();
    step(format!(
        "cargo clippy --all-targets -p app -p server -p xtask --features app/ssr -- -D warnings (RUSTFLAGS=\"{rustflags}\")"
    ));
    check(
        command("cargo", root)
            .args([
                "clippy",
                "--all-targets",
                "-p",
                "app",
                "-p",
                "server",
                "-p",
                "xtask",
                "--features",
                "app/ssr",
                "--",
                "-D",
                "warnings",
            ])
            .env("RUSTFLAGS", &rustflags)
            // What cargo-leptos sets; leptos reads it at compile time, so the same value lets
            // clippy, the tests and `cargo leptos build` share their compiled crates.
            .env("LEPTOS_OUTPUT_NAME", "faultline"),
    )?;

    step(format!(
        "cargo test -p app -p server -p xtask --features app/ssr (DATABASE_URL={})",
        redact(&database_url)
    ));
    check(
        command("cargo", root)
            .args([
                "test",
                "-p",
                "app",
                "-p",
                "server",
                "-p",
                "xtask",
                "--features",
                "app/ssr",
            ])
            .env("RUSTFLAGS", &rustflags)
            // What cargo-leptos sets; leptos reads it at compile time, so the same value lets
            // clippy, the tests and `cargo leptos build` share their compiled crates.
            .env("LEPTOS_OUTPUT_NAME", "faultline")
            .env("DATABASE_URL", &database_url),
    )?;

    step("cargo leptos build (debug)");
    check(command("cargo", root).args(["leptos", "build"]))?;

    let outcome = end2end(root, &server)?;
    // Keeps `cargo xtask bench ingest`, `bench ui` and `bench fix` working; a measurement is
    // not a test, so only smokes.
    let bench = outcome.ok().then(|| {
        step("bench ingest (2 s smoke)");
        crate::bench::smoke(root, &server, &rustflags)?;
        step("bench ui (smoke: 20,000 events, 20 requests per page)");
        crate::bench::ui_smoke(root, &server, &rustflags)?;
        step("bench fix (smoke: 30 runs)");
        crate::bench::fix_smoke(root, &server, &rustflags)
    });
    // Stop PostgreSQL now so that the summary lines come last.
    drop(guard);
    say(format_args!(
        "{} passed, {} failed",
        outcome.summary.passed(),
        outcome.summary.failed()
    ));
    if !outcome.ok() {
        return Ok(ExitCode::from(if interrupted() { 130 } else { 1 }));
    }
    if let Some(Err(e)) = bench {
        step(format!("error: benchmark smoke: {e}"));
        return Ok(ExitCode::from(if interrupted() { 130 } else { 1 }));
    }
    step("all checks passed");
    Ok(ExitCode::SUCCESS)
}

/// The RUSTFLAGS cargo-leptos 0.3.10 uses for debug builds: the user's, plus erase_components.
pub(crate) fn leptos_debug_rustflags() -> String {
    match env_var("RUSTFLAGS") {
        Some(flags) => format!("{} --cfg erase_components", flags.trim()),
        None => "--cfg erase_components".to_string(),
    }
}

/// A URL without its password, for progress lines.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let authority_end = url[scheme_end..]
        .find(['/', '?'])
        .map_or(url.len(), |i| scheme_end + i);
    let authority = &url[scheme_end..authority_end];
    match authority.rfind('@') {
        Some(at) => match authority[..at].find(':') {
            Some(colon) => format!(
                "{}{}:***{}",
                &url[..scheme_end],
                &authority[..colon],
                &url[scheme_end + at..]
            ),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

struct Outcome {
    status: ExitStatus,
    summary: Summary,
}

impl Outcome {
    fn ok(&self) -> bool {
        self.status.success() && self.summary.failed() == 0
    }
}

/// The Playwright run against a fresh server and database; cleans both up.
fn end2end(root: &Path, db: &Server) -> Result<Outcome> {
    let binary = target_dir(root).join("debug/faultline");
    if !binary.is_file() {
        bail!("{} is missing after `cargo leptos build`", binary.display());
    }
    let port = free_port()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if !addr_free(addr) {
        bail!("{addr} was taken right after it was picked; run again");
    }
    let base_url = format!("http://{addr}");
    let database = format!("faultline_e2e_{}", std::process::id());
    let log_path = root.join(SERVER_LOG);
    step(format!(
        "end-to-end: serving {} on {base_url} (fresh database {database}, log {SERVER_LOG})",
        rel(root, &binary)
    ));
    db.drop_database(&database)?;
    db.create_database(&database)?;
    let mut run = ServedDatabase {
        db,
        database: database.clone(),
        server: None,
        purpose: "e2e",
    };

    let log = File::create(&log_path).context(|| format!("creating {}", log_path.display()))?;
    let log_err = log
        .try_clone()
        .context(|| format!("opening {}", log_path.display()))?;
    let mut serve = command(&binary, root);
    serve
        .arg("serve")
        .env("DATABASE_URL", db.url_for(&database))
        .env("FAULTLINE_BIND", addr.to_string())
        .env("FAULTLINE_ADMIN_EMAIL", E2E_ADMIN_EMAIL)
        .env("FAULTLINE_ADMIN_PASSWORD", E2E_ADMIN_PASSWORD)
        .env("FAULTLINE_LOGIN_MAX_FAILURES", "50")
        .env("LEPTOS_SITE_ROOT", root.join("target/site"))
        .env("LEPTOS_SITE_PKG_DIR", "pkg")
        .env("LEPTOS_OUTPUT_NAME", "faultline")
        .env("LEPTOS_SITE_ADDR", addr.to_string())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    let server = run.server.insert(spawn(&mut serve)?);
    wait_ready(addr, server, &log_path)?;

    step(format!(
        "npx playwright test --reporter=list (in end2end/, BASE_URL={base_url})"
    ));
    let mut playwright = command("npx", &root.join("end2end"));
    playwright
        .args(["playwright", "test", "--reporter=list"])
        .env("BASE_URL", &base_url)
        .env("FAULTLINE_ADMIN_EMAIL", E2E_ADMIN_EMAIL)
        .env("FAULTLINE_ADMIN_PASSWORD", E2E_ADMIN_PASSWORD)
        .stdin(Stdio::null());
    let (status, output) = tee(&mut playwright)?;
    // Stop the server and drop its database before reporting.
    drop(run);

    let summary = parse_playwright(&output);
    let outcome = Outcome { status, summary };
    if summary.flaky + summary.skipped + summary.did_not_run > 0 {
        step(format!(
            "playwright: {} flaky (counted as passed), {} skipped, {} did not run",
            summary.flaky, summary.skipped, summary.did_not_run
        ));
    }
    if !outcome.ok() {
        eprintln!(
            "--- last lines of {SERVER_LOG} ---\n{}\n---",
            tail(&log_path, 40)
        );
        step(format!(
            "error: end-to-end tests failed (playwright: {}{})",
            describe_status(status),
            if interrupted() { ", interrupted" } else { "" }
        ));
    }
    Ok(outcome)
}

/// Counts from Playwright's list (or line) reporter output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: u32,
    pub failed: u32,
    pub flaky: u32,
    pub skipped: u32,
    pub interrupted: u32,
    pub did_not_run: u32,
}

impl Summary {
    /// Tests that passed in the end (flaky ones passed on a retry).
    pub fn passed(&self) -> u32 {
        self.passed + self.flaky
    }

    /// Tests that failed or were interrupted.
    pub fn failed(&self) -> u32 {
        self.failed + self.interrupted
    }
}

/// Reads the closing summary (`  3 passed (5.2s)`, `  1 failed`, …); without one, counts the
/// ✓ / ✘ result lines of the list reporter.
pub fn parse_playwright(output: &str) -> Summary {
    let mut summary = Summary::default();
    let mut found = false;
    let (mut ticks, mut crosses) = (0, 0);
    for raw in output.lines() {
        let line = strip_ansi(raw);
        let line = line.trim();
        if line.starts_with('✓') {
            ticks += 1;
        } else if line.starts_with('✘') || line.starts_with('×') {
            crosses += 1;
        }
        let Some((count, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(count) = count.parse::<u32>() else {
            continue;
        };
        let rest = rest.trim_start();
        let slot = if rest.starts_with("passed") {
            &mut summary.passed
        } else if rest.starts_with("failed") {
            &mut summary.failed
        } else if rest.starts_with("flaky") {
            &mut summary.flaky
        } else if rest.starts_with("skipped") {
            &mut summary.skipped
        } else if rest.starts_with("interrupted") {
            &mut summary.interrupted
        } else if rest.starts_with("did not run") {
            &mut summary.did_not_run
        } else {
            continue;
        };
        *slot = count;
        found = true;
    }
    if !found {
        summary.passed = ticks;
        summary.failed = crosses;
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_passing_run() {
        let out = "\nRunning 3 tests using 1 worker\n\n  ✓  1 [chromium] › tests/login.spec.ts:3:1 › signs in (1.2s)\n  ✓  2 [chromium] › tests/login.spec.ts:9:1 › signs out (0.8s)\n  ✓  3 [chromium] › tests/tenants.spec.ts:4:1 › creates a tenant (2.0s)\n\n  3 passed (5.2s)\n";
        assert_eq!(
            parse_playwright(out),
            Summary {
                passed: 3,
                ..Summary::default()
            }
        );
    }

    #[test]
    fn reads_a_failing_run_with_colours() {
        let out = "  \u{1b}[32m✓\u{1b}[39m  1 [chromium] › a.spec.ts:1:1 › ok (1s)\n  \u{1b}[31m✘\u{1b}[39m  2 [chromium] › a.spec.ts:5:1 › broken (3s)\n\n  1) [chromium] › a.spec.ts:5:1 › broken\n\n    Error: expect(received).toBe(expected)\n\n  \u{1b}[31m1 failed\u{1b}[39m\n    [chromium] › a.spec.ts:5:1 › broken\n  \u{1b}[33m1 flaky\u{1b}[39m\n  \u{1b}[32m1 passed\u{1b}[39m \u{1b}[2m(6.1s)\u{1b}[22m\n";
        let s = parse_playwright(out);
        assert_eq!((s.passed(), s.failed(), s.flaky), (2, 1, 1));
    }

    #[test]
    fn falls_back_to_result_marks() {
        let out =
            "  ✓  1 [chromium] › a (1s)\n  ✘  2 [chromium] › b (1s)\n  ✓  3 [chromium] › c (1s)\n";
        let s = parse_playwright(out);
        assert_eq!((s.passed(), s.failed()), (2, 1));
        assert_eq!(
            parse_playwright("Error: No tests found"),
            Summary::default()
        );
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1:1/x"),
            "postgres://postgres@127.0.0.1:1/x"
        );
    }
}
