//! What the engine tells the outside: which entity changed, and its rendered fields.

use serde::Serialize;
use std::collections::BTreeMap;

/// Hash content of one entity: DESIGN.md field name → JSON value. Redis stores strings: the sink writes
/// strings as they are, numbers and booleans in their JSON spelling, `null` as the empty string, and
/// objects/arrays as JSON text.
pub type Fields = serde_json::Map<String, serde_json::Value>;

/// One entity whose rendered state changed. The sink reads the current fields when it writes, so a burst of
/// changes to one entity collapses into one write.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Change {
    /// Agent id = member interface.
    Agent(String),
    AgentRemoved(String),
    /// Queue name as Asterisk spells it in queues.conf / QueueStatus. Includes its waiting list.
    Queue(String),
    /// Caller uniqueid.
    Call(String),
    /// A real login, logout, pause or unpause (DESIGN.md "Agent events"): a message, not a hash.
    AgentEvent(super::AgentEvent),
}

/// Everything at once: what `replay --json` prints and what a resync writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snapshot {
    pub agents: BTreeMap<String, Fields>,
    pub queues: BTreeMap<String, Fields>,
}
