//! The sign-in page. Works before hydration: a plain form post, errors come back in the URL.

use super::Login;
use crate::ui::{FieldError, FormError};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// `/login`.
#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let error = Signal::derive(move || login.value().get().and_then(|r| r.err()));
    let next = move || use_query_map().read().get("next").unwrap_or_default();
    view! {
        <Title text="Sign in"/>
        <main class="auth-page">
            <div class="auth-card">
                <p class="brand">"Faultline"</p>
                <h1>"Sign in"</h1>
                <ActionForm action=login attr:class="stack" attr:novalidate=true>
                    <input type="hidden" name="next" value=next/>
                    <label for="email">"E-mail"</label>
                    <input id="email" name="email" type="email" autocomplete="username" required
                        aria-describedby="email-error"/>
                    <FieldError error field="email"/>
                    <label for="password">"Password"</label>
                    <input id="password" name="password" type="password" autocomplete="current-password" required
                        aria-describedby="password-error"/>
                    <FieldError error field="password"/>
                    <FormError error fields=&["email", "password"]/>
                    <button type="submit" class="button primary">"Sign in"</button>
                </ActionForm>
            </div>
        </main>
    }
}
