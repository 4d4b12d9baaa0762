//! The consumer side of the protocol (DESIGN.md "Gap-free consumer"), used by `queuecast status` and as the
//! reference for docs/consumers.md: a snapshot taken in one MULTI together with `meta.seq` = S, then the
//! stream from `S-0`, applying only `seq > S`; a new epoch, a `resync` or a gap means: snapshot again.

use super::message::{Message, MessageType, STREAM_PAYLOAD_FIELD};
use super::{Keys, RedisConn, SinkError, field_to_redis};
use redis::AsyncCommands;
use std::collections::{BTreeMap, BTreeSet};

/// Hash content as Redis holds it.
pub type Hash = BTreeMap<String, String>;

/// How often the snapshot is retried when agents or queues appear/disappear between reading the sets and
/// the MULTI (each retry uses the sets read inside the previous MULTI, so it converges quickly).
const SNAPSHOT_ATTEMPTS: usize = 20;

/// The state of one PBX as a consumer holds it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateView {
    pub epoch: String,
    /// Last message applied (the snapshot's `meta.seq` to begin with).
    pub seq: u64,
    pub meta: Hash,
    pub agents: BTreeMap<String, Hash>,
    pub queues: BTreeMap<String, Hash>,
    /// Queue name → caller uniqueid → entry JSON; queues without waiting callers are absent.
    pub waiting: BTreeMap<String, Hash>,
}

/// What applying one message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// Already contained in the state (`seq` ≤ state's).
    Skipped,
    /// Epoch changed, `resync`, or a gap: take a new snapshot.
    NeedSnapshot,
}

/// `meta` alone: source health and the heartbeat are not messages, so a follower re-reads them to show them.
pub async fn read_meta(conn: &mut RedisConn, keys: &Keys) -> Result<Hash, SinkError> {
    redis::cmd("HGETALL")
        .arg(keys.meta())
        .query_async(conn)
        .await
        .map_err(|cause| SinkError::Command { what: "HGETALL meta", cause })
}

/// Reads `meta`, the sets and every agent/queue/waiting hash in one MULTI, so the state is exactly the one
/// after message `meta.seq`.
pub async fn read_snapshot(conn: &mut RedisConn, keys: &Keys) -> Result<StateView, SinkError> {
    let mut agents: BTreeSet<String> = smembers(conn, keys.agents()).await?;
    let mut queues: BTreeSet<String> = smembers(conn, keys.queues()).await?;
    for _ in 0..SNAPSHOT_ATTEMPTS {
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.hgetall(keys.meta()).smembers(keys.agents()).smembers(keys.queues());
        for id in &agents {
            pipe.hgetall(keys.agent(id));
        }
        for name in &queues {
            pipe.hgetall(keys.queue(name)).hgetall(keys.waiting(name));
        }
        let (meta, now_agents, now_queues, hashes) = split_reply(
            pipe.query_async(conn)
                .await
                .map_err(|cause| SinkError::Command { what: "MULTI snapshot", cause })?,
        )?;
        if now_agents == agents && now_queues == queues {
            return Ok(assemble(meta, &agents, &queues, hashes));
        }
        agents = now_agents;
        queues = now_queues;
    }
    Err(SinkError::Data { key: keys.agents(), reason: "membership kept changing during the snapshot".into() })
}

type SnapshotReply = (Hash, BTreeSet<String>, BTreeSet<String>, Vec<Hash>);

fn split_reply(values: Vec<redis::Value>) -> Result<SnapshotReply, SinkError> {
    let parse = |what: &'static str, value: redis::Value| -> Result<redis::Value, SinkError> {
        match value {
            redis::Value::ServerError(err) => {
                Err(SinkError::Command { what, cause: redis::RedisError::from(err) })
            }
            v => Ok(v),
        }
    };
    let conv =
        |source: redis::ParsingError| SinkError::Data { key: "snapshot".into(), reason: source.to_string() };
    let mut it = values.into_iter();
    let mut next = |what| parse(what, it.next().unwrap_or(redis::Value::Nil));
    let meta: Hash = redis::from_redis_value(next("HGETALL meta")?).map_err(conv)?;
    let agents: BTreeSet<String> = redis::from_redis_value(next("SMEMBERS agents")?).map_err(conv)?;
    let queues: BTreeSet<String> = redis::from_redis_value(next("SMEMBERS queues")?).map_err(conv)?;
    let mut hashes = Vec::new();
    for value in it {
        hashes.push(redis::from_redis_value(parse("HGETALL", value)?).map_err(conv)?);
    }
    Ok((meta, agents, queues, hashes))
}

