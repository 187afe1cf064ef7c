//! A company's members: who may sign in to it and with which role. Admins add people
//! (creating their account when new), change roles and remove them; a company always keeps
//! at least one admin.

use crate::auth::Role;
use crate::error::AppError;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;

/// One member of the current company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user_id: i64,
    pub email: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

/// The members and what the signed-in user may do with them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberList {
    pub members: Vec<Member>,
    /// Whether the signed-in user is an admin here (may add, change and remove).
    pub can_manage: bool,
    /// The signed-in user's id.
    pub me: i64,
}

/// The current company's members (any role).
#[server(prefix = "/api/ui", endpoint = "members/list")]
pub async fn list_members() -> Result<MemberList, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(Role::Viewer)?;
    Ok(MemberList {
        members: ssr::list(&crate::state::pool(), tenant).await?,
        can_manage: ctx.require(Role::Admin).is_ok(),
        me: ctx.user_id,
    })
}

/// Adds `email` with `role` (admin only); a new account needs an initial `password`.
#[server(prefix = "/api/ui", endpoint = "members/add")]
pub async fn add_member(
    email: String,
    role: String,
    password: Option<String>,
) -> Result<Member, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(Role::Admin)?;
    let role: Role = role.parse()?;
    ssr::add(
        &crate::state::pool(),
        tenant,
        &email,
        role,
        password.as_deref().unwrap_or_default(),
        &ctx.actor(),
    )
    .await
}

/// Gives a member another role (admin only); refuses to demote the last admin.
#[server(prefix = "/api/ui", endpoint = "members/role")]
pub async fn change_member_role(user_id: i64, role: String) -> Result<(), AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(Role::Admin)?;
    let role: Role = role.parse()?;
    ssr::change_role(&crate::state::pool(), tenant, user_id, role, &ctx.actor()).await
}

/// Removes a member from the company (admin only; the account stays); refuses to remove the
/// last admin.
#[server(prefix = "/api/ui", endpoint = "members/remove")]
pub async fn remove_member(user_id: i64) -> Result<(), AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(Role::Admin)?;
    ssr::remove(&crate::state::pool(), tenant, user_id, &ctx.actor()).await
}
