//! Secret scrubbing for free text and JSON payloads, applied before anything
//! is stored so credentials never reach the database or the UI.

use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde_json::Value;

/// Replacement for every scrubbed secret (the same marker Sentry uses).
pub const FILTERED: &str = "[Filtered]";

/// PEM private key blocks; an unterminated block (truncated message) is
/// filtered to the end of the text.
static PEM_PRIVATE_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)",
    )
    .expect("valid PEM pattern")
});

/// `scheme://user:password@` — the password runs to the last `@` of the authority.
static URL_CREDENTIALS: LazyLock<Regex> =
    LazyLock::new(|| super::hot_regex(r"\b([a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/?#@]*:)[^\s/?#]+@"));

/// Header lines whose value has several parts — `Cookie:`, `Set-Cookie:` and
/// multi-part `Authorization:` schemes (Digest, AWS4-HMAC-SHA256, Negotiate,
/// NTLM): the whole rest of the line is secret, the scheme is kept.
static HEADER_LINE: LazyLock<Regex> = LazyLock::new(|| {
    let pattern = concat!(
        r"(?i)\b((?:set-)?cookie\s*:\s*|(?:proxy-)?authorization\s*:\s*<schemes>\s+)",
        // Up to the end of the line or an enclosing string's closing quote;
        // `="…"` parts (Digest) and escapes stay inside the value.
        r#"(?:=\s*"[^"\r\n]*"|\\[^"\r\n]|[^\r\n"'\\])*"#,
        r#"(?:=\s*"[^"\r\n]*"|\\[^"\r\n]|[^\s"'\\])"#,
    );
    super::hot_regex(&pattern.replace("<schemes>", MULTI_PART_SCHEMES))
});

/// Authorization schemes whose credentials span several comma-separated parts.
const MULTI_PART_SCHEMES: &str = "(?:digest|aws4-hmac-sha256|negotiate|ntlm)";

/// `key=value`, `key: value`, `"key": "value"` (also JSON escaped inside a
/// string) where the key *contains* a secret word; `is_secret_key` then makes
/// the final call. The value may not start with `:`/`=` so `auth::verify`
/// (a Rust path) is not a pair. `[Filtered]` is matched first so a second
/// pass is a no-op.
static KEY_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    let pattern = concat!(
        r"(?i)(?P<key>[A-Za-z0-9_.\-]*(?:passw(?:or)?d|pwd|secret|token|api[_\-]?key|access[_\-]?key",
        r"|private[_\-]?key|auth|cookie|session|credential)[A-Za-z0-9_.\-]*)",
        r#"(?P<sep>(?:\\?["'])?\s*[:=]\s*)"#,
        r#"(?P<value>\[Filtered\]|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|\\"(?:[^"\\]|\\[^"])*\\""#,
        r"|(?P<scheme>(?:bearer|basic|token|<schemes>)\s+)?",
        r#"(?:\[Filtered\]|[^\s,;&"'<>(){}\[\]\\:=][^\s,;&"'<>(){}\[\]\\]*))"#,
    );
    super::hot_regex(&pattern.replace("<schemes>", MULTI_PART_SCHEMES))
});

/// `Bearer <token>` / `Basic <base64>` outside of a header.
static AUTH_SCHEME: LazyLock<Regex> =
    LazyLock::new(|| super::hot_regex(r"(?i)\b(bearer|basic)\s+([A-Za-z0-9\-._~+/]+=*)"));

/// Self-identifying credential formats, secret wherever they appear.
static TOKENS: LazyLock<Regex> = LazyLock::new(|| {
    super::hot_regex(concat!(
        r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",    // AWS access key id
        r"|\bflt_[A-Za-z0-9]{20,}",          // Faultline API key
        r"|\bgh[pousr]_[A-Za-z0-9]{20,}",    // GitHub token
        r"|\bgithub_pat_[A-Za-z0-9_]{20,}",  // GitHub fine-grained PAT
        r"|\bxox[abprs]-[A-Za-z0-9\-]{10,}", // Slack token
        r"|\beyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*", // JWT
        r"|\bsk-[A-Za-z0-9_\-]{20,}",        // OpenAI/Anthropic-style key
        r"|\b[sr]k_(?:live|test)_[A-Za-z0-9]{10,}", // Stripe key
    ))
});

