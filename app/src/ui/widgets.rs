//! Small components and helpers every page shares: badges, times, the first-error lesson.

use crate::ui::{format_time, machine_time, relative_time};
use chrono::{DateTime, Utc};
use leptos::prelude::*;

/// The teaching empty state: the exact request that sends a first error.
#[component]
pub fn FirstError(ingest_url: String) -> impl IntoView {
    let curl = format!(
        "curl -X POST {ingest_url} \\\n  -H \"Authorization: Bearer $FAULTLINE_KEY\" \\\n  -H \"Content-Type: application/json\" \\\n  -d '{{\"service\": \"checkout\", \"severity\": \"error\", \"error_type\": \"ConnectionError\", \"message\": \"connection refused to db:5432\"}}'"
    );
    view! {
        <section class="empty-state" id="first-error">
            <h2>"No errors received yet"</h2>
            <p>"Create an API key with the "<code>"ingest"</code>" scope in "<a href="/settings">"Settings"</a>
               ", put it in "<code>"FAULTLINE_KEY"</code>", and send a first error:"</p>
            <pre class="code-block"><code>{curl}</code></pre>
            <p class="muted">"It appears here as a group; the same error sent again raises its count."</p>
        </section>
    }
}

#[component]
pub fn SeverityBadge(severity: String) -> impl IntoView {
    let class = format!("sev sev-{}", css_token(&severity));
    view! { <span class=class>{severity}</span> }
}

#[component]
pub fn StatusBadge(status: String) -> impl IntoView {
    let class = format!("status status-{}", css_token(&status));
    view! { <span class=class>{status}</span> }
}

/// A relative time with the absolute one on hover.
#[component]
pub fn Time(at: DateTime<Utc>, now: DateTime<Utc>) -> impl IntoView {
    view! { <time datetime=machine_time(&at) title=format_time(&at)>{relative_time(&now, &at)}</time> }
}

/// Keeps only characters that are safe in a class name (values come from the database).
pub fn css_token(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

/// `scheme://host` as the browser reached this server (behind a proxy: its forwarded headers).
#[cfg(feature = "ssr")]
pub fn origin(headers: &http::HeaderMap) -> String {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or(v).trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let host = header("x-forwarded-host")
        .or_else(|| header("host"))
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or_else(|| "localhost:3000".into());
    let scheme = match header("x-forwarded-proto").as_deref() {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

/// Groups with a count each (top errors, an agent's errors), most first; `status` adds each
/// group's status badge.
#[component]
pub fn GroupCounts(
    groups: Vec<crate::errors::view::GroupCount>,
    id: &'static str,
    #[prop(optional)] status: bool,
) -> impl IntoView {
    view! {
        <ol class="top-list" id=id>
            {groups.into_iter().map(|g| {
                view! {
                    <li>
                        <SeverityBadge severity=g.severity.clone()/>
                        " "
                        <a href=format!("/errors/{}", g.id)>{g.error_type}": "{g.title}</a>
                        {if status {
                            view! { " "<StatusBadge status=g.status/> }.into_any()
                        } else {
                            view! { <span class="muted small">" · "{g.service}</span> }.into_any()
                        }}
                        <span class="count">{g.count}</span>
                    </li>
                }
            }).collect_view()}
        </ol>
    }
}

/// A chart the server drew as SVG (`svg`, numbers and fixed labels only), described for
/// screen readers and under the chart by `summary`.
#[component]
pub fn Chart(id: &'static str, svg: String, summary: String) -> impl IntoView {
    view! {
        <figure class="chart" id=id>
            <div role="img" aria-label=summary.clone() inner_html=svg></div>
            <figcaption class="muted small">{summary}</figcaption>
        </figure>
    }
}
