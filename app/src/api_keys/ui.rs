//! Settings → API keys: create (the secret is shown once), list, revoke.

use super::{CreateApiKey, CreatedApiKey, RevokeApiKey, Scope, list_api_keys};
use crate::auth::CurrentUser;
use crate::auth::Role;
use crate::ui::{ErrorNote, FieldError, FormError, format_time};
use leptos::prelude::*;

/// The API keys' actions and list, made by the page outside any `Suspense`.
#[derive(Clone, Copy)]
pub struct KeysState {
    create: ServerAction<CreateApiKey>,
    revoke: ServerAction<RevokeApiKey>,
    keys: Resource<Result<super::ApiKeyList, crate::AppError>>,
}

impl KeysState {
    pub fn load() -> Self {
        let create = ServerAction::<CreateApiKey>::new();
        let revoke = ServerAction::<RevokeApiKey>::new();
        let keys = Resource::new(
            move || (create.version().get(), revoke.version().get()),
            |_| list_api_keys(),
        );
        Self {
            create,
            revoke,
            keys,
        }
    }
}

/// Settings → API keys.
#[component]
pub fn ApiKeysSection(user: CurrentUser, state: KeysState) -> impl IntoView {
    let KeysState {
        create,
        revoke,
        keys,
    } = state;
    view! { <KeysContent user create revoke keys/> }
}

#[component]
fn KeysContent(
    user: CurrentUser,
    create: ServerAction<CreateApiKey>,
    revoke: ServerAction<RevokeApiKey>,
    keys: Resource<Result<super::ApiKeyList, crate::AppError>>,
) -> impl IntoView {
    let is_admin = user.can(Role::Admin);
    let create_error = Signal::derive(move || create.value().get().and_then(|r| r.err()));
    let revoke_error = Signal::derive(move || revoke.value().get().and_then(|r| r.err()));
    view! {
        <section class="settings-section" aria-labelledby="keys-title">
        <h2 id="keys-title">"API keys"</h2>
        <p>"Agents and services authenticate with "<code>"Authorization: Bearer <key>"</code>". Keys are stored only as a hash: copy a new key when it is shown."</p>
        <FormError error=revoke_error/>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let list = match keys.await {
                    Err(e) => return view! { <ErrorNote error=e/> }.into_any(),
                    Ok(list) => list,
                };
                // A created key comes back through the session, once (the form post is redirected).
                let remembered = list.just_created.map(|c| view! { <NewKey created=c/> });
                let list = list.keys;
                let table = match list {
                    list if list.is_empty() => view! {
                        <section class="empty-state">
                            <h2>"No API keys yet"</h2>
                            <p>{if is_admin { "Create one below to connect your first agent or service." } else { "An admin of this company can create one." }}</p>
                        </section>
                    }.into_any(),
                    list => view! {
                        <div class="table-wrap">
                        <table class="data" id="api-keys">
                            <thead><tr>
                                <th scope="col">"Name"</th><th scope="col">"Key"</th><th scope="col">"Scopes"</th>
                                <th scope="col">"Created"</th><th scope="col">"Last used"</th><th scope="col">"Status"</th>
                                {is_admin.then(|| view! { <th scope="col"><span class="sr-only">"Actions"</span></th> })}
                            </tr></thead>
                            <tbody>
                                {list.into_iter().map(|k| {
                                    let active = k.revoked_at.is_none();
                                    view! {
                                        <tr class:revoked=!active>
                                            <td>{k.name.clone()}</td>
                                            <td><code>{format!("{}…", k.prefix)}</code></td>
                                            <td>{k.scopes.iter().map(|s| view! { <span class="badge">{s.as_str()}</span>" " }).collect_view()}</td>
                                            <td>{format_time(&k.created_at)}</td>
                                            <td>{k.last_used_at.as_ref().map(format_time).unwrap_or_else(|| "never".into())}</td>
                                            <td>{match &k.revoked_at {
                                                Some(t) => format!("revoked {}", format_time(t)),
                                                None => "active".into(),
                                            }}</td>
                                            {(is_admin).then(|| view! {
                                                <td>{active.then(|| view! {
                                                    <ActionForm action=revoke>
                                                        <input type="hidden" name="id" value=k.id.to_string()/>
                                                        <button type="submit" class="button small danger"
                                                            aria-label=format!("Revoke {}", k.name)>"Revoke"</button>
                                                    </ActionForm>
                                                })}</td>
                                            })}
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                        </div>
                    }.into_any(),
                };
                view! { {remembered} {table} }.into_any()
            })}
        </Suspense>
        {is_admin.then(|| view! {
            <section class="card">
                <h3>"Create an API key"</h3>
                <ActionForm action=create attr:class="stack" attr:id="create-key" attr:novalidate=true>
                    <label for="key-name">"Name"</label>
                    <input id="key-name" name="name" required maxlength="100" placeholder="e.g. billing-worker"
                        aria-describedby="name-error"/>
                    <FieldError error=create_error field="name"/>
                    <fieldset>
                        <legend>"Scopes"</legend>
                        {Scope::ALL.into_iter().map(|s| {
                            let id = format!("scope-{}", s.as_str());
                            view! {
                                <div class="check">
                                    <input type="checkbox" id=id.clone() name=format!("scope_{}", s.as_str())
                                        checked=matches!(s, Scope::Ingest | Scope::Read)/>
                                    <label for=id>{s.as_str()}" — "<span class="muted">{s.describe()}</span></label>
                                </div>
                            }
                        }).collect_view()}
                    </fieldset>
                    <FieldError error=create_error field="scopes"/>
                    <FormError error=create_error fields=&["name", "scopes"]/>
                    <button type="submit" class="button primary">"Create key"</button>
                </ActionForm>
            </section>
        })}
        </section>
    }
    .into_any()
}

/// The one-time display of a new key's secret, with a copy button.
#[component]
fn NewKey(created: CreatedApiKey) -> impl IntoView {
    view! {
        <div class="notice notice-ok new-key" role="status">
            <p>"New key "<strong>{created.key.name.clone()}</strong>" — copy it now, it will not be shown again:"</p>
            <div class="secret-row">
                <code id="new-key-secret">{created.secret.clone()}</code>
                <button type="button" class="button small"
                    onclick="navigator.clipboard && navigator.clipboard.writeText(document.getElementById('new-key-secret').textContent).then(() => { this.textContent = 'Copied'; })">
                    "Copy"
                </button>
            </div>
        </div>
    }
}