/// Words at least one of which is inside every match of the patterns above (ignoring ASCII
/// case), so text with none of them has nothing to scrub. One pass over the text instead of
/// six; most messages and detail values take this way out. All lower case.
const TRIGGER_WORDS: &[&str] = &[
    "private key", // PEM_PRIVATE_KEY
    "://",         // URL_CREDENTIALS
    "cookie",      // HEADER_LINE, KEY_VALUE
    "authorization",
    "passw", // KEY_VALUE: passwd, password
    "pwd",
    "secret",
    "token",
    "api_key",
    "api-key",
    "apikey",
    "access_key",
    "access-key",
    "accesskey",
    "private_key",
    "private-key",
    "privatekey",
    "auth",
    "session",
    "credential",
    "bearer", // AUTH_SCHEME
    "basic",
    "akia", // TOKENS
    "asia",
    "flt_",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "xox",
    "eyj",
    "sk-",
    "sk_live",
    "sk_test",
    "rk_live",
    "rk_test",
];

/// [`TRIGGER_WORDS`] found by a packed (SIMD) search over lower-cased text: several times
/// faster than an automaton on this machine, where the text has no trigger word (the common
/// case). `None` where the CPU has no instructions for it.
static PACKED_TRIGGERS: LazyLock<Option<aho_corasick::packed::Searcher>> = LazyLock::new(|| {
    let mut builder = aho_corasick::packed::Config::new().builder();
    builder.extend(TRIGGER_WORDS);
    builder.build()
});

/// [`TRIGGER_WORDS`] as an automaton, where the packed search is not available.
static TRIGGERS: LazyLock<aho_corasick::AhoCorasick> =
    LazyLock::new(|| aho_corasick::AhoCorasick::new(TRIGGER_WORDS).expect("valid trigger words"));

/// Whether lower-cased text holds a trigger word.
fn has_trigger_word(lower: &[u8]) -> bool {
    match &*PACKED_TRIGGERS {
        Some(packed) => packed.find(lower).is_some(),
        None => TRIGGERS.is_match(lower),
    }
}

/// Runs `f` on the ASCII lower case of `s` (on the stack when short).
fn with_lowercase<T>(s: &str, f: impl FnOnce(&[u8]) -> T) -> T {
    let mut stack = [0u8; 512];
    let mut heap = Vec::new();
    let buf = match stack.get_mut(..s.len()) {
        Some(buf) => {
            buf.copy_from_slice(s.as_bytes());
            buf
        }
        None => {
            heap.extend_from_slice(s.as_bytes());
            &mut heap[..]
        }
    };
    buf.make_ascii_lowercase();
    f(buf)
}

/// Whether `s` may contain something [`scrub_text`] filters. Non-ASCII text always goes
/// through the patterns (Unicode case folding can match where ASCII folding does not).
fn may_hold_secret(s: &str) -> bool {
    !s.is_ascii() || with_lowercase(s, has_trigger_word)
}

/// Whether lower-cased text holds a secret compound key whose words are apart: `api.key`,
/// `access key`, `private__key` (normalized `api_key` and so on; [`TRIGGER_WORDS`] holds only
/// the `_`, `-` and joined spellings): `key` after a run of characters other than letters and
/// digits, after `api`, `access` or `private`.
fn has_separated_key(lower: &[u8]) -> bool {
    memchr::memmem::find_iter(lower, b"key").any(|at| {
        let before = &lower[..at];
        let word_end = before
            .iter()
            .rposition(u8::is_ascii_alphanumeric)
            .map_or(0, |i| i + 1);
        word_end < at
            && [&b"api"[..], b"access", b"private"]
                .iter()
                .any(|w| before[..word_end].ends_with(w))
    })
}

