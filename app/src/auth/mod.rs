//! Sign-in, sessions, roles and the current user.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;

/// A member's role within one tenant, from most to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Member,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Member, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = AppError;

    fn from_str(s: &str) -> Result<Self, AppError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            "viewer" => Ok(Role::Viewer),
            _ => Err(AppError::invalid(
                "role",
                "must be one of admin, member, viewer",
            )),
        }
    }
}

/// A tenant the current user can enter, with the user's role in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantAccess {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub role: Role,
}

/// The signed-in user as the UI sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: i64,
    pub email: String,
    pub is_super_admin: bool,
    /// The tenant the user is working in, if any.
    pub tenant: Option<TenantAccess>,
    /// Every tenant the user may switch into (all tenants for a super-admin).
    pub tenants: Vec<TenantAccess>,
}

impl CurrentUser {
    /// The role in the current tenant.
    pub fn role(&self) -> Option<Role> {
        self.tenant.as_ref().map(|t| t.role)
    }

    /// Whether the user may do what needs `min` in the current tenant.
    pub fn can(&self, min: Role) -> bool {
        self.role().is_some_and(|r| r >= min)
    }
}

/// Returns the signed-in user, or `None` when there is no valid session.
#[server(prefix = "/api/ui", endpoint = "me")]
pub async fn me() -> Result<Option<CurrentUser>, AppError> {
    ssr::current_user().await
}

/// Signs in with e-mail and password, then redirects to `next` (a local path) or `/`.
#[server(prefix = "/api/ui", endpoint = "login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    ssr::login(&email, &password).await?;
    leptos_axum::redirect(&ssr::safe_next(next.as_deref()));
    Ok(())
}

/// Ends the session and returns to the sign-in page.
#[server(prefix = "/api/ui", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    ssr::logout().await?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// Makes `tenant_id` the tenant the user works in, then goes to `next` (a local path) or `/`.
#[server(prefix = "/api/ui", endpoint = "switch_tenant")]
pub async fn switch_tenant(tenant_id: i64, next: Option<String>) -> Result<(), AppError> {
    ssr::switch_tenant(tenant_id).await?;
    leptos_axum::redirect(&ssr::safe_next(next.as_deref()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_order_by_power() {
        assert!(Role::Admin > Role::Member && Role::Member > Role::Viewer);
        assert_eq!("ADMIN".parse::<Role>().unwrap(), Role::Admin);
        assert!("owner".parse::<Role>().is_err());
    }
}
