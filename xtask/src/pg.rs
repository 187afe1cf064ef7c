//! The private PostgreSQL cluster in `target/faultline-pg`, and database helpers (via `psql`).
//!
//! Layout: `target/faultline-pg/data` (the cluster), `…/port` (its TCP port, kept across
//! restarts), `…/log` (the server log). It listens on 127.0.0.1 only, over TCP (no Unix socket,
//! whose path length is limited), with `trust` authentication for the `postgres` superuser.
//! As root, initdb and pg_ctl run as the `postgres` user (initdb refuses root).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bail;
use crate::install;
use crate::util::{
    Context, Result, addr_free, capture, command, env_var, free_port, is_root, probe, rel, step,
    tail,
};

/// Where the private cluster lives, relative to the workspace root.
pub const CLUSTER_DIR: &str = "target/faultline-pg";
const PG_LIB: &str = "/usr/lib/postgresql";

/// Installed server versions with an initdb, lowest first: (version, bin dir).
pub fn bin_dirs() -> Vec<(String, PathBuf)> {
    let mut found: Vec<(Vec<u32>, String, PathBuf)> = std::fs::read_dir(PG_LIB)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().into_owned();
            let key: Vec<u32> = version
                .split('.')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((key, version, bin))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, v, bin)| (v, bin)).collect()
}

/// How the cluster is tuned when this command starts it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tuning {
    /// Normal durability (`cargo xtask run`, `pg`): the data is real.
    Durable,
    /// No fsync (`cargo xtask test`, which stops the cluster again when it is done).
    Fast,
}

/// The private cluster.
pub struct Cluster {
    dir: PathBuf,
    data: PathBuf,
    bin: PathBuf,
    version: String,
    port: u16,
    started_here: bool,
}

