//! `cargo xtask bench ingest|ui|fix …`: the benchmarks.
//!
//! `ingest [--seconds N] [--smoke]`: builds the server and the load generator
//! (`server/examples/ingest_bench.rs`), starts a private PostgreSQL with normal durability, a
//! fresh database and `faultline serve` on a free port, runs the load generator against it,
//! then stops the server and drops the database. Release build by default; `--smoke` (what
//! `cargo xtask test` runs) uses the debug build and runs every phase for ~2 s at low load,
//! only to prove it still works.
//!
//! `ui …`: the dashboard pages over a million events, in [`ui`].
//!
//! `fix …`: the fix engine's latency from an error logged to its fix run started, in [`fix`].

mod fix;
mod ui;

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use crate::bail;
use crate::pg::{Guard, Server, Source, Tuning};
use crate::served::{ServedDatabase, wait_ready};
use crate::util::{
    Context, Result, addr_free, capture, check, command, describe_status, exit_code, free_port,
    interrupted, rel, spawn, step, tail, target_dir, tee, terminate,
};

pub use fix::smoke as fix_smoke;
pub use ui::smoke as ui_smoke;

const SERVER_LOG: &str = "target/bench-server.log";
const REPORT: &str = "target/bench-ingest.txt";
const USAGE: &str = "usage: cargo xtask bench ingest [--seconds N] [--smoke] [-- <load generator options>]
       cargo xtask bench ui [--events N] [--groups N] [--requests N] [--smoke] [-- <generator options>]
       cargo xtask bench fix [--runs N] [--smoke] [-- <measurer options>]";

/// What to run.
struct Options {
    seconds: Option<u32>,
    smoke: bool,
    /// Passed to the load generator as they are (e.g. `--phases batched`).
    extra: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        seconds: None,
        smoke: false,
        extra: Vec::new(),
    };
    let mut args = args.iter();
    match args.next().map(String::as_str) {
        Some("ingest") => {}
        _ => bail!("{USAGE}"),
    }
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--smoke" => options.smoke = true,
            "--" => {
                options.extra = args.cloned().collect();
                break;
            }
            "--seconds" => {
                let value = args.next().map(String::as_str).unwrap_or_default();
                match value.parse::<u32>() {
                    Ok(n) if (1..=3600).contains(&n) => options.seconds = Some(n),
                    _ => bail!("--seconds wants a whole number of seconds (1–3600)\n{USAGE}"),
                }
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    Ok(options)
}

