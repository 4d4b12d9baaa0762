//! The engine's own records. Everything rendered to the outside is derived from these in `view`.

use super::QueueSettings;
use super::event::{DeviceState, LeaveReason, Source, TsMs};
use super::key::Key;

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

/// Dense number of an agent: its index in `Engine::agents`. Numbers are never reused (a merged provisional
/// agent leaves an empty slot), so a number held anywhere never comes to mean another agent.
pub type AgentIx = u32;
/// Dense number of a queue: its index in `Engine::queues` (queues are never removed).
pub type QueueIx = u32;
/// Index of a call in `Engine::calls`; valid until the next day rollover compacts the list, so only the
/// uniqueid index (`records::Calls`) holds one across events.
pub type CallIx = u32;

/// One agent's membership in one queue.
#[derive(Debug, Clone)]
pub struct Membership {
    pub queue: QueueIx,
    pub paused: bool,
    pub pause_reason: Option<String>,
    /// When the current pause began (event time); picks the agent-level reason among several pauses.
    pub paused_at: TsMs,
    pub penalty: i64,
    /// Member-level wrap-up override (AMI `Wrapuptime`, 0 = the queue's).
    pub wrapup_s: Option<u32>,
    /// (per-queue status, paused) as last added to the queue's counts; None = not yet counted.
    pub counted: Option<(Status, bool)>,
    /// An ADDMEMBER named the member by name (`log_membername_as_agent = yes`): a member of its own even
    /// while its interface is unknown, unlike a name seen only in PAUSE/CONNECT… lines.
    pub added_by_name: bool,
}

