//! Sequencing and the three kinds of writes: a delta batch, a full rewrite (start, resync, reconnect,
//! replay) and the heartbeat. Shared by the sink task and `replay --redis`.

use super::batch::{Builder, HashMode, Retention};
use super::message::{Envelope, Message, ResyncReason};
use super::{Health, Keys, RedisConn, SinkError, Update, VERSION, now_ms};
use crate::config::RedisConfig;
use futures::future::BoxFuture;
use redis::{AsyncCommands, Pipeline};
use std::collections::BTreeSet;
use std::task::Poll;

/// Owns `seq` and `epoch` of one sink instance.
pub(crate) struct Writer {
    builder: Builder,
    epoch: String,
    started_at: i64,
    /// Last seq known to be written.
    seq: u64,
}

/// One delta MULTI/EXEC, built and not yet sent, with the updates it writes.
pub(crate) struct Batch {
    pub pipe: Pipeline,
    pub updates: Vec<Update>,
    /// Seq of its last message.
    pub last_seq: u64,
}

impl Batch {
    /// Starts sending on a handle of `conn`; [`InFlight::hand_over`] must be awaited right after, so that
    /// batches reach the connection in the order they were built.
    pub fn send(self, conn: &RedisConn) -> InFlight {
        let mut conn = conn.clone();
        let pipe = self.pipe;
        let reply = async move {
            pipe.query_async::<()>(&mut conn)
                .await
                .map_err(|cause| SinkError::Command { what: "MULTI batch", cause })
        };
        InFlight { updates: self.updates, last_seq: self.last_seq, reply: Reply::Pending(Box::pin(reply)) }
    }
}

/// A batch given to the connection whose `EXEC` reply has not been looked at yet.
pub(crate) struct InFlight {
    pub updates: Vec<Update>,
    pub last_seq: u64,
    reply: Reply,
}

enum Reply {
    Pending(BoxFuture<'static, Result<(), SinkError>>),
    Done(Result<(), SinkError>),
}

impl InFlight {
    /// Polls once: the connection queues the batch now (a multiplexed connection writes requests in the
    /// order they are first polled), and its reply is awaited later.
    pub async fn hand_over(&mut self) {
        if let Reply::Pending(reply) = &mut self.reply
            && let Poll::Ready(result) = futures::poll!(reply.as_mut())
        {
            self.reply = Reply::Done(result);
        }
    }

