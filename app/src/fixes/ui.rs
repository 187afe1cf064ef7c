//! The auto-fix log at `/fixes`, one run with its step log at `/fixes/{id}`, and the fix
//! card of a group page. Approve, reject and cancel work as plain forms before hydration;
//! after it, pages showing an unfinished run look again every second or two.

use super::{
    CancelFix, DecideFix, FixDetail, FixFilter, FixList, FixRun, FixStep, GroupFixes, STATUSES,
    StartFix, get_fix, is_active, is_moving, list_fixes, load_group_fixes,
};
use crate::error::AppError;
use crate::ui::live::Poll;
use crate::ui::pages::NotFound;
use crate::ui::widgets::{Time, css_token};
use crate::ui::{ErrorNote, FieldError, FormError};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

/// A run's status in words.
pub fn status_label(status: &str) -> &'static str {
    match status {
        "pending_approval" => "waiting for approval",
        "queued" => "queued",
        "running" => "running",
        "verifying" => "verifying",
        "succeeded" => "succeeded",
        "failed" => "failed",
        "rolled_back" => "rolled back",
        "rejected" => "rejected",
        "cancelled" => "cancelled",
        _ => "unknown",
    }
}

#[component]
fn RunStatus(status: String) -> impl IntoView {
    let class = format!("status run-status status-{}", css_token(&status));
    view! { <span class=class data-status=status.clone()>{status_label(&status)}</span> }
}

