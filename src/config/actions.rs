//! `[actions]`: which commands from panels the daemon executes (DESIGN.md "Commands from panels"). Closed by
//! default: off, no action and no queue allowed until the file lists them.

use crate::commands::wire::Action;
use serde::{Deserialize, Serialize};

/// A command older than this (by its `ts`) is refused: a click from ten seconds ago is no longer what the
/// agent wants, and executing a backlog after an outage would replay stale intentions.
pub const DEFAULT_MAX_AGE_MS: u64 = 10_000;
/// Commands per agent per sliding minute: a person clicks a few times a minute; a loop in a CRM does not
/// get to flap an agent's pause on the PBX.
pub const DEFAULT_MAX_PER_MINUTE: u32 = 20;
/// `queues` entry meaning every queue.
pub const ANY_QUEUE: &str = "*";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActionsConfig {
    /// Off by default: every command is answered `disabled`.
    pub enabled: bool,
    /// Actions that may be executed (`pause`, `unpause`, `login`, `logout`, `penalty`); empty = none.
    pub allow: Vec<Action>,
    /// Queues commands may touch (case-insensitive, as Asterisk's queue names); `["*"]` = every queue;
    /// empty = none.
    pub queues: Vec<String>,
    pub max_age_ms: u64,
    pub max_per_minute: u32,
    /// Name of this daemon in the consumer group; empty = the host name. Two daemons reading the same
    /// PBX's stream from one host need different names (each answers its own unfinished entries at start).
    pub consumer: String,
}

impl Default for ActionsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            allow: Vec::new(),
            queues: Vec::new(),
            max_age_ms: DEFAULT_MAX_AGE_MS,
            max_per_minute: DEFAULT_MAX_PER_MINUTE,
            consumer: String::new(),
        }
    }
}
