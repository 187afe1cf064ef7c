//! Live updates: the writers `NOTIFY` which groups changed (per tenant, after commit), and
//! one listener per server process (which also wakes the fix and alert engines) fans that out to the browsers connected to
//! `/api/stream`. Through PostgreSQL, so every replica sees every replica's writes.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, broadcast};

/// The notification channel.
pub const CHANNEL: &str = "faultline_groups";

/// Groups of one tenant whose counts or state changed in one commit (the `NOTIFY` payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupsChanged {
    #[serde(rename = "t")]
    pub tenant_id: i64,
    /// At most [`MAX_IDS`] ids (a payload must stay under PostgreSQL's 8000 bytes).
    #[serde(rename = "g")]
    pub groups: Vec<i64>,
}

/// Most group ids one notification carries.
pub const MAX_IDS: usize = 400;

/// The process-wide fan-out of [`GroupsChanged`], and the wake-ups of the fix and alert
/// engines: one `LISTEN` connection per process for all three channels. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Live {
    tx: broadcast::Sender<GroupsChanged>,
    fixes: Arc<Notify>,
    alerts: Arc<Notify>,
}

impl Live {
    /// Starts listening on [`CHANNEL`]; reconnects (after a second) whenever the
    /// connection drops. Slow subscribers miss messages rather than holding memory.
    pub fn spawn(pool: PgPool) -> Self {
        let (tx, _) = broadcast::channel(1024);
        let live = Self {
            tx,
            fixes: Arc::new(Notify::new()),
            alerts: Arc::new(Notify::new()),
        };
        let this = live.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = this.listen(&pool).await {
                    tracing::warn!(error = ?e, "live updates: listening failed; reconnecting");
                }
                // Whatever was notified meanwhile is found by looking.
                this.fixes.notify_waiters();
                this.alerts.notify_waiters();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        live
    }

    /// Woken when fix work arrives (new triggers, queued runs).
    pub fn fix_wakeups(&self) -> Arc<Notify> {
        self.fixes.clone()
    }

    /// Woken when alert work arrives (triggers, deliveries).
    pub fn alert_wakeups(&self) -> Arc<Notify> {
        self.alerts.clone()
    }

    async fn listen(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener
            .listen_all([
                CHANNEL,
                crate::fixes::ssr::CHANNEL,
                crate::alerts::ssr::CHANNEL,
            ])
            .await?;
        loop {
            let note = listener.recv().await?;
            match note.channel() {
                CHANNEL => match serde_json::from_str::<GroupsChanged>(note.payload()) {
                    // No subscriber is fine: nobody is watching.
                    Ok(change) => drop(self.tx.send(change)),
                    Err(e) => {
                        tracing::warn!(error = %e, "live updates: ignoring a malformed notification")
                    }
                },
                crate::fixes::ssr::CHANNEL => self.fixes.notify_waiters(),
                _ => self.alerts.notify_waiters(),
            }
        }
    }

    /// A new receiver of every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<GroupsChanged> {
        self.tx.subscribe()
    }
}

/// Tells live listeners that `groups` of `tenant` changed, once the transaction commits.
pub async fn notify(
    db: impl sqlx::PgExecutor<'_>,
    tenant_id: i64,
    groups: &[i64],
) -> Result<(), sqlx::Error> {
    let payload = serde_json::to_string(&GroupsChanged {
        tenant_id,
        groups: groups.iter().take(MAX_IDS).copied().collect(),
    })
    .unwrap_or_default();
    sqlx::query!("SELECT pg_notify($1, $2)", CHANNEL, payload)
        .execute(db)
        .await?;
    Ok(())
}
