//! The state engine: events in, changes out. Pure — no I/O, no clock reads, no async.
//!
//! CONTRACT (other modules rely on these names):
//! - `Engine::new(PbxSetup)`, `Engine::apply(&mut self, &Event) -> Vec<Change>`
//! - `Engine::views(&changes)` after a batch, `Engine::all_views()` for a full write: typed [`View`]s of the
//!   entities' current state (`view`), which the sink renders.
//! - `Engine::agent_fields(id)`, `queue_fields(name)`, `call_fields(uniqueid)`: the same views as JSON, for
//!   tests and tools; `Engine::snapshot() -> Snapshot` (what `replay --json` prints).
//! - `Engine::call_visits(uniqueid)`: a call's visits in order as (queue, outcome), for tests and tools.
//!
//! How it stays idempotent: every handler compares before it writes and records a `Change` only when a
//! rendered value really moves; derived values (agent status, per-queue member counts) are recomputed for the
//! agents an event touched; daily counters are the sum of per-visit contributions (`visits::recount`), so a
//! fact reported by both feeds, or twice by one, never counts twice (how a fact finds its visit: `calls`).

mod agent_events;
mod calls;
mod clock;
mod counters;
pub mod event;
mod identity;
mod key;
mod members;
mod names;
mod reconcile;
mod records;
mod state;
#[cfg(test)]
mod tests;
mod timers;
mod turn;
pub mod view;
#[cfg(test)]
mod visit_tests;
mod visits;

pub use agent_events::{Actor, AgentEvent, AgentEventKind, HOLD_MS};
pub use event::*;
pub use view::{
    AgentView, CallView, Change, Fields, MembershipView, QueueView, ScreenPopView, Snapshot, View, VisitView,
    WaitingView,
};

use state::{Agent, AgentIx, Call, QueueIx};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Per-queue settings Asterisk does not report over AMI (queues.conf `wrapuptime`, `servicelevel`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueSettings {
    pub wrapup_s: Option<u32>,
    pub service_level_s: Option<u32>,
}

/// What the engine is told about the PBX and its feeds before the first event: the file's `[engine]` and
/// `[queue_log]` settings resolved, with queues.conf and astdb read (`daemon::pbx_files`). Not a settings
/// type of its own: the config's `EngineConfig` is that.
#[derive(Debug, Clone)]
pub struct PbxSetup {
    /// Time zone that defines "today" for the daily counters.
    pub tz: jiff::tz::TimeZone,
    /// Counters reset at this local time of day (default midnight).
    pub day_starts_at: jiff::civil::Time,
    /// Service-level threshold when neither queues.conf nor AMI gives one.
    pub default_service_level_s: u32,
    /// Keyed by lower-cased queue name (app_queue compares queue names case-insensitively).
    pub queues: BTreeMap<String, QueueSettings>,
    /// Member name → interface pairs known from config, for queue_log-only setups.
    pub members: BTreeMap<String, String>,
    /// queue_log is one of the feeds: a change AMI reports first waits up to `HOLD_MS` for queue_log's word
    /// on who made it (`agent_events`). Also inferred from the first queue_log line seen.
    pub queue_log_feed: bool,
}

impl Default for PbxSetup {
    fn default() -> Self {
        Self {
            tz: jiff::tz::TimeZone::UTC,
            day_starts_at: jiff::civil::Time::midnight(),
            default_service_level_s: crate::config::DEFAULT_SERVICE_LEVEL_S,
            queues: BTreeMap::new(),
            members: BTreeMap::new(),
            queue_log_feed: false,
        }
    }
}

/// An agent as a command addresses it ([`Engine::agent_target`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentTarget {
    pub id: String,
    /// None while the agent is known only by its member name (provisional): Asterisk cannot be told which
    /// member is meant.
    pub interface: Option<String>,
    /// Display names of the queues it is a member of.
    pub queues: Vec<String>,
}

