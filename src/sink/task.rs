//! The sink task: takes updates from a never-blocking inbox, keeps a mirror of the whole state, coalesces
//! queue updates, writes batches, heartbeats, and after any Redis failure reconnects (capped exponential
//! backoff with jitter), rewrites everything and publishes `resync`.

use super::fence::{ClientTag, Fenced};
use super::handle::{Inbox, Shared, SinkHandle};
use super::message::ResyncReason;
use super::state::{Latest, Mirror};
use super::writer::{Batch, InFlight, Writer};
use super::{Health, RedisConn, SinkError, Update};
use crate::config::RedisConfig;
use crate::metrics as metrics_names;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// `meta.heartbeat_at` cadence (DESIGN: every second).
const HEARTBEAT_INTERVAL_MS: u64 = 1_000;
/// First reconnect delay; doubles per failure up to the cap.
const RECONNECT_MIN_MS: u64 = 100;
/// Cap of the reconnect delay: an outage is noticed and repaired within ~5 s of Redis coming back.
const RECONNECT_MAX_MS: u64 = 5_000;
/// After cancellation, time for the final flush: what the 5 s stop budget leaves after the daemon's wait.
const FINAL_FLUSH_MS: u64 = 1_500;
/// Call hashes expire in Redis after `call_ttl`; the mirror forgets them on the same schedule.
const CALL_PRUNE_INTERVAL_MS: u64 = 60_000;
/// Shortest sleep of the task's loop between two timers (a `send` still wakes it at once).
const MIN_WAKE_GAP_MS: u64 = 1;
/// Changes per MULTI/EXEC when a backlog has built up. Large enough that the round trip is amortized
/// (a change costs Redis a few µs, the round trip tens to hundreds), small enough that one transaction stays
/// around a megabyte and a few ms of Redis time: other clients keep being served and `RESPONSE_TIMEOUT_MS`
/// stays far away.
const MAX_BATCH_CHANGES: usize = 1_000;
/// Batches sent before the oldest one's reply is read: two keep Redis busy (one executing, one queued);
/// more would only hold more unconfirmed work when a write fails. Single node only: the cluster client
/// routes every request through an unordered set of its own, so two requests may reach the node in either
/// order, and batches go one at a time there.
const MAX_BATCHES_IN_FLIGHT: usize = 2;

/// Starts the sink task on `tracker`. It runs until `cancel`, then flushes within `FINAL_FLUSH_MS`.
pub fn spawn(settings: RedisConfig, cancel: CancellationToken, tracker: &TaskTracker) -> SinkHandle {
    let shared = Arc::new(Shared {
        inbox: Mutex::new(Inbox::default()),
        wake: Notify::new(),
        written: watch::Sender::new(0),
        connected: watch::Sender::new(false),
        wakeups: AtomicU64::new(0),
    });
    let task = SinkTask::new(settings, Arc::clone(&shared));
    tracker.spawn(task.run(cancel));
    SinkHandle { shared }
}

struct SinkTask {
    settings: RedisConfig,
    shared: Arc<Shared>,
    writer: Writer,
    conn: Option<RedisConn>,
    /// What Redis should hold; source of full rewrites.
    mirror: Mirror,
    /// Updates taken from the inbox and not yet written (queues wait here for their coalescing interval).
    pending: Latest,
    queue_sent: HashMap<String, Instant>,
    health: Health,
    /// A full state arrived (deleting what Redis has beyond the mirror is then correct).
    authoritative: bool,
    needs_rewrite: Option<ResyncReason>,
    taken: u64,
    /// When the oldest change taken and not yet in Redis reached the sink.
    oldest_unwritten: Option<std::time::Instant>,
    /// The connection writes last went to: the next connection closes it server-side before writing.
    last_client: Option<ClientTag>,
    reconnect_at: Instant,
    reconnect_delay_ms: u64,
    /// Since when Redis has been unreachable, once the outage was reported (WARN once, INFO when it ends).
    down_since: Option<Instant>,
    heartbeat_at: Instant,
    prune_at: Instant,
}

impl SinkTask {
    fn new(settings: RedisConfig, shared: Arc<Shared>) -> Self {
        let now = Instant::now();
        Self {
            writer: Writer::new(&settings),
            settings,
            shared,
            conn: None,
            mirror: Mirror::default(),
            pending: Latest::default(),
            queue_sent: HashMap::new(),
            health: Health::default(),
            authoritative: false,
            needs_rewrite: Some(ResyncReason::Startup),
            taken: 0,
            oldest_unwritten: None,
            last_client: None,
            reconnect_at: now,
            reconnect_delay_ms: RECONNECT_MIN_MS,
            down_since: None,
            heartbeat_at: now,
            prune_at: now + Duration::from_millis(CALL_PRUNE_INTERVAL_MS),
        }
    }

