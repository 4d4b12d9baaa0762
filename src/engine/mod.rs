//! The state engine: events in, changes out. Pure — no I/O, no clock reads, no async.
//!
//! CONTRACT (other modules rely on these names):
//! - `Engine::new(EngineConfig)`, `Engine::apply(&mut self, &Event) -> Vec<Change>`
//! - `Engine::agent_fields(id)`, `queue_fields(name)`, `queue_waiting(name)`, `call_fields(uniqueid)`:
//!   the rendered hash content (DESIGN.md field names), as JSON values.
//! - `Engine::snapshot() -> Snapshot` (what `replay --json` prints).
//!
//! How it stays idempotent: every handler compares before it writes and records a `Change` only when a
//! rendered value really moves; derived values (agent status, per-queue member counts) are recomputed for the
//! agents an event touched; daily counters are the sum of per-call contributions (`calls::recount`), so a
//! fact reported by both feeds, or twice by one, never counts twice.

mod calls;
mod clock;
mod counters;
pub mod event;
mod hash;
mod identity;
mod members;
mod reconcile;
mod render;
mod state;
#[cfg(test)]
mod tests;
pub mod view;

pub use event::*;
pub use view::{Change, Fields, Snapshot};

use hash::FastMap;
use state::{Agents, Calls, Queue, Queues};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

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
    agents: Agents,
    /// Keyed by lower-cased name.
    queues: Queues,
    /// Keyed by the caller's uniqueid.
    calls: Calls,
    /// Member name → interface, learned from AMI (both spellings in one message).
    names: FastMap<String, String>,
    /// Member name → ids of the non-provisional agents carrying it (usually one), so a queue_log line that
    /// names a member resolves without scanning the queue's members.
    named: FastMap<String, Vec<String>>,
    /// Latest event time seen; never goes backwards (feeds interleave out of order by a second or so).
    now: TsMs,
    /// Time of the event being applied: what a status change it causes is stamped with.
    cause: TsMs,
    day: Option<clock::Day>,
    /// Pending wrap-up ends: (end time, agent id).
    wrapups: BTreeSet<(TsMs, String)>,
    /// Changes of the event being applied.
    out: Vec<Change>,
    /// Agents whose derived status must be recomputed before `apply` returns: the first `touched_len`
    /// entries. The strings beyond are spare buffers, kept so that touching an agent reuses an allocation
    /// instead of making one on every event.
    touched: Vec<String>,
    touched_len: usize,
    /// Reused buffer for an agent id a handler must hold across `&mut self` calls.
    scratch_id: String,
}

