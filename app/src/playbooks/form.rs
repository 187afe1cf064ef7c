//! The playbook form: the same playbook as flat, string-valued fields a plain HTML form can
//! post (steps as numbered rows), and the conversion both ways. Numbers that do not parse are
//! reported with the field path the JSON editor uses (`actions[0].expect_status`).

use super::{Action, MatchRules, Mode, PlaybookSpec, Risk, Verify};
use serde::{Deserialize, Serialize};

/// Step rows the form shows for actions, and for rollback.
pub const ACTION_ROWS: usize = 5;
pub const ROLLBACK_ROWS: usize = 3;

/// One step row: `kind` says which of the other fields count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StepForm {
    /// `""` (unused row), `http`, `agent_task`, `command` or `wait`.
    pub kind: String,
    pub method: String,
    pub url: String,
    pub expect_status: String,
    pub body: String,
    /// `Name: value` per line.
    pub headers: String,
    pub task: String,
    pub agent: String,
    pub program: String,
    /// One argument per line.
    pub args: String,
    /// Seconds: the wait, or the step's timeout.
    pub secs: String,
}

/// A playbook as the form posts it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlaybookForm {
    pub name: String,
    pub description: String,
    pub categories: Vec<String>,
    /// Comma-separated.
    pub error_types: String,
    /// Comma-separated.
    pub services: String,
    pub min_severity: String,
    pub message_pattern: String,
    pub steps: Vec<StepForm>,
    pub rollback: Vec<StepForm>,
    /// `""`, `http`, `agent_task` or `no_recurrence`.
    pub verify_kind: String,
    pub verify_url: String,
    pub verify_expect_status: String,
    pub verify_task: String,
    pub verify_agent: String,
    pub verify_secs: String,
    pub risk: String,
    /// `"on"` when ticked.
    pub needs_approval: Option<String>,
    pub mode: String,
    pub cooldown_secs: String,
    pub max_attempts: String,
    pub enabled: Option<String>,
}

type Problems = Vec<(String, String)>;

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

fn opt<T: ToString>(n: Option<T>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

fn text(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|v| !v.is_empty())
}

fn number<T: std::str::FromStr>(s: &str, field: String, problems: &mut Problems) -> Option<T> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    match s.parse::<T>() {
        Ok(n) => Some(n),
        Err(_) => {
            problems.push((field, "must be a whole number".into()));
            None
        }
    }
}

impl StepForm {
    fn to_action(&self, at: &str, problems: &mut Problems) -> Option<Action> {
        let secs = |p: &mut Problems| number::<u32>(&self.secs, format!("{at}.secs"), p);
        match self.kind.as_str() {
            "" => None,
            "http" => Some(Action::Http {
                method: self.method.trim().to_uppercase(),
                url: self.url.trim().to_owned(),
                headers: self
                    .headers
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(|l| match l.split_once(':') {
                        Some((k, v)) => (k.trim().to_owned(), v.trim().to_owned()),
                        None => (l.to_owned(), String::new()),
                    })
                    .collect(),
                body: (!self.body.is_empty()).then(|| self.body.clone()),
                expect_status: number(&self.expect_status, format!("{at}.expect_status"), problems),
            }),
            "agent_task" => Some(Action::AgentTask {
                task: self.task.trim().to_owned(),
                agent: text(&self.agent),
                timeout_secs: secs(problems),
            }),
            "command" => Some(Action::Command {
                program: self.program.trim().to_owned(),
                args: self
                    .args
                    .lines()
                    .map(|a| a.trim_end_matches('\r').to_owned())
                    .filter(|a| !a.is_empty())
                    .collect(),
                timeout_secs: secs(problems),
            }),
            "wait" => Some(Action::Wait {
                secs: secs(problems).unwrap_or(0),
            }),
            _ => {
                problems.push((
                    format!("{at}.type"),
                    "must be http, agent_task, command or wait".into(),
                ));
                None
            }
        }
    }

    fn from_action(a: &Action) -> Self {
        match a {
            Action::Http {
                method,
                url,
                headers,
                body,
                expect_status,
            } => Self {
                kind: "http".into(),
                method: method.clone(),
                url: url.clone(),
                expect_status: opt(*expect_status),
                body: body.clone().unwrap_or_default(),
                headers: headers
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                ..Self::default()
            },
            Action::AgentTask {
                task,
                agent,
                timeout_secs,
            } => Self {
                kind: "agent_task".into(),
                task: task.clone(),
                agent: agent.clone().unwrap_or_default(),
                secs: opt(*timeout_secs),
                ..Self::default()
            },
            Action::Command {
                program,
                args,
                timeout_secs,
            } => Self {
                kind: "command".into(),
                program: program.clone(),
                args: args.join("\n"),
                secs: opt(*timeout_secs),
                ..Self::default()
            },
            Action::Wait { secs } => Self {
                kind: "wait".into(),
                secs: secs.to_string(),
                ..Self::default()
            },
        }
    }
}

