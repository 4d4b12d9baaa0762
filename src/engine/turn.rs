//! The event being applied: when it happened, which feed said it, who made it, and what it changed so far.
//! `Engine::apply` begins a turn for each event and ends it by draining the changes, so nothing of one event
//! leaks into the next; the buffers keep their capacity across events.

use super::state::AgentIx;
use super::{Actor, Change, Event, Source, TsMs};

#[derive(Debug)]
pub(super) struct Turn {
    /// Time of the event: what a status change it causes is stamped with.
    pub cause: TsMs,
    pub source: Source,
    /// Who made the change the event reports (`agent_events`).
    pub actor: Actor,
    /// The event makes no agent events (the first `QueueStatus` answer).
    pub quiet: bool,
    /// Changes of the event so far.
    pub out: Vec<Change>,
    /// Agents whose derived status must be recomputed before the turn ends.
    pub touched: Vec<AgentIx>,
}

impl Default for Turn {
    fn default() -> Self {
        Self {
            cause: TsMs::MIN,
            source: Source::Clock,
            actor: Actor::Unknown,
            quiet: false,
            out: Vec::new(),
            touched: Vec::new(),
        }
    }
}

impl Turn {
    /// Starts the turn of an event at `ts`.
    pub fn begin(&mut self, ts: TsMs) {
        self.cause = ts;
        self.quiet = false;
    }

    /// The feed and actor of `event`, set once the clock has moved: what the advance settles (ended
    /// wrap-ups, settled leaves) still sees the feed of the turn before. An event without an actor was made
    /// by AMI when AMI reports it, by the configuration when the clock does, and by someone unknown when
    /// only queue_log says it.
    pub fn heard(&mut self, event: &Event) {
        self.source = event.source;
        self.actor = event.actor.unwrap_or(match event.source {
            Source::Ami => Actor::Ami,
            Source::Clock => Actor::Config,
            Source::QueueLog => Actor::Unknown,
        });
    }

    /// A queue change, once per turn.
    pub fn queue_changed(&mut self, name: &str) {
        self.once(|c| matches!(c, Change::Queue(n) if n == name), || Change::Queue(name.to_owned()));
    }

    /// An agent change, once per turn.
    pub fn agent_changed(&mut self, id: &str) {
        self.once(|c| matches!(c, Change::Agent(a) if a == id), || Change::Agent(id.to_owned()));
    }

    /// A call change, once per turn.
    pub fn call_changed(&mut self, uniqueid: &str) {
        self.once(|c| matches!(c, Change::Call(u) if u == uniqueid), || Change::Call(uniqueid.to_owned()));
    }

    /// Records the change unless the turn holds it already: handlers report the same entity several times,
    /// and the scan of a turn's few changes is cheaper than allocating the id again.
    fn once(&mut self, held: impl Fn(&Change) -> bool, change: impl FnOnce() -> Change) {
        if !self.out.iter().any(held) {
            self.out.push(change());
        }
    }

    pub fn touch(&mut self, a: AgentIx) {
        if !self.touched.contains(&a) {
            self.touched.push(a);
        }
    }

    /// Sorts the changes and drops repeats.
    pub fn dedup(&mut self) {
        if self.out.len() > 1 {
            self.out.sort_unstable();
            self.out.dedup();
        }
    }

    /// The changes, in one exact-size allocation for the caller; the buffer keeps its capacity for the next
    /// event (taking it would leave an empty vector that every event regrows push by push).
    pub fn take(&mut self) -> Vec<Change> {
        self.out.drain(..).collect()
    }
}
