//! Settings → Members: the list, and for admins adding, re-roling and removing people.

use super::{AddMember, ChangeMemberRole, MemberList, RemoveMember, list_members};
use crate::auth::Role;
use crate::ui::{ErrorNote, FieldError, FormError, format_time};
use leptos::prelude::*;

/// The members section's actions and list. Made by the page itself, outside any
/// `Suspense`, so the list loads with the page's reactive owner during server rendering.
#[derive(Clone, Copy)]
pub struct MembersState {
    add: ServerAction<AddMember>,
    change: ServerAction<ChangeMemberRole>,
    remove: ServerAction<RemoveMember>,
    members: Resource<Result<MemberList, crate::AppError>>,
}

impl MembersState {
    pub fn load() -> Self {
        let add = ServerAction::<AddMember>::new();
        let change = ServerAction::<ChangeMemberRole>::new();
        let remove = ServerAction::<RemoveMember>::new();
        let members = Resource::new(|| (), |_| list_members());
        Self {
            add,
            change,
            remove,
            members,
        }
    }
}

/// The members section of Settings; `can_manage` (an admin here) shows the controls, which
/// the server checks again.
#[component]
pub fn MembersSection(state: MembersState, can_manage: bool) -> impl IntoView {
    let MembersState {
        add,
        change,
        remove,
        members,
    } = state;
    let add_error = Signal::derive(move || add.value().get().and_then(|r| r.err()));
    let row_error = Signal::derive(move || {
        change
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| remove.value().get().and_then(|r| r.err()))
    });
    view! {
        <section class="settings-section" aria-labelledby="members-title">
            <h2 id="members-title">"Members"</h2>
            <p class="muted">"Admins manage keys, members and settings; members work on errors; viewers only read."</p>
            <FormError error=row_error/>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match members.await {
                        Ok(list) => view! { <MemberTable list change remove/> }.into_any(),
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                    }
                })}
            </Suspense>
            {can_manage.then(|| view! { <AddMemberForm add error=add_error/> })}
        </section>
    }
}

#[component]
fn MemberTable(
    list: MemberList,
    change: ServerAction<ChangeMemberRole>,
    remove: ServerAction<RemoveMember>,
) -> impl IntoView {
    let manage = list.can_manage;
    let me = list.me;
    view! {
        <div class="table-wrap">
        <table class="data" id="members">
            <thead><tr>
                <th scope="col">"E-mail"</th>
                <th scope="col">"Role"</th>
                <th scope="col">"Joined"</th>
                <th scope="col">"Last sign-in"</th>
                {manage.then(|| view! { <th scope="col"><span class="sr-only">"Actions"</span></th> })}
            </tr></thead>
            <tbody>
                {list.members.into_iter().map(|m| {
                    let you = m.user_id == me;
                    let select_id = format!("role-{}", m.user_id);
                    let role_label = format!("Role of {}", m.email);
                    let change_label = format!("Change the role of {}", m.email);
                    let remove_label = format!("Remove {} from this company", m.email);
                    view! {
                        <tr data-user-id=m.user_id.to_string()>
                            <td class="email-cell">{m.email.clone()}{you.then_some(" (you)")}</td>
                            <td>
                                {if manage {
                                    view! {
                                        <ActionForm action=change attr:class="inline-form tight">
                                            <input type="hidden" name="user_id" value=m.user_id.to_string()/>
                                            <label class="sr-only" for=select_id.clone()>{role_label}</label>
                                            <select id=select_id name="role">
                                                {Role::ALL.into_iter().map(|r| view! {
                                                    <option value=r.as_str() selected=r == m.role>{r.as_str()}</option>
                                                }).collect_view()}
                                            </select>
                                            <button type="submit" class="button small"
                                                aria-label=change_label>"Change"</button>
                                        </ActionForm>
                                    }.into_any()
                                } else {
                                    view! { <span class="badge">{m.role.as_str()}</span> }.into_any()
                                }}
                            </td>
                            <td>{format_time(&m.joined_at)}</td>
                            <td>{m.last_login_at.as_ref().map(format_time).unwrap_or_else(|| "never".into())}</td>
                            {manage.then(|| view! {
                                <td>
                                    <ActionForm action=remove>
                                        <input type="hidden" name="user_id" value=m.user_id.to_string()/>
                                        <button type="submit" class="button small danger"
                                            aria-label=remove_label>"Remove"</button>
                                    </ActionForm>
                                </td>
                            })}
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        </div>
    }
}

#[component]
fn AddMemberForm(
    add: ServerAction<AddMember>,
    error: Signal<Option<crate::AppError>>,
) -> impl IntoView {
    view! {
        <div class="card">
            <h3>"Add a member"</h3>
            <ActionForm action=add attr:class="stack" attr:id="add-member" attr:novalidate=true>
                <label for="member-email">"E-mail"</label>
                <input id="member-email" name="email" type="email" required maxlength="254" aria-describedby="email-error"/>
                <FieldError error field="email"/>
                <label for="member-role">"Role"</label>
                <select id="member-role" name="role">
                    {Role::ALL.into_iter().map(|r| view! {
                        <option value=r.as_str() selected=r == Role::Member>{r.as_str()}</option>
                    }).collect_view()}
                </select>
                <FieldError error field="role"/>
                <label for="member-password">"Initial password"</label>
                <input id="member-password" name="password" type="password" autocomplete="new-password"
                    aria-describedby="password-error member-password-help"/>
                <p class="help" id="member-password-help">"Only for a new account: at least 10 characters. Someone who already has an account keeps their password."</p>
                <FieldError error field="password"/>
                <FormError error fields=&["email", "role", "password"]/>
                <button type="submit" class="button primary">"Add member"</button>
            </ActionForm>
        </div>
    }
}
