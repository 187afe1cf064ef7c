//! The super-admin page (every tenant, creating one with its first admin, switching into
//! one) and a company's own settings.

use super::{
    CreateTenant, TenantSettings, UpdateTenantSettings, all_tenant_errors, list_tenants,
    load_tenant_settings,
};
use crate::auth::SwitchTenant;
use crate::ui::layout::WithUser;
use crate::ui::widgets::{SeverityBadge, StatusBadge, Time};
use crate::ui::{ErrorNote, FieldError, FormError, format_time};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;

/// `/admin`.
#[component]
pub fn AdminPage() -> impl IntoView {
    let create = ServerAction::<CreateTenant>::new();
    let error = Signal::derive(move || create.value().get().and_then(|r| r.err()));
    let tenants = Resource::new(|| (), |_| list_tenants());
    // Made here, not inside the user's `Suspense`, so it loads with the page's owner.
    let feed = Resource::new(|| (), |_| all_tenant_errors());
    view! {
        <Title text="Admin"/>
        <WithUser view=move |user| {
            if !user.is_super_admin {
                return view! {
                    <h1>"Admin"</h1>
                    <ErrorNote error=crate::AppError::Forbidden("only super-admins may open this page".into())/>
                }
                .into_any();
            }
            let current = user.tenant.as_ref().map(|t| t.id);
            view! { <AdminContent create error tenants feed current/> }.into_any()
        }/>
    }
}

#[component]
fn AdminContent(
    create: ServerAction<CreateTenant>,
    error: Signal<Option<crate::AppError>>,
    tenants: Resource<Result<Vec<super::TenantSummary>, crate::AppError>>,
    feed: Resource<Result<super::CrossTenantFeed, crate::AppError>>,
    current: Option<i64>,
) -> impl IntoView {
    view! {
        <h1>"Companies"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match tenants.await {
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <section class="empty-state">
                            <h2>"No companies yet"</h2>
                            <p>"Create the first company below; its admin can then sign in and create API keys."</p>
                        </section>
                    }.into_any(),
                    Ok(list) => view! {
                        <div class="table-wrap">
                        <table class="data" id="tenants">
                            <thead><tr>
                                <th scope="col">"Name"</th><th scope="col">"Slug"</th><th scope="col">"Id"</th>
                                <th scope="col" class="num">"Events, 24 h"</th><th scope="col" class="num">"Unresolved"</th>
                                <th scope="col" class="num">"Agents"</th>
                                <th scope="col" class="num">"Members"</th><th scope="col" class="num">"Active keys"</th>
                                <th scope="col">"Created"</th><th scope="col"><span class="sr-only">"Actions"</span></th>
                            </tr></thead>
                            <tbody>
                                {list.into_iter().map(|t| {
                                    let here = Some(t.id) == current;
                                    view! {
                                        <tr>
                                            <td>{t.name.clone()}</td>
                                            <td><code>{t.slug.clone()}</code></td>
                                            <td>{t.id}</td>
                                            <td class="num">{t.events_24h}</td>
                                            <td class="num">{t.unresolved_groups}</td>
                                            <td class="num">{t.agents}</td>
                                            <td class="num">{t.members}</td>
                                            <td class="num">{t.active_api_keys}</td>
                                            <td>{format_time(&t.created_at)}</td>
                                            <td>
                                                {if here {
                                                    view! { <span class="badge">"current"</span> }.into_any()
                                                } else {
                                                    view! {
                                                        <form method="post" action=SwitchTenant::url()>
                                                            <input type="hidden" name="tenant_id" value=t.id.to_string()/>
                                                            <button type="submit" class="button small"
                                                                aria-label=format!("Switch into {}", t.name)>"Switch into"</button>
                                                        </form>
                                                    }.into_any()
                                                }}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                        </div>
                    }.into_any(),
                }
            })}
        </Suspense>

        <AllCompaniesFeed feed/>

        <section class="card">
            <h2>"Create a company"</h2>
            <ActionForm action=create attr:class="stack" attr:id="create-tenant" attr:novalidate=true>
                <label for="tenant-name">"Name"</label>
                <input id="tenant-name" name="name" required maxlength="200" aria-describedby="name-error"/>
                <FieldError error field="name"/>
                <label for="tenant-slug">"Slug"</label>
                <input id="tenant-slug" name="slug" required pattern="[a-z0-9][a-z0-9-]{1,62}" aria-describedby="slug-error slug-help"/>
                <p class="help" id="slug-help">"Lower-case letters, digits and '-'; used in URLs and the CLI."</p>
                <FieldError error field="slug"/>
                <label for="admin-email">"First admin's e-mail"</label>
                <input id="admin-email" name="admin_email" type="email" required aria-describedby="admin_email-error"/>
                <FieldError error field="admin_email"/>
                <label for="admin-password">"First admin's password"</label>
                <input id="admin-password" name="admin_password" type="password" autocomplete="new-password"
                    aria-describedby="admin_password-error admin-password-help"/>
                <p class="help" id="admin-password-help">"At least 10 characters. Ignored when the e-mail already has an account."</p>
                <FieldError error field="admin_password"/>
                <FormError error fields=&["name", "slug", "admin_email", "admin_password"]/>
                <button type="submit" class="button primary">"Create company"</button>
            </ActionForm>
        </section>
    }
}

