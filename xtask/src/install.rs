//! Tool installation steps; each one checks first and does nothing when already done.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bail;
use crate::pg;
use crate::util::{Context, Result, check, command, is_root, probe, step};

pub const CARGO_LEPTOS_VERSION: &str = "0.3.10";
/// Lowest binaryen release whose wasm-opt output hydrates correctly (Debian's 108 does not).
pub const WASM_OPT_MIN: u32 = 132;

/// `rustup target add wasm32-unknown-unknown`.
pub fn wasm_target(root: &Path) -> Result<()> {
    let installed = probe(command("rustup", root).args(["target", "list", "--installed"]));
    match installed {
        None => bail!("`rustup` was not found: install Rust with rustup (https://rustup.rs)"),
        Some((true, out)) if out.lines().any(|l| l.trim() == "wasm32-unknown-unknown") => {
            step("wasm32-unknown-unknown target … already installed");
            Ok(())
        }
        Some(_) => {
            step("installing the wasm32-unknown-unknown target (rustup)");
            check(command("rustup", root).args(["target", "add", "wasm32-unknown-unknown"]))
        }
    }
}

/// cargo-leptos, at the version known to work with this toolchain.
pub fn cargo_leptos(root: &Path) -> Result<()> {
    let found = probe(command("cargo", root).args(["leptos", "--version"]));
    if let Some((true, out)) = &found
        && version_in(out).as_deref() == Some(CARGO_LEPTOS_VERSION)
    {
        step(format!(
            "cargo-leptos {CARGO_LEPTOS_VERSION} … already installed"
        ));
        return Ok(());
    }
    step(format!(
        "installing cargo-leptos {CARGO_LEPTOS_VERSION} (takes ~13 min once)"
    ));
    check(command("cargo", root).args([
        "install",
        "cargo-leptos",
        "--locked",
        "--version",
        CARGO_LEPTOS_VERSION,
        "--features",
        "no_downloads",
    ]))
}

/// wasm-bindgen-cli at exactly the wasm-bindgen version in Cargo.lock.
pub fn wasm_bindgen(root: &Path) -> Result<()> {
    let lock_path = root.join("Cargo.lock");
    let lock = std::fs::read_to_string(&lock_path)
        .context(|| format!("reading {}", lock_path.display()))?;
    let Some(wanted) = locked_version(&lock, "wasm-bindgen") else {
        bail!("Cargo.lock has no wasm-bindgen package; cannot tell which wasm-bindgen-cli to use");
    };
    let found = probe(Command::new("wasm-bindgen").arg("--version"));
    if let Some((true, out)) = &found
        && version_in(out).as_deref() == Some(wanted.as_str())
    {
        step(format!("wasm-bindgen-cli {wanted} … already installed"));
        return Ok(());
    }
    let had = found
        .and_then(|(_, out)| version_in(&out))
        .map(|v| format!(", replacing {v}"))
        .unwrap_or_default();
    step(format!(
        "installing wasm-bindgen-cli {wanted} to match Cargo.lock{had} (takes ~2 min once)"
    ));
    // No --locked: the CLI's own lockfile pins a crate version this registry lacks.
    check(command("cargo", root).args([
        "install",
        "wasm-bindgen-cli",
        "--version",
        &wanted,
        "--force",
    ]))
}

/// wasm-opt from binaryen ≥ 132 (npm), used by release builds.
pub fn wasm_opt(root: &Path) -> Result<()> {
    let found = probe(Command::new("wasm-opt").arg("--version"));
    if let Some((true, out)) = &found
        && wasm_opt_version(out).is_some_and(|v| v >= WASM_OPT_MIN)
    {
        step(format!(
            "wasm-opt (binaryen {}) … already installed",
            wasm_opt_version(out).unwrap_or(WASM_OPT_MIN)
        ));
        return Ok(());
    }
    step(format!(
        "installing wasm-opt: npm i -g binaryen@{WASM_OPT_MIN} (never Debian's binaryen: it breaks hydration)"
    ));
    if probe(Command::new("npm").arg("--version")).is_none() {
        bail!("`npm` was not found: install Node.js and npm, then run this again");
    }
    check(command("npm", root).args(["i", "-g", &format!("binaryen@{WASM_OPT_MIN}")]))?;
    match probe(Command::new("wasm-opt").arg("--version")) {
        Some((true, out)) if wasm_opt_version(&out).is_some_and(|v| v >= WASM_OPT_MIN) => Ok(()),
        _ => bail!(
            "binaryen@{WASM_OPT_MIN} was installed but `wasm-opt` on PATH is still not version {WASM_OPT_MIN}+ (check `which -a wasm-opt` and npm's global bin directory)"
        ),
    }
}

