//! Server side of authentication: password hashing, sessions, sign-in throttling, and the
//! per-request [`AuthContext`] every server function authorizes against.

use super::{CurrentUser, Role, TenantAccess};
use crate::error::AppError;
use crate::state::{app_state, pool};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sqlx::{PgExecutor, PgPool};
use std::sync::OnceLock;
use tower_sessions::Session;

/// Session key holding the signed-in user's id.
pub const SESSION_USER: &str = "uid";
/// Session key holding the tenant the user works in.
pub const SESSION_TENANT: &str = "tid";

const WRONG_CREDENTIALS: &str = "Wrong e-mail or password.";

/// Who is asking, in which tenant, with which role. Built from the session on every call.
#[derive(Debug, Clone)]
pub struct AuthContext {
    pub user_id: i64,
    pub email: String,
    pub is_super_admin: bool,
    pub tenant_id: Option<i64>,
    pub role: Option<Role>,
}

impl AuthContext {
    /// The current tenant, provided the user's role there is at least `min`.
    pub fn require(&self, min: Role) -> Result<i64, AppError> {
        let (Some(tenant), Some(role)) = (self.tenant_id, self.role) else {
            return Err(AppError::Forbidden("choose a tenant first".into()));
        };
        if role < min {
            return Err(AppError::Forbidden(format!(
                "this needs the {min} role; you are {role}"
            )));
        }
        Ok(tenant)
    }

    /// Succeeds only for super-admins.
    pub fn require_super_admin(&self) -> Result<(), AppError> {
        if self.is_super_admin {
            Ok(())
        } else {
            Err(AppError::Forbidden("only super-admins may do this".into()))
        }
    }

    /// How this user appears in audit logs and activity.
    pub fn actor(&self) -> String {
        format!("user:{}", self.email)
    }
}

/// The session of the current server function's request.
pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>().await.map_err(|e| {
        tracing::error!(error = %e, "session layer missing");
        AppError::Internal
    })
}

/// The tenant stored in the session (stored as `null` when the user has none).
async fn session_tenant(session: &Session) -> Result<Option<i64>, AppError> {
    Ok(session.get::<Option<i64>>(SESSION_TENANT).await?.flatten())
}

/// The authenticated caller, or 401 when there is no valid session.
pub async fn auth() -> Result<AuthContext, AppError> {
    auth_from(&session().await?, &pool()).await
}

/// The caller whose request carries `session` (for handlers outside server functions).
pub async fn auth_from(session: &Session, pool: &PgPool) -> Result<AuthContext, AppError> {
    let Some(user_id) = session.get::<i64>(SESSION_USER).await? else {
        return Err(AppError::Unauthorized("sign in first".into()));
    };
    let tenant_id = session_tenant(session).await?;
    load_context(pool, user_id, tenant_id)
        .await?
        .ok_or_else(|| AppError::Unauthorized("sign in first".into()))
}

/// Loads the user and their role in `tenant_id` (super-admins act as admins everywhere).
pub async fn load_context(
    pool: &PgPool,
    user_id: i64,
    tenant_id: Option<i64>,
) -> Result<Option<AuthContext>, AppError> {
    let row = sqlx::query!(
        r#"SELECT u.id, u.email, u.is_super_admin, m.role AS "role?", t.id AS "tenant_id?"
           FROM users u
           LEFT JOIN tenants t ON t.id = $2
           LEFT JOIN memberships m ON m.user_id = u.id AND m.tenant_id = t.id
           WHERE u.id = $1"#,
        user_id,
        tenant_id
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| {
        let role = match (r.role, r.tenant_id) {
            (Some(role), Some(_)) => role.parse().ok(),
            (None, Some(_)) if r.is_super_admin => Some(Role::Admin),
            _ => None,
        };
        AuthContext {
            user_id: r.id,
            email: r.email,
            is_super_admin: r.is_super_admin,
            tenant_id: role.and(r.tenant_id),
            role,
        }
    }))
}

/// Every tenant the user may enter, by name.
pub async fn accessible_tenants(
    pool: &PgPool,
    user_id: i64,
    is_super_admin: bool,
) -> Result<Vec<TenantAccess>, AppError> {
    let rows = sqlx::query!(
        r#"SELECT t.id, t.slug, t.name, COALESCE(m.role, 'admin') AS "role!"
           FROM tenants t
           LEFT JOIN memberships m ON m.tenant_id = t.id AND m.user_id = $1
           WHERE m.user_id IS NOT NULL OR $2
           ORDER BY lower(t.name), t.id"#,
        user_id,
        is_super_admin
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(TenantAccess {
                id: r.id,
                slug: r.slug,
                name: r.name,
                role: r.role.parse().ok()?,
            })
        })
        .collect())
}

