//! `cargo xtask demo`: the auto-fix loop, live. Builds like `run`, starts PostgreSQL (the
//! private one unless `DATABASE_URL` is set) with a `faultline_demo` database, a flaky demo
//! service (`examples/demo_service.py`), prepares the `demo` company with an enabled
//! playbook and an agent key (`faultline seed-demo`), serves Faultline, and starts the
//! example agent (`examples/agent.py`) looking after the service. Within a minute the agent
//! logs the failing health check, a fix run has it restart the service, the health check
//! verifies it, and the error is resolved — then the service breaks again and it repeats.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ExitCode, Stdio};
use std::time::Duration;

use crate::bail;
use crate::pg::{Cluster, Guard, Source, Tuning};
use crate::run::{DEFAULT_BIND, build_release, ensure_free, server_command};
use crate::served::wait_ready;
use crate::util::{
    Result, capture, command, describe_status, env_var, exit_code, free_port, interrupted, say,
    spawn, step, target_dir, terminate, wait_foreground,
};

const EMAIL: &str = "demo@faultline.local";
const DEFAULT_PASSWORD: &str = "faultline-demo";
/// How long a restart keeps the demo service healthy before it breaks again.
const HEALTHY_SECS: &str = "60";

/// Child processes stopped when the demo ends, however it ends.
#[derive(Default)]
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in self.0.iter_mut().rev() {
            terminate(child, Duration::from_secs(5));
        }
    }
}

pub fn demo(root: &Path) -> Result<ExitCode> {
    let bind_text = env_var("FAULTLINE_BIND").unwrap_or_else(|| DEFAULT_BIND.to_string());
    let Ok(bind) = bind_text.parse::<SocketAddr>() else {
        bail!("FAULTLINE_BIND={bind_text} is not an address like 127.0.0.1:3000");
    };
    ensure_free(bind)?;
    let password = env_var("FAULTLINE_DEMO_PASSWORD").unwrap_or_else(|| DEFAULT_PASSWORD.into());
    if capture(command("python3", root).arg("--version")).is_err() {
        bail!(
            "the demo's service and agent are Python scripts: install python3 (apt-get install python3)"
        );
    }

    let source = Source::detect()?;
    let mut guard = Guard::default();
    let (database_url, _) =
        source.connect(root, Tuning::Durable, &mut guard, Some("faultline_demo"))?;
    let binary = build_release(root)?;
    ensure_free(bind)?;

    let mut children = Children::default();
    let port = free_port()?;
    let service_url = format!("http://127.0.0.1:{port}");
    step(format!("starting the flaky demo service on {service_url}"));
    children.0.push(spawn(
        command("python3", root)
            .args(["examples/demo_service.py", "--port", &port.to_string()])
            .args(["--healthy-secs", HEALTHY_SECS]),
    )?);

    step("preparing the demo company, its playbook and an agent key (faultline seed-demo)");
    let key = capture(
        command(&binary, root)
            .args(["seed-demo", "--service-url", &service_url])
            .env("DATABASE_URL", &database_url)
            .env("FAULTLINE_PASSWORD", &password)
            .stdin(Stdio::null()),
    )?
    .trim()
    .to_owned();
    if key.is_empty() || key.contains(char::is_whitespace) {
        bail!("faultline seed-demo printed no key: {key}");
    }

    step(format!("starting Faultline on http://{bind}"));
    let log = target_dir(root).join("demo-server.log");
    let log_file = std::fs::File::create(&log)
        .map_err(|e| crate::util::Error(format!("creating {}: {e}", log.display())))?;
    let mut server = server_command(root, &binary, &database_url, bind);
    server
        .env("FAULTLINE_FIX_ALLOWED_HOSTS", "127.0.0.1")
        .stdout(
            log_file
                .try_clone()
                .map_err(|e| crate::util::Error(e.to_string()))?,
        )
        .stderr(log_file);
    let mut server = spawn(&mut server)?;
    if let Err(e) = wait_ready(bind, &mut server, &log) {
        terminate(&mut server, Duration::from_secs(5));
        return Err(e);
    }

    step("starting the example agent (examples/agent.py) looking after the demo service");
    children.0.push(spawn(
        command("python3", root)
            .args([
                "examples/agent.py",
                "--name",
                "demo-agent",
                "--interval",
                "5",
            ])
            .args(["--url", &format!("http://{bind}"), "--key", &key])
            .args(["--service", &service_url, "--service-name", "demo-service"]),
    )?);

    say("");
    say(format!("  The demo is running: open http://{bind}/login"));
    say(format!("  Sign in as {EMAIL} with the password {password}"));
    say("  (set FAULTLINE_DEMO_PASSWORD to choose another).");
    say("");
    say("  Watch /errors: the agent logs the service's failing health check; within seconds");
    say("  /fixes shows a run that has the agent restart the service, verifies /health and");
    say(format!(
        "  resolves the error. After {HEALTHY_SECS} s the service breaks again: the error regresses and"
    ));
    say(format!(
        "  is fixed again. Server log: {}. Ctrl-C stops everything{}.",
        log.display(),
        if guard.0.as_ref().is_some_and(Cluster::started_here) {
            ", the private PostgreSQL too"
        } else {
            ""
        }
    ));
    say("");
    let status = wait_foreground(&mut server)?;
    step(format!(
        "the server exited ({}{})",
        describe_status(status),
        if interrupted() { ", interrupted" } else { "" }
    ));
    drop(children);
    drop(guard);
    Ok(ExitCode::from(exit_code(status)))
}
