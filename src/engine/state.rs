//! The engine's own records. Everything rendered to the outside is derived from these in `render`.

use super::QueueSettings;
use super::event::{DeviceState, LeaveReason, Source, TsMs};
use super::hash::FastMap;
use std::collections::BTreeMap;
use std::sync::Arc;

/// DESIGN.md agent status, highest rule first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    LoggedOut,
    Talking,
    Ringing,
    Paused,
    Unavailable,
    Wrapup,
    Available,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoggedOut => "logged_out",
            Self::Talking => "talking",
            Self::Ringing => "ringing",
            Self::Paused => "paused",
            Self::Unavailable => "unavailable",
            Self::Wrapup => "wrapup",
            Self::Available => "available",
        }
    }
}

/// One agent's membership in one queue.
#[derive(Debug, Clone)]
pub struct Membership {
    /// Queue name as first spelled (the queue's display name).
    pub queue: String,
    pub paused: bool,
    pub pause_reason: Option<String>,
    /// When the current pause began (event time); picks the agent-level reason among several pauses.
    pub paused_at: TsMs,
    pub penalty: i64,
    /// Member-level wrap-up override (AMI `Wrapuptime`, 0 = the queue's).
    pub wrapup_s: Option<u32>,
    /// (per-queue status, paused) as last added to the queue's counts; None = not yet counted.
    pub counted: Option<(Status, bool)>,
}

impl Membership {
    pub fn new(queue: &str) -> Self {
        Self {
            queue: queue.to_owned(),
            paused: false,
            pause_reason: None,
            paused_at: 0,
            penalty: 0,
            wrapup_s: None,
            counted: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Agent {
    /// Interface, or the member name while the interface is unknown (`provisional`).
    pub id: String,
    pub name: Option<String>,
    /// Known only by its member name: a queue_log-only agent whose interface was not learned yet.
    pub provisional: bool,
    /// Keyed by lower-cased queue name.
    pub queues: BTreeMap<String, Membership>,
    pub device: DeviceState,
    /// Caller uniqueids this agent is ringing for.
    pub ringing: Vec<String>,
    /// Caller uniqueids this agent is bridged to.
    pub talking: Vec<String>,
    pub wrapup_until: Option<TsMs>,
    /// The `(until, id)` entry of `Engine::wrapups` known to exist for this agent, so re-deriving the
    /// status of an agent in wrap-up does not allocate its id again just to insert a duplicate.
    pub wrapup_scheduled: Option<TsMs>,
    pub status: Status,
    pub status_since: TsMs,
    pub calls_answered: u64,
    pub calls_missed: u64,
    pub talk_seconds: u64,
}

impl Agent {
    pub fn new(id: &str, name: Option<&str>, provisional: bool, now: TsMs) -> Self {
        Self {
            id: id.to_owned(),
            name: name.map(str::to_owned),
            provisional,
            queues: BTreeMap::new(),
            device: DeviceState::Unknown,
            ringing: Vec::new(),
            talking: Vec::new(),
            wrapup_until: None,
            wrapup_scheduled: None,
            status: Status::LoggedOut,
            status_since: now,
            calls_answered: 0,
            calls_missed: 0,
            talk_seconds: 0,
        }
    }

    pub fn interface(&self) -> Option<&str> {
        (!self.provisional).then_some(self.id.as_str())
    }
}

/// Per-queue counts of members by (per-queue) status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemberCounts {
    pub logged_in: u32,
    pub available: u32,
    pub paused: u32,
    pub talking: u32,
    pub ringing: u32,
    pub unavailable: u32,
}

impl MemberCounts {
    /// Adds (`sign` = 1) or removes (-1) one member counted as `(status, paused)`.
    pub fn adjust(&mut self, (status, paused): (Status, bool), sign: i32) {
        let bump = |v: &mut u32| *v = v.saturating_add_signed(sign);
        bump(&mut self.logged_in);
        if paused {
            bump(&mut self.paused);
        }
        match status {
            Status::Available => bump(&mut self.available),
            Status::Talking => bump(&mut self.talking),
            Status::Ringing => bump(&mut self.ringing),
            Status::Unavailable => bump(&mut self.unavailable),
            Status::LoggedOut | Status::Paused | Status::Wrapup => {}
        }
    }
}

/// Today's per-queue counters, derived from call contributions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounters {
    pub answered: u64,
    pub abandoned: u64,
    pub timed_out: u64,
    pub transferred: u64,
    pub hold_sum_s: u64,
    pub hold_count: u64,
    pub hold_max_s: u32,
    pub talk_sum_s: u64,
    pub talk_count: u64,
    /// Answered calls whose hold time was within the service level.
    pub sl_within: u64,
}

#[derive(Debug, Clone)]
pub struct Waiting {
    pub caller_id: Option<String>,
    pub position: Option<u32>,
    pub joined_at: TsMs,
}

#[derive(Debug, Clone)]
pub struct Queue {
    pub name: String,
    /// Lower-cased name and the display name again, shared with this queue's call records (which would
    /// otherwise each allocate both).
    pub key: Arc<str>,
    pub shared_name: Arc<str>,
    /// This queue's queues.conf settings (a copy of `EngineConfig::queues`' entry; default when none).
    pub configured: QueueSettings,
    pub members: std::collections::BTreeSet<String>,
    pub counts: MemberCounts,
    pub counters: QueueCounters,
    pub waiting: BTreeMap<String, Waiting>,
    /// Service-level threshold from QueueStatus, used when the config does not give one.
    pub service_level_s: Option<u32>,
}

impl Queue {
    pub fn new(key: &str, name: &str, configured: QueueSettings) -> Self {
        Self {
            configured,
            name: name.to_owned(),
            key: Arc::from(key),
            shared_name: Arc::from(name),
            members: Default::default(),
            counts: MemberCounts::default(),
            counters: QueueCounters::default(),
            waiting: BTreeMap::new(),
            service_level_s: None,
        }
    }
}

/// How a connected call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Completed,
    Transferred,
}

