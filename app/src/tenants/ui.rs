//! The super-admin page: every tenant, creating one with its first admin, switching into one.

use super::{CreateTenant, list_tenants};
use crate::auth::SwitchTenant;
use crate::ui::layout::WithUser;
use crate::ui::{ErrorNote, FieldError, FormError, format_time};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;

/// `/admin`.
#[component]
pub fn AdminPage() -> impl IntoView {
    let create = ServerAction::<CreateTenant>::new();
    let error = Signal::derive(move || create.value().get().and_then(|r| r.err()));
    let tenants = Resource::new(move || create.version().get(), |_| list_tenants());
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
            view! { <AdminContent create error tenants current/> }.into_any()
        }/>
    }
}

#[component]
fn AdminContent(
    create: ServerAction<CreateTenant>,
    error: Signal<Option<crate::AppError>>,
    tenants: Resource<Result<Vec<super::TenantSummary>, crate::AppError>>,
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
                                <th scope="col">"Members"</th><th scope="col">"Active keys"</th>
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
                                            <td>{t.members}</td>
                                            <td>{t.active_api_keys}</td>
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

        <section class="card">
            <h2>"Create a company"</h2>
            {move || create.value().get().and_then(|r| r.ok()).map(|t| view! {
                <p class="notice notice-ok" role="status">"Created "<strong>{t.name}</strong>" ("<code>{t.slug}</code>")."</p>
            })}
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
