//! Grouping: message normalization, stack-trace parsing and the default
//! fingerprint that decides which events belong to the same issue.

use std::borrow::Cow;
use std::net::Ipv6Addr;
use std::sync::LazyLock;

use regex::{Captures, NoExpand, Regex};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How many frames of the stack take part in the default fingerprint.
const FINGERPRINT_FRAMES: usize = 5;

fn regex(pattern: &str) -> Regex {
    super::hot_regex(pattern)
}

// ---------------------------------------------------------------------------
// Message normalization
// ---------------------------------------------------------------------------

static TEMP_PATH: LazyLock<Regex> = LazyLock::new(|| {
    regex(concat!(
        r#"(?:/private)?/(?:tmp|var/tmp|var/folders)/[^\s'"<>|,;:)\]}]*"#,
        r#"|(?i:[A-Z]:\\Users\\[^\\\s'"]+\\AppData\\Local\\Temp)\\[^\s'"<>|,;:)\]}]*"#,
    ))
});
static UUID: LazyLock<Regex> =
    LazyLock::new(|| regex(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"));
static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    let mon = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
    let day = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
    let time = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?";
    let zone = r"(?:Z|\s?(?:UTC|GMT)|\s?[+-]\d{2}:?\d{2})?";
    regex(
        &[
            // RFC 2822 / HTTP date: Tue, 15 Jan 2024 10:20:30 GMT
            format!(r"{day},?\s+\d{{1,2}}\s+{mon}\s+\d{{4}}\s+{time}(?:\s+(?:[+-]\d{{4}}|[A-Z]{{2,5}}))?"),
            // Common Log Format: 15/Jan/2024:10:20:30 +0000
            format!(r"\d{{1,2}}/{mon}/\d{{4}}:\d{{2}}:\d{{2}}:\d{{2}}(?:\s+[+-]\d{{4}})?"),
            // syslog / ctime: Jan 15 10:20:30, Mon Jan 15 10:20:30 2024
            format!(r"(?:{day}\s+)?{mon}\s+\d{{1,2}}\s+{time}(?:\s+\d{{4}})?"),
            // ISO 8601 / RFC 3339 and Go/Python log dates: 2024-01-15T10:20:30.123Z, 2024/01/15 10:20:30
            format!(r"\d{{4}}[-/]\d{{2}}[-/]\d{{2}}(?:[T\s]{time}{zone})?"),
            // Bare time of day (seconds required, so ports and ratios survive).
            format!(r"\d{{1,2}}:\d{{2}}:\d{{2}}(?:[.,]\d+)?{zone}"),
        ]
        .join("|"),
    )
});
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
});
static BRACKETED_IPV6: LazyLock<Regex> =
    LazyLock::new(|| regex(r"\[(?P<addr>[0-9A-Fa-f:.]+)(?:%[\w.\-]+)?\](?::\d{1,5})?"));
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?")
});
static IPV4: LazyLock<Regex> = LazyLock::new(|| regex(r"(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?"));
static HOST_PORT: LazyLock<Regex> =
    LazyLock::new(|| regex(r"[A-Za-z][A-Za-z0-9\-]*(?:\.[A-Za-z0-9\-]+)*:\d{1,5}"));
static HEX: LazyLock<Regex> = LazyLock::new(|| regex(r"0[xX][0-9a-fA-F]+|[0-9a-fA-F]{8,}"));
static NUMBER: LazyLock<Regex> = LazyLock::new(|| regex(r"\d+(?:\.\d+)*"));

/// Replaces the volatile parts of a message with placeholders so that
/// occurrences differing only in ids, times or addresses group together:
/// temp paths `<tmp>`, UUIDs `<uuid>`, timestamps `<ts>`, emails `<email>`,
/// IPs (with port) `<ip>`, `host:<port>`, hex ids `<hex>`, quoted values
/// `<str>`, remaining numbers `<n>`; then whitespace is collapsed.
pub fn normalize_message(msg: &str) -> String {
    normalize_with(msg, false)
}

/// Which replacement passes can change a text. Each flag is a test (on ASCII text; other text
/// takes every pass) of a few neighbouring characters that every match of its pattern holds,
/// so a pass whose flag is off would change nothing. [`normalize_with`] tests the text again
/// after each pass that changed it. Most messages skip most passes (this runs on every event).
#[derive(Default)]
struct Passes {
    temp_path: bool,
    uuid: bool,
    timestamp: bool,
    email: bool,
    bracketed_ipv6: bool,
    ipv6: bool,
    ipv4: bool,
    host_port: bool,
    hex: bool,
    digits: bool,
    quoted: bool,
}

impl Passes {
    /// Every pass.
    fn all() -> Passes {
        Passes {
            temp_path: true,
            uuid: true,
            timestamp: true,
            email: true,
            bracketed_ipv6: true,
            ipv6: true,
            ipv4: true,
            host_port: true,
            hex: true,
            digits: true,
            quoted: true,
        }
    }

    fn needed_for(text: &str) -> Passes {
        // `\d` also matches digits outside ASCII: such text takes every pass.
        if !text.is_ascii() {
            return Passes::all();
        }
        let b = text.as_bytes();
        let at = |i: usize| b.get(i).copied().unwrap_or(0);
        let digit = |i: usize| at(i).is_ascii_digit();
        let mut run = Passes::default();
        // Hex digits in a row before `i`, and (when only hex digits came since) since a `:`
        // (`usize::MAX`: not so).
        let (mut hex_run, mut since_colon) = (0, usize::MAX);
        for (i, &c) in b.iter().enumerate() {
            match CHAR_CLASS[usize::from(c)] {
                PLAIN => {
                    hex_run = 0;
                    since_colon = usize::MAX;
                    continue;
                }
                HEX_LETTER => {}
                DIGIT => {
                    let next = at(i + 1);
                    run.digits = true;
                    // Every timestamp form has `1:23` (a time) or `2024-01`, `2024/01` (a date).
                    run.timestamp |= (next == b':' && digit(i + 2) && digit(i + 3))
                        || (hex_run >= 3
                            && b[i - 3..i].iter().all(u8::is_ascii_digit)
                            && matches!(next, b'-' | b'/')
                            && digit(i + 2)
                            && digit(i + 3));
                    run.ipv4 |= next == b'.' && digit(i + 2);
                    run.hex |= c == b'0' && matches!(next, b'x' | b'X');
                }
                _ => {
                    match c {
                        b':' => {
                            // `host:1` (a host name ends in a letter, digit or `-`).
                            run.host_port |= digit(i + 1)
                                && i > 0
                                && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'-');
                            // Two `:` with at most four hex digits between them.
                            run.ipv6 |= since_colon <= 4;
                        }
                        // The end of a UUID's first eight hex digits.
                        b'-' => run.uuid |= hex_run >= 8,
                        b'/' => {
                            run.temp_path |=
                                b[i..].starts_with(b"/tmp/") || b[i..].starts_with(b"/var/");
                        }
                        b'\\' => run.temp_path = true,
                        b'@' => run.email = true,
                        b'[' => run.bracketed_ipv6 = true,
                        b'\'' | b'"' => run.quoted = true,
                        _ => {}
                    }
                    hex_run = 0;
                    since_colon = if c == b':' { 0 } else { usize::MAX };
                    continue;
                }
            }
            hex_run += 1;
            run.hex |= hex_run >= 8;
            since_colon = since_colon.saturating_add(1);
        }
        // An IPv6 address is only replaced when it holds a digit.
        run.ipv6 &= run.digits;
        run
    }
}

