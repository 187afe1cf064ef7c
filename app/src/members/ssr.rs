//! Membership queries. Every change runs in a transaction that locks the company's admin
//! memberships first, so two admins demoting each other at once cannot leave none.

use super::Member;
use crate::audit::ssr::{Entry, record};
use crate::auth::Role;
use crate::auth::ssr::{
    check_new_password, hash_password, insert_user, parse_email, user_id_by_email,
};
use crate::error::AppError;
use serde_json::json;
use sqlx::{PgConnection, PgPool};

/// Members of `tenant`, admins first, then by e-mail.
pub async fn list(pool: &PgPool, tenant: i64) -> Result<Vec<Member>, AppError> {
    sqlx::query!(
        r#"SELECT u.id, u.email, m.role, m.created_at, u.last_login_at
           FROM memberships m JOIN users u ON u.id = m.user_id
           WHERE m.tenant_id = $1
           ORDER BY CASE m.role WHEN 'admin' THEN 0 WHEN 'member' THEN 1 ELSE 2 END, u.email"#,
        tenant
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| {
        Ok(Member {
            user_id: r.id,
            email: r.email,
            role: r.role.parse()?,
            joined_at: r.created_at,
            last_login_at: r.last_login_at,
        })
    })
    .collect()
}

/// Locks the admin memberships of `tenant` and returns how many there are.
async fn lock_admins(conn: &mut PgConnection, tenant: i64) -> Result<usize, AppError> {
    Ok(sqlx::query_scalar!(
        "SELECT user_id FROM memberships WHERE tenant_id = $1 AND role = 'admin' FOR UPDATE",
        tenant
    )
    .fetch_all(&mut *conn)
    .await?
    .len())
}

/// The role of `user` in `tenant`; 404 when not a member.
async fn role_of(conn: &mut PgConnection, tenant: i64, user: i64) -> Result<Role, AppError> {
    sqlx::query_scalar!(
        "SELECT role FROM memberships WHERE tenant_id = $1 AND user_id = $2",
        tenant,
        user
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| AppError::not_found("member"))?
    .parse()
}

const LAST_ADMIN: &str = "a company needs at least one admin: make someone else admin first";

/// Adds `email` to `tenant` with `role`, creating the account (with `password`) when the
/// e-mail is new; 409 when already a member.
pub async fn add(
    pool: &PgPool,
    tenant: i64,
    email: &str,
    role: Role,
    password: &str,
    actor: &str,
) -> Result<Member, AppError> {
    let email = parse_email(email)?;
    let mut tx = pool.begin().await?;
    let (user_id, created) = match user_id_by_email(&mut *tx, &email).await? {
        Some(id) => (id, false),
        None => {
            if password.is_empty() {
                return Err(AppError::invalid(
                    "password",
                    "this e-mail has no account yet: set an initial password (at least 10 characters)",
                ));
            }
            check_new_password(password).map_err(|e| AppError::invalid("password", e.message()))?;
            let hash = hash_password(password).await?;
            (insert_user(&mut *tx, &email, &hash, false).await?, true)
        }
    };
    let joined = sqlx::query_scalar!(
        r#"INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)
           ON CONFLICT (tenant_id, user_id) DO NOTHING RETURNING created_at"#,
        tenant,
        user_id,
        role.as_str()
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::Conflict(format!("{email} is already a member")))?;
    record(
        &mut *tx,
        Entry {
            tenant_id: tenant,
            actor,
            action: "member.add",
            target_type: "user",
            target_id: user_id.to_string(),
            details: json!({ "email": email, "role": role.as_str(), "new_account": created }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Member {
        user_id,
        email,
        role,
        joined_at: joined,
        last_login_at: None,
    })
}

/// Gives `user` the `role` in `tenant`; 404 for non-members, 409 for the last admin.
pub async fn change_role(
    pool: &PgPool,
    tenant: i64,
    user: i64,
    role: Role,
    actor: &str,
) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    let admins = lock_admins(&mut tx, tenant).await?;
    let before = role_of(&mut tx, tenant, user).await?;
    if before == role {
        return Ok(());
    }
    if before == Role::Admin && admins <= 1 {
        return Err(AppError::Conflict(LAST_ADMIN.into()));
    }
    sqlx::query!(
        "UPDATE memberships SET role = $3 WHERE tenant_id = $1 AND user_id = $2",
        tenant,
        user,
        role.as_str()
    )
    .execute(&mut *tx)
    .await?;
    record(
        &mut *tx,
        Entry {
            tenant_id: tenant,
            actor,
            action: "member.role",
            target_type: "user",
            target_id: user.to_string(),
            details: json!({ "from": before.as_str(), "to": role.as_str() }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes `user` from `tenant`; 404 for non-members, 409 for the last admin.
pub async fn remove(pool: &PgPool, tenant: i64, user: i64, actor: &str) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    let admins = lock_admins(&mut tx, tenant).await?;
    let role = role_of(&mut tx, tenant, user).await?;
    if role == Role::Admin && admins <= 1 {
        return Err(AppError::Conflict(LAST_ADMIN.into()));
    }
    sqlx::query!(
        "DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2",
        tenant,
        user
    )
    .execute(&mut *tx)
    .await?;
    // Groups assigned to them are no longer theirs to work on.
    sqlx::query!(
        "UPDATE error_groups SET assignee_user_id = NULL WHERE tenant_id = $1 AND assignee_user_id = $2",
        tenant,
        user
    )
    .execute(&mut *tx)
    .await?;
    record(
        &mut *tx,
        Entry {
            tenant_id: tenant,
            actor,
            action: "member.remove",
            target_type: "user",
            target_id: user.to_string(),
            details: json!({ "role": role.as_str() }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
