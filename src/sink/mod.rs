//! The Redis sink: hashes, pub/sub and a stream, written atomically per batch (DESIGN.md "Redis layout").
//!
//! The engine task renders the engine's views of what changed into [`Update`]s ([`render`]) and hands them to the sink
//! task through a [`SinkHandle`], which never blocks: updates merge into a shared inbox keyed by entity, so a
//! slow or absent Redis costs memory proportional to the number of entities, never to the number of events.
//! The sink task keeps a mirror of the state (agents, queues, the calls of the last `call_ttl`), so after an
//! outage (or a Redis restart that lost its data) it rewrites the whole state and publishes `resync`.
//!
//! Layout: [`keys`]. Wire messages: [`message`]. One batch = one MULTI/EXEC: [`batch`]. Connection
//! (single node or cluster, TLS, unix socket, ACL): [`conn`]. Consumer side (gap-free snapshot + stream, used
//! by `queuecast status`): [`reader`].

pub mod batch;
mod calls;
pub mod conn;
mod fence;
mod handle;
pub mod hash;
pub mod keys;
pub mod message;
pub mod reader;
mod render;
mod state;
mod task;
mod writer;

pub use conn::RedisConn;
pub use handle::{SinkHandle, SinkMsg};
pub use hash::Hash;
pub use keys::Keys;
pub use render::{field_to_redis, render};
pub use task::spawn;
pub use writer::write_snapshot;

use crate::engine::Fields;
use crate::sources::{AmiHealth, QueueLogHealth};

/// Version string written to `meta.version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One entity's new state, rendered by the engine task from the engine's view. The sink holds no engine
/// reference.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Agent {
        id: String,
        fields: Hash,
    },
    AgentRemoved {
        id: String,
    },
    /// A queue and its waiting callers (uniqueid → `{uniqueid, caller_id, position, joined_at}`).
    Queue {
        name: String,
        fields: Hash,
        waiting: Vec<(String, serde_json::Value)>,
    },
    Call {
        uniqueid: String,
        /// Empty: the call is forgotten and its hash deleted.
        fields: Hash,
    },
    /// An `agent_event` (DESIGN.md "Agent events") of agent `id`: a message only, never a hash, and never
    /// collapsed with another update.
    AgentEvent {
        id: String,
        data: Fields,
    },
    /// A `command_result` (DESIGN.md "Commands from panels") of command `id`: a message only, like
    /// [`Update::AgentEvent`]; also published on the agent's channel when the command named a known agent.
    CommandResult {
        id: String,
        agent: Option<String>,
        data: Fields,
    },
}

/// Identity of the Redis entity an [`Update`] writes; later updates of the same entity replace earlier ones.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    Agent(String),
    Queue(String),
    Call(String),
    /// Not a Redis entity: agent events and command results are only published, each its own message.
    Message,
}

impl Update {
    pub fn entity(&self) -> Entity {
        match self {
            Update::Agent { id, .. } | Update::AgentRemoved { id } => Entity::Agent(id.clone()),
            Update::Queue { name, .. } => Entity::Queue(name.clone()),
            Update::Call { uniqueid, .. } => Entity::Call(uniqueid.clone()),
            Update::AgentEvent { .. } | Update::CommandResult { .. } => Entity::Message,
        }
    }

    /// A message that writes no hash and is never replaced by a later update.
    pub fn is_message_only(&self) -> bool {
        matches!(self, Update::AgentEvent { .. } | Update::CommandResult { .. })
    }
}

/// Source health as shown in `meta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Health {
    pub ami: AmiHealth,
    pub queue_log: QueueLogHealth,
}

/// Why the sink could not do its job. Messages never contain credentials. The Redis error is part of the
/// message and deliberately not the `source`: a report that prints the chain (`{:#}`) would say it twice,
/// three times with the I/O error under it.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("invalid Redis URL {url}: {cause}")]
    Url { url: String, cause: redis::RedisError },
    #[error("connecting to Redis at {url}: {cause}")]
    Connect { url: String, cause: redis::RedisError },
    #[error("Redis command failed ({what}): {cause}")]
    Command { what: &'static str, cause: redis::RedisError },
    #[error("unexpected Redis data at {key}: {reason}")]
    Data { key: String, reason: String },
}

/// Wall clock in ms since the Unix epoch: the `ts` of messages and `meta` timestamps, and the daemon's ticks.
/// Only the edges read the clock; the engine never does.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