fn assemble(
    meta: Hash,
    agents: &BTreeSet<String>,
    queues: &BTreeSet<String>,
    hashes: Vec<Hash>,
) -> StateView {
    let mut hashes = hashes.into_iter();
    let mut view = StateView {
        epoch: meta.get("epoch").cloned().unwrap_or_default(),
        seq: meta.get("seq").and_then(|s| s.parse().ok()).unwrap_or(0),
        meta,
        ..StateView::default()
    };
    for id in agents {
        view.agents.insert(id.clone(), hashes.next().unwrap_or_default());
    }
    for name in queues {
        view.queues.insert(name.clone(), hashes.next().unwrap_or_default());
        let waiting = hashes.next().unwrap_or_default();
        if !waiting.is_empty() {
            view.waiting.insert(name.clone(), waiting);
        }
    }
    view
}

async fn smembers(conn: &mut RedisConn, key: String) -> Result<BTreeSet<String>, SinkError> {
    conn.smembers(key).await.map_err(|cause| SinkError::Command { what: "SMEMBERS", cause })
}

/// Messages with `seq > after`, waiting up to `block_ms` for the first (0 = don't wait).
pub async fn read_stream(
    conn: &mut RedisConn,
    keys: &Keys,
    after: u64,
    count: usize,
    block_ms: u64,
) -> Result<Vec<Message>, SinkError> {
    let mut cmd = redis::cmd("XREAD");
    cmd.arg("COUNT").arg(count);
    if block_ms > 0 {
        cmd.arg("BLOCK").arg(block_ms);
    }
    cmd.arg("STREAMS").arg(keys.stream()).arg(format!("{after}-0"));
    let reply: Option<redis::streams::StreamReadReply> =
        cmd.query_async(conn).await.map_err(|cause| SinkError::Command { what: "XREAD", cause })?;
    let mut out = Vec::new();
    for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
        let payload: Option<String> = entry.get(STREAM_PAYLOAD_FIELD);
        match payload.as_deref().map(serde_json::from_str::<Message>) {
            Some(Ok(msg)) => out.push(msg),
            _ => {
                return Err(SinkError::Data {
                    key: keys.stream(),
                    reason: format!("bad entry {}", entry.id),
                });
            }
        }
    }
    Ok(out)
}

impl StateView {
    /// Applies one stream/pub-sub message per the protocol.
    pub fn apply(&mut self, msg: &Message) -> Applied {
        if msg.epoch != self.epoch {
            return Applied::NeedSnapshot;
        }
        if msg.seq <= self.seq {
            return Applied::Skipped;
        }
        if msg.seq != self.seq + 1 || msg.kind == MessageType::Resync {
            return Applied::NeedSnapshot;
        }
        match msg.kind {
            MessageType::AgentUpdate => {
                self.agents.insert(msg.id.clone(), to_hash(&msg.data, None));
            }
            MessageType::AgentRemoved => {
                self.agents.remove(&msg.id);
            }
            MessageType::QueueUpdate => {
                self.queues.insert(msg.id.clone(), to_hash(&msg.data, Some("waiting")));
                match msg.data.get("waiting").and_then(|w| w.as_object()).filter(|w| !w.is_empty()) {
                    Some(w) => {
                        let entries = w.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
                        self.waiting.insert(msg.id.clone(), entries);
                    }
                    None => {
                        self.waiting.remove(&msg.id);
                    }
                }
            }
            MessageType::CallUpdate
            | MessageType::AgentEvent
            | MessageType::CommandResult
            | MessageType::Resync => {}
        }
        self.seq = msg.seq;
        Applied::Applied
    }
}

fn to_hash(data: &serde_json::Map<String, serde_json::Value>, skip: Option<&str>) -> Hash {
    data.iter()
        .filter(|(k, _)| Some(k.as_str()) != skip)
        .map(|(k, v)| (k.clone(), field_to_redis(v)))
        .collect()
}
