//! Admin subcommands of the `faultline` binary, over the same service functions the UI uses.

use anyhow::{Context, bail};
use app::AppError;
use app::auth::Role;
use app::auth::ssr::{
    check_new_password, hash_password, insert_user, parse_email, super_admin_exists,
    upsert_membership, user_id_by_email,
};
use rand::distributions::{Alphanumeric, DistString};
use sqlx::PgPool;
use std::io::BufRead;

/// How the CLI appears in the audit log.
const CLI_ACTOR: &str = "cli";

/// Turns a service error into a message for the terminal.
fn cli_error(e: AppError) -> anyhow::Error {
    match e.field() {
        Some(field) => anyhow::anyhow!("{field}: {}", e.message()),
        None => anyhow::anyhow!("{e}"),
    }
}

/// Applies pending migrations.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    app::MIGRATOR
        .run(pool)
        .await
        .context("running database migrations")
}

/// The super-admin created on first start, when one was created.
pub struct FirstAdmin {
    pub email: String,
    /// Set when the password was generated (it is printed once, then never again).
    pub generated_password: Option<String>,
}

/// Creates the first super-admin when there is none.
pub async fn ensure_super_admin(
    pool: &PgPool,
    email: &str,
    password: Option<&str>,
) -> anyhow::Result<Option<FirstAdmin>> {
    if super_admin_exists(pool).await.map_err(cli_error)? {
        return Ok(None);
    }
    let email = parse_email(email)
        .map_err(cli_error)
        .context("FAULTLINE_ADMIN_EMAIL")?;
    let (password, generated) = match password {
        Some(p) => {
            check_new_password(p)
                .map_err(cli_error)
                .context("FAULTLINE_ADMIN_PASSWORD")?;
            (p.to_owned(), None)
        }
        None => {
            let p = Alphanumeric.sample_string(&mut rand::thread_rng(), 20);
            (p.clone(), Some(p))
        }
    };
    let hash = hash_password(&password).await.map_err(cli_error)?;
    match user_id_by_email(pool, &email).await.map_err(cli_error)? {
        Some(id) => {
            sqlx::query!(
                "UPDATE users SET is_super_admin = true, password_hash = $2 WHERE id = $1",
                id,
                hash
            )
            .execute(pool)
            .await?;
        }
        None => {
            insert_user(pool, &email, &hash, true)
                .await
                .map_err(cli_error)?;
        }
    }
    Ok(Some(FirstAdmin {
        email,
        generated_password: generated,
    }))
}

/// `faultline create-tenant`: prints the new tenant's numeric id.
pub async fn create_tenant(pool: &PgPool, slug: &str, name: &str) -> anyhow::Result<i64> {
    let slug = app::tenants::parse_slug(slug).map_err(cli_error)?;
    let name = app::tenants::parse_name("name", name).map_err(cli_error)?;
    let mut tx = pool.begin().await?;
    let details = serde_json::json!({ "slug": slug, "name": name });
    let id = app::tenants::ssr::insert(&mut tx, &slug, &name, CLI_ACTOR, details)
        .await
        .map_err(cli_error)?;
    tx.commit().await?;
    Ok(id)
}

/// Reads a password from `FAULTLINE_PASSWORD`, else from the first line of standard input.
pub fn read_password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("FAULTLINE_PASSWORD") {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let p = line.trim_end_matches(['\r', '\n']).to_owned();
    if p.is_empty() {
        bail!("no password: set FAULTLINE_PASSWORD or pipe it on standard input");
    }
    Ok(p)
}