/// Milliseconds as `850 ms`, `12.4 s` or `3 min 5 s`.
pub fn duration_text(ms: i64) -> String {
    match ms {
        ..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// `/fixes`: every run, newest first, with filters in the URL, the breakers and how many
/// runs wait for approval.
#[component]
pub fn FixesPage() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        query.with(|q| {
            let text = |k: &str| {
                q.get(k)
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
            };
            let id = |k: &str| text(k).and_then(|v| v.parse::<i64>().ok());
            FixFilter {
                status: text("status"),
                playbook: id("playbook"),
                group: id("group"),
                trigger: text("trigger"),
                before: id("before"),
            }
        })
    });
    let list = Resource::new(move || filter.get(), list_fixes);
    view! {
        <Title text="Auto-fix log"/>
        <h1>"Auto-fix log"</h1>
        <p class="muted">"Every fix run — started automatically for a new or regressed error, or on request — with what it did, how it was verified and how it ended."</p>
        <Poll region="fixes-region".to_owned() every_ms=2000/>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(l) => {
                        let moving = l.runs.iter().any(|r| is_moving(&r.status));
                        view! {
                            <div id="fixes-region" data-moving=moving.to_string()>
                                <FixesView l filter=filter.get_untracked()/>
                            </div>
                        }.into_any()
                    }
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn FixesView(l: FixList, filter: FixFilter) -> impl IntoView {
    let FixList {
        runs,
        next_before,
        pending,
        breakers,
        playbooks,
        now,
        ..
    } = l;
    let filtered = filter.status.is_some()
        || filter.playbook.is_some()
        || filter.group.is_some()
        || filter.trigger.is_some();
    let status = filter.status.clone().unwrap_or_default();
    let trigger = filter.trigger.clone().unwrap_or_default();
    let next = next_before.map(|b| {
        let mut q = vec![format!("before={b}")];
        if let Some(s) = &filter.status {
            q.push(format!("status={s}"));
        }
        if let Some(p) = filter.playbook {
            q.push(format!("playbook={p}"));
        }
        if let Some(t) = &filter.trigger {
            q.push(format!("trigger={t}"));
        }
        if let Some(g) = filter.group {
            q.push(format!("group={g}"));
        }
        format!("/fixes?{}", q.join("&"))
    });
    view! {
        {(pending > 0).then(|| view! {
            <p class="notice" id="pending-approval">
                <strong>{format!("{pending} fix run{} wait{} for an admin's approval. ", if pending == 1 { "" } else { "s" }, if pending == 1 { "s" } else { "" })}</strong>
                <a href="/fixes?status=pending_approval">"Review them"</a>
            </p>
        })}
        {(!breakers.is_empty()).then(|| view! {
            <section class="card" aria-labelledby="breakers-h" id="breakers">
                <h2 id="breakers-h">"Circuit breakers"</h2>
                <p class="muted small">"After repeated failures of a playbook on a service, no run of it starts there until its breaker closes again; a success closes it."</p>
                <div class="table-wrap"><table class="data">
                    <thead><tr><th scope="col">"Playbook"</th><th scope="col">"Service"</th><th scope="col">"Failures in a row"</th><th scope="col">"State"</th></tr></thead>
                    <tbody>
                        {breakers.into_iter().map(|b| view! {
                            <tr>
                                <td>{b.playbook_name}</td>
                                <td>{b.service}</td>
                                <td>{b.consecutive_failures}</td>
                                <td>{match b.open_until {
                                    Some(until) => view! { <span class="breaker-open">"open until "<Time at=until now/></span> }.into_any(),
                                    None => view! { <span class="muted">"closed"</span> }.into_any(),
                                }}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table></div>
            </section>
        })}
        <form method="get" action="/fixes" class="filters inline-form" id="fix-filters">
            <label for="f-status">"Status"</label>
            <select id="f-status" name="status">
                <option value="" selected=status.is_empty()>"any"</option>
                {STATUSES.iter().map(|s| view! {
                    <option value=*s selected=status == *s>{status_label(s)}</option>
                }).collect_view()}
            </select>
            <label for="f-playbook">"Playbook"</label>
            <select id="f-playbook" name="playbook">
                <option value="" selected=filter.playbook.is_none()>"any"</option>
                {playbooks.into_iter().map(|(id, name)| view! {
                    <option value=id.to_string() selected=filter.playbook == Some(id)>{name}</option>
                }).collect_view()}
            </select>
            <label for="f-trigger">"Started by"</label>
            <select id="f-trigger" name="trigger">
                <option value="" selected=trigger.is_empty()>"anyone"</option>
                {[("auto", "automatically"), ("user", "a person"), ("agent", "an agent"), ("mcp", "an AI assistant")].into_iter().map(|(v, l)| view! {
                    <option value=v selected=trigger == v>{l}</option>
                }).collect_view()}
            </select>
            {filter.group.map(|g| view! { <input type="hidden" name="group" value=g.to_string()/> })}
            <button type="submit" class="button secondary small">"Filter"</button>
            {filtered.then(|| view! { <a href="/fixes" class="small">"Clear"</a> })}
        </form>
        {if runs.is_empty() {
            view! {
                <section class="empty-state" id="no-fixes">
                    <h2>{if filtered { "No fix runs match" } else { "No fix runs yet" }}</h2>
                    <p>"A run starts by itself when a new or regressed error matches an enabled automatic "<a href="/playbooks">"playbook"</a>
                       ", or when someone presses “Fix it” on an error's page (agents: "<code>"fix_error"</code>" or "<code>"POST /api/errors/{id}/fix"</code>")."</p>
                </section>
            }.into_any()
        } else {
            view! {
                <div class="table-wrap">
                <table class="data fixes" id="fix-runs">
                    <thead><tr>
                        <th scope="col">"Run"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Playbook"</th>
                        <th scope="col">"Error"</th>
                        <th scope="col">"Started by"</th>
                        <th scope="col">"Approval"</th>
                        <th scope="col">"When"</th>
                        <th scope="col">"Took"</th>
                    </tr></thead>
                    <tbody>
                        {runs.into_iter().map(|r| view! { <RunRow r now/> }).collect_view()}
                    </tbody>
                </table>
                </div>
            }.into_any()
        }}
        <nav class="pager" aria-label="Pages">
            {filter.before.is_some().then(|| view! { <a class="button secondary small" href="/fixes">"← Newest"</a> })}
            {next.map(|href| view! { <a class="button secondary small" rel="next" href=href>"Older →"</a> })}
        </nav>
    }
}

fn trigger_text(r: &FixRun) -> String {
    match r.trigger.as_str() {
        "auto" => "automatically".into(),
        _ => r.triggered_by.clone(),
    }
}

#[component]
fn RunRow(r: FixRun, now: DateTime<Utc>) -> impl IntoView {
    let took = r
        .duration_ms(now)
        .map(duration_text)
        .unwrap_or_else(|| "—".into());
    let approval = match (&r.decided_by, r.status.as_str()) {
        (_, "pending_approval") => "waiting".to_owned(),
        (Some(by), "rejected") => format!("rejected by {by}"),
        (Some(by), "cancelled") if by == "system" => "expired".to_owned(),
        (Some(by), _) => format!("approved by {by}"),
        (None, _) => "—".to_owned(),
    };
    view! {
        <tr data-run=r.id.to_string()>
            <td><a href=format!("/fixes/{}", r.id)>{format!("#{}", r.id)}</a></td>
            <td><RunStatus status=r.status.clone()/></td>
            <td>{r.playbook_name.clone()}</td>
            <td class="title-cell"><a href=format!("/errors/{}", r.group_id)>{r.group_title.clone()}</a>
                <span class="muted small">" · "{r.service.clone()}</span></td>
            <td>{trigger_text(&r)}</td>
            <td>{approval}</td>
            <td><Time at=r.created_at now/></td>
            <td>{took}</td>
        </tr>
    }
}

/// `/fixes/{id}`: one run, its step-by-step log and, while it waits, the decision.
#[component]
pub fn FixPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok())));
    let decide = ServerAction::<DecideFix>::new();
    let cancel = ServerAction::<CancelFix>::new();
    let detail = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => get_fix(id).await,
                None => Err(AppError::not_found("fix run")),
            }
        },
    );
    view! {
        <Poll region="fix-region".to_owned() every_ms=1000/>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(d) => {
                        let moving = is_moving(&d.run.status);
                        view! {
                            <div id="fix-region" data-moving=moving.to_string()>
                                <FixView d decide cancel/>
                            </div>
                        }.into_any()
                    }
                    Err(AppError::NotFound(_)) => view! { <NotFound/> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn FixView(
    d: FixDetail,
    decide: ServerAction<DecideFix>,
    cancel: ServerAction<CancelFix>,
) -> impl IntoView {
    let FixDetail {
        run: r,
        steps,
        spec_json,
        responder_task_id,
        can_decide,
        now,
    } = d;
    let took = r.duration_ms(now).map(duration_text);
    let title = format!("Fix run #{} · {}", r.id, r.playbook_name);
    view! {
        <Title text=title.clone()/>
        <p class="crumbs"><a href="/fixes">"← Auto-fix log"</a></p>
        <header class="group-head">
            <h1>{title}" "<RunStatus status=r.status.clone()/></h1>
            <p class="fix-error">"On "<a href=format!("/errors/{}", r.group_id)>{r.group_title.clone()}</a></p>
            <dl class="facts">
                <div><dt>"Service"</dt><dd>{r.service.clone()}</dd></div>
                <div><dt>"Started by"</dt><dd>{trigger_text(&r)}</dd></div>
                <div><dt>"Created"</dt><dd><Time at=r.created_at now/></dd></div>
                {r.started_at.map(|s| view! { <div><dt>"Started"</dt><dd><Time at=s now/></dd></div> })}
                {r.finished_at.map(|f| view! { <div><dt>"Finished"</dt><dd><Time at=f now/></dd></div> })}
                {took.map(|t| view! { <div><dt>"Took"</dt><dd id="fix-took">{t}</dd></div> })}
                {r.decided_by.clone().map(|by| view! { <div><dt>"Decided by"</dt><dd>{by}</dd></div> })}
                {responder_task_id.map(|t| view! { <div><dt>"Responder task"</dt><dd>{format!("#{t} investigate_error")}</dd></div> })}
            </dl>
            {r.decision_notes.clone().map(|n| view! { <p class="resolution">"Decision notes: "{n}</p> })}
            {r.reason.clone().map(|why| view! { <p class="resolution" id="fix-reason">{why}</p> })}
        </header>
        {(r.status == "pending_approval").then(|| if can_decide {
            view! { <Decision id=r.id decide cancel/> }.into_any()
        } else {
            view! { <p class="notice">"This run waits for an admin's approval before it acts."</p> }.into_any()
        })}
        {(r.status == "queued" && can_decide).then(|| view! { <CancelForm id=r.id cancel/> })}
        <section class="card" aria-labelledby="steps-h">
            <h2 id="steps-h">"Steps"</h2>
            <Steps steps now/>
        </section>
        <details class="card">
            <summary>"The playbook as this run copied it"</summary>
            <pre class="code-block"><code>{spec_json}</code></pre>
        </details>
    }
}

#[component]
fn Steps(steps: Vec<FixStep>, now: DateTime<Utc>) -> impl IntoView {
    if steps.is_empty() {
        return view! { <p class="muted" id="no-steps">"Nothing has run yet."</p> }.into_any();
    }
    view! {
        <ol class="steps" id="fix-steps">
            {steps.into_iter().map(|s| {
                let took = s.finished_at.map(|f| duration_text((f - s.started_at).num_milliseconds().max(0)));
                let phase = match s.phase.as_str() {
                    "act" => "action",
                    "verify" => "verification",
                    "rollback" => "rollback",
                    _ => "note",
                };
                view! {
                    <li class=format!("step step-{} step-{}", css_token(&s.status), css_token(&s.phase)) data-status=s.status.clone()>
                        <span class="badge">{phase}</span>" "
                        <span class="step-what">{s.description}</span>
                        <span class="muted small">" · "{match s.status.as_str() { "ok" => "ok", "failed" => "failed", _ => "running…" }}
                            {took.map(|t| format!(" in {t}"))}" · "<Time at=s.started_at now/></span>
                        {s.output.filter(|o| !o.is_empty()).map(|o| view! { <pre class="step-output">{o}</pre> })}
                    </li>
                }
            }).collect_view()}
        </ol>
    }
    .into_any()
}

/// Approve (with optional notes) or reject (with a reason) a waiting run, or cancel it.
#[component]
fn Decision(
    id: i64,
    decide: ServerAction<DecideFix>,
    cancel: ServerAction<CancelFix>,
) -> impl IntoView {
    let error = Signal::derive(move || decide.value().get().and_then(|r| r.err()));
    let (notes_id, reason_id) = (format!("decide-{id}-notes"), format!("decide-{id}-reason"));
    view! {
        <section class="card decision" aria-label="Approval" id=format!("decision-{id}")>
            <p><strong>"This run waits for your approval."</strong>" Nothing has been done yet."</p>
            <ActionForm action=decide attr:class="inline-form approve-form">
                <input type="hidden" name="id" value=id.to_string()/>
                <input type="hidden" name="approve" value="true"/>
                <label for=notes_id.clone()>"Notes"</label>
                <input id=notes_id name="notes" maxlength="2000" placeholder="optional"/>
                <button type="submit" class="button primary">"Approve and run"</button>
            </ActionForm>
            <ActionForm action=decide attr:class="inline-form reject-form">
                <input type="hidden" name="id" value=id.to_string()/>
                <input type="hidden" name="approve" value="false"/>
                <label for=reason_id.clone()>"Reason"</label>
                <input id=reason_id name="notes" maxlength="2000" required aria-describedby="reason-error"/>
                <button type="submit" class="button secondary">"Reject"</button>
            </ActionForm>
            <FieldError error field="reason"/>
            <FormError error fields=&["reason"]/>
            <CancelForm id cancel/>
        </section>
    }
}

#[component]
fn CancelForm(id: i64, cancel: ServerAction<CancelFix>) -> impl IntoView {
    let error = Signal::derive(move || cancel.value().get().and_then(|r| r.err()));
    view! {
        <ActionForm action=cancel attr:class="inline-form cancel-form">
            <input type="hidden" name="id" value=id.to_string()/>
            <button type="submit" class="button small secondary">"Cancel this run"</button>
            <FormError error/>
        </ActionForm>
    }
}

/// The actions a group page's fix card uses (created with the page).
#[derive(Clone, Copy)]
pub struct FixActions {
    pub start: ServerAction<StartFix>,
    pub decide: ServerAction<DecideFix>,
    pub cancel: ServerAction<CancelFix>,
}

impl FixActions {
    pub fn new() -> Self {
        Self {
            start: ServerAction::new(),
            decide: ServerAction::new(),
            cancel: ServerAction::new(),
        }
    }
}

impl Default for FixActions {
    fn default() -> Self {
        Self::new()
    }
}

/// The fix card's data for group `id`. Create it at the top of the page.
pub fn group_fixes_resource(id: Memo<Option<i64>>) -> Resource<Result<GroupFixes, AppError>> {
    Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => load_group_fixes(id).await,
                None => Err(AppError::not_found("error")),
            }
        },
    )
}

