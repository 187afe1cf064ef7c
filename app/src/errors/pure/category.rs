//! Error categories and a rule-based classifier that infers one from an
//! event's type and message, so new issues arrive pre-triaged.

use std::sync::LazyLock;

use regex::{RegexSet, RegexSetBuilder};
use serde::{Deserialize, Serialize};

/// Broad cause of an error, used for triage, routing and dashboards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Connectivity: refused/reset connections, timeouts, DNS, TLS, 502/503/504.
    Network,
    /// Exhausted capacity: memory, disk, file descriptors, pools, quotas, rate limits.
    Resource,
    /// Misconfiguration: missing env vars or settings, bad ports, protocol mismatches.
    Config,
    /// Missing or incompatible dependencies: modules, libraries, DB schema, upstreams.
    Dependency,
    /// Bugs surfacing at runtime: type errors, null dereferences, panics.
    Runtime,
    /// Authentication and authorization failures.
    Auth,
    /// No rule matched.
    Unknown,
}

impl Category {
    /// Every category, in declaration order.
    pub const ALL: [Category; 7] = [
        Category::Network,
        Category::Resource,
        Category::Config,
        Category::Dependency,
        Category::Runtime,
        Category::Auth,
        Category::Unknown,
    ];

    /// Canonical lowercase name, identical to the serde representation.
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Network => "network",
            Category::Resource => "resource",
            Category::Config => "config",
            Category::Dependency => "dependency",
            Category::Runtime => "runtime",
            Category::Auth => "auth",
            Category::Unknown => "unknown",
        }
    }
}

/// Parses a category name, trimmed and case-insensitive (so the uppercase
/// seed names such as `NETWORK` are accepted).
pub fn parse_category(s: &str) -> Result<Category, String> {
    let name = s.trim().to_ascii_lowercase();
    Category::ALL
        .into_iter()
        .find(|c| c.as_str() == name)
        .ok_or_else(|| {
            "must be one of network, resource, config, dependency, runtime, auth, unknown"
                .to_owned()
        })
}