/// Classes of [`Passes::needed_for`]: characters no pass looks at, hex letters, digits, the rest.
const PLAIN: u8 = 0;
const HEX_LETTER: u8 = 1;
const DIGIT: u8 = 2;
const PUNCTUATION: u8 = 3;

static CHAR_CLASS: [u8; 256] = {
    let mut class = [PUNCTUATION; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        class[c] = if b.is_ascii_digit() {
            DIGIT
        } else if b.is_ascii_hexdigit() {
            HEX_LETTER
        } else if b.is_ascii_alphabetic() || b == b' ' {
            PLAIN
        } else {
            PUNCTUATION
        };
        c += 1;
    }
    class
};

/// [`normalize_message`]: the passes a text needs (see [`Passes`]), or all of them.
fn normalize_with(msg: &str, every_pass: bool) -> String {
    let needed = |t: &str| {
        if every_pass {
            Passes::all()
        } else {
            Passes::needed_for(t)
        }
    };
    let mut s = Cow::Borrowed(msg);
    let mut run = needed(msg);
    let mut pass = |wanted: fn(&Passes) -> bool, replace: &dyn Fn(&str) -> Option<String>| {
        if wanted(&run)
            && let Some(changed) = replace(&s)
        {
            run = needed(&changed);
            s = Cow::Owned(changed);
        }
    };
    pass(|r| r.temp_path, &|t| {
        replace_standalone(t, &TEMP_PATH, is_path_char, |_| Some("<tmp>".into()))
    });
    pass(|r| r.uuid, &|t| {
        replace_standalone(t, &UUID, is_alnum, |_| Some("<uuid>".into()))
    });
    pass(|r| r.timestamp, &|t| {
        replace_standalone(t, &TIMESTAMP, is_alnum, |_| Some("<ts>".into()))
    });
    pass(|r| r.email, &|t| changed(EMAIL.replace_all(t, "<email>")));
    pass(|r| r.bracketed_ipv6, &|t| {
        changed(BRACKETED_IPV6.replace_all(t, |caps: &Captures| {
            let addr = caps.name("addr").map_or("", |m| m.as_str());
            match addr.parse::<Ipv6Addr>() {
                Ok(_) => "<ip>".to_owned(),
                Err(_) => caps.get(0).map_or("", |m| m.as_str()).to_owned(),
            }
        }))
    });
    // Requiring a digit keeps Rust paths such as `a::b` (valid IPv6!) intact.
    pass(|r| r.ipv6, &|t| {
        replace_standalone(t, &IPV6, is_ip_char, |m| {
            (m.bytes().any(|b| b.is_ascii_digit()) && m.parse::<Ipv6Addr>().is_ok())
                .then(|| "<ip>".into())
        })
    });
    pass(|r| r.ipv4, &|t| {
        replace_standalone(t, &IPV4, is_ip_char, |_| Some("<ip>".into()))
    });
    pass(|r| r.host_port, &|t| {
        replace_standalone(t, &HOST_PORT, is_host_char, |m| {
            m.rsplit_once(':').map(|(host, _)| format!("{host}:<port>"))
        })
    });
    pass(|r| r.hex, &|t| {
        replace_standalone(t, &HEX, is_alnum, |m| {
            let is_hex_id = m.starts_with("0x")
                || m.starts_with("0X")
                || (m.bytes().any(|b| b.is_ascii_digit())
                    && m.bytes().any(|b| b.is_ascii_alphabetic()));
            is_hex_id.then(|| "<hex>".into())
        })
    });
    pass(|r| r.quoted, &replace_quoted);
    pass(|r| r.digits, &|t| {
        if t.is_ascii() {
            replace_ascii_numbers(t)
        } else {
            changed(NUMBER.replace_all(t, "<n>"))
        }
    });
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// [`NUMBER`]'s replacement by hand, for ASCII text (where `\d` is `[0-9]`): a run of digits
/// with any `.digits` after it becomes `<n>`. `None` when there was none.
fn replace_ascii_numbers(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let mut out = String::new();
    let (mut last, mut i) = (0, 0);
    while i < b.len() {
        if !digit(i) {
            i += 1;
            continue;
        }
        let start = i;
        while digit(i) || (b.get(i) == Some(&b'.') && digit(i + 1)) {
            i += 1;
        }
        out.reserve(text.len());
        out.push_str(&text[last..start]);
        out.push_str("<n>");
        last = i;
    }
    (last > 0).then(|| {
        out.push_str(&text[last..]);
        out
    })
}

/// The new text when a replacement changed something.
fn changed(text: Cow<'_, str>) -> Option<String> {
    match text {
        Cow::Borrowed(_) => None,
        Cow::Owned(t) => Some(t),
    }
}

fn is_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '\\' | '.' | '_' | '-')
}

fn is_ip_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | ':')
}

fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}

/// Replaces matches of `re` that are not glued to neighbouring characters
/// (as judged by `glue`) with whatever `replace` returns; `None` keeps the
/// match. Stands in for the look-around the `regex` crate lacks. `None` when
/// nothing was replaced.
fn replace_standalone(
    text: &str,
    re: &Regex,
    glue: fn(char) -> bool,
    replace: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let mut out = String::new();
    let mut replaced = false;
    let mut last = 0;
    for m in re.find_iter(text) {
        let glued_before = text[..m.start()].chars().next_back().is_some_and(glue);
        let glued_after = text[m.end()..].chars().next().is_some_and(glue);
        if glued_before || glued_after {
            continue;
        }
        if let Some(replacement) = replace(m.as_str()) {
            out.reserve(text.len());
            out.push_str(&text[last..m.start()]);
            out.push_str(&replacement);
            last = m.end();
            replaced = true;
        }
    }
    replaced.then(|| {
        out.push_str(&text[last..]);
        out
    })
}

