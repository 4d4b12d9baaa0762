//! What is due later: wrap-up ends and the settling of callers AMI took off a waiting list without saying
//! why. Each is kept in time order so the clock's advance pops only what is due.

use super::TsMs;
use super::key::Key;
use super::state::AgentIx;
use std::collections::BTreeSet;

#[derive(Debug, Default)]
pub(super) struct Timers {
    /// Pending wrap-up ends: (end time, agent).
    wrapups: BTreeSet<(TsMs, AgentIx)>,
    /// Callers AMI took off a waiting list without an outcome: (settle time, uniqueid); see
    /// `calls::UNEXPLAINED_LEAVE_SETTLE_MS`.
    unexplained: BTreeSet<(TsMs, Key)>,
}

impl Timers {
    pub fn wrapup_ends(&mut self, until: TsMs, a: AgentIx) {
        self.wrapups.insert((until, a));
    }

    /// The earliest wrap-up end at or before `now`, taken off the list.
    pub fn wrapup_due(&mut self, now: TsMs) -> Option<(TsMs, AgentIx)> {
        pop_due(&mut self.wrapups, now)
    }

    /// The wrap-ups of agent `from` end for `to` (a provisional agent merged into the real one).
    pub fn move_wrapups(&mut self, from: AgentIx, to: AgentIx) {
        self.wrapups = std::mem::take(&mut self.wrapups)
            .into_iter()
            .map(|(until, a)| (until, if a == from { to } else { a }))
            .collect();
    }

    pub fn settle_leave(&mut self, due: TsMs, uniqueid: &str) {
        self.unexplained.insert((due, Key::new(uniqueid)));
    }

    /// The earliest caller whose leave settles at or before `now`, taken off the list.
    pub fn leave_due(&mut self, now: TsMs) -> Option<Key> {
        pop_due(&mut self.unexplained, now).map(|(_, uid)| uid)
    }
}

/// The earliest entry of `set` due at or before `now`, taken off it.
fn pop_due<T: Ord>(set: &mut BTreeSet<(TsMs, T)>, now: TsMs) -> Option<(TsMs, T)> {
    if set.first().is_some_and(|(due, _)| *due <= now) { set.pop_first() } else { None }
}