/// Whether [`scrub_json`] may change the JSON value `text` spells, or the text holds an
/// escape (such as an escaped U+0000, or key letters spelt as escapes). When it says no, the
/// text can be stored as it is, without building the value: every key and string of the
/// value is a plain slice of an ASCII text holding no trigger word, and a secret key always
/// holds a trigger word or is a separated compound key (checked by the tests against
/// [`scrub_json`] itself).
pub fn json_needs_scrub(text: &str) -> bool {
    !text.is_ascii()
        || text.contains('\\')
        || with_lowercase(text, |lower| {
            has_trigger_word(lower) || has_separated_key(lower)
        })
}

/// Key names (normalized) that are secret on their own.
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "secret_key",
    "private_key",
    "client_secret",
    "auth",
    "authorization",
    "proxy_authorization",
    "cookie",
    "set_cookie",
    "session",
    "sessionid",
    "session_id",
    "credentials",
];

/// Suffixes (normalized) that make a compound key secret, e.g. `db_password`,
/// `refresh_token`, `stripe_api_key` — but not `max_tokens` or `cache_key`.
const SECRET_SUFFIXES: &[&str] = &[
    "_password",
    "_passwd",
    "_secret",
    "_token",
    "_api_key",
    "_apikey",
    "_private_key",
    "_secret_key",
    "_access_key",
];

/// Replaces secrets inside free text with `[Filtered]`: URL passwords,
/// auth headers and schemes, values of secret-looking keys, PEM private keys
/// and well-known token formats. Bare words ("token bucket") are left alone.
pub fn scrub_text(s: &str) -> String {
    if may_hold_secret(s) {
        scrub_with_patterns(s)
    } else {
        s.to_owned()
    }
}

/// [`scrub_text`] of a string the caller owns: returned as it is (no copy) when it cannot
/// hold a secret.
pub fn scrub_owned(s: String) -> String {
    if may_hold_secret(&s) {
        scrub_with_patterns(&s)
    } else {
        s
    }
}

/// [`scrub_text`] without the quick check.
fn scrub_with_patterns(s: &str) -> String {
    let s = PEM_PRIVATE_KEY.replace_all(s, FILTERED);
    let s = URL_CREDENTIALS.replace_all(&s, format!("${{1}}{FILTERED}@").as_str());
    let s = HEADER_LINE.replace_all(&s, format!("${{1}}{FILTERED}").as_str());
    let s = KEY_VALUE.replace_all(&s, filter_key_value);
    let s = AUTH_SCHEME.replace_all(&s, |caps: &Captures| {
        let token = group(caps, 2);
        if token.len() >= 8 && looks_random(token) {
            format!("{} {FILTERED}", group(caps, 1))
        } else {
            group(caps, 0).to_owned()
        }
    });
    TOKENS
        .replace_all(&s, |caps: &Captures| {
            let token = group(caps, 0);
            if looks_random(token) {
                FILTERED.to_owned()
            } else {
                token.to_owned()
            }
        })
        .into_owned()
}