/// Agents, queues and calls, and the rules that move them.
///
/// Records live in vectors and refer to each other by number (`AgentIx`, `QueueIx`); the string ids the
/// feeds use are looked up once per event in the indexes of `records`. Why: string-keyed maps on every reference
/// made the engine hash, compare and allocate ids several times per event, and kept a 300-byte bucket per
/// call in a sparse table.
#[derive(Debug)]
pub struct Engine {
    config: PbxSetup,
    agents: records::Agents,
    queues: records::Queues,
    calls: records::Calls,
    names: names::Names,
    /// Latest event time seen; never goes backwards (feeds interleave out of order by a second or so).
    now: TsMs,
    day: Option<clock::Day>,
    /// Wrap-up ends and leaves to settle, due later.
    timers: timers::Timers,
    /// The event being applied and its changes.
    turn: turn::Turn,
    /// queue_log is a feed: an AMI-reported change waits for its word on the source.
    saw_queue_log: bool,
    /// A `QueueStatus` answer was applied before (`reconcile`).
    seen_snapshot: bool,
    agent_events: agent_events::AgentEvents,
}

impl Engine {
    pub fn new(config: PbxSetup) -> Self {
        let queue_log_feed = config.queue_log_feed;
        let mut engine = Self {
            config,
            agents: records::Agents::default(),
            queues: records::Queues::default(),
            calls: records::Calls::default(),
            names: names::Names::default(),
            now: TsMs::MIN,
            day: None,
            timers: timers::Timers::default(),
            turn: turn::Turn::default(),
            saw_queue_log: queue_log_feed,
            seen_snapshot: false,
            agent_events: agent_events::AgentEvents::default(),
        };
        // Configured queues exist from the start, so a wallboard lists them before their first call.
        for (key, settings) in &engine.config.queues {
            engine.queues.add(key, key, settings.clone());
        }
        engine
    }

    pub fn config(&self) -> &PbxSetup {
        &self.config
    }

