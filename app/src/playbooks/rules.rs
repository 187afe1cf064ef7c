//! The playbook rules, as plain functions without I/O: validation with an error per field,
//! the host and program allow-lists (checked at save and again at run), matching a playbook
//! to an error, ordering candidates by what worked, and the starter set.

use super::{Action, MatchRules, Mode, PlaybookSpec, Risk, Verify};
use crate::errors::pure::{Category, Severity, parse_category, parse_severity};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What the server allows actions to reach, from its configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Host names (or `*.example.com` suffixes, or IP addresses) `http` steps may call.
    pub allowed_hosts: Vec<String>,
    /// Absolute paths of the programs `command` steps may run; empty: no commands at all.
    pub allowed_commands: Vec<String>,
}

/// Every problem of a playbook, as (field path, message): `name`, `actions[0].url`, …
pub type FieldErrors = Vec<(String, String)>;

/// Most steps in `actions` or `rollback`.
pub const MAX_STEPS: usize = 20;
/// Longest step timeout, wait, cooldown or verification window, in seconds.
pub const MAX_SECS: u32 = 24 * 3600;
const HTTP_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Checks a playbook against its own rules and `policy`; all problems at once.
pub fn validate(spec: &PlaybookSpec, policy: &Policy) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut err = |field: String, message: &str| errors.push((field, message.to_owned()));
    let name = spec.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        err("name".into(), "enter a name of 1–200 characters");
    }
    if spec.description.chars().count() > 2000 {
        err("description".into(), "must be at most 2000 characters");
    }
    for (i, c) in spec.matches.categories.iter().enumerate() {
        if parse_category(c).is_err() {
            err(
                format!("match.categories[{i}]"),
                "must be one of network, resource, config, dependency, runtime, auth, unknown",
            );
        }
    }
    if let Some(s) = &spec.matches.min_severity
        && parse_severity(s).is_err()
    {
        err(
            "match.min_severity".into(),
            "must be one of critical, error, warning, info",
        );
    }
    if let Some(p) = &spec.matches.message_pattern
        && let Err(e) = compile(p)
    {
        err("match.message_pattern".into(), &e);
    }
    if spec.actions.is_empty() {
        err("actions".into(), "add at least one step");
    }
    for (list, steps) in [("actions", &spec.actions), ("rollback", &spec.rollback)] {
        if steps.len() > MAX_STEPS {
            err(list.into(), &format!("at most {MAX_STEPS} steps"));
        }
        for (i, step) in steps.iter().enumerate() {
            check_action(step, policy, &format!("{list}[{i}]"), &mut err);
        }
    }
    match &spec.verify {
        None => {}
        Some(Verify::Http { url, expect_status }) => {
            if let Err(e) = check_url(url, policy) {
                err("verify.url".into(), &e);
            }
            check_status(*expect_status, "verify.expect_status", &mut err);
        }
        Some(Verify::AgentTask { task, .. }) => check_task(task, "verify.task", &mut err),
        Some(Verify::NoRecurrence { secs }) if !(1..=MAX_SECS).contains(secs) => {
            err("verify.secs".into(), "must be 1 to 86400 seconds");
        }
        Some(Verify::NoRecurrence { .. }) => {}
    }
    if spec.cooldown_secs > MAX_SECS {
        err("cooldown_secs".into(), "must be at most 86400 seconds");
    }
    if spec.max_attempts > 100 {
        err("max_attempts".into(), "must be at most 100 (0: no limit)");
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn check_action(action: &Action, policy: &Policy, at: &str, err: &mut impl FnMut(String, &str)) {
    match action {
        Action::Http {
            method,
            url,
            headers,
            body,
            expect_status,
        } => {
            if !HTTP_METHODS.contains(&method.as_str()) {
                err(
                    format!("{at}.method"),
                    "must be one of GET, POST, PUT, PATCH, DELETE",
                );
            }
            if let Err(e) = check_url(url, policy) {
                err(format!("{at}.url"), &e);
            }
            for (h, (name, value)) in headers.iter().enumerate() {
                let token = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                if !token || value.contains(['\r', '\n']) || value.len() > 8192 {
                    err(
                        format!("{at}.headers[{h}]"),
                        "a header needs a plain name and a one-line value",
                    );
                }
            }
            if body.as_ref().is_some_and(|b| b.len() > 64 * 1024) {
                err(format!("{at}.body"), "must be at most 64 KiB");
            }
            check_status(*expect_status, &format!("{at}.expect_status"), err);
        }
        Action::AgentTask {
            task, timeout_secs, ..
        } => {
            check_task(task, &format!("{at}.task"), err);
            check_timeout(*timeout_secs, &format!("{at}.timeout_secs"), err);
        }
        Action::Command {
            program,
            args,
            timeout_secs,
        } => {
            if let Err(e) = check_command(program, policy) {
                err(format!("{at}.program"), &e);
            }
            if args.len() > 50 || args.iter().any(|a| a.len() > 4096 || a.contains('\0')) {
                err(
                    format!("{at}.args"),
                    "at most 50 arguments of up to 4096 characters, without NUL",
                );
            }
            check_timeout(*timeout_secs, &format!("{at}.timeout_secs"), err);
        }
        Action::Wait { secs } => {
            if !(1..=3600).contains(secs) {
                err(format!("{at}.secs"), "must be 1 to 3600 seconds");
            }
        }
    }
}

fn check_status(status: Option<u16>, field: &str, err: &mut impl FnMut(String, &str)) {
    if status.is_some_and(|s| !(100..=599).contains(&s)) {
        err(field.into(), "must be an HTTP status from 100 to 599");
    }
}

fn check_timeout(secs: Option<u32>, field: &str, err: &mut impl FnMut(String, &str)) {
    if secs.is_some_and(|s| !(1..=3600).contains(&s)) {
        err(field.into(), "must be 1 to 3600 seconds");
    }
}

fn check_task(task: &str, field: &str, err: &mut impl FnMut(String, &str)) {
    if !crate::agents::tasks::is_task_name(task) {
        err(field.into(), crate::agents::tasks::TASK_NAME_RULE);
    }
}

fn compile(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.len() > 1000 {
        return Err("must be at most 1000 characters".into());
    }
    regex::RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("not a valid regular expression: {e}"))
}

