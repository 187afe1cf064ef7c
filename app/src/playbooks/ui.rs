//! `/playbooks`: the company's playbooks, the JSON editor (write, import, export), turning
//! them on and off, and "which playbooks would act on this error?".

use super::{
    DeletePlaybook, Draft, EXPORT_URL, EnablePlaybook, InstallStarterPlaybooks, MatchTest,
    PlaybookInfo, PlaybookList, SavePlaybook, list_playbooks,
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
    let enable = ServerAction::<EnablePlaybook>::new();
    let delete = ServerAction::<DeletePlaybook>::new();
    let starters = ServerAction::<InstallStarterPlaybooks>::new();
    let list = Resource::new(
        move || {
            (
                test.get(),
                from_group.get(),
                from_suggestion.get(),
                save.version().get(),
                enable.version().get(),
                delete.version().get(),
                starters.version().get(),
            )
        },
        |(test, from_group, from_suggestion, ..)| list_playbooks(test, from_group, from_suggestion),
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
                    Ok(l) => view! { <PlaybooksView l save enable delete starters edit=edit.get_untracked()/> }.into_any(),
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
                        {move || starters.value().get().and_then(|r| r.ok()).map(|n| view! {
                            <span class="muted small" role="status">{format!("{n} added")}</span>
                        })}
                    </ActionForm>
                })}
            }.into_any()
        }}
        <p class="muted small">"Steps may call: "{hosts}" · programs: "{commands}" · "
            <a href=EXPORT_URL download="playbooks.json">"Export all as JSON"</a></p>
        <TestForm test=l.test/>
        {can_edit.then(|| view! { <Editor save editing draft=l.draft/> })}
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
        (None, None) => "New playbook or import".to_owned(),
    };
    let id = editing
        .as_ref()
        .map(|p| p.id.to_string())
        .unwrap_or_default();
    let json = match (editing, draft) {
        (Some(p), _) => p.json,
        (None, Some(d)) => d.json,
        (None, None) => TEMPLATE.to_owned(),
    };
    view! {
        <section class="card" aria-labelledby="editor-title" id="editor">
            <h2 id="editor-title">{title}</h2>
            <p class="muted small">"One playbook as JSON, or a list of them (an export) to import them all. Steps: "
                <code>"http"</code>", "<code>"agent_task"</code>", "<code>"command"</code>", "<code>"wait"</code>
                "; verification: "<code>"http"</code>", "<code>"agent_task"</code>", "<code>"no_recurrence"</code>"."</p>
            {move || save.value().get().and_then(|r| r.ok()).map(|n| view! {
                <p class="notice notice-ok" role="status">{format!("Saved {n} playbook{}.", if n == 1 { "" } else { "s" })}</p>
            })}
            <ActionForm action=save attr:class="stack wide" attr:id="playbook-editor" attr:novalidate=true>
                <input type="hidden" name="id" value=id/>
                <label for="playbook-json">"Playbook JSON"</label>
                <textarea id="playbook-json" name="spec" rows="22" spellcheck="false" class="code-input"
                    aria-describedby="spec-error">{json}</textarea>
                // A playbook's errors name their field paths (`actions[0].url: …`) in the message.
                {move || error.get().map(|e| view! {
                    <p class="field-error" id="spec-error" role="alert">{e.message()}</p>
                })}
                <button type="submit" class="button primary">"Save playbook"</button>
            </ActionForm>
        </section>
    }
}