impl Cluster {
    /// Starts the cluster (creating it first if needed), or reuses it when already running.
    /// `bin` is the newest installed server's bin directory.
    pub fn start(root: &Path, bin: &Path, tuning: Tuning) -> Result<Cluster> {
        let dir = root.join(CLUSTER_DIR);
        let data = dir.join("data");
        std::fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
        if is_root() {
            give_to_postgres(&dir)?;
        }
        let initialised = data.join("PG_VERSION").is_file();
        let (version, bin) = if initialised {
            bin_for_existing(&data)?
        } else {
            let version = bin
                .parent()
                .and_then(Path::file_name)
                .map(|v| v.to_string_lossy().into_owned())
                .unwrap_or_default();
            (version, bin.to_path_buf())
        };
        let mut cluster = Cluster {
            dir,
            data,
            bin,
            version,
            port: 0,
            started_here: false,
        };
        if !initialised {
            cluster.initdb(root)?;
        }
        if cluster.is_running() {
            cluster.port = cluster
                .running_port()
                .ok_or_else(|| crate::util::Error("cannot read the port of the running private PostgreSQL from its postmaster.pid".into()))?;
            cluster.save_port()?;
            step(format!(
                "PostgreSQL {} … already running on 127.0.0.1:{} ({CLUSTER_DIR})",
                cluster.version, cluster.port
            ));
            return Ok(cluster);
        }
        let saved = cluster.saved_port();
        let port = match saved {
            Some(p) if addr_free(SocketAddr::from(([127, 0, 0, 1], p))) => p,
            _ => free_port()?,
        };
        cluster.port = port;
        cluster.save_port()?;
        let moved = match saved {
            Some(p) if p != port => format!("; port {p} is taken by something else"),
            _ => String::new(),
        };
        step(format!(
            "starting PostgreSQL {} on 127.0.0.1:{port} ({CLUSTER_DIR}, log {CLUSTER_DIR}/log{moved})",
            cluster.version
        ));
        let mut options =
            format!("-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''");
        if tuning == Tuning::Fast {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        } else {
            // Ingest writes ~100 MB of WAL a second at full load; with the default 1 GB the
            // cluster checkpointed every 4 s (PostgreSQL's own log: "checkpoints are occurring
            // too frequently … consider increasing max_wal_size"), and each checkpoint makes
            // every page's next change log the whole page. Durability is unchanged.
            options.push_str(" -c max_wal_size=4GB");
            // With the default 128MB of shared buffers the backends evicted dirty pages
            // themselves and the kernel gathered them for seconds before writing them all at
            // once, which stalled commits' WAL flushes (fixed-rate p99 of 46-74 ms, single
            // 11.1k/s); with 512MB, and backends asking the kernel to write what they evict
            // soon, 7.7-11.9 ms and 11.9-13.0k/s.
            options.push_str(" -c shared_buffers=512MB -c backend_flush_after=256kB");
        }
        let log = cluster.dir.join("log");
        let mut start = cluster.tool("pg_ctl");
        start
            .arg("start")
            .arg("-D")
            .arg(&cluster.data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-s", "-o", &options]);
        if let Err(e) = capture(&mut start) {
            bail!(
                "{e}\n--- last lines of {} ---\n{}",
                rel(root, &log),
                tail(&log, 30)
            );
        }
        cluster.started_here = true;
        Ok(cluster)
    }

    /// The cluster if it has been created (running or not), for `pg-stop`.
    pub fn existing(root: &Path) -> Result<Option<Cluster>> {
        let dir = root.join(CLUSTER_DIR);
        let data = dir.join("data");
        if !data.join("PG_VERSION").is_file() {
            return Ok(None);
        }
        let (version, bin) = bin_for_existing(&data)?;
        let mut cluster = Cluster {
            dir,
            data,
            bin,
            version,
            port: 0,
            started_here: false,
        };
        cluster.port = cluster
            .running_port()
            .or_else(|| cluster.saved_port())
            .unwrap_or(0);
        Ok(Some(cluster))
    }

    /// Whether this command started the cluster (and so should stop it).
    pub fn started_here(&self) -> bool {
        self.started_here
    }

    /// `postgres://postgres@127.0.0.1:PORT/<db>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Database administration through this cluster's psql.
    pub fn server(&self) -> Server {
        Server {
            psql: self.bin.join("psql"),
            url: self.url("postgres"),
        }
    }

    pub fn is_running(&self) -> bool {
        let mut status = self.tool("pg_ctl");
        status.arg("status").arg("-D").arg(&self.data);
        matches!(probe(&mut status), Some((true, _)))
    }

    /// `pg_ctl stop -m fast`.
    pub fn stop(&self) -> Result<()> {
        step(format!(
            "stopping PostgreSQL on 127.0.0.1:{} ({CLUSTER_DIR})",
            self.port
        ));
        let mut stop = self.tool("pg_ctl");
        stop.arg("stop")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "-t", "60", "-s"]);
        capture(&mut stop).map(|_| ())
    }

    fn initdb(&self, root: &Path) -> Result<()> {
        step(format!(
            "creating a PostgreSQL {} cluster in {} (initdb)",
            self.version,
            rel(root, &self.data)
        ));
        let mut initdb = self.tool("initdb");
        initdb
            .arg("-D")
            .arg(&self.data)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8"]);
        if has_c_utf8_locale() {
            initdb.arg("--locale=C.UTF-8");
        } else {
            initdb.arg("--no-locale");
        }
        capture(&mut initdb).map(|_| ())
    }

    /// A server tool, run as the `postgres` user when we are root.
    fn tool(&self, name: &str) -> Command {
        let exe = self.bin.join(name);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        // A directory the postgres user can enter, whatever our working directory is.
        cmd.current_dir(&self.dir);
        cmd
    }

    /// The port in `data/postmaster.pid` (its fourth line), when the server runs.
    fn running_port(&self) -> Option<u16> {
        let pid_file = std::fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }

    fn saved_port(&self) -> Option<u16> {
        std::fs::read_to_string(self.dir.join("port"))
            .ok()?
            .trim()
            .parse()
            .ok()
            .filter(|p| *p != 0)
    }

    fn save_port(&self) -> Result<()> {
        let path = self.dir.join("port");
        if self.saved_port() == Some(self.port) {
            return Ok(());
        }
        std::fs::write(&path, format!("{}\n", self.port))
            .context(|| format!("writing {}", path.display()))
    }
}