    /// The batch's outcome: `Ok` once the whole transaction is in Redis.
    pub async fn reply(&mut self) -> Result<(), SinkError> {
        match std::mem::replace(&mut self.reply, Reply::Done(Ok(()))) {
            Reply::Pending(reply) => reply.await,
            Reply::Done(result) => result,
        }
    }
}

impl Writer {
    pub fn new(settings: &RedisConfig) -> Self {
        let retention = Retention { stream_maxlen: settings.stream_maxlen, call_ttl_s: settings.call_ttl_s };
        Self {
            builder: Builder::new(settings.keys(), retention),
            epoch: new_epoch(),
            started_at: now_ms(),
            seq: 0,
        }
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    fn keys(&self) -> &Keys {
        self.builder.keys()
    }

    /// Continues the sequence: the highest of what we wrote, `meta.seq` and the stream's last id (the latter
    /// guards against a lost `meta` — an `XADD` with a smaller id would fail inside the transaction).
    pub async fn sync_seq(&mut self, conn: &mut RedisConn) -> Result<u64, SinkError> {
        let meta_seq: Option<String> = conn
            .hget(self.keys().meta(), "seq")
            .await
            .map_err(|cause| SinkError::Command { what: "HGET meta seq", cause })?;
        let last: Vec<(String, redis::Value)> = redis::cmd("XREVRANGE")
            .arg(self.keys().stream())
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(conn)
            .await
            .map_err(|cause| SinkError::Command { what: "XREVRANGE stream", cause })?;
        let stream_seq = last.first().and_then(|(id, _)| id.split('-').next()?.parse::<u64>().ok());
        let meta_seq = meta_seq.and_then(|s| s.parse::<u64>().ok());
        self.seq = self.seq.max(meta_seq.unwrap_or(0)).max(stream_seq.unwrap_or(0));
        Ok(self.seq)
    }

    /// One MULTI/EXEC with the hashes of `updates` (each written as `mode` says), one message each
    /// numbered from `after + 1`, and `meta.seq`. Several batches may be built ahead of the confirmed `seq`;
    /// [`Writer::confirm`] advances it once one is in Redis.
    pub fn prepare(&mut self, after: u64, updates: Vec<Update>, mode: impl Fn(&Update) -> HashMode) -> Batch {
        let ts = now_ms();
        // Per change at most: hash, EXPIRE or a second PUBLISH, XADD, PUBLISH; per batch: DEL, four set
        // commands, `meta.seq`, XTRIM. Sized so the command list is not regrown per change.
        let mut pipe = Pipeline::with_capacity(updates.len() * 4 + 7);
        pipe.atomic();
        let writes: Vec<(&Update, HashMode)> = updates.iter().map(|u| (u, mode(u))).collect();
        let seq = self.builder.delta(&mut pipe, &self.epoch, ts, after, &writes);
        Batch { pipe, updates, last_seq: seq }
    }

    /// Everything up to `last_seq` is in Redis.
    pub fn confirm(&mut self, last_seq: u64) {
        self.seq = self.seq.max(last_seq);
    }

    /// Writes the whole state and `meta` in one MULTI, then one `resync` message. With `authoritative`,
    /// agents and queues in Redis but not in `state` are deleted (the state is complete); otherwise they are
    /// left alone (the engine has not sent its first full state yet).
    pub async fn rewrite_all<'a>(
        &mut self,
        conn: &mut RedisConn,
        state: impl Iterator<Item = &'a Update>,
        authoritative: bool,
        health: Health,
        reason: ResyncReason,
    ) -> Result<(), SinkError> {
        let state: Vec<&Update> = state.collect();
        let (stale_agents, stale_queues) =
            if authoritative { self.stale_entities(conn, &state).await? } else { Default::default() };
        let seq = self.seq + 1;
        let mut tx = Transaction::new(conn);
        let removed: Vec<Update> = stale_agents.into_iter().map(|id| Update::AgentRemoved { id }).collect();
        // Redis may hold anything (a previous run, an outage): every hash is replaced whole.
        let writes: Vec<(&Update, HashMode)> =
            removed.iter().chain(state.iter().copied()).map(|u| (u, HashMode::Replace)).collect();
        self.builder.batch_keys(&mut tx.pipe, &writes, &stale_queues);
        drop(writes);
        for update in &state {
            self.builder.entity(&mut tx.pipe, seq, update);
            tx.wrote(approx_bytes(update)).await?;
        }
        let now = now_ms();
        tx.pipe
            .cmd("HSET")
            .arg(self.keys().meta())
            .arg(&[
                ("epoch", self.epoch.clone()),
                ("seq", seq.to_string()),
                ("started_at", self.started_at.to_string()),
                ("heartbeat_at", now.to_string()),
                ("ami", health.ami.as_str().to_owned()),
                ("queue_log", health.queue_log.as_str().to_owned()),
                ("version", VERSION.to_owned()),
            ])
            .ignore();
        let resync =
            Message::resync(Envelope { epoch: &self.epoch, ts: now, pbx: self.keys().pbx() }, seq, reason);
        let channels = self.entity_channels(removed.iter().chain(state.iter().copied()), &stale_queues);
        self.builder.publish_resync(&mut tx.pipe, &resync, &channels);
        self.builder.trim_stream(&mut tx.pipe);
        tx.exec().await?;
        self.seq = seq;
        Ok(())
    }

    /// The channels of every agent and queue written or removed by a rewrite: its `resync` goes there too.
    fn entity_channels<'a>(
        &self,
        updates: impl Iterator<Item = &'a Update>,
        stale_queues: &[String],
    ) -> Vec<String> {
        let keys = self.keys();
        let mut channels: Vec<String> = updates
            .filter_map(|update| match update {
                Update::Agent { id, .. } | Update::AgentRemoved { id } => Some(keys.agent(id)),
                Update::Queue { name, .. } => Some(keys.queue(name)),
                Update::Call { .. } | Update::AgentEvent { .. } | Update::CommandResult { .. } => None,
            })
            .chain(stale_queues.iter().map(|name| keys.queue(name)))
            .collect();
        channels.sort();
        channels.dedup();
        channels
    }

    async fn stale_entities(
        &self,
        conn: &mut RedisConn,
        state: &[&Update],
    ) -> Result<(BTreeSet<String>, Vec<String>), SinkError> {
        let mut agents: BTreeSet<String> = conn
            .smembers(self.keys().agents())
            .await
            .map_err(|cause| SinkError::Command { what: "SMEMBERS agents", cause })?;
        let mut queues: BTreeSet<String> = conn
            .smembers(self.keys().queues())
            .await
            .map_err(|cause| SinkError::Command { what: "SMEMBERS queues", cause })?;
        for update in state {
            match update {
                Update::Agent { id, .. } => {
                    agents.remove(id);
                }
                Update::Queue { name, .. } => {
                    queues.remove(name);
                }
                Update::AgentRemoved { .. }
                | Update::Call { .. }
                | Update::AgentEvent { .. }
                | Update::CommandResult { .. } => {}
            }
        }
        Ok((agents, queues.into_iter().collect()))
    }

