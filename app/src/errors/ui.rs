//! The dashboard's error pages: the feed (`/errors`) and a group (`/errors/{id}`) with the
//! resolution workflow. Thin server functions over `read`, signed in by session.

use super::view::{ActivityEntry, ErrorGroup, ErrorList, ListQuery};
use crate::error::AppError;
use crate::fixes::ui::{FixActions, GroupFixCard, GroupFixPoll, group_fixes_resource};
use crate::suggest::ui::{SuggestCard, SuggestionCard};
use crate::ui::live::{BulkSelection, LiveFeed};
use crate::ui::pages::NotFound;
use crate::ui::widgets::{FirstError, SeverityBadge, StatusBadge, Time, css_token};
use crate::ui::{ErrorNote, FieldError, FormError};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

/// A page of the feed and what the page needs around it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedPage {
    pub list: ErrorList,
    /// The server's clock, so relative times read the same on server and browser.
    pub now: DateTime<Utc>,
    /// Whether the company has received any error at all (else the page teaches how).
    pub has_any: bool,
    /// The seed REST endpoint as this server is reached, for the first-error example.
    pub ingest_url: String,
    /// Services seen, for the filter.
    pub services: Vec<String>,
    /// Events per hour over the last 24 hours for each listed group (by group id).
    pub sparklines: Vec<(i64, Vec<i64>)>,
    /// Whether the signed-in user may act on groups (bulk actions).
    pub can_act: bool,
    /// Who groups can be assigned to (only for those who may act).
    pub assignees: Vec<Assignee>,
}

/// A group with everything its page shows, shaped for the page (no raw JSON values: the
/// browser only displays them, so the server formats them and the WASM stays small).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupData {
    pub group: ErrorGroup,
    /// The event shown in full: the one asked for, else the latest.
    pub shown: Option<EventSummary>,
    /// The event ids just newer and older than the shown one, to step through them.
    pub newer: Option<String>,
    pub older: Option<String>,
    /// A page of events, newest first.
    pub recent: Vec<EventSummary>,
    /// The cursor of the page of events shown (none: the newest; some: a later page).
    pub events_before: Option<i64>,
    /// The cursor (`before`) of the next, older page of events.
    pub events_next: Option<i64>,
    pub activity: Vec<ActivityEntry>,
    pub now: DateTime<Utc>,
    /// The shown event's stack trace, line by line, flagged in-app / library / neither.
    pub stack: Vec<(String, Option<bool>)>,
    /// The shown event's `details`, pretty-printed.
    pub details: Option<String>,
    /// The shown event's tags as (name, value).
    pub tags: Vec<(String, String)>,
    /// Events per hour over the last 48 hours, oldest first.
    pub hourly: Vec<(DateTime<Utc>, i64)>,
    /// Whether the signed-in user may act on it (member or admin).
    pub can_act: bool,
    /// Who it is assigned to.
    pub assignee: Option<Assignee>,
    /// Who it can be assigned to (only for those who may act).
    pub assignees: Vec<Assignee>,
}

/// One stored occurrence as the group page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSummary {
    pub event_id: String,
    pub message: String,
    pub agent: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

/// A member or agent a group can be assigned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignee {
    /// `user:<id>` or `agent:<id>`.
    pub value: String,
    pub label: String,
}

/// Who groups of `tenant` can be assigned to, for someone who may act (else nobody: the
/// page shows no assignment control).
#[cfg(feature = "ssr")]
async fn assignee_options(
    pool: &sqlx::PgPool,
    tenant: i64,
    can_act: bool,
) -> Result<Vec<Assignee>, AppError> {
    if !can_act {
        return Ok(Vec::new());
    }
    Ok(super::read::assignees(pool, tenant)
        .await?
        .into_iter()
        .map(Assignee::from)
        .collect())
}

#[cfg(feature = "ssr")]
impl From<super::read::Assignee> for Assignee {
    fn from(a: super::read::Assignee) -> Self {
        Self {
            value: a.value,
            label: a.label,
        }
    }
}

/// Time ranges the feed offers, as (URL value, label, hours).
pub const RANGES: [(&str, &str, i64); 4] = [
    ("1h", "Last hour", 1),
    ("24h", "Last 24 hours", 24),
    ("7d", "Last 7 days", 24 * 7),
    ("30d", "Last 30 days", 24 * 30),
];

