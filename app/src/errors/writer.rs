//! The group-commit writer. A few writer tasks each drain a bounded queue, aggregate
//! everything waiting into one batch and commit it in one transaction. Events are routed to a
//! writer by their group, so each group row is only ever updated by one writer of this
//! process and writers never wait for each other's row locks. Callers are answered only after
//! the commit, so an acknowledged event is never lost; a full queue answers 429.

use super::live;
use super::model::{NormalizedEvent, StoredEvent};
use crate::error::AppError;
use sqlx::{Executor, PgPool};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

/// The writer's maps (keyed by fingerprints, event ids and trace hashes, looked up several
/// times per event): foldhash is several times faster than the standard SipHash here.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::quality::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::quality::RandomState>;

/// Most events committed in one transaction.
const MAX_BATCH_EVENTS: usize = 2_000;
/// Group and agent ids one writer remembers; it forgets them all when this is reached.
const CACHED_IDS: usize = 100_000;
/// Why the writer reopened an ignored group.
pub const IGNORE_ENDED: &str = "the ignore ended: it happened again after the set time or count";
/// How stale a stack trace's `last_seen` may get before a writer refreshes it (retention
/// relies on this bound).
const TRACE_TOUCH: std::time::Duration = std::time::Duration::from_secs(3600);
/// Batches of at most this many new events are inserted with one statement; larger ones with
/// COPY, which costs more round trips but less per row.
const INLINE_EVENTS: usize = 64;
/// The unique index that makes a retried `event_id` count once.
const EVENT_ID_KEY: &str = "error_events_event_id_key";
/// A batch that takes longer than this from `BEGIN` to `COMMIT` is logged with where its time
/// went, so a stall can be told apart (a lock, a slow flush of the log, the statements).
const SLOW_BATCH: std::time::Duration = std::time::Duration::from_millis(100);
/// The COPY buffer a writer keeps between batches, at most (a batch of ~370 events fills
/// ~240 KB). A fresh buffer per batch came as new pages from the kernel, zeroed every time
/// (~2 % of the machine under batched load); a larger one, left by a batch of big events, is
/// given back.
const KEPT_COPY_BUFFER: usize = 4 << 20;

struct Job {
    tenant_id: i64,
    events: Vec<NormalizedEvent>,
    reply: oneshot::Sender<Result<Vec<StoredEvent>, AppError>>,
}

/// Submits events to the writers. Cheap to clone.
#[derive(Clone, Debug)]
pub struct IngestHandle {
    writers: Arc<[mpsc::Sender<Job>]>,
}

/// Per-event outcome of a submission, in the order the events were given.
pub type Outcomes = Vec<Result<StoredEvent, AppError>>;

impl IngestHandle {
    /// Requests waiting in the writers' queues.
    pub fn queued(&self) -> usize {
        self.writers
            .iter()
            .map(|w| w.max_capacity() - w.capacity())
            .sum()
    }

    /// Starts `writers` writers over `pool`, each on a thread of its own ([`start_writer`]),
    /// sharing a queue budget of `capacity` requests.
    pub fn spawn(pool: PgPool, capacity: usize, writers: usize) -> Self {
        let writers = writers.clamp(1, 16);
        let per_writer = capacity.div_ceil(writers).max(1);
        let own = writer_pool(&pool, writers);
        let main = tokio::runtime::Handle::current();
        let senders: Vec<_> = (0..writers)
            .map(|i| {
                let (tx, rx) = mpsc::channel(per_writer);
                start_writer(i, Writer::new(own.clone(), pool.clone(), main.clone()), rx);
                tx
            })
            .collect();
        Self {
            writers: senders.into(),
        }
    }

    /// Stores `events` of `tenant_id`; resolves once they are committed. Err when nothing was
    /// stored (429 when a queue is full); otherwise one outcome per event (a batch that spans
    /// writers can fail in part).
    pub async fn submit(
        &self,
        tenant_id: i64,
        events: Vec<NormalizedEvent>,
    ) -> Result<Outcomes, AppError> {
        let total = events.len();
        if total == 0 {
            return Ok(Vec::new());
        }
        let n = self.writers.len();
        let mut parts: Vec<(Vec<usize>, Vec<NormalizedEvent>)> =
            (0..n).map(|_| Default::default()).collect();
        for (i, event) in events.into_iter().enumerate() {
            let part = &mut parts[writer_for(tenant_id, &event.fingerprint, n)];
            part.0.push(i);
            part.1.push(event);
        }
        // A queue slot on every writer involved first: a full queue refuses the whole
        // request and nothing of it is stored.
        let mut permits = Vec::new();
        for (w, part) in parts.iter().enumerate() {
            if !part.1.is_empty() {
                permits.push((w, self.writers[w].try_reserve().map_err(queue_error)?));
            }
        }
        let mut answers = Vec::with_capacity(permits.len());
        for (w, permit) in permits {
            let (positions, events) = std::mem::take(&mut parts[w]);
            let (reply, answer) = oneshot::channel();
            permit.send(Job {
                tenant_id,
                events,
                reply,
            });
            answers.push((positions, answer));
        }
        let mut outcomes: Vec<Option<Result<StoredEvent, AppError>>> = vec![None; total];
        let mut first_error = None;
        let mut stored_any = false;
        for (positions, answer) in answers {
            let result = answer.await.unwrap_or_else(|_| {
                Err(AppError::Unavailable(
                    "the ingest writer stopped before committing".into(),
                ))
            });
            match result {
                Ok(stored) => {
                    stored_any = true;
                    for (i, s) in positions.into_iter().zip(stored) {
                        outcomes[i] = Some(Ok(s));
                    }
                }
                Err(e) => {
                    for &i in &positions {
                        outcomes[i] = Some(Err(e.clone()));
                    }
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if !stored_any => Err(e),
            _ => Ok(outcomes
                .into_iter()
                .map(|o| o.unwrap_or(Err(AppError::Internal)))
                .collect()),
        }
    }

    /// Requests waiting in the queues (for metrics).
    pub fn queue_depth(&self) -> usize {
        self.writers
            .iter()
            .map(|tx| tx.max_capacity() - tx.capacity())
            .sum()
    }
}

/// The writers' own connections, one each, on which PostgreSQL reuses each statement's plan
/// instead of planning it per batch. Its default would plan the known groups' update afresh
/// for nearly every batch (a batch's arrays look cheaper to it than the generic estimate),
/// which cost more than running it. Their statements only ever touch rows by key; the plans
/// follow the tables' growth through [`refresh_statistics`], and the one lookup whose plan
/// depends on its values asks for a custom plan itself.
fn writer_pool(pool: &PgPool, writers: usize) -> PgPool {
    let options = (*pool.connect_options())
        .clone()
        .options([("plan_cache_mode", "force_generic_plan")]);
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(writers as u32)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .test_before_acquire(false)
        .connect_lazy_with(options)
}

/// Runs a writer on a thread of its own. A batch takes several round trips to PostgreSQL, and
/// on the request threads each reply waited behind the requests queued there (measured: 3 ms
/// per transaction of 15 events at 64 concurrent single-event requests); on its own thread the
/// writer is woken as soon as PostgreSQL answers. Falls back to the caller's runtime when no
/// thread or runtime can be made.
fn start_writer(i: usize, writer: Writer, rx: mpsc::Receiver<Job>) {
    let main = writer.main.clone();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::warn!(error = ?e, "no runtime for an ingest writer; it shares the request threads");
            main.spawn(writer.run(rx));
            return;
        }
    };
    let (hand_over, take) = std::sync::mpsc::sync_channel::<(Writer, mpsc::Receiver<Job>)>(1);
    let thread = std::thread::Builder::new()
        .name(format!("ingest-writer-{i}"))
        .spawn(move || {
            if let Ok((writer, rx)) = take.recv() {
                runtime.block_on(writer.run(rx));
            }
        });
    let job = match thread {
        Ok(_) => match hand_over.send((writer, rx)) {
            Ok(()) => return,
            Err(std::sync::mpsc::SendError(job)) => job,
        },
        Err(e) => {
            tracing::warn!(error = ?e, "no thread for an ingest writer; it shares the request threads");
            (writer, rx)
        }
    };
    main.spawn(job.0.run(job.1));
}