/// Replaces `'…'` and `"…"` spans on one line with `<str>`. A quote only
/// opens after a non-alphanumeric character and only closes before one, so
/// apostrophes ("can't", "user's") are not mistaken for quotes. `None` when
/// there was none.
fn replace_quoted(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let is_word = |i: usize| chars.get(i).is_some_and(|c| c.is_alphanumeric());
    // Positions that can close a quote, per quote kind, in increasing order.
    let closers = |q: char| -> Vec<usize> {
        (0..chars.len())
            .filter(|&j| chars[j] == q && !is_word(j + 1))
            .collect()
    };
    let (single, double) = (closers('\''), closers('"'));
    let mut out = String::with_capacity(text.len());
    let mut replaced = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let opens = matches!(c, '\'' | '"') && (i == 0 || !is_word(i - 1));
        if opens {
            let candidates = if c == '\'' { &single } else { &double };
            let next = candidates.get(candidates.partition_point(|&j| j <= i));
            if let Some(&end) = next
                && !chars[i + 1..end].contains(&'\n')
            {
                out.push_str("<str>");
                replaced = true;
                i = end + 1;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    replaced.then_some(out)
}

// ---------------------------------------------------------------------------
// Stack traces
// ---------------------------------------------------------------------------

/// One stack frame, reduced to what is stable across releases: no file line
/// numbers, addresses or build hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// Module, class or file (without extension) the function lives in.
    pub module: String,
    /// Function or method name.
    pub function: String,
    /// False for standard library, runtime and third-party frames.
    pub in_app: bool,
}

static PY_FRAME: LazyLock<Regex> =
    LazyLock::new(|| regex(r#"^\s*File "(?P<path>[^"]+)", line \d+(?:, in (?P<func>\S+))?"#));
static JAVA_FRAME: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^\s*at\s+(?P<sym>[^\s()]+)\((?P<loc>[^()]*)\)\s*$"));
static JS_FRAME: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^\s*at\s+(?:async\s+)?(?P<func>.+?)\s+\((?P<loc>.*)\)\s*$"));
static JS_BARE_FRAME: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^\s*at\s+(?:async\s+)?(?P<loc>[^\s()]+)\s*$"));
static RUST_FRAME: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^\s*\d+:\s+(?:0x[0-9a-fA-F]+\s+-\s+)?(?P<sym>\S.*?)\s*$"));
static RUST_LOCATION: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^\s*at\s+\S+\.rs:\d+(?::\d+)?\s*$"));
static GO_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"^(?P<pkg>(?:[\w.\-]+/)*[\w\-]+)\.(?P<func>(?:\(\*?[^\s()]+\)\.)?[^\s()]+)\(.*\)\s*$")
});
static GO_LOCATION: LazyLock<Regex> = LazyLock::new(|| regex(r"^\s+(?P<path>\S+\.go):\d+"));
static LINE_COL: LazyLock<Regex> = LazyLock::new(|| regex(r"(?::\d+){1,2}$"));
static LIBRARY_PATH: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?:site-packages|dist-packages|node_modules|lib/python\d[\d.]*)/"));
static RUST_NOISE: LazyLock<Regex> =
    LazyLock::new(|| regex(r"::h[0-9a-f]{16}$|::\{\{[^}]*\}\}|::\{[^}]*\}"));
static JAVA_LAMBDA: LazyLock<Regex> =
    LazyLock::new(|| regex(r"\$\$Lambda(?:\$\d+)?(?:/0x[0-9a-fA-F]+)?"));
static JAVA_INDEX_SUFFIX: LazyLock<Regex> = LazyLock::new(|| regex(r"\$\d+$"));

/// Top-level Rust crates whose frames are never the application's.
const RUST_LIBRARY_CRATES: &[&str] = &["std", "core", "alloc", "tokio", "backtrace"];
/// JVM package prefixes whose frames are never the application's.
const JAVA_LIBRARY_PREFIXES: &[&str] = &["java.", "javax.", "jdk.", "sun.", "com.sun.", "kotlin."];
/// Go file locations of the standard library (GOROOT) and module cache.
const GO_LIBRARY_PATHS: &[&str] = &[
    "/usr/local/go/src/",
    "/usr/lib/go",
    "/libexec/src/",
    "/sdk/go",
    "/pkg/mod/",
];

/// Parses Python, JavaScript (Node), Rust, Java and Go stack traces, best
/// effort, into frames ordered innermost (crash site) first — Python
/// tracebacks, printed outermost first, are reversed. Unknown lines are skipped.
pub fn parse_stack(trace: &str) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut python = false;
    let mut lines = trace.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(frame) = python_frame(line) {
            python = true;
            frames.push(frame);
        } else if RUST_LOCATION.is_match(line) {
            continue;
        } else if let Some(frame) = java_frame(line)
            .or_else(|| js_frame(line))
            .or_else(|| rust_frame(line))
        {
            frames.push(frame);
        } else if let Some(mut frame) = go_frame(line) {
            if let Some(location) = lines.peek().and_then(|next| GO_LOCATION.captures(next)) {
                let path = location.name("path").map_or("", |m| m.as_str());
                if GO_LIBRARY_PATHS.iter().any(|p| path.contains(p)) {
                    frame.in_app = false;
                }
                lines.next();
            }
            frames.push(frame);
        }
    }
    if python {
        frames.reverse();
    }
    frames
}

/// Each line of a stack trace with whether it belongs to an in-app frame (`Some(true)`), a
/// library frame (`Some(false)`) or neither (`None`), for highlighting. A frame's indented
/// continuation lines (Python's source line, Go's location) share its flag.
pub fn stack_lines(trace: &str) -> Vec<(String, Option<bool>)> {
    let mut current = None;
    trace
        .lines()
        .map(|line| {
            let frame = python_frame(line)
                .or_else(|| java_frame(line))
                .or_else(|| js_frame(line))
                .or_else(|| rust_frame(line))
                .or_else(|| go_frame(line));
            current = match frame {
                Some(f) => Some(f.in_app),
                None if line.starts_with([' ', '\t']) => current,
                None => None,
            };
            (line.to_owned(), current)
        })
        .collect()
}

fn python_frame(line: &str) -> Option<Frame> {
    let caps = PY_FRAME.captures(line)?;
    let path = caps.name("path").map_or("", |m| m.as_str());
    Some(Frame {
        module: module_from_path(path),
        function: caps
            .name("func")
            .map_or("<module>", |m| m.as_str())
            .to_owned(),
        in_app: path_in_app(path),
    })
}