/// One page of the current company's groups (any role). `range` is one of [`RANGES`].
#[server(prefix = "/api/ui", endpoint = "errors/feed", input = server_fn::codec::Json)]
pub async fn error_feed(query: ListQuery, range: Option<String>) -> Result<FeedPage, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Viewer)?;
    let can_act = ctx.require(crate::auth::Role::Member).is_ok();
    let pool = crate::state::pool();
    let now = Utc::now();
    let mut query = query;
    if let Some(range) = range.as_deref().filter(|r| !r.is_empty() && *r != "all") {
        let (_, _, hours) = RANGES
            .iter()
            .find(|(v, _, _)| *v == range)
            .ok_or_else(|| AppError::invalid("range", "must be one of 1h, 24h, 7d, 30d, all"))?;
        query.since = Some((now - chrono::Duration::hours(*hours)).to_rfc3339());
    }
    let headers = leptos_axum::extract::<http::HeaderMap>()
        .await
        .map_err(|_| AppError::Internal)?;
    let list = super::read::list(&pool, tenant, &query).await?;
    let ids: Vec<i64> = list.errors.iter().map(|g| g.id).collect();
    let sparklines = super::read::hourly_counts(&pool, tenant, &ids, 24)
        .await?
        .into_iter()
        .map(|(id, hours)| (id, hours.into_iter().map(|(_, count)| count).collect()))
        .collect();
    // Anything listed proves the company has errors; only an empty page needs to ask.
    let has_any = list.total > 0 || super::read::has_groups(&pool, tenant).await?;
    Ok(FeedPage {
        sparklines,
        list,
        now,
        has_any,
        ingest_url: format!("{}/api/errors/log", crate::ui::widgets::origin(&headers)),
        services: super::read::services(&pool, tenant).await?,
        assignees: assignee_options(&pool, tenant, can_act).await?,
        can_act,
    })
}

/// One group of the current company with its events and history; 404 for any other id.
/// `event` (an event id of the group) is shown instead of the latest; `before` pages the
/// event list.
#[server(prefix = "/api/ui", endpoint = "errors/group", input = server_fn::codec::Json)]
pub async fn load_error_group(
    id: i64,
    event: Option<String>,
    before: Option<i64>,
) -> Result<GroupData, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Viewer)?;
    let can_act = ctx.require(crate::auth::Role::Member).is_ok();
    let pool = crate::state::pool();
    let event = match event.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        None => None,
        Some(e) => Some(
            e.parse::<uuid::Uuid>()
                .map_err(|_| AppError::not_found("event"))?,
        ),
    };
    let group = super::read::group_by_id(&pool, tenant, id).await?;
    let events = super::read::events_page(&pool, tenant, id, event, before).await?;
    let shown = events.shown.as_ref().map(|n| &n.event);
    let stack = shown
        .and_then(|e| e.stack_trace.as_deref())
        .map(super::pure::stack_lines)
        .unwrap_or_default();
    let details = shown
        .and_then(|e| e.details.as_ref())
        .map(|d| serde_json::to_string_pretty(d).unwrap_or_default());
    let tags = shown
        .and_then(|e| e.tags.as_ref())
        .and_then(|t| t.as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let summary = |e: &super::view::ErrorEvent| EventSummary {
        event_id: e.event_id.to_string(),
        message: e.message.clone(),
        agent: e.agent.clone(),
        environment: e.environment.clone(),
        release: e.release.clone(),
        occurred_at: e.occurred_at,
    };
    Ok(GroupData {
        hourly: super::read::hourly_counts(&pool, tenant, &[id], 48)
            .await?
            .pop()
            .map(|(_, hours)| hours)
            .unwrap_or_default(),
        shown: shown.map(summary),
        newer: events.newer.map(|u| u.to_string()),
        older: events.older.map(|u| u.to_string()),
        recent: events.list.iter().map(|n| summary(&n.event)).collect(),
        events_before: before,
        events_next: events.next_before,
        details,
        tags,
        assignee: super::read::assignee_of(&pool, tenant, id)
            .await?
            .map(Assignee::from),
        assignees: assignee_options(&pool, tenant, can_act).await?,
        activity: super::read::activity_of(&pool, tenant, id).await?,
        group,
        now: Utc::now(),
        stack,
        can_act,
    })
}

/// Resolves a group with optional notes (member or admin).
#[server(prefix = "/api/ui", endpoint = "errors/resolve")]
pub async fn resolve_group(id: i64, notes: Option<String>) -> Result<(), AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Member)?;
    super::read::resolve(
        &crate::state::pool(),
        tenant,
        id,
        notes.as_deref(),
        &ctx.actor(),
    )
    .await
    .map_err(|e| rename_field(e, "resolution_notes", "notes"))?;
    Ok(())
}

/// Opens a resolved or ignored group again (member or admin).
#[server(prefix = "/api/ui", endpoint = "errors/reopen")]
pub async fn reopen_group(id: i64) -> Result<(), AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Member)?;
    super::read::reopen(&crate::state::pool(), tenant, id, &ctx.actor()).await?;
    Ok(())
}

/// Ignores a group forever, for a while (`1h`, `24h`, `7d`) or until `count` more events
/// (`mode = count`); it reopens by itself when that ends (member or admin).
#[server(prefix = "/api/ui", endpoint = "errors/ignore")]
pub async fn ignore_group(id: i64, mode: String, count: Option<String>) -> Result<(), AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Member)?;
    let count = match count.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| AppError::invalid("count", "must be a whole number"))?,
        ),
    };
    let how = super::read::IgnoreFor::parse(&mode, count)?;
    super::read::ignore(&crate::state::pool(), tenant, id, how, &ctx.actor()).await
}

/// Assigns a group to a member or agent (`user:<id>` / `agent:<id>`), or to nobody (`""`).
#[server(prefix = "/api/ui", endpoint = "errors/assign")]
pub async fn assign_group(id: i64, assignee: String) -> Result<(), AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Member)?;
    super::read::assign(&crate::state::pool(), tenant, id, &assignee, &ctx.actor()).await
}

