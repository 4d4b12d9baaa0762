//! One reader of a PBX's Redis stream, fanned out in-process to every client of that PBX, so a thousand
//! browsers cost one `XREAD`, not a thousand.
//!
//! The fan-out is a `tokio::sync::broadcast` ring of [`HUB_RING_MESSAGES`] shared messages: memory is bounded
//! by the ring whatever the number of clients, and each client holds only a cursor into it (its bounded
//! queue). A client whose cursor falls off the ring is told so (`Lagged`) and gets a new snapshot instead of
//! the messages it missed; the others never wait for it.

use super::GatewayError;
use crate::config::RedisConfig;
use crate::sink::message::STREAM_PAYLOAD_FIELD;
use crate::sink::reader::{self, StateView};
use crate::sink::{Keys, RedisConn};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, broadcast};
use tokio_util::sync::CancellationToken;

/// Messages a client may be behind the hub before it is re-snapshotted: about a second of a very busy PBX
/// (1 000 changes/s), a few MiB of shared memory at ~1 KiB a message.
pub const HUB_RING_MESSAGES: usize = 4_096;
/// `XREAD BLOCK` wait; below the connection's 3 s response timeout, and the pace at which a Redis that lost
/// its data (seq going back) is noticed on a quiet stream.
const XREAD_BLOCK_MS: u64 = 1_000;
/// Entries per `XREAD`.
const XREAD_COUNT: usize = 1_000;
/// Reconnect backoff bounds of the stream reader.
const RECONNECT_MIN_MS: u64 = 100;
const RECONNECT_MAX_MS: u64 = 5_000;

/// A stream entry's message, parsed once for every client. Loose on purpose: a `type` this gateway does not
/// know yet (`agent_event`, `command_result`) is still forwarded in order instead of breaking the follow.
#[derive(Debug, Clone, Deserialize)]
pub struct Wire {
    #[serde(rename = "type")]
    pub kind: String,
    pub seq: u64,
    pub epoch: String,
    #[serde(default)]
    pub id: String,
    /// Only the fields scope filters need (see [`slim`]); the client gets `json`.
    #[serde(default)]
    pub data: Map<String, Value>,
    /// The payload as the daemon wrote it, forwarded byte for byte.
    #[serde(skip)]
    pub json: String,
    /// `ts` of the message (ms), for latency figures.
    #[serde(default)]
    pub ts: i64,
}

/// What the hub tells its clients.
#[derive(Debug, Clone)]
pub enum HubEvent {
    Message(Arc<Wire>),
    /// The stream started over (Redis lost its data: `seq` went back): every client takes a snapshot.
    Reset,
}

pub struct Hub {
    pub keys: Keys,
    /// Shared connection for snapshots and REST reads (never blocked: the reader has its own).
    conn: RedisConn,
    tx: broadcast::Sender<HubEvent>,
    /// Last `seq` broadcast.
    pos: AtomicU64,
    /// The latest snapshot read, reused by every client that needs one no older than it (a `resync` sends
    /// all clients to re-snapshot at once: one MULTI serves them all).
    snapshot: Mutex<Option<Arc<StateView>>>,
}

impl Hub {
    /// Opens the shared connection and starts the stream reader, which runs until `cancel`.
    pub async fn start(
        settings: &RedisConfig,
        keys: Keys,
        cancel: CancellationToken,
        tracker: &tokio_util::task::TaskTracker,
    ) -> Result<Arc<Self>, GatewayError> {
        let mut conn = RedisConn::connect(settings).await?;
        let meta = reader::read_meta(&mut conn, &keys).await?;
        let pos = meta.get("seq").and_then(|s| s.parse().ok()).unwrap_or(0);
        let (tx, _) = broadcast::channel(HUB_RING_MESSAGES);
        let hub = Arc::new(Self { keys, conn, tx, pos: AtomicU64::new(pos), snapshot: Mutex::new(None) });
        tracker.spawn(read_loop(hub.clone(), settings.clone(), cancel));
        Ok(hub)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<HubEvent> {
        self.tx.subscribe()
    }

    pub fn conn(&self) -> RedisConn {
        self.conn.clone()
    }

    /// A snapshot at least as new as every message broadcast so far, so a client subscribed before asking
    /// misses nothing between the two; also at least `min_seq` (a `resync`'s seq).
    pub async fn snapshot(&self, min_seq: u64) -> Result<Arc<StateView>, GatewayError> {
        let min_seq = min_seq.max(self.pos.load(Ordering::Acquire));
        let mut cached = self.snapshot.lock().await;
        if let Some(view) = cached.as_ref().filter(|v| v.seq >= min_seq) {
            return Ok(view.clone());
        }
        let view = Arc::new(reader::read_snapshot(&mut self.conn(), &self.keys).await?);
        metrics::counter!("queuecast_gateway_snapshot_reads_total").increment(1);
        *cached = Some(view.clone());
        Ok(view)
    }

    /// Entries after `since`, at most `count`, without waiting.
    pub async fn read_after(&self, since: u64, count: usize) -> Result<Vec<Arc<Wire>>, GatewayError> {
        Ok(read_entries(&mut self.conn(), &self.keys, since, count, 0).await?.0)
    }

    fn publish(&self, event: HubEvent) {
        if let HubEvent::Message(wire) = &event {
            self.pos.store(wire.seq, Ordering::Release);
        } else {
            self.pos.store(0, Ordering::Release);
        }
        // No receiver is fine: nobody is following this PBX right now.
        let _ = self.tx.send(event);
        metrics::counter!("queuecast_gateway_messages_total").increment(1);
    }
}

/// Follows the stream from the hub's position, reconnecting with capped exponential backoff and jitter. An
/// outage is logged once at WARN and once at INFO when it ends.
async fn read_loop(hub: Arc<Hub>, settings: RedisConfig, cancel: CancellationToken) {
    let mut backoff_ms = RECONNECT_MIN_MS;
    let mut down = false;
    while !cancel.is_cancelled() {
        let result = tokio::select! {
            _ = cancel.cancelled() => return,
            result = follow(&hub, &settings, &mut down) => result,
        };
        if let Err(err) = result {
            if !down {
                tracing::warn!(pbx = hub.keys.pbx(), error = %err, "gateway lost the Redis stream; retrying");
                down = true;
            }
            let jitter = rand::random_range(0..=backoff_ms / 2);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(backoff_ms + jitter)) => {}
            }
            backoff_ms = (backoff_ms * 2).min(RECONNECT_MAX_MS);
        }
    }
}

