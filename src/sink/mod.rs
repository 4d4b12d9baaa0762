//! The Redis sink: hashes, pub/sub and a stream, written atomically per batch (DESIGN.md "Redis layout").
//!
//! The engine task renders changes into [`Update`]s ([`render`], [`render_all`]) and hands them to the sink
//! task through a [`SinkHandle`], which never blocks: updates merge into a shared inbox keyed by entity, so a
//! slow or absent Redis costs memory proportional to the number of entities, never to the number of events.
//! The sink task keeps a mirror of the state (agents, queues, the calls of the last `call_ttl`), so after an
//! outage (or a Redis restart that lost its data) it rewrites the whole state and publishes `resync`.
//!
//! Layout: [`keys`]. Wire messages: [`message`]. One batch = one MULTI/EXEC: [`batch`]. Connection
//! (single node or cluster, TLS, unix socket, ACL): [`conn`]. Consumer side (gap-free snapshot + stream, used
//! by `queuecast status`): [`reader`].

pub mod batch;
pub mod conn;
mod fence;
pub mod keys;
pub mod message;
pub mod reader;
mod render;
mod state;
mod task;
mod writer;

pub use conn::{RedisConn, redact_url};
pub use keys::Keys;
pub use render::{field_to_redis, render, render_all};
pub use task::{SinkHandle, SinkMsg, spawn};
pub use writer::write_snapshot;

use crate::engine::Fields;

/// Version string written to `meta.version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// DESIGN.md defaults: the key prefix …
pub const DEFAULT_PREFIX: &str = "queuecast";
/// … about a day of a busy call center's messages, so consumers can catch up after an outage …
pub const DEFAULT_STREAM_MAXLEN: u64 = 100_000;
/// … call hashes outlive the day's reporting …
pub const DEFAULT_CALL_TTL_S: u64 = 86_400;
/// … and wallboards need no more than 4 updates a second per queue.
pub const DEFAULT_QUEUE_UPDATE_INTERVAL_MS: u64 = 250;

/// The `[redis]` section as the sink uses it (the config module maps TOML onto this).
#[derive(Clone, PartialEq)]
pub struct RedisSettings {
    /// `redis://[user:pass@]host:port/db`, `rediss://…` (TLS), `unix:///path/redis.sock` or
    /// `redis+unix:///path`. May carry ACL credentials; never logged (see [`redact_url`]).
    pub url: String,
    /// ACL user; overrides the one in the URL.
    pub username: Option<String>,
    /// Password; overrides the one in the URL.
    pub password: Option<String>,
    pub prefix: String,
    pub pbx_id: String,
    /// Stream cap: `XTRIM … MAXLEN ~ stream_maxlen` after the `XADD`s of each batch.
    pub stream_maxlen: u64,
    /// Call hashes expire this long after their last write.
    pub call_ttl_s: u64,
    /// At most one `queue_update` per queue per interval.
    pub queue_update_interval_ms: u64,
    /// Use the Redis Cluster client (all keys share the `{PBX}` hash tag, so one slot serves a batch).
    pub cluster: bool,
}

impl RedisSettings {
    /// Defaults of DESIGN.md for the given URL; PBX id = host name.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            username: None,
            password: None,
            prefix: DEFAULT_PREFIX.to_owned(),
            pbx_id: default_pbx_id(),
            stream_maxlen: DEFAULT_STREAM_MAXLEN,
            call_ttl_s: DEFAULT_CALL_TTL_S,
            queue_update_interval_ms: DEFAULT_QUEUE_UPDATE_INTERVAL_MS,
            cluster: false,
        }
    }

    pub fn keys(&self) -> Keys {
        Keys::new(&self.prefix, &self.pbx_id)
    }
}

/// Hand-written so the password (in `url` or `password`) can never reach a log through `{:?}`.
impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &redact_url(&self.url))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("prefix", &self.prefix)
            .field("pbx_id", &self.pbx_id)
            .field("stream_maxlen", &self.stream_maxlen)
            .field("call_ttl_s", &self.call_ttl_s)
            .field("queue_update_interval_ms", &self.queue_update_interval_ms)
            .field("cluster", &self.cluster)
            .finish()
    }
}

/// The host name, as DESIGN.md's default PBX id.
pub fn default_pbx_id() -> String {
    let name = gethostname::gethostname().to_string_lossy().into_owned();
    if name.is_empty() { "localhost".to_owned() } else { name }
}

/// One entity's new state, rendered by the engine task. The sink holds no engine reference.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Agent {
        id: String,
        fields: Fields,
    },
    AgentRemoved {
        id: String,
    },
    /// A queue and its waiting callers (uniqueid → `{uniqueid, caller_id, position, joined_at}`).
    Queue {
        name: String,
        fields: Fields,
        waiting: Vec<(String, serde_json::Value)>,
    },
    Call {
        uniqueid: String,
        fields: Fields,
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

/// `meta.ami`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AmiState {
    Connected,
    Disconnected,
    #[default]
    Off,
}

impl AmiState {
    pub fn as_str(self) -> &'static str {
        match self {
            AmiState::Connected => "connected",
            AmiState::Disconnected => "disconnected",
            AmiState::Off => "off",
        }
    }
}

/// `meta.queue_log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueLogState {
    /// The start-up replay is running.
    Replaying,
    Following,
    Missing,
    #[default]
    Off,
}

impl QueueLogState {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueLogState::Replaying => "replaying",
            QueueLogState::Following => "following",
            QueueLogState::Missing => "missing",
            QueueLogState::Off => "off",
        }
    }
}

/// Source health as shown in `meta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Health {
    pub ami: AmiState,
    pub queue_log: QueueLogState,
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

/// Wall clock in ms since the Unix epoch: the `ts` of messages and `meta` timestamps. Only the sink edge reads
/// the clock; the engine never does.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
