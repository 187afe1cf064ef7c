//! The audit log: who did what to keys, members, playbooks, approvals and tenants.

#[cfg(feature = "ssr")]
pub mod ssr {
    use crate::error::AppError;
    use sqlx::PgExecutor;

    /// One audit entry about `target_type`/`target_id` in `tenant_id`.
    pub struct Entry<'a> {
        pub tenant_id: i64,
        pub actor: &'a str,
        pub action: &'a str,
        pub target_type: &'a str,
        pub target_id: String,
        pub details: serde_json::Value,
    }

    /// Appends an entry; call it inside the transaction that made the change.
    pub async fn record(db: impl PgExecutor<'_>, e: Entry<'_>) -> Result<(), AppError> {
        sqlx::query!(
            r#"INSERT INTO audit_log (tenant_id, actor, action, target_type, target_id, details)
               VALUES ($1, $2, $3, $4, $5, $6)"#,
            e.tenant_id,
            e.actor,
            e.action,
            e.target_type,
            e.target_id,
            e.details
        )
        .execute(db)
        .await?;
        Ok(())
    }
}
