//! Playbooks: how Faultline fixes an error it knows — what to match, what to do, how to
//! verify, how to roll back, and how careful to be. This module holds the shared types; the
//! rules (validation, matching, ranking, the starter set) live in `rules` on the server.

use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod rules;

/// How risky a playbook's actions are; `High` always waits for an admin's approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    Medium,
    High,
}

/// Whether a playbook may start by itself on a new or regressed group, or only on request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Automatic,
    Manual,
}

/// When a playbook applies. Every rule that is set must hold; an empty list or `None` allows
/// anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchRules {
    /// Categories (`network`, `resource`, …); any of them.
    pub categories: Vec<String>,
    /// Error types, compared case-insensitively; any of them.
    pub error_types: Vec<String>,
    /// Services, exactly; any of them.
    pub services: Vec<String>,
    /// The least severity that matches (`info` < `warning` < `error` < `critical`).
    pub min_severity: Option<String>,
    /// A regular expression the message must match (case-insensitive).
    pub message_pattern: Option<String>,
}

/// One step of a playbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Calls an HTTP endpoint (its host must be on the server's allow-list).
    Http {
        method: String,
        url: String,
        #[serde(default)]
        headers: Vec<(String, String)>,
        #[serde(default)]
        body: Option<String>,
        /// The status that counts as success (default: any 2xx).
        #[serde(default)]
        expect_status: Option<u16>,
    },
    /// Hands a named task to an agent and waits for its result.
    AgentTask {
        task: String,
        /// The agent by name; none means the agent that reported the error.
        #[serde(default)]
        agent: Option<String>,
        #[serde(default)]
        timeout_secs: Option<u32>,
    },
    /// Runs an allow-listed local program (no shell), its output captured.
    Command {
        program: String,
        #[serde(default)]
        args: Vec<String>,
        #[serde(default)]
        timeout_secs: Option<u32>,
    },
    /// Waits before the next step.
    Wait { secs: u32 },
}

/// How a run proves its fix worked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Verify {
    /// An HTTP check answering `expect_status` (default: any 2xx).
    Http {
        url: String,
        #[serde(default)]
        expect_status: Option<u16>,
    },
    /// An agent task that must succeed.
    AgentTask {
        task: String,
        #[serde(default)]
        agent: Option<String>,
    },
    /// No new occurrence of the group for this long.
    NoRecurrence { secs: u32 },
}

/// A playbook as it is written, imported, exported and stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaybookSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, rename = "match")]
    pub matches: MatchRules,
    pub actions: Vec<Action>,
    pub verify: Option<Verify>,
    #[serde(default)]
    pub rollback: Vec<Action>,
    pub risk: Risk,
    /// Waits for an admin's approval before acting (always so for high risk).
    #[serde(default)]
    pub needs_approval: bool,
    pub mode: Mode,
    /// Seconds after a run on a group before another may start on it.
    #[serde(default)]
    pub cooldown_secs: u32,
    /// Runs per group at most (0: no limit).
    #[serde(default)]
    pub max_attempts: u32,
    #[serde(default)]
    pub enabled: bool,
}
