//! API key storage (SHA-256 hashes only) and bearer-token authentication.

use super::{ApiKeyInfo, CreatedApiKey, KeyIdentity, Scope};
use crate::audit::ssr::{Entry, record};
use crate::error::AppError;
use crate::tenants::parse_name;
use rand::distributions::{Alphanumeric, DistString};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::{PgExecutor, PgPool};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// Every key starts with this, so leaked keys are easy to recognise and scrub.
pub const KEY_PREFIX: &str = "flt_";
/// Characters of the key shown in lists (`flt_` plus 8).
const VISIBLE_CHARS: usize = 12;
/// Session key for a key created by a form post without JavaScript, shown once.
const SESSION_CREATED_KEY: &str = "created_api_key";

/// An authenticated API key: the tenant it belongs to and what it may do.
#[derive(Debug, Clone)]
pub struct ApiKeyContext {
    pub tenant_id: i64,
    pub key_id: i64,
    pub name: String,
    pub scopes: Vec<Scope>,
}

impl ApiKeyContext {
    /// 403 unless the key has `scope`.
    pub fn require(&self, scope: Scope) -> Result<i64, AppError> {
        if self.scopes.contains(&scope) {
            Ok(self.tenant_id)
        } else {
            Err(AppError::Forbidden(format!(
                "this API key lacks the `{scope}` scope"
            )))
        }
    }

    /// How this key appears in audit logs and activity.
    pub fn actor(&self) -> String {
        format!("api_key:{}", self.name)
    }
}

/// SHA-256 (hex) of a key, the only form in which keys are stored.
pub fn hash_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn generate_secret() -> String {
    format!(
        "{KEY_PREFIX}{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 40)
    )
}

fn scopes_from_db(raw: Vec<String>) -> Vec<Scope> {
    raw.iter().filter_map(|s| s.parse().ok()).collect()
}

/// Creates a key in `tenant_id`; the secret is returned here and never again.
pub async fn create(
    pool: &PgPool,
    tenant_id: i64,
    name: &str,
    scopes: &[Scope],
    actor: &str,
    created_by: Option<i64>,
) -> Result<CreatedApiKey, AppError> {
    let name = parse_name("name", name)?;
    if name.chars().count() > 100 {
        return Err(AppError::invalid("name", "must be at most 100 characters"));
    }
    if scopes.is_empty() {
        return Err(AppError::invalid("scopes", "choose at least one scope"));
    }
    let secret = generate_secret();
    let prefix: String = secret.chars().take(VISIBLE_CHARS).collect();
    let scope_names: Vec<String> = scopes.iter().map(|s| s.as_str().to_owned()).collect();
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        r#"INSERT INTO api_keys (tenant_id, name, prefix, key_hash, scopes, created_by)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, created_at"#,
        tenant_id,
        name,
        prefix,
        hash_key(&secret),
        &scope_names,
        created_by
    )
    .fetch_one(&mut *tx)
    .await?;
    record(
        &mut *tx,
        Entry {
            tenant_id,
            actor,
            action: "api_key.create",
            target_type: "api_key",
            target_id: row.id.to_string(),
            details: json!({ "name": name, "prefix": prefix, "scopes": scope_names }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedApiKey {
        key: ApiKeyInfo {
            id: row.id,
            name,
            prefix,
            scopes: scopes.to_vec(),
            created_at: row.created_at,
            last_used_at: None,
            revoked_at: None,
        },
        secret,
    })
}

/// The tenant's keys, active first, newest first.
pub async fn list(db: impl PgExecutor<'_>, tenant_id: i64) -> Result<Vec<ApiKeyInfo>, AppError> {
    let rows = sqlx::query!(
        r#"SELECT id, name, prefix, scopes, created_at, last_used_at, revoked_at
           FROM api_keys WHERE tenant_id = $1
           ORDER BY revoked_at IS NOT NULL, created_at DESC, id DESC"#,
        tenant_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ApiKeyInfo {
            id: r.id,
            name: r.name,
            prefix: r.prefix,
            scopes: scopes_from_db(r.scopes),
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        })
        .collect())
}

/// Revokes key `id` of `tenant_id` (idempotent); 404 when the tenant has no such key.
pub async fn revoke(pool: &PgPool, tenant_id: i64, id: i64, actor: &str) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    let revoked = sqlx::query!(
        r#"UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now())
           WHERE tenant_id = $1 AND id = $2 RETURNING name, prefix"#,
        tenant_id,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found("API key"))?;
    record(
        &mut *tx,
        Entry {
            tenant_id,
            actor,
            action: "api_key.revoke",
            target_type: "api_key",
            target_id: id.to_string(),
            details: json!({ "name": revoked.name, "prefix": revoked.prefix }),
        },
    )
    .await?;
    tx.commit().await?;
    forget(tenant_id, id);
    Ok(())
}

