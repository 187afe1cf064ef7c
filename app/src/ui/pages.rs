//! Pages that belong to no one concern: the 404 page.

use leptos::prelude::*;
use leptos_meta::Title;

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