fn queue_error<T>(e: mpsc::error::TrySendError<T>) -> AppError {
    match e {
        mpsc::error::TrySendError::Full(_) => AppError::RateLimited {
            retry_after: 1,
            message: "the ingest queue is full; retry shortly".into(),
        },
        mpsc::error::TrySendError::Closed(_) => {
            AppError::Unavailable("the ingest writer has stopped".into())
        }
    }
}

/// The writer that owns a group: fingerprints are SHA-256 hex, so their first digits are
/// already uniformly spread.
fn writer_for(tenant_id: i64, fingerprint: &str, writers: usize) -> usize {
    let digits = fingerprint.get(..16).unwrap_or(fingerprint);
    let hash = u64::from_str_radix(digits, 16).unwrap_or_else(|_| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        fingerprint.hash(&mut h);
        h.finish()
    });
    ((hash ^ (tenant_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) % writers as u64) as usize
}

/// One writer task and the ids it has learned (only from committed transactions).
struct Writer {
    /// The writers' own connections ([`writer_pool`]).
    pool: PgPool,
    /// The shared pool, for work beside the batches.
    shared: PgPool,
    /// The server's runtime, where that work runs.
    main: tokio::runtime::Handle,
    /// (tenant, fingerprint) → group id.
    groups: HashMap<(i64, String), i64>,
    /// (tenant, agent name) → agent id.
    agents: HashMap<(i64, String), i64>,
    /// (tenant, trace hash) → when this writer last made sure the trace is stored and its
    /// `last_seen` recent.
    traces: HashMap<(i64, [u8; 32]), std::time::Instant>,
    /// The binary COPY rows of a large batch, reused ([`KEPT_COPY_BUFFER`]).
    copy_rows: Vec<u8>,
    /// The writer's connection, kept between batches.
    session: Option<Session>,
}

/// A writer's own connection and whether a transaction is open on it. The writer keeps it
/// rather than giving it back to the pool after each batch: the pool tests every returned
/// connection with a round trip, and a kept one lets a commit begin the next batch's
/// transaction in the same round trip (`COMMIT; BEGIN`) when that batch is already waiting.
/// Both were round trips of their own on every batch (measured: a `BEGIN` alone took 0.7 ms
/// of a 9 ms batch under load, the wait for the PostgreSQL backend and then the writer
/// to be scheduled on a busy machine).
struct Session {
    conn: sqlx::pool::PoolConnection<sqlx::Postgres>,
    /// A transaction is open: begun by this batch, or by the last commit for this one.
    open: bool,
}

impl Session {
    async fn begin(&mut self) -> Result<(), sqlx::Error> {
        if !self.open {
            self.conn.execute("BEGIN").await?;
            self.open = true;
        }
        Ok(())
    }

    /// Commits; with `then_begin` the next transaction begins in the same round trip. A
    /// simple query's statements run one after the other, so the commit is durable before
    /// `BEGIN` runs, and an error in the commit skips the `BEGIN`.
    async fn commit(&mut self, then_begin: bool) -> Result<(), sqlx::Error> {
        self.open = false;
        let sql = if then_begin {
            "COMMIT; BEGIN"
        } else {
            "COMMIT"
        };
        self.conn.execute(sql).await?;
        self.open = then_begin;
        Ok(())
    }

    /// Ends whatever transaction is open after a failed batch. False when the connection
    /// is unusable.
    async fn rollback(&mut self) -> bool {
        self.open = false;
        match self.conn.execute("ROLLBACK").await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = ?e, "an ingest writer's connection could not roll back; it is replaced");
                false
            }
        }
    }
}

/// Ids a transaction created or looked up, remembered once it commits.
#[derive(Default)]
struct Learned {
    groups: Vec<((i64, String), i64)>,
    agents: Vec<((i64, String), i64)>,
    traces: Vec<(i64, [u8; 32])>,
}