/// Addresses no playbook may reach, whatever the allow-list says: link-local (cloud metadata
/// services live there), the unspecified address, and the known metadata endpoints.
pub fn forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_link_local() || v4.is_unspecified() || v4 == Ipv4Addr::new(100, 100, 100, 200)
        }
        IpAddr::V6(v6) => {
            (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.is_unspecified()
                || v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| forbidden_ip(IpAddr::V4(v4)))
        }
    }
}

/// Host names of cloud metadata services, never reachable whatever the allow-list says.
pub const METADATA_HOSTS: [&str; 3] = ["metadata.google.internal", "metadata", "instance-data"];

/// The lower-cased host of an `http(s)://` URL without credentials; an error says why not.
pub fn url_host(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("must start with http:// or https://")?;
    if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must be one line of at most 2048 characters".into());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not carry credentials (use a header)".into());
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err("has no host".into());
    }
    Ok(host.trim_end_matches('.').to_ascii_lowercase())
}

/// Checks that `url` may be called: http(s), no credentials, not a forbidden address, and
/// its host on the allow-list. The runner checks again after resolving the name.
pub fn check_url(url: &str, policy: &Policy) -> Result<(), String> {
    let host = url_host(url)?;
    if let Ok(ip) = host.parse::<IpAddr>() {
        if forbidden_ip(ip) {
            return Err("link-local and cloud metadata addresses are never allowed".into());
        }
    } else if METADATA_HOSTS.contains(&host.as_str()) {
        return Err("cloud metadata endpoints are never allowed".into());
    } else if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') || host.starts_with("0x") {
        return Err("write addresses in dotted form".into());
    }
    let allowed = policy.allowed_hosts.iter().any(|a| {
        let a = a.trim().trim_end_matches('.').to_ascii_lowercase();
        match a.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => a == host,
        }
    });
    if allowed {
        Ok(())
    } else if policy.allowed_hosts.is_empty() {
        Err("no host is allowed yet: start the server with FAULTLINE_FIX_ALLOWED_HOSTS".into())
    } else {
        Err(format!(
            "{host} is not on the server's list of allowed hosts"
        ))
    }
}