/// The signed-in user with their tenants, or `None` without a valid session.
pub async fn current_user() -> Result<Option<CurrentUser>, AppError> {
    let session = session().await?;
    let Some(user_id) = session.get::<i64>(SESSION_USER).await? else {
        return Ok(None);
    };
    let tenant_id = session_tenant(&session).await?;
    let pool = pool();
    let Some(ctx) = load_context(&pool, user_id, tenant_id).await? else {
        // The user was deleted: the session is worthless.
        session.flush().await?;
        return Ok(None);
    };
    let tenants = accessible_tenants(&pool, ctx.user_id, ctx.is_super_admin).await?;
    let tenant = match ctx.tenant_id {
        Some(id) => tenants.iter().find(|t| t.id == id).cloned(),
        None => None,
    }
    .or_else(|| {
        // No (longer a) valid tenant in the session: fall back to the first one.
        (!ctx.is_super_admin)
            .then(|| tenants.first().cloned())
            .flatten()
    });
    if tenant.as_ref().map(|t| t.id) != ctx.tenant_id {
        session
            .insert(SESSION_TENANT, tenant.as_ref().map(|t| t.id))
            .await?;
    }
    Ok(Some(CurrentUser {
        id: ctx.user_id,
        email: ctx.email,
        is_super_admin: ctx.is_super_admin,
        tenant,
        tenants,
    }))
}

/// Normalizes and checks an e-mail address: trimmed, lower-cased, plausible.
pub fn parse_email(raw: &str) -> Result<String, AppError> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() {
        return Err(AppError::invalid("email", "enter an e-mail address"));
    }
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if !valid {
        return Err(AppError::invalid("email", "is not a valid e-mail address"));
    }
    Ok(email)
}

/// Checks a password chosen for a new account.
pub fn check_new_password(password: &str) -> Result<(), AppError> {
    let chars = password.chars().count();
    if chars < 10 {
        return Err(AppError::invalid(
            "password",
            "must be at least 10 characters",
        ));
    }
    if chars > 256 {
        return Err(AppError::invalid(
            "password",
            "must be at most 256 characters",
        ));
    }
    Ok(())
}

/// Hashes a password with Argon2id (random salt, PHC string).
pub async fn hash_password(password: &str) -> Result<String, AppError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))
    })
    .await
    .map_err(anyhow::Error::from)?
    .map_err(AppError::from)
}

/// A hash of a random password, verified against when the e-mail is unknown so that both
/// failures take the same time.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        Argon2::default()
            .hash_password(b"faultline-dummy-password-never-matches", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// Computes the dummy hash ahead of the first sign-in, so that one is not slower.
pub fn warm_up() {
    let _ = dummy_hash();
}

async fn verify_password(password: &str, hash: Option<String>) -> Result<bool, AppError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| dummy_hash().to_owned());
        let ok = PasswordHash::new(&hash)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false);
        known && ok
    })
    .await
    .map_err(|e| AppError::from(anyhow::Error::from(e)))
}

/// Seconds to wait when `email` has too many recent failures, else `None`.
async fn throttled_for(pool: &PgPool, email: &str) -> Result<Option<u64>, AppError> {
    let settings = &app_state().settings;
    let row = sqlx::query!(
        r#"SELECT CEIL(EXTRACT(EPOCH FROM (window_start + make_interval(secs => $2) - now())))::bigint AS "remaining!"
           FROM login_failures
           WHERE email = $1 AND failures >= $3 AND window_start + make_interval(secs => $2) > now()"#,
        email,
        settings.login_window_secs as f64,
        settings.login_max_failures
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| r.remaining.max(1) as u64))
}