/// Where the database comes from: the user's DATABASE_URL, or the private cluster.
pub enum Source {
    Env(String),
    /// The bin directory of the newest installed PostgreSQL server.
    Private(PathBuf),
}

impl Source {
    /// DATABASE_URL when set; otherwise makes sure the PostgreSQL server is installed.
    pub fn detect() -> Result<Source> {
        match env_var("DATABASE_URL") {
            Some(url) => Ok(Source::Env(url)),
            None => Ok(Source::Private(install::postgres()?)),
        }
    }

    /// Connects. With a `database`, returns its URL too: on the private cluster it is created
    /// when missing; a user's DATABASE_URL is used as it is. The guard stops the cluster if
    /// this call started it.
    pub fn connect(
        self,
        root: &Path,
        tuning: Tuning,
        guard: &mut Guard,
        database: Option<&str>,
    ) -> Result<(String, Server)> {
        match self {
            Source::Env(url) => {
                step("using DATABASE_URL from the environment (no private PostgreSQL)");
                let server = Server::from_url(&url)?;
                Ok((url, server))
            }
            Source::Private(bin) => {
                let cluster = Cluster::start(root, &bin, tuning)?;
                let server = cluster.server();
                let url = match database {
                    Some(name) => {
                        let url = cluster.url(name);
                        guard.0 = Some(cluster);
                        if server.ensure_database(name)? {
                            step(format!("created the database {name}"));
                        } else {
                            step(format!("database {name} … already exists"));
                        }
                        url
                    }
                    None => {
                        let url = cluster.url("postgres");
                        guard.0 = Some(cluster);
                        url
                    }
                };
                Ok((url, server))
            }
        }
    }
}

/// Stops a cluster this command started, also when the command fails.
#[derive(Default)]
pub struct Guard(pub Option<Cluster>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(cluster) = self.0.take()
            && cluster.started_here
            && let Err(e) = cluster.stop()
        {
            eprintln!("xtask: error: stopping PostgreSQL: {e}");
        }
    }
}

/// The server binaries of the version that created `data`.
fn bin_for_existing(data: &Path) -> Result<(String, PathBuf)> {
    let version = std::fs::read_to_string(data.join("PG_VERSION"))
        .context(|| format!("reading {}", data.join("PG_VERSION").display()))?
        .trim()
        .to_string();
    let bin = Path::new(PG_LIB).join(&version).join("bin");
    if !bin.join("pg_ctl").is_file() {
        bail!(
            "the private cluster in {CLUSTER_DIR} was created by PostgreSQL {version}, whose binaries ({}) are not installed; install postgresql-{version}, or delete {CLUSTER_DIR} to start afresh (its data is lost)",
            bin.display()
        );
    }
    Ok((version, bin))
}

/// As root: make `dir` belong to the postgres user, who must also be able to reach it.
fn give_to_postgres(dir: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let uid = capture(Command::new("id").args(["-u", "postgres"]))
        .map_err(|_| crate::util::Error("running as root, but there is no `postgres` user to run PostgreSQL as (it comes with the `postgresql` package)".into()))?;
    let uid: u32 = uid.trim().parse().unwrap_or(u32::MAX);
    let owner = std::fs::metadata(dir)
        .context(|| format!("reading {}", dir.display()))?
        .uid();
    if owner != uid {
        capture(
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir),
        )?;
    }
    let reachable = probe(
        Command::new("runuser")
            .args(["-u", "postgres", "--", "test", "-w"])
            .arg(dir)
            .current_dir("/"),
    );
    match reachable {
        Some((true, _)) => Ok(()),
        None => bail!(
            "`runuser` was not found (package util-linux); it runs PostgreSQL as the postgres user"
        ),
        Some(_) => bail!(
            "the postgres user cannot reach {}: make every directory above it traversable (chmod o+x), or set DATABASE_URL to a PostgreSQL you run",
            dir.display()
        ),
    }
}