impl Writer {
    fn new(pool: PgPool, shared: PgPool, main: tokio::runtime::Handle) -> Self {
        Self {
            pool,
            shared,
            main,
            groups: HashMap::default(),
            agents: HashMap::default(),
            traces: HashMap::default(),
            copy_rows: Vec::new(),
            session: None,
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        while let Some(first) = rx.recv().await {
            let mut count = first.events.len();
            let mut jobs = vec![first];
            while count < MAX_BATCH_EVENTS {
                match rx.try_recv() {
                    Ok(job) => {
                        count += job.events.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            let batch: Vec<(i64, &NormalizedEvent)> = jobs
                .iter()
                .flat_map(|j| j.events.iter().map(move |e| (j.tenant_id, e)))
                .collect();
            match self.write(&batch, Some(&rx)).await {
                Ok(stored) => {
                    let mut offset = 0;
                    for job in jobs {
                        let n = job.events.len();
                        let _ = job.reply.send(Ok(stored[offset..offset + n].to_vec()));
                        offset += n;
                    }
                }
                // One request must not sink the others it was batched with: retry each alone.
                Err(e) if jobs.len() > 1 => {
                    tracing::warn!(error = ?e, requests = jobs.len(), "ingest batch failed; retrying its requests one by one");
                    drop(batch);
                    for job in jobs {
                        let single: Vec<(i64, &NormalizedEvent)> =
                            job.events.iter().map(|e| (job.tenant_id, e)).collect();
                        let result = self.write(&single, None).await.map_err(failed);
                        let _ = job.reply.send(result);
                    }
                }
                Err(e) => {
                    let err = failed(e);
                    for job in jobs {
                        let _ = job.reply.send(Err(err.clone()));
                    }
                }
            }
        }
    }

    /// Commits a batch. The fast path assumes no event was stored before; a retried
    /// `event_id` makes its insert fail, and the batch is then written again with a lookup
    /// of the stored ones first. When the batch commits with requests `waiting` in the
    /// queue, the next batch's transaction begins in the same round trip.
    async fn write(
        &mut self,
        batch: &[(i64, &NormalizedEvent)],
        waiting: Option<&mpsc::Receiver<Job>>,
    ) -> Result<Vec<StoredEvent>, sqlx::Error> {
        let mut session = match self.session.take() {
            Some(session) => session,
            None => Session {
                conn: self.pool.acquire().await?,
                open: false,
            },
        };
        let mut rows = std::mem::take(&mut self.copy_rows);
        let mut result = self
            .write_once(&mut session, batch, false, &mut rows, waiting)
            .await;
        let mut healthy = result.is_ok() || session.rollback().await;
        if healthy && matches!(&result, Err(e) if violates(e, EVENT_ID_KEY)) {
            result = self
                .write_once(&mut session, batch, true, &mut rows, waiting)
                .await;
            healthy = result.is_ok() || session.rollback().await;
        }
        // A connection that could not even roll back is dropped (the pool tests it and
        // closes it); the next batch takes a fresh one.
        if healthy {
            self.session = Some(session);
        }
        if rows.capacity() <= KEPT_COPY_BUFFER {
            self.copy_rows = rows;
        }
        let (stored, learned) = result?;
        let new_groups: HashSet<i64> = stored
            .iter()
            .filter(|s| s.is_new_group)
            .map(|s| s.group_id)
            .collect();
        crate::metrics::METRICS.batch(stored.len(), new_groups.len());
        refresh_statistics(&self.main, &self.shared, new_groups.len());
        if self.groups.len() + learned.groups.len() > CACHED_IDS {
            self.groups.clear();
        }
        if self.agents.len() + learned.agents.len() > CACHED_IDS {
            self.agents.clear();
        }
        if self.traces.len() + learned.traces.len() > CACHED_IDS {
            self.traces.clear();
        }
        self.groups.extend(learned.groups);
        self.agents.extend(learned.agents);
        let now = std::time::Instant::now();
        self.traces
            .extend(learned.traces.into_iter().map(|key| (key, now)));
        Ok(stored)
    }

    /// Writes one batch in one transaction and returns an outcome per event, in order. A
    /// large batch's COPY rows are built in `rows` (emptied first).
    async fn write_once(
        &self,
        session: &mut Session,
        batch: &[(i64, &NormalizedEvent)],
        lookup_stored: bool,
        rows: &mut Vec<u8>,
        waiting: Option<&mpsc::Receiver<Job>>,
    ) -> Result<(Vec<StoredEvent>, Learned), sqlx::Error> {
        let mut learned = Learned::default();
        let mut steps = Steps::start();
        session.begin().await?;
        let tx: &mut sqlx::PgConnection = &mut session.conn;
        steps.mark("begin");

        // 1. Retries: events whose id is already stored are answered from the stored row.
        let mut existing: HashMap<(i64, uuid::Uuid), (i64, i64)> = HashMap::default();
        if lookup_stored {
            // A generic cached plan for this lookup can cross-join whole tables (measured:
            // 3 s instead of 4 ms for one batch); plan it for its values.
            sqlx::query!("SET LOCAL plan_cache_mode = force_custom_plan")
                .execute(&mut *tx)
                .await?;
            let (t_ids, e_ids): (Vec<i64>, Vec<uuid::Uuid>) =
                batch.iter().map(|(t, e)| (*t, e.event_id)).unzip();
            existing = sqlx::query!(
                r#"SELECT e.tenant_id, e.event_id, e.group_id, g.occurrences
                   FROM UNNEST($1::int8[], $2::uuid[]) AS k(tenant_id, event_id)
                   JOIN error_events e ON e.tenant_id = k.tenant_id AND e.event_id = k.event_id
                   JOIN error_groups g ON g.tenant_id = e.tenant_id AND g.id = e.group_id"#,
                &t_ids,
                &e_ids
            )
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|r| ((r.tenant_id, r.event_id), (r.group_id, r.occurrences)))
            .collect();
        }

        steps.mark("lookup");

        // New events, each id once (a batch may carry the same retry twice).
        let mut seen = HashSet::default();
        let fresh: Vec<(i64, &NormalizedEvent)> = batch
            .iter()
            .filter(|(t, e)| {
                !existing.contains_key(&(*t, e.event_id)) && seen.insert((*t, e.event_id))
            })
            .copied()
            .collect();

        // 2. Agents named by events are registered on first sight.
        let mut agents: HashMap<(i64, &str), i64> = HashMap::default();
        let mut unknown_agents: Vec<(i64, &str)> = Vec::new();
        for (t, e) in &fresh {
            if let Some(name) = e.agent.as_deref()
                && !agents.contains_key(&(*t, name))
            {
                match self.agents.get(&(*t, name.to_owned())) {
                    Some(&id) => {
                        agents.insert((*t, name), id);
                    }
                    None => unknown_agents.push((*t, name)),
                }
            }
        }
        unknown_agents.sort_unstable();
        unknown_agents.dedup();
        if !unknown_agents.is_empty() {
            let (at, an): (Vec<i64>, Vec<String>) = unknown_agents
                .iter()
                .map(|(t, n)| (*t, n.to_string()))
                .unzip();
            sqlx::query!(
                r#"INSERT INTO agents (tenant_id, name) SELECT * FROM UNNEST($1::int8[], $2::text[])
                   ON CONFLICT (tenant_id, name) DO NOTHING"#,
                &at,
                &an
            )
            .execute(&mut *tx)
            .await?;
            let rows = sqlx::query!(
                r#"SELECT a.tenant_id, a.name, a.id
                   FROM UNNEST($1::int8[], $2::text[]) AS k(tenant_id, name)
                   JOIN agents a ON a.tenant_id = k.tenant_id AND a.name = k.name"#,
                &at,
                &an
            )
            .fetch_all(&mut *tx)
            .await?;
            for r in rows {
                if let Some(&(t, name)) = unknown_agents
                    .iter()
                    .find(|(t, n)| *t == r.tenant_id && *n == r.name)
                {
                    agents.insert((t, name), r.id);
                }
                learned.agents.push(((r.tenant_id, r.name), r.id));
            }
        }
        steps.mark("agents");
        let agent_id = |t: i64, e: &NormalizedEvent| {
            e.agent
                .as_deref()
                .and_then(|a| agents.get(&(t, a)).copied())
        };

        // 3. Groups, aggregated in key order (no deadlocks between replicas).
        let mut groups: BTreeMap<(i64, &str), GroupAgg> = BTreeMap::new();
        for (t, e) in &fresh {
            let g = groups
                .entry((*t, e.fingerprint.as_str()))
                .or_insert(GroupAgg {
                    first: e,
                    count: 0,
                    first_seen: e.occurred_at,
                    last_seen: e.occurred_at,
                    worst: e,
                    last_agent: None,
                });
            g.count += 1;
            g.first_seen = g.first_seen.min(e.occurred_at);
            g.last_seen = g.last_seen.max(e.occurred_at);
            if e.severity > g.worst.severity {
                g.worst = e;
            }
            if let Some(id) = agent_id(*t, e) {
                g.last_agent = Some(id);
            }
        }
        // The batch's own copies of the fingerprints, to key the rows the database returns.
        let fingerprints: HashSet<&str> = groups.keys().map(|&(_, fp)| fp).collect();
        // (tenant, fingerprint) → (group id, occurrences after this batch, created now).
        let mut gid: HashMap<(i64, &str), (i64, i64, bool)> = HashMap::default();
        let mut activity: Vec<(i64, i64, &'static str, Option<&'static str>)> = Vec::new();

        // 3a. Groups this writer knows: a plain update by primary key (HOT, no index writes).
        let mut known = UpdateColumns::default();
        for (&(t, fp), g) in &groups {
            if let Some(&id) = self.groups.get(&(t, fp.to_owned())) {
                known.push(t, id, g);
            }
        }
        if !known.tenant.is_empty() {
            let rows = sqlx::query!(
                r#"UPDATE error_groups AS g SET
                       occurrences = g.occurrences + u.count,
                       first_seen = LEAST(g.first_seen, u.first_seen),
                       last_seen = GREATEST(g.last_seen, u.last_seen),
                       severity = CASE WHEN u.rank > g.severity_rank THEN u.severity ELSE g.severity END,
                       severity_rank = GREATEST(g.severity_rank, u.rank),
                       last_agent_id = COALESCE(u.agent, g.last_agent_id),
                       status = CASE WHEN g.status = 'resolved' THEN 'regressed'
                                     WHEN ignore_ends(g.status, g.occurrences + u.count, g.ignored_until, g.ignored_until_count) THEN 'unresolved'
                                     ELSE g.status END,
                       regressed_at = CASE WHEN g.status = 'resolved' THEN now() ELSE g.regressed_at END,
                       reopened_at = CASE WHEN ignore_ends(g.status, g.occurrences + u.count, g.ignored_until, g.ignored_until_count) THEN now() ELSE g.reopened_at END,
                       ignored_until = CASE WHEN ignore_ends(g.status, g.occurrences + u.count, g.ignored_until, g.ignored_until_count) THEN NULL ELSE g.ignored_until END,
                       ignored_until_count = CASE WHEN ignore_ends(g.status, g.occurrences + u.count, g.ignored_until, g.ignored_until_count) THEN NULL ELSE g.ignored_until_count END
                   FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::timestamptz[], $5::timestamptz[],
                               $6::int2[], $7::text[], $8::int8[])
                        AS u(tenant_id, id, count, first_seen, last_seen, rank, severity, agent)
                   WHERE g.tenant_id = u.tenant_id AND g.id = u.id
                   RETURNING g.tenant_id, g.fingerprint, g.id, g.occurrences,
                       (g.status = 'regressed' AND g.regressed_at = now()) AS "regressed!",
                       (g.status = 'unresolved' AND coalesce(g.reopened_at = now(), false)) AS "reopened!""#,
                &known.tenant,
                &known.id,
                &known.count,
                &known.first_seen,
                &known.last_seen,
                &known.rank,
                &known.severity,
                &known.agent as &[Option<i64>]
            )
            .fetch_all(&mut *tx)
            .await?;
            for r in rows {
                if let Some(&fp) = fingerprints.get(r.fingerprint.as_str()) {
                    gid.insert((r.tenant_id, fp), (r.id, r.occurrences, false));
                    if r.regressed {
                        activity.push((r.tenant_id, r.id, "regressed", None));
                    } else if r.reopened {
                        activity.push((r.tenant_id, r.id, "reopened", Some(IGNORE_ENDED)));
                    }
                }
            }
        }

        steps.mark("known_groups");

        // 3b. Every other group (new, or known only to another writer or replica): an upsert.
        // A cached id whose group is gone lands here too.
        let mut cols = GroupColumns::default();
        for (&(t, fp), g) in &groups {
            if !gid.contains_key(&(t, fp)) {
                cols.push(t, fp, g);
            }
        }
        if !cols.tenant.is_empty() {
            let rows = sqlx::query!(
                r#"INSERT INTO error_groups AS g (tenant_id, fingerprint, service, error_type, category, severity,
                       severity_rank, title, first_seen, last_seen, occurrences, last_agent_id, search)
                   SELECT u.*, to_tsvector('simple', u.service || ' ' || u.error_type || ' ' || u.title)
                   FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                       $7::int2[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::int8[], $12::int8[])
                       AS u(tenant_id, fingerprint, service, error_type, category, severity, severity_rank,
                            title, first_seen, last_seen, occurrences, last_agent_id)
                   ON CONFLICT (tenant_id, fingerprint) DO UPDATE SET
                       occurrences = g.occurrences + EXCLUDED.occurrences,
                       first_seen = LEAST(g.first_seen, EXCLUDED.first_seen),
                       last_seen = GREATEST(g.last_seen, EXCLUDED.last_seen),
                       severity = CASE WHEN EXCLUDED.severity_rank > g.severity_rank THEN EXCLUDED.severity ELSE g.severity END,
                       severity_rank = GREATEST(g.severity_rank, EXCLUDED.severity_rank),
                       last_agent_id = COALESCE(EXCLUDED.last_agent_id, g.last_agent_id),
                       status = CASE WHEN g.status = 'resolved' THEN 'regressed'
                                     WHEN ignore_ends(g.status, g.occurrences + EXCLUDED.occurrences, g.ignored_until, g.ignored_until_count) THEN 'unresolved'
                                     ELSE g.status END,
                       regressed_at = CASE WHEN g.status = 'resolved' THEN now() ELSE g.regressed_at END,
                       reopened_at = CASE WHEN ignore_ends(g.status, g.occurrences + EXCLUDED.occurrences, g.ignored_until, g.ignored_until_count) THEN now() ELSE g.reopened_at END,
                       ignored_until = CASE WHEN ignore_ends(g.status, g.occurrences + EXCLUDED.occurrences, g.ignored_until, g.ignored_until_count) THEN NULL ELSE g.ignored_until END,
                       ignored_until_count = CASE WHEN ignore_ends(g.status, g.occurrences + EXCLUDED.occurrences, g.ignored_until, g.ignored_until_count) THEN NULL ELSE g.ignored_until_count END
                   RETURNING tenant_id, fingerprint, id, occurrences,
                       (xmax = 0) AS "inserted!",
                       (status = 'regressed' AND regressed_at = now()) AS "regressed!",
                       (status = 'unresolved' AND coalesce(reopened_at = now(), false)) AS "reopened!""#,
                &cols.tenant,
                &cols.fingerprint,
                &cols.service,
                &cols.error_type,
                &cols.category,
                &cols.severity,
                &cols.rank,
                &cols.title,
                &cols.first_seen,
                &cols.last_seen,
                &cols.count,
                &cols.agent as &[Option<i64>]
            )
            .fetch_all(&mut *tx)
            .await?;
            for r in rows {
                if let Some(&fp) = fingerprints.get(r.fingerprint.as_str()) {
                    gid.insert((r.tenant_id, fp), (r.id, r.occurrences, r.inserted));
                    if r.inserted {
                        activity.push((r.tenant_id, r.id, "first_seen", None));
                    } else if r.regressed {
                        activity.push((r.tenant_id, r.id, "regressed", None));
                    } else if r.reopened {
                        activity.push((r.tenant_id, r.id, "reopened", Some(IGNORE_ENDED)));
                    }
                }
                learned.groups.push(((r.tenant_id, r.fingerprint), r.id));
            }
        }
        steps.mark("new_groups");
        if gid.len() != groups.len() {
            return Err(sqlx::Error::Protocol(
                "an error group upsert returned fewer rows than it was given".into(),
            ));
        }

        // 4. Activity for new, regressed and reopened groups (stored with the events below).
        let (mut at, mut ag, mut ak, mut an) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (t, g, k, n) in activity {
            at.push(t);
            ag.push(g);
            ak.push(k);
            an.push(n);
        }
        // One notification per tenant, delivered by PostgreSQL only if this commits (sent
        // with the hourly counts below).
        let mut changed: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for (&(t, _), &(id, _, _)) in &gid {
            changed.entry(t).or_default().push(id);
        }
        let payloads: Vec<String> = changed
            .into_iter()
            .flat_map(|(tenant_id, ids)| {
                ids.chunks(live::MAX_IDS)
                    .map(|chunk| {
                        serde_json::to_string(&live::GroupsChanged {
                            tenant_id,
                            groups: chunk.to_vec(),
                        })
                        .unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
            })
            .collect();

        // 5. Stack traces not stored yet (or not refreshed for an hour), each once.
        let now = std::time::Instant::now();
        let mut traces: BTreeMap<(i64, [u8; 32]), &str> = BTreeMap::new();
        for (t, e) in &fresh {
            if let (Some(hash), Some(text)) = (e.stack_hash, e.stack_trace.as_deref()) {
                let recent = self
                    .traces
                    .get(&(*t, hash))
                    .is_some_and(|at| now.duration_since(*at) < TRACE_TOUCH);
                if !recent {
                    traces.entry((*t, hash)).or_insert(text);
                }
            }
        }
        let (mut st, mut sh, mut sx) = (Vec::new(), Vec::new(), Vec::new());
        for (&(t, hash), &text) in &traces {
            st.push(t);
            sh.push(hash.to_vec());
            sx.push(text);
        }
        learned.traces = traces.into_keys().collect();

        if !fresh.is_empty() {
            // Each new event's group, looked up once for its row and its hourly count.
            let group_of: Vec<i64> = fresh
                .iter()
                .map(|(t, e)| gid[&(*t, e.fingerprint.as_str())].0)
                .collect();

            // 6. Every new event: a large batch with COPY first, a small one in the statement
            // below (COPY costs more round trips but less per row).
            let mut ev = EventColumns::default();
            if fresh.len() <= INLINE_EVENTS {
                for ((t, e), &group) in fresh.iter().zip(&group_of) {
                    ev.push(*t, e, group, agent_id(*t, e));
                }
            } else {
                rows.clear();
                rows.reserve(fresh.len() * 640);
                rows.extend_from_slice(COPY_HEADER);
                for ((t, e), &group) in fresh.iter().zip(&group_of) {
                    copy_row(rows, *t, e, group, agent_id(*t, e));
                }
                rows.extend_from_slice(&COPY_TRAILER);
                let mut copy = tx
                    .copy_in_raw(
                        "COPY error_events (tenant_id, event_id, group_id, agent_id, service, severity, \
                         message, details, stack_hash, environment, release, tags, occurred_at) \
                         FROM STDIN (FORMAT binary)",
                    )
                    .await?;
                copy.send(rows.as_slice()).await?;
                copy.finish().await?;
            }
            steps.mark("events");

            // 7. Hourly counts for charts.
            let mut hourly: BTreeMap<(i64, i64, chrono::DateTime<chrono::Utc>), i64> =
                BTreeMap::new();
            for ((t, e), &group) in fresh.iter().zip(&group_of) {
                *hourly
                    .entry((*t, group, hour_of(e.occurred_at)))
                    .or_default() += 1;
            }
            let (mut ht, mut hg, mut hh, mut hc) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for ((t, g, h), c) in hourly {
                ht.push(t);
                hg.push(g);
                hh.push(h);
                hc.push(c);
            }

            // The small batch's events, the hourly counts, new traces, activity, the fix and
            // alert triggers it causes and the notifications in one statement: one round trip
            // for all of it. New and regressed groups of companies with an automatic playbook
            // (or an alert rule about them) wait for the fix (alert) engine in this
            // transaction, so none is lost; a notification wakes it.
            sqlx::query!(
                r#"WITH events AS (
                       INSERT INTO error_events (tenant_id, event_id, group_id, agent_id, service, severity,
                           message, details, stack_hash, environment, release, tags, occurred_at)
                       SELECT e.tenant_id, e.event_id, e.group_id, e.agent_id, e.service, e.severity,
                           e.message, e.details::json, e.stack_hash, e.environment, e.release,
                           e.tags::json, e.occurred_at
                       FROM UNNEST($1::int8[], $2::uuid[], $3::int8[], $4::int8[], $5::text[], $6::text[],
                                   $7::text[], $8::text[], $9::bytea[], $10::text[], $11::text[],
                                   $12::text[], $13::timestamptz[])
                            AS e(tenant_id, event_id, group_id, agent_id, service, severity, message,
                                 details, stack_hash, environment, release, tags, occurred_at)
                   ), hourly AS (
                       INSERT INTO group_counts_hourly AS h (tenant_id, group_id, hour, count)
                       SELECT * FROM UNNEST($14::int8[], $15::int8[], $16::timestamptz[], $17::int8[])
                       ON CONFLICT (tenant_id, group_id, hour) DO UPDATE SET count = h.count + EXCLUDED.count
                   ), traces AS (
                       INSERT INTO stack_traces AS s (tenant_id, hash, trace)
                       SELECT * FROM UNNEST($18::int8[], $19::bytea[], $20::text[])
                       ON CONFLICT (tenant_id, hash) DO UPDATE SET last_seen = now()
                       WHERE s.last_seen < now() - interval '1 hour'
                   ), act AS (
                       SELECT * FROM UNNEST($21::int8[], $22::int8[], $23::text[], $24::text[]) AS x(t, g, k, n)
                   ), logged AS (
                       INSERT INTO activity (tenant_id, group_id, kind, actor, notes)
                       SELECT t, g, k, 'system', n FROM act
                   ), fixes AS (
                       INSERT INTO fix_triggers (tenant_id, group_id, reason)
                       SELECT x.t, x.g, CASE x.k WHEN 'first_seen' THEN 'new' ELSE 'regressed' END
                       FROM act x
                       WHERE x.k IN ('first_seen', 'regressed')
                         AND EXISTS (SELECT 1 FROM playbooks p
                                     WHERE p.tenant_id = x.t AND p.enabled AND p.mode = 'automatic')
                       RETURNING 1
                   ), alerting AS (
                       INSERT INTO alert_triggers (tenant_id, kind, group_id)
                       SELECT x.t, CASE x.k WHEN 'first_seen' THEN 'new_group' ELSE 'regression' END, x.g
                       FROM act x
                       WHERE x.k IN ('first_seen', 'regressed')
                         AND EXISTS (SELECT 1 FROM alert_rules a WHERE a.tenant_id = x.t AND a.enabled
                                     AND a.kind = CASE x.k WHEN 'first_seen' THEN 'new_group' ELSE 'regression' END)
                       RETURNING 1
                   )
                   SELECT pg_notify($25, p) FROM UNNEST($26::text[]) AS p
                   UNION ALL SELECT pg_notify($27, 'trigger') WHERE EXISTS (SELECT 1 FROM fixes)
                   UNION ALL SELECT pg_notify($28, 'alert') WHERE EXISTS (SELECT 1 FROM alerting)"#,
                &ev.tenant,
                &ev.event_id,
                &ev.group,
                &ev.agent as &[Option<i64>],
                &ev.service as &[&str],
                &ev.severity as &[&str],
                &ev.message as &[&str],
                &ev.details as &[Option<&str>],
                &ev.stack_hash as &[Option<Vec<u8>>],
                &ev.environment as &[Option<&str>],
                &ev.release as &[Option<&str>],
                &ev.tags as &[Option<&str>],
                &ev.occurred_at,
                &ht,
                &hg,
                &hh,
                &hc,
                &st,
                &sh,
                &sx as &[&str],
                &at,
                &ag,
                &ak as &[&str],
                &an as &[Option<&str>],
                live::CHANNEL,
                &payloads,
                crate::fixes::ssr::CHANNEL,
                crate::alerts::ssr::CHANNEL
            )
            .execute(&mut *tx)
            .await?;
            steps.mark("counts_traces_activity");
        }
        session
            .commit(waiting.is_some_and(|rx| !rx.is_empty()))
            .await?;
        steps.mark("commit");
        steps.log_if_slow(batch.len(), groups.len());

        // Outcomes in request order: new events report their group; retries the stored one.
        let stored = batch
            .iter()
            .map(|(t, e)| match existing.get(&(*t, e.event_id)) {
                Some(&(group_id, occurrences)) => StoredEvent {
                    event_id: e.event_id,
                    group_id,
                    is_new_group: false,
                    occurrences,
                },
                None => {
                    let (group_id, occurrences, inserted) = gid[&(*t, e.fingerprint.as_str())];
                    StoredEvent {
                        event_id: e.event_id,
                        group_id,
                        is_new_group: inserted,
                        occurrences,
                    }
                }
            })
            .collect();
        Ok((stored, learned))
    }
}

/// Where one batch's time went, step by step (logged only when the batch was slow).
struct Steps {
    /// When the last step ended (the batch's start before the first).
    last: std::time::Instant,
    spent: Vec<(&'static str, std::time::Duration)>,
}

impl Steps {
    fn start() -> Self {
        Self {
            last: std::time::Instant::now(),
            spent: Vec::with_capacity(8),
        }
    }

    fn mark(&mut self, step: &'static str) {
        let now = std::time::Instant::now();
        self.spent.push((step, now - self.last));
        self.last = now;
    }

    /// The batch's total and its steps (`begin=0.2ms …`) when it took at least `SLOW_BATCH`.
    fn slow(&self) -> Option<(std::time::Duration, String)> {
        let total: std::time::Duration = self.spent.iter().map(|(_, d)| *d).sum();
        (total >= SLOW_BATCH).then(|| {
            let steps = self
                .spent
                .iter()
                .map(|(step, d)| format!("{step}={:.1}ms", d.as_secs_f64() * 1e3))
                .collect::<Vec<_>>()
                .join(" ");
            (total, steps)
        })
    }

    fn log_if_slow(&self, events: usize, groups: usize) {
        if let Some((total, steps)) = self.slow() {
            tracing::warn!(
                events,
                groups,
                total_ms = total.as_secs_f64() * 1e3,
                steps,
                "slow ingest batch"
            );
        }
    }
}

/// Groups this process created, and at how many it next analyzes `error_groups`.
static GROUPS_CREATED: AtomicU64 = AtomicU64::new(0);
static NEXT_ANALYZE: AtomicU64 = AtomicU64::new(FIRST_ANALYZE);
const FIRST_ANALYZE: u64 = 64;
/// Past this many groups of its own the process leaves statistics to autovacuum.
const LAST_ANALYZE: u64 = 1 << 18;

/// Keeps the planner's picture of `error_groups` current while it grows from empty. A plan
/// PostgreSQL caches for a statement (the known groups' update, the activity's foreign-key
/// check) was made with the statistics of its time, and one made on a near-empty table scans
/// the table whole (or a wrong index) for every batch until autovacuum analyzes it, up to a
/// minute later — seconds in which each batch's cost grows with the table. So a process
/// analyzes the table itself when the groups it created reach 64, 256, 1,024, … (in the
/// background; the analysis invalidates the cached plans, which are then made again).
fn refresh_statistics(main: &tokio::runtime::Handle, pool: &PgPool, created: usize) {
    if created == 0 {
        return;
    }
    let total = GROUPS_CREATED.fetch_add(created as u64, Ordering::Relaxed) + created as u64;
    let next = NEXT_ANALYZE.load(Ordering::Relaxed);
    if total < next
        || next > LAST_ANALYZE
        || NEXT_ANALYZE
            .compare_exchange(next, next * 4, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let pool = pool.clone();
    main.spawn(async move {
        if let Err(e) = sqlx::query!("ANALYZE error_groups").execute(&pool).await {
            tracing::warn!(error = ?e, "analyzing error_groups failed");
        }
    });
}

/// Logs a failed write; the caller learns that nothing was stored and may retry.
fn failed(e: sqlx::Error) -> AppError {
    tracing::error!(error = ?e, "storing events failed; nothing was acknowledged");
    AppError::Unavailable("storing the events failed; nothing was stored, retry".into())
}

fn violates(e: &sqlx::Error, constraint: &str) -> bool {
    e.as_database_error()
        .and_then(|d| d.constraint())
        .is_some_and(|c| c == constraint)
}

/// Per-group aggregate of one batch.
struct GroupAgg<'a> {
    first: &'a NormalizedEvent,
    count: i64,
    first_seen: chrono::DateTime<chrono::Utc>,
    last_seen: chrono::DateTime<chrono::Utc>,
    worst: &'a NormalizedEvent,
    last_agent: Option<i64>,
}

fn hour_of(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::{DurationRound, TimeDelta};
    t.duration_trunc(TimeDelta::hours(1)).unwrap_or(t)
}

/// Columns of a small batch's events, inserted with one `INSERT … SELECT FROM UNNEST`.
#[derive(Default)]
struct EventColumns<'a> {
    tenant: Vec<i64>,
    event_id: Vec<uuid::Uuid>,
    group: Vec<i64>,
    agent: Vec<Option<i64>>,
    service: Vec<&'a str>,
    severity: Vec<&'a str>,
    message: Vec<&'a str>,
    details: Vec<Option<&'a str>>,
    stack_hash: Vec<Option<Vec<u8>>>,
    environment: Vec<Option<&'a str>>,
    release: Vec<Option<&'a str>>,
    tags: Vec<Option<&'a str>>,
    occurred_at: Vec<chrono::DateTime<chrono::Utc>>,
}

impl<'a> EventColumns<'a> {
    fn push(&mut self, tenant: i64, e: &'a NormalizedEvent, group: i64, agent: Option<i64>) {
        self.tenant.push(tenant);
        self.event_id.push(e.event_id);
        self.group.push(group);
        self.agent.push(agent);
        self.service.push(&e.service);
        self.severity.push(e.severity.as_str());
        self.message.push(&e.message);
        self.details.push(e.details_json.as_deref());
        self.stack_hash.push(e.stack_hash.map(|h| h.to_vec()));
        self.environment.push(e.environment.as_deref());
        self.release.push(e.release.as_deref());
        self.tags.push(e.tags_json.as_deref());
        self.occurred_at.push(e.occurred_at);
    }
}

/// Columns of the update of known groups.
#[derive(Default)]
struct UpdateColumns {
    tenant: Vec<i64>,
    id: Vec<i64>,
    count: Vec<i64>,
    first_seen: Vec<chrono::DateTime<chrono::Utc>>,
    last_seen: Vec<chrono::DateTime<chrono::Utc>>,
    rank: Vec<i16>,
    severity: Vec<String>,
    agent: Vec<Option<i64>>,
}

impl UpdateColumns {
    fn push(&mut self, tenant: i64, id: i64, g: &GroupAgg) {
        self.tenant.push(tenant);
        self.id.push(id);
        self.count.push(g.count);
        self.first_seen.push(g.first_seen);
        self.last_seen.push(g.last_seen);
        self.rank.push(g.worst.severity as i16); // Info = 0 … Critical = 3, as declared
        self.severity.push(g.worst.severity.as_str().to_owned());
        self.agent.push(g.last_agent);
    }
}

/// Columns of the group upsert.
#[derive(Default)]
struct GroupColumns {
    tenant: Vec<i64>,
    fingerprint: Vec<String>,
    service: Vec<String>,
    error_type: Vec<String>,
    category: Vec<String>,
    severity: Vec<String>,
    rank: Vec<i16>,
    title: Vec<String>,
    first_seen: Vec<chrono::DateTime<chrono::Utc>>,
    last_seen: Vec<chrono::DateTime<chrono::Utc>>,
    count: Vec<i64>,
    agent: Vec<Option<i64>>,
}

impl GroupColumns {
    fn push(&mut self, tenant: i64, fingerprint: &str, g: &GroupAgg) {
        self.tenant.push(tenant);
        self.fingerprint.push(fingerprint.to_owned());
        self.service.push(g.first.service.clone());
        self.error_type.push(g.first.error_type.clone());
        self.category.push(g.first.category().as_str().to_owned());
        self.severity.push(g.worst.severity.as_str().to_owned());
        self.rank.push(g.worst.severity as i16);
        self.title.push(g.first.title.clone());
        self.first_seen.push(g.first_seen);
        self.last_seen.push(g.last_seen);
        self.count.push(g.count);
        self.agent.push(g.last_agent);
    }
}

/// COPY's binary format: its signature, no flags, no header extension.
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// A field count of -1 ends the data.
const COPY_TRAILER: [u8; 2] = (-1i16).to_be_bytes();
/// PostgreSQL counts time from 2000-01-01 00:00:00 UTC, in microseconds.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Appends one `error_events` row in COPY's binary format: no escaping here and no parsing of
/// numbers, UUIDs and times on PostgreSQL's side.
fn copy_row(out: &mut Vec<u8>, tenant: i64, e: &NormalizedEvent, group: i64, agent: Option<i64>) {
    out.extend_from_slice(&13i16.to_be_bytes());
    copy_field(out, Some(&tenant.to_be_bytes()));
    copy_field(out, Some(e.event_id.as_bytes()));
    copy_field(out, Some(&group.to_be_bytes()));
    copy_field(out, agent.map(i64::to_be_bytes).as_ref().map(|a| &a[..]));
    for text in [
        Some(e.service.as_str()),
        Some(e.severity.as_str()),
        Some(e.message.as_str()),
        e.details_json.as_deref(),
    ] {
        copy_field(out, text.map(str::as_bytes));
    }
    copy_field(out, e.stack_hash.as_ref().map(|h| &h[..]));
    for text in [
        e.environment.as_deref(),
        e.release.as_deref(),
        e.tags_json.as_deref(),
    ] {
        copy_field(out, text.map(str::as_bytes));
    }
    let micros = e.occurred_at.timestamp_micros() - PG_EPOCH_MICROS;
    copy_field(out, Some(&micros.to_be_bytes()));
}

/// One field: its length and bytes, or -1 for NULL (`text` and `json` are sent as their UTF-8
/// text, `bytea` as its bytes, `int8` and `timestamptz` as big-endian integers).
fn copy_field(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(bytes) => {
            // Every field is bounded far below 2 GiB by the event's validation.
            out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A commit that begins the next transaction leaves the writer's next statements inside
    /// it (a rollback undoes them); a plain commit does not. Needs PostgreSQL (`DATABASE_URL`,
    /// which `cargo xtask test` sets); a temporary table keeps it to its own connection.
    #[tokio::test]
    async fn a_commit_can_begin_the_next_transaction() {
        let Ok(url) = std::env::var("DATABASE_URL") else {
            eprintln!("a_commit_can_begin_the_next_transaction: no DATABASE_URL, not run");
            return;
        };
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        let mut s = Session {
            conn: pool.acquire().await.unwrap(),
            open: false,
        };
        s.conn.execute("CREATE TEMP TABLE t (v int)").await.unwrap();
        s.begin().await.unwrap();
        s.conn.execute("INSERT INTO t VALUES (1)").await.unwrap();
        s.commit(true).await.unwrap();
        assert!(s.open);
        s.begin().await.unwrap();
        s.conn.execute("INSERT INTO t VALUES (2)").await.unwrap();
        assert!(s.rollback().await);
        s.begin().await.unwrap();
        s.conn.execute("INSERT INTO t VALUES (3)").await.unwrap();
        s.commit(false).await.unwrap();
        assert!(!s.open);
        s.conn.execute("INSERT INTO t VALUES (4)").await.unwrap();
        assert!(
            s.rollback().await,
            "a rollback outside a transaction only warns"
        );
        let kept: Vec<i32> = sqlx::query_scalar("SELECT v FROM t ORDER BY v")
            .fetch_all(&mut *s.conn)
            .await
            .unwrap();
        assert_eq!(kept, [1, 3, 4]);
    }

    #[test]
    fn copy_fields_carry_their_length_or_null() {
        let mut out = Vec::new();
        copy_field(&mut out, Some("ünï".as_bytes()));
        copy_field(&mut out, None);
        copy_field(&mut out, Some(b""));
        assert_eq!(
            out,
            [
                &[0, 0, 0, 5][..],
                "ünï".as_bytes(),
                &[0xff; 4],
                &[0, 0, 0, 0]
            ]
            .concat()
        );
    }

    #[test]
    fn only_slow_batches_report_their_steps() {
        let ms = std::time::Duration::from_millis;
        let batch = |spent: Vec<(&'static str, std::time::Duration)>| Steps {
            last: std::time::Instant::now(),
            spent,
        };
        let slow = batch(vec![
            ("begin", ms(1)),
            ("events", ms(4)),
            ("commit", ms(120)),
        ]);
        assert_eq!(
            slow.slow(),
            Some((
                ms(125),
                "begin=1.0ms events=4.0ms commit=120.0ms".to_owned()
            ))
        );
        assert_eq!(
            batch(vec![("begin", ms(1)), ("commit", ms(98))]).slow(),
            None
        );
        assert!(batch(vec![("commit", SLOW_BATCH)]).slow().is_some());
    }

    #[test]
    fn writers_split_groups_evenly_and_stably() {
        let mut per_writer = [0usize; 3];
        for i in 0..3000u32 {
            let fp = super::super::pure::fingerprint("svc", &format!("E{i}"), "m", None);
            let w = writer_for(7, &fp, 3);
            assert_eq!(w, writer_for(7, &fp, 3), "same group, same writer");
            per_writer[w] += 1;
        }
        assert!(per_writer.iter().all(|&n| n > 800), "{per_writer:?}");
        assert_eq!(writer_for(1, "not-hex", 1), 0);
    }
}
