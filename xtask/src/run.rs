//! `cargo xtask run`: install what is missing, start PostgreSQL, build (release) and serve.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use crate::bail;
use crate::install;
use crate::pg::{Cluster, Guard, Source, Tuning};
use crate::util::{
    Result, addr_free, check, command, describe_status, env_var, exit_code, interrupted, rel,
    spawn, step, target_dir, wait_foreground,
};

pub const DEFAULT_BIND: &str = "127.0.0.1:3000";

pub fn run(root: &Path) -> Result<ExitCode> {
    let bind_text = env_var("FAULTLINE_BIND").unwrap_or_else(|| DEFAULT_BIND.to_string());
    let Ok(bind) = bind_text.parse::<SocketAddr>() else {
        bail!("FAULTLINE_BIND={bind_text} is not an address like 127.0.0.1:3000");
    };
    // Fail before a long build when the port is already taken.
    ensure_free(bind)?;

    let source = Source::detect()?;
    let mut guard = Guard::default();
    let (database_url, _) = source.connect(root, Tuning::Durable, &mut guard, Some("faultline"))?;
    let binary = build_release(root)?;

    ensure_free(bind)?;
    step(format!(
        "starting {} serve on http://{bind} (Ctrl-C stops it{})",
        rel(root, &binary),
        if guard.0.as_ref().is_some_and(Cluster::started_here) {
            " and the private PostgreSQL"
        } else {
            ""
        }
    ));
    let mut server = server_command(root, &binary, &database_url, bind);
    let mut child = spawn(&mut server)?;
    let status = wait_foreground(&mut child)?;
    step(format!(
        "the server exited ({}{})",
        describe_status(status),
        if interrupted() { ", interrupted" } else { "" }
    ));
    drop(guard);
    Ok(ExitCode::from(exit_code(status)))
}

/// Installs what the build needs, builds with `cargo leptos build --release` and answers
/// the server binary.
pub fn build_release(root: &Path) -> Result<PathBuf> {
    install::wasm_target(root)?;
    install::cargo_leptos(root)?;
    install::wasm_bindgen(root)?;
    install::wasm_opt(root)?;
    step("building: cargo leptos build --release");
    check(command("cargo", root).args(["leptos", "build", "--release"]))?;
    let binary = target_dir(root).join("release/faultline");
    if !binary.is_file() {
        bail!(
            "{} is missing after the build (does the server package build a `faultline` binary?)",
            binary.display()
        );
    }
    Ok(binary)
}

/// `faultline serve` over `database_url` on `bind`, serving the built site.
pub fn server_command(root: &Path, binary: &Path, database_url: &str, bind: SocketAddr) -> Command {
    let mut server = command(binary, root);
    server
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("FAULTLINE_BIND", bind.to_string())
        .env("LEPTOS_SITE_ROOT", root.join("target/site"))
        .env("LEPTOS_SITE_PKG_DIR", "pkg")
        .env("LEPTOS_OUTPUT_NAME", "faultline")
        .env("LEPTOS_SITE_ADDR", bind.to_string())
        .env("LEPTOS_ENV", "PROD");
    server
}

pub fn ensure_free(bind: SocketAddr) -> Result<()> {
    if !addr_free(bind) {
        bail!(
            "{bind} is already in use — is another Faultline server (or something else) running? Stop it, or choose another address with FAULTLINE_BIND=127.0.0.1:PORT"
        );
    }
    Ok(())
}