fn has_c_utf8_locale() -> bool {
    match probe(Command::new("locale").arg("-a")) {
        Some((true, out)) => out.lines().any(|l| {
            let l = l.trim().to_ascii_lowercase();
            l == "c.utf8" || l == "c.utf-8"
        }),
        _ => false,
    }
}

/// A PostgreSQL server reached through `psql` and a connection URL.
pub struct Server {
    psql: PathBuf,
    /// A URL of an existing database on the server, used for administration.
    url: String,
}

impl Server {
    /// The server behind a user-supplied DATABASE_URL.
    pub fn from_url(url: &str) -> Result<Server> {
        Ok(Server {
            psql: find_psql()?,
            url: url.to_string(),
        })
    }

    /// The same server and credentials, another database.
    pub fn url_for(&self, database: &str) -> String {
        with_database(&self.url, database)
    }

    fn psql(&self, url: &str) -> Command {
        let mut cmd = command(&self.psql, Path::new("/"));
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
            .arg(format!("--dbname={url}"))
            .env("PGCONNECT_TIMEOUT", "10");
        cmd
    }

    /// Runs SQL on the administration database; returns unaligned, tuples-only output.
    pub fn query(&self, sql: &str) -> Result<String> {
        capture(self.psql(&self.url).args(["-t", "-A", "-c", sql]))
    }

    /// Runs an SQL file on `database`.
    pub fn run_file(&self, database: &str, file: &Path) -> Result<()> {
        capture(self.psql(&self.url_for(database)).arg("-f").arg(file)).map(|_| ())
    }

    /// Runs SQL on `database`.
    pub fn run_sql(&self, database: &str, sql: &str) -> Result<()> {
        capture(self.psql(&self.url_for(database)).args(["-c", sql])).map(|_| ())
    }

    pub fn database_exists(&self, name: &str) -> Result<bool> {
        let out = self.query(&format!(
            "SELECT 1 FROM pg_database WHERE datname = {}",
            quote_literal(name)
        ))?;
        Ok(out.trim() == "1")
    }

    /// Creates `name` unless it exists; returns whether it was created.
    pub fn ensure_database(&self, name: &str) -> Result<bool> {
        if self.database_exists(name)? {
            return Ok(false);
        }
        self.create_database(name)?;
        Ok(true)
    }

    pub fn create_database(&self, name: &str) -> Result<()> {
        self.query(&format!("CREATE DATABASE {}", quote_ident(name)))
            .map(|_| ())
    }

    /// Drops `name` (disconnecting its sessions) if it exists.
    pub fn drop_database(&self, name: &str) -> Result<()> {
        self.query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(name)
        ))
        .map(|_| ())
    }
}

/// psql from the newest server install, else from PATH.
fn find_psql() -> Result<PathBuf> {
    if let Some(psql) = bin_dirs()
        .into_iter()
        .rev()
        .map(|(_, bin)| bin.join("psql"))
        .find(|p| p.is_file())
    {
        return Ok(psql);
    }
    if probe(Command::new("psql").arg("--version")).is_some() {
        return Ok(PathBuf::from("psql"));
    }
    bail!("`psql` was not found: install the package `postgresql-client`")
}

/// Replaces the database (path) of a `postgres://` URL, keeping credentials and parameters.
pub fn with_database(url: &str, database: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let path_start = url[authority_start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| authority_start + i);
    let query_start = url[path_start..]
        .find('?')
        .map_or(url.len(), |i| path_start + i);
    format!("{}/{database}{}", &url[..path_start], &url[query_start..])
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_the_database_of_a_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/faultline_test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database(
                "postgres://u:p%2F@db.example:5432/app?sslmode=require",
                "e2e"
            ),
            "postgres://u:p%2F@db.example:5432/e2e?sslmode=require"
        );
        assert_eq!(
            with_database("postgres://localhost", "d"),
            "postgres://localhost/d"
        );
        assert_eq!(
            with_database("postgresql://localhost?sslmode=disable", "d"),
            "postgresql://localhost/d?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h/", "d"), "postgres://h/d");
    }

    #[test]
    fn quotes_sql() {
        assert_eq!(quote_ident("faultline_e2e_1"), "\"faultline_e2e_1\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
