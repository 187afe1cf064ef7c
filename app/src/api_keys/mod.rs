//! API keys: tenant-scoped credentials for agents and services, with scopes.

use crate::error::AppError;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Register agents, send heartbeats, log errors.
    Ingest,
    /// List and read errors, agents and health.
    Read,
    /// Resolve, ignore, assign and comment.
    Write,
    /// Request and approve fixes.
    Fix,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Ingest, Scope::Read, Scope::Write, Scope::Fix];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Fix => "fix",
        }
    }

    /// One line for people choosing scopes.
    pub fn describe(self) -> &'static str {
        match self {
            Scope::Ingest => "register agents, heartbeats, log errors",
            Scope::Read => "list and read errors, agents, health",
            Scope::Write => "resolve, ignore, assign, comment",
            Scope::Fix => "request and approve fixes",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = AppError;

    fn from_str(s: &str) -> Result<Self, AppError> {
        Scope::ALL
            .into_iter()
            .find(|sc| sc.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                AppError::invalid(
                    "scopes",
                    format!("unknown scope {s:?}; allowed: ingest, read, write, fix"),
                )
            })
    }
}

/// Parses a comma-separated scope list (`ingest,read`), rejecting unknown or empty lists.
pub fn parse_scopes(list: &str) -> Result<Vec<Scope>, AppError> {
    let mut scopes = Vec::new();
    for part in list.split(',').filter(|p| !p.trim().is_empty()) {
        let scope: Scope = part.parse()?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return Err(AppError::invalid("scopes", "choose at least one scope"));
    }
    Ok(scopes)
}

/// A key as lists show it: never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyInfo {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A freshly created key: the only time its secret is ever shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedApiKey {
    pub key: ApiKeyInfo,
    pub secret: String,
}

/// What an API key authenticates as, returned by `whoami`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyIdentity {
    pub tenant_id: i64,
    pub tenant_slug: String,
    pub key_id: i64,
    pub key_name: String,
    pub scopes: Vec<Scope>,
}

/// The keys page's data: the tenant's keys and, once, a key just created by a plain form post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyList {
    pub keys: Vec<ApiKeyInfo>,
    /// Set only on the first page load after a key was created without JavaScript.
    pub just_created: Option<CreatedApiKey>,
}

/// The current tenant's keys, active first, newest first.
#[server(prefix = "/api/ui", endpoint = "api_keys/list")]
pub async fn list_api_keys() -> Result<ApiKeyList, AppError> {
    let tenant = crate::auth::ssr::auth()
        .await?
        .require(crate::auth::Role::Viewer)?;
    Ok(ApiKeyList {
        keys: ssr::list(&crate::state::pool(), tenant).await?,
        just_created: ssr::take_remembered().await?,
    })
}

/// Creates a key with the checked scopes (form checkboxes send `on`).
#[server(prefix = "/api/ui", endpoint = "api_keys/create")]
pub async fn create_api_key(
    name: String,
    scope_ingest: Option<String>,
    scope_read: Option<String>,
    scope_write: Option<String>,
    scope_fix: Option<String>,
) -> Result<CreatedApiKey, AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Admin)?;
    let scopes: Vec<Scope> = [
        (Scope::Ingest, scope_ingest),
        (Scope::Read, scope_read),
        (Scope::Write, scope_write),
        (Scope::Fix, scope_fix),
    ]
    .into_iter()
    .filter_map(|(s, v)| v.filter(|v| !v.is_empty() && v != "false").map(|_| s))
    .collect();
    let created = ssr::create(
        &crate::state::pool(),
        tenant,
        &name,
        &scopes,
        &ctx.actor(),
        Some(ctx.user_id),
    )
    .await?;
    ssr::remember_for_display(&created).await?;
    Ok(created)
}

/// Revokes a key of the current tenant; 404 for keys of other tenants.
#[server(prefix = "/api/ui", endpoint = "api_keys/revoke")]
pub async fn revoke_api_key(id: i64) -> Result<(), AppError> {
    let ctx = crate::auth::ssr::auth().await?;
    let tenant = ctx.require(crate::auth::Role::Admin)?;
    ssr::revoke(&crate::state::pool(), tenant, id, &ctx.actor()).await
}

/// Tells an agent which tenant and scopes its key has (any valid key may ask).
#[cfg(feature = "ssr")]
#[server(prefix = "/api/v1", endpoint = "whoami", input = server_fn::codec::Json)]
pub async fn whoami() -> Result<KeyIdentity, AppError> {
    let key = ssr::authenticate().await?;
    ssr::identity(&crate::state::pool(), &key).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lists() {
        assert_eq!(
            parse_scopes("ingest, read,read").unwrap(),
            vec![Scope::Ingest, Scope::Read]
        );
        assert_eq!(parse_scopes("FIX").unwrap(), vec![Scope::Fix]);
        assert_eq!(parse_scopes("").unwrap_err().field(), Some("scopes"));
        assert!(parse_scopes("ingest,admin").is_err());
    }
}
