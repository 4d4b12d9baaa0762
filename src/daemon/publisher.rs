//! The publisher: the single owner of the engine's state, and what the sink is told of it. Source messages
//! in, coalesced and rendered updates out; the start-up replay is applied unpublished and followed by one
//! `resync`. Time comes from the events; the daemon adds one `Tick` per second (wrap-up ends, day rollover)
//! from the wall clock.

use crate::engine::{Change, Engine, Event, EventKind, Source, TsMs};
use crate::sink::{Health, SinkHandle, SinkMsg};
use crate::sources::{AmiHealth, QueueLogHealth, SourceMsg};
use std::collections::{BTreeSet, HashMap};

/// What the lifecycle owner must act on after a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Milestone {
    /// The start-up replay is applied and its final state handed to the sink.
    ReplayDone,
}

/// Counters for the systemd status line and logs.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub events: u64,
    pub updates: u64,
}

/// The engine and the publication of its changes (not a task: the daemon's loop drives it).
pub struct Publisher {
    engine: Engine,
    sink: SinkHandle,
    /// False during the start-up replay: its deltas are not published, one `resync` follows instead.
    publishing: bool,
    health: Health,
    stats: Stats,
    /// Queues changed since the last `flush_queues`. A queue renders with its whole waiting list, and the
    /// sink publishes at most one `queue_update` per interval anyway, so rendering it per event batch would
    /// only cost O(waiting callers) per event for nothing.
    pending_queues: BTreeSet<String>,
}

impl Publisher {
    pub fn new(engine: Engine, sink: SinkHandle, health: Health) -> Self {
        sink.send(SinkMsg::Health(health));
        Self {
            engine,
            sink,
            publishing: false,
            health,
            stats: Stats::default(),
            pending_queues: BTreeSet::new(),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Publishes the whole current state with a `resync` and starts publishing deltas.
    pub fn resync(&mut self) {
        self.pending_queues.clear();
        let state = crate::sink::render(self.engine.all_views());
        self.stats.updates += state.len() as u64;
        self.sink.send(SinkMsg::Resync(state));
        self.publishing = true;
    }

    pub fn handle(&mut self, msg: SourceMsg) -> Option<Milestone> {
        match msg {
            SourceMsg::Events(events) => self.apply(&events),
            SourceMsg::ReplayDone => {
                self.resync();
                return Some(Milestone::ReplayDone);
            }
            SourceMsg::QueueLog(health) => self.set_health(None, Some(health)),
            SourceMsg::Ami(health) => self.set_health(Some(health), None),
        }
        None
    }

    /// Time passing: ends wrap-ups and rolls the day over even when Asterisk is quiet. Not during the
    /// start-up replay: the wall clock would run ahead of the replayed lines, which `replay` never sees, and
    /// the two must build the same state.
    pub fn tick(&mut self, now_ms: TsMs) {
        if !self.publishing {
            return;
        }
        self.apply(&[Event { ts_ms: now_ms, source: Source::Clock, actor: None, kind: EventKind::Tick }]);
    }

    fn apply(&mut self, events: &[Event]) {
        self.stats.events += events.len() as u64;
        if !self.publishing {
            // The start-up replay: its changes go out as one `resync` at the end, so none is kept here.
            for event in events {
                self.engine.apply(event);
            }
            return;
        }
        let mut changes = Vec::new();
        for event in events {
            changes.extend(self.engine.apply(event));
        }
        if changes.is_empty() {
            return;
        }
        let mut changes = coalesce(&self.engine, changes);
        changes.retain(|change| match change {
            Change::Queue(name) => {
                self.pending_queues.insert(name.clone());
                false
            }
            _ => true,
        });
        self.send(&changes);
    }

    /// Renders and hands over the queues changed since the last call; the daemon calls it every
    /// `queue_update_interval_ms` and before stopping.
    pub fn flush_queues(&mut self) {
        if self.pending_queues.is_empty() {
            return;
        }
        let changes: Vec<Change> =
            std::mem::take(&mut self.pending_queues).into_iter().map(Change::Queue).collect();
        self.send(&changes);
    }

    fn send(&mut self, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        let updates = crate::sink::render(self.engine.views(changes));
        self.stats.updates += updates.len() as u64;
        self.sink.send(SinkMsg::Updates(updates));
    }

    fn set_health(&mut self, ami: Option<AmiHealth>, queue_log: Option<QueueLogHealth>) {
        let before = self.health;
        if let Some(ami) = ami {
            self.health.ami = ami;
        }
        if let Some(queue_log) = queue_log {
            self.health.queue_log = queue_log;
        }
        if self.health != before {
            self.sink.send(SinkMsg::Health(self.health));
        }
    }
}

/// One change per entity, in order of its last occurrence; every agent event kept, in order (each is its
/// own message). An agent both removed and (re)created in one batch is written as what the engine holds
/// now, so the sink never deletes a live agent.
fn coalesce(engine: &Engine, changes: Vec<Change>) -> Vec<Change> {
    let mut last: HashMap<Change, usize> = HashMap::with_capacity(changes.len());
    let normalized: Vec<Change> = changes
        .into_iter()
        .map(|change| match change {
            Change::AgentRemoved(id) | Change::Agent(id) => {
                if engine.has_agent(&id) {
                    Change::Agent(id)
                } else {
                    Change::AgentRemoved(id)
                }
            }
            other => other,
        })
        .collect();
    for (index, change) in normalized.iter().enumerate() {
        last.insert(change.clone(), index);
    }
    normalized
        .into_iter()
        .enumerate()
        .filter(|(index, change)| matches!(change, Change::AgentEvent(_)) || last.get(change) == Some(index))
        .map(|(_, c)| c)
        .collect()
}