impl Membership {
    pub fn new(queue: QueueIx) -> Self {
        Self {
            queue,
            paused: false,
            pause_reason: None,
            paused_at: 0,
            penalty: 0,
            wrapup_s: None,
            counted: None,
            added_by_name: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Agent {
    /// Interface, or the member name while the interface is unknown (`provisional`). A `String`, not a
    /// `Key`: it is copied into every change of the agent, and agents are few.
    pub id: String,
    pub name: Option<String>,
    /// Known only by its member name: a queue_log-only agent whose interface was not learned yet.
    pub provisional: bool,
    /// Sorted by queue number: an agent is in a handful of queues, where a vector beats any map.
    pub queues: Vec<Membership>,
    pub device: DeviceState,
    /// Caller uniqueids this agent is ringing for.
    pub ringing: Vec<Key>,
    /// Caller uniqueids this agent is bridged to.
    pub talking: Vec<Key>,
    /// The device already read busy (a direct, non-queue call) when the first current queue ring began. A
    /// `Local/` member's device reads "in use" from the moment the queue rings it, so a busy reading that
    /// came after the ring is the ring itself; one from before it is another call (DESIGN.md status rules).
    pub busy_when_rung: bool,
    /// The queue call ringing or connected to the agent, as rendered in its `call` field.
    pub screen: Option<ScreenPop>,
    pub wrapup_until: Option<TsMs>,
    /// The `(until, agent)` wrap-up end known to be scheduled in `timers` for this agent, so re-deriving
    /// the status of an agent in wrap-up does not insert a duplicate.
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
            queues: Vec::new(),
            device: DeviceState::Unknown,
            ringing: Vec::new(),
            talking: Vec::new(),
            busy_when_rung: false,
            screen: None,
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

    /// Where the membership in `queue` is (`Ok`) or would go (`Err`) in the sorted `queues`.
    fn membership_at(&self, queue: QueueIx) -> Result<usize, usize> {
        self.queues.binary_search_by_key(&queue, |m| m.queue)
    }

    pub fn membership(&self, queue: QueueIx) -> Option<&Membership> {
        let at = self.membership_at(queue).ok()?;
        self.queues.get(at)
    }

    pub fn membership_mut(&mut self, queue: QueueIx) -> Option<&mut Membership> {
        let at = self.membership_at(queue).ok()?;
        self.queues.get_mut(at)
    }

    pub fn is_member(&self, queue: QueueIx) -> bool {
        self.membership_at(queue).is_ok()
    }

    /// Adds the membership unless the agent already has one in that queue; returns whether it was added.
    pub fn add_membership(&mut self, membership: Membership) -> bool {
        match self.membership_at(membership.queue) {
            Ok(_) => false,
            Err(at) => {
                self.queues.insert(at, membership);
                true
            }
        }
    }

    pub fn remove_membership(&mut self, queue: QueueIx) -> Option<Membership> {
        let at = self.membership_at(queue).ok()?;
        Some(self.queues.remove(at))
    }
}

/// The agent hash's `call` field: the queue call ringing or connected to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenPop {
    pub uniqueid: Key,
    pub queue: QueueIx,
    pub caller_id: Option<Key>,
    /// When it connected, or when the ring began.
    pub since: TsMs,
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
    pub caller_id: Option<Key>,
    pub position: Option<u32>,
    pub joined_at: TsMs,
}

#[derive(Debug, Clone)]
pub struct Queue {
    /// Display name: the spelling of the first mention.
    pub name: String,
    /// This queue's queues.conf settings (a copy of `PbxSetup::queues`' entry; default when none).
    pub configured: QueueSettings,
    /// Member agents, ascending.
    pub members: Vec<AgentIx>,
    pub counts: MemberCounts,
    pub counters: QueueCounters,
    /// Waiting callers by uniqueid, ascending (the order the waiting list is rendered in). A queue has a
    /// few callers waiting at a time: a sorted vector is smaller and faster than a map.
    pub waiting: Vec<(Key, Waiting)>,
    /// Service-level threshold from QueueStatus, used when the config does not give one.
    pub service_level_s: Option<u32>,
}

impl Queue {
    pub fn new(name: &str, configured: QueueSettings) -> Self {
        Self {
            configured,
            name: name.to_owned(),
            members: Vec::new(),
            counts: MemberCounts::default(),
            counters: QueueCounters::default(),
            waiting: Vec::new(),
            service_level_s: None,
        }
    }

    pub fn waiting_at(&self, uniqueid: &str) -> Result<usize, usize> {
        self.waiting.binary_search_by(|(uid, _)| uid.as_bytes().cmp(uniqueid.as_bytes()))
    }

    pub fn add_member(&mut self, agent: AgentIx) {
        if let Err(at) = self.members.binary_search(&agent) {
            self.members.insert(at, agent);
        }
    }

    pub fn remove_member(&mut self, agent: AgentIx) {
        if let Ok(at) = self.members.binary_search(&agent) {
            self.members.remove(at);
        }
    }
}

/// How a connected call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Completed,
    Transferred,
}

/// One call: the caller's channel (its uniqueid), found through `records::Calls`, with every stay in a queue
/// (DESIGN.md "Calls and visits"). A blind transfer, a Redirect or an overflow dialplan sends the same channel
/// into another queue, or into the same queue again: each stay is its own [`Visit`].
#[derive(Debug, Clone)]
pub struct Call {
    pub uniqueid: Key,
    pub caller_id: Option<Key>,
    /// AMI `Linkedid`: the channel this one was created for. An attended transfer into a queue queues the
    /// consultation channel under a new uniqueid; its Linkedid is the original caller's uniqueid.
    pub linkedid: Option<Key>,
    /// In the order they began. Never empty once the call exists.
    pub visits: Vec<Visit>,
}

impl Call {
    pub fn new(uniqueid: &str) -> Self {
        Self { uniqueid: Key::new(uniqueid), caller_id: None, linkedid: None, visits: Vec::new() }
    }

    /// What an Asterisk restart would end: a visit neither ended nor left.
    pub fn has_open_visit(&self) -> bool {
        self.visits.iter().any(Visit::is_open)
    }