    async fn run(mut self, cancel: CancellationToken) {
        tracing::info!(url = %self.settings.url.masked(), pbx = %self.settings.pbx_id, "Redis sink started");
        loop {
            self.shared.wakeups.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(metrics_names::SINK_WAKEUPS).increment(1);
            self.absorb();
            self.step(false).await;
            let wake_at = self.next_wake();
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                () = self.shared.wake.notified() => {}
                () = tokio::time::sleep_until(wake_at) => {}
            }
        }
        self.shutdown().await;
    }

    /// Final flush: everything pending, queue coalescing ignored, bounded by `FINAL_FLUSH_MS`.
    async fn shutdown(mut self) {
        self.absorb();
        let deadline = Duration::from_millis(FINAL_FLUSH_MS);
        self.reconnect_at = Instant::now();
        let flushed = tokio::time::timeout(deadline, async {
            self.step(true).await;
            self.pending.is_empty() && self.needs_rewrite.is_none()
        })
        .await;
        match flushed {
            Ok(true) => tracing::info!(seq = self.writer.seq(), "Redis sink flushed and stopped"),
            _ if self.needs_rewrite.is_some() => tracing::warn!(
                entities = self.mirror.len() + self.pending.len(),
                "Redis sink stopped before it could rewrite the state; the next start writes it whole"
            ),
            _ => tracing::warn!(changes = self.pending.len(), "Redis sink stopped with unwritten changes"),
        }
    }

    /// Moves the inbox into `pending` (and a full state into the mirror). The updates are moved, never
    /// copied: the inbox already holds one update per entity.
    fn absorb(&mut self) {
        let inbox = {
            let mut guard = self.shared.inbox.lock().unwrap_or_else(PoisonError::into_inner);
            let taken = std::mem::take(&mut *guard);
            // `submitted` counts on across takes.
            guard.submitted = taken.submitted;
            taken
        };
        self.taken = inbox.submitted;
        if let Some(oldest) = inbox.oldest {
            self.oldest_unwritten.get_or_insert(oldest);
        }
        if let Some(state) = inbox.resync {
            let now = Instant::now();
            self.fold_pending(now);
            self.mirror.keep_only_calls();
            for update in state {
                self.mirror.fold(update, now);
            }
            self.authoritative = true;
            self.needs_rewrite = Some(ResyncReason::Rebuild);
        }
        self.pending.merge(inbox.updates);
        if let Some(health) = inbox.health
            && health != self.health
        {
            self.health = health;
            self.heartbeat_at = Instant::now();
        }
    }

    /// Pending updates become part of the state the next full rewrite writes.
    fn fold_pending(&mut self, now: Instant) {
        for update in std::mem::take(&mut self.pending).into_vec() {
            self.mirror.fold(update, now);
        }
    }

    /// Does whatever is due: connect, full rewrite, delta batches, heartbeat.
    async fn step(&mut self, force: bool) {
        let now = Instant::now();
        // Pruning is bookkeeping of the mirror, due connected or not: a `prune_at` left in the past while
        // disconnected would make every later sleep return at once.
        if now >= self.prune_at {
            self.mirror.prune_calls(now, Duration::from_secs(self.settings.call_ttl_s));
            self.prune_at = now + Duration::from_millis(CALL_PRUNE_INTERVAL_MS);
        }
        if self.conn.is_none() && now >= self.reconnect_at {
            self.connect().await;
        }
        let Some(mut conn) = self.conn.clone() else {
            self.gauges();
            return;
        };
        let result = self.write_due(&mut conn, force).await;
        if let Err(err) = result {
            self.fail(&err);
            return;
        }
        if self.pending.is_empty() && self.needs_rewrite.is_none() {
            self.shared.written.send_replace(self.taken);
            if let Some(oldest) = self.oldest_unwritten.take() {
                metrics::histogram!(metrics_names::PUBLISH_LATENCY).record(oldest.elapsed().as_secs_f64());
            }
        }
        self.gauges();
    }

    /// Dirty entities (the whole state while a rewrite is due) and the last seq, for `/metrics`.
    fn gauges(&self) {
        let dirty = self.pending.len() + if self.needs_rewrite.is_some() { self.mirror.len() } else { 0 };
        metrics::gauge!(metrics_names::DIRTY_ENTITIES).set(dirty as f64);
        metrics::gauge!(metrics_names::SEQ).set(self.writer.seq() as f64);
    }

    async fn write_due(&mut self, conn: &mut RedisConn, force: bool) -> Result<(), SinkError> {
        if let Some(reason) = self.needs_rewrite {
            self.rewrite(conn, reason).await?;
        }
        let ready = self.take_ready(force);
        if !ready.is_empty() {
            self.write_deltas(conn, ready).await?;
        }
        if Instant::now() >= self.heartbeat_at {
            self.writer.heartbeat(conn, self.health).await?;
            self.heartbeat_at = Instant::now() + Duration::from_millis(HEARTBEAT_INTERVAL_MS);
        }
        Ok(())
    }

    async fn rewrite(&mut self, conn: &mut RedisConn, reason: ResyncReason) -> Result<(), SinkError> {
        let now = Instant::now();
        self.fold_pending(now);
        // With nothing to write yet and no full state, only `meta` and the `resync` go out: existing hashes
        // of a previous run stay readable until the engine's first full state replaces them.
        let state = self.mirror.updates();
        self.writer.rewrite_all(conn, state.iter().copied(), self.authoritative, self.health, reason).await?;
        drop(state);
        metrics::counter!(metrics_names::REDIS_BATCHES).increment(1);
        metrics::counter!(metrics_names::REDIS_CHANGES).increment(self.mirror.len() as u64);
        for name in self.mirror.queue_names() {
            self.queue_sent.insert(name.to_owned(), now);
        }
        self.needs_rewrite = None;
        self.heartbeat_at = now + Duration::from_millis(HEARTBEAT_INTERVAL_MS);
        Ok(())
    }

    /// Takes the pending updates that may be written now: all but queues still inside their coalescing
    /// interval, which stay pending.
    fn take_ready(&mut self, force: bool) -> Vec<Update> {
        let interval = Duration::from_millis(self.settings.queue_update_interval_ms);
        let now = Instant::now();
        let mut ready = Vec::with_capacity(self.pending.len());
        let mut held = Latest::default();
        for update in std::mem::take(&mut self.pending).into_vec() {
            let hold = !force
                && matches!(&update, Update::Queue { name, .. }
                    if self.queue_sent.get(name).is_some_and(|sent| now < *sent + interval));
            if hold {
                held.insert(update);
            } else {
                ready.push(update);
            }
        }
        self.pending = held;
        ready
    }

    /// Writes `ready` in MULTI/EXEC batches of at most `MAX_BATCH_CHANGES`, keeping `MAX_BATCHES_IN_FLIGHT`
    /// of them on a single-node connection: Redis executes one while the next is already in its socket
    /// buffer, and the client reads the replies of one while Redis works on the next. (Strictly one at a
    /// time, Redis sat idle for every reply's trip and parse: ~70 % busy at ~95 k changes/s.)
    ///
    /// `ready` holds one update per entity, so no entity is in two batches at once and each batch's hash
    /// modes follow from confirmed writes alone. A failed batch means nothing about the later ones (an
    /// aborted `EXEC` leaves the connection up, so a later batch may still be applied): their replies are
    /// awaited so that nothing is left outstanding on the connection, then all of it goes into the full
    /// rewrite, whose `resync` tells consumers to take a new snapshot.
    async fn write_deltas(&mut self, conn: &RedisConn, ready: Vec<Update>) -> Result<(), SinkError> {
        let mut rest = ready.into_iter();
        let max_in_flight = if conn.is_single_node() { MAX_BATCHES_IN_FLIGHT } else { 1 };
        let mut flight: VecDeque<InFlight> = VecDeque::with_capacity(max_in_flight);
        let mut built_seq = self.writer.seq();
        loop {
            while flight.len() < max_in_flight {
                let Some(batch) = self.prepare(&mut rest, built_seq) else { break };
                built_seq = batch.last_seq;
                let mut sent = batch.send(conn);
                sent.hand_over().await;
                flight.push_back(sent);
            }
            let Some(mut oldest) = flight.pop_front() else { return Ok(()) };
            if let Err(err) = oldest.reply().await {
                let mut lost = oldest.updates;
                for mut later in flight {
                    // Its outcome changes nothing: applied or not, the rewrite writes it again.
                    let _ = later.reply().await;
                    lost.extend(later.updates);
                }
                let now = Instant::now();
                for update in lost.into_iter().chain(rest) {
                    self.mirror.fold(update, now);
                }
                return Err(err);
            }
            self.writer.confirm(oldest.last_seq);
            metrics::counter!(metrics_names::REDIS_BATCHES).increment(1);
            metrics::counter!(metrics_names::REDIS_CHANGES).increment(oldest.updates.len() as u64);
            // The bookkeeping of the confirmed batch happens while the later ones are in Redis.
            self.written(oldest.updates);
        }
    }

    /// `updates` are in Redis (their seq already confirmed): record when queues were sent and what was written.
    fn written(&mut self, updates: Vec<Update>) {
        let now = Instant::now();
        for update in updates {
            if let Update::Queue { name, .. } = &update {
                self.queue_sent.insert(name.clone(), now);
            }
            self.mirror.written(update, now);
        }
    }

    /// The next batch from `rest`, numbered after `after`; `None` when nothing is left.
    fn prepare(&mut self, rest: &mut std::vec::IntoIter<Update>, after: u64) -> Option<Batch> {
        let updates: Vec<Update> = rest.by_ref().take(MAX_BATCH_CHANGES).collect();
        if updates.is_empty() {
            return None;
        }
        let mirror = &self.mirror;
        Some(self.writer.prepare(after, updates, |update| mirror.mode(update)))
    }

    async fn connect(&mut self) {
        let attempt = async {
            let mut conn = RedisConn::connect(&self.settings).await?;
            if let Some(previous) = &self.last_client
                && previous.fence(&mut conn).await? == Fenced::Closed
            {
                tracing::info!("closed the previous Redis connection before rewriting");
            }
            self.last_client = ClientTag::of(&mut conn).await?;
            self.writer.sync_seq(&mut conn).await?;
            Ok::<_, SinkError>(conn)
        };
        match attempt.await {
            Ok(conn) => {
                let url = self.settings.url.masked();
                metrics::gauge!(metrics_names::REDIS_UP).set(1.0);
                match self.down_since.take() {
                    Some(since) => {
                        metrics::counter!(metrics_names::REDIS_RECONNECTS).increment(1);
                        tracing::info!(
                            url = %url,
                            seq = self.writer.seq(),
                            down_s = since.elapsed().as_secs(),
                            "Redis is reachable again; rewriting the state"
                        );
                    }
                    None => tracing::info!(url = %url, seq = self.writer.seq(), "connected to Redis"),
                }
                self.conn = Some(conn);
                self.reconnect_delay_ms = RECONNECT_MIN_MS;
                self.shared.connected.send_replace(true);
            }
            Err(err) => self.fail(&err),
        }
    }

    /// Drops the connection and schedules a reconnect; the next successful connect rewrites everything.
    /// The outage is said once at WARN (with its cause, never a password: errors carry the redacted URL);
    /// further failed attempts of the same outage are DEBUG.
    fn fail(&mut self, err: &SinkError) {
        metrics::counter!(metrics_names::REDIS_ERRORS).increment(1);
        metrics::gauge!(metrics_names::REDIS_UP).set(0.0);
        let was_connected = self.conn.take().is_some();
        if was_connected {
            // A pending startup/rebuild rewrite writes everything anyway and keeps its reason.
            self.needs_rewrite.get_or_insert(ResyncReason::Reconnect);
        }
        if self.down_since.is_none() {
            self.down_since = Some(Instant::now());
            // The error names the (redacted) URL where it matters (connecting).
            if was_connected {
                tracing::warn!(error = %err, "Redis write failed; keeping changes in memory and reconnecting");
            } else {
                tracing::warn!(error = %err, "Redis is unreachable; keeping changes in memory and retrying");
            }
        } else {
            tracing::debug!(error = %err, delay_ms = self.reconnect_delay_ms, "Redis still unreachable");
        }
        self.shared.connected.send_replace(false);
        let jittered = self.reconnect_delay_ms / 2 + rand::random_range(0..=self.reconnect_delay_ms / 2);
        self.reconnect_at = Instant::now() + Duration::from_millis(jittered);
        self.reconnect_delay_ms = (self.reconnect_delay_ms * 2).min(RECONNECT_MAX_MS);
    }

    /// The earliest timer due. Every timer is moved past now by the step that handles it; the result is
    /// still bounded below by a minimum gap, so that a timer some future change forgets to advance costs at
    /// most `MIN_WAKE_GAP_MS` per wake-up instead of a spinning core.
    fn next_wake(&self) -> Instant {
        let floor = Instant::now() + Duration::from_millis(MIN_WAKE_GAP_MS);
        self.due_at().max(floor)
    }

    fn due_at(&self) -> Instant {
        if self.conn.is_none() {
            return self.reconnect_at.min(self.prune_at);
        }
        let mut at = self.heartbeat_at.min(self.prune_at);
        let interval = Duration::from_millis(self.settings.queue_update_interval_ms);
        for update in self.pending.iter() {
            if let Update::Queue { name, .. } = update
                && let Some(sent) = self.queue_sent.get(name)
            {
                at = at.min(*sent + interval);
            }
        }
        at
    }
}