/// PostgreSQL server binaries (initdb, pg_ctl, psql); returns their bin directory.
pub fn postgres() -> Result<PathBuf> {
    if let Some((version, bin)) = pg::bin_dirs().pop() {
        step(format!(
            "PostgreSQL {version} server … already installed ({})",
            bin.display()
        ));
        return Ok(bin);
    }
    if !is_root() {
        bail!(
            "the PostgreSQL server is not installed (no /usr/lib/postgresql/*/bin/initdb).\n  Install the package `postgresql` (e.g. `sudo apt-get install -y postgresql`), or set DATABASE_URL to a PostgreSQL you already run."
        );
    }
    step("installing PostgreSQL: apt-get install -y postgresql");
    apt_install("postgresql")?;
    match pg::bin_dirs().pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "`apt-get install postgresql` finished but /usr/lib/postgresql/*/bin/initdb is still missing"
        ),
    }
}

/// The system Chromium the Playwright tests drive.
pub fn chromium() -> Result<()> {
    if Path::new("/usr/bin/chromium").exists() {
        step("chromium … already installed (/usr/bin/chromium)");
        return Ok(());
    }
    if !is_root() {
        bail!(
            "Chromium is not installed (/usr/bin/chromium is missing): install the package `chromium` (e.g. `sudo apt-get install -y chromium`)"
        );
    }
    step("installing Chromium: apt-get install -y chromium");
    apt_install("chromium")?;
    if !Path::new("/usr/bin/chromium").exists() {
        bail!("`apt-get install chromium` finished but /usr/bin/chromium is still missing");
    }
    Ok(())
}

/// end2end/node_modules (Playwright's test runner; browsers are never downloaded).
pub fn playwright(root: &Path) -> Result<()> {
    let dir = root.join("end2end");
    if dir.join("node_modules/@playwright/test").is_dir() {
        step("Playwright (end2end/node_modules) … already installed");
        return Ok(());
    }
    if !dir.join("package.json").is_file() {
        bail!("end2end/package.json is missing: cannot install the Playwright test runner");
    }
    let args: &[&str] = if dir.join("package-lock.json").is_file() {
        &["ci", "--no-audit", "--no-fund"]
    } else {
        &["install", "--no-audit", "--no-fund"]
    };
    step(format!(
        "installing Playwright: npm {} (in end2end/)",
        args[0]
    ));
    check(
        command("npm", &dir)
            .args(args)
            // The system Chromium is used; never download browsers.
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"),
    )
}

fn apt_install(package: &str) -> Result<()> {
    check(
        Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    check(
        Command::new("apt-get")
            .args(["install", "-y", package])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// The version of `[[package]] name = "<name>"` in a Cargo.lock.
pub fn locked_version(lock: &str, name: &str) -> Option<String> {
    let wanted = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() != wanted {
            continue;
        }
        for next in lines.by_ref() {
            let next = next.trim();
            if let Some(v) = next.strip_prefix("version = \"") {
                return v.strip_suffix('"').map(str::to_string);
            }
            if next.is_empty() || next.starts_with('[') {
                break;
            }
        }
    }
    None
}

/// The first `N.N.N` in a `--version` output.
pub fn version_in(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .map(|w| w.trim_start_matches('v'))
        .find(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() >= 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        })
        .map(str::to_string)
}

/// The number after "version " in `wasm-opt --version` ("wasm-opt version 132 (version_132)").
pub fn wasm_opt_version(text: &str) -> Option<u32> {
    let rest = &text[text.find("version ")? + "version ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_locked_versions() {
        let lock = r#"
[[package]]
name = "wasm-bindgen-backend"
version = "0.2.99"

[[package]]
name = "wasm-bindgen"
version = "0.2.130"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;
        assert_eq!(
            locked_version(lock, "wasm-bindgen").as_deref(),
            Some("0.2.130")
        );
        assert_eq!(locked_version(lock, "leptos"), None);
    }

    #[test]
    fn reads_tool_versions() {
        assert_eq!(
            version_in("cargo-leptos 0.3.10\n").as_deref(),
            Some("0.3.10")
        );
        assert_eq!(
            version_in("wasm-bindgen 0.2.130").as_deref(),
            Some("0.2.130")
        );
        assert_eq!(version_in("error: no such command: `leptos`"), None);
        assert_eq!(
            wasm_opt_version("wasm-opt version 132 (version_132)"),
            Some(132)
        );
        assert_eq!(wasm_opt_version("wasm-opt version 108"), Some(108));
        assert_eq!(wasm_opt_version("nothing"), None);
    }
}