    /// The call is over when every visit is: the time the last one ended.
    pub fn ended_at(&self) -> Option<TsMs> {
        let mut latest = None;
        for visit in &self.visits {
            latest = latest.max(Some(visit.ended_at?));
        }
        latest
    }
}

/// Which feed reported a fact, as an index into per-feed flags; the clock is no feed.
pub fn feed(src: Source) -> Option<usize> {
    match src {
        Source::QueueLog => Some(0),
        Source::Ami => Some(1),
        Source::Clock => None,
    }
}

/// One stay of a call in one queue, from its join to its exit.
#[derive(Debug, Clone)]
pub struct Visit {
    pub queue: QueueIx,
    pub agent: Option<AgentIx>,
    pub joined_at: Option<TsMs>,
    pub connected_at: Option<TsMs>,
    pub ended_at: Option<TsMs>,
    pub hold_s: Option<u32>,
    pub talk_s: Option<u32>,
    /// The hold time came from queue_log (which wins over AMI's when both give one).
    pub hold_from_queue_log: bool,
    pub talk_from_queue_log: bool,
    pub leave: Option<LeaveReason>,
    pub ending: Option<Ending>,
    /// Agents ringing for this visit now, with when they started.
    pub ringing: Vec<(AgentIx, TsMs)>,
    /// Ring-no-answer reports: (agent, source, time). Deduplicated by exact time per source.
    pub misses: Vec<(AgentIx, Source, TsMs)>,
    /// Day (index) this visit's contributions were added to the counters in.
    pub counted_day: Option<i64>,
    pub contributed: Contribution,
    /// Per feed ([`feed`]): the feed reported something about this visit. Each feed reports a call's visits
    /// in order, so a feed's next join is the first later visit it has not reported yet (or a new one).
    pub seen_by: [bool; 2],
    /// Per feed: the feed said the caller left the waiting list (an exit, a connect, AMI QueueCallerLeave).
    /// A join from a feed whose latest visit in that queue it has not seen leave is a duplicate.
    pub left_by: [bool; 2],
    /// AMI took the caller off the waiting list (QueueCallerLeave) without a connect or an abandon yet.
    pub dequeued_at: Option<TsMs>,
    /// `leave`/`ended_at` are the engine's guess (an exit key) for such a leave, not a feed's report: a
    /// connect reported later (a feed running behind the clock) withdraws the guess.
    pub guessed_exit: bool,
}

impl Visit {
    pub fn new(queue: QueueIx) -> Self {
        Self {
            queue,
            agent: None,
            joined_at: None,
            connected_at: None,
            ended_at: None,
            hold_s: None,
            talk_s: None,
            hold_from_queue_log: false,
            talk_from_queue_log: false,
            leave: None,
            ending: None,
            ringing: Vec::new(),
            misses: Vec::new(),
            counted_day: None,
            contributed: Contribution::default(),
            seen_by: [false; 2],
            left_by: [false; 2],
            dequeued_at: None,
            guessed_exit: false,
        }
    }

    /// Neither ended nor left: what an Asterisk restart ends.
    pub fn is_open(&self) -> bool {
        self.ended_at.is_none() && self.leave.is_none()
    }

    /// The caller left this queue's waiting list for good (answered, left or ended).
    pub fn is_over(&self) -> bool {
        self.ended_at.is_some() || self.leave.is_some() || self.agent.is_some() || self.dequeued_at.is_some()
    }

    pub fn answered(&self) -> bool {
        self.agent.is_some() || self.connected_at.is_some()
    }
}

/// What one visit adds to the daily counters; diffing old vs new keeps counters exact when facts about a
/// call arrive twice or are refined (AMI `Unspecified` → queue_log `Timeout`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contribution {
    pub outcome: CountedOutcome,
    pub hold_s: Option<u32>,
    pub talk_s: Option<u32>,
    /// Agent credited with the answer (and the talk seconds).
    pub agent: Option<AgentIx>,
    /// Missed rings per agent.
    pub misses: Vec<(AgentIx, u32)>,
}

impl Contribution {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Which outcome counters a visit is in: a visit is answered, abandoned or timed out, never two of them, and
/// only an answered one counts as transferred or within the service level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CountedOutcome {
    /// Neither answered nor left: the caller is still waiting, or the visit ended without a leave reason.
    #[default]
    Undecided,
    Abandoned,
    TimedOut,
    Answered {
        transferred: bool,
        /// The hold time is known and within the queue's service level.
        sl_within: bool,
    },
}

/// Visit outcome as DESIGN.md spells it.
pub fn outcome(visit: &Visit) -> &'static str {
    match (visit.ending, visit.answered(), visit.leave) {
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
