//! A Faultline server started on a scratch database (end-to-end tests, benchmark): the guard
//! that stops it and drops the database on every path out, and the wait for `/ready`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

use crate::bail;
use crate::pg::Server;
use crate::util::{Result, describe_status, http_status, interrupted, tail, terminate};

/// How long a fresh server may take to answer `/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The server (once started) and its scratch database, cleaned up when dropped.
pub struct ServedDatabase<'a> {
    pub db: &'a Server,
    pub database: String,
    pub server: Option<Child>,
    /// What the database is for, in error messages ("e2e", "benchmark").
    pub purpose: &'static str,
}

impl Drop for ServedDatabase<'_> {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            terminate(&mut server, Duration::from_secs(10));
        }
        if let Err(e) = self.db.drop_database(&self.database) {
            eprintln!(
                "xtask: error: dropping the {} database {}: {e}",
                self.purpose, self.database
            );
        }
    }
}

/// Polls `GET /ready` until it answers 200; shows the tail of `log` when the server dies or
/// never gets ready.
pub fn wait_ready(addr: SocketAddr, server: &mut Child, log: &Path) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = server.try_wait() {
            bail!(
                "the server exited before it was ready ({}):\n--- {} ---\n{}\n---",
                describe_status(status),
                log.display(),
                tail(log, 60)
            );
        }
        if http_status(addr, "/ready") == Some(200) {
            return Ok(());
        }
        if interrupted() {
            bail!("interrupted");
        }
        if Instant::now() > deadline {
            bail!(
                "the server did not answer GET /ready with 200 within {} s:\n--- {} ---\n{}\n---",
                READY_TIMEOUT.as_secs(),
                log.display(),
                tail(log, 60)
            );
        }
        thread::sleep(Duration::from_millis(250));
    }
}