/// Checks that `program` is one of the allow-listed programs (exactly, by absolute path).
pub fn check_command(program: &str, policy: &Policy) -> Result<(), String> {
    if policy.allowed_commands.is_empty() {
        return Err(
            "commands are disabled: start the server with FAULTLINE_FIX_ALLOWED_COMMANDS".into(),
        );
    }
    if policy.allowed_commands.iter().any(|c| c == program) {
        Ok(())
    } else {
        Err(format!(
            "{program} is not on the server's list of allowed programs"
        ))
    }
}

/// What matching looks at in an error group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorFacts {
    pub category: String,
    pub error_type: String,
    pub service: String,
    pub severity: String,
    pub message: String,
}

/// A playbook's match rules, parsed once for many errors.
#[derive(Debug, Clone)]
pub struct Matcher {
    categories: Vec<Category>,
    error_types: Vec<String>,
    services: Vec<String>,
    min_severity: Option<Severity>,
    pattern: Option<regex::Regex>,
}

impl Matcher {
    /// Parses `rules` (already validated; anything invalid is an error here too).
    pub fn new(rules: &MatchRules) -> Result<Self, String> {
        Ok(Self {
            categories: rules
                .categories
                .iter()
                .map(|c| parse_category(c))
                .collect::<Result<_, _>>()?,
            error_types: rules
                .error_types
                .iter()
                .map(|t| t.trim().to_lowercase())
                .collect(),
            services: rules.services.iter().map(|s| s.trim().to_owned()).collect(),
            min_severity: rules
                .min_severity
                .as_deref()
                .map(parse_severity)
                .transpose()?,
            pattern: rules.message_pattern.as_deref().map(compile).transpose()?,
        })
    }

    /// Whether every rule that is set holds for `e`.
    pub fn matches(&self, e: &ErrorFacts) -> bool {
        let category = parse_category(&e.category).ok();
        (self.categories.is_empty() || category.is_some_and(|c| self.categories.contains(&c)))
            && (self.error_types.is_empty()
                || self
                    .error_types
                    .contains(&e.error_type.trim().to_lowercase()))
            && (self.services.is_empty() || self.services.contains(&e.service))
            && self
                .min_severity
                .is_none_or(|min| parse_severity(&e.severity).is_ok_and(|s| s >= min))
            && self.pattern.as_ref().is_none_or(|p| p.is_match(&e.message))
    }
}

/// A smoothed success rate (Laplace: one success and one failure assumed), so a playbook
/// that worked once is not ranked above one that worked 40 times out of 45.
pub fn success_rate(successes: u64, failures: u64) -> f64 {
    (successes as f64 + 1.0) / ((successes + failures) as f64 + 2.0)
}

/// What a playbook achieved before: successes and failures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Record {
    pub successes: u64,
    pub failures: u64,
}

impl Record {
    pub fn new(successes: i64, failures: i64) -> Self {
        Self {
            successes: successes.max(0) as u64,
            failures: failures.max(0) as u64,
        }
    }

    fn rate(self) -> f64 {
        success_rate(self.successes, self.failures)
    }
}

/// Orders candidates (id, record on this error's fingerprint, record overall) best first: by
/// smoothed success rate on this very error, then overall, then by more successes, then by id
/// (older first), so the order is stable.
pub fn rank(candidates: &mut [(i64, Record, Record)]) {
    candidates.sort_by(|a, b| {
        b.1.rate()
            .total_cmp(&a.1.rate())
            .then(b.2.rate().total_cmp(&a.2.rate()))
            .then(b.2.successes.cmp(&a.2.successes))
            .then(a.0.cmp(&b.0))
    });
}

