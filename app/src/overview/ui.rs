//! `/`: stat tiles, the trend chart with its range switch, top errors and recent activity.

use super::{Overview, RecentActivity, TREND_RANGES, load_overview};
use crate::auth::CurrentUser;
use crate::errors::view::GroupCount;
use crate::ui::ErrorNote;
use crate::ui::layout::WithUser;
use crate::ui::widgets::{Chart, FirstError, GroupCounts, Time, css_token};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// `/`: the current company's overview.
#[component]
pub fn OverviewPage() -> impl IntoView {
    // The resource belongs to the page, not to the user's `Suspense`, so it loads with the
    // page's reactive owner during server rendering.
    let query = use_query_map();
    let range = Memo::new(move |_| query.with(|q| q.get("range").unwrap_or_default()));
    let data = Resource::new(
        move || range.get(),
        |r| load_overview((!r.is_empty()).then_some(r)),
    );
    view! {
        <Title text="Overview"/>
        <WithUser view=move |user| overview(user, data)/>
    }
}

fn overview(user: CurrentUser, data: Resource<Result<Overview, crate::AppError>>) -> impl IntoView {
    if user.tenant.is_some() {
        return view! { <Dashboard data/> }.into_any();
    }
    view! {
        <h1>"Overview"</h1>
        <section class="empty-state">
            <h2>"No company selected"</h2>
            {if user.is_super_admin {
                view! { <p>"Create a company or switch into one on the "<a href="/admin">"Admin"</a>" page."</p> }.into_any()
            } else {
                view! { <p>"You are not a member of any company yet. Ask an admin to add you."</p> }.into_any()
            }}
        </section>
    }
    .into_any()
}

#[component]
fn Dashboard(data: Resource<Result<Overview, crate::AppError>>) -> impl IntoView {
    view! {
        <h1>"Overview"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(o) if !o.has_any => view! { <FirstError ingest_url=o.ingest_url/> }.into_any(),
                    Ok(o) => view! { <OverviewView o/> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn OverviewView(o: Overview) -> impl IntoView {
    let change = match (o.events_24h, o.events_previous_24h) {
        (_, 0) => "no events the 24 hours before".to_owned(),
        (now, before) => {
            let pct = (now - before) as f64 / before as f64 * 100.0;
            let arrow = if pct >= 0.5 {
                "▲"
            } else if pct <= -0.5 {
                "▼"
            } else {
                "="
            };
            format!("{arrow} {:.0}% vs the 24 hours before", pct.abs())
        }
    };
    let now = o.now;
    let (fix_value, mut fix_note) = if o.fixes_finished_7d == 0 {
        ("—".to_owned(), "no fix run ended this week".to_owned())
    } else {
        (
            format!(
                "{:.0}%",
                100.0 * o.fixes_succeeded_7d as f64 / o.fixes_finished_7d as f64
            ),
            format!(
                "{} of {} runs succeeded",
                o.fixes_succeeded_7d, o.fixes_finished_7d
            ),
        )
    };
    let fix_href = if o.fixes_waiting > 0 {
        fix_note.push_str(&format!(" · {} waiting for approval", o.fixes_waiting));
        "/fixes?status=pending_approval"
    } else {
        "/fixes"
    };
    view! {
        <section class="stats" aria-label="Last 24 hours">
            <Stat label="Events, 24 h" value=o.events_24h.to_string() note=change href="/errors?range=24h&status=all" id="stat-events"/>
            <Stat label="Unresolved groups" value=o.unresolved.to_string() note="unresolved or regressed".into() href="/errors" id="stat-unresolved"/>
            <Stat label="New groups, 24 h" value=o.new_groups_24h.to_string() note="first seen today".into() href="/errors?status=all&sort=first_seen" id="stat-new"/>
            <Stat label="Regressions, 24 h" value=o.regressions_24h.to_string() note="resolved, then seen again".into() href="/errors?status=regressed" id="stat-regressed"/>
            <Stat label="Agents online" value=format!("{} / {}", o.agents_online, o.agents_total) note="by heartbeat".into() href="/agents" id="stat-agents"/>
            <Stat label="Auto-fix success, 7 d" value=fix_value note=fix_note href=fix_href id="stat-fixes"/>
        </section>
        <Trend range=o.range svg=o.chart_svg totals=o.chart_totals/>
        <div class="two-col">
            <TopErrors top=o.top/>
            <Recent activity=o.activity now/>
        </div>
    }
}

#[component]
fn Stat(
    label: &'static str,
    value: String,
    note: String,
    href: &'static str,
    id: &'static str,
) -> impl IntoView {
    view! {
        <a class="stat" href=href id=id>
            <span class="stat-label">{label}</span>
            <span class="stat-value">{value}</span>
            <span class="stat-note">{note}</span>
        </a>
    }
}

#[component]
fn Trend(range: String, svg: String, totals: [i64; 4]) -> impl IntoView {
    let label = TREND_RANGES
        .iter()
        .find(|(v, _)| *v == range)
        .map(|(_, l)| *l)
        .unwrap_or("24 hours");
    let summary = format!(
        "Events per {} over the last {label}: {} critical, {} error, {} warning, {} info.",
        match range.as_str() {
            "7d" => "6 hours",
            "30d" => "day",
            _ => "hour",
        },
        totals[0],
        totals[1],
        totals[2],
        totals[3]
    );
    view! {
        <section class="card trend" aria-labelledby="trend-title">
            <div class="card-head">
                <h2 id="trend-title">"Events by severity"</h2>
                <nav class="segmented" aria-label="Chart range">
                    {TREND_RANGES.iter().map(|(v, l)| {
                        let current = *v == range;
                        view! {
                            <a href=format!("/?range={v}") aria-current=current.then_some("true")
                                title=format!("Last {l}")>{*v}</a>
                        }
                    }).collect_view()}
                </nav>
            </div>
            <Chart id="trend-chart" svg summary/>
        </section>
    }
}

#[component]
fn TopErrors(top: Vec<GroupCount>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="top-title">
            <h2 id="top-title">"Top errors, 24 h"</h2>
            {if top.is_empty() {
                view! { <p class="muted">"No events in the last 24 hours."</p> }.into_any()
            } else {
                view! { <GroupCounts groups=top id="top-errors"/> }.into_any()
            }}
        </section>
    }
}

#[component]
fn Recent(activity: Vec<RecentActivity>, now: chrono::DateTime<chrono::Utc>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="recent-title">
            <h2 id="recent-title">"Recent activity"</h2>
            {if activity.is_empty() {
                view! { <p class="muted">"Nothing has happened yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="timeline" id="recent-activity">
                        {activity.into_iter().map(|a| view! {
                            <li class=format!("act act-{}", css_token(&a.kind))>
                                <span class="act-what">{a.kind.replace('_', " ")}</span>
                                " · "
                                <a href=format!("/errors/{}", a.group_id)>{a.group_title}</a>
                                <div class="muted small">
                                    "by "{a.actor}" · "<Time at=a.at now/>
                                </div>
                                {a.notes.map(|n| view! { <p class="act-notes">{n}</p> })}
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}
