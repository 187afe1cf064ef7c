//! Tenant queries and the create-with-first-admin operation (used by the UI and the CLI).

use super::{CrossTenantGroup, TenantSettings, TenantSummary, parse_name, parse_slug};
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
                  (SELECT count(*) FROM api_keys k WHERE k.tenant_id = t.id AND k.revoked_at IS NULL) AS "active_api_keys!",
                  (SELECT COALESCE(sum(h.count), 0)::int8 FROM group_counts_hourly h
                   WHERE h.tenant_id = t.id AND h.hour > date_trunc('hour', now()) - interval '24 hours') AS "events_24h!",
                  (SELECT count(*) FROM error_groups g
                   WHERE g.tenant_id = t.id AND g.status IN ('unresolved', 'regressed')) AS "unresolved_groups!",
                  (SELECT count(*) FROM agents a WHERE a.tenant_id = t.id) AS "agents!"
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
        events_24h: 0,
        unresolved_groups: 0,
        agents: 0,
    })
}

/// The settings of `tenant`, its Sentry DSN as a client reaches this server at `origin`.
pub async fn settings(
    pool: &PgPool,
    tenant: i64,
    can_edit: bool,
    origin: &str,
) -> Result<TenantSettings, AppError> {
    let t = sqlx::query!(
        "SELECT id, slug, name, retention_days, responder_agent_id, sentry_key FROM tenants WHERE id = $1",
        tenant
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| AppError::not_found("tenant"))?;
    let agents = sqlx::query!(
        "SELECT id, name FROM agents WHERE tenant_id = $1 ORDER BY name LIMIT 1000",
        tenant
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|a| (a.id, a.name))
    .collect();
    Ok(TenantSettings {
        id: t.id,
        slug: t.slug,
        name: t.name,
        retention_days: t.retention_days,
        responder_agent_id: t.responder_agent_id,
        agents,
        can_edit,
        sentry_dsn: crate::sentry::ssr::dsn(&t.sentry_key, t.id, origin),
    })
}

/// Changes the settings of `tenant`, audit-logged; the responder must be one of its agents.
pub async fn update_settings(
    pool: &PgPool,
    tenant: i64,
    name: &str,
    retention_days: i32,
    responder: Option<i64>,
    actor: &str,
) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    if let Some(agent) = responder {
        let known = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM agents WHERE tenant_id = $1 AND id = $2) AS "known!""#,
            tenant,
            agent
        )
        .fetch_one(&mut *tx)
        .await?;
        if !known {
            return Err(AppError::invalid(
                "responder_agent",
                "choose an agent of this company",
            ));
        }
    }
    sqlx::query!(
        "UPDATE tenants SET name = $2, retention_days = $3, responder_agent_id = $4 WHERE id = $1",
        tenant,
        name,
        retention_days,
        responder
    )
    .execute(&mut *tx)
    .await?;
    record(
        &mut *tx,
        Entry {
            tenant_id: tenant,
            actor,
            action: "tenant.settings",
            target_type: "tenant",
            target_id: tenant.to_string(),
            details: json!({ "name": name, "retention_days": retention_days, "responder_agent_id": responder }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The `limit` most recently seen open groups across every tenant, with the tenant's name
/// (each tenant's newest through its own index, then merged).
pub async fn latest_groups(pool: &PgPool, limit: i64) -> Result<Vec<CrossTenantGroup>, AppError> {
    let rows = sqlx::query!(
        r#"SELECT t.id AS tenant_id, t.name AS tenant_name, g.id AS "group_id!"
           FROM tenants t
           CROSS JOIN LATERAL (
               SELECT id, last_seen FROM error_groups
               WHERE tenant_id = t.id AND status IN ('unresolved', 'regressed')
               ORDER BY last_seen DESC, id DESC LIMIT $1) g
           ORDER BY g.last_seen DESC, g.id DESC LIMIT $1"#,
        limit
    )
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let group = crate::errors::read::group_by_id(pool, r.tenant_id, r.group_id).await?;
        out.push(CrossTenantGroup {
            tenant_id: r.tenant_id,
            tenant_name: r.tenant_name,
            group,
        });
    }
    Ok(out)
}