fn java_frame(line: &str) -> Option<Frame> {
    let caps = JAVA_FRAME.captures(line)?;
    let sym = caps.name("sym").map_or("", |m| m.as_str());
    let sym = JAVA_LAMBDA.replace_all(sym, NoExpand("$$Lambda"));
    // Drop a JPMS module or class-loader prefix: `java.base/java.lang.Thread.run`.
    let sym = sym.rsplit('/').next().unwrap_or_default();
    let (module, function) = sym.rsplit_once('.').unwrap_or(("", sym));
    Some(Frame {
        module: module.to_owned(),
        function: JAVA_INDEX_SUFFIX.replace(function, "").into_owned(),
        in_app: !JAVA_LIBRARY_PREFIXES.iter().any(|p| module.starts_with(p)),
    })
}

fn js_frame(line: &str) -> Option<Frame> {
    let (function, location) = if let Some(caps) = JS_FRAME.captures(line) {
        let function = caps.name("func").map_or("", |m| m.as_str());
        // `Layer.handle [as handle_request]` → `Layer.handle`
        let function = function.split(" [as ").next().unwrap_or(function);
        (function, caps.name("loc").map_or("", |m| m.as_str()))
    } else {
        let caps = JS_BARE_FRAME.captures(line)?;
        ("<anonymous>", caps.name("loc").map_or("", |m| m.as_str()))
    };
    let path = LINE_COL.replace(location, "");
    Some(Frame {
        module: module_from_path(&path),
        function: function.to_owned(),
        in_app: path_in_app(&path),
    })
}

fn rust_frame(line: &str) -> Option<Frame> {
    let caps = RUST_FRAME.captures(line)?;
    let sym = RUST_NOISE.replace_all(caps.name("sym").map_or("", |m| m.as_str()), "");
    let (module, function) = split_rust_path(&sym);
    let root = sym
        .trim_start_matches('<')
        .split([':', ' ', '<', '>'])
        .next()
        .unwrap_or_default();
    let in_app = !(sym == "<unknown>"
        || RUST_LIBRARY_CRATES.contains(&root)
        || root.starts_with("__")
        || root.starts_with("rust_begin_unwind"));
    Some(Frame {
        module: module.to_owned(),
        function: function.to_owned(),
        in_app,
    })
}

/// Splits `a::b::c` at the last `::` outside `<…>`: (`a::b`, `c`).
fn split_rust_path(sym: &str) -> (&str, &str) {
    let mut depth = 0usize;
    let mut split = None;
    let mut prev = ' ';
    for (i, c) in sym.char_indices() {
        match c {
            '<' => depth += 1,
            '>' if prev != '-' => depth = depth.saturating_sub(1),
            ':' if depth == 0 && prev == ':' => split = Some(i - 1),
            _ => {}
        }
        prev = c;
    }
    match split {
        Some(i) => (&sym[..i], &sym[i + 2..]),
        None => ("", sym),
    }
}

fn go_frame(line: &str) -> Option<Frame> {
    let caps = GO_FRAME.captures(line)?;
    let module = caps.name("pkg").map_or("", |m| m.as_str());
    Some(Frame {
        module: module.to_owned(),
        function: caps.name("func").map_or("", |m| m.as_str()).to_owned(),
        in_app: module != "runtime" && !module.starts_with("runtime/"),
    })
}

/// Module name for a file path, stable across hosts and releases: below a
/// library root (`site-packages/`, `node_modules/`, …) the whole remaining
/// path, otherwise the last directory and the file; extension dropped.
/// `/app/svc/db.py` → `svc/db`; `…/site-packages/requests/api.py` → `requests/api`.
fn module_from_path(path: &str) -> String {
    let path = path
        .strip_prefix("file://")
        .unwrap_or(path)
        .replace('\\', "/");
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let parts: Vec<&str> = match LIBRARY_PATH.find_iter(path).last() {
        Some(root) => path[root.end()..].split('/').collect(),
        None => {
            let parts: Vec<&str> = path
                .split('/')
                .filter(|p| !p.is_empty() && *p != ".")
                .collect();
            parts[parts.len().saturating_sub(2)..].to_vec()
        }
    };
    let mut parts = parts;
    if let Some(last) = parts.last_mut()
        && let Some((stem, _ext)) = last.rsplit_once('.')
        && !stem.is_empty()
    {
        *last = stem;
    }
    parts.join("/")
}

fn path_in_app(path: &str) -> bool {
    !(LIBRARY_PATH.is_match(path)
        || path.starts_with('<')
        || path.starts_with("node:")
        || path.starts_with("internal/")
        || path.starts_with("index ")
        || path == "native")
}

// ---------------------------------------------------------------------------
// Fingerprints
// ---------------------------------------------------------------------------

/// The default grouping key: lowercase hex SHA-256 of exactly
/// `"{service}\n{error_type}\n{normalize_message(message)}\n{frames}"`, where
/// `service` and `error_type` are trimmed and `{frames}` is
/// `"{module}:{function}"` for the 5 innermost in-app frames (or the 5
/// innermost frames of any kind if none is in-app) joined by `\n` — empty
/// without a stack. Changing any of this regroups every existing issue.
pub fn fingerprint(
    service: &str,
    error_type: &str,
    message: &str,
    stack_trace: Option<&str>,
) -> String {
    let frames = stack_trace.map(stack_signature).unwrap_or_default();
    fingerprint_with_frames(service, error_type, message, &frames)
}

/// The part of a stack trace that identifies a call site: the top in-app frames (all frames
/// when none is in-app) as `module:function` lines. Depends on the trace alone, so the
/// ingest path computes it once per distinct trace.
pub fn stack_signature(stack_trace: &str) -> String {
    let frames = parse_stack(stack_trace);
    let in_app: Vec<&Frame> = frames
        .iter()
        .filter(|f| f.in_app)
        .take(FINGERPRINT_FRAMES)
        .collect();
    let chosen = if in_app.is_empty() {
        frames.iter().take(FINGERPRINT_FRAMES).collect()
    } else {
        in_app
    };
    chosen
        .iter()
        .map(|f| format!("{}:{}", f.module, f.function))
        .collect::<Vec<_>>()
        .join("\n")
}

/// [`fingerprint`] with the trace already reduced by [`stack_signature`].
pub fn fingerprint_with_frames(
    service: &str,
    error_type: &str,
    message: &str,
    frames: &str,
) -> String {
    let mut hash = Sha256::new();
    for part in [
        service.trim(),
        error_type.trim(),
        &normalize_message(message),
    ] {
        hash.update(part);
        hash.update(b"\n");
    }
    hash.update(frames);
    lower_hex(&hash.finalize())
}