    /// Applies one event and returns the entities whose state really changed.
    pub fn apply(&mut self, event: &Event) -> Vec<Change> {
        if let EventKind::MemberNamed { interface, name } = &event.kind {
            return self.member_named_from_host(interface, name);
        }
        if let EventKind::CommandSent { agent, queue, change } = &event.kind {
            self.expect_command(agent, queue.as_deref(), *change, event.ts_ms);
            return Vec::new();
        }
        self.turn.begin(event.ts_ms);
        self.advance_clock(event.ts_ms);
        self.turn.heard(event);
        let src = event.source;
        self.saw_queue_log |= src == Source::QueueLog;
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
                membership,
            } => self.member_added(
                queue,
                member,
                members::AddedDetails {
                    paused: *paused,
                    pause_reason: pause_reason.as_deref(),
                    penalty: *penalty,
                    device: *device,
                    wrapup_s: *wrapup_s,
                    membership: membership.as_deref(),
                },
            ),
            EventKind::MemberNamed { .. } | EventKind::CommandSent { .. } => {}
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
            EventKind::CallerJoined { queue, uniqueid, caller_id, caller_name: _, position, linkedid } => {
                self.caller_joined(
                    queue,
                    uniqueid,
                    calls::CallerInfo {
                        caller_id: caller_id.as_deref(),
                        linkedid: linkedid.as_deref(),
                        position: *position,
                    },
                    src,
                )
            }
            EventKind::AgentRinging { queue, uniqueid, member } => {
                self.agent_ringing(queue, uniqueid, member, src)
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
                visits::EndDetails { hold_s: *hold_s, talk_s: *talk_s, reason: *reason, source: src },
            ),
            EventKind::MemberCallEnded { queue, member, hold_s, talk_s, reason } => self.member_call_ended(
                queue,
                member,
                visits::EndDetails { hold_s: *hold_s, talk_s: *talk_s, reason: *reason, source: src },
            ),
            EventKind::CallerLeft { queue, uniqueid, reason, position: _, wait_s: _ } => {
                self.caller_left(queue, uniqueid, *reason, src)
            }
            EventKind::CallerDequeued { queue, uniqueid } => self.caller_dequeued(queue, uniqueid, src),
            EventKind::AgentDump { queue, uniqueid, member } => self.agent_dump(queue, uniqueid, member),
            // Informational (DESIGN): an app_agent_pool session does not change queue membership, and the
            // agent id (`7001`) is not the member interface; device state arrives via QueueMemberStatus.
            EventKind::AgentSession { .. } => {}
            EventKind::StatusSnapshot(snapshot) => self.status_snapshot(snapshot),
            EventKind::Tick => {}
        }
        self.finish()
    }

    /// Status refresh of the touched agents and the changes of the event, deduplicated.
    fn finish(&mut self) -> Vec<Change> {
        self.refresh_touched();
        self.turn.dedup();
        self.release_agent_events();
        self.turn.take()
    }

    /// The current state of the entities named by `changes`, in their order. An entity the engine no longer
    /// knows (e.g. a call already forgotten) is skipped: there is nothing to write.
    pub fn views<'a>(&'a self, changes: &'a [Change]) -> impl Iterator<Item = View<'a>> + 'a {
        changes.iter().filter_map(|change| match change {
            Change::Agent(id) => self.agent_view(id).map(View::Agent),
            Change::AgentRemoved(id) => Some(View::AgentRemoved(id)),
            Change::Queue(name) => self.queue_view(name).map(View::Queue),
            Change::Call(uniqueid) => self.call_view(uniqueid).map(View::Call),
            Change::AgentEvent(event) => Some(View::AgentEvent(event)),
        })
    }

    /// Every agent, queue and call the engine knows, for a full write.
    pub fn all_views(&self) -> impl Iterator<Item = View<'_>> {
        let agents = self.live_agents().map(|a| View::Agent(view::agent(a, &self.queues)));
        let queues = self.queues.iter().map(|q| View::Queue(view::queue(q)));
        let calls = self.calls.iter().map(|c| View::Call(self.render_call(c)));
        agents.chain(queues).chain(calls)
    }

    pub fn agent_view(&self, id: &str) -> Option<AgentView<'_>> {
        self.agents.of(id).and_then(|a| self.agent(a)).map(|a| view::agent(a, &self.queues))
    }

    pub fn queue_view(&self, name: &str) -> Option<QueueView<'_>> {
        self.queue_of(name).map(|q| view::queue(&self.queues[q as usize]))
    }

    pub fn queue_views(&self) -> impl Iterator<Item = QueueView<'_>> {
        self.queues.iter().map(view::queue)
    }

    pub fn call_view(&self, uniqueid: &str) -> Option<CallView<'_>> {
        Some(self.render_call(self.calls.by_uniqueid(uniqueid)?))
    }

    fn render_call<'a>(&'a self, call: &'a Call) -> CallView<'a> {
        view::call(call, &self.queues, |a| self.agent(a).map(|a| a.id.as_str()))
    }

    pub fn has_agent(&self, id: &str) -> bool {
        self.agents.of(id).and_then(|a| self.agent(a)).is_some()
    }

    /// How many agents, queues and calls the engine holds.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.live_agents().count(), self.queues.len(), self.calls.len())
    }

    /// Uniqueids of the calls the engine holds, for tests and tools.
    pub fn call_ids(&self) -> Vec<String> {
        self.calls.iter().map(|c| c.uniqueid.to_string()).collect()
    }

    pub fn agent_fields(&self, id: &str) -> Option<Fields> {
        self.agent_view(id).map(|v| view::to_fields(&v))
    }

    /// The agent a command names (its id, or a member name the engine knows) and the queues it is in now: what
    /// the command task needs to address Asterisk.
    pub fn agent_target(&self, agent: &str) -> Option<AgentTarget> {
        let a = match self.agents.of(agent) {
            Some(a) => a,
            None => self.agents.of(self.names.interface(agent)?.as_str())?,
        };
        let agent = self.agent(a)?;
        Some(AgentTarget {
            id: agent.id.clone(),
            interface: agent.interface().map(str::to_owned),
            queues: agent.queues.iter().map(|m| self.queues[m.queue as usize].name.clone()).collect(),
        })
    }

    pub fn queue_fields(&self, name: &str) -> Option<Fields> {
        self.queue_view(name).map(|v| view::to_fields(&v))
    }

    /// Waiting callers of a queue: caller uniqueid → `{uniqueid, caller_id, position, joined_at}`.
    pub fn queue_waiting(&self, name: &str) -> Vec<(String, serde_json::Value)> {
        let Some(queue) = self.queue_view(name) else { return Vec::new() };
        queue
            .waiting
            .iter()
            .map(|w| (w.uniqueid.to_owned(), serde_json::to_value(w).unwrap_or_default()))
            .collect()
    }

    pub fn call_fields(&self, uniqueid: &str) -> Option<Fields> {
        self.call_view(uniqueid).map(|v| view::to_fields(&v))
    }

    /// Visits of a call in order: (queue display name, outcome), for tests and tools.
    pub fn call_visits(&self, uniqueid: &str) -> Vec<(String, &'static str)> {
        let Some(call) = self.calls.by_uniqueid(uniqueid) else {
            return Vec::new();
        };
        call.visits.iter().map(|v| (self.queues[v.queue as usize].name.clone(), state::outcome(v))).collect()
    }

    pub fn snapshot(&self) -> Snapshot {
        let agents = self
            .live_agents()
            .map(|a| (a.id.clone(), view::to_fields(&view::agent(a, &self.queues))))
            .collect();
        let queues = self.queues.iter().map(|q| (q.name.clone(), view::to_fields(&view::queue(q)))).collect();
        Snapshot { agents, queues }
    }

    fn live_agents(&self) -> impl Iterator<Item = &Agent> {
        self.agents.iter().flatten()
    }

    fn agent(&self, a: AgentIx) -> Option<&Agent> {
        self.agents.get(a as usize).and_then(Option::as_ref)
    }

    fn agent_mut(&mut self, a: AgentIx) -> Option<&mut Agent> {
        self.agents.get_mut(a as usize).and_then(Option::as_mut)
    }

    /// The number of an existing queue, by any spelling of its name.
    fn queue_of(&self, name: &str) -> Option<QueueIx> {
        self.queues.of(name)
    }

    /// Service-level threshold of a queue: queues.conf, then QueueStatus, then the default.
    fn service_level_s(&self, q: QueueIx) -> u32 {
        let queue = &self.queues[q as usize];
        queue
            .configured
            .service_level_s
            .or(queue.service_level_s)
            .unwrap_or(self.config.default_service_level_s)
    }

    /// Wrap-up seconds after a call in a queue: the member's override (non-zero), else queues.conf.
    fn wrapup_s(&self, a: AgentIx, q: QueueIx) -> u32 {
        let member = self.agent(a).and_then(|a| a.membership(q)).and_then(|m| m.wrapup_s).filter(|s| *s > 0);
        member.or(self.queues[q as usize].configured.wrapup_s).unwrap_or(0)
    }

    /// Creates the queue on first mention and returns its number.
    fn ensure_queue(&mut self, name: &str) -> QueueIx {
        let key = queue_key(name);
        if let Some(q) = self.queues.of(&key) {
            return q;
        }
        let settings = self.config.queues.get(&*key).cloned().unwrap_or_default();
        let q = self.queues.add(&key, name, settings);
        self.turn.out.push(Change::Queue(name.to_owned()));
        q
    }

    fn queue_changed(&mut self, q: QueueIx) {
        self.turn.queue_changed(&self.queues[q as usize].name);
    }

    fn agent_changed(&mut self, a: AgentIx) {
        let Some(agent) = self.agents.get(a as usize).and_then(Option::as_ref) else { return };
        self.turn.agent_changed(&agent.id);
    }

    fn touch(&mut self, a: AgentIx) {
        self.turn.touch(a);
    }
}

/// A vector length as a record number. The engine holds far fewer than 2^32 agents, queues or calls.
fn ix(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
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