/// One queue call, keyed by the caller's uniqueid.
#[derive(Debug, Clone, Default)]
pub struct Call {
    pub queue_key: Arc<str>,
    pub queue: Arc<str>,
    pub caller_id: Option<String>,
    pub joined_at: Option<TsMs>,
    pub agent: Option<String>,
    pub connected_at: Option<TsMs>,
    pub ended_at: Option<TsMs>,
    pub hold_s: Option<u32>,
    /// The hold time came from queue_log (which wins over AMI's when both give one).
    pub hold_from_queue_log: bool,
    pub talk_s: Option<u32>,
    pub talk_from_queue_log: bool,
    pub leave: Option<LeaveReason>,
    pub ending: Option<Ending>,
    /// Agents ringing for this caller now.
    pub ringing: Vec<String>,
    /// Ring-no-answer reports: (agent, source, time). Deduplicated by exact time per source.
    pub misses: Vec<(String, Source, TsMs)>,
    /// Day (index) this call's contributions were added to the counters in.
    pub counted_day: Option<i64>,
    pub contributed: Contribution,
}

/// What one call adds to the daily counters; diffing old vs new keeps counters exact when facts about a
/// call arrive twice or are refined (AMI `Unspecified` → queue_log `Timeout`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contribution {
    pub answered: bool,
    pub abandoned: bool,
    pub timed_out: bool,
    pub transferred: bool,
    pub hold_s: Option<u32>,
    pub sl_within: bool,
    pub talk_s: Option<u32>,
    /// Agent credited with the answer (and the talk seconds).
    pub agent: Option<String>,
    /// Missed rings per agent.
    pub misses: Vec<(String, u32)>,
}

impl Contribution {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Call outcome as DESIGN.md spells it.
pub fn outcome(call: &Call) -> &'static str {
    match (call.ending, call.connected_at.is_some() || call.agent.is_some(), call.leave) {
        (Some(Ending::Transferred), _, _) => "transferred",
        (_, true, _) => "answered",
        (_, false, Some(reason)) if is_timed_out(reason) => "timed_out",
        (_, false, Some(_)) => "abandoned",
        _ => "waiting",
    }
}

/// DESIGN.md: `timed_out` = left by timeout, empty queue or key (and a supervisor's withdraw). Everything
/// else unanswered is `abandoned`, including AMI's unspecified reason until queue_log refines it.
pub fn is_timed_out(reason: LeaveReason) -> bool {
    matches!(reason, LeaveReason::Timeout | LeaveReason::Empty | LeaveReason::Key | LeaveReason::Withdraw)
}

pub type Agents = FastMap<String, Agent>;
pub type Queues = FastMap<String, Queue>;
pub type Calls = FastMap<String, Call>;