/// What stands between a playbook and a new run on one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gates {
    /// Whether the playbook is enabled.
    pub enabled: bool,
    /// Whether the run would start by itself (only automatic playbooks may).
    pub automatic_trigger: bool,
    /// Runs of this playbook on this group so far (rejected and cancelled ones not counted).
    pub attempts: u64,
    /// Seconds since the last run of this playbook on this group started or ended.
    pub secs_since_last_run: Option<i64>,
    /// Seconds the circuit breaker of this playbook and service stays open.
    pub breaker_open_secs: Option<i64>,
}

/// Whether `spec` may start a run now; the error says why not, for a person to read.
pub fn gate(spec: &PlaybookSpec, g: &Gates) -> Result<(), String> {
    if !g.enabled {
        return Err(format!(
            "the playbook “{}” is disabled; enable it on /playbooks first",
            spec.name
        ));
    }
    if g.automatic_trigger && spec.mode != Mode::Automatic {
        return Err(format!(
            "the playbook “{}” runs only when someone asks",
            spec.name
        ));
    }
    if let Some(secs) = g.breaker_open_secs.filter(|s| *s > 0) {
        return Err(format!(
            "the circuit breaker of “{}” on this service is open for {secs} s more after repeated failures",
            spec.name
        ));
    }
    if spec.max_attempts > 0 && g.attempts >= u64::from(spec.max_attempts) {
        return Err(format!(
            "“{}” already ran {} times on this error (its limit)",
            spec.name, g.attempts
        ));
    }
    if let Some(since) = g.secs_since_last_run
        && since < i64::from(spec.cooldown_secs)
    {
        return Err(format!(
            "“{}” ran on this error {since} s ago; its cooldown is {} s",
            spec.name, spec.cooldown_secs
        ));
    }
    Ok(())
}

/// Whether a run of this playbook waits for an admin before acting.
pub fn needs_approval(spec: &PlaybookSpec) -> bool {
    spec.needs_approval || spec.risk == Risk::High
}

/// A regular expression matching `message` whatever its volatile parts (numbers, ids,
/// addresses, quoted values — see `normalize_message`): the rest escaped, the parts as `.*`.
/// `None` when nothing but volatile parts is left.
pub fn message_pattern(message: &str) -> Option<String> {
    let normalized = crate::errors::pure::normalize_message(message);
    let placeholder = regex::Regex::new(r"<(?:tmp|uuid|ts|email|ip|port|hex|str|n)>")
        .expect("a valid expression");
    // At most 400 characters of the message's text, so the escaped pattern (each character
    // at most doubled, plus the wildcards) stays under the 1000-character limit.
    let mut budget = 400usize;
    let mut parts = Vec::new();
    for part in placeholder.split(&normalized).map(str::trim) {
        if part.is_empty() || budget == 0 {
            continue;
        }
        let kept: String = part.chars().take(budget).collect();
        budget -= kept.chars().count();
        parts.push(regex::escape(&kept));
    }
    let pattern = parts.join(".*");
    (!pattern.is_empty()).then_some(pattern)
}

/// What a person's resolution of a group teaches: the group's type, service and message
/// (see [`message_pattern`]), the resolution notes, and the agent tasks that succeeded on it,
/// in order (task, agent name).
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    pub group_id: i64,
    pub error_type: String,
    pub service: String,
    pub message: String,
    pub notes: Option<String>,
    pub resolved_by: Option<String>,
    pub tasks: Vec<(String, String)>,
}