/// `rows` rows from `actions`, padded with unused ones (at least one spare, if room).
fn rows(actions: &[Action], rows: usize) -> Vec<StepForm> {
    let mut out: Vec<StepForm> = actions.iter().map(StepForm::from_action).collect();
    while out.len() < rows.max(actions.len() + 1) {
        out.push(StepForm::default());
    }
    out
}

impl PlaybookForm {
    /// The playbook the form describes; unparsable numbers and unknown choices are reported by
    /// field (the rest is checked by `rules::validate`).
    pub fn to_spec(&self) -> Result<PlaybookSpec, Problems> {
        let mut problems = Problems::new();
        let steps = |list: &[StepForm], name: &str, problems: &mut Problems| {
            let mut out = Vec::new();
            for s in list {
                if let Some(a) = s.to_action(&format!("{name}[{}]", out.len()), problems) {
                    out.push(a);
                }
            }
            out
        };
        let actions = steps(&self.steps, "actions", &mut problems);
        let rollback = steps(&self.rollback, "rollback", &mut problems);
        let verify = match self.verify_kind.as_str() {
            "" => None,
            "http" => Some(Verify::Http {
                url: self.verify_url.trim().to_owned(),
                expect_status: number(
                    &self.verify_expect_status,
                    "verify.expect_status".into(),
                    &mut problems,
                ),
            }),
            "agent_task" => Some(Verify::AgentTask {
                task: self.verify_task.trim().to_owned(),
                agent: text(&self.verify_agent),
            }),
            "no_recurrence" => Some(Verify::NoRecurrence {
                secs: number(&self.verify_secs, "verify.secs".into(), &mut problems).unwrap_or(0),
            }),
            _ => {
                problems.push((
                    "verify.type".into(),
                    "must be http, agent_task or no_recurrence".into(),
                ));
                None
            }
        };
        let risk = match self.risk.as_str() {
            "low" => Risk::Low,
            "medium" | "" => Risk::Medium,
            "high" => Risk::High,
            _ => {
                problems.push(("risk".into(), "must be low, medium or high".into()));
                Risk::Medium
            }
        };
        let mode = match self.mode.as_str() {
            "automatic" => Mode::Automatic,
            "manual" | "" => Mode::Manual,
            _ => {
                problems.push(("mode".into(), "must be automatic or manual".into()));
                Mode::Manual
            }
        };
        let spec = PlaybookSpec {
            name: self.name.trim().to_owned(),
            description: self.description.trim().to_owned(),
            matches: MatchRules {
                categories: self.categories.clone(),
                error_types: list(&self.error_types),
                services: list(&self.services),
                min_severity: text(&self.min_severity),
                message_pattern: text(&self.message_pattern),
            },
            actions,
            verify,
            rollback,
            risk,
            needs_approval: self.needs_approval.is_some(),
            mode,
            cooldown_secs: number(&self.cooldown_secs, "cooldown_secs".into(), &mut problems)
                .unwrap_or(0),
            max_attempts: number(&self.max_attempts, "max_attempts".into(), &mut problems)
                .unwrap_or(0),
            enabled: self.enabled.is_some(),
        };
        if problems.is_empty() {
            Ok(spec)
        } else {
            Err(problems)
        }
    }