/// `cargo xtask bench …`.
pub fn bench(root: &Path, args: &[String]) -> Result<ExitCode> {
    match args.first().map(String::as_str) {
        Some("ui") => return ui::bench(root, &args[1..]),
        Some("fix") => return fix::bench(root, &args[1..]),
        _ => {}
    }
    let options = match parse(args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    let source = Source::detect()?;
    let rustflags = options.smoke.then(crate::test::leptos_debug_rustflags);
    let binaries = build(root, !options.smoke, rustflags.as_deref())?;
    let mut guard = Guard::default();
    let (_, server) = source.connect(root, Tuning::Durable, &mut guard, None)?;
    let status = run(root, &server, &binaries, &options)?;
    drop(guard);
    Ok(ExitCode::from(status))
}

/// The 2-second smoke run inside `cargo xtask test`, on its database server and its debug
/// build flags. Fails when the load generator reports an error.
pub fn smoke(root: &Path, server: &Server, rustflags: &str) -> Result<()> {
    let binaries = build(root, false, Some(rustflags))?;
    let options = Options {
        seconds: None,
        smoke: true,
        extra: Vec::new(),
    };
    match run(root, server, &binaries, &options)? {
        0 => Ok(()),
        code => bail!("the ingest benchmark smoke run failed (exit code {code})"),
    }
}

/// The server binary and a benchmark's measuring program.
pub(super) struct Binaries {
    pub server: PathBuf,
    pub bench: PathBuf,
}

/// Builds `server/examples/<example>.rs` — and first the server binary when `with_server`
/// (the dashboard benchmark's comes from `cargo leptos build`). Plain cargo, two calls:
/// building the example activates the server's dev-dependencies, whose features would
/// otherwise be unified into the binary too; apart, the binary is the one `cargo leptos
/// build` makes and its artifacts are reused (LEPTOS_OUTPUT_NAME is what cargo-leptos sets;
/// leptos reads it at compile time).
pub(super) fn build_binaries(
    root: &Path,
    example: &str,
    with_server: bool,
    release: bool,
    rustflags: Option<&str>,
) -> Result<Binaries> {
    let profile = if release { " --release" } else { "" };
    let targets = [["--bin", "faultline"], ["--example", example]];
    for target in &targets[usize::from(!with_server)..] {
        let mut cargo = command("cargo", root);
        cargo.arg("build");
        if release {
            cargo.arg("--release");
        }
        cargo
            .args(["-p", "server"])
            .args(target)
            .env("LEPTOS_OUTPUT_NAME", "faultline");
        if let Some(flags) = rustflags {
            cargo.env("RUSTFLAGS", flags);
        }
        step(format!(
            "building: cargo build{profile} -p server {}",
            target.join(" ")
        ));
        check(&mut cargo)?;
    }
    let dir = target_dir(root).join(if release { "release" } else { "debug" });
    let binaries = Binaries {
        server: dir.join("faultline"),
        bench: dir.join("examples").join(example),
    };
    for path in [&binaries.server, &binaries.bench] {
        if !path.is_file() {
            bail!("{} is missing after the build", path.display());
        }
    }
    Ok(binaries)
}

fn build(root: &Path, release: bool, rustflags: Option<&str>) -> Result<Binaries> {
    build_binaries(root, "ingest_bench", true, release, rustflags)
}

/// A fresh database and server, the load generator against them, and the cleanup. Returns
/// the load generator's exit code.
fn run(root: &Path, db: &Server, binaries: &Binaries, options: &Options) -> Result<u8> {
    let mut scratch = Scratch::create(root, db, &binaries.server)?;
    let key = scratch.bench_tenant("ingest,read")?;

    let (addr, pid) = scratch.serve(SERVER_LOG, &[])?;
    let mut bench = command(&binaries.bench, root);
    bench
        .arg("--base-url")
        .arg(format!("http://{addr}"))
        .arg("--server-pid")
        .arg(pid.to_string())
        // Through the environment, so the key and URL stay out of process listings.
        .env("FAULTLINE_BENCH_KEY", &key)
        .env("DATABASE_URL", &scratch.url)
        .stdin(Stdio::null());
    if let Some(seconds) = options.seconds {
        bench.arg("--seconds").arg(seconds.to_string());
    }
    if options.smoke {
        bench.arg("--smoke");
    }
    bench.args(&options.extra);
    let note = if options.smoke {
        " --smoke (~10 s)"
    } else {
        " (4 phases + warm-up, about 2 minutes)"
    };
    scratch.measure(
        &mut bench,
        &binaries.bench,
        note,
        REPORT,
        SERVER_LOG,
        "load generator",
    )
}

/// A fresh database `faultline_bench_<pid>` and, once started, `faultline serve` on it: what a
/// benchmark runs against. Dropping it stops the server and drops the database.
pub(super) struct Scratch<'a> {
    session: ServedDatabase<'a>,
    /// The database's URL.
    url: String,
    root: &'a Path,
    /// The `faultline` binary.
    server: &'a Path,
}