async fn record_failure(pool: &PgPool, email: &str) -> Result<(), AppError> {
    let window = app_state().settings.login_window_secs as f64;
    sqlx::query!(
        r#"INSERT INTO login_failures (email, failures, window_start) VALUES ($1, 1, now())
           ON CONFLICT (email) DO UPDATE SET
             failures = CASE WHEN login_failures.window_start + make_interval(secs => $2) > now()
                             THEN login_failures.failures + 1 ELSE 1 END,
             window_start = CASE WHEN login_failures.window_start + make_interval(secs => $2) > now()
                             THEN login_failures.window_start ELSE now() END"#,
        email,
        window
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Checks the credentials and starts a fresh session (new session id) for the user.
pub async fn login(email: &str, password: &str) -> Result<i64, AppError> {
    let email = parse_email(email)?;
    if password.is_empty() {
        return Err(AppError::invalid("password", "enter your password"));
    }
    if password.len() > 1024 {
        return Err(AppError::Unauthorized(WRONG_CREDENTIALS.into()));
    }
    let pool = pool();
    if let Some(wait) = throttled_for(&pool, &email).await? {
        return Err(AppError::RateLimited {
            retry_after: wait,
            message: format!(
                "Too many failed sign-ins for this address. Try again in {} minute(s).",
                wait.div_ceil(60)
            ),
        });
    }
    let user = sqlx::query!(
        "SELECT id, password_hash FROM users WHERE email = $1",
        email
    )
    .fetch_optional(&pool)
    .await?;
    let (user_id, hash) = match user {
        Some(u) => (Some(u.id), Some(u.password_hash)),
        None => (None, None),
    };
    let (true, Some(user_id)) = (verify_password(password, hash).await?, user_id) else {
        record_failure(&pool, &email).await?;
        return Err(AppError::Unauthorized(WRONG_CREDENTIALS.into()));
    };
    sqlx::query!("DELETE FROM login_failures WHERE email = $1", email)
        .execute(&pool)
        .await?;
    sqlx::query!(
        "UPDATE users SET last_login_at = now() WHERE id = $1",
        user_id
    )
    .execute(&pool)
    .await?;
    let first_tenant = sqlx::query_scalar!(
        r#"SELECT t.id FROM memberships m JOIN tenants t ON t.id = m.tenant_id
           WHERE m.user_id = $1 ORDER BY lower(t.name), t.id LIMIT 1"#,
        user_id
    )
    .fetch_optional(&pool)
    .await?;
    let session = session().await?;
    session.cycle_id().await?;
    session.insert(SESSION_USER, user_id).await?;
    session.insert(SESSION_TENANT, first_tenant).await?;
    tracing::info!(user_id, "signed in");
    Ok(user_id)
}

/// Ends the current session.
pub async fn logout() -> Result<(), AppError> {
    session().await?.flush().await?;
    Ok(())
}

/// Moves the session into `tenant_id` when the user may enter it; 404 otherwise.
pub async fn switch_tenant(tenant_id: i64) -> Result<(), AppError> {
    let ctx = auth().await?;
    let target = load_context(&pool(), ctx.user_id, Some(tenant_id)).await?;
    if target.and_then(|c| c.tenant_id).is_none() {
        return Err(AppError::not_found("tenant"));
    }
    session()
        .await?
        .insert(SESSION_TENANT, Some(tenant_id))
        .await?;
    Ok(())
}

/// Only local paths are followed after sign-in (no open redirects).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

/// Creates a user with an already hashed password; 409 when the e-mail is taken.
pub async fn insert_user(
    db: impl PgExecutor<'_>,
    email: &str,
    password_hash: &str,
    is_super_admin: bool,
) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar!(
        "INSERT INTO users (email, password_hash, is_super_admin) VALUES ($1, $2, $3) RETURNING id",
        email,
        password_hash,
        is_super_admin
    )
    .fetch_one(db)
    .await?)
}

/// Gives `user_id` the `role` in `tenant_id` (updating an existing membership).
pub async fn upsert_membership(
    db: impl PgExecutor<'_>,
    tenant_id: i64,
    user_id: i64,
    role: Role,
) -> Result<(), AppError> {
    sqlx::query!(
        r#"INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)
           ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = EXCLUDED.role"#,
        tenant_id,
        user_id,
        role.as_str()
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The id of the user with this (normalized) e-mail.
pub async fn user_id_by_email(
    db: impl PgExecutor<'_>,
    email: &str,
) -> Result<Option<i64>, AppError> {
    Ok(
        sqlx::query_scalar!("SELECT id FROM users WHERE email = $1", email)
            .fetch_optional(db)
            .await?,
    )
}

/// Whether any super-admin exists (the first start creates one when not).
pub async fn super_admin_exists(db: impl PgExecutor<'_>) -> Result<bool, AppError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE is_super_admin) AS "exists!""#
    )
    .fetch_one(db)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            parse_email("  Ops@Example.COM ").unwrap(),
            "ops@example.com"
        );
        for bad in ["", "no-at-sign", "@example.com", "a@", "a b@c.d", "a@b@c"] {
            let err = parse_email(bad).unwrap_err();
            assert_eq!(err.field(), Some("email"), "{bad}");
        }
    }

    #[test]
    fn next_paths_stay_local() {
        assert_eq!(
            safe_next(Some("/errors?status=unresolved")),
            "/errors?status=unresolved"
        );
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil",
            "errors",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn new_passwords_have_a_minimum_length() {
        assert!(check_new_password("short").is_err());
        assert!(check_new_password("long enough password").is_ok());
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_match() {
        let hash = hash_password("correct horse battery").await.unwrap();
        assert!(
            verify_password("correct horse battery", Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!verify_password("wrong", Some(hash)).await.unwrap());
        assert!(
            !verify_password("faultline-dummy-password-never-matches", None)
                .await
                .unwrap()
        );
    }
}