/// Classification rules, tried in order against `"{error_type}: {message}"`;
/// the first match wins, so more specific categories come first:
/// config (a bad port or protocol often *looks* like a network error), then
/// resource (pool exhaustion and 429s mention connections and 403s), auth,
/// dependency (an unavailable *upstream* beats a generic 503), network, and
/// finally runtime, whose type names (`TypeError`, `RuntimeError`-like
/// wrappers, panics) often wrap a more specific cause in the message.
///
/// Judgement call: a missing table or unapplied migration is `Dependency` —
/// the code depends on a schema that is not deployed; no setting fixes it.
const RULES: &[(Category, &str)] = &[
    // --- Config ---
    (
        Category::Config,
        r"(?i)\benv(ironment)?[ _-]?var(iable)?s?\b.{0,60}\b(is not set|not set|missing|required|undefined|unset|empty|not defined|not found)\b",
    ),
    (
        Category::Config,
        r"(?i)\b(missing|undefined|unset|required)\b.{0,30}\benv(ironment)?[ _-]?var",
    ),
    (
        Category::Config,
        r"(?i)\b(invalid|malformed|bad|missing|incomplete)\s+(config|configuration|settings?)\b",
    ),
    (
        Category::Config,
        r"(?i)\bconfig(uration)?[ _-]?file\b.{0,80}\b(not found|no such file|does not exist|missing|not readable)",
    ),
    (
        Category::Config,
        r"(?i)\b(cannot|could not|can't|unable to|failed to)\s+(load|read|find|open|parse)\s+(the\s+)?config(uration)?\b",
    ),
    (
        Category::Config,
        r"(?i)\b(ImproperlyConfigured|ConfigurationError|ConfigError|InvalidConfig\w*)\b|\bnot configured\b|could not resolve placeholder|failed to bind properties|os\.environ\[",
    ),
    // Python KeyError on an UPPER_SNAKE name is almost always a missing setting.
    (
        Category::Config,
        r#"\bKeyError\b:?\s*['"][A-Z][A-Z0-9]*(_[A-Z0-9]+)+['"]"#,
    ),
    (
        Category::Config,
        r"(?i)\bKeyError\b.{0,80}\b(settings|config|environ|env)\b",
    ),
    (
        Category::Config,
        r"(?i)\binvalid port\b|\bport\b.{0,30}\bout of range\b|\bport must be\b",
    ),
    (
        Category::Config,
        r#"(?i)\bexpected\s+['"]?(postgres(ql)?|mysql|redis|mongodb|amqps?|https?|grpc|tcp|udp|tls|ssl|wss?|smtp|ftp)['"]?,?\s+(but\s+)?(got|found|received)\s+['"]?(postgres(ql)?|mysql|redis|mongodb|amqps?|https?|grpc|tcp|udp|tls|ssl|wss?|smtp|ftp)\b"#,
    ),
    (
        Category::Config,
        r"(?i)\bprotocol mismatch\b|\bwrong version number\b|gave HTTP response to HTTPS client|\bunsupported (url )?(scheme|protocol)\b|\binvalid (connection string|dsn|database url|url scheme)\b",
    ),
    // --- Resource ---
    (
        Category::Resource,
        r"(?i)\bout of memory\b|\bOutOfMemory(Error)?\b|\bMemoryError\b|\bOOM(Killed|[ _-]?kill(ed|er)?)?\b|\bmemory limit\b|\bcannot allocate memory\b|\bENOMEM\b|\bmemory allocation of \d+ bytes failed\b|\bheap (space|limit)\b",
    ),
    (
        Category::Resource,
        r"(?i)\bno space left on device\b|\bENOSPC\b|\bdisk (is )?full\b|\bdisk quota exceeded\b|\bEDQUOT\b|\binsufficient (disk )?(space|storage)\b",
    ),
    (
        Category::Resource,
        r"(?i)\btoo many open files\b|\bE[MN]FILE\b",
    ),
    (
        Category::Resource,
        r"(?i)\bpool\b.{0,30}\b(exhausted|full|limit)\b|\bexhausted\b.{0,30}\bpool\b|\bQueuePool limit\b|\bconnection is not available\b|\btoo many (connections|clients|requests)\b|\bRejectedExecutionException\b",
    ),
    (
        Category::Resource,
        r"(?i)\brate[ _-]?limit(ed|ing)?\b|\bquota\b.{0,30}\b(exceeded|exhausted)\b|\b(exceeded|over)\b.{0,30}\bquota\b|\bthrottl(ed|ing)\b|\bresources?[ _]?exhausted\b|\b(status|http|code|error|response)\W{0,3}(code\W{0,3})?429\b",
    ),
    // --- Auth ---
    (
        Category::Auth,
        r"(?i)\b(unauthori[sz]ed|unauthenticated|forbidden|permission denied|access denied|access is denied|not authori[sz]ed|not authenticated|EACCES|EPERM)\b",
    ),
    (
        Category::Auth,
        r"(?i)\b(authentication|auth|login|sign[ -]?in)\s+(failed|failure|error|required)\b|\bunable to locate credentials\b",
    ),
    (
        Category::Auth,
        r"(?i)\b(invalid|expired|missing|bad|revoked|malformed)\s+(access |refresh |auth |bearer |api |session |id )?(token|credentials?|api[ _-]?key|signature|password)\b",
    ),
    (
        Category::Auth,
        r"(?i)\b(token|credentials?|jwt|session)\s+(has\s+|have\s+|is\s+)?(expired|revoked|invalid)\b",
    ),
    (
        Category::Auth,
        r"(?i)\b(status|http|code|error|response)\W{0,3}(code\W{0,3})?(401|403)\b",
    ),
    (
        Category::Auth,
        r"\b(PermissionError|AuthenticationError|AuthorizationError|AccessDeniedException|NoCredentialsError|InvalidClientTokenId|ExpiredToken\w*|SignatureDoesNotMatch|TokenExpiredError|JsonWebTokenError|SecurityException)\b",
    ),
    // --- Dependency ---
    (
        Category::Dependency,
        r"(?i)\b(ImportError|ModuleNotFoundError|NoClassDefFoundError|ClassNotFoundException|NoSuchMethodError|UnsatisfiedLinkError|IncompatibleClassChangeError|UnsupportedClassVersionError|(ERR_)?MODULE_NOT_FOUND)\b",
    ),
    (
        Category::Dependency,
        r"(?i)\bcannot find (module|package)\b|\bno module named\b|\bcannot import name\b|\bcannot open shared object file\b|\berror while loading shared libraries\b|\blibrary not loaded\b",
    ),
    (
        Category::Dependency,
        r"(?i)\bversion mismatch\b|\bincompatible versions?\b|\bversion conflict\b|\bnot installed\b",
    ),
    (
        Category::Dependency,
        r"(?i)\b(dependency|dependent service|upstream( service)?|downstream( service)?)\b.{0,60}\b(unavailable|failed|failure|down|unhealthy|not ready)\b",
    ),
    (
        Category::Dependency,
        r"(?i)\bno such table\b|\brelation\s+\S+\s+does not exist\b|\btable\s+\S+\s+doesn'?t exist\b|\bUndefinedTable\b|\bpending migrations?\b|\bmigrations?\b.{0,40}\b(pending|missing|not (been )?applied|out of date)\b",
    ),
    // --- Network ---
    (
        Category::Network,
        r"(?i)\bconnection\s+(refused|reset|timed out|timeout|closed|aborted|failed|lost|error)\b|\b(connect|read|write|socket|request|i/o|handshake)\s+time[ds]?[ -]?out\b|\btimed out\b|\bdeadline exceeded\b|\bDEADLINE_EXCEEDED\b",
    ),
    (
        Category::Network,
        r"\b(ECONN(REFUSED|RESET|ABORTED)|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|ENOTFOUND|EAI_AGAIN)\b",
    ),
    (
        Category::Network,
        r"\b(\w*Connection(Refused|Reset|Aborted)\w*|ConnectionError|ConnectError|ConnectException|ConnectTimeout\w*|ReadTimeout\w*|TimeoutError|TimeoutException|SocketTimeoutException|SocketException|UnknownHostException|NoRouteToHostException|ClientConnectorError|ServerDisconnectedError|RemoteDisconnected)\b",
    ),
    (
        Category::Network,
        r"(?i)\bdns\b|\bgetaddrinfo\b|\bname resolution\b|\bno such host\b|\bname or service not known\b|\bnodename nor servname\b|\bcould not resolve host\b|\bunknown host\b",
    ),
    (
        Category::Network,
        r"(?i)\bsocket\b|\bbroken pipe\b|\bnetwork is unreachable\b|\bno route to host\b|\bhost is unreachable\b|\bfetch failed\b|\b(tls|ssl)\b.{0,30}\b(handshake|alert)\b|\bcertificate verify failed\b",
    ),
    (
        Category::Network,
        r"(?i)\b(bad gateway|service unavailable|gateway time-?out)\b|\b(status|http|code|error|response)\W{0,3}(code\W{0,3})?(502|503|504)\b",
    ),
    (
        Category::Network,
        r"(?i)\bhealth[ _-]?check\b.{0,40}\bfail|\bfail\w*\b.{0,40}\bhealth[ _-]?check\b|\b(unable|failed|could not|couldn't|cannot|can't)\s+(to\s+)?(connect|reach)\b",
    ),
    // --- Runtime ---
    (
        Category::Runtime,
        r"\b(TypeError|ValueError|KeyError|IndexError|AttributeError|NameError|UnboundLocalError|ZeroDivisionError|AssertionError|RecursionError|NotImplementedError|Unicode(De|En)codeError|ReferenceError|RangeError|SyntaxError|NullPointerException|IllegalArgumentException|IllegalStateException|ClassCastException|ArithmeticException|\w*IndexOutOfBoundsException|ConcurrentModificationException|NumberFormatException|UnsupportedOperationException|StackOverflowError|NoSuchElementException|NullReferenceException|InvalidCastException)\b",
    ),
    (
        Category::Runtime,
        r"(?i)\bpanicked at\b|\bpanic:|\bcalled `?(Option|Result)::unwrap\(\)|\bindex out of (range|bounds)\b|\b(division|divide) by zero\b|\bassertion( `[^`]*`)? failed\b|\bsegmentation (fault|violation)\b|\bsegfault\b|\bSIG(SEGV|ABRT|BUS)\b|\bnil pointer dereference\b|\binvalid memory address\b|\bnull pointer\b|\bis not a function\b|\bcannot read propert(y|ies) of (undefined|null)\b|\bis not defined\b|\bmaximum recursion depth\b|\boverflowed its stack\b|\bentered unreachable code\b|\battempt to (add|subtract|multiply|divide) with overflow\b|\bNoneType\b",
    ),
];

