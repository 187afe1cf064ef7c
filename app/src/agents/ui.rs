//! `/agents` and `/agents/{id}`: the fleet by heartbeat, what each agent reports and works on.

use super::{AgentDetail, AgentList, AgentRow, SendAgentTask, TaskRow, load_agent, load_agents};
use crate::AppError;
use crate::ui::pages::NotFound;
use crate::ui::widgets::{Chart, GroupCounts, Time, css_token};
use crate::ui::{ErrorNote, FieldError, FormError, format_time};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// `/agents`.
#[component]
pub fn AgentsPage() -> impl IntoView {
    let list = Resource::new(|| (), |_| load_agents());
    view! {
        <Title text="Agents"/>
        <h1>"Agents"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(l) => view! { <AgentTable list=l/> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AgentTable(list: AgentList) -> impl IntoView {
    if list.agents.is_empty() {
        return view! {
            <section class="empty-state" id="no-agents">
                <h2>"No agents registered"</h2>
                <p>"An agent appears here when it calls "<code>"POST /api/v1/register_agent"</code>
                   " with an API key that has the "<code>"ingest"</code>" scope, then stays online with "
                   <code>"POST /api/v1/heartbeat"</code>". See "<code>"docs/API.md"</code>"."</p>
            </section>
        }
        .into_any();
    }
    let now = list.now;
    let (online, stale, offline) =
        list.agents
            .iter()
            .fold((0, 0, 0), |(o, s, f), a| match a.health.as_str() {
                "online" => (o + 1, s, f),
                "stale" => (o, s + 1, f),
                _ => (o, s, f + 1),
            });
    view! {
        <p class="muted" id="agent-counts">
            {format!("{online} online · {stale} stale · {offline} offline — offline after {} s without a heartbeat", list.offline_after_secs)}
        </p>
        <div class="table-wrap">
        <table class="data agents" id="agents">
            <thead><tr>
                <th scope="col">"Agent"</th>
                <th scope="col">"Status"</th>
                <th scope="col">"Version"</th>
                <th scope="col">"Host"</th>
                <th scope="col">"Last seen"</th>
                <th scope="col" class="num">"Errors, 24 h"</th>
                <th scope="col" class="num">"Open groups"</th>
                <th scope="col">"Working on"</th>
            </tr></thead>
            <tbody>
                {list.agents.into_iter().map(|a| view! { <AgentTableRow a now/> }).collect_view()}
            </tbody>
        </table>
        </div>
    }
    .into_any()
}

#[component]
fn AgentTableRow(a: AgentRow, now: DateTime<Utc>) -> impl IntoView {
    let more = a.assigned.len().saturating_sub(3);
    view! {
        <tr data-agent-id=a.id.to_string()>
            <td>
                <a class="agent-name" href=format!("/agents/{}", a.id)>{a.name.clone()}</a>
                <div class="muted small">{a.kind.clone()}</div>
            </td>
            <td><Health health=a.health.clone() reported=a.reported_status.clone()/></td>
            <td>{a.version.clone().unwrap_or_else(|| "—".into())}</td>
            <td>{a.host.clone().unwrap_or_else(|| "—".into())}</td>
            <td><Time at=a.last_heartbeat_at now/></td>
            <td class="num">{a.errors_24h}</td>
            <td class="num">{a.open_groups}</td>
            <td class="working-on">
                {if a.assigned.is_empty() {
                    view! { <span class="muted">"—"</span> }.into_any()
                } else {
                    view! {
                        <ul class="plain">
                            {a.assigned.iter().take(3).map(|(id, title)| view! {
                                <li><a href=format!("/errors/{id}")>{title.clone()}</a></li>
                            }).collect_view()}
                            {(more > 0).then(|| view! { <li class="muted small">{format!("and {more} more")}</li> })}
                        </ul>
                    }.into_any()
                }}
            </td>
        </tr>
    }
}

/// Heartbeat health as a badge, with the agent's own status when it says something else.
#[component]
fn Health(health: String, reported: String) -> impl IntoView {
    let class = format!("health health-{}", css_token(&health));
    let own = (reported != "online" && reported != health).then(|| {
        view! { <span class="muted small">" reports "{reported}</span> }
    });
    view! { <span class=class>{health}</span>{own} }
}

/// `/agents/{id}`.
#[component]
pub fn AgentPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok())));
    let send = ServerAction::<SendAgentTask>::new();
    let data = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => load_agent(id).await,
                None => Err(AppError::not_found("agent")),
            }
        },
    );
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(d) => view! { <AgentView d send/> }.into_any(),
                    Err(AppError::NotFound(_)) => view! { <NotFound/> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AgentView(d: AgentDetail, send: ServerAction<SendAgentTask>) -> impl IntoView {
    let AgentDetail {
        agent: a,
        now,
        capabilities,
        metadata,
        metrics,
        chart_svg,
        chart_total,
        groups,
        tasks,
        can_act,
    } = d;
    let agent_id = a.id;
    let summary =
        format!("{chart_total} events from this agent in the last 48 hours, per hour by severity.");
    view! {
        <Title text=a.name.clone()/>
        <p class="crumbs"><a href="/agents">"← Agents"</a></p>
        <h1 class="agent-head">{a.name.clone()}" "<Health health=a.health.clone() reported=a.reported_status.clone()/></h1>
        <dl class="facts">
            <div><dt>"Kind"</dt><dd>{a.kind.clone()}</dd></div>
            <div><dt>"Version"</dt><dd>{a.version.clone().unwrap_or_else(|| "—".into())}</dd></div>
            <div><dt>"Host"</dt><dd>{a.host.clone().unwrap_or_else(|| "—".into())}</dd></div>
            <div><dt>"Last heartbeat"</dt><dd><Time at=a.last_heartbeat_at now/></dd></div>
            <div><dt>"Registered"</dt><dd>{format_time(&a.registered_at)}</dd></div>
            <div><dt>"Errors, 24 h"</dt><dd>{a.errors_24h}</dd></div>
            <div><dt>"Open groups"</dt><dd>{a.open_groups}</dd></div>
            <div><dt>"Capabilities"</dt><dd>{if capabilities.is_empty() { "—".to_owned() } else { capabilities.join(", ") }}</dd></div>
        </dl>
        <section class="card" aria-labelledby="agent-chart-title">
            <h2 id="agent-chart-title">"Errors over time"</h2>
            <Chart id="agent-chart" svg=chart_svg summary/>
        </section>
        <div class="two-col">
            <section class="card" aria-labelledby="metrics-title">
                <h2 id="metrics-title">"Latest heartbeat"</h2>
                <p class="muted small">{format!("Reported at {}", format_time(&a.last_heartbeat_at))}</p>
                {if metrics.is_empty() {
                    view! { <p class="muted">"No metrics in the latest heartbeat."</p> }.into_any()
                } else {
                    view! {
                        <table class="data" id="agent-metrics">
                            <thead><tr><th scope="col">"Metric"</th><th scope="col">"Value"</th></tr></thead>
                            <tbody>
                                {metrics.into_iter().map(|(k, v)| view! {
                                    <tr><td><code>{k}</code></td><td class="metric-value">{v}</td></tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }}
                {(!metadata.is_empty()).then(|| view! {
                    <h3>"Metadata"</h3>
                    <pre class="json">{metadata}</pre>
                })}
            </section>
            <section class="card" aria-labelledby="working-title">
                <h2 id="working-title">"Working on"</h2>
                {if a.assigned.is_empty() {
                    view! { <p class="muted">"No open error is assigned to this agent."</p> }.into_any()
                } else {
                    view! {
                        <ul class="plain" id="agent-assigned">
                            {a.assigned.into_iter().map(|(id, title)| view! {
                                <li><a href=format!("/errors/{id}")>{title}</a></li>
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            </section>
        </div>
        <Tasks tasks now can_act send agent_id/>
        <section class="card" aria-labelledby="agent-groups-title">
            <h2 id="agent-groups-title">"Errors it reported, 7 days"</h2>
            {if groups.is_empty() {
                view! { <p class="muted">"This agent reported no error in the last 7 days."</p> }.into_any()
            } else {
                view! { <GroupCounts groups id="agent-groups" status=true/> }.into_any()
            }}
        </section>
    }
}

/// The agent's recent tasks and, for members, a form to hand it one.
#[component]
fn Tasks(
    tasks: Vec<TaskRow>,
    now: DateTime<Utc>,
    can_act: bool,
    send: ServerAction<SendAgentTask>,
    agent_id: i64,
) -> impl IntoView {
    let error = Signal::derive(move || send.value().get().and_then(|r| r.err()));
    view! {
        <section class="card" aria-labelledby="tasks-title">
            <h2 id="tasks-title">"Tasks"</h2>
            <p class="muted small">"The agent picks tasks up with "<code>"POST /api/v1/next_task"</code>
                " (a key with the "<code>"fix"</code>" scope) and reports back with "<code>"complete_task"</code>"."</p>
            {can_act.then(|| view! {
                <ActionForm action=send attr:class="inline-form" attr:id="send-task">
                    <input type="hidden" name="agent_id" value=agent_id.to_string()/>
                    <label for="task-name">"Task"</label>
                    <input id="task-name" name="task" list="task-names" required maxlength="100"
                        placeholder="restart_service" aria-describedby="task-error"/>
                    <datalist id="task-names">
                        <option value="restart_service"/>
                        <option value="clear_cache"/>
                        <option value="reset_pool"/>
                    </datalist>
                    <button type="submit" class="button small primary">"Send task"</button>
                    <FieldError error field="task"/>
                    <FormError error fields=&["task"]/>
                </ActionForm>
            })}
            {if tasks.is_empty() {
                view! { <p class="muted">"No task has been handed to this agent."</p> }.into_any()
            } else {
                view! {
                    <table class="data" id="agent-tasks">
                        <thead><tr>
                            <th scope="col">"Task"</th><th scope="col">"Status"</th><th scope="col">"Sent"</th>
                            <th scope="col">"By"</th><th scope="col">"Output"</th>
                        </tr></thead>
                        <tbody>
                            {tasks.into_iter().map(|t| {
                                let class = format!("task-status task-{}", css_token(&t.status));
                                view! {
                                <tr data-task-id=t.id.to_string()>
                                    <td><code>{t.task}</code></td>
                                    <td class=class>{t.status}
                                        {(t.attempts > 1).then(|| format!(" (claimed {} times)", t.attempts))}</td>
                                    <td><Time at=t.created_at now/></td>
                                    <td class="small">{t.created_by}</td>
                                    <td class="small task-output">{t.output.unwrap_or_default()}</td>
                                </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}
