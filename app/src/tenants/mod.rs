//! Tenants (companies): the super-admin's list, creation with a first admin, and validation.

use crate::error::AppError;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;

/// A tenant as the super-admin's list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSummary {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub members: i64,
    pub active_api_keys: i64,
}

/// Checks a tenant slug: 2–63 characters of `a-z`, `0-9` and `-`, starting with a letter or digit.
pub fn parse_slug(raw: &str) -> Result<String, AppError> {
    let slug = raw.trim().to_ascii_lowercase();
    let ok = (2..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && slug.as_bytes()[0] != b'-';
    if ok {
        Ok(slug)
    } else {
        Err(AppError::invalid(
            "slug",
            "use 2–63 characters: lower-case letters, digits and '-', not starting with '-'",
        ))
    }
}

/// Checks a display name: 1–200 characters after trimming.
pub fn parse_name(field: &str, raw: &str) -> Result<String, AppError> {
    let name = raw.trim();
    match name.chars().count() {
        0 => Err(AppError::invalid(field, "enter a name")),
        1..=200 => Ok(name.to_owned()),
        _ => Err(AppError::invalid(field, "must be at most 200 characters")),
    }
}

/// Every tenant, for the super-admin.
#[server(prefix = "/api/ui", endpoint = "tenants/list")]
pub async fn list_tenants() -> Result<Vec<TenantSummary>, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    ctx.require_super_admin()?;
    ssr::list(&crate::state::pool()).await
}

/// Creates a tenant and makes `admin_email` its admin (creating that user when new, with
/// `admin_password`).
#[server(prefix = "/api/ui", endpoint = "tenants/create")]
pub async fn create_tenant(
    slug: String,
    name: String,
    admin_email: String,
    admin_password: String,
) -> Result<TenantSummary, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    ctx.require_super_admin()?;
    let new = ssr::NewTenant::parse(&slug, &name, &admin_email, &admin_password)?;
    ssr::create_with_admin(&crate::state::pool(), &new, &ctx.actor()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(parse_slug(" Acme-Prod ").unwrap(), "acme-prod");
        for bad in ["", "a", "-acme", "acme corp", "acmé", &"a".repeat(64)] {
            assert!(parse_slug(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(parse_name("name", "  Acme  ").unwrap(), "Acme");
        assert!(parse_name("name", "   ").is_err());
        assert!(parse_name("name", &"x".repeat(201)).is_err());
    }
}
