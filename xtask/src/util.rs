//! Small std-only helpers: errors, progress lines, running commands, signals, ports and files.

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::thread;
use std::time::Duration;

/// A failure with a message meant for people.
#[derive(Debug)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Returns early with an [`Error`] built like `format!`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::util::Error(format!($($arg)*)))
    };
}

/// Adds what was being done to an I/O error.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error(format!("{}: {e}", what())))
    }
}

static PROGRESS_TO_STDERR: AtomicBool = AtomicBool::new(false);

/// Sends progress lines to standard error (so standard output carries only a result).
pub fn progress_to_stderr() {
    PROGRESS_TO_STDERR.store(true, Ordering::Relaxed);
}

/// Prints one `xtask:` progress line.
pub fn step(msg: impl fmt::Display) {
    if PROGRESS_TO_STDERR.load(Ordering::Relaxed) {
        let _ = writeln!(io::stderr(), "xtask: {msg}");
    } else {
        say(format_args!("xtask: {msg}"));
    }
}

/// Prints a line on standard output, ignoring a closed pipe (`cargo xtask … | head`).
pub fn say(line: impl fmt::Display) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The workspace root: the parent of xtask's manifest directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// Cargo's target directory (honours CARGO_TARGET_DIR).
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// A path shown relative to the workspace root when it lies inside it.
pub fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A non-empty environment variable.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

// ---------------------------------------------------------------------------------------------
// Signals (no crates: the C library is linked anyway).

const SIGINT: i32 = 2;
const SIGKILL: i32 = 9;
const SIGTERM: i32 = 15;

unsafe extern "C" {
    fn signal(sig: i32, handler: extern "C" fn(i32)) -> usize;
    safe fn kill(pid: i32, sig: i32) -> i32;
    safe fn geteuid() -> u32;
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static FOREGROUND_CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: i32) {
    INTERRUPTED.store(true, Ordering::SeqCst);
    let pid = FOREGROUND_CHILD.load(Ordering::SeqCst);
    if pid > 0 {
        kill(pid, sig);
    }
}

/// Keeps xtask alive on Ctrl-C / SIGTERM so it can clean up (stop PostgreSQL, the test
/// server, drop scratch databases). A handler, unlike SIG_IGN, is reset to the default in
/// children on exec, so every child still gets the terminal's Ctrl-C; SIGTERM (and a SIGINT
/// sent to xtask alone) is forwarded to the child xtask is waiting for.
pub fn install_signal_handlers() {
    // SAFETY: `on_signal` only touches atomics and calls kill(2), both async-signal-safe.
    unsafe {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
    }
}

/// Whether Ctrl-C or SIGTERM arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

pub fn is_root() -> bool {
    geteuid() == 0
}

/// Asks a child to stop (SIGTERM), then kills it after `grace`.
pub fn terminate(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    if let Ok(pid) = i32::try_from(child.id()) {
        kill(pid, SIGTERM);
    }
    let polls = grace.as_millis() / 100;
    for _ in 0..polls.max(1) {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        thread::sleep(Duration::from_millis(100));
    }
    if let Ok(pid) = i32::try_from(child.id()) {
        kill(pid, SIGKILL);
    }
    child.wait().ok()
}

// ---------------------------------------------------------------------------------------------
// Commands.

/// `program arg arg…` for messages.
pub fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| {
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(' ') {
            format!("'{a}'")
        } else {
            a.into_owned()
        }
    }));
    parts.join(" ")
}

fn spawn_error(cmd: &Command, e: io::Error) -> Error {
    let program = cmd.get_program().to_string_lossy();
    if e.kind() == io::ErrorKind::NotFound {
        Error(format!(
            "`{program}` was not found (is it installed and on PATH?)"
        ))
    } else {
        Error(format!("could not start `{}`: {e}", describe(cmd)))
    }
}

/// Spawns a command.
pub fn spawn(cmd: &mut Command) -> Result<Child> {
    cmd.spawn().map_err(|e| spawn_error(cmd, e))
}

/// Waits for a child, forwarding SIGTERM (and a SIGINT sent to xtask alone) to it.
pub fn wait_foreground(child: &mut Child) -> Result<ExitStatus> {
    let pid = i32::try_from(child.id()).unwrap_or(0);
    FOREGROUND_CHILD.store(pid, Ordering::SeqCst);
    let status = child.wait();
    FOREGROUND_CHILD.store(0, Ordering::SeqCst);
    status.context(|| "waiting for a child process".to_string())
}

