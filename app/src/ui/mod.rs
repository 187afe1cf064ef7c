//! The document shell, the router and the components every page shares.

pub mod layout;
pub mod live;
#[cfg(feature = "hydrate")]
pub mod navigate;
pub mod pages;
pub mod settings;
pub mod widgets;

use crate::agents::ui::{AgentPage, AgentsPage};
use crate::auth::ui::LoginPage;
use crate::error::AppError;
use crate::errors::ui::{ErrorsPage, GroupPage};
use crate::fixes::ui::{FixPage, FixesPage};
use crate::overview::ui::OverviewPage;
use crate::playbooks::ui::PlaybooksPage;
use crate::tenants::ui::AdminPage;
use layout::AppLayout;
use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{SsrMode, path};
use pages::NotFound;
use settings::SettingsPage;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options islands=true/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The application: every route of the dashboard.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/faultline.css"/>
        <Title formatter=|t: String| if t.is_empty() { "Faultline".to_owned() } else { format!("{t} · Faultline") }/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view=AppLayout ssr=SsrMode::Async>
                    <Route path=path!("") view=OverviewPage ssr=SsrMode::Async/>
                    <Route path=path!("errors") view=ErrorsPage ssr=SsrMode::Async/>
                    <Route path=path!("errors/:id") view=GroupPage ssr=SsrMode::Async/>
                    <Route path=path!("agents") view=AgentsPage ssr=SsrMode::Async/>
                    <Route path=path!("agents/:id") view=AgentPage ssr=SsrMode::Async/>
                    <Route path=path!("fixes") view=FixesPage ssr=SsrMode::Async/>
                    <Route path=path!("fixes/:id") view=FixPage ssr=SsrMode::Async/>
                    <Route path=path!("playbooks") view=PlaybooksPage ssr=SsrMode::Async/>
                    <Route path=path!("settings") view=SettingsPage ssr=SsrMode::Async/>
                    <Route path=path!("admin") view=AdminPage ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Shows the error of a form for `field`, if there is one.
#[component]
pub fn FieldError(
    #[prop(into)] error: Signal<Option<AppError>>,
    field: &'static str,
    /// Prefixes the element id when two forms of a page share a field name.
    #[prop(optional)]
    prefix: &'static str,
) -> impl IntoView {
    let id = format!("{prefix}{field}-error");
    move || {
        error.get().filter(|e| e.field() == Some(field)).map(|e| {
            view! { <p class="field-error" id=id.clone() role="alert">{e.message()}</p> }
        })
    }
}

/// Shows a form's error that is not about one field.
#[component]
pub fn FormError(
    #[prop(into)] error: Signal<Option<AppError>>,
    #[prop(optional)] fields: &'static [&'static str],
) -> impl IntoView {
    move || {
        error
            .get()
            .filter(|e| e.field().is_none_or(|f| !fields.contains(&f)))
            .map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })
    }
}

/// The bulk bar's count of ticked groups.
pub fn selection_text(ticked: usize) -> String {
    match ticked {
        0 => "Tick errors to act on several at once:".to_owned(),
        n => format!("{n} selected:"),
    }
}

/// An error that stopped a page from loading.
#[component]
pub fn ErrorNote(error: AppError) -> impl IntoView {
    let signed_out = matches!(error, AppError::Unauthorized(_));
    view! {
        <div class="notice notice-error" role="alert">
            <p>{error.to_string()}</p>
            {signed_out.then(|| view! { <p><a href="/login" rel="external">"Sign in again"</a></p> })}
        </div>
    }
}

/// How long before `now` the time `t` was, in words ("3 min ago"); `now` comes from the
/// server with the data, so server and browser render the same text.
pub fn relative_time(
    now: &chrono::DateTime<chrono::Utc>,
    t: &chrono::DateTime<chrono::Utc>,
) -> String {
    let secs = (*now - *t).num_seconds();
    match secs {
        i64::MIN..=-60 => format!("in {} min", -secs / 60),
        -59..=44 => "just now".into(),
        45..=3_599 => format!("{} min ago", (secs + 30) / 60),
        3_600..=86_399 => format!("{} h ago", secs / 3_600),
        86_400..=2_591_999 => format!("{} d ago", secs / 86_400),
        _ => format_time(t),
    }
}

/// A timestamp as `YYYY-MM-DD HH:MM UTC` (identical on server and browser, so hydration agrees).
pub fn format_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    // By hand: chrono's `format` brings its whole strftime machinery into the WASM.
    use chrono::{Datelike, Timelike};
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// A timestamp for a `datetime` attribute (`YYYY-MM-DDTHH:MM:SSZ`).
pub fn machine_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    use chrono::{Datelike, Timelike};
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