/// Keeps the group page's fix card (`#group-fixes`) current while a run is unfinished, and
/// the page (`page_region`) once it ends. Outside `page_region`, which it refreshes.
#[component]
pub fn GroupFixPoll(page_region: &'static str) -> impl IntoView {
    view! { <Poll region="group-fixes".to_owned() every_ms=1500 settle=page_region.to_owned()/> }
}

/// The group page's fix card: its runs, "Fix it", and the decision on a waiting run.
#[component]
pub fn GroupFixCard(
    group: i64,
    fixes: Resource<Result<GroupFixes, AppError>>,
    actions: FixActions,
) -> impl IntoView {
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match fixes.await {
                    Ok(f) => {
                        let moving = f.runs.iter().any(|r| is_moving(&r.status));
                        view! {
                            <section class="card" aria-labelledby="fixes-h" id="group-fixes" data-moving=moving.to_string()>
                                <h2 id="fixes-h">"Fixes"</h2>
                                <GroupFixesView group f actions/>
                            </section>
                        }.into_any()
                    }
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn GroupFixesView(group: i64, f: GroupFixes, actions: FixActions) -> impl IntoView {
    let now = f.now;
    let start_error = Signal::derive(move || actions.start.value().get().and_then(|r| r.err()));
    let busy = f.runs.iter().any(|r| is_active(&r.status));
    let waiting = f
        .runs
        .iter()
        .find(|r| r.status == "pending_approval")
        .map(|r| r.id);
    view! {
        {if f.runs.is_empty() {
            view! { <p class="muted">"No fix has run on this error."</p> }.into_any()
        } else {
            view! {
                <ul class="fix-list" id="group-fix-runs">
                    {f.runs.into_iter().map(|r| {
                        let took = r.duration_ms(now).map(duration_text);
                        view! {
                            <li data-run=r.id.to_string()>
                                <a href=format!("/fixes/{}", r.id)>{format!("#{}", r.id)}</a>" "
                                <RunStatus status=r.status.clone()/>" "{r.playbook_name.clone()}
                                <span class="muted small">" · "{trigger_text(&r)}" · "<Time at=r.created_at now/>
                                    {took.map(|t| format!(" · {t}"))}</span>
                                {r.reason.clone().map(|why| view! { <p class="small muted">{why}</p> })}
                            </li>
                        }
                    }).collect_view()}
                </ul>
            }.into_any()
        }}
        {waiting.filter(|_| f.can_decide).map(|id| view! { <Decision id decide=actions.decide cancel=actions.cancel/> })}
        {(f.can_start && !busy).then(|| if f.playbooks.is_empty() {
            view! { <p class="muted small">"No playbook is enabled. "<a href=format!("/playbooks?test={group}")>"Find or write one"</a>"."</p> }.into_any()
        } else {
            view! {
                <ActionForm action=actions.start attr:class="inline-form" attr:id="fix-form">
                    <input type="hidden" name="group" value=group.to_string()/>
                    <label for="fix-playbook">"Playbook"</label>
                    <select id="fix-playbook" name="playbook">
                        <option value="">"the best match"</option>
                        {f.playbooks.iter().map(|(id, name, matches)| view! {
                            <option value=id.to_string()>{if *matches { name.clone() } else { format!("{name} (does not match)") }}</option>
                        }).collect_view()}
                    </select>
                    <button type="submit" class="button primary" id="fix-it">"Fix it"</button>
                    <FormError error=start_error/>
                </ActionForm>
            }.into_any()
        })}
    }
}