    /// `meta.heartbeat_at` and source health; not a message (consumers watch `heartbeat_at` for liveness).
    pub async fn heartbeat(&self, conn: &mut RedisConn, health: Health) -> Result<(), SinkError> {
        let fields = [
            ("heartbeat_at", now_ms().to_string()),
            ("ami", health.ami.as_str().to_owned()),
            ("queue_log", health.queue_log.as_str().to_owned()),
        ];
        conn.hset_multiple::<_, _, _, ()>(self.keys().meta(), &fields)
            .await
            .map_err(|cause| SinkError::Command { what: "HSET meta heartbeat", cause })
    }
}

/// Bytes of commands a full rewrite sends per pipeline on a single node, about. The connection keeps a
/// write buffer as large as the largest pipeline it sent, for its whole life: 128 KiB bounds that, and
/// costs a day's rewrite (~8 MB) some 60 round trips on a local socket, a few milliseconds.
const REWRITE_CHUNK_BYTES: usize = 128 << 10;

/// One MULTI/EXEC of any size. On a single node it goes out in pipelines of about [`REWRITE_CHUNK_BYTES`]
/// (`MULTI`, the queued commands, `EXEC`), so the client holds one chunk of commands, encoded once, and its
/// send buffer never grows past that: a rewrite of a busy day built whole was its hashes three times over
/// (commands, their encoding, the send buffer), tens of MB that the allocator kept afterwards. Redis runs
/// nothing of it before `EXEC`, and drops it when the connection ends first (a failed write drops the
/// connection, and the next one fences it off). A cluster connection routes each command on its own (a
/// `MULTI` alone would go to any node), so there the transaction is one atomic pipeline.
struct Transaction<'c> {
    conn: &'c mut RedisConn,
    pipe: Pipeline,
    chunked: bool,
    /// Bytes added to `pipe` since it was last sent, about.
    pending: usize,
}

impl<'c> Transaction<'c> {
    fn new(conn: &'c mut RedisConn) -> Self {
        let chunked = conn.is_single_node();
        let mut pipe = redis::pipe();
        if chunked {
            pipe.cmd("MULTI").ignore();
        } else {
            pipe.atomic();
        }
        Self { conn, pipe, chunked, pending: 0 }
    }

    /// `bytes` more were added to the pipeline: sends it once a chunk is full.
    async fn wrote(&mut self, bytes: usize) -> Result<(), SinkError> {
        self.pending += bytes;
        if !self.chunked || self.pending < REWRITE_CHUNK_BYTES {
            return Ok(());
        }
        let pipe = std::mem::replace(&mut self.pipe, redis::pipe());
        self.pending = 0;
        pipe.query_async::<()>(&mut *self.conn)
            .await
            .map_err(|cause| SinkError::Command { what: "MULTI rewrite", cause })
    }

    async fn exec(mut self) -> Result<(), SinkError> {
        let err = |cause| SinkError::Command { what: "MULTI rewrite", cause };
        if !self.chunked {
            return self.pipe.query_async::<()>(&mut *self.conn).await.map_err(err);
        }
        self.pipe.cmd("EXEC");
        let replies: Vec<redis::Value> = self.pipe.query_async(&mut *self.conn).await.map_err(err)?;
        // The replies of the queued commands, in `EXEC`'s; any error among them fails the rewrite, as an
        // atomic pipeline's would.
        for reply in replies {
            reply.extract_error().map_err(err)?;
        }
        Ok(())
    }
}

/// About how many bytes of commands a full rewrite sends for `update`.
fn approx_bytes(update: &Update) -> usize {
    match update {
        Update::Agent { fields, .. } | Update::Call { fields, .. } => {
            128 + fields.text_len() + 8 * fields.len()
        }
        Update::Queue { fields, waiting, .. } => {
            256 + fields.text_len() + 8 * fields.len() + 160 * waiting.len()
        }
        Update::AgentRemoved { .. } | Update::AgentEvent { .. } | Update::CommandResult { .. } => 64,
    }
}

/// A fresh random epoch (64 bits, hex): consumers seeing a new one take a new snapshot.
fn new_epoch() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// One-shot write of a complete state (`queuecast replay --redis`): the same layout and messages the daemon
/// writes, followed by a `resync`. Returns the last seq written.
pub async fn write_snapshot(
    settings: &RedisConfig,
    updates: &[Update],
    health: Health,
) -> Result<u64, SinkError> {
    let mut conn = RedisConn::connect(settings).await?;
    let mut writer = Writer::new(settings);
    writer.sync_seq(&mut conn).await?;
    writer.rewrite_all(&mut conn, updates.iter(), true, health, ResyncReason::Replay).await?;
    Ok(writer.seq())
}