/// Runs a command with inherited stdio and returns its exit status.
pub fn status(cmd: &mut Command) -> Result<ExitStatus> {
    let mut child = spawn(cmd)?;
    wait_foreground(&mut child)
}

/// "exit code 3" / "killed by signal 9".
pub fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}

/// The exit code a shell would report.
pub fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(sig)) => u8::try_from(128 + (sig & 0x7f)).unwrap_or(1),
        _ => 1,
    }
}

/// Runs a command with inherited stdio; fails unless it exits 0.
pub fn check(cmd: &mut Command) -> Result<()> {
    let status = status(cmd)?;
    if !status.success() {
        if interrupted() {
            bail!("interrupted (`{}`)", describe(cmd));
        }
        bail!("`{}` failed ({})", describe(cmd), describe_status(status));
    }
    Ok(())
}

/// Runs a command capturing stdout and stderr. `None` when it cannot be started at all.
pub fn probe(cmd: &mut Command) -> Option<(bool, String)> {
    let out = cmd.stdin(Stdio::null()).output().ok()?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Some((out.status.success(), text))
}

/// Runs a command capturing its output; fails (showing that output) unless it exits 0.
/// Returns standard output.
pub fn capture(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error(cmd, e))?;
    if !out.status.success() {
        if interrupted() {
            bail!("interrupted (`{}`)", describe(cmd));
        }
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        bail!(
            "`{}` failed ({}):\n{}",
            describe(cmd),
            describe_status(out.status),
            text.trim_end()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a command, streaming its stdout/stderr to ours while keeping a copy of both.
pub fn tee(cmd: &mut Command) -> Result<(ExitStatus, String)> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = spawn(cmd)?;
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let out_thread = thread::spawn(move || copy_lines(stdout, false));
    let err_thread = thread::spawn(move || copy_lines(stderr, true));
    let status = wait_foreground(&mut child)?;
    let mut text = out_thread.join().unwrap_or_default();
    text.push_str(&err_thread.join().unwrap_or_default());
    Ok((status, text))
}

fn copy_lines(from: impl Read, to_stderr: bool) -> String {
    let mut reader = BufReader::new(from);
    let mut all = String::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if to_stderr {
                    let _ = io::stderr().write_all(&line);
                } else {
                    let mut out = io::stdout().lock();
                    let _ = out.write_all(&line);
                    let _ = out.flush();
                }
                all.push_str(&String::from_utf8_lossy(&line));
            }
        }
    }
    all
}

/// A `Command` for `program`, run from `dir`.
pub fn command(program: impl AsRef<OsStr>, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir);
    cmd
}

// ---------------------------------------------------------------------------------------------
// Network.

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").context(|| "binding 127.0.0.1:0".to_string())?;
    let port = listener
        .local_addr()
        .context(|| "reading a bound address".to_string())?
        .port();
    Ok(port)
}

/// Whether something could listen on `addr` now.
pub fn addr_free(addr: SocketAddr) -> bool {
    TcpListener::bind(addr).is_ok()
}

/// The status code of `GET path` (HTTP/1.1, no body handling), or `None` when nothing answers.
pub fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .ok()?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: */*\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status_line(&String::from_utf8_lossy(&head))
}

fn parse_status_line(head: &str) -> Option<u16> {
    let line = head.lines().next()?;
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// Text and files.

/// The last `n` lines of a file (empty when unreadable).
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Removes ANSI escape sequences (colours, cursor moves).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('[') => {
                chars.next();
                // CSI: parameters and intermediates, then one final byte in @..~
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                // OSC: until BEL or ESC \
                chars.next();
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' {
                        chars.next();
                        break;
                    }
                }
            }
            Some(_) => {
                chars.next();
            }
            None => {}
        }
    }
    out
}

/// Sets a file's modification time to now, so cargo recompiles its crate.
pub fn touch(path: &Path) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .context(|| format!("opening {}", path.display()))?;
    file.set_modified(std::time::SystemTime::now())
        .context(|| format!("touching {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_colours() {
        assert_eq!(
            strip_ansi("\u{1b}[32m  3 passed\u{1b}[39m (1s)"),
            "  3 passed (1s)"
        );
        assert_eq!(strip_ansi("a\u{1b}[2K\u{1b}[1Gb"), "ab");
        assert_eq!(strip_ansi("plain ✓ text"), "plain ✓ text");
    }

    #[test]
    fn parses_status_lines() {
        assert_eq!(
            parse_status_line("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n"),
            Some(200)
        );
        assert_eq!(
            parse_status_line("HTTP/1.1 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(parse_status_line("garbage"), None);
        assert_eq!(parse_status_line(""), None);
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(9)), 137);
    }
}
