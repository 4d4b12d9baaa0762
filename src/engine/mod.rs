//! The state engine: events in, changes out. Pure — no I/O, no clock reads, no async.
//!
//! CONTRACT (other modules rely on these names):
//! - `Engine::new(EngineConfig)`, `Engine::apply(&mut self, &Event) -> Vec<Change>`
//! - `Engine::agent_fields(id)`, `queue_fields(name)`, `queue_waiting(name)`, `call_fields(uniqueid)`:
//!   the rendered hash content (DESIGN.md field names), as JSON values.
//! - `Engine::snapshot() -> Snapshot` (what `replay --json` prints).

pub mod event;
pub mod view;

pub use event::*;
pub use view::{Change, Fields, Snapshot};

use std::collections::BTreeMap;

/// Per-queue settings Asterisk does not report over AMI (queues.conf `wrapuptime`, `servicelevel`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueSettings {
    pub wrapup_s: Option<u32>,
    pub service_level_s: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Time zone that defines "today" for the daily counters.
    pub tz: jiff::tz::TimeZone,
    /// Counters reset at this local time of day (default midnight).
    pub day_starts_at: jiff::civil::Time,
    /// Service-level threshold when neither queues.conf nor AMI gives one (DESIGN: 20 s).
    pub default_service_level_s: u32,
    /// Keyed by lower-cased queue name (app_queue compares queue names case-insensitively).
    pub queues: BTreeMap<String, QueueSettings>,
    /// Member name → interface pairs known from config, for queue_log-only setups.
    pub members: BTreeMap<String, String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            tz: jiff::tz::TimeZone::UTC,
            day_starts_at: jiff::civil::Time::midnight(),
            default_service_level_s: 20,
            queues: BTreeMap::new(),
            members: BTreeMap::new(),
        }
    }
}

/// Agents, queues and calls, and the rules that move them.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
}

impl Engine {
    pub fn new(config: EngineConfig) -> Self {
        Self { config }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Applies one event and returns the entities whose rendered state really changed.
    pub fn apply(&mut self, _event: &Event) -> Vec<Change> {
        Vec::new()
    }

    pub fn agent_fields(&self, _id: &str) -> Option<Fields> {
        None
    }

    pub fn queue_fields(&self, _name: &str) -> Option<Fields> {
        None
    }

    /// Waiting callers of a queue: caller uniqueid → `{uniqueid, caller_id, position, joined_at}`.
    pub fn queue_waiting(&self, _name: &str) -> Vec<(String, serde_json::Value)> {
        Vec::new()
    }

    pub fn call_fields(&self, _uniqueid: &str) -> Option<Fields> {
        None
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot::default()
    }
}
