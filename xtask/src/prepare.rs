//! `cargo xtask sqlx-prepare`: regenerate the committed `.sqlx/` query data without sqlx-cli.
//!
//! The sqlx 0.8 query macros, when compiled online (`SQLX_OFFLINE=false` and a DATABASE_URL)
//! with `SQLX_OFFLINE_DIR` set, describe each query against the database and write
//! `query-<hash>.json` into that directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::bail;
use crate::pg::{Guard, Source, Tuning};
use crate::util::{Context, Result, check, command, rel, step, touch};

const SCRATCH_DB: &str = "faultline_prepare";

/// The table sqlx's migrator keeps (a query of the app reads it).
const SQLX_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
    success BOOLEAN NOT NULL,
    checksum BYTEA NOT NULL,
    execution_time BIGINT NOT NULL
)";

/// Files whose crates hold `sqlx::query!` macros; touching them makes cargo re-run the macros.
const CRATE_ROOTS: [&str; 2] = ["app/src/lib.rs", "server/src/lib.rs"];

pub fn sqlx_prepare(root: &Path) -> Result<ExitCode> {
    let source = Source::detect()?;
    let mut guard = Guard::default();
    let (_, server) = source.connect(root, Tuning::Durable, &mut guard, None)?;

    let migrations = migration_files(root)?;
    step(format!(
        "recreating the scratch database {SCRATCH_DB} and applying {} migration(s) with psql",
        migrations.len()
    ));
    server.drop_database(SCRATCH_DB)?;
    server.create_database(SCRATCH_DB)?;
    for file in &migrations {
        server
            .run_file(SCRATCH_DB, file)
            .map_err(|e| crate::util::Error(format!("applying {}: {e}", rel(root, file))))?;
    }
    server.run_sql(SCRATCH_DB, SQLX_MIGRATIONS_TABLE)?;

    let dir = root.join(".sqlx");
    std::fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
    let old = query_files(&dir)?;
    let saved: Vec<(PathBuf, Vec<u8>)> = old
        .iter()
        .map(|p| std::fs::read(p).map(|bytes| (p.clone(), bytes)))
        .collect::<std::io::Result<_>>()
        .context(|| "reading .sqlx/".to_string())?;
    for path in &old {
        std::fs::remove_file(path).context(|| format!("removing {}", path.display()))?;
    }
    for file in CRATE_ROOTS {
        let path = root.join(file);
        if path.is_file() {
            touch(&path)?;
        }
    }

    step(format!(
        "cargo check -p server --all-targets (SQLX_OFFLINE=false, queries described against {SCRATCH_DB})"
    ));
    let checked = check(
        command("cargo", root)
            .args(["check", "-p", "server", "--all-targets"])
            .env("SQLX_OFFLINE", "false")
            .env("DATABASE_URL", server.url_for(SCRATCH_DB))
            .env("SQLX_OFFLINE_DIR", &dir),
    );
    if let Err(e) = checked {
        // Put the previous files back so offline builds keep working.
        for path in query_files(&dir).unwrap_or_default() {
            let _ = std::fs::remove_file(path);
        }
        for (path, bytes) in &saved {
            let _ = std::fs::write(path, bytes);
        }
        bail!("{e}\n(the previous .sqlx/ files were restored)");
    }

    let new = query_files(&dir)?;
    let added = new.iter().filter(|p| !old.contains(p)).count();
    let removed = old.iter().filter(|p| !new.contains(p)).count();
    let _ = server.drop_database(SCRATCH_DB);
    step(format!(
        "wrote {} query file(s) to .sqlx/ ({added} new, {removed} no longer used)",
        new.len()
    ));
    drop(guard);
    Ok(ExitCode::SUCCESS)
}

/// `migrations/*.sql` in name order (sqlx's order), leaving out reversible `.down.sql` files.
fn migration_files(root: &Path) -> Result<Vec<PathBuf>> {
    let dir = root.join("migrations");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            name.ends_with(".sql") && !name.ends_with(".down.sql")
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no migrations/*.sql files found");
    }
    Ok(files)
}

fn query_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Ok(files)
}