/// Adds a comment to a group's history (member or admin).
#[server(prefix = "/api/ui", endpoint = "errors/comment")]
pub async fn comment_group(id: i64, notes: String) -> Result<(), AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Member)?;
    super::read::comment(&crate::state::pool(), tenant, id, &notes, &ctx.actor()).await
}

/// Resolves, ignores or assigns the selected groups at once (member or admin). `action` is
/// `resolve`, `ignore:<forever|1h|24h|7d>` or `assign` (with `assignee`); the checkboxes
/// send `ids[]`.
#[server(prefix = "/api/ui", endpoint = "errors/bulk")]
pub async fn bulk_groups(
    ids: Option<Vec<i64>>,
    action: String,
    notes: Option<String>,
    assignee: Option<String>,
) -> Result<usize, AppError> {
    use super::read::{Bulk, IgnoreFor};
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Member)?;
    let what = match action.split_once(':') {
        None if action == "resolve" => Bulk::Resolve(notes),
        None if action == "assign" => Bulk::Assign(assignee.unwrap_or_default()),
        Some(("ignore", mode)) if mode != "count" => Bulk::Ignore(IgnoreFor::parse(mode, None)?),
        _ => {
            return Err(AppError::invalid(
                "action",
                "must be one of resolve, ignore:forever, ignore:1h, ignore:24h, ignore:7d, assign",
            ));
        }
    };
    super::read::bulk(
        &crate::state::pool(),
        tenant,
        &ids.unwrap_or_default(),
        &what,
        &ctx.actor(),
    )
    .await
}

/// The form names a field differently from the API.
#[cfg(feature = "ssr")]
fn rename_field(e: AppError, from: &str, to: &'static str) -> AppError {
    match e {
        AppError::Invalid { field, reason } if field == from => AppError::invalid(to, reason),
        other => other,
    }
}

// ---------------------------------------------------------------------------------------
// The feed
// ---------------------------------------------------------------------------------------

/// Filter values as the URL carries them.
#[derive(Debug, Clone, Default, PartialEq)]
struct FeedParams {
    status: String,
    severity: String,
    category: String,
    service: String,
    range: String,
    sort: String,
    q: String,
    cursor: String,
}

impl FeedParams {
    fn from_query(p: &leptos_router::params::ParamsMap) -> Self {
        let get = |k: &str| p.get(k).unwrap_or_default();
        Self {
            status: p.get("status").unwrap_or_else(|| "open".into()),
            severity: get("severity"),
            category: get("category"),
            service: get("service"),
            range: get("range"),
            sort: get("sort"),
            q: get("q"),
            cursor: get("cursor"),
        }
    }

    fn list_query(&self) -> ListQuery {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        ListQuery {
            status: some(&self.status).filter(|s| s != "all"),
            severity: some(&self.severity),
            category: some(&self.category),
            service: some(&self.service),
            sort: some(&self.sort),
            q: some(&self.q),
            cursor: some(&self.cursor),
            ..Default::default()
        }
    }

    /// `/errors?…` for these filters on the page after `cursor`.
    fn url(&self, cursor: Option<&str>) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("status", self.status.as_str()),
            ("severity", &self.severity),
            ("category", &self.category),
            ("service", &self.service),
            ("range", &self.range),
            ("sort", &self.sort),
            ("q", &self.q),
            ("cursor", cursor.unwrap_or_default()),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", crate::ui::layout::urlencode(v)));
            }
        }
        format!("/errors?{}", parts.join("&"))
    }
}

/// Whether a feed URL's query (its key–value pairs) shows the default feed: open groups,
/// first page, no filter (the live feed refreshes only that one under the reader's eyes).
pub fn is_default_feed(pairs: impl IntoIterator<Item = (String, String)>) -> bool {
    let mut query = leptos_router::params::ParamsMap::new();
    for (k, v) in pairs {
        query.insert(k, v);
    }
    FeedParams::from_query(&query) == FeedParams::from_query(&Default::default())
}

const STATUSES: [(&str, &str); 6] = [
    ("open", "Open"),
    ("unresolved", "Unresolved"),
    ("regressed", "Regressed"),
    ("resolved", "Resolved"),
    ("ignored", "Ignored"),
    ("all", "Any status"),
];
const SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];
const CATEGORIES: [&str; 7] = [
    "network",
    "resource",
    "config",
    "dependency",
    "runtime",
    "auth",
    "unknown",
];
const SORTS: [(&str, &str); 3] = [
    ("last_seen", "Last seen"),
    ("count", "Most events"),
    ("first_seen", "First seen"),
];

/// `/errors`: one row per group, filtered and searched through the URL; the feed follows
/// new groups and rising counts live (see [`LiveFeed`]).
#[component]
pub fn ErrorsPage() -> impl IntoView {
    let query = use_query_map();
    let params = Memo::new(move |_| query.with(FeedParams::from_query));
    let bulk = ServerAction::<BulkGroups>::new();
    let feed = Resource::new(
        move || params.get(),
        |p| {
            let range = (!p.range.is_empty()).then(|| p.range.clone());
            error_feed(p.list_query(), range)
        },
    );
    view! {
        <Title text="Errors"/>
        <h1>"Errors"</h1>
        {move || view! { <FeedFilters params=params.get()/> }}
        <LiveFeed region="feed-region".to_owned()/>
        <BulkSelection/>
        <div id="feed-region">
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match feed.await {
                        Ok(page) => view! { <FeedTable page params=params.get_untracked() bulk/> }.into_any(),
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                    }
                })}
            </Suspense>
        </div>
    }
}

