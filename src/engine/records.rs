//! The agent, queue and call records with the indexes that find them by id or name: records are added
//! and dropped only here, so a record's number and its index entry never disagree.

use super::key::{Key, KeyMap};
use super::state::{Agent, AgentIx, Call, CallIx, Queue, QueueIx};
use super::{QueueSettings, ix, queue_key};
use std::ops::{Deref, DerefMut};

/// Reads and changes of the records themselves go through the slice; only adding and dropping records
/// (which moves the index) needs the part's own methods.
macro_rules! records_as_slice {
    ($part:ident, $field:ident, $record:ty) => {
        impl Deref for $part {
            type Target = [$record];
            fn deref(&self) -> &[$record] {
                &self.$field
            }
        }

        impl DerefMut for $part {
            fn deref_mut(&mut self) -> &mut [$record] {
                &mut self.$field
            }
        }
    };
}

/// All agents by number; an empty slot is a provisional agent merged into its real one (numbers are never
/// reused, so a number held anywhere never comes to mean another agent).
#[derive(Debug, Default)]
pub(super) struct Agents {
    slots: Vec<Option<Agent>>,
    /// Agent id (interface, or member name while provisional) → number.
    by_id: KeyMap<AgentIx>,
}

impl Agents {
    pub fn of(&self, id: &str) -> Option<AgentIx> {
        self.by_id.get(id).copied()
    }

    /// Adds `agent`, whose id is not yet known.
    pub fn add(&mut self, agent: Agent) -> AgentIx {
        let a = ix(self.slots.len());
        self.by_id.insert(Key::new(&agent.id), a);
        self.slots.push(Some(agent));
        a
    }

    /// Takes agent `a` out, and its id `id` out of the index.
    pub fn take(&mut self, a: AgentIx, id: &str) -> Option<Agent> {
        let agent = self.slots.get_mut(a as usize).and_then(Option::take)?;
        self.by_id.remove(id);
        Some(agent)
    }
}

records_as_slice!(Agents, slots, Option<Agent>);

/// All queues by number (queues are never removed), found by any spelling of their name.
#[derive(Debug, Default)]
pub(super) struct Queues {
    list: Vec<Queue>,
    /// Lower-cased queue name → number.
    by_key: KeyMap<QueueIx>,
}

impl Queues {
    /// The number of an existing queue, by any spelling of its name.
    pub fn of(&self, name: &str) -> Option<QueueIx> {
        self.by_key.get(queue_key(name).as_ref()).copied()
    }

    /// Adds a queue displayed as `name`; `key` is its lower-cased name, not yet known.
    pub fn add(&mut self, key: &str, name: &str, settings: QueueSettings) -> QueueIx {
        let q = ix(self.list.len());
        self.list.push(Queue::new(name, settings));
        self.by_key.insert(Key::new(key), q);
        q
    }
}

records_as_slice!(Queues, list, Queue);

/// The calls of today (and the live ones), found by caller uniqueid. A [`CallIx`] is valid until
/// [`Calls::retain`] renumbers them.
#[derive(Debug, Default)]
pub(super) struct Calls {
    list: Vec<Call>,
    by_uniqueid: KeyMap<CallIx>,
    /// Calls before this number have no open visit: an Asterisk restart, which ends every open visit,
    /// looks only at the calls from here on. A day of calls and of restarts (a scenario loop, a crashing
    /// Asterisk) otherwise costs calls × restarts. Lowered by [`Calls::may_reopen`] for every fact about an
    /// earlier call, which may add a visit or reopen one.
    settled: usize,
}

impl Calls {
    pub fn of(&self, uniqueid: &str) -> Option<CallIx> {
        self.by_uniqueid.get(uniqueid).copied()
    }

    pub fn by_uniqueid(&self, uniqueid: &str) -> Option<&Call> {
        self.list.get(self.of(uniqueid)? as usize)
    }

    /// Adds the call of `uniqueid`, not yet known.
    pub fn add(&mut self, uniqueid: &str) -> CallIx {
        let c = ix(self.list.len());
        self.list.push(Call::new(uniqueid));
        self.by_uniqueid.insert(Key::new(uniqueid), c);
        c
    }

    /// Call `c` may get a visit, or an ended visit may open again.
    pub fn may_reopen(&mut self, c: CallIx) {
        self.settled = self.settled.min(c as usize);
    }

    /// The calls that may have an open visit, with their numbers.
    pub fn unsettled(&self) -> impl Iterator<Item = (CallIx, &Call)> {
        let from = self.settled.min(self.list.len());
        debug_assert!(
            !self.list.get(..from).unwrap_or_default().iter().any(Call::has_open_visit),
            "a settled call has an open visit: a change to visits did not come through `Engine::ensure_call`"
        );
        self.list
            .get(from..)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(move |(i, call)| (ix(from + i), call))
    }

    /// Every call before the first that still has an open visit is settled.
    pub fn settle(&mut self) {
        let from = self.settled.min(self.list.len());
        let first_open = self.list.get(from..).unwrap_or_default().iter().position(Call::has_open_visit);
        self.settled = first_open.map_or(self.list.len(), |i| from + i);
    }

    /// Keeps the calls `keep` says, renumbered.
    pub fn retain(&mut self, keep: impl FnMut(&Call) -> bool) {
        self.settled = 0;
        self.list.retain(keep);
        self.by_uniqueid.clear();
        for (c, call) in self.list.iter().enumerate() {
            self.by_uniqueid.insert(call.uniqueid.clone(), ix(c));
        }
    }
}

records_as_slice!(Calls, list, Call);
