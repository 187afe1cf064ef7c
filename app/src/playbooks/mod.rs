//! Playbooks: how Faultline fixes an error it knows — what to match, what to do, how to
//! verify, how to roll back, and how careful to be. This module holds the shared types; the
//! rules (validation, matching, ranking, the starter set) live in `rules` on the server.

use serde::{Deserialize, Serialize};

pub mod form;
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

use crate::error::AppError;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;

/// A playbook as the page shows it: display-ready text, and its JSON for editing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaybookInfo {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub mode: String,
    pub risk: String,
    pub needs_approval: bool,
    /// When it applies, in words.
    pub applies_to: String,
    /// Its steps, one line each.
    pub steps: Vec<String>,
    /// How a run is verified, in words.
    pub verify: String,
    pub successes: i64,
    pub failures: i64,
    /// The playbook as pretty JSON, for the editor.
    pub json: String,
}

/// The company's playbooks and what the signed-in user may do with them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaybookList {
    pub playbooks: Vec<PlaybookInfo>,
    /// Whether the user is an admin here (may write, enable and delete).
    pub can_edit: bool,
    /// The hosts `http` steps may call (from the server's configuration).
    pub allowed_hosts: Vec<String>,
    /// The programs `command` steps may run (none: commands are off).
    pub allowed_commands: Vec<String>,
    /// Which playbooks match the error group asked about (`test`), if any.
    pub test: Option<MatchTest>,
    /// A draft learned from a resolved group (`from_group`), as JSON for the editor.
    pub draft: Option<Draft>,
}

/// A playbook drafted from how an error was resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    pub group_id: i64,
    pub json: String,
    /// `resolution` or `suggestion`.
    pub source: String,
}

/// Which playbooks would act on one error group, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchTest {
    pub group_id: i64,
    pub group_title: String,
    /// (playbook id, name, whether it is enabled and automatic, whether it needs approval),
    /// best candidate first.
    pub matches: Vec<(i64, String, bool, bool)>,
}

/// The current company's playbooks (any role); `test` is an error group id to match them
/// against; `from_group` a resolved group to draft a playbook from ("save as playbook"),
/// `from_suggestion` a group whose AI suggestion to draft one from.
#[server(prefix = "/api/ui", endpoint = "playbooks/list", input = server_fn::codec::Json)]
pub async fn list_playbooks(
    test: Option<i64>,
    from_group: Option<i64>,
    from_suggestion: Option<i64>,
) -> Result<PlaybookList, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Viewer)?;
    let state = crate::state::app_state();
    let stored = ssr::list(&state.pool, tenant).await?;
    let test = match test {
        Some(group) => Some(ssr::match_test(&state.pool, tenant, group, &stored).await?),
        None => None,
    };
    let draft = match (from_group, from_suggestion) {
        (Some(group), _) => Some(Draft {
            group_id: group,
            json: ssr::draft_from_group(&state.pool, tenant, group).await?,
            source: "resolution".into(),
        }),
        (None, Some(group)) => Some(Draft {
            group_id: group,
            json: crate::suggest::ssr::draft(&state.pool, tenant, group).await?,
            source: "suggestion".into(),
        }),
        (None, None) => None,
    };
    Ok(PlaybookList {
        playbooks: stored.into_iter().map(ssr::info).collect(),
        can_edit: ctx.require(crate::auth::Role::Admin).is_ok(),
        allowed_hosts: state.settings.fix_policy.allowed_hosts.clone(),
        allowed_commands: state.settings.fix_policy.allowed_commands.clone(),
        test,
        draft,
    })
}

/// Saves playbook JSON (admin): with `id`, replaces that playbook; without, creates it — or
/// all of them, when the JSON is a list (an export). Answers how many were saved.
#[server(prefix = "/api/ui", endpoint = "playbooks/save")]
pub async fn save_playbook(id: Option<String>, spec: String) -> Result<usize, AppError> {
    save_specs(id, ssr::parse_specs(&spec)?).await
}

/// Saves the playbook form (admin): with `id`, replaces that playbook; without, creates one.
/// Every problem is named by its field, as for JSON.
#[server(prefix = "/api/ui", endpoint = "playbooks/save_form")]
pub async fn save_playbook_form(
    id: Option<String>,
    form: form::PlaybookForm,
) -> Result<usize, AppError> {
    let spec = form.to_spec().map_err(ssr::field_errors)?;
    save_specs(id, vec![spec]).await
}

#[cfg(feature = "ssr")]
async fn save_specs(id: Option<String>, specs: Vec<PlaybookSpec>) -> Result<usize, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Admin)?;
    let state = crate::state::app_state();
    let policy = &state.settings.fix_policy;
    match id.as_deref().map(str::trim).filter(|i| !i.is_empty()) {
        None => Ok(
            ssr::create(&state.pool, tenant, &specs, policy, &ctx.actor())
                .await?
                .len(),
        ),
        Some(id) => {
            let id = id
                .parse::<i64>()
                .map_err(|_| AppError::not_found("playbook"))?;
            let [spec] = specs.as_slice() else {
                return Err(AppError::invalid(
                    "spec",
                    "replace a playbook with one object, not a list",
                ));
            };
            ssr::update(&state.pool, tenant, id, spec, policy, &ctx.actor()).await?;
            Ok(1)
        }
    }
}

/// Turns a playbook on or off (admin); `enabled` is `true` or `false`.
#[server(prefix = "/api/ui", endpoint = "playbooks/enable")]
pub async fn enable_playbook(id: i64, enabled: String) -> Result<(), AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Admin)?;
    let enabled = match enabled.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(AppError::invalid("enabled", "must be true or false")),
    };
    ssr::set_enabled(&crate::state::pool(), tenant, id, enabled, &ctx.actor()).await
}

/// Deletes a playbook (admin).
#[server(prefix = "/api/ui", endpoint = "playbooks/delete")]
pub async fn delete_playbook(id: i64) -> Result<(), AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Admin)?;
    ssr::delete(&crate::state::pool(), tenant, id, &ctx.actor()).await
}

/// Adds the starter playbooks the company does not have yet, disabled (admin).
#[server(prefix = "/api/ui", endpoint = "playbooks/starters")]
pub async fn install_starter_playbooks() -> Result<usize, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Admin)?;
    ssr::install_starters(&crate::state::pool(), tenant, &ctx.actor()).await
}

/// Every playbook of the current company as a JSON list, to download and import elsewhere
/// (any role; a plain GET link, so the browser build has no code for it).
#[cfg(feature = "ssr")]
#[server(prefix = "/api/ui", endpoint = "playbooks/export", input = server_fn::codec::GetUrl)]
pub async fn export_playbooks() -> Result<Vec<PlaybookSpec>, AppError> {
    let tenant = crate::auth::ssr::auth()
        .await?
        .require(crate::auth::Role::Viewer)?;
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.insert_header(
            http::header::CONTENT_DISPOSITION,
            http::HeaderValue::from_static("attachment; filename=\"playbooks.json\""),
        );
    }
    Ok(ssr::list(&crate::state::pool(), tenant)
        .await?
        .into_iter()
        .map(|p| p.spec)
        .collect())
}

/// Where the export answers.
pub const EXPORT_URL: &str = "/api/ui/playbooks/export";