/// A draft playbook from a resolution, to review before saving: manual and disabled, verified
/// by the error staying away for five minutes; its steps are the agent tasks that worked
/// (none when there were none — the person writes them).
pub fn draft_from_resolution(r: &Resolution) -> PlaybookSpec {
    let name: String = format!("Fix {} on {}", r.error_type, r.service)
        .chars()
        .take(200)
        .collect();
    let mut description = format!(
        "Drafted from the resolution of error #{}{}.",
        r.group_id,
        r.resolved_by
            .as_deref()
            .map(|b| format!(" by {b}"))
            .unwrap_or_default()
    );
    if let Some(n) = r.notes.as_deref().filter(|n| !n.trim().is_empty()) {
        description.push_str(&format!(" Notes: {}", n.trim()));
    }
    if r.tasks.is_empty() {
        description.push_str(" No agent task ran on it: write the steps that fixed it.");
    }
    PlaybookSpec {
        name,
        description: description.chars().take(2000).collect(),
        matches: MatchRules {
            error_types: vec![r.error_type.clone()],
            services: vec![r.service.clone()],
            message_pattern: message_pattern(&r.message),
            ..Default::default()
        },
        actions: r
            .tasks
            .iter()
            .map(|(task, agent)| Action::AgentTask {
                task: task.clone(),
                agent: Some(agent.clone()),
                timeout_secs: Some(120),
            })
            .collect(),
        verify: Some(Verify::NoRecurrence { secs: 300 }),
        rollback: Vec::new(),
        risk: Risk::Medium,
        needs_approval: false,
        mode: Mode::Manual,
        cooldown_secs: 600,
        max_attempts: 3,
        enabled: false,
    }
}