static RULE_SET: LazyLock<RegexSet> = LazyLock::new(|| {
    // ASCII word boundaries keep the set in the lazy DFA (a Unicode `\b` sends it to slower
    // engines), and a larger DFA cache stops it from being rebuilt over and over under the
    // variety of real messages (measured: ~10× the cost per call in the server before).
    RegexSetBuilder::new(
        RULES
            .iter()
            .map(|(_, pattern)| super::ascii_word_boundaries(pattern)),
    )
    .dfa_size_limit(8 << 20)
    .build()
    .expect("valid classify patterns")
});

/// Infers a category from an error type and message using ordered keyword
/// rules (see `RULES`); the earliest matching rule wins, otherwise `Unknown`.
pub fn classify(error_type: &str, message: &str) -> Category {
    let haystack = format!("{}: {}", error_type.trim(), message);
    RULE_SET
        .matches(&haystack)
        .iter()
        .next()
        .and_then(|index| RULES.get(index))
        .map_or(Category::Unknown, |(category, _)| *category)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Category::*;

    #[test]
    fn parse_accepts_any_case() {
        let cases = [
            ("NETWORK", Network),
            ("network", Network),
            (" Resource ", Resource),
            ("CONFIG", Config),
            ("Dependency", Dependency),
            ("RUNTIME", Runtime),
            ("auth", Auth),
            ("UNKNOWN", Unknown),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_category(input), Ok(expected), "input {input:?}");
        }
        for input in ["", "net", "AUTHENTICATION", "other"] {
            assert!(parse_category(input).is_err(), "input {input:?}");
        }
    }

    #[test]
    fn as_str_round_trips_through_parse_and_serde() -> Result<(), serde_json::Error> {
        for category in Category::ALL {
            assert_eq!(parse_category(category.as_str()), Ok(category));
            let json = serde_json::to_string(&category)?;
            assert_eq!(json, format!("\"{}\"", category.as_str()));
            assert_eq!(serde_json::from_str::<Category>(&json)?, category);
        }
        Ok(())
    }

    #[test]
    fn classify_examples() {
        // (label, error_type, message, expected)
        let cases: &[(&str, &str, &str, Category)] = &[
            // Network
            (
                "py refused",
                "ConnectionRefusedError",
                "[Errno 111] Connection refused",
                Network,
            ),
            (
                "node econnrefused",
                "Error",
                "connect ECONNREFUSED 127.0.0.1:5432",
                Network,
            ),
            (
                "py requests dns",
                "requests.exceptions.ConnectionError",
                "HTTPSConnectionPool(host='api.stripe.com', port=443): Max retries exceeded with url: /v1/charges (Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f>: Failed to establish a new connection: [Errno -3] Temporary failure in name resolution'))",
                Network,
            ),
            (
                "java read timeout",
                "java.net.SocketTimeoutException",
                "Read timed out",
                Network,
            ),
            (
                "go dial refused",
                "*net.OpError",
                "dial tcp 10.0.3.7:6379: connect: connection refused",
                Network,
            ),
            (
                "go dns",
                "*url.Error",
                "Get \"https://api.internal/v1/users\": dial tcp: lookup api.internal on 10.96.0.10:53: no such host",
                Network,
            ),
            (
                "rust reqwest timeout",
                "reqwest::Error",
                "error sending request for url (https://billing.svc/v1/invoices): operation timed out",
                Network,
            ),
            (
                "py 502",
                "requests.exceptions.HTTPError",
                "502 Server Error: Bad Gateway for url: https://gw.example.com/api",
                Network,
            ),
            ("node hang up", "Error", "socket hang up", Network),
            (
                "health check",
                "HealthCheckError",
                "health check failed for db-primary:5432: connection timed out",
                Network,
            ),
            (
                "node getaddrinfo",
                "FetchError",
                "request to https://api.github.com/repos failed, reason: getaddrinfo ENOTFOUND api.github.com",
                Network,
            ),
            (
                "rust reset",
                "std::io::Error",
                "Connection reset by peer (os error 104)",
                Network,
            ),
            (
                "grpc",
                "grpc.RpcError",
                "StatusCode.UNAVAILABLE: failed to connect to all addresses",
                Network,
            ),
            (
                "go deadline",
                "context.deadlineExceededError",
                "context deadline exceeded",
                Network,
            ),
            (
                "rust unwrap on refused",
                "panic",
                "called `Result::unwrap()` on an `Err` value: Os { code: 111, kind: ConnectionRefused, message: \"Connection refused\" }",
                Network,
            ),
            (
                "axios 503",
                "AxiosError",
                "Request failed with status code 503",
                Network,
            ),
            // Resource
            ("py MemoryError", "MemoryError", "", Resource),
            (
                "java heap",
                "java.lang.OutOfMemoryError",
                "Java heap space",
                Resource,
            ),
            (
                "node heap",
                "FATAL ERROR",
                "Reached heap limit Allocation failed - JavaScript heap out of memory",
                Resource,
            ),
            (
                "py disk full",
                "OSError",
                "[Errno 28] No space left on device: '/var/lib/app/cache/blob.bin'",
                Resource,
            ),
            (
                "node emfile",
                "Error",
                "EMFILE: too many open files, open '/app/uploads/a.png'",
                Resource,
            ),
            (
                "sqlalchemy pool",
                "sqlalchemy.exc.TimeoutError",
                "QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00",
                Resource,
            ),
            (
                "hikari pool",
                "java.sql.SQLTransientConnectionException",
                "HikariPool-1 - Connection is not available, request timed out after 30000ms.",
                Resource,
            ),
            (
                "rate limit",
                "openai.RateLimitError",
                "Rate limit exceeded: 429 Too Many Requests",
                Resource,
            ),
            (
                "gcp quota",
                "google.api_core.exceptions.ResourceExhausted",
                "429 Quota exceeded for quota metric 'Write requests'",
                Resource,
            ),
            (
                "cuda oom",
                "RuntimeError",
                "CUDA out of memory. Tried to allocate 2.00 GiB",
                Resource,
            ),
            (
                "rust alloc",
                "panic",
                "memory allocation of 8589934592 bytes failed",
                Resource,
            ),
            (
                "k8s oom",
                "OOMKilled",
                "container exceeded memory limit (512Mi)",
                Resource,
            ),
            (
                "pg clients",
                "psycopg2.OperationalError",
                "FATAL:  sorry, too many clients already",
                Resource,
            ),
            // Config
            ("py settings KeyError", "KeyError", "'DATABASE_URL'", Config),
            (
                "django",
                "django.core.exceptions.ImproperlyConfigured",
                "The SECRET_KEY setting must not be empty.",
                Config,
            ),
            (
                "node env var",
                "Error",
                "Missing required environment variable: STRIPE_API_KEY",
                Config,
            ),
            (
                "rust invalid config",
                "ConfigError",
                "invalid configuration: listen port 99999 out of range",
                Config,
            ),
            (
                "config file",
                "FileNotFoundError",
                "config file not found: /etc/faultline/config.toml",
                Config,
            ),
            (
                "protocol",
                "Error",
                "protocol mismatch: expected postgresql got http",
                Config,
            ),
            (
                "expected proto",
                "sqlx::Error",
                "expected 'postgres', but got 'http' on port 8080",
                Config,
            ),
            (
                "spring placeholder",
                "org.springframework.beans.factory.BeanCreationException",
                "Could not resolve placeholder 'db.url' in value \"${db.url}\"",
                Config,
            ),
            (
                "go http->https",
                "*errors.errorString",
                "http: server gave HTTP response to HTTPS client",
                Config,
            ),
            (
                "go env",
                "main.configError",
                "environment variable REDIS_URL is not set",
                Config,
            ),
            // Dependency
            (
                "py no module",
                "ModuleNotFoundError",
                "No module named 'psycopg2'",
                Dependency,
            ),
            (
                "py cannot import",
                "ImportError",
                "cannot import name 'soft_unicode' from 'markupsafe'",
                Dependency,
            ),
            (
                "node module",
                "Error",
                "Cannot find module 'express'\nRequire stack:\n- /app/server.js",
                Dependency,
            ),
            (
                "java class",
                "java.lang.NoClassDefFoundError",
                "org/apache/commons/lang3/StringUtils",
                Dependency,
            ),
            (
                "sqlite table",
                "sqlite3.OperationalError",
                "no such table: users",
                Dependency,
            ),
            (
                "pg relation",
                "psycopg2.errors.UndefinedTable",
                "relation \"invoices\" does not exist",
                Dependency,
            ),
            (
                "upstream",
                "DependencyError",
                "upstream service payments unavailable",
                Dependency,
            ),
            (
                "shared lib",
                "ImportError",
                "libssl.so.1.1: cannot open shared object file: No such file or directory",
                Dependency,
            ),
            (
                "version",
                "VersionMismatch",
                "version mismatch: client 2.3 requires server >= 3.0",
                Dependency,
            ),
            (
                "migrations",
                "RuntimeError",
                "3 migrations have not been applied: run `migrate`",
                Dependency,
            ),
            // Auth
            (
                "py 401",
                "requests.exceptions.HTTPError",
                "401 Client Error: Unauthorized for url: https://api.example.com/me",
                Auth,
            ),
            (
                "py permission",
                "PermissionError",
                "[Errno 13] Permission denied: '/var/log/app.log'",
                Auth,
            ),
            ("node jwt", "TokenExpiredError", "jwt expired", Auth),
            (
                "pg password",
                "psycopg2.OperationalError",
                "FATAL:  password authentication failed for user \"app\"",
                Auth,
            ),
            (
                "spring",
                "org.springframework.security.access.AccessDeniedException",
                "Access is denied",
                Auth,
            ),
            (
                "aws expired",
                "botocore.exceptions.ClientError",
                "An error occurred (ExpiredToken) when calling the GetObject operation: The provided token has expired.",
                Auth,
            ),
            (
                "axios 403",
                "AxiosError",
                "Request failed with status code 403",
                Auth,
            ),
            (
                "go forbidden",
                "*errors.errorString",
                "github: 403 Forbidden",
                Auth,
            ),
            (
                "invalid api key",
                "stripe.error.AuthenticationError",
                "Invalid API Key provided: sk_test_****",
                Auth,
            ),
            // Runtime
            (
                "js undefined",
                "TypeError",
                "Cannot read properties of undefined (reading 'map')",
                Runtime,
            ),
            (
                "py ValueError",
                "ValueError",
                "invalid literal for int() with base 10: 'abc'",
                Runtime,
            ),
            (
                "java npe",
                "java.lang.NullPointerException",
                "Cannot invoke \"String.length()\" because \"name\" is null",
                Runtime,
            ),
            (
                "rust panic",
                "panic",
                "thread 'main' panicked at src/main.rs:14:5:\ncalled `Option::unwrap()` on a `None` value",
                Runtime,
            ),
            (
                "go index",
                "runtime.Error",
                "panic: runtime error: index out of range [5] with length 3",
                Runtime,
            ),
            (
                "py attribute",
                "AttributeError",
                "'NoneType' object has no attribute 'id'",
                Runtime,
            ),
            (
                "py zero div",
                "ZeroDivisionError",
                "division by zero",
                Runtime,
            ),
            (
                "rust assert",
                "panic",
                "assertion `left == right` failed\n  left: 1\n right: 2",
                Runtime,
            ),
            (
                "go nil",
                "runtime.Error",
                "panic: runtime error: invalid memory address or nil pointer dereference [signal SIGSEGV: segmentation violation]",
                Runtime,
            ),
            (
                "java bounds",
                "java.lang.ArrayIndexOutOfBoundsException",
                "Index 10 out of bounds for length 10",
                Runtime,
            ),
            ("py plain KeyError", "KeyError", "'user_id'", Runtime),
            (
                "js not a function",
                "TypeError",
                "user.save is not a function",
                Runtime,
            ),
            // Unknown
            ("vague", "Error", "something went wrong", Unknown),
            (
                "domain",
                "OrderRejected",
                "order 1234 could not be processed",
                Unknown,
            ),
            ("empty", "", "", Unknown),
            (
                "benign words",
                "Exception",
                "token bucket refilled; session started for user 42",
                Unknown,
            ),
        ];
        assert!(cases.len() >= 40);
        for category in Category::ALL {
            assert!(
                cases.iter().any(|case| case.3 == category),
                "no example for {category:?}"
            );
        }
        let failures: Vec<String> = cases
            .iter()
            .filter_map(|(label, error_type, message, expected)| {
                let got = classify(error_type, message);
                (got != *expected).then(|| format!("{label}: expected {expected:?}, got {got:?}"))
            })
            .collect();
        assert!(
            failures.is_empty(),
            "misclassified:\n{}",
            failures.join("\n")
        );
    }

    #[test]
    fn classify_is_case_insensitive_for_keywords() {
        assert_eq!(classify("error", "CONNECTION REFUSED"), Network);
        assert_eq!(classify("error", "Out Of Memory"), Resource);
        assert_eq!(classify("error", "PERMISSION DENIED"), Auth);
    }
}
