//! `/settings`: the company's own settings, its members, its API keys and its alert rules.

use super::ErrorNote;
use super::layout::WithUser;
use crate::alerts::ui::{AlertsSection, AlertsState};
use crate::api_keys::ui::{ApiKeysSection, KeysState};
use crate::auth::{CurrentUser, Role};
use crate::members::ui::{MembersSection, MembersState};
use crate::tenants::ui::{CompanySettings, CompanyState};
use leptos::prelude::*;
use leptos_meta::Title;

/// `/settings`.
#[component]
pub fn SettingsPage() -> impl IntoView {
    // Resources belong to the page, not to the user's `Suspense` (see `MembersState`).
    let company = CompanyState::load();
    let members = MembersState::load();
    let keys = KeysState::load();
    let alerts = AlertsState::load();
    view! {
        <Title text="Settings"/>
        <h1>"Settings"</h1>
        <WithUser view=move |user| settings(user, company, members, keys, alerts)/>
    }
}

fn settings(
    user: CurrentUser,
    company: CompanyState,
    members: MembersState,
    keys: KeysState,
    alerts: AlertsState,
) -> impl IntoView {
    let Some(tenant) = user.tenant.clone() else {
        return view! {
            <ErrorNote error=crate::AppError::Forbidden("choose a company first".into())/>
        }
        .into_any();
    };
    let admin = user.can(Role::Admin);
    view! {
        <p class="muted">"Company "<strong>{tenant.name}</strong>" · your role: "{tenant.role.as_str()}</p>
        <nav class="toc" aria-label="Settings sections">
            <a href="#company-title">"Company"</a>
            <a href="#members-title">"Members"</a>
            <a href="#keys-title">"API keys"</a>
            <a href="#alerts-title">"Alerts"</a>
        </nav>
        <CompanySettings state=company/>
        <MembersSection state=members can_manage=admin/>
        <ApiKeysSection user state=keys/>
        <AlertsSection state=alerts/>
    }
    .into_any()
}