/// The starter playbooks for the seed's common fixes, disabled until a company enables them.
pub fn starters() -> Vec<PlaybookSpec> {
    let task = |task: &str| Action::AgentTask {
        task: task.into(),
        agent: None,
        timeout_secs: Some(120),
    };
    let quiet = Some(Verify::NoRecurrence { secs: 120 });
    let spec = |name: &str, description: &str, matches: MatchRules, actions: Vec<Action>, risk| {
        PlaybookSpec {
            name: name.into(),
            description: description.into(),
            matches,
            actions,
            verify: quiet.clone(),
            rollback: Vec::new(),
            risk,
            needs_approval: false,
            mode: Mode::Automatic,
            cooldown_secs: 600,
            max_attempts: 3,
            enabled: false,
        }
    };
    vec![
        spec(
            "Restart a service that stopped responding",
            "The reporting agent restarts the service; fixed when the error stays away for 2 minutes.",
            MatchRules {
                categories: vec!["network".into()],
                message_pattern: Some(
                    r"not responding|connection refused|health ?check failed|unreachable".into(),
                ),
                ..Default::default()
            },
            vec![task("restart_service")],
            Risk::Medium,
        ),
        spec(
            "Reset an exhausted connection pool",
            "The reporting agent drops and refills its connection pool.",
            MatchRules {
                message_pattern: Some(
                    r"pool (is )?(exhausted|timed out|full)|too many connections".into(),
                ),
                ..Default::default()
            },
            vec![task("reset_pool")],
            Risk::Low,
        ),
        spec(
            "Restart after running out of memory",
            "The reporting agent restarts the service that ran out of memory.",
            MatchRules {
                categories: vec!["resource".into()],
                message_pattern: Some(
                    r"out of memory|oom|cannot allocate memory|memoryerror".into(),
                ),
                ..Default::default()
            },
            vec![task("restart_service")],
            Risk::Medium,
        ),
        spec(
            "Clear a stale cache",
            "The reporting agent clears its cache.",
            MatchRules {
                message_pattern: Some(
                    r"stale cache|cache (is )?(stale|corrupt|inconsistent)".into(),
                ),
                ..Default::default()
            },
            vec![task("clear_cache")],
            Risk::Low,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            allowed_hosts: vec![
                "svc.internal".into(),
                "*.example.com".into(),
                "10.0.0.5".into(),
            ],
            allowed_commands: vec!["/usr/bin/systemctl".into()],
        }
    }

    fn facts(
        category: &str,
        error_type: &str,
        service: &str,
        severity: &str,
        message: &str,
    ) -> ErrorFacts {
        ErrorFacts {
            category: category.into(),
            error_type: error_type.into(),
            service: service.into(),
            severity: severity.into(),
            message: message.into(),
        }
    }

    #[test]
    fn urls_are_allow_listed_and_metadata_is_never_reachable() {
        let p = policy();
        for ok in [
            "http://svc.internal/restart",
            "https://api.example.com:8443/cache?x=1",
            "http://SVC.INTERNAL./x",
            "http://10.0.0.5:9000/",
        ] {
            assert_eq!(check_url(ok, &p), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("ftp://svc.internal/", "http"),
            ("http://example.com/", "allowed hosts"),
            ("http://evil.com/?svc.internal", "allowed hosts"),
            ("http://svc.internal@evil.com/", "credentials"),
            ("http://user:pw@svc.internal/", "credentials"),
            ("http://169.254.169.254/latest/meta-data/", "never"),
            ("http://[fe80::1]/", "never"),
            ("http://[::ffff:169.254.169.254]/", "never"),
            ("http://[fd00:ec2::254]/", "never"),
            ("http://100.100.100.200/", "never"),
            (
                "http://metadata.google.internal/computeMetadata/v1/",
                "never",
            ),
            ("http://2852039166/", "dotted"),
            ("http://0xa9fea9fe/", "dotted"),
            ("http:///path", "no host"),
            ("http://svc.internal/a b", "one line"),
        ] {
            let e = check_url(bad, &p).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let none = Policy::default();
        assert!(
            check_url("http://svc.internal/", &none)
                .unwrap_err()
                .contains("FAULTLINE_FIX_ALLOWED_HOSTS")
        );
    }

    #[test]
    fn commands_need_the_exact_allow_listed_path() {
        let p = policy();
        assert_eq!(check_command("/usr/bin/systemctl", &p), Ok(()));
        for bad in [
            "systemctl",
            "/usr/bin/systemctl ",
            "/bin/sh",
            "/usr/bin/../bin/systemctl",
        ] {
            assert!(check_command(bad, &p).is_err(), "{bad}");
        }
        assert!(
            check_command("/usr/bin/systemctl", &Policy::default())
                .unwrap_err()
                .contains("disabled")
        );
    }

    #[test]
    fn validation_names_every_bad_field() {
        let spec = PlaybookSpec {
            name: " ".into(),
            description: String::new(),
            matches: MatchRules {
                categories: vec!["network".into(), "weather".into()],
                min_severity: Some("loud".into()),
                message_pattern: Some("(unclosed".into()),
                ..Default::default()
            },
            actions: vec![
                Action::Http {
                    method: "TRACE".into(),
                    url: "http://169.254.169.254/".into(),
                    headers: vec![("X-Bad\n".into(), "v".into())],
                    body: None,
                    expect_status: Some(700),
                },
                Action::AgentTask {
                    task: "Restart Service".into(),
                    agent: None,
                    timeout_secs: Some(0),
                },
                Action::Command {
                    program: "/bin/rm".into(),
                    args: vec!["-rf".into()],
                    timeout_secs: None,
                },
                Action::Wait { secs: 0 },
            ],
            verify: Some(Verify::NoRecurrence { secs: 0 }),
            rollback: vec![Action::Http {
                method: "POST".into(),
                url: "http://nope.test/".into(),
                headers: vec![],
                body: None,
                expect_status: None,
            }],
            risk: Risk::Low,
            needs_approval: false,
            mode: Mode::Automatic,
            cooldown_secs: 100_000,
            max_attempts: 1000,
            enabled: true,
        };
        let fields: Vec<String> = validate(&spec, &policy())
            .unwrap_err()
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(
            fields,
            [
                "name",
                "match.categories[1]",
                "match.min_severity",
                "match.message_pattern",
                "actions[0].method",
                "actions[0].url",
                "actions[0].headers[0]",
                "actions[0].expect_status",
                "actions[1].task",
                "actions[1].timeout_secs",
                "actions[2].program",
                "actions[3].secs",
                "rollback[0].url",
                "verify.secs",
                "cooldown_secs",
                "max_attempts",
            ]
        );
        let mut empty = starters().remove(0);
        empty.actions.clear();
        assert_eq!(
            validate(&empty, &policy()).unwrap_err(),
            [("actions".to_owned(), "add at least one step".to_owned())]
        );
    }

    #[test]
    fn starters_are_valid_disabled_and_match_the_seed_errors() {
        let starters = starters();
        assert_eq!(starters.len(), 4);
        for s in &starters {
            assert_eq!(validate(s, &Policy::default()), Ok(()), "{}", s.name);
            assert!(!s.enabled, "{}", s.name);
        }
        let cases = [
            (
                0,
                facts(
                    "network",
                    "ConnectionError",
                    "api",
                    "error",
                    "upstream billing not responding",
                ),
                true,
            ),
            (
                0,
                facts(
                    "runtime",
                    "ConnectionError",
                    "api",
                    "error",
                    "upstream not responding",
                ),
                false,
            ),
            (
                1,
                facts(
                    "resource",
                    "PoolTimeout",
                    "db",
                    "error",
                    "Connection pool exhausted after 30 s",
                ),
                true,
            ),
            (
                1,
                facts("resource", "PoolTimeout", "db", "error", "pool resized"),
                false,
            ),
            (
                2,
                facts(
                    "resource",
                    "MemoryError",
                    "worker",
                    "critical",
                    "Out of memory allocating 512 MB",
                ),
                true,
            ),
            (
                3,
                facts(
                    "runtime",
                    "CacheError",
                    "web",
                    "warning",
                    "stale cache entry for user 42",
                ),
                true,
            ),
        ];
        for (i, f, want) in cases {
            let m = Matcher::new(&starters[i].matches).unwrap();
            assert_eq!(m.matches(&f), want, "{}: {f:?}", starters[i].name);
        }
    }

    #[test]
    fn every_set_rule_must_hold() {
        let rules = MatchRules {
            categories: vec!["network".into(), "dependency".into()],
            error_types: vec!["ConnectionError".into()],
            services: vec!["checkout".into()],
            min_severity: Some("error".into()),
            message_pattern: Some(r"refused|reset".into()),
        };
        let m = Matcher::new(&rules).unwrap();
        assert!(m.matches(&facts(
            "network",
            "connectionerror",
            "checkout",
            "critical",
            "Connection REFUSED"
        )));
        for f in [
            facts("runtime", "ConnectionError", "checkout", "error", "refused"),
            facts("network", "TimeoutError", "checkout", "error", "refused"),
            facts("network", "ConnectionError", "billing", "error", "refused"),
            facts(
                "network",
                "ConnectionError",
                "checkout",
                "warning",
                "refused",
            ),
            facts(
                "network",
                "ConnectionError",
                "checkout",
                "error",
                "timed out",
            ),
        ] {
            assert!(!m.matches(&f), "{f:?}");
        }
        assert!(
            Matcher::new(&MatchRules::default())
                .unwrap()
                .matches(&facts("auth", "X", "y", "info", ""))
        );
    }

    #[test]
    fn ranking_prefers_proven_playbooks() {
        let r = Record::new;
        let none = Record::default();
        let mut c = vec![
            (1, none, r(1, 0)),
            (2, none, r(40, 5)),
            (3, none, r(0, 0)),
            (4, none, r(3, 3)),
            (5, none, r(40, 5)),
        ];
        rank(&mut c);
        let order: Vec<i64> = c.iter().map(|x| x.0).collect();
        assert_eq!(order, [2, 5, 1, 4, 3]);
        assert!(success_rate(1, 0) < success_rate(40, 5));
        // What worked on this very error comes first, whatever the overall record says.
        let mut c = vec![
            (1, r(0, 3), r(90, 3)),
            (2, r(4, 0), r(10, 10)),
            (3, none, r(50, 0)),
        ];
        rank(&mut c);
        let order: Vec<i64> = c.iter().map(|x| x.0).collect();
        assert_eq!(order, [2, 3, 1]);
    }

    #[test]
    fn gates_refuse_with_reasons() {
        let mut spec = starters().remove(0);
        spec.max_attempts = 2;
        spec.cooldown_secs = 600;
        let open = Gates {
            enabled: true,
            ..Default::default()
        };
        assert_eq!(gate(&spec, &open), Ok(()));
        for (g, why) in [
            (
                Gates {
                    enabled: false,
                    ..open.clone()
                },
                "disabled",
            ),
            (
                Gates {
                    attempts: 2,
                    ..open.clone()
                },
                "limit",
            ),
            (
                Gates {
                    secs_since_last_run: Some(30),
                    ..open.clone()
                },
                "cooldown",
            ),
            (
                Gates {
                    breaker_open_secs: Some(90),
                    ..open.clone()
                },
                "circuit breaker",
            ),
        ] {
            let e = gate(&spec, &g).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        assert_eq!(
            gate(
                &spec,
                &Gates {
                    secs_since_last_run: Some(600),
                    attempts: 1,
                    breaker_open_secs: Some(0),
                    ..open.clone()
                }
            ),
            Ok(())
        );
        spec.mode = Mode::Manual;
        let auto = Gates {
            automatic_trigger: true,
            ..open.clone()
        };
        assert!(
            gate(&spec, &auto)
                .unwrap_err()
                .contains("only when someone asks")
        );
        assert_eq!(gate(&spec, &open), Ok(()));
    }

    #[test]
    fn resolutions_become_draft_playbooks() {
        let pattern =
            message_pattern("connection refused to db-7:5432 after 30 s (id 9f8e7d6c5b4a)")
                .unwrap();
        let m = regex::RegexBuilder::new(&pattern)
            .case_insensitive(true)
            .build()
            .unwrap();
        assert!(
            m.is_match("connection refused to db-2:6543 after 5 s (id 0011223344ff)"),
            "{pattern}"
        );
        assert!(!m.is_match("connection reset by peer"), "{pattern}");
        assert_eq!(message_pattern("12345"), None);
        assert!(message_pattern("a (b) [c] * + ?").is_some_and(|p| regex::Regex::new(&p).is_ok()));
        let long = "word ".repeat(400);
        assert!(
            message_pattern(&long)
                .is_some_and(|p| p.len() <= 1000 && regex::Regex::new(&p).is_ok())
        );

        let r = Resolution {
            group_id: 4,
            error_type: "PoolTimeout".into(),
            service: "db".into(),
            message: "pool exhausted after 30 s".into(),
            notes: Some("reset the pool".into()),
            resolved_by: Some("user:a@acme.test".into()),
            tasks: vec![("reset_pool".into(), "db-agent".into())],
        };
        let d = draft_from_resolution(&r);
        assert_eq!(validate(&d, &Policy::default()), Ok(()));
        assert_eq!((d.mode, d.enabled), (Mode::Manual, false));
        assert!(d.description.contains("reset the pool") && d.description.contains("#4"));
        assert_eq!(
            d.actions,
            [Action::AgentTask {
                task: "reset_pool".into(),
                agent: Some("db-agent".into()),
                timeout_secs: Some(120)
            }]
        );
        let none = draft_from_resolution(&Resolution { tasks: vec![], ..r });
        assert!(none.actions.is_empty() && none.description.contains("write the steps"));
        assert!(
            validate(&none, &Policy::default())
                .unwrap_err()
                .iter()
                .any(|(f, _)| f == "actions")
        );
    }

    #[test]
    fn high_risk_always_needs_approval() {
        let mut s = starters().remove(1);
        assert!(!needs_approval(&s));
        s.risk = Risk::High;
        assert!(needs_approval(&s));
    }

    #[test]
    fn specs_round_trip_as_json_and_refuse_unknown_fields() {
        for s in starters() {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<PlaybookSpec>(&json).unwrap(), s);
        }
        let bad = r#"{"name":"x","actions":[{"type":"shell","cmd":"rm"}],"verify":null,"risk":"low","mode":"manual"}"#;
        assert!(serde_json::from_str::<PlaybookSpec>(bad).is_err());
        let extra =
            r#"{"name":"x","actions":[],"verify":null,"risk":"low","mode":"manual","sudo":true}"#;
        assert!(serde_json::from_str::<PlaybookSpec>(extra).is_err());
    }
}
