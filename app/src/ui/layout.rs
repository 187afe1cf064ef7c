//! The authenticated layout: header with company switcher, navigation, and the page.

use super::ErrorNote;
use crate::AppError;
use crate::auth::{CurrentUser, Logout, SwitchTenant, me};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::components::{A, Outlet};
use leptos_router::hooks::use_location;

/// The signed-in user, loaded once by [`AppLayout`] and shared with every page.
#[derive(Clone, Copy)]
pub struct UserResource(pub Resource<Result<Option<CurrentUser>, AppError>>);

/// Wraps every signed-in page: header, navigation, and the page itself. The page is not
/// rendered inside the user's `Suspense`, so loading the user never re-creates the page.
#[component]
pub fn AppLayout() -> impl IntoView {
    let user = Resource::new(|| (), |_| me());
    provide_context(UserResource(user));
    view! {
        <Suspense fallback=|| view! { <header class="topbar"><a class="brand" href="/">"Faultline"</a></header> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(u)) => view! { <Chrome user=u/> }.into_any(),
                    Ok(None) => view! { <SignedOut/> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                }
            })}
        </Suspense>
        <main class="page" id="main">
            <Outlet/>
        </main>
    }
}

/// Renders `view` with the signed-in user once it is loaded (nothing when signed out: the
/// layout already says so).
#[component]
pub fn WithUser<F, V>(view: F) -> impl IntoView
where
    F: Fn(CurrentUser) -> V + Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let UserResource(user) = expect_context::<UserResource>();
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                let view = view.clone();
                Suspend::new(async move {
                    match user.await {
                        Ok(Some(u)) => view(u).into_any(),
                        _ => ().into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

#[component]
fn SignedOut() -> impl IntoView {
    let location = use_location();
    let href = move || format!("/login?next={}", urlencode(&location.pathname.get()));
    view! {
        <div class="notice notice-error" role="alert">
            <p>"Your session has ended. "<a href=href rel="external">"Sign in"</a>" to continue."</p>
        </div>
    }
}

#[component]
fn Chrome(user: CurrentUser) -> impl IntoView {
    let tenant_name = user.tenant.as_ref().map(|t| t.name.clone());
    let role = user.role().map(|r| r.to_string());
    let super_admin = user.is_super_admin;
    let switcher = (user.tenants.len() > 1 || (super_admin && !user.tenants.is_empty())).then(|| {
        let current = user.tenant.as_ref().map(|t| t.id);
        let options = user
            .tenants
            .iter()
            .map(|t| {
                view! { <option value=t.id.to_string() selected=Some(t.id) == current>{t.name.clone()}</option> }
            })
            .collect_view();
        view! {
            <form class="switcher" method="post" action=SwitchTenant::url()>
                <label for="tenant-switch">"Company"</label>
                <select id="tenant-switch" name="tenant_id">{options}</select>
                <button type="submit" class="button small">"Switch"</button>
            </form>
        }
    });
    view! {
        <header class="topbar">
            <a class="brand" href="/">"Faultline"</a>
            <div class="context">
                {match tenant_name {
                    Some(name) => view! { <span class="tenant-name">{name}</span> }.into_any(),
                    None => view! { <span class="tenant-name muted">"No company selected"</span> }.into_any(),
                }}
                {role.map(|r| view! { <span class="badge">{r}</span> })}
                {super_admin.then(|| view! { <span class="badge badge-accent">"super-admin"</span> })}
            </div>
            {switcher}
            <div class="account">
                <span class="email">{user.email.clone()}</span>
                <form method="post" action=Logout::url()>
                    <button type="submit" class="button small secondary">"Sign out"</button>
                </form>
            </div>
        </header>
        <nav class="mainnav" aria-label="Main">
            <A href="/" exact=true>"Overview"</A>
            <A href="/errors">"Errors"</A>
            <A href="/agents">"Agents"</A>
            <A href="/fixes">"Fixes"</A>
            <A href="/playbooks">"Playbooks"</A>
            <A href="/settings">"Settings"</A>
            {super_admin.then(|| view! { <A href="/admin">"Admin"</A> })}
        </nav>
    }
}

/// Percent-encodes a path for use in a query value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