    /// The form for `spec` (for editing), with spare step rows.
    pub fn from_spec(spec: &PlaybookSpec) -> Self {
        let m = &spec.matches;
        let (verify_kind, verify_url, verify_expect_status, verify_task, verify_agent, verify_secs) =
            match &spec.verify {
                None => Default::default(),
                Some(Verify::Http { url, expect_status }) => (
                    "http".into(),
                    url.clone(),
                    expect_status.map(|s| s.to_string()).unwrap_or_default(),
                    String::new(),
                    String::new(),
                    String::new(),
                ),
                Some(Verify::AgentTask { task, agent }) => (
                    "agent_task".into(),
                    String::new(),
                    String::new(),
                    task.clone(),
                    agent.clone().unwrap_or_default(),
                    String::new(),
                ),
                Some(Verify::NoRecurrence { secs }) => (
                    "no_recurrence".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    secs.to_string(),
                ),
            };
        Self {
            name: spec.name.clone(),
            description: spec.description.clone(),
            categories: m.categories.clone(),
            error_types: m.error_types.join(", "),
            services: m.services.join(", "),
            min_severity: m.min_severity.clone().unwrap_or_default(),
            message_pattern: m.message_pattern.clone().unwrap_or_default(),
            steps: rows(&spec.actions, ACTION_ROWS),
            rollback: rows(&spec.rollback, ROLLBACK_ROWS),
            verify_kind,
            verify_url,
            verify_expect_status,
            verify_task,
            verify_agent,
            verify_secs,
            risk: match spec.risk {
                Risk::Low => "low",
                Risk::Medium => "medium",
                Risk::High => "high",
            }
            .into(),
            needs_approval: spec.needs_approval.then(|| "on".into()),
            mode: match spec.mode {
                Mode::Automatic => "automatic",
                Mode::Manual => "manual",
            }
            .into(),
            cooldown_secs: spec.cooldown_secs.to_string(),
            max_attempts: spec.max_attempts.to_string(),
            enabled: spec.enabled.then(|| "on".into()),
        }
    }

    /// An empty form for a new playbook: a manual, medium-risk playbook verified by the
    /// error staying away for two minutes.
    pub fn blank() -> Self {
        Self {
            steps: rows(&[], ACTION_ROWS),
            rollback: rows(&[], ROLLBACK_ROWS),
            verify_kind: "no_recurrence".into(),
            verify_secs: "120".into(),
            risk: "medium".into(),
            mode: "manual".into(),
            cooldown_secs: "600".into(),
            max_attempts: "3".into(),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_survive_the_form_both_ways() {
        for spec in crate::playbooks::rules::starters() {
            let form = PlaybookForm::from_spec(&spec);
            assert_eq!(form.to_spec().unwrap(), spec);
        }
        let spec: PlaybookSpec = serde_json::from_value(serde_json::json!({
            "name": "All kinds", "description": "d",
            "match": { "categories": ["network", "auth"], "error_types": ["A", "B"], "services": ["s"], "min_severity": "error", "message_pattern": "x|y" },
            "actions": [
                { "type": "http", "method": "POST", "url": "http://svc/restart", "headers": [["X-Token", "abc"]], "body": "{}", "expect_status": 202 },
                { "type": "agent_task", "task": "clear_cache", "agent": "a1", "timeout_secs": 30 },
                { "type": "command", "program": "/usr/bin/systemctl", "args": ["restart", "my svc"], "timeout_secs": 60 },
                { "type": "wait", "secs": 5 }
            ],
            "verify": { "type": "http", "url": "http://svc/health", "expect_status": 200 },
            "rollback": [{ "type": "agent_task", "task": "rollback_release" }],
            "risk": "high", "needs_approval": true, "mode": "automatic", "cooldown_secs": 60, "max_attempts": 2, "enabled": true
        }))
        .unwrap();
        let form = PlaybookForm::from_spec(&spec);
        assert_eq!(form.steps.len(), ACTION_ROWS);
        assert_eq!(form.to_spec().unwrap(), spec);
    }

    #[test]
    fn bad_numbers_and_choices_name_their_fields() {
        let mut form = PlaybookForm::blank();
        form.name = "x".into();
        form.steps[0] = StepForm {
            kind: "http".into(),
            method: "get".into(),
            url: "http://svc/".into(),
            expect_status: "two hundred".into(),
            ..Default::default()
        };
        form.steps[2] = StepForm {
            kind: "wait".into(),
            secs: "-1".into(),
            ..Default::default()
        };
        form.verify_kind = "ping".into();
        form.cooldown_secs = "soon".into();
        let problems = form.to_spec().unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        // Unused rows do not count: the wait is the second action.
        assert_eq!(
            fields,
            [
                "actions[0].expect_status",
                "actions[1].secs",
                "verify.type",
                "cooldown_secs"
            ]
        );
        let mut ok = PlaybookForm::blank();
        ok.name = "y".into();
        ok.steps[1].kind = "wait".into();
        ok.steps[1].secs = "3".into();
        let spec = ok.to_spec().unwrap();
        assert_eq!(spec.actions, [Action::Wait { secs: 3 }]);
    }
}
