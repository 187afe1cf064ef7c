//! Pages whose content arrives with later features: each says honestly what is (not yet) there.

use super::layout::WithUser;
use crate::auth::CurrentUser;
use leptos::prelude::*;
use leptos_meta::Title;

/// A page heading with an explanation of the empty state and a next step.
#[component]
fn EmptyPage(title: &'static str, heading: &'static str, children: Children) -> impl IntoView {
    view! {
        <Title text=title/>
        <h1>{title}</h1>
        <section class="empty-state">
            <h2>{heading}</h2>
            {children()}
        </section>
    }
}

/// `/`: the tenant overview.
#[component]
pub fn OverviewPage() -> impl IntoView {
    view! { <WithUser view=overview/> }
}

fn overview(user: CurrentUser) -> impl IntoView {
    match user.tenant {
        Some(t) => view! {
            <EmptyPage title="Overview" heading="No errors received yet">
                <p>"Faultline has not received any errors for "<strong>{t.name}</strong>"."</p>
                <p>"Agents and services authenticate with an API key: "<a href="/settings">"create one in Settings"</a>"."</p>
            </EmptyPage>
        }
        .into_any(),
        None => view! {
            <EmptyPage title="Overview" heading="No company selected">
                {if user.is_super_admin {
                    view! { <p>"Create a company or switch into one on the "<a href="/admin">"Admin"</a>" page."</p> }.into_any()
                } else {
                    view! { <p>"You are not a member of any company yet. Ask an admin to add you."</p> }.into_any()
                }}
            </EmptyPage>
        }
        .into_any(),
    }
}

/// `/agents`: the agent fleet.
#[component]
pub fn AgentsPage() -> impl IntoView {
    view! {
        <EmptyPage title="Agents" heading="No agents registered">
            <p>"Agents appear here when they register with an API key that has the "<code>"ingest"</code>" scope."</p>
        </EmptyPage>
    }
}

/// `/fixes`: the auto-fix log.
#[component]
pub fn FixesPage() -> impl IntoView {
    view! {
        <EmptyPage title="Fixes" heading="No fix runs yet">
            <p>"Every automatic or requested fix run will be listed here with its steps and outcome."</p>
        </EmptyPage>
    }
}

/// `/playbooks`: remediation playbooks.
#[component]
pub fn PlaybooksPage() -> impl IntoView {
    view! {
        <EmptyPage title="Playbooks" heading="No playbooks yet">
            <p>"Playbooks describe how Faultline fixes a known error: what to match, what to do, how to verify."</p>
        </EmptyPage>
    }
}

/// Any unknown path: a real 404 page (with a 404 status).
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <main class="page narrow not-found">
            <p class="code">"404"</p>
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. It may have moved, or the link may be mistyped."</p>
            <p><a class="button" href="/">"Go to the overview"</a></p>
        </main>
    }
}