async fn follow(hub: &Hub, settings: &RedisConfig, down: &mut bool) -> Result<(), GatewayError> {
    let mut conn = RedisConn::connect(settings).await?;
    if std::mem::take(down) {
        tracing::info!(pbx = hub.keys.pbx(), "gateway follows the Redis stream again");
    }
    // The last entry read, valid or not (a bad entry is skipped once, not re-read forever).
    let mut cursor = hub.pos.load(Ordering::Acquire);
    loop {
        let (entries, last) = read_entries(&mut conn, &hub.keys, cursor, XREAD_COUNT, XREAD_BLOCK_MS).await?;
        if last.is_none() {
            let meta = reader::read_meta(&mut conn, &hub.keys).await?;
            let seq: u64 = meta.get("seq").and_then(|s| s.parse().ok()).unwrap_or(0);
            if seq < cursor {
                tracing::info!(
                    pbx = hub.keys.pbx(),
                    seq,
                    cursor,
                    "the stream started over; clients re-snapshot"
                );
                hub.publish(HubEvent::Reset);
                cursor = 0;
            }
        }
        for wire in entries {
            hub.publish(HubEvent::Message(wire));
        }
        if let Some(last) = last {
            cursor = last;
        }
    }
}

/// Keeps of `data` only what scope filters read (an agent's queue names, a call's agent and queue): the
/// ring then holds each message about once (its JSON), not twice.
fn slim(data: &mut Map<String, Value>) {
    data.retain(|key, _| matches!(key.as_str(), "queues" | "agent" | "queue"));
    if let Some(Value::Object(queues)) = data.get_mut("queues") {
        queues.values_mut().for_each(|v| *v = Value::Null);
    }
}

/// `XREAD` after `after`; an entry that is not a message is logged and skipped (never stops the follow).
async fn read_entries(
    conn: &mut RedisConn,
    keys: &Keys,
    after: u64,
    count: usize,
    block_ms: u64,
) -> Result<(Vec<Arc<Wire>>, Option<u64>), GatewayError> {
    let mut cmd = redis::cmd("XREAD");
    cmd.arg("COUNT").arg(count);
    if block_ms > 0 {
        cmd.arg("BLOCK").arg(block_ms);
    }
    cmd.arg("STREAMS").arg(keys.stream()).arg(format!("{after}-0"));
    let reply: Option<redis::streams::StreamReadReply> = cmd
        .query_async(conn)
        .await
        .map_err(|cause| crate::sink::SinkError::Command { what: "XREAD", cause })?;
    let mut out = Vec::new();
    let mut last = None;
    for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
        last = entry.id.split('-').next().and_then(|s| s.parse().ok()).or(last);
        let payload: Option<String> = entry.get(STREAM_PAYLOAD_FIELD);
        match payload.as_deref().map(serde_json::from_str::<Wire>) {
            Some(Ok(mut wire)) => {
                slim(&mut wire.data);
                wire.json = payload.unwrap_or_default();
                out.push(Arc::new(wire));
            }
            _ => {
                tracing::warn!(pbx = keys.pbx(), entry = %entry.id, "skipping a stream entry that is not a message")
            }
        }
    }
    Ok((out, last))
}
