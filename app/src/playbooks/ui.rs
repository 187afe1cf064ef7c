//! `/playbooks`: the company's playbooks, the JSON editor (write, import, export), turning
//! them on and off, and "which playbooks would act on this error?".

use super::form::{PlaybookForm, StepForm};
use super::{
    DeletePlaybook, Draft, EXPORT_URL, EnablePlaybook, InstallStarterPlaybooks, MatchTest,
    PlaybookInfo, PlaybookList, PlaybookSpec, SavePlaybook, SavePlaybookForm, list_playbooks,
};
use crate::ui::{ErrorNote, FormError};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// What a new playbook starts from in the editor.
const TEMPLATE: &str = r#"{
  "name": "Restart checkout when its database connection is refused",
  "description": "",
  "match": {
    "categories": ["network"],
    "services": ["checkout"],
    "min_severity": "error",
    "message_pattern": "connection refused"
  },
  "actions": [
    { "type": "agent_task", "task": "restart_service", "timeout_secs": 120 }
  ],
  "verify": { "type": "no_recurrence", "secs": 120 },
  "rollback": [],
  "risk": "medium",
  "needs_approval": false,
  "mode": "automatic",
  "cooldown_secs": 600,
  "max_attempts": 3,
  "enabled": false
}"#;

/// `/playbooks`.
#[component]
pub fn PlaybooksPage() -> impl IntoView {
    let query = use_query_map();
    let test = Memo::new(move |_| {
        query.with(|q| q.get("test").and_then(|t| t.trim().parse::<i64>().ok()))
    });
    let edit =
        Memo::new(move |_| query.with(|q| q.get("edit").and_then(|t| t.parse::<i64>().ok())));
    let id_param = move |name: &'static str| {
        Memo::new(move |_| query.with(|q| q.get(name).and_then(|t| t.trim().parse::<i64>().ok())))
    };
    let from_group = id_param("from_group");
    let from_suggestion = id_param("from_suggestion");
    let save = ServerAction::<SavePlaybook>::new();
    let save_form = ServerAction::<SavePlaybookForm>::new();
    let enable = ServerAction::<EnablePlaybook>::new();
    let delete = ServerAction::<DeletePlaybook>::new();
    let starters = ServerAction::<InstallStarterPlaybooks>::new();
    let list = Resource::new(
        move || (test.get(), from_group.get(), from_suggestion.get()),
        |(test, from_group, from_suggestion)| list_playbooks(test, from_group, from_suggestion),
    );
    let row_error = Signal::derive(move || {
        enable
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| delete.value().get().and_then(|r| r.err()))
    });
    view! {
        <Title text="Playbooks"/>
        <h1>"Playbooks"</h1>
        <p class="muted">"A playbook says which errors it fixes, the steps that fix them, how to prove the fix worked and how to undo it. Enabled automatic playbooks start fix runs by themselves on new and regressed errors; every run is in the "<a href="/fixes">"auto-fix log"</a>"."</p>
        <FormError error=row_error/>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(l) => view! { <PlaybooksView l save save_form enable delete starters edit=edit.get_untracked()/> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn PlaybooksView(
    l: PlaybookList,
    save: ServerAction<SavePlaybook>,
    save_form: ServerAction<SavePlaybookForm>,
    enable: ServerAction<EnablePlaybook>,
    delete: ServerAction<DeletePlaybook>,
    starters: ServerAction<InstallStarterPlaybooks>,
    edit: Option<i64>,
) -> impl IntoView {
    let can_edit = l.can_edit;
    let editing = edit.and_then(|id| l.playbooks.iter().find(|p| p.id == id).cloned());
    let hosts = if l.allowed_hosts.is_empty() {
        "none (set FAULTLINE_FIX_ALLOWED_HOSTS)".to_owned()
    } else {
        l.allowed_hosts.join(", ")
    };
    let commands = if l.allowed_commands.is_empty() {
        "off (set FAULTLINE_FIX_ALLOWED_COMMANDS)".to_owned()
    } else {
        l.allowed_commands.join(", ")
    };
    view! {
        {if l.playbooks.is_empty() {
            view! {
                <section class="empty-state" id="no-playbooks">
                    <h2>"No playbooks yet"</h2>
                    <p>"Start from the starter set — restart a service that stopped responding, reset an exhausted connection pool, restart after running out of memory, clear a stale cache — or write your own below. Starters arrive disabled: read them, then turn on the ones you trust."</p>
                    {can_edit.then(|| view! {
                        <ActionForm action=starters>
                            <button type="submit" class="button primary" id="add-starters">"Add the starter playbooks"</button>
                        </ActionForm>
                    })}
                </section>
            }.into_any()
        } else {
            view! {
                <div class="table-wrap">
                <table class="data playbooks" id="playbooks">
                    <thead><tr>
                        <th scope="col">"Playbook"</th>
                        <th scope="col">"Applies to"</th>
                        <th scope="col">"Steps"</th>
                        <th scope="col">"Runs"</th>
                        <th scope="col">"State"</th>
                    </tr></thead>
                    <tbody>
                        {l.playbooks.into_iter().map(|p| view! { <PlaybookRow p can_edit enable delete/> }).collect_view()}
                    </tbody>
                </table>
                </div>
                {can_edit.then(|| view! {
                    <ActionForm action=starters attr:class="inline-form">
                        <button type="submit" class="button small secondary">"Add missing starter playbooks"</button>
                    </ActionForm>
                })}
            }.into_any()
        }}
        <p class="muted small">"Steps may call: "{hosts}" · programs: "{commands}" · "
            <a href=EXPORT_URL download="playbooks.json">"Export all as JSON"</a></p>
        <TestForm test=l.test/>
        {can_edit.then(|| view! { <Editor save save_form editing draft=l.draft/> })}
    }
}

#[component]
fn PlaybookRow(
    p: PlaybookInfo,
    can_edit: bool,
    enable: ServerAction<EnablePlaybook>,
    delete: ServerAction<DeletePlaybook>,
) -> impl IntoView {
    let total = p.successes + p.failures;
    let runs = if total == 0 {
        "never run".to_owned()
    } else {
        format!("{} of {} succeeded", p.successes, total)
    };
    let toggle_label = format!(
        "{} {}",
        if p.enabled { "Disable" } else { "Enable" },
        p.name
    );
    let edit_label = format!("Edit {}", p.name);
    let delete_label = format!("Delete {}", p.name);
    view! {
        <tr data-playbook-id=p.id.to_string()>
            <td>
                <strong class="playbook-name">{p.name.clone()}</strong>
                {(!p.description.is_empty()).then(|| view! { <div class="muted small">{p.description.clone()}</div> })}
            </td>
            <td class="small">{p.applies_to.clone()}</td>
            <td class="small">
                <ol class="steps">{p.steps.iter().map(|s| view! { <li>{s.clone()}</li> }).collect_view()}</ol>
                <div class="muted">"verified when "{p.verify.clone()}</div>
            </td>
            <td class="small">{runs}</td>
            <td class="small">
                <span class=if p.enabled { "badge badge-accent" } else { "badge" }>{if p.enabled { "enabled" } else { "disabled" }}</span>
                <div>{p.mode.clone()}", risk "{p.risk.clone()}{p.needs_approval.then_some(", needs approval")}</div>
                {can_edit.then(|| view! {
                    <div class="row-actions">
                        <ActionForm action=enable>
                            <input type="hidden" name="id" value=p.id.to_string()/>
                            <input type="hidden" name="enabled" value=(!p.enabled).to_string()/>
                            <button type="submit" class="button small"
                                aria-label=toggle_label>
                                {if p.enabled { "Disable" } else { "Enable" }}
                            </button>
                        </ActionForm>
                        <a class="button small secondary" href=format!("/playbooks?edit={}#editor", p.id)
                            aria-label=edit_label>"Edit"</a>
                        <ActionForm action=delete>
                            <input type="hidden" name="id" value=p.id.to_string()/>
                            <button type="submit" class="button small danger" aria-label=delete_label>"Delete"</button>
                        </ActionForm>
                    </div>
                })}
            </td>
        </tr>
    }
}

/// "Which playbooks would act on this error?" — a GET form, so it works before hydration.
#[component]
fn TestForm(test: Option<MatchTest>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="test-title">
            <h2 id="test-title">"Test against an error"</h2>
            <form method="get" action="/playbooks" class="inline-form">
                <label for="test-group">"Error group id"</label>
                <input id="test-group" name="test" inputmode="numeric" class="short"
                    value=test.as_ref().map(|t| t.group_id.to_string()).unwrap_or_default()/>
                <button type="submit" class="button small">"Test"</button>
            </form>
            {test.map(|t| view! {
                <div id="test-result">
                    <p>"For "<a href=format!("/errors/{}", t.group_id)>{t.group_title.clone()}</a>":"</p>
                    {if t.matches.is_empty() {
                        view! { <p class="muted">"No playbook matches this error."</p> }.into_any()
                    } else {
                        view! {
                            <ol>
                                {t.matches.into_iter().map(|(_, name, auto, approval)| view! {
                                    <li>
                                        <strong>{name}</strong>
                                        {if auto { " — enabled, automatic" } else { " — disabled or manual only" }}
                                        {approval.then_some(", needs an admin's approval")}
                                    </li>
                                }).collect_view()}
                            </ol>
                        }.into_any()
                    }}
                </div>
            })}
        </section>
    }
}

#[component]
fn Editor(
    save: ServerAction<SavePlaybook>,
    save_form: ServerAction<SavePlaybookForm>,
    editing: Option<PlaybookInfo>,
    draft: Option<Draft>,
) -> impl IntoView {
    let error = Signal::derive(move || save.value().get().and_then(|r| r.err()));
    let title = match (&editing, &draft) {
        (Some(p), _) => format!("Edit {}", p.name),
        (None, Some(d)) if d.source == "suggestion" => {
            format!(
                "New playbook from the AI suggestion for error #{}",
                d.group_id
            )
        }
        (None, Some(d)) => format!("New playbook from how error #{} was resolved", d.group_id),
        (None, None) => "New playbook".to_owned(),
    };
    let id = editing
        .as_ref()
        .map(|p| p.id.to_string())
        .unwrap_or_default();
    let start = editing
        .as_ref()
        .map(|p| p.json.clone())
        .or_else(|| draft.as_ref().map(|d| d.json.clone()));
    let form = start
        .as_deref()
        .and_then(|j| serde_json::from_str::<PlaybookSpec>(j).ok())
        .map_or_else(PlaybookForm::blank, |s| PlaybookForm::from_spec(&s));
    let json = start.unwrap_or_else(|| TEMPLATE.to_owned());
    view! {
        <section class="card" aria-labelledby="editor-title" id="editor">
            <h2 id="editor-title">{title}</h2>
            <FormEditor form id=id.clone() save_form/>
            <details class="json-editor">
                <summary>"Import or edit as JSON"</summary>
                <p class="muted small">"One playbook as JSON, or a list of them (an export) to import them all. Steps: "
                    <code>"http"</code>", "<code>"agent_task"</code>", "<code>"command"</code>", "<code>"wait"</code>
                    "; verification: "<code>"http"</code>", "<code>"agent_task"</code>", "<code>"no_recurrence"</code>"."</p>
                <ActionForm action=save attr:class="stack wide" attr:id="playbook-editor" attr:novalidate=true>
                    <input type="hidden" name="id" value=id/>
                    <label for="playbook-json">"Playbook JSON"</label>
                    <textarea id="playbook-json" name="spec" rows="22" spellcheck="false" class="code-input"
                        aria-describedby="spec-error">{json}</textarea>
                    // A playbook's errors name their field paths (`actions[0].url: …`) in the message.
                    {move || error.get().map(|e| view! {
                        <p class="field-error" id="spec-error" role="alert">{e.message()}</p>
                    })}
                    <button type="submit" class="button primary">"Save JSON"</button>
                </ActionForm>
            </details>
        </section>
    }
}

const KINDS: [(&str, &str); 5] = [
    ("", "— none —"),
    ("http", "HTTP call"),
    ("agent_task", "agent task"),
    ("command", "command"),
    ("wait", "wait"),
];
const CATEGORIES: [&str; 7] = [
    "network",
    "resource",
    "config",
    "dependency",
    "runtime",
    "auth",
    "unknown",
];

fn choices(options: &[(&'static str, &'static str)], current: &str) -> impl IntoView + use<> {
    let current = current.to_owned();
    options
        .iter()
        .map(|(v, l)| view! { <option value=*v selected=*v == current>{*l}</option> })
        .collect_view()
}

/// The playbook as a form: match rules, numbered step rows (the unused ones are skipped),
/// verification, rollback and safety. A plain form, so it works before hydration.
#[component]
fn FormEditor(
    form: PlaybookForm,
    id: String,
    save_form: ServerAction<SavePlaybookForm>,
) -> impl IntoView {
    let error = Signal::derive(move || save_form.value().get().and_then(|r| r.err()));
    let PlaybookForm {
        name,
        description,
        categories,
        error_types,
        services,
        min_severity,
        message_pattern,
        steps,
        rollback,
        verify_kind,
        verify_url,
        verify_expect_status,
        verify_task,
        verify_agent,
        verify_secs,
        risk,
        needs_approval,
        mode,
        cooldown_secs,
        max_attempts,
        enabled,
    } = form;
    view! {
        {move || error.get().map(|e| view! {
            <div class="notice notice-error" role="alert" id="form-errors">
                <p><strong>"The playbook was not saved:"</strong></p>
                <ul>{e.message().split("; ").map(|m| view! { <li>{m.to_owned()}</li> }).collect_view()}</ul>
            </div>
        })}
        <ActionForm action=save_form attr:class="playbook-form" attr:id="playbook-form" attr:novalidate=true>
            <input type="hidden" name="id" value=id/>
            <div class="form-grid">
                <label for="pf-name">"Name"</label>
                <input id="pf-name" name="form[name]" value=name maxlength="200"/>
                <label for="pf-description">"Description"</label>
                <textarea id="pf-description" name="form[description]" rows="2" maxlength="2000">{description}</textarea>
            </div>
            <fieldset>
                <legend>"Applies to"</legend>
                <div class="checks">
                    {CATEGORIES.iter().map(|c| {
                        let id = format!("pf-cat-{c}");
                        let label_for = id.clone();
                        let ticked = categories.iter().any(|x| x == c);
                        view! {
                            <label for=label_for>
                                <input type="checkbox" id=id name="form[categories][]" value=*c checked=ticked/>
                                " "{*c}
                            </label>
                        }
                    }).collect_view()}
                    <span class="muted small">"(none ticked: any category)"</span>
                </div>
                <div class="form-grid">
                    <label for="pf-types">"Error types"</label>
                    <input id="pf-types" name="form[error_types]" value=error_types placeholder="comma-separated; empty: any"/>
                    <label for="pf-services">"Services"</label>
                    <input id="pf-services" name="form[services]" value=services placeholder="comma-separated; empty: any"/>
                    <label for="pf-severity">"Severity at least"</label>
                    <select id="pf-severity" name="form[min_severity]">
                        {choices(&[("", "any"), ("info", "info"), ("warning", "warning"), ("error", "error"), ("critical", "critical")], &min_severity)}
                    </select>
                    <label for="pf-pattern">"Message matches"</label>
                    <input id="pf-pattern" name="form[message_pattern]" value=message_pattern placeholder="a regular expression, case-insensitive"/>
                </div>
            </fieldset>
            <fieldset>
                <legend>"Steps, in order"</legend>
                {steps.into_iter().enumerate().map(|(i, s)| view! { <StepRow list="steps" i s/> }).collect_view()}
            </fieldset>
            <fieldset>
                <legend>"Verification"</legend>
                <div class="form-grid">
                    <label for="pf-verify">"Check"</label>
                    <select id="pf-verify" name="form[verify_kind]">
                        {choices(&[("", "none"), ("no_recurrence", "no new event for N seconds"), ("http", "HTTP check"), ("agent_task", "agent task")], &verify_kind)}
                    </select>
                    <label for="pf-verify-secs">"Seconds (no new event)"</label>
                    <input id="pf-verify-secs" name="form[verify_secs]" value=verify_secs inputmode="numeric" class="short"/>
                    <label for="pf-verify-url">"URL (HTTP check)"</label>
                    <input id="pf-verify-url" name="form[verify_url]" value=verify_url/>
                    <label for="pf-verify-status">"Expected status"</label>
                    <input id="pf-verify-status" name="form[verify_expect_status]" value=verify_expect_status inputmode="numeric" class="short" placeholder="2xx"/>
                    <label for="pf-verify-task">"Task (agent task)"</label>
                    <input id="pf-verify-task" name="form[verify_task]" value=verify_task/>
                    <label for="pf-verify-agent">"Agent"</label>
                    <input id="pf-verify-agent" name="form[verify_agent]" value=verify_agent placeholder="the reporting agent"/>
                </div>
            </fieldset>
            <fieldset>
                <legend>"Rollback, when the fix fails"</legend>
                {rollback.into_iter().enumerate().map(|(i, s)| view! { <StepRow list="rollback" i s/> }).collect_view()}
            </fieldset>
            <fieldset>
                <legend>"Safety"</legend>
                <div class="form-grid">
                    <label for="pf-risk">"Risk"</label>
                    <select id="pf-risk" name="form[risk]">
                        {choices(&[("low", "low"), ("medium", "medium"), ("high", "high — always needs approval")], &risk)}
                    </select>
                    <label for="pf-mode">"Starts"</label>
                    <select id="pf-mode" name="form[mode]">
                        {choices(&[("manual", "only when someone asks"), ("automatic", "automatically on new and regressed errors")], &mode)}
                    </select>
                    <label for="pf-cooldown">"Cooldown (s)"</label>
                    <input id="pf-cooldown" name="form[cooldown_secs]" value=cooldown_secs inputmode="numeric" class="short"/>
                    <label for="pf-attempts">"Runs per error at most"</label>
                    <input id="pf-attempts" name="form[max_attempts]" value=max_attempts inputmode="numeric" class="short" placeholder="0: no limit"/>
                </div>
                <label for="pf-approval"><input type="checkbox" id="pf-approval" name="form[needs_approval]" checked=needs_approval.is_some()/>" Needs an admin's approval"</label>
                <label for="pf-enabled"><input type="checkbox" id="pf-enabled" name="form[enabled]" checked=enabled.is_some()/>" Enabled"</label>
            </fieldset>
            <button type="submit" class="button primary" id="save-playbook">"Save playbook"</button>
        </ActionForm>
    }
}

#[component]
fn StepRow(list: &'static str, i: usize, s: StepForm) -> impl IntoView {
    let field = move |f: &str| format!("form[{list}][{i}][{f}]");
    let id = move |f: &str| format!("pf-{list}-{i}-{f}");
    view! {
        <div class="step-row" data-row=i.to_string()>
            <span class="step-no">{i + 1}"."</span>
            <label for=id("kind")>"Type"</label>
            <select id=id("kind") name=field("kind")>{choices(&KINDS, &s.kind)}</select>
            <label for=id("method")>"Method"</label>
            <select id=id("method") name=field("method")>
                {choices(&[("POST", "POST"), ("GET", "GET"), ("PUT", "PUT"), ("PATCH", "PATCH"), ("DELETE", "DELETE")], &s.method)}
            </select>
            <label for=id("url")>"URL"</label>
            <input id=id("url") name=field("url") value=s.url/>
            <label for=id("expect")>"Expect"</label>
            <input id=id("expect") name=field("expect_status") value=s.expect_status class="short" inputmode="numeric" placeholder="2xx"/>
            <label for=id("task")>"Task"</label>
            <input id=id("task") name=field("task") value=s.task placeholder="restart_service"/>
            <label for=id("agent")>"Agent"</label>
            <input id=id("agent") name=field("agent") value=s.agent placeholder="the reporting agent"/>
            <label for=id("program")>"Program"</label>
            <input id=id("program") name=field("program") value=s.program placeholder="/usr/bin/…"/>
            <label for=id("secs")>"Seconds"</label>
            <input id=id("secs") name=field("secs") value=s.secs class="short" inputmode="numeric" placeholder="wait or timeout"/>
            <details class="step-more">
                <summary>"Arguments, headers, body"</summary>
                <label for=id("args")>"Arguments, one per line"</label>
                <textarea id=id("args") name=field("args") rows="2">{s.args}</textarea>
                <label for=id("headers")>"Headers, “Name: value” per line"</label>
                <textarea id=id("headers") name=field("headers") rows="2">{s.headers}</textarea>
                <label for=id("body")>"Body"</label>
                <textarea id=id("body") name=field("body") rows="2">{s.body}</textarea>
            </details>
        </div>
    }
}