/// The latest open groups of every company, each opened by switching into its company.
#[component]
fn AllCompaniesFeed(
    feed: Resource<Result<super::CrossTenantFeed, crate::AppError>>,
) -> impl IntoView {
    view! {
        <section aria-labelledby="all-errors-title">
            <h2 id="all-errors-title">"Open errors, all companies"</h2>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match feed.await {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(f) if f.groups.is_empty() => view! {
                            <p class="muted">"No company has an open error."</p>
                        }.into_any(),
                        Ok(f) => {
                            let now = f.now;
                            view! {
                                <div class="table-wrap">
                                <table class="data feed" id="all-errors">
                                    <thead><tr>
                                        <th scope="col">"Company"</th>
                                        <th scope="col">"Error"</th>
                                        <th scope="col" class="num">"Events"</th>
                                        <th scope="col">"Last seen"</th>
                                        <th scope="col">"Status"</th>
                                        <th scope="col"><span class="sr-only">"Open"</span></th>
                                    </tr></thead>
                                    <tbody>
                                        {f.groups.into_iter().map(|c| {
                                            let g = c.group;
                                            let label = format!("Open {}: {} in {}", g.error_type, g.title, c.tenant_name);
                                            view! {
                                                <tr>
                                                    <td>{c.tenant_name.clone()}</td>
                                                    <td class="title-cell">
                                                        <SeverityBadge severity=g.severity.clone()/>" "
                                                        <span class="group-title">{g.error_type.clone()}": "{g.title.clone()}</span>
                                                        <div class="muted small">{g.service.clone()}</div>
                                                    </td>
                                                    <td class="num">{g.occurrences}</td>
                                                    <td><Time at=g.last_seen now/></td>
                                                    <td><StatusBadge status=g.status.clone()/></td>
                                                    <td>
                                                        <form method="post" action=SwitchTenant::url()>
                                                            <input type="hidden" name="tenant_id" value=c.tenant_id.to_string()/>
                                                            <input type="hidden" name="next" value=format!("/errors/{}", g.id)/>
                                                            <button type="submit" class="button small" aria-label=label>"Open"</button>
                                                        </form>
                                                    </td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                                </div>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}

/// The company settings' action and data, made by the page outside any `Suspense`.
#[derive(Clone, Copy)]
pub struct CompanyState {
    update: ServerAction<UpdateTenantSettings>,
    settings: Resource<Result<TenantSettings, crate::AppError>>,
}

impl CompanyState {
    pub fn load() -> Self {
        let update = ServerAction::<UpdateTenantSettings>::new();
        let settings = Resource::new(|| (), |_| load_tenant_settings());
        Self { update, settings }
    }
}

/// Settings → Company: name, retention and the responder agent (admins edit; others read).
#[component]
pub fn CompanySettings(state: CompanyState) -> impl IntoView {
    let CompanyState { update, settings } = state;
    let error = Signal::derive(move || update.value().get().and_then(|r| r.err()));
    view! {
        <section class="settings-section" aria-labelledby="company-title">
            <h2 id="company-title">"Company"</h2>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match settings.await {
                        Ok(s) => view! { <CompanyForm s update error/> }.into_any(),
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// The DSN any Sentry SDK takes to send this company's errors here.
#[component]
fn SentryDsn(dsn: String) -> impl IntoView {
    view! {
        <div class="dsn">
            <label for="sentry-dsn">"Sentry DSN"</label>
            <input id="sentry-dsn" readonly value=dsn class="code-input" aria-describedby="dsn-help"/>
            <p class="help" id="dsn-help">"Point any Sentry SDK at it — e.g. "<code>"sentry_sdk.init(dsn=…)"</code>
                " — and its errors arrive here, grouped and fixed like the rest. The key in it names this company; it is not a secret."</p>
        </div>
    }
}

#[component]
fn CompanyForm(
    s: TenantSettings,
    update: ServerAction<UpdateTenantSettings>,
    error: Signal<Option<crate::AppError>>,
) -> impl IntoView {
    let responder_name = s
        .responder_agent_id
        .and_then(|id| s.agents.iter().find(|(a, _)| *a == id))
        .map(|(_, n)| n.clone());
    if !s.can_edit {
        return view! {
            <dl class="facts" id="company-settings">
                <div><dt>"Name"</dt><dd>{s.name}</dd></div>
                <div><dt>"Slug"</dt><dd><code>{s.slug}</code></dd></div>
                <div><dt>"Company id"</dt><dd>{s.id}</dd></div>
                <div><dt>"Retention"</dt><dd>{format!("{} days", s.retention_days)}</dd></div>
                <div><dt>"Responder agent"</dt><dd>{responder_name.unwrap_or_else(|| "none".into())}</dd></div>
            </dl>
            <SentryDsn dsn=s.sentry_dsn.clone()/>
            <p class="muted small">"Only admins can change these."</p>
        }
        .into_any();
    }
    let saved = move || {
        update
            .value()
            .get()
            .is_some_and(|r| r.is_ok())
            .then(|| view! { <p class="notice notice-ok" role="status">"Settings saved."</p> })
    };
    view! {
        {saved}
        <p class="muted">"Slug "<code>{s.slug.clone()}</code>" · company id "{s.id}" (the project id in Sentry DSNs)"</p>
        <SentryDsn dsn=s.sentry_dsn.clone()/>
        <ActionForm action=update attr:class="stack" attr:id="company-settings" attr:novalidate=true>
            <label for="company-name">"Name"</label>
            <input id="company-name" name="name" required maxlength="200" value=s.name.clone() aria-describedby="company-name-error"/>
            <FieldError error field="name" prefix="company-"/>
            <label for="company-retention">"Keep events for (days)"</label>
            <input id="company-retention" name="retention_days" type="number" min="1" max="3650" required
                value=s.retention_days.to_string() aria-describedby="retention_days-error retention-help"/>
            <p class="help" id="retention-help">"Older events are deleted every hour; groups, their counts and history stay."</p>
            <FieldError error field="retention_days"/>
            <label for="company-responder">"Responder agent"</label>
            <select id="company-responder" name="responder_agent" aria-describedby="responder_agent-error responder-help">
                <option value="" selected=s.responder_agent_id.is_none()>"None"</option>
                {s.agents.iter().map(|(id, name)| view! {
                    <option value=id.to_string() selected=Some(*id) == s.responder_agent_id>{name.clone()}</option>
                }).collect_view()}
            </select>
            <p class="help" id="responder-help">"When an automatic fix fails, this agent is asked to investigate."</p>
            <FieldError error field="responder_agent"/>
            <FormError error fields=&["name", "retention_days", "responder_agent"]/>
            <button type="submit" class="button primary">"Save settings"</button>
        </ActionForm>
    }
    .into_any()
}
