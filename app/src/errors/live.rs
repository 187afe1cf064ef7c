//! Live updates: the writers `NOTIFY` which groups changed (per tenant, after commit), and
//! one listener per server process fans that out to the browsers connected to
//! `/api/stream`. Through PostgreSQL, so every replica sees every replica's writes.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::time::Duration;
use tokio::sync::broadcast;

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

/// The process-wide fan-out of [`GroupsChanged`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Live {
    tx: broadcast::Sender<GroupsChanged>,
}

impl Live {
    /// Starts listening on [`CHANNEL`]; reconnects (after a second) whenever the
    /// connection drops. Slow subscribers miss messages rather than holding memory.
    pub fn spawn(pool: PgPool) -> Self {
        let (tx, _) = broadcast::channel(1024);
        let live = Self { tx };
        let sender = live.tx.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = listen(&pool, &sender).await {
                    tracing::warn!(error = ?e, "live updates: listening failed; reconnecting");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        live
    }

    /// A new receiver of every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<GroupsChanged> {
        self.tx.subscribe()
    }
}

async fn listen(
    pool: &PgPool,
    sender: &broadcast::Sender<GroupsChanged>,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    loop {
        let note = listener.recv().await?;
        match serde_json::from_str::<GroupsChanged>(note.payload()) {
            // No subscriber is fine: nobody is watching.
            Ok(change) => drop(sender.send(change)),
            Err(e) => tracing::warn!(error = %e, "live updates: ignoring a malformed notification"),
        }
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