/// Scrubs a JSON payload in place: values under secret keys become
/// `"[Filtered]"` (whatever their type; `null` stays `null`), `[name, value]`
/// header pairs with a secret name get their value filtered, and every other
/// string goes through [`scrub_text`]. Iterative, so deep nesting is safe.
pub fn scrub_json(v: &mut Value) {
    let mut stack = vec![v];
    while let Some(value) = stack.pop() {
        match value {
            Value::String(s) => *s = scrub_owned(std::mem::take(s)),
            Value::Array(items) => {
                if let [Value::String(name), secret] = items.as_mut_slice()
                    && is_secret_key(name)
                {
                    redact(secret);
                } else {
                    stack.extend(items.iter_mut());
                }
            }
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    if is_secret_key(key) {
                        redact(child);
                    } else {
                        stack.push(child);
                    }
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

fn redact(v: &mut Value) {
    if !v.is_null() {
        *v = Value::String(FILTERED.to_owned());
    }
}

/// Whether a key names a secret: its normalized form (camelCase split,
/// lowercased, other separators as `_`) is a secret name or ends with a
/// secret suffix.
fn is_secret_key(key: &str) -> bool {
    let key = normalize_key(key);
    SECRET_KEYS.contains(&key.as_str()) || SECRET_SUFFIXES.iter().any(|s| key.ends_with(s))
}

/// `X-Api-Key` → `x_api_key`, `accessToken` → `access_token`, `APIKey` → `apikey`.
fn normalize_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    let mut prev: Option<char> = None;
    for c in key.chars() {
        if c.is_ascii_alphanumeric() {
            let camel_hump = c.is_ascii_uppercase()
                && prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit());
            if camel_hump {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
        prev = Some(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// Replacement for one `KEY_VALUE` match: keeps the key, separator, quotes
/// and auth scheme, filters the value — unless the key is not secret.
fn filter_key_value(caps: &Captures) -> String {
    let whole = group(caps, 0);
    let key = caps.name("key").map_or("", |m| m.as_str());
    if !is_secret_key(key) {
        return whole.to_owned();
    }
    let sep = caps.name("sep").map_or("", |m| m.as_str());
    let value = caps.name("value").map_or("", |m| m.as_str());
    let filtered = if let Some(scheme) = caps.name("scheme") {
        format!("{}{FILTERED}", scheme.as_str())
    } else if value.starts_with("\\\"") {
        format!("\\\"{FILTERED}\\\"")
    } else if let Some(quote) = value.chars().next().filter(|c| matches!(c, '"' | '\'')) {
        format!("{quote}{FILTERED}{quote}")
    } else {
        FILTERED.to_owned()
    };
    format!("{key}{sep}{filtered}")
}

/// Tells random credentials from words: after the first character there is a
/// digit, an uppercase letter or one of `+/=_`.
fn looks_random(token: &str) -> bool {
    token
        .chars()
        .skip(1)
        .any(|c| c.is_ascii_digit() || c.is_ascii_uppercase() || matches!(c, '+' | '/' | '=' | '_'))
}

fn group<'h>(caps: &Captures<'h>, index: usize) -> &'h str {
    caps.get(index).map_or("", |m| m.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

    #[test]
    fn scrub_text_filters_secrets() {
        let pem = "key: -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nbase64+/==\n-----END RSA PRIVATE KEY----- loaded";
        let bearer = format!("Authorization: Bearer {JWT}");
        let bare_jwt = format!("decoded jwt {JWT} ok");
        // (label, input, expected)
        let cases: &[(&str, &str, &str)] = &[
            (
                "postgres url",
                "connecting to postgres://app:hunter2@db.internal:5432/prod",
                "connecting to postgres://app:[Filtered]@db.internal:5432/prod",
            ),
            (
                "redis no user",
                "redis://:s3cr3t@cache:6379/0 down",
                "redis://:[Filtered]@cache:6379/0 down",
            ),
            (
                "password with @",
                "GET https://user:p@ss@example.com/x?q=a@b.c failed",
                "GET https://user:[Filtered]@example.com/x?q=a@b.c failed",
            ),
            (
                "authorization bearer",
                &bearer,
                "Authorization: Bearer [Filtered]",
            ),
            (
                "authorization basic",
                "sent Authorization: Basic dXNlcjpwYXNzd29yZA==",
                "sent Authorization: Basic [Filtered]",
            ),
            (
                "authorization digest",
                r#"Authorization: Digest username="bob", response="6629fae49393a05397450978507c4ef1""#,
                "Authorization: Digest [Filtered]",
            ),
            (
                "aws sigv4",
                "authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240115/us-east-1/s3/aws4_request, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
                "authorization: AWS4-HMAC-SHA256 [Filtered]",
            ),
            (
                "cookie inside a json string",
                r#"{"h": "Cookie: a=b; c=d", "n": 1}"#,
                r#"{"h": "Cookie: [Filtered]", "n": 1}"#,
            ),
            (
                "set-cookie",
                "Set-Cookie: id=a3fWa; Expires=Thu, 21 Oct 2021 07:28:00 GMT",
                "Set-Cookie: [Filtered]",
            ),
            (
                "proxy authorization",
                "Proxy-Authorization: Basic Zm9vOmJhcg== refused",
                "Proxy-Authorization: Basic [Filtered] refused",
            ),
            (
                "bare bearer",
                "upstream rejected bearer abcdef1234567890XYZ",
                "upstream rejected bearer [Filtered]",
            ),
            (
                "password=",
                "login password=hunter2 user=bob",
                "login password=[Filtered] user=bob",
            ),
            (
                "quoted single",
                "db_password: 'correct horse'",
                "db_password: '[Filtered]'",
            ),
            (
                "json in text",
                r#"{"api_key": "abc123", "page": 2}"#,
                r#"{"api_key": "[Filtered]", "page": 2}"#,
            ),
            (
                "query string",
                "GET /cb?access_token=ya29.a0AfH6SMB&page=2",
                "GET /cb?access_token=[Filtered]&page=2",
            ),
            (
                "header api key",
                "X-Api-Key: 4f9a2b7c",
                "X-Api-Key: [Filtered]",
            ),
            (
                "cookie header",
                "Cookie: sessionid=abc123; csrftoken=xyz\nnext line",
                "Cookie: [Filtered]\nnext line",
            ),
            (
                "aws key id",
                "aws key AKIAIOSFODNN7EXAMPLE leaked",
                "aws key [Filtered] leaked",
            ),
            (
                "aws secret labelled",
                "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "AWS_SECRET_ACCESS_KEY=[Filtered]",
            ),
            ("pem block", pem, "key: [Filtered] loaded"),
            (
                "pem unterminated",
                "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
                "[Filtered]",
            ),
            (
                "faultline key",
                "using flt_a1B2c3D4e5F6g7H8i9J0k1L2",
                "using [Filtered]",
            ),
            (
                "github token",
                "token ghp_16C7e42F292c6912E7710c838347Ae178B4a in log",
                "token [Filtered] in log",
            ),
            (
                "github pat",
                "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
                "[Filtered]",
            ),
            (
                "slack",
                "slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
                "slack [Filtered]",
            ),
            ("bare jwt", &bare_jwt, "decoded jwt [Filtered] ok"),
            (
                "openai",
                "openai sk-proj-abc123DEF456ghi789JKL012",
                "openai [Filtered]",
            ),
            (
                "stripe",
                "stripe sk_live_51H8abcDEF123ghiJKL",
                "stripe [Filtered]",
            ),
            (
                "rust debug",
                r#"Config { host: "db", password: "hunter2" }"#,
                r#"Config { host: "db", password: "[Filtered]" }"#,
            ),
            (
                "go %+v",
                "{Host:db Password:hunter2 Port:5432}",
                "{Host:db Password:[Filtered] Port:5432}",
            ),
            (
                "oauth form",
                "client_secret=abc&grant_type=client_credentials",
                "client_secret=[Filtered]&grant_type=client_credentials",
            ),
            (
                "escaped json",
                r#"payload={\"password\":\"hunter2\",\"user\":\"bob\"}"#,
                r#"payload={\"password\":\"[Filtered]\",\"user\":\"bob\"}"#,
            ),
            (
                "python repr",
                "{'private_key': 'abc', 'n': 1}",
                "{'private_key': '[Filtered]', 'n': 1}",
            ),
            (
                "session id",
                "sessionid=8f14e45fceea167a",
                "sessionid=[Filtered]",
            ),
            ("auth colon", "auth: s3cret", "auth: [Filtered]"),
            (
                "camel case",
                "apiKey=abc refreshToken=def",
                "apiKey=[Filtered] refreshToken=[Filtered]",
            ),
            (
                "spaces around =",
                "secret = topsecret",
                "secret = [Filtered]",
            ),
        ];
        assert!(cases.len() >= 25);
        for (label, input, expected) in cases {
            assert!(
                may_hold_secret(input),
                "{label}: the quick check must let it through"
            );
            let once = scrub_text(input);
            assert_eq!(once, *expected, "{label}");
            assert_eq!(
                scrub_text(&once),
                once,
                "{label}: second pass must be a no-op"
            );
        }
    }

    #[test]
    fn scrub_text_leaves_normal_text_alone() {
        let unchanged = [
            "token bucket refilled",
            "session started for user 42",
            "password reset email sent to user 42",
            "max_tokens=4096 exceeded",
            "tokens_used: 12, session_count=3",
            "Basic authentication is not supported",
            "the bearer of bad news",
            "see https://example.com:8443/path?q=1",
            "module myapp::auth::verify failed",
            "author: Jane",
            "authentication: failed",
            "token_type=Bearer",
            "sk-learn-compatible-estimator-version",
            "git@github.com:acme/app.git",
            "",
        ];
        for input in unchanged {
            assert_eq!(scrub_text(input), input);
            assert_eq!(scrub_with_patterns(input), input);
        }
    }

    #[test]
    fn quick_check_skips_only_text_the_patterns_leave_alone() {
        let skipped = [
            "connection refused connecting to 10.0.3.17:5432 after 3 attempts",
            "KeyError: 'user_4821' not found in cache shard 7",
            "TypeError: Cannot read properties of undefined (reading 'total')",
            "  File \"/app/svc/db.py\", line 42, in get_user\n    conn = pool.connect()",
            "at com.example.billing.Ledger.post(Ledger.java:118)",
            "key=value; other: thing, user=alice",
            "",
        ];
        for input in skipped {
            assert!(!may_hold_secret(input), "{input:?} has no trigger word");
            assert_eq!(scrub_with_patterns(input), input, "{input:?}");
        }
        // Near misses of every pattern are still examined.
        for input in [
            "ASIAN markets",
            "postgres://db/x",
            "Sk-ipper",
            "-----BEGIN PRIVATE KEY-----",
            "tokenizer",
            "ſecret=1 (non-ASCII)",
        ] {
            assert!(may_hold_secret(input), "{input:?}");
        }
    }

    #[test]
    fn scrub_json_filters_nested_values() {
        let mut event = json!({
            "request": {
                "url": "https://api.example.com/v1?api_key=abc123&page=2",
                "headers": {
                    "Authorization": "Bearer abc",
                    "X-Request-Id": "req-1",
                    "Cookie": "sessionid=abc"
                },
                "data": {
                    "user": {
                        "profile": {
                            "name": "bob",
                            "password": "p4ss",
                            "settings": {"clientSecret": {"nested": true}, "theme": "dark"}
                        }
                    }
                }
            },
            "extra": {
                "db_password": 1234,
                "refresh_token": null,
                "stripe_api_key": ["a", "b"],
                "tokens_used": 12,
                "max_tokens": 4096,
                "session_count": 3,
                "cache_key": "user:42",
                "log": ["connect postgres://u:pw@db/x", 7, {"token": "t"}],
                "header_pairs": [["Authorization", "Basic Zm9vOmJhcg=="], ["Accept", "*/*"]]
            }
        });
        scrub_json(&mut event);
        let expected = json!({
            "request": {
                "url": "https://api.example.com/v1?api_key=[Filtered]&page=2",
                "headers": {
                    "Authorization": "[Filtered]",
                    "X-Request-Id": "req-1",
                    "Cookie": "[Filtered]"
                },
                "data": {
                    "user": {
                        "profile": {
                            "name": "bob",
                            "password": "[Filtered]",
                            "settings": {"clientSecret": "[Filtered]", "theme": "dark"}
                        }
                    }
                }
            },
            "extra": {
                "db_password": "[Filtered]",
                "refresh_token": null,
                "stripe_api_key": "[Filtered]",
                "tokens_used": 12,
                "max_tokens": 4096,
                "session_count": 3,
                "cache_key": "user:42",
                "log": ["connect postgres://u:[Filtered]@db/x", 7, {"token": "[Filtered]"}],
                "header_pairs": [["Authorization", "[Filtered]"], ["Accept", "*/*"]]
            }
        });
        assert_eq!(event, expected);
    }

    #[test]
    fn scrub_json_leaves_clean_payloads_alone() {
        let clean = json!({
            "message": "token bucket refilled",
            "tags": {"author": "jane", "token_type": "Bearer", "primary_key": 7},
            "values": [1, 2.5, true, null, "session started"],
            "usage": {"max_tokens": 10, "tokens_used": 3, "session_count": 1}
        });
        let mut scrubbed = clean.clone();
        scrub_json(&mut scrubbed);
        assert_eq!(scrubbed, clean);
    }

    #[test]
    fn scrub_json_survives_deep_nesting() {
        // Built by hand: `json!` interpolation would itself recurse.
        let mut value = json!({"password": "x"});
        for _ in 0..10_000 {
            let mut parent = serde_json::Map::new();
            parent.insert("child".to_owned(), value);
            value = Value::Object(parent);
        }
        scrub_json(&mut value);
        let mut inner = &value;
        while let Some(child) = inner.get("child") {
            inner = child;
        }
        assert_eq!(inner, &json!({"password": "[Filtered]"}));
        // serde_json drops deep values recursively; unwind it by hand.
        while let Some(child) = value.get_mut("child").map(Value::take) {
            value = child;
        }
    }

    #[test]
    fn secret_key_detection() {
        let cases = [
            ("password", true),
            ("Password", true),
            ("DB_PASSWORD", true),
            ("x-api-key", true),
            ("X-Auth-Token", true),
            ("accessToken", true),
            ("APIKey", true),
            ("sessionId", true),
            ("aws_secret_access_key", true),
            ("Set-Cookie", true),
            ("client_secret", true),
            ("private_key", true),
            ("tokens_used", false),
            ("max_tokens", false),
            ("session_count", false),
            ("cache_key", false),
            ("primary_key", false),
            ("author", false),
            ("token_type", false),
            ("authentication_method", false),
        ];
        for (key, expected) in cases {
            assert_eq!(is_secret_key(key), expected, "{key}");
        }
    }

    #[test]
    fn json_left_as_sent_scrubs_to_itself() {
        // Keys from words and separators (secret ones among them), values from words and
        // credentials: whenever `json_needs_scrub` lets a text through, scrubbing its value
        // must change nothing.
        const WORDS: &[&str] = &[
            "api",
            "Api",
            "API",
            "access",
            "private",
            "secret",
            "key",
            "Key",
            "KEY",
            "pass",
            "word",
            "Word",
            "passwd",
            "pwd",
            "token",
            "Token",
            "auth",
            "user",
            "id",
            "Id",
            "session",
            "cache",
            "max",
            "client",
            "db",
            "x",
            "cookie",
            "set",
            "proxy",
            "credentials",
            "tokens",
            "primary",
            "region",
            "route",
            "k",
            "e",
            "y",
            "7",
        ];
        const SEPARATORS: &[&str] = &["", "", "_", "-", ".", " ", "__", "$", "/", ":", "@"];
        const VALUES: &[&str] = &[
            "eu-west-1",
            "/api/v1/orders/{id}",
            "retry 3 of 5",
            "sid=hunter2secret",
            "Bearer abcDEF123456789",
            "postgres://app:hunter2@db/app",
            "AKIAIOSFODNN7EXAMPLE",
            "plain words",
            "api key=xyz",
            "api.key: Abc123XYZ",
            "",
        ];
        let mut next = crate::errors::pure::picks(0x2545_F491_4F6C_DD1D);
        let key = |next: &mut dyn FnMut(usize) -> usize| {
            let mut k = String::new();
            for i in 0..1 + next(3) {
                if i > 0 {
                    k.push_str(SEPARATORS[next(SEPARATORS.len())]);
                }
                k.push_str(WORDS[next(WORDS.len())]);
            }
            k
        };
        let (mut as_sent, mut examined) = (0, 0);
        for _ in 0..20_000 {
            let mut object = serde_json::Map::new();
            for _ in 0..1 + next(4) {
                let value = match next(4) {
                    0 => json!(next(1000)),
                    1 => json!([key(&mut next), VALUES[next(VALUES.len())]]),
                    2 => json!({ key(&mut next): VALUES[next(VALUES.len())] }),
                    _ => json!(VALUES[next(VALUES.len())]),
                };
                object.insert(key(&mut next), value);
            }
            let value = Value::Object(object);
            let text = value.to_string();
            if json_needs_scrub(&text) {
                examined += 1;
                continue;
            }
            as_sent += 1;
            let mut scrubbed = value.clone();
            scrub_json(&mut scrubbed);
            assert_eq!(scrubbed, value, "{text}");
        }
        assert!(as_sent > 1_000 && examined > 1_000, "{as_sent} {examined}");
        for text in [
            r#"{"api.key":"v"}"#,
            r#"{"Access Key":"v"}"#,
            r#"{"x":{"private__key":"v"}}"#,
            r#"{"h":["X.Api.Key","v"]}"#,
            r#"{"p\u0061ssword":"v"}"#,
            r#"{"note":"caf\u00e9"}"#,
            r#"{"note":"café"}"#,
        ] {
            assert!(json_needs_scrub(text), "{text}");
        }
        assert!(!json_needs_scrub(r#"{"cache_key":"k1","primary key":7}"#));
    }

    #[test]
    fn fast_checks_agree_with_what_they_replace() {
        // The packed search and the automaton (used where the CPU lacks the packed one), and
        // the separated-key scan and the pattern it stands for, on text dense in near misses.
        const WORDS: &[&str] = &[
            "api", "API", "Access", "private", "key", "KEY", "Key", "x", "token", "TOK", "sk",
            "eyJ", "Bearer", "basic", "pass", "W", "auth", "AKIA", "cookie", "ghp", "xox",
            "secret", "1", "é",
        ];
        const SEPARATORS: &[&str] = &["", "", ".", " ", "__", "-", "_", "/", "://", ":", "\n"];
        let separated = Regex::new(r"(?i)(?:api|access|private)[^a-z0-9]+key").unwrap();
        let mut next = crate::errors::pure::picks(0x1234_5678_9ABC_DEF1);
        let (mut hits, mut misses) = (0, 0);
        for _ in 0..50_000 {
            let mut text = String::new();
            for i in 0..2 + next(8) {
                let pieces = if i % 2 == 0 { WORDS } else { SEPARATORS };
                text.push_str(pieces[next(pieces.len())]);
            }
            let lower = text.to_ascii_lowercase();
            let packed = has_trigger_word(lower.as_bytes());
            assert_eq!(packed, TRIGGERS.is_match(lower.as_bytes()), "{text:?}");
            if text.is_ascii() {
                let found = has_separated_key(lower.as_bytes());
                assert_eq!(found, separated.is_match(&text), "{text:?}");
                if found { hits += 1 } else { misses += 1 }
            }
        }
        assert!(hits > 1_000 && misses > 1_000, "{hits} {misses}");
        assert!(
            PACKED_TRIGGERS.is_some(),
            "the packed search is expected on x86_64"
        );
    }
}