/// The filter bar: a plain GET form, so it works before hydration and the URL is shareable.
#[component]
fn FeedFilters(params: FeedParams) -> impl IntoView {
    let option = |value: &str, label: &str, current: &str| {
        view! { <option value=value.to_owned() selected=value == current>{label.to_owned()}</option> }
    };
    view! {
        <form class="filters" method="get" action="/errors" role="search">
            <div class="field grow">
                <label for="f-q">"Search"</label>
                <input id="f-q" type="search" name="q" value=params.q.clone() maxlength="200"
                    placeholder="type, message or service"/>
            </div>
            <div class="field">
                <label for="f-status">"Status"</label>
                <select id="f-status" name="status">
                    {STATUSES.iter().map(|(v, l)| option(v, l, &params.status)).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="f-severity">"Severity"</label>
                <select id="f-severity" name="severity">
                    {option("", "Any", &params.severity)}
                    {SEVERITIES.iter().map(|v| option(v, v, &params.severity)).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="f-category">"Category"</label>
                <select id="f-category" name="category">
                    {option("", "Any", &params.category)}
                    {CATEGORIES.iter().map(|v| option(v, v, &params.category)).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="f-service">"Service"</label>
                <input id="f-service" name="service" value=params.service.clone() maxlength="200"
                    list="f-services" placeholder="any"/>
            </div>
            <div class="field">
                <label for="f-range">"Seen in"</label>
                <select id="f-range" name="range">
                    {option("", "Any time", &params.range)}
                    {RANGES.iter().map(|(v, l, _)| option(v, l, &params.range)).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="f-sort">"Sort"</label>
                <select id="f-sort" name="sort">
                    {SORTS.iter().map(|(v, l)| option(v, l, if params.sort.is_empty() { "last_seen" } else { &params.sort })).collect_view()}
                </select>
            </div>
            <div class="field actions">
                <button type="submit" class="button primary">"Apply"</button>
                <a class="button secondary" href="/errors">"Reset"</a>
            </div>
        </form>
    }
}

#[component]
fn FeedTable(page: FeedPage, params: FeedParams, bulk: ServerAction<BulkGroups>) -> impl IntoView {
    if !page.has_any {
        return view! { <FirstError ingest_url=page.ingest_url/> }.into_any();
    }
    let FeedPage {
        list,
        now,
        services,
        sparklines,
        can_act,
        assignees,
        ..
    } = page;
    let spark_of = move |id: i64| {
        sparklines
            .iter()
            .find(|(g, _)| *g == id)
            .map(|(_, counts)| counts.clone())
            .unwrap_or_default()
    };
    let next = list.next_cursor.as_deref().map(|c| params.url(Some(c)));
    let first = (!params.cursor.is_empty()).then(|| params.url(None));
    let shown = list.errors.len();
    view! {
        <datalist id="f-services">
            {services.into_iter().map(|s| view! { <option value=s/> }).collect_view()}
        </datalist>
        <p class="muted result-count" id="result-count">
            {format!("{} matching group{}", list.total, if list.total == 1 { "" } else { "s" })}
            {(!params.cursor.is_empty()).then_some(" (later page)")}
        </p>
        {if shown == 0 {
            view! {
                <section class="empty-state">
                    <h2>"Nothing matches"</h2>
                    <p>"No error group matches these filters. "<a href="/errors?status=all">"Show every group"</a>"."</p>
                </section>
            }.into_any()
        } else {
            view! {
                {can_act.then(|| view! { <BulkBar bulk assignees=assignees.clone()/> })}
                <div class="table-wrap">
                <table class="data feed" id="error-feed">
                    <thead><tr>
                        {can_act.then(|| view! {
                            <th scope="col" class="pick">
                                <input type="checkbox" id="pick-all" aria-label="Select every error on this page"/>
                            </th>
                        })}
                        <th scope="col">"Error"</th>
                        <th scope="col" class="opt">"Category"</th>
                        <th scope="col" class="opt">"Agent"</th>
                        <th scope="col" class="num">"Events"</th>
                        <th scope="col">"Last seen"</th>
                        <th scope="col" class="opt">"First seen"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col" class="opt">"Assignee"</th>
                    </tr></thead>
                    <tbody>
                        {list.errors.into_iter().map(|g| {
                            let spark = spark_of(g.id);
                            view! { <FeedRow group=g now spark pick=can_act/> }
                        }).collect_view()}
                    </tbody>
                </table>
                </div>
            }.into_any()
        }}
        <nav class="pager" aria-label="Pages">
            {first.map(|href| view! { <a class="button secondary" href=href>"← First page"</a> })}
            {next.map(|href| view! { <a class="button secondary" href=href rel="next">"Next page →"</a> })}
        </nav>
    }
    .into_any()
}

#[component]
fn FeedRow(
    group: ErrorGroup,
    now: DateTime<Utc>,
    spark: Vec<i64>,
    /// Whether the user may act on groups (a checkbox per row for the bulk bar).
    pick: bool,
) -> impl IntoView {
    let href = format!("/errors/{}", group.id);
    let checkbox = pick.then(|| {
        let label = format!("Select {}: {}", group.error_type, group.title);
        view! {
            <td class="pick">
                <input type="checkbox" name="ids[]" value=group.id.to_string() form="bulk-form" aria-label=label/>
            </td>
        }
    });
    view! {
        <tr data-group-id=group.id.to_string()>
            {checkbox}
            <td class="title-cell">
                <SeverityBadge severity=group.severity.clone()/>
                " "
                <a class="group-title" href=href>{group.error_type.clone()}": "{group.title.clone()}</a>
                <div class="muted small">{group.service.clone()}</div>
            </td>
            <td class="opt"><span class="badge">{group.category.clone()}</span></td>
            <td class="opt">{group.agent.clone().unwrap_or_else(|| "—".into())}</td>
            <td class="num"><span class="count">{group.occurrences}</span><Sparkline counts=spark/></td>
            <td><Time at=group.last_seen now/></td>
            <td class="opt"><Time at=group.first_seen now/></td>
            <td><StatusBadge status=group.status.clone()/></td>
            <td class="assignee opt">{group.assignee.clone().unwrap_or_else(|| "—".into())}</td>
        </tr>
    }
}

/// Resolve, ignore or assign the ticked groups. A plain form the row checkboxes belong to
/// (`form="bulk-form"`); [`BulkSelection`] keeps its count.
#[component]
fn BulkBar(bulk: ServerAction<BulkGroups>, assignees: Vec<Assignee>) -> impl IntoView {
    let error = Signal::derive(move || bulk.value().get().and_then(|r| r.err()));
    view! {
        <ActionForm action=bulk attr:id="bulk-form" attr:class="bulk-bar">
            <span class="bulk-count" id="bulk-count">{crate::ui::selection_text(0)}</span>
            <label for="bulk-action" class="sr-only">"Bulk action"</label>
            <select id="bulk-action" name="action">
                <option value="resolve">"Resolve"</option>
                <option value="ignore:forever">"Ignore forever"</option>
                <option value="ignore:24h">"Ignore for 24 hours"</option>
                <option value="ignore:7d">"Ignore for 7 days"</option>
                <option value="assign">"Assign to →"</option>
            </select>
            <label for="bulk-assignee" class="sr-only">"Assignee (for Assign)"</label>
            <select id="bulk-assignee" name="assignee">
                <option value="">"nobody"</option>
                {assignees.into_iter().map(|a| view! { <option value=a.value>{a.label}</option> }).collect_view()}
            </select>
            <button type="submit" class="button small primary" id="bulk-apply">"Apply to selected"</button>
            <FormError error/>
        </ActionForm>
    }
}

/// A tiny line of events per hour (last 24 h), drawn on the server.
#[component]
fn Sparkline(counts: Vec<i64>) -> impl IntoView {
    if counts.is_empty() {
        return ().into_any();
    }
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let step = 60.0 / (counts.len().max(2) - 1) as f64;
    let points = counts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                15.0 - *c as f64 / max * 14.0
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    let total: i64 = counts.iter().sum();
    view! {
        <svg class="spark" viewBox="0 0 60 16" role="img" aria-label=format!("{total} in the last 24 hours")>
            <polyline points=points/>
        </svg>
    }
    .into_any()
}

/// leptos_meta writes the server-rendered `<title>` unescaped, and a client-sent `</title>`
/// would end it: angle brackets become look-alike quotes there (the page body is escaped).
fn tab_title(s: &str) -> String {
    s.chars()
        .take(120)
        .map(|c| match c {
            '<' => '‹',
            '>' => '›',
            c => c,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// A group
// ---------------------------------------------------------------------------------------

/// `/errors/{id}`: one group, its latest event, recent events and history, and actions.
#[component]
pub fn GroupPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok())));
    let at = Memo::new(move |_| {
        query.with(|q| {
            (
                q.get("event").filter(|e| !e.is_empty()),
                q.get("before").and_then(|b| b.parse::<i64>().ok()),
            )
        })
    });
    let resolve = ServerAction::<ResolveGroup>::new();
    let reopen = ServerAction::<ReopenGroup>::new();
    let comment = ServerAction::<CommentGroup>::new();
    let ignore = ServerAction::<IgnoreGroup>::new();
    let assign = ServerAction::<AssignGroup>::new();
    let actions = GroupActions {
        resolve,
        reopen,
        comment,
        ignore,
        assign,
    };
    let fix_card = FixCard {
        fixes: group_fixes_resource(id),
        actions: FixActions::new(),
    };
    let suggest = SuggestCard::new(id);
    let page = Resource::new(
        move || (id.get(), at.get()),
        |(id, (event, before))| async move {
            match id {
                Some(id) => load_error_group(id, event, before).await,
                None => Err(AppError::not_found("error")),
            }
        },
    );
    view! {
        <GroupFixPoll page_region="group-region"/>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(p) => view! { <div id="group-region"><GroupView page=p actions fix_card suggest/></div> }.into_any(),
                    Err(AppError::NotFound(_)) => view! { <NotFound/> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// What the group page's fix card needs, created with the page.
#[derive(Clone, Copy)]
struct FixCard {
    fixes: Resource<Result<crate::fixes::GroupFixes, AppError>>,
    actions: FixActions,
}

/// The actions of a group page (one of each, shared by its forms).
#[derive(Clone, Copy)]
struct GroupActions {
    resolve: ServerAction<ResolveGroup>,
    reopen: ServerAction<ReopenGroup>,
    comment: ServerAction<CommentGroup>,
    ignore: ServerAction<IgnoreGroup>,
    assign: ServerAction<AssignGroup>,
}

#[component]
fn GroupView(
    page: GroupData,
    actions: GroupActions,
    fix_card: FixCard,
    suggest: SuggestCard,
) -> impl IntoView {
    let GroupData {
        group,
        shown,
        newer,
        older,
        recent,
        events_before,
        events_next,
        activity,
        now,
        stack,
        details,
        tags,
        hourly,
        can_act,
        assignee,
        assignees,
    } = page;
    let open = matches!(group.status.as_str(), "unresolved" | "regressed");
    let title = format!("{}: {}", group.error_type, group.title);
    let base = format!("/errors/{}", group.id);
    let shown_id = shown.as_ref().map(|e| e.event_id.clone());
    view! {
        <Title text=tab_title(&title)/>
        <p class="crumbs"><a href="/errors">"← Errors"</a></p>
        <header class="group-head">
            <h1><SeverityBadge severity=group.severity.clone()/>" "{title}</h1>
            <dl class="facts">
                <div><dt>"Status"</dt><dd id="group-status"><StatusBadge status=group.status.clone()/></dd></div>
                <div><dt>"Events"</dt><dd id="group-count">{group.occurrences}</dd></div>
                <div><dt>"Service"</dt><dd>{group.service.clone()}</dd></div>
                <div><dt>"Category"</dt><dd>{group.category.clone()}</dd></div>
                <div><dt>"First seen"</dt><dd><Time at=group.first_seen now/></dd></div>
                <div><dt>"Last seen"</dt><dd><Time at=group.last_seen now/></dd></div>
                <div><dt>"Agent"</dt><dd>{group.agent.clone().unwrap_or_else(|| "—".into())}</dd></div>
                <div><dt>"Assignee"</dt><dd id="group-assignee">{assignee.as_ref().map_or_else(|| "nobody".to_owned(), |a| a.label.clone())}</dd></div>
                <div><dt>"Fingerprint"</dt><dd><code title=group.fingerprint.clone()>{group.fingerprint.chars().take(12).collect::<String>()}</code></dd></div>
            </dl>
            {group.resolution_notes.clone().filter(|_| group.status == "resolved").map(|n| view! {
                <p class="resolution">"Resolved"
                    {group.resolved_by.clone().map(|b| format!(" by {b}"))}": "{n}</p>
            })}
            {(group.status == "resolved" && can_act).then(|| view! {
                <p class="small"><a id="save-as-playbook" href=format!("/playbooks?from_group={}#editor", group.id)>
                    "Save this resolution as a playbook"</a></p>
            })}
        </header>
        {can_act.then(|| view! { <ActionsCard id=group.id open actions assignee assignees/> })}
        <div class="group-body">
            <GroupFixCard group=group.id fixes=fix_card.fixes actions=fix_card.actions/>
            <SuggestionCard group=group.id card=suggest/>
            <section class="card" aria-labelledby="hourly-h">
                <h2 id="hourly-h">"Events per hour, last 48 hours"</h2>
                <HourlyBars hourly/>
            </section>
            <section class="card" aria-labelledby="latest-h">
                <div class="card-head">
                    <h2 id="latest-h">{if newer.is_none() { "Latest event" } else { "Event" }}</h2>
                    <EventStepper base=base.clone() newer older/>
                </div>
                {match shown {
                    Some(e) => view! { <EventView event=e stack details tags now/> }.into_any(),
                    None => view! { <p class="muted">"Its events have been removed by retention."</p> }.into_any(),
                }}
            </section>
            <section class="card" aria-labelledby="recent-h">
                <h2 id="recent-h">{if events_before.is_some() { "Older events" } else { "Recent events" }}</h2>
                <RecentEvents events=recent now base=base.clone() shown=shown_id before=events_before/>
                <nav class="pager" aria-label="Event pages">
                    {events_before.is_some().then(|| view! { <a class="button secondary small" href=base.clone()>"← Newest events"</a> })}
                    {events_next.map(|b| view! {
                        <a class="button secondary small" rel="next" href=format!("{base}?before={b}")>"Older events →"</a>
                    })}
                </nav>
            </section>
            <section class="card" aria-labelledby="activity-h">
                <h2 id="activity-h">"Activity"</h2>
                {can_act.then(|| view! { <CommentForm id=group.id comment=actions.comment/> })}
                <Timeline entries=activity now/>
            </section>
        </div>
    }
}

#[component]
fn ActionsCard(
    id: i64,
    open: bool,
    actions: GroupActions,
    assignee: Option<Assignee>,
    assignees: Vec<Assignee>,
) -> impl IntoView {
    let GroupActions {
        resolve,
        reopen,
        ignore,
        assign,
        ..
    } = actions;
    let resolve_error = Signal::derive(move || resolve.value().get().and_then(|r| r.err()));
    let reopen_error = Signal::derive(move || reopen.value().get().and_then(|r| r.err()));
    let ignore_error = Signal::derive(move || ignore.value().get().and_then(|r| r.err()));
    let assign_error = Signal::derive(move || assign.value().get().and_then(|r| r.err()));
    let current = assignee.map(|a| a.value).unwrap_or_default();
    view! {
        <section class="card actions-card" aria-label="Actions">
            {if open {
                view! {
                    <ActionForm action=resolve attr:class="stack" attr:id="resolve-form">
                        <input type="hidden" name="id" value=id.to_string()/>
                        <label for="resolve-notes">"Resolution notes"</label>
                        <textarea id="resolve-notes" name="notes" rows="2" maxlength="10000"
                            placeholder="What fixed it? (optional)" aria-describedby="notes-error"></textarea>
                        <FieldError error=resolve_error field="notes"/>
                        <FormError error=resolve_error fields=&["notes"]/>
                        <div><button type="submit" class="button primary">"Resolve"</button></div>
                    </ActionForm>
                    <ActionForm action=ignore attr:class="inline-form" attr:id="ignore-form">
                        <input type="hidden" name="id" value=id.to_string()/>
                        <label for="ignore-mode">"Ignore"</label>
                        <select id="ignore-mode" name="mode">
                            <option value="forever">"forever"</option>
                            <option value="1h">"for 1 hour"</option>
                            <option value="24h">"for 24 hours"</option>
                            <option value="7d">"for 7 days"</option>
                            <option value="count">"until N more events"</option>
                        </select>
                        <label for="ignore-count">"N"</label>
                        <input id="ignore-count" name="count" type="number" min="1" max="1000000"
                            inputmode="numeric" class="short" aria-describedby="count-error"/>
                        <button type="submit" class="button secondary">"Ignore"</button>
                        <FieldError error=ignore_error field="count"/>
                        <FormError error=ignore_error fields=&["count"]/>
                    </ActionForm>
                }.into_any()
            } else {
                view! {
                    <ActionForm action=reopen attr:id="reopen-form">
                        <input type="hidden" name="id" value=id.to_string()/>
                        <FormError error=reopen_error/>
                        <button type="submit" class="button secondary">"Reopen"</button>
                    </ActionForm>
                }.into_any()
            }}
            <ActionForm action=assign attr:class="inline-form" attr:id="assign-form">
                <input type="hidden" name="id" value=id.to_string()/>
                <label for="assign-to">"Assign to"</label>
                <select id="assign-to" name="assignee">
                    <option value="" selected=current.is_empty()>"nobody"</option>
                    {assignees.into_iter().map(|a| {
                        let selected = a.value == current;
                        view! { <option value=a.value selected=selected>{a.label}</option> }
                    }).collect_view()}
                </select>
                <button type="submit" class="button secondary">"Assign"</button>
                <FormError error=assign_error/>
            </ActionForm>
        </section>
    }
}

#[component]
fn CommentForm(id: i64, comment: ServerAction<CommentGroup>) -> impl IntoView {
    let error = Signal::derive(move || comment.value().get().and_then(|r| r.err()));
    view! {
        <ActionForm action=comment attr:class="stack comment-form" attr:id="comment-form">
            <input type="hidden" name="id" value=id.to_string()/>
            <label for="comment-notes">"Comment"</label>
            <textarea id="comment-notes" name="notes" rows="2" maxlength="10000" required
                aria-describedby="notes-error"></textarea>
            <FieldError error=error field="notes"/>
            <FormError error=error fields=&["notes"]/>
            <div><button type="submit" class="button secondary">"Add comment"</button></div>
        </ActionForm>
    }
}

#[component]
fn EventView(
    event: EventSummary,
    stack: Vec<(String, Option<bool>)>,
    details: Option<String>,
    tags: Vec<(String, String)>,
    now: DateTime<Utc>,
) -> impl IntoView {
    view! {
        <p class="muted small">
            <Time at=event.occurred_at now/>
            {event.agent.clone().map(|a| format!(" · agent {a}"))}
            {event.environment.clone().map(|e| format!(" · {e}"))}
            {event.release.clone().map(|r| format!(" · release {r}"))}
            " · event "<code>{event.event_id.clone()}</code>
        </p>
        <pre class="message" id="event-message">{event.message.clone()}</pre>
        {(!stack.is_empty()).then(|| view! {
            <h3>"Stack trace"</h3>
            <pre class="stacktrace" id="stack-trace"><code>
                {stack.into_iter().map(|(line, in_app)| {
                    let class = match in_app {
                        Some(true) => "line in-app",
                        Some(false) => "line lib",
                        None => "line",
                    };
                    view! { <span class=class>{line}</span>"\n" }
                }).collect_view()}
            </code></pre>
        })}
        {(!tags.is_empty()).then(|| view! {
            <h3>"Tags"</h3>
            <ul class="tags">
                {tags.into_iter().map(|(k, v)| view! { <li><span class="tag-key">{k}</span>" "<span class="tag-value">{v}</span></li> }).collect_view()}
            </ul>
        })}
        {details.map(|d| view! { <h3>"Details"</h3><pre class="json">{d}</pre> })}
    }
}

/// A bar per hour, drawn on the server as SVG (no script; each bar's count in its tooltip).
#[component]
fn HourlyBars(hourly: Vec<(DateTime<Utc>, i64)>) -> impl IntoView {
    use chrono::Timelike;
    const W: f64 = 480.0;
    const H: f64 = 80.0;
    let total: i64 = hourly.iter().map(|(_, c)| c).sum();
    let max = hourly.iter().map(|(_, c)| *c).max().unwrap_or(0).max(1) as f64;
    let slot = W / hourly.len().max(1) as f64;
    let label = format!(
        "{total} event{} in the last {} hours, at most {} in one hour",
        if total == 1 { "" } else { "s" },
        hourly.len(),
        max as i64
    );
    let tooltip = label.clone();
    view! {
        <svg class="hourly" viewBox=format!("0 0 {W} {H}") preserveAspectRatio="none" role="img" aria-label=label>
            <title>{tooltip}</title>
            {hourly.into_iter().enumerate().map(|(i, (hour, count))| {
                let h = if count == 0 { 0.0 } else { (count as f64 / max * (H - 2.0)).max(2.0) };
                view! {
                    <rect x=format!("{:.2}", i as f64 * slot + 0.5) y=format!("{:.2}", H - h)
                        width=format!("{:.2}", (slot - 1.0).max(0.5)) height=format!("{h:.2}")>
                        <title>{format!("{:02}:00 UTC — {count} event{}", hour.hour(), if count == 1 { "" } else { "s" })}</title>
                    </rect>
                }
            }).collect_view()}
            <line x1="0" y1=H.to_string() x2=W.to_string() y2=H.to_string() class="axis"/>
        </svg>
        <p class="muted small">"48 h ago"<span class="right">"now"</span></p>
    }
}

#[component]
fn RecentEvents(
    events: Vec<EventSummary>,
    now: DateTime<Utc>,
    /// The group page's path.
    base: String,
    /// The event shown in full, marked in the list.
    shown: Option<String>,
    /// The list page's cursor, kept when an event of it is picked.
    before: Option<i64>,
) -> impl IntoView {
    let page = before.map(|b| format!("&before={b}")).unwrap_or_default();
    if events.is_empty() {
        return view! { <p class="muted">"No events stored."</p> }.into_any();
    }
    view! {
        <ol class="events" id="events">
            {events.into_iter().map(|e| {
                let current = shown.as_deref() == Some(e.event_id.as_str());
                view! {
                    <li class:current=current>
                        <Time at=e.occurred_at now/>
                        " "
                        <a class="event-message" href=format!("{base}?event={}{page}", e.event_id)
                            aria-current=current.then_some("true")>{e.message}</a>
                        {e.agent.map(|a| view! { " "<span class="muted small">{format!("({a})")}</span> })}
                    </li>
                }
            }).collect_view()}
        </ol>
    }
    .into_any()
}

/// Newer / older / latest links that step through a group's events one by one.
#[component]
fn EventStepper(base: String, newer: Option<String>, older: Option<String>) -> impl IntoView {
    let link = |label: &'static str, target: Option<String>, rel: &'static str| {
        match target {
        Some(e) => view! { <a class="button secondary small" rel=rel href=format!("{base}?event={e}")>{label}</a> }.into_any(),
        None => view! { <span class="button secondary small" aria-disabled="true">{label}</span> }.into_any(),
    }
    };
    view! {
        <nav class="stepper" aria-label="Step through events">
            {link("← Newer", newer.clone(), "prev")}
            {link("Older →", older, "next")}
            {newer.is_some().then(|| view! { <a class="button secondary small" href=base.clone()>"Latest"</a> })}
        </nav>
    }
}

#[component]
fn Timeline(entries: Vec<ActivityEntry>, now: DateTime<Utc>) -> impl IntoView {
    if entries.is_empty() {
        return view! { <p class="muted">"Nothing has happened to this error yet."</p> }.into_any();
    }
    view! {
        <ol class="timeline" id="activity">
            {entries.into_iter().map(|a| {
                let label = match a.kind.as_str() {
                    "first_seen" => "first seen",
                    "resolved" => "resolved",
                    "reopened" => "reopened",
                    "regressed" => "regressed (it came back after being resolved)",
                    "ignored" => "ignored",
                    "assigned" => "assigned",
                    "commented" => "commented",
                    "fix_started" => "fix started",
                    "fix_finished" => "fix finished",
                    _ => "updated",
                };
                view! {
                    <li class=format!("act act-{}", css_token(&a.kind))>
                        <span class="act-what">{label}</span>
                        " by "<span class="act-actor">{a.actor}</span>" · "<Time at=a.at now/>
                        {a.notes.map(|n| view! { <p class="act-notes">{n}</p> })}
                    </li>
                }
            }).collect_view()}
        </ol>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::is_default_feed;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_the_unfiltered_first_page_is_the_default_feed() {
        assert!(is_default_feed(pairs(&[])));
        assert!(is_default_feed(pairs(&[("status", "open")])));
        assert!(is_default_feed(pairs(&[("q", ""), ("severity", "")])));
        assert!(!is_default_feed(pairs(&[("status", "all")])));
        assert!(!is_default_feed(pairs(&[("severity", "error")])));
        assert!(!is_default_feed(pairs(&[("cursor", "abc")])));
    }
}