/// `faultline create-user`: creates the user (or updates role / super-admin flag of an
/// existing one). Returns the user id.
pub async fn create_user(
    pool: &PgPool,
    email: &str,
    tenant: Option<&str>,
    role: &str,
    super_admin: bool,
    password: &str,
) -> anyhow::Result<i64> {
    let email = parse_email(email).map_err(cli_error)?;
    let role: Role = role.parse().map_err(cli_error)?;
    check_new_password(password).map_err(cli_error)?;
    let hash = hash_password(password).await.map_err(cli_error)?;
    let mut tx = pool.begin().await?;
    let tenant_id = match tenant {
        Some(slug) => Some(
            app::tenants::ssr::id_by_slug(&mut *tx, slug)
                .await
                .map_err(cli_error)?,
        ),
        None => None,
    };
    let user_id = match user_id_by_email(&mut *tx, &email)
        .await
        .map_err(cli_error)?
    {
        Some(id) => {
            sqlx::query!(
                "UPDATE users SET password_hash = $2, is_super_admin = is_super_admin OR $3 WHERE id = $1",
                id,
                hash,
                super_admin
            )
            .execute(&mut *tx)
            .await?;
            id
        }
        None => insert_user(&mut *tx, &email, &hash, super_admin)
            .await
            .map_err(cli_error)?,
    };
    if let Some(tenant_id) = tenant_id {
        upsert_membership(&mut *tx, tenant_id, user_id, role)
            .await
            .map_err(cli_error)?;
        app::audit::ssr::record(
            &mut *tx,
            app::audit::ssr::Entry {
                tenant_id,
                actor: CLI_ACTOR,
                action: "member.set",
                target_type: "user",
                target_id: user_id.to_string(),
                details: serde_json::json!({ "email": email, "role": role.as_str() }),
            },
        )
        .await
        .map_err(cli_error)?;
    }
    tx.commit().await?;
    Ok(user_id)
}

/// `faultline create-api-key`: returns the secret (printed alone on stdout by the caller).
pub async fn create_api_key(
    pool: &PgPool,
    tenant: &str,
    name: &str,
    scopes: &str,
) -> anyhow::Result<String> {
    let scopes = app::api_keys::parse_scopes(scopes).map_err(cli_error)?;
    let tenant_id = app::tenants::ssr::id_by_slug(pool, tenant)
        .await
        .map_err(cli_error)?;
    let created = app::api_keys::ssr::create(pool, tenant_id, name, &scopes, CLI_ACTOR, None)
        .await
        .map_err(cli_error)?;
    Ok(created.secret)
}

/// The demo's playbook name.
pub const DEMO_PLAYBOOK: &str = "Restart the demo service when its health check fails";

/// `faultline seed-demo`: the tenant `demo` with its admin, an enabled automatic playbook
/// (the reporting agent restarts the service at `service_url`; fixed when its /health
/// answers 200) — replaced when it exists, so a new service address is picked up — and a new
/// agent key, returned. Everything else is kept, so it can run before every demo.
pub async fn seed_demo(pool: &PgPool, service_url: &str, password: &str) -> anyhow::Result<String> {
    migrate(pool).await?;
    let exists = app::tenants::ssr::id_by_slug(pool, "demo").await.is_ok();
    if !exists {
        create_tenant(pool, "demo", "Demo Inc.").await?;
    }
    create_user(
        pool,
        "demo@faultline.local",
        Some("demo"),
        "admin",
        false,
        password,
    )
    .await?;
    let tenant = app::tenants::ssr::id_by_slug(pool, "demo")
        .await
        .map_err(cli_error)?;
    let url = service_url.trim_end_matches('/');
    let spec: app::playbooks::PlaybookSpec = serde_json::from_value(serde_json::json!({
        "name": DEMO_PLAYBOOK,
        "description": "The agent that reported the failed health check restarts the service; the run is verified by the health check answering 200.",
        "match": { "error_types": ["ServiceUnhealthy"], "message_pattern": "health check failed|not responding" },
        "actions": [{ "type": "agent_task", "task": "restart_service", "timeout_secs": 30 }],
        "verify": { "type": "http", "url": format!("{url}/health"), "expect_status": 200 },
        "rollback": [],
        "risk": "low",
        "mode": "automatic",
        "cooldown_secs": 0,
        "max_attempts": 0,
        "enabled": true
    }))?;
    let policy = app::playbooks::rules::Policy {
        allowed_hosts: vec![
            app::playbooks::rules::url_host(url)
                .map_err(|e| anyhow::anyhow!("--service-url {e}"))?,
        ],
        allowed_commands: vec![],
    };
    let existing: Option<i64> = sqlx::query_scalar!(
        "SELECT id FROM playbooks WHERE tenant_id = $1 AND name = $2",
        tenant,
        DEMO_PLAYBOOK
    )
    .fetch_optional(pool)
    .await?;
    match existing {
        Some(id) => app::playbooks::ssr::update(pool, tenant, id, &spec, &policy, CLI_ACTOR)
            .await
            .map_err(cli_error)?,
        None => {
            app::playbooks::ssr::create(pool, tenant, &[spec], &policy, CLI_ACTOR)
                .await
                .map_err(cli_error)?;
        }
    }
    create_api_key(pool, "demo", "demo agent", "ingest,read,fix").await
}