/// Looks up a presented key (cached for [`CACHE_TTL`]): 401 when unknown or revoked. Marks it
/// used (at most every 30 s).
pub async fn verify(pool: &PgPool, secret: &str) -> Result<ApiKeyContext, AppError> {
    if !secret.starts_with(KEY_PREFIX) || secret.len() > 200 {
        return Err(AppError::Unauthorized("invalid API key".into()));
    }
    let hash = hash_key(secret);
    if let Some(ctx) = cached(&hash) {
        return Ok(ctx);
    }
    let row = sqlx::query!(
        "SELECT tenant_id, id, name, scopes, revoked_at, last_used_at FROM api_keys WHERE key_hash = $1",
        hash
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| AppError::Unauthorized("invalid API key".into()))?;
    if row.revoked_at.is_some() {
        return Err(AppError::Unauthorized(
            "this API key has been revoked".into(),
        ));
    }
    let stale = row
        .last_used_at
        .is_none_or(|t| chrono::Utc::now() - t > chrono::Duration::seconds(30));
    if stale {
        // Informational, so off the request path: when the cache entry expires under load,
        // every request in flight re-verifies at once, and each waiting here for the
        // previous one's row lock showed up as latency spikes.
        let (pool, tenant_id, id) = (pool.clone(), row.tenant_id, row.id);
        tokio::spawn(async move {
            let updated = sqlx::query!(
                r#"UPDATE api_keys SET last_used_at = now()
                   WHERE tenant_id = $1 AND id = $2
                     AND (last_used_at IS NULL OR last_used_at < now() - interval '30 seconds')"#,
                tenant_id,
                id
            )
            .execute(&pool)
            .await;
            if let Err(e) = updated {
                tracing::warn!(error = ?e, "recording an API key's last use failed");
            }
        });
    }
    let ctx = ApiKeyContext {
        tenant_id: row.tenant_id,
        key_id: row.id,
        name: row.name,
        scopes: scopes_from_db(row.scopes),
    };
    remember(hash, &ctx);
    Ok(ctx)
}

/// Keys verified recently, by hash, so the ingest path does not query the key table on every
/// request. A revocation takes effect at once on the replica that revoked the key and within
/// [`CACHE_TTL`] on the others.
static VERIFIED: LazyLock<Mutex<HashMap<String, (ApiKeyContext, Instant)>>> =
    LazyLock::new(Default::default);
/// How long a verified key is trusted without asking the database again.
pub const CACHE_TTL: Duration = Duration::from_secs(10);
const CACHE_MAX: usize = 10_000;

fn cached(hash: &str) -> Option<ApiKeyContext> {
    let cache = VERIFIED.lock().unwrap_or_else(|p| p.into_inner());
    cache
        .get(hash)
        .filter(|(_, at)| at.elapsed() < CACHE_TTL)
        .map(|(ctx, _)| ctx.clone())
}

fn remember(hash: String, ctx: &ApiKeyContext) {
    let mut cache = VERIFIED.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() >= CACHE_MAX {
        cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
    }
    cache.insert(hash, (ctx.clone(), Instant::now()));
}

fn forget(tenant_id: i64, key_id: i64) {
    VERIFIED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|_, (ctx, _)| !(ctx.tenant_id == tenant_id && ctx.key_id == key_id));
}

/// Extracts the key from `Authorization: Bearer <key>`.
pub fn bearer(headers: &http::HeaderMap) -> Result<&str, AppError> {
    let value = headers.get(http::header::AUTHORIZATION).ok_or_else(|| {
        AppError::Unauthorized("missing API key: send `Authorization: Bearer <key>`".into())
    })?;
    value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            AppError::Unauthorized("malformed Authorization header: expected `Bearer <key>`".into())
        })
}

/// Authenticates the current server function's request by its bearer key.
pub async fn authenticate() -> Result<ApiKeyContext, AppError> {
    let headers = leptos_axum::extract::<http::HeaderMap>()
        .await
        .map_err(|_| AppError::Internal)?;
    verify(&crate::state::pool(), bearer(&headers)?).await
}

/// What `key` authenticates as.
pub async fn identity(
    db: impl PgExecutor<'_>,
    key: &ApiKeyContext,
) -> Result<KeyIdentity, AppError> {
    let slug = sqlx::query_scalar!("SELECT slug FROM tenants WHERE id = $1", key.tenant_id)
        .fetch_one(db)
        .await?;
    Ok(KeyIdentity {
        tenant_id: key.tenant_id,
        tenant_slug: slug,
        key_id: key.key_id,
        key_name: key.name.clone(),
        scopes: key.scopes.clone(),
    })
}

/// Keeps a key created by a plain form post (no JavaScript) in the session so the page the
/// browser is redirected to can show it once. Script-driven calls get it in the answer.
pub async fn remember_for_display(created: &CreatedApiKey) -> Result<(), AppError> {
    let plain_form = leptos::prelude::use_context::<http::request::Parts>().is_some_and(|p| {
        p.headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
    });
    if plain_form {
        crate::auth::ssr::session()
            .await?
            .insert(SESSION_CREATED_KEY, created)
            .await?;
    }
    Ok(())
}

/// Takes (and forgets) the key remembered by [`remember_for_display`].
pub async fn take_remembered() -> Result<Option<CreatedApiKey>, AppError> {
    let session = crate::auth::ssr::session().await?;
    Ok(session.remove::<CreatedApiKey>(SESSION_CREATED_KEY).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_prefixed() {
        let a = generate_secret();
        let b = generate_secret();
        assert!(a.starts_with(KEY_PREFIX) && a.len() == 44);
        assert_ne!(a, b);
        assert_eq!(hash_key(&a).len(), 64);
        assert_ne!(hash_key(&a), hash_key(&b));
    }

    #[test]
    fn bearer_header_parsing() {
        let mut h = http::HeaderMap::new();
        assert_eq!(bearer(&h).unwrap_err().status(), 401);
        h.insert(http::header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h).unwrap_err().status(), 401);
        h.insert(
            http::header::AUTHORIZATION,
            "Bearer flt_abc".parse().unwrap(),
        );
        assert_eq!(bearer(&h).unwrap(), "flt_abc");
    }
}