/// Applies a client-supplied fingerprint (Sentry semantics): each
/// `{{ default }}` element stands for `default`, and the result is the
/// SHA-256 hex of the elements joined by `\n`. An empty list, or a list that
/// is just `{{ default }}`, yields `default` itself.
pub fn apply_client_fingerprint(parts: &[String], default: &str) -> String {
    match parts {
        [] => default.to_owned(),
        [only] if is_default_placeholder(only) => default.to_owned(),
        _ => {
            let expanded: Vec<&str> = parts
                .iter()
                .map(|p| {
                    if is_default_placeholder(p) {
                        default
                    } else {
                        p.as_str()
                    }
                })
                .collect();
            sha256_hex(&expanded.join("\n"))
        }
    }
}

/// `{{ default }}`, `{{default}}`, `{{  default  }}`.
fn is_default_placeholder(part: &str) -> bool {
    part.trim()
        .strip_prefix("{{")
        .and_then(|rest| rest.strip_suffix("}}"))
        .is_some_and(|inner| inner.trim() == "default")
}

fn sha256_hex(input: &str) -> String {
    lower_hex(&Sha256::digest(input.as_bytes()))
}

/// Lowercase hex digits of `bytes` (what `hex::encode` gives, without its per-character
/// iterator: this runs for every event).
fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PY_TRACE: &str = r#"Traceback (most recent call last):
  File "/app/svc/api.py", line 88, in handle
    user = db.get_user(uid)
  File "/app/svc/db.py", line 42, in get_user
    conn = pool.connect()
  File "/usr/local/lib/python3.12/site-packages/psycopg/pool.py", line 120, in connect
    raise PoolTimeout()
psycopg.PoolTimeout: couldn't get a connection after 30.00 sec"#;

    const JS_TRACE: &str = "TypeError: Cannot read properties of undefined (reading 'id')
    at getUser (/app/src/users.js:14:22)
    at async handler (/app/src/routes/user.js:8:5)
    at /app/src/anon.js:3:4
    at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)
    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)";

    const RUST_TRACE: &str = "thread 'main' panicked at src/db.rs:10:5:
called `Result::unwrap()` on an `Err` value: Refused
stack backtrace:
   0: rust_begin_unwind
             at /rustc/129f3b9964af4d4a709d1383930ade12dfe7c081/library/std/src/panicking.rs:652:5
   1: core::panicking::panic_fmt
   2: core::result::unwrap_failed
   3: myapp::db::connect::h1a2b3c4d5e6f7a8b
             at ./src/db.rs:10:5
   4: myapp::main::{{closure}}
   5: tokio::runtime::park::CachedParkThread::block_on
   6: myapp::main";

    const JAVA_TRACE: &str = "java.lang.IllegalStateException: pool closed
\tat com.acme.db.Pool.connect(Pool.java:42)
\tat com.acme.api.UserController.lambda$get$0(UserController.java:17)
\tat com.acme.api.UserController$$Lambda$14/0x0000000800066840.apply(Unknown Source)
\tat java.base/java.lang.Thread.run(Thread.java:833)
Caused by: java.net.ConnectException: Connection refused
\tat sun.nio.ch.Net.connect0(Native Method)
\t... 3 more";

    const GO_TRACE: &str = "panic: boom