impl<'a> Scratch<'a> {
    fn create(root: &'a Path, db: &'a Server, server: &'a Path) -> Result<Scratch<'a>> {
        let database = format!("faultline_bench_{}", std::process::id());
        db.drop_database(&database)?;
        db.create_database(&database)?;
        Ok(Scratch {
            url: db.url_for(&database),
            root,
            server,
            session: ServedDatabase {
                db,
                database,
                server: None,
                purpose: "benchmark",
            },
        })
    }

    fn database(&self) -> &str {
        &self.session.database
    }

    /// Runs the measuring program `bench` (at `program`, named in the step line with `note`),
    /// its output shown and kept; then stops the server, drops the database and saves the
    /// report. Returns the program's exit code.
    fn measure(
        self,
        bench: &mut std::process::Command,
        program: &Path,
        note: &str,
        report_file: &str,
        server_log: &str,
        what: &str,
    ) -> Result<u8> {
        let root = self.root;
        step(format!("running {}{note}", rel(root, program)));
        let started = Instant::now();
        let (status, output) = tee(bench)?;
        self.finish();
        report(
            root,
            report_file,
            &output,
            started,
            status,
            server_log,
            what,
        );
        Ok(exit_code(status))
    }

    /// Migrates the database and creates the tenant `bench` with an API key of `scopes`;
    /// returns the key.
    fn bench_tenant(&self, scopes: &str) -> Result<String> {
        step(format!(
            "fresh database {}: migrate, tenant `bench`, a key ({scopes})",
            self.database()
        ));
        self.admin(&["migrate"], &[])?;
        self.admin(
            &["create-tenant", "--slug", "bench", "--name", "Bench"],
            &[],
        )?;
        let key = self
            .admin(
                &[
                    "create-api-key",
                    "--tenant",
                    "bench",
                    "--name",
                    "bench",
                    "--scopes",
                    scopes,
                ],
                &[],
            )?
            .trim()
            .to_string();
        if key.is_empty() || key.contains(char::is_whitespace) {
            bail!("`faultline create-api-key` printed no key");
        }
        Ok(key)
    }

    /// Runs an admin command of `faultline` on the database; returns what it printed.
    fn admin(&self, args: &[&str], env: &[(&str, &str)]) -> Result<String> {
        let mut cmd = command(self.server, self.root);
        cmd.args(args)
            .env("DATABASE_URL", &self.url)
            .env("RUST_LOG", "warn");
        for (name, value) in env {
            cmd.env(name, value);
        }
        capture(&mut cmd)
    }

    /// Starts `faultline serve` on a free port (RUST_LOG=warn, JSON logs in `log`) with `env`
    /// added, and waits for `/ready`. Returns its address and process id.
    fn serve(&mut self, log: &str, env: &[(&str, String)]) -> Result<(SocketAddr, u32)> {
        let (root, server) = (self.root, self.server);
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if !addr_free(addr) {
            bail!("{addr} was taken right after it was picked; run again");
        }
        let log_path = root.join(log);
        let out = File::create(&log_path).context(|| format!("creating {}", log_path.display()))?;
        let err = out
            .try_clone()
            .context(|| format!("opening {}", log_path.display()))?;
        step(format!(
            "serving {} on http://{addr} (RUST_LOG=warn, log {log})",
            rel(root, server)
        ));
        let mut serve = command(server, root);
        serve
            .arg("serve")
            .env("DATABASE_URL", &self.url)
            .env("FAULTLINE_BIND", addr.to_string())
            .env("FAULTLINE_LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .env(
                "FAULTLINE_ADMIN_PASSWORD",
                format!("bench-admin-{}-{port}", std::process::id()),
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (name, value) in env {
            serve.env(name, value);
        }
        let child = self.session.server.insert(spawn(&mut serve)?);
        let pid = child.id();
        wait_ready(addr, child, &log_path)?;
        Ok((addr, pid))
    }

    /// Stops the server (saying so if it died on its own) and drops the database.
    fn finish(mut self) {
        if let Some(mut server) = self.session.server.take() {
            if let Ok(Some(exited)) = server.try_wait() {
                step(format!(
                    "error: the server exited during the benchmark ({})",
                    describe_status(exited)
                ));
            }
            terminate(&mut server, Duration::from_secs(10));
        }
    }
}

/// Saves a benchmark's output to `path`; on failure shows the server log's tail.
fn report(
    root: &Path,
    path: &str,
    output: &str,
    started: Instant,
    status: std::process::ExitStatus,
    server_log: &str,
    what: &str,
) {
    if let Err(e) = std::fs::write(root.join(path), output) {
        step(format!("could not save the report to {path}: {e}"));
    } else {
        step(format!(
            "report saved to {path} ({} s)",
            started.elapsed().as_secs()
        ));
    }
    if !status.success() {
        eprintln!(
            "--- last lines of {server_log} ---\n{}\n---",
            tail(&root.join(server_log), 30)
        );
        step(format!(
            "error: the {what} failed ({}{})",
            describe_status(status),
            if interrupted() { ", interrupted" } else { "" }
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_the_command_line() {
        let o = parse(&args(&["ingest"])).unwrap();
        assert_eq!((o.seconds, o.smoke), (None, false));
        let o = parse(&args(&["ingest", "--seconds", "5", "--smoke"])).unwrap();
        assert_eq!((o.seconds, o.smoke), (Some(5), true));
        assert!(parse(&args(&[])).is_err());
        assert!(parse(&args(&["egress"])).is_err());
        assert!(parse(&args(&["ingest", "--seconds"])).is_err());
        assert!(parse(&args(&["ingest", "--seconds", "0"])).is_err());
        assert!(parse(&args(&["ingest", "--fast"])).is_err());
        let o = parse(&args(&["ingest", "--", "--phases", "batched"])).unwrap();
        assert_eq!(o.extra, ["--phases", "batched"]);
    }
}
