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
    pub events_24h: i64,
    /// Groups unresolved or regressed.
    pub unresolved_groups: i64,
    pub agents: i64,
}

/// A group in the super-admin's all-companies feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossTenantGroup {
    pub tenant_id: i64,
    pub tenant_name: String,
    pub group: crate::errors::view::ErrorGroup,
}

/// The latest groups of every company, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossTenantFeed {
    pub groups: Vec<CrossTenantGroup>,
    pub now: DateTime<Utc>,
}

/// A company's own settings, as Settings shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSettings {
    pub id: i64,
    pub slug: String,
    pub name: String,
    /// Events older than this many days are deleted.
    pub retention_days: i32,
    /// The agent handed failed fixes to investigate.
    pub responder_agent_id: Option<i64>,
    /// The company's agents as (id, name), to choose the responder from.
    pub agents: Vec<(i64, String)>,
    /// Whether the signed-in user may change them (an admin).
    pub can_edit: bool,
    /// The DSN Sentry SDKs send this company's errors to.
    pub sentry_dsn: String,
}

/// Retention bounds, in days.
pub const RETENTION_DAYS: std::ops::RangeInclusive<i32> = 1..=3650;

/// Checks a retention in whole days within [`RETENTION_DAYS`].
pub fn parse_retention(raw: &str) -> Result<i32, AppError> {
    raw.trim()
        .parse::<i32>()
        .ok()
        .filter(|d| RETENTION_DAYS.contains(d))
        .ok_or_else(|| {
            AppError::invalid(
                "retention_days",
                "enter a whole number of days from 1 to 3650",
            )
        })
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

/// The most recently seen open groups of every company (super-admin only).
#[server(prefix = "/api/ui", endpoint = "tenants/errors")]
pub async fn all_tenant_errors() -> Result<CrossTenantFeed, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    ctx.require_super_admin()?;
    Ok(CrossTenantFeed {
        groups: ssr::latest_groups(&crate::state::pool(), 50).await?,
        now: Utc::now(),
    })
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

/// The current company's settings (any role).
#[server(prefix = "/api/ui", endpoint = "tenants/settings")]
pub async fn load_tenant_settings() -> Result<TenantSettings, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Viewer)?;
    let can_edit = ctx.require(crate::auth::Role::Admin).is_ok();
    let headers = leptos_axum::extract::<http::HeaderMap>()
        .await
        .map_err(|_| AppError::Internal)?;
    ssr::settings(
        &crate::state::pool(),
        tenant,
        can_edit,
        &crate::ui::widgets::origin(&headers),
    )
    .await
}

/// Changes the current company's name, retention and responder agent (admin only; the
/// responder is an agent id of this company, or empty for none).
#[server(prefix = "/api/ui", endpoint = "tenants/settings/update")]
pub async fn update_tenant_settings(
    name: String,
    retention_days: String,
    responder_agent: Option<String>,
) -> Result<(), AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Admin)?;
    let name = parse_name("name", &name)?;
    let retention = parse_retention(&retention_days)?;
    let responder = match responder_agent
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
    {
        "" => None,
        v => Some(v.parse::<i64>().map_err(|_| {
            AppError::invalid("responder_agent", "choose an agent of this company")
        })?),
    };
    ssr::update_settings(
        &crate::state::pool(),
        tenant,
        &name,
        retention,
        responder,
        &ctx.actor(),
    )
    .await
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
    fn retention() {
        assert_eq!(parse_retention(" 30 ").unwrap(), 30);
        for bad in ["", "0", "3651", "-1", "7.5", "ten"] {
            assert_eq!(
                parse_retention(bad).unwrap_err().field(),
                Some("retention_days"),
                "{bad}"
            );
        }
    }

    #[test]
    fn names() {
        assert_eq!(parse_name("name", "  Acme  ").unwrap(), "Acme");
        assert!(parse_name("name", "   ").is_err());
        assert!(parse_name("name", &"x".repeat(201)).is_err());
    }
}