goroutine 1 [running]:
main.(*Server).handle(0xc000010000, {0x1234, 0x5})
\t/app/server.go:42 +0x1f
net/http.HandlerFunc.ServeHTTP(0x0?, {0x7b4e08?, 0xc0000e2000?}, 0x0?)
\t/usr/local/go/src/net/http/server.go:2136 +0x29
main.main()
\t/app/main.go:12 +0x85
runtime.goexit()
\t/usr/local/go/src/runtime/asm_amd64.s:1650 +0x1";

    fn frame(module: &str, function: &str, in_app: bool) -> Frame {
        Frame {
            module: module.to_owned(),
            function: function.to_owned(),
            in_app,
        }
    }

    /// One event's fingerprint inputs.
    struct Event {
        service: String,
        error_type: String,
        message: String,
        trace: Option<String>,
    }

    fn event(service: &str, error_type: &str, message: &str, trace: Option<&str>) -> Event {
        Event {
            service: service.to_owned(),
            error_type: error_type.to_owned(),
            message: message.to_owned(),
            trace: trace.map(str::to_owned),
        }
    }

    fn with_trace(error_type: &str, message: &str, trace: &str) -> Event {
        event("api", error_type, message, Some(trace))
    }

    fn msg(message: &str) -> Event {
        event("api", "Error", message, None)
    }

    fn fp(e: &Event) -> String {
        fingerprint(&e.service, &e.error_type, &e.message, e.trace.as_deref())
    }

    #[test]
    fn fingerprint_groups_volatile_differences_and_splits_real_ones() {
        let py_msg = "couldn't get a connection after 30.00 sec";
        let js_msg = "Cannot read properties of undefined (reading 'id')";
        let six_frames = |last: &str| {
            format!(
                "Error: x\n    at a (/app/a.js:1:1)\n    at b (/app/b.js:1:1)\n    at c (/app/c.js:1:1)\n    at d (/app/d.js:1:1)\n    at e (/app/e.js:1:1)\n    at {last} (/app/f.js:1:1)"
            )
        };
        let lib_only = |line: u32| {
            format!(
                "Error: x\n    at Layer.handle (/app/node_modules/express/lib/layer.js:{line}:5)"
            )
        };
        // (label, a, b, same fingerprint?)
        let cases: Vec<(&str, Event, Event, bool)> = vec![
            // --- volatile parts: must group together ---
            (
                "integers",
                msg("user 42 not found"),
                msg("user 1337 not found"),
                true,
            ),
            (
                "uuids",
                msg("order 550e8400-e29b-41d4-a716-446655440000 failed"),
                msg("order 123e4567-E89B-12D3-A456-426614174000 failed"),
                true,
            ),
            (
                "iso timestamps",
                msg("lease expired at 2024-01-15T10:20:30.123Z"),
                msg("lease expired at 2025-11-02T23:59:59+02:00"),
                true,
            ),
            (
                "log timestamps",
                msg("[15/Jan/2024:10:20:30 +0000] upstream closed, last seen Jan 15 10:20:30"),
                msg("[02/Mar/2025:01:02:03 -0500] upstream closed, last seen Mar  2 01:02:03"),
                true,
            ),
            (
                "http dates",
                msg("cache stale since Tue, 15 Jan 2024 10:20:30 GMT"),
                msg("cache stale since Sun, 2 Mar 2025 01:02:03 GMT"),
                true,
            ),
            (
                "ipv4 with port",
                msg("connect to 10.0.0.1:5432 refused"),
                msg("connect to 192.168.1.20:6432 refused"),
                true,
            ),
            (
                "ipv6",
                msg("dial [2001:db8::1]:443 failed"),
                msg("dial [fe80::1ff:fe23:4567:890a]:8443 failed"),
                true,
            ),
            (
                "bare ipv6",
                msg("peer ::1 reset"),
                msg("peer 2001:db8::7 reset"),
                true,
            ),
            (
                "host ports",
                msg("redis at localhost:6379 refused"),
                msg("redis at localhost:6380 refused"),
                true,
            ),
            (
                "quoted values",
                msg("invalid value 'abc-123' for field"),
                msg("invalid value \"zz top\" for field"),
                true,
            ),
            (
                "temp paths",
                msg("open /tmp/tmpa1b2c3/upload.bin: denied"),
                msg("open /tmp/pytest-7/x/y.bin: denied"),
                true,
            ),
            (
                "windows temp paths",
                msg(r"write C:\Users\bob\AppData\Local\Temp\a1\f.txt failed"),
                msg(r"write C:\Users\alice\AppData\Local\Temp\zz9\g.txt failed"),
                true,
            ),
            (
                "macos temp paths",
                msg("bind /var/folders/zz/abc123/T/s.sock failed"),
                msg("bind /var/folders/q1/x9/T/t.sock failed"),
                true,
            ),
            (
                "emails",
                msg("mail to alice@example.com bounced"),
                msg("mail to bob.smith+x@corp.example.org bounced"),
                true,
            ),
            (
                "pointers",
                msg("object at 0x7f3a2b1c9d00 is invalid"),
                msg("object at 0x55d4c1 is invalid"),
                true,
            ),
            (
                "commit shas",
                msg("build 3f2a9c1e7b4d failed"),
                msg("build a1b2c3d4e5f6a7b8 failed"),
                true,
            ),
            (
                "decimals and units",
                msg("took 1.23s, over 30.5s budget"),
                msg("took 45.6s, over 10s budget"),
                true,
            ),
            (
                "whitespace",
                msg("  disk   quota\n exceeded "),
                msg("disk quota exceeded"),
                true,
            ),
            (
                "service and type trimmed",
                event(" api ", " Error\n", "boom", None),
                event("api", "Error", "boom", None),
                true,
            ),
            (
                "no trace vs empty trace",
                event("api", "Error", "boom", None),
                event("api", "Error", "boom", Some("")),
                true,
            ),
            (
                "python line numbers",
                with_trace("PoolTimeout", py_msg, PY_TRACE),
                with_trace(
                    "PoolTimeout",
                    py_msg,
                    &PY_TRACE
                        .replace("line 42", "line 57")
                        .replace("line 88", "line 91"),
                ),
                true,
            ),
            (
                "python library upgrade",
                with_trace("PoolTimeout", py_msg, PY_TRACE),
                with_trace(
                    "PoolTimeout",
                    py_msg,
                    &PY_TRACE
                        .replace("python3.12", "python3.13")
                        .replace("line 120", "line 133"),
                ),
                true,
            ),
            (
                "js line and column",
                with_trace("TypeError", js_msg, JS_TRACE),
                with_trace(
                    "TypeError",
                    js_msg,
                    &JS_TRACE.replace(":14:22", ":15:3").replace(":8:5", ":9:1"),
                ),
                true,
            ),
            (
                "js release directory",
                with_trace("TypeError", js_msg, JS_TRACE),
                with_trace(
                    "TypeError",
                    js_msg,
                    &JS_TRACE.replace("/app/", "/srv/releases/20240115/"),
                ),
                true,
            ),
            (
                "rust build hash and lines",
                with_trace("panic", "called `Result::unwrap()`", RUST_TRACE),
                with_trace(
                    "panic",
                    "called `Result::unwrap()`",
                    &RUST_TRACE
                        .replace("h1a2b3c4d5e6f7a8b", "h9f8e7d6c5b4a3921")
                        .replace("db.rs:10:5", "db.rs:12:9"),
                ),
                true,
            ),
            (
                "java lines and lambda address",
                with_trace("IllegalStateException", "pool closed", JAVA_TRACE),
                with_trace(
                    "IllegalStateException",
                    "pool closed",
                    &JAVA_TRACE
                        .replace("Pool.java:42", "Pool.java:44")
                        .replace("$14/0x0000000800066840", "$27/0x00000008000a1230"),
                ),
                true,
            ),
            (
                "go offsets, lines and args",
                with_trace("panic", "boom", GO_TRACE),
                with_trace(
                    "panic",
                    "boom",
                    &GO_TRACE
                        .replace("0xc000010000", "0xc0000a2000")
                        .replace(":42 +0x1f", ":47 +0x2b"),
                ),
                true,
            ),
            (
                "beyond the top five frames",
                with_trace("Error", "x", &six_frames("f")),
                with_trace("Error", "x", &six_frames("g")),
                true,
            ),
            (
                "library-only stack lines",
                with_trace("Error", "x", &lib_only(95)),
                with_trace("Error", "x", &lib_only(101)),
                true,
            ),
            // --- real differences: must stay apart ---
            (
                "error types",
                msg("boom"),
                event("api", "TypeError", "boom", None),
                false,
            ),
            (
                "services",
                msg("boom"),
                event("billing", "Error", "boom", None),
                false,
            ),
            (
                "message text",
                msg("user not found"),
                msg("order not found"),
                false,
            ),
            (
                "python call site",
                with_trace("PoolTimeout", py_msg, PY_TRACE),
                with_trace(
                    "PoolTimeout",
                    py_msg,
                    &PY_TRACE.replace(
                        "/app/svc/db.py\", line 42, in get_user",
                        "/app/svc/cache.py\", line 42, in get",
                    ),
                ),
                false,
            ),
            (
                "js call site",
                with_trace("TypeError", js_msg, JS_TRACE),
                with_trace(
                    "TypeError",
                    js_msg,
                    &JS_TRACE.replace(
                        "at getUser (/app/src/users.js",
                        "at getOrder (/app/src/orders.js",
                    ),
                ),
                false,
            ),
            (
                "rust call site",
                with_trace("panic", "called `Result::unwrap()`", RUST_TRACE),
                with_trace(
                    "panic",
                    "called `Result::unwrap()`",
                    &RUST_TRACE.replace("myapp::db::connect", "myapp::db::migrate"),
                ),
                false,
            ),
            (
                "java call site",
                with_trace("IllegalStateException", "pool closed", JAVA_TRACE),
                with_trace(
                    "IllegalStateException",
                    "pool closed",
                    &JAVA_TRACE.replace("com.acme.db.Pool.connect", "com.acme.db.Pool.release"),
                ),
                false,
            ),
            (
                "go call site",
                with_trace("panic", "boom", GO_TRACE),
                with_trace(
                    "panic",
                    "boom",
                    &GO_TRACE.replace("(*Server).handle", "(*Server).serve"),
                ),
                false,
            ),
            (
                "stack vs none",
                with_trace("TypeError", js_msg, JS_TRACE),
                event("api", "TypeError", js_msg, None),
                false,
            ),
        ];
        assert!(cases.len() >= 30);
        let failures: Vec<String> = cases
            .iter()
            .filter(|(_, a, b, same)| (fp(a) == fp(b)) != *same)
            .map(|(label, a, b, same)| {
                format!(
                    "{label}: expected same={same}: {:?} vs {:?}",
                    normalize_message(&a.message),
                    normalize_message(&b.message)
                )
            })
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn fingerprint_input_is_exactly_as_documented() {
        let plain = fingerprint(" api ", "Error", "user 42 not found", None);
        assert_eq!(plain, sha256_hex("api\nError\nuser <n> not found\n"));
        // The documented input, spelled out: trimmed service and type, the
        // normalized message, then the in-app frames innermost first.
        let js_msg = "Cannot read properties of undefined (reading 'id')";
        let with_stack = fingerprint("checkout", "TypeError", js_msg, Some(JS_TRACE));
        assert_eq!(
            with_stack,
            sha256_hex(concat!(
                "checkout\nTypeError\nCannot read properties of undefined (reading <str>)\n",
                "src/users:getUser\nroutes/user:handler\nsrc/anon:<anonymous>"
            ))
        );
        // Golden value: if this changes, every existing issue regroups.
        assert_eq!(
            with_stack,
            "4fe53e89d8afb6b465acbe754220afa525e8345b22b31a72fd7ff11a6be6cbe2"
        );
        assert!(
            plain.len() == 64
                && plain
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

    #[test]
    fn normalize_message_examples() {
        let cases = [
            ("user 42 not found", "user <n> not found"),
            (
                "request 550e8400-e29b-41d4-a716-446655440000 failed",
                "request <uuid> failed",
            ),
            (
                "at 2024-01-15T10:20:30.123Z and 2024-01-15 10:21:00,456",
                "at <ts> and <ts>",
            ),
            (
                "127.0.0.1 - [15/Jan/2024:10:20:30 +0000] 500",
                "<ip> - [<ts>] <n>",
            ),
            (
                "Jan 15 10:20:30 host app[123]: boom",
                "<ts> host app[<n>]: boom",
            ),
            ("Date: Tue, 15 Jan 2024 10:20:30 GMT", "Date: <ts>"),
            ("connect to 10.0.0.1:5432 failed", "connect to <ip> failed"),
            (
                "dial [2001:db8::1]:443, ::1 and fe80::1ff:fe23:4567:890a",
                "dial <ip>, <ip> and <ip>",
            ),
            (
                "in myapp::db::connect and a::b",
                "in myapp::db::connect and a::b",
            ),
            (
                "redis localhost:6379 / db.internal:5432/app",
                "redis localhost:<port> / db.internal:<port>/app",
            ),
            (
                "at 0x7f3a2b1c, commit 3f2a9c1e7b4d",
                "at <hex>, commit <hex>",
            ),
            (
                "words deadbeef and defaced stay",
                "words deadbeef and defaced stay",
            ),
            (
                "req_1a2b3c4d5e6f and order-98765",
                "req_<hex> and order-<n>",
            ),
            (
                "KeyError: 'user_id' can't be \"found\" in user's dict",
                "KeyError: <str> can't be <str> in user's dict",
            ),
            (
                "open /tmp/tmpa1b2c3/upload.bin: denied",
                "open <tmp>: denied",
            ),
            (
                r"open C:\Users\bob\AppData\Local\Temp\x1\f.txt failed",
                "open <tmp> failed",
            ),
            (
                "/var/folders/zz/T/a.sock gone; /app/tmp/x kept",
                "<tmp> gone; /app/tmp/x kept",
            ),
            (
                "mail to alice.smith+test@example.co.uk bounced",
                "mail to <email> bounced",
            ),
            ("took 1.23s, retry 3 of 5", "took <n>s, retry <n> of <n>"),
            (
                "  multiple   spaces\n\tand newlines  ",
                "multiple spaces and newlines",
            ),
            ("unterminated 'quote stays", "unterminated 'quote stays"),
            ("", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_message(input), expected, "input {input:?}");
        }
    }

    /// Skipping the passes a message cannot match changes nothing: every pass run on the
    /// examples above and on generated text dense in the characters the patterns look for.
    #[test]
    fn skipped_passes_change_nothing() {
        const PIECES: &[&str] = &[
            "0",
            "7",
            "42",
            "1.2",
            "10.0.0.1",
            "::",
            ":",
            ":443",
            ".",
            "-",
            "/",
            "\\",
            "@",
            "[",
            "]",
            "'",
            "\"",
            " ",
            "\n",
            "\t",
            "a",
            "x",
            "F",
            "0x1f",
            "deadbeef1",
            "/tmp/",
            "/var/folders/",
            "/private/tmp/x",
            "C:\\Users\\b\\AppData\\Local\\Temp\\",
            "Jan ",
            "Tue, ",
            "15/Jan/2024:10:20:30",
            "2024-01-15T",
            "2024-01-15",
            "2024/01/15",
            "fe80:0000:0000:0000:0204:61ff:fe9d:f156",
            "10:20:30",
            "Z",
            " GMT",
            "550e8400-e29b-41d4-a716-446655440000",
            "deadbeef-abcd-efab-cdef-abcdefabcdef",
            "192.168.1.1",
            "bob@example.com",
            "db.internal",
            "fe80::1",
            "[::1]:80",
            "can't",
            "ab",
            "cd-",
            "-e",
            "0X",
            "ffff",
            "1:",
            "é",
            // Digits outside ASCII: `\d` matches them too.
            "\u{663}",
            "\u{FF11}",
            "\u{967}2",
        ];
        let mut next = crate::errors::pure::picks(0x9E37_79B9_7F4A_7C15);
        let mut messages: Vec<String> = vec![
            "user 42 not found".into(),
            "dial [2001:db8::1]:443, ::1 and fe80::1ff:fe23:4567:890a".into(),
            "open /tmp/tmpa1b2c3/upload.bin: denied".into(),
            "KeyError: 'user_id' can't be \"found\" in user's dict".into(),
            "words deadbeef and defaced stay".into(),
            "in myapp::db::connect and a::b".into(),
            "mail to alice.smith+test@example.co.uk bounced".into(),
        ];
        for _ in 0..20_000 {
            let len = 1 + next(12);
            messages.push((0..len).map(|_| PIECES[next(PIECES.len())]).collect());
        }
        for m in &messages {
            assert_eq!(
                normalize_message(m),
                normalize_with(m, true),
                "message {m:?}"
            );
        }
    }

    #[test]
    fn ascii_numbers_are_replaced_as_the_pattern_does() {
        const PIECES: &[&str] = &["1", "23", ".", "..", "4.5", "x", " ", "-", "0x", "a1", "9."];
        let mut next = crate::errors::pure::picks(0xD1B5_4A32_D192_ED03);
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..1 + next(10) {
                text.push_str(PIECES[next(PIECES.len())]);
            }
            assert_eq!(
                replace_ascii_numbers(&text),
                changed(NUMBER.replace_all(&text, "<n>")),
                "{text:?}"
            );
        }
    }

    #[test]
    fn parse_python_stack_innermost_first() {
        assert_eq!(
            parse_stack(PY_TRACE),
            vec![
                frame("psycopg/pool", "connect", false),
                frame("svc/db", "get_user", true),
                frame("svc/api", "handle", true),
            ]
        );
        let stdlib = "  File \"/usr/lib/python3.11/json/decoder.py\", line 355, in raw_decode\n  File \"<frozen importlib._bootstrap>\", line 1, in _find_and_load";
        assert_eq!(
            parse_stack(stdlib),
            vec![
                frame("<frozen importlib", "_find_and_load", false),
                frame("json/decoder", "raw_decode", false),
            ]
        );
    }

    #[test]
    fn parse_javascript_stack() {
        let trace = format!(
            "{JS_TRACE}\n    at async Foo.bar (file:///app/x.mjs:1:2)\n    at new Promise (<anonymous>)"
        );
        assert_eq!(
            parse_stack(&trace),
            vec![
                frame("src/users", "getUser", true),
                frame("routes/user", "handler", true),
                frame("src/anon", "<anonymous>", true),
                frame("express/lib/router/layer", "Layer.handle", false),
                frame(
                    "process/task_queues",
                    "process.processTicksAndRejections",
                    false
                ),
                frame("app/x", "Foo.bar", true),
                frame("<anonymous>", "new Promise", false),
            ]
        );
    }

    #[test]
    fn parse_rust_backtrace() {
        let trace = format!(
            "{RUST_TRACE}\n   7: <myapp::Server as core::ops::Drop>::drop\n   8:     0x55d4c1b2a3f4 - alloc::vec::Vec<T>::push"
        );
        assert_eq!(
            parse_stack(&trace),
            vec![
                frame("", "rust_begin_unwind", false),
                frame("core::panicking", "panic_fmt", false),
                frame("core::result", "unwrap_failed", false),
                frame("myapp::db", "connect", true),
                frame("myapp", "main", true),
                frame("tokio::runtime::park::CachedParkThread", "block_on", false),
                frame("myapp", "main", true),
                frame("<myapp::Server as core::ops::Drop>", "drop", true),
                frame("alloc::vec::Vec<T>", "push", false),
            ]
        );
    }

    #[test]
    fn parse_java_stack() {
        assert_eq!(
            parse_stack(JAVA_TRACE),
            vec![
                frame("com.acme.db.Pool", "connect", true),
                frame("com.acme.api.UserController", "lambda$get", true),
                frame("com.acme.api.UserController$$Lambda", "apply", true),
                frame("java.lang.Thread", "run", false),
                frame("sun.nio.ch.Net", "connect0", false),
            ]
        );
    }

    #[test]
    fn parse_go_stack() {
        let trace = format!(
            "{GO_TRACE}\ngithub.com/acme/lib/db.(*Pool).Get(...)\n\t/root/go/pkg/mod/github.com/acme/lib@v1.2.3/db/pool.go:12"
        );
        assert_eq!(
            parse_stack(&trace),
            vec![
                frame("main", "(*Server).handle", true),
                frame("net/http", "HandlerFunc.ServeHTTP", false),
                frame("main", "main", true),
                frame("runtime", "goexit", false),
                frame("github.com/acme/lib/db", "(*Pool).Get", false),
            ]
        );
    }

    #[test]
    fn stack_lines_mark_in_app_and_library_frames() {
        let lines = stack_lines(PY_TRACE);
        let flagged: Vec<Option<bool>> = lines.iter().map(|(_, f)| *f).collect();
        assert_eq!(lines.len(), PY_TRACE.lines().count());
        assert_eq!(flagged[0], None, "the Traceback header is no frame");
        assert!(flagged.contains(&Some(true)), "{lines:?}");
        let java = "java.lang.IllegalStateException: boom\n\tat com.acme.Ledger.post(Ledger.java:10)\n\tat java.base/java.lang.Thread.run(Thread.java:833)";
        let flagged: Vec<Option<bool>> = stack_lines(java).into_iter().map(|(_, f)| f).collect();
        assert_eq!(flagged, [None, Some(true), Some(false)]);
    }

    #[test]
    fn parse_stack_ignores_prose() {
        let text = "Error: something broke\nwhile handling request 42\n\nsee logs for details";
        assert_eq!(parse_stack(text), Vec::<Frame>::new());
    }

    #[test]
    fn client_fingerprint_semantics() {
        let default = fingerprint("api", "Error", "boom", None);
        let parts = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        // (label, client parts, expected)
        let cases = [
            ("empty list keeps default", parts(&[]), default.clone()),
            (
                "lone placeholder is the default",
                parts(&["{{ default }}"]),
                default.clone(),
            ),
            (
                "placeholder without spaces",
                parts(&["{{default}}"]),
                default.clone(),
            ),
            (
                "placeholder with extra spaces",
                parts(&["{{   default  }}"]),
                default.clone(),
            ),
            (
                "default plus tenant",
                parts(&["{{ default }}", "tenant-a"]),
                sha256_hex(&format!("{default}\ntenant-a")),
            ),
            (
                "custom ignores default",
                parts(&["custom"]),
                sha256_hex("custom"),
            ),
            (
                "several custom parts",
                parts(&["db", "timeout"]),
                sha256_hex("db\ntimeout"),
            ),
            (
                "placeholder in the middle",
                parts(&["a", "{{default}}", "b"]),
                sha256_hex(&format!("a\n{default}\nb")),
            ),
            (
                "not a placeholder",
                parts(&["{{ defaults }}"]),
                sha256_hex("{{ defaults }}"),
            ),
        ];
        for (label, client, expected) in cases {
            assert_eq!(
                apply_client_fingerprint(&client, &default),
                expected,
                "{label}"
            );
        }
        let tenant_a = apply_client_fingerprint(&parts(&["{{ default }}", "tenant-a"]), &default);
        let tenant_b = apply_client_fingerprint(&parts(&["{{ default }}", "tenant-b"]), &default);
        assert_ne!(tenant_a, default);
        assert_ne!(tenant_a, tenant_b);
    }
}
