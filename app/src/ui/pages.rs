//! Pages whose content arrives with later features: each says honestly what is (not yet) there.

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

/// `/fixes`: the auto-fix log.
#[component]
pub fn FixesPage() -> impl IntoView {
    view! {
        <EmptyPage title="Fixes" heading="No fix runs yet">
            <p>"Every automatic or requested fix run will be listed here with its steps and outcome."</p>
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
