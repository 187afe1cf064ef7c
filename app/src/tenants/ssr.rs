//! Tenant queries and the create-with-first-admin operation (used by the UI and the CLI).

use super::{TenantSummary, parse_name, parse_slug};
use crate::audit::ssr::{Entry, record};
use crate::auth::Role;
use crate::auth::ssr::{
    check_new_password, hash_password, insert_user, parse_email, upsert_membership,
    user_id_by_email,
};
use crate::error::AppError;
use serde_json::json;
use sqlx::{PgExecutor, PgPool};

/// A validated request to create a tenant with its first admin.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub slug: String,
    pub name: String,
    pub admin_email: String,
    /// Used only when the admin is a new user.
    pub admin_password: String,
}

impl NewTenant {
    pub fn parse(
        slug: &str,
        name: &str,
        admin_email: &str,
        admin_password: &str,
    ) -> Result<Self, AppError> {
        Ok(Self {
            slug: parse_slug(slug)?,
            name: parse_name("name", name)?,
            admin_email: parse_email(admin_email)
                .map_err(|e| AppError::invalid("admin_email", e.message()))?,
            admin_password: admin_password.to_owned(),
        })
    }
}

/// Every tenant with member and key counts, by name.
pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<TenantSummary>, AppError> {
    Ok(sqlx::query_as!(
        TenantSummary,
        r#"SELECT t.id, t.slug, t.name, t.created_at,
                  (SELECT count(*) FROM memberships m WHERE m.tenant_id = t.id) AS "members!",
                  (SELECT count(*) FROM api_keys k WHERE k.tenant_id = t.id AND k.revoked_at IS NULL) AS "active_api_keys!"
           FROM tenants t ORDER BY lower(t.name), t.id"#
    )
    .fetch_all(db)
    .await?)
}

/// The id of the tenant with this slug.
pub async fn id_by_slug(db: impl PgExecutor<'_>, slug: &str) -> Result<i64, AppError> {
    sqlx::query_scalar!("SELECT id FROM tenants WHERE slug = $1", slug)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| AppError::not_found("tenant"))
}

/// Inserts a tenant (slug and name already checked) and audit-logs it with `details`;
/// 409 when the slug is taken. Call it inside the caller's transaction.
pub async fn insert(
    conn: &mut sqlx::PgConnection,
    slug: &str,
    name: &str,
    actor: &str,
    details: serde_json::Value,
) -> Result<i64, AppError> {
    let id = sqlx::query_scalar!(
        "INSERT INTO tenants (slug, name) VALUES ($1, $2) RETURNING id",
        slug,
        name
    )
    .fetch_one(&mut *conn)
    .await?;
    record(
        &mut *conn,
        Entry {
            tenant_id: id,
            actor,
            action: "tenant.create",
            target_type: "tenant",
            target_id: id.to_string(),
            details,
        },
    )
    .await?;
    Ok(id)
}

/// Creates the tenant and its first admin in one transaction, audit-logged.
pub async fn create_with_admin(
    pool: &PgPool,
    new: &NewTenant,
    actor: &str,
) -> Result<TenantSummary, AppError> {
    let mut tx = pool.begin().await?;
    let details = json!({ "slug": new.slug, "name": new.name, "admin": new.admin_email });
    let tenant_id = insert(&mut tx, &new.slug, &new.name, actor, details).await?;
    let user_id = match user_id_by_email(&mut *tx, &new.admin_email).await? {
        Some(id) => id,
        None => {
            check_new_password(&new.admin_password)
                .map_err(|e| AppError::invalid("admin_password", e.message()))?;
            let hash = hash_password(&new.admin_password).await?;
            insert_user(&mut *tx, &new.admin_email, &hash, false).await?
        }
    };
    upsert_membership(&mut *tx, tenant_id, user_id, Role::Admin).await?;
    tx.commit().await?;
    Ok(TenantSummary {
        id: tenant_id,
        slug: new.slug.clone(),
        name: new.name.clone(),
        created_at: chrono::Utc::now(),
        members: 1,
        active_api_keys: 0,
    })
}