impl Engine {
    pub fn new(config: EngineConfig) -> Self {
        // Configured queues exist from the start, so a wallboard lists them before their first call.
        let queues = config
            .queues
            .iter()
            .map(|(key, settings)| (key.clone(), Queue::new(key, key, settings.clone())))
            .collect();
        Self {
            config,
            agents: Agents::default(),
            queues,
            calls: Calls::default(),
            names: FastMap::default(),
            named: FastMap::default(),
            now: TsMs::MIN,
            cause: TsMs::MIN,
            day: None,
            wrapups: BTreeSet::new(),
            out: Vec::new(),
            touched: Vec::new(),
            touched_len: 0,
            scratch_id: String::new(),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Applies one event and returns the entities whose rendered state really changed.
    pub fn apply(&mut self, event: &Event) -> Vec<Change> {
        self.cause = event.ts_ms;
        self.advance_clock(event.ts_ms);
        let src = event.source;
        match &event.kind {
            EventKind::AsteriskStarted => self.asterisk_started(),
            EventKind::MemberAdded {
                queue,
                member,
                paused,
                pause_reason,
                penalty,
                device,
                in_call: _,
                wrapup_s,
                membership: _,
            } => self.member_added(
                queue,
                member,
                members::AddedDetails {
                    paused: *paused,
                    pause_reason: pause_reason.as_deref(),
                    penalty: *penalty,
                    device: *device,
                    wrapup_s: *wrapup_s,
                },
            ),
            EventKind::MemberRemoved { queue, member } => self.member_removed(queue, member),
            EventKind::MemberPause { queue, member, paused, reason } => {
                self.member_pause(queue.as_deref(), member, *paused, reason.as_deref())
            }
            EventKind::MemberPenalty { queue, member, penalty } => {
                self.member_penalty(queue, member, *penalty)
            }
            EventKind::MemberDevice { queue, member, device, in_call: _ } => {
                self.member_device(queue.as_deref(), member, *device)
            }
            EventKind::CallerJoined { queue, uniqueid, caller_id, caller_name: _, position } => {
                self.caller_joined(queue, uniqueid, caller_id.as_deref(), *position)
            }
            EventKind::AgentRinging { queue, uniqueid, member } => {
                self.agent_ringing(queue, uniqueid, member)
            }
            EventKind::RingStopped { queue, uniqueid, member, missed } => {
                self.ring_stopped(queue, uniqueid, member, *missed, src)
            }
            EventKind::CallConnected { queue, uniqueid, member, hold_s, ring_s: _ } => {
                self.call_connected(queue, uniqueid, member, *hold_s, src)
            }
            EventKind::CallEnded { queue, uniqueid, member, hold_s, talk_s, reason } => self.call_ended(
                queue,
                uniqueid,
                member.as_ref(),
                calls::EndDetails { hold_s: *hold_s, talk_s: *talk_s, reason: *reason, source: src },
            ),
            EventKind::CallerLeft { queue, uniqueid, reason, position: _, wait_s: _ } => {
                self.caller_left(queue, uniqueid, *reason, src)
            }
            EventKind::CallerDequeued { queue, uniqueid } => self.caller_dequeued(queue, uniqueid),
            EventKind::AgentDump { queue, uniqueid, member } => self.agent_dump(queue, uniqueid, member),
            // Informational (DESIGN): an app_agent_pool session does not change queue membership, and the
            // agent id (`7001`) is not the member interface; device state arrives via QueueMemberStatus.
            EventKind::AgentSession { .. } => {}
            EventKind::StatusSnapshot(snapshot) => self.status_snapshot(snapshot),
            EventKind::Tick => {}
        }
        self.refresh_touched();
        let mut out = std::mem::take(&mut self.out);
        if out.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
        out
    }

    pub fn agent_fields(&self, id: &str) -> Option<Fields> {
        self.agents.get(id).map(render::agent)
    }

    pub fn queue_fields(&self, name: &str) -> Option<Fields> {
        self.queues.get(&*queue_key(name)).map(render::queue)
    }

    /// Waiting callers of a queue: caller uniqueid → `{uniqueid, caller_id, position, joined_at}`.
    pub fn queue_waiting(&self, name: &str) -> Vec<(String, serde_json::Value)> {
        self.queues.get(&*queue_key(name)).map(render::waiting).unwrap_or_default()
    }

    pub fn call_fields(&self, uniqueid: &str) -> Option<Fields> {
        self.calls.get(uniqueid).map(render::call)
    }

    pub fn snapshot(&self) -> Snapshot {
        let agents = self.agents.values().map(|a| (a.id.clone(), render::agent(a))).collect();
        let queues = self.queues.values().map(|q| (q.name.clone(), render::queue(q))).collect();
        Snapshot { agents, queues }
    }

    /// Ids of all agents, queues (display names) and live calls, for a sink's full write.
    pub fn ids(&self) -> (Vec<String>, Vec<String>, Vec<String>) {
        (
            self.agents.keys().cloned().collect(),
            self.queues.values().map(|q| q.name.clone()).collect(),
            self.calls.keys().cloned().collect(),
        )
    }

    /// Service-level threshold of a queue: queues.conf, then QueueStatus, then the default.
    fn service_level_s(&self, key: &str) -> u32 {
        match self.queues.get(key) {
            Some(q) => q.configured.service_level_s.or(q.service_level_s),
            None => self.config.queues.get(key).and_then(|s| s.service_level_s),
        }
        .unwrap_or(self.config.default_service_level_s)
    }

    /// Wrap-up seconds after a call in a queue: the member's override (non-zero), else queues.conf.
    fn wrapup_s(&self, agent: &str, key: &str) -> u32 {
        let member = self
            .agents
            .get(agent)
            .and_then(|a| a.queues.get(key))
            .and_then(|m| m.wrapup_s)
            .filter(|s| *s > 0);
        member.or_else(|| self.configured(key).and_then(|s| s.wrapup_s)).unwrap_or(0)
    }

    /// queues.conf settings of a queue, from the copy its record keeps (the config map is an ordered map of
    /// every configured queue; searching it on every call fact showed in profiles).
    fn configured(&self, key: &str) -> Option<&QueueSettings> {
        match self.queues.get(key) {
            Some(q) => Some(&q.configured),
            None => self.config.queues.get(key),
        }
    }

    /// Creates the queue on first mention and returns its key.
    fn ensure_queue<'a>(&mut self, name: &'a str) -> Cow<'a, str> {
        let key = queue_key(name);
        if !self.queues.contains_key(&*key) {
            let settings = self.config.queues.get(&*key).cloned().unwrap_or_default();
            self.queues.insert(key.clone().into_owned(), Queue::new(&key, name, settings));
            self.out.push(Change::Queue(name.to_owned()));
        }
        key
    }

    fn queue_changed(&mut self, key: &str) {
        if let Some(q) = self.queues.get(key)
            && !self.out.iter().any(|c| matches!(c, Change::Queue(n) if *n == q.name))
        {
            self.out.push(Change::Queue(q.name.clone()));
        }
    }

    /// Records an agent change once per event (handlers report the same agent several times; the check is
    /// cheaper than allocating the id again).
    fn agent_changed(&mut self, id: &str) {
        if !self.out.iter().any(|c| matches!(c, Change::Agent(a) if a == id)) {
            self.out.push(Change::Agent(id.to_owned()));
        }
    }

    fn touch(&mut self, id: &str) {
        if self.touched.iter().take(self.touched_len).any(|t| t == id) {
            return;
        }
        match self.touched.get_mut(self.touched_len) {
            Some(spare) => {
                spare.clear();
                spare.push_str(id);
            }
            None => self.touched.push(id.to_owned()),
        }
        self.touched_len += 1;
    }
}

/// app_queue compares queue names case-insensitively; so do all lookups here. Queue names are nearly always
/// lower case already, so the common case borrows instead of allocating on every event.
pub(crate) fn queue_key(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}
