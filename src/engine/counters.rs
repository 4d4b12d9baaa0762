//! Applying the difference between a call's old and new contribution to the daily counters.
//!
//! Free functions over the parts they touch (a queue, the agents, the change list), so `recount` can apply a
//! difference while it still borrows the call record, without copying the contribution.

use super::state::{Agent, AgentIx, Contribution, CountedOutcome, Queue, QueueCounters, QueueIx};
use super::{Change, Engine};

/// Moves the visit's count in `counter` from its old outcome to its new one; `is` tells the outcomes the
/// counter counts.
fn flag(counter: &mut u64, old: CountedOutcome, new: CountedOutcome, is: impl Fn(CountedOutcome) -> bool) {
    match (is(old), is(new)) {
        (false, true) => *counter += 1,
        (true, false) => *counter = counter.saturating_sub(1),
        _ => {}
    }
}

/// Removes `old` and adds `new` to a running sum with its sample count.
fn sample(sum: &mut u64, count: &mut u64, old: Option<u32>, new: Option<u32>) {
    if let Some(old) = old {
        *sum = sum.saturating_sub(u64::from(old));
        *count = count.saturating_sub(1);
    }
    if let Some(new) = new {
        *sum += u64::from(new);
        *count += 1;
    }
}

/// Applies the difference to the queue's counters. Returns (counters changed, the longest hold was lowered
/// and must be recomputed from the calls).
pub(super) fn apply_queue_delta(queue: &mut Queue, old: &Contribution, new: &Contribution) -> (bool, bool) {
    let before = queue.counters;
    let c: &mut QueueCounters = &mut queue.counters;
    use CountedOutcome as O;
    let (was, now) = (old.outcome, new.outcome);
    flag(&mut c.answered, was, now, |o| matches!(o, O::Answered { .. }));
    flag(&mut c.abandoned, was, now, |o| o == O::Abandoned);
    flag(&mut c.timed_out, was, now, |o| o == O::TimedOut);
    flag(&mut c.transferred, was, now, |o| matches!(o, O::Answered { transferred: true, .. }));
    flag(&mut c.sl_within, was, now, |o| matches!(o, O::Answered { sl_within: true, .. }));
    sample(&mut c.hold_sum_s, &mut c.hold_count, old.hold_s, new.hold_s);
    sample(&mut c.talk_sum_s, &mut c.talk_count, old.talk_s, new.talk_s);
    let max_lowered = old.hold_s.is_some_and(|h| h >= c.hold_max_s) && new.hold_s < old.hold_s;
    if let Some(h) = new.hold_s {
        c.hold_max_s = c.hold_max_s.max(h);
    }
    (queue.counters != before, max_lowered)
}

/// Applies the difference to the credited agents' counters.
pub(super) fn apply_agent_delta(
    agents: &mut [Option<Agent>],
    out: &mut Vec<Change>,
    old: &Contribution,
    new: &Contribution,
) {
    if old.agent != new.agent || old.talk_s != new.talk_s {
        if let Some(a) = old.agent {
            credit(agents, out, a, -1, old.talk_s.map_or(0, i64::from).saturating_neg(), 0);
        }
        if let Some(a) = new.agent {
            credit(agents, out, a, 1, new.talk_s.map_or(0, i64::from), 0);
        }
    }
    if old.misses != new.misses {
        for &(a, n) in &old.misses {
            credit(agents, out, a, 0, 0, -i64::from(n));
        }
        for &(a, n) in &new.misses {
            credit(agents, out, a, 0, 0, i64::from(n));
        }
    }
}

fn credit(
    agents: &mut [Option<Agent>],
    out: &mut Vec<Change>,
    a: AgentIx,
    answered: i64,
    talk_s: i64,
    missed: i64,
) {
    let Some(agent) = agents.get_mut(a as usize).and_then(Option::as_mut) else { return };
    let add = |v: &mut u64, d: i64| *v = v.saturating_add_signed(d);
    let before = (agent.calls_answered, agent.talk_seconds, agent.calls_missed);
    add(&mut agent.calls_answered, answered);
    add(&mut agent.talk_seconds, talk_s);
    add(&mut agent.calls_missed, missed);
    if before != (agent.calls_answered, agent.talk_seconds, agent.calls_missed) {
        out.push(Change::Agent(agent.id.clone()));
    }
}

impl Engine {
    /// The longest hold among today's counted visits of a queue (rare: only when a report lowers one).
    pub(super) fn recompute_hold_max(&mut self, q: QueueIx) {
        let today = self.today();
        let max = self
            .calls
            .iter()
            .flat_map(|c| &c.visits)
            .filter(|v| v.queue == q && v.counted_day == Some(today))
            .filter_map(|c| c.contributed.hold_s)
            .max()
            .unwrap_or(0);
        if let Some(queue) = self.queues.get_mut(q as usize) {
            queue.counters.hold_max_s = max;
        }
    }
}
