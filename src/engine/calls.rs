//! Calls and their queue visits: which visit a feed's fact is about, joins, the waiting lists, and the
//! agent's screen pop. What a fact does to a visit, and the counters derived from visits, are in `visits`.
//!
//! A call is the caller's channel (uniqueid); a visit is one stay of it in one queue (DESIGN.md "Calls and
//! visits"). Both feeds report most visit facts (ENTERQUEUE/QueueCallerJoin, CONNECT/AgentConnect, …) and
//! each reports a call's visits in order. So a feed's join belongs to the first later visit of that queue the
//! feed has not reported yet (the other feed may have created it), and any other fact to the latest visit of
//! that queue the feed has reported. Timestamps cannot tell a re-entry from a duplicate: queue_log writes the
//! next ENTERQUEUE in the same second as the exit, AMI sends QueueCallerLeave and QueueCallerJoin within a
//! millisecond. A join is a duplicate when the feed's latest visit is in that queue and the feed has not seen
//! the caller leave it.

use super::key::Key;
use super::state::{CallIx, Queue, QueueIx, ScreenPop, Visit, Waiting, feed};
use super::{AgentIx, Change, Engine, LeaveReason, Source, TsMs};

/// AMI's QueueCallerLeave comes just before AgentConnect (≈1 ms) for an answered caller and alone for one
/// who left by an exit key. A caller taken off the list with neither connect nor abandon after this long
/// left unanswered. Generous against a loaded Asterisk; the counter only moves this late with AMI alone,
/// since queue_log's exit line settles the visit at once.
pub(super) const UNEXPLAINED_LEAVE_SETTLE_MS: TsMs = 5_000;

/// Which visit of a call a fact is about: (call, index in its visits).
pub(super) type VisitRef = (CallIx, usize);

impl Engine {
    /// The call record, created on first mention. Every fact about a call comes through here before it
    /// can add or reopen a visit, so this is where the call may stop being settled.
    pub(super) fn ensure_call(&mut self, uniqueid: &str) -> CallIx {
        if let Some(c) = self.calls.of(uniqueid) {
            self.calls.may_reopen(c);
            return c;
        }
        let c = self.calls.add(uniqueid);
        self.turn.out.push(Change::Call(uniqueid.to_owned()));
        c
    }

    /// The visit a non-join fact from `src` about the caller in `queue` is about: the latest visit of that
    /// queue the feed reported, else the latest of that queue at all (the feed missed its join, e.g. it
    /// connected mid-call), else a new one (a feed may report a call whose join nobody saw).
    pub(super) fn visit_for(&mut self, queue: &str, uniqueid: &str, src: Source) -> VisitRef {
        let q = self.ensure_queue(queue);
        let c = self.ensure_call(uniqueid);
        let f = feed(src);
        let visits = &mut self.calls[c as usize].visits;
        let found = f
            .and_then(|f| visits.iter().rposition(|v| v.queue == q && v.seen_by[f]))
            .or_else(|| visits.iter().rposition(|v| v.queue == q));
        let at = found.unwrap_or_else(|| {
            visits.push(Visit::new(q));
            visits.len() - 1
        });
        if let Some(f) = f {
            visits[at].seen_by[f] = true;
        }
        if found.is_none() {
            self.turn.call_changed(uniqueid);
        }
        (c, at)
    }

    /// The visit a join from `src` is: a duplicate of the feed's current visit, the other feed's visit the
    /// feed has not reported yet, or a new visit. Returns it and whether the call entered a queue anew.
    fn visit_joined(&mut self, q: QueueIx, c: CallIx, src: Source) -> (usize, bool) {
        let visits = &mut self.calls[c as usize].visits;
        let Some(f) = feed(src) else {
            // No feed, no order to go by (no normalizer emits this): the open visit in that queue, else a new one.
            if let Some(at) = visits.iter().rposition(|v| v.queue == q && !v.is_over()) {
                return (at, false);
            }
            visits.push(Visit::new(q));
            return (visits.len() - 1, true);
        };
        let last = visits.iter().rposition(|v| v.seen_by[f]);
        if let Some(at) = last.filter(|&at| visits[at].queue == q && !visits[at].left_by[f]) {
            return (at, false);
        }
        let from = last.map_or(0, |at| at + 1);
        if let Some(at) = (from..visits.len()).find(|&at| visits[at].queue == q && !visits[at].seen_by[f]) {
            visits[at].seen_by[f] = true;
            return (at, false);
        }
        let mut visit = Visit::new(q);
        visit.seen_by[f] = true;
        // Most calls make one visit, and a day holds tens of thousands of calls: room for exactly the visits
        // made (a first `push` alone would reserve four, three of them never used).
        visits.reserve_exact(1);
        visits.push(visit);
        (visits.len() - 1, true)
    }

    pub(super) fn caller_joined(&mut self, queue: &str, uniqueid: &str, caller: CallerInfo<'_>, src: Source) {
        let q = self.ensure_queue(queue);
        let c = self.ensure_call(uniqueid);
        let (v, entered) = self.visit_joined(q, c, src);
        let now = self.turn.cause;
        let call = &mut self.calls[c as usize];
        let mut changed = entered;
        if call.caller_id.is_none()
            && let Some(caller_id) = caller.caller_id.filter(|c| !c.is_empty())
        {
            call.caller_id = Some(Key::new(caller_id));
            changed = true;
        }
        if call.linkedid.is_none()
            && let Some(linkedid) = caller.linkedid.filter(|l| !l.is_empty())
        {
            call.linkedid = Some(Key::new(linkedid));
            changed = true;
        }
        let visit = &mut call.visits[v];
        changed |= set_min(&mut visit.joined_at, now);
        let (over, joined_at) = (visit.is_over(), visit.joined_at.unwrap_or(now));
        let caller_id = call.caller_id.clone();
        if changed {
            self.turn.call_changed(uniqueid);
        }
        if entered {
            self.left_earlier_visits(c, v, uniqueid);
        }
        if !over {
            let queue = &mut self.queues[q as usize];
            if put_waiting(queue, uniqueid, caller_id.as_ref(), caller.position, joined_at) {
                self.turn.out.push(Change::Queue(queue.name.clone()));
            }
        }
        for a in self.screen_agents(c) {
            self.touch(a);
        }
    }

    /// The caller entered a queue anew, so it left wherever it was: a bridge it was redirected out of (the
    /// agent is free, though queue_log's COMPLETECALLER for that visit comes only when the caller hangs
    /// up), and a waiting list AMI took it off without saying why (an exit key: unanswered).
    fn left_earlier_visits(&mut self, c: CallIx, new: usize, uniqueid: &str) {
        let earlier: Vec<usize> = (0..new).collect();
        for v in earlier {
            let visit = &self.calls[c as usize].visits[v];
            if visit.ended_at.is_some() {
                continue;
            }
            if let Some(a) = visit.agent {
                if let Some(agent) = self.agent_mut(a) {
                    agent.talking.retain(|u| *u != uniqueid);
                }
                self.touch(a);
            } else if visit.dequeued_at.is_some() && visit.leave.is_none() {
                self.unanswered_exit((c, v), uniqueid);
            }
        }
    }

    /// AMI took the caller off the waiting list and nothing says it was answered or abandoned: it left by an
    /// exit key (the only exit AMI reports with QueueCallerLeave alone). queue_log's line, when it comes,
    /// says exactly why.
    pub(super) fn unanswered_exit(&mut self, (c, v): VisitRef, uniqueid: &str) {
        let visit = &mut self.calls[c as usize].visits[v];
        if visit.answered() || visit.leave.is_some() {
            return;
        }
        visit.leave = Some(LeaveReason::Key);
        visit.guessed_exit = true;
        let at = visit.dequeued_at.unwrap_or(self.turn.cause);
        super::visits::set_min(&mut visit.ended_at, at);
        self.turn.call_changed(uniqueid);
        self.recount(c, v);
    }

    /// Visits AMI dequeued without an outcome whose settle time passed by `now` (see
    /// [`UNEXPLAINED_LEAVE_SETTLE_MS`]).
    pub(super) fn settle_unexplained_leaves(&mut self, now: TsMs) {
        while let Some(uid) = self.timers.leave_due(now) {
            let Some(c) = self.calls.of(uid.as_str()) else { continue };
            let visits = &self.calls[c as usize].visits;
            let pending: Vec<usize> = (0..visits.len())
                .filter(|&v| visits[v].dequeued_at.is_some_and(|at| at + UNEXPLAINED_LEAVE_SETTLE_MS <= now))
                .collect();
            for v in pending {
                self.unanswered_exit((c, v), &uid);
            }
        }
    }

    /// Adds or refreshes a waiting entry (see [`put_waiting`]).
    pub(super) fn put_waiting(&mut self, q: QueueIx, uniqueid: &str, entry: Waiting) {
        let queue = &mut self.queues[q as usize];
        if put_waiting(queue, uniqueid, entry.caller_id.as_ref(), entry.position, entry.joined_at) {
            self.turn.out.push(Change::Queue(queue.name.clone()));
        }
    }

    /// Removes a caller from the waiting list; callers behind it move up one position.
    pub(super) fn dequeue(&mut self, q: QueueIx, uniqueid: &str) {
        let queue = &mut self.queues[q as usize];
        let Ok(at) = queue.waiting_at(uniqueid) else { return };
        let (_, left) = queue.waiting.remove(at);
        if let Some(pos) = left.position {
            for (_, entry) in &mut queue.waiting {
                if let Some(p) = entry.position.as_mut().filter(|p| **p > pos) {
                    *p -= 1;
                }
            }
        }
        self.queue_changed(q);
    }

    /// AMI QueueCallerLeave: off the waiting list, outcome unknown until AgentConnect, QueueCallerAbandon,
    /// the next join or the settle time says.
    pub(super) fn caller_dequeued(&mut self, queue: &str, uniqueid: &str, src: Source) {
        let (c, v) = self.visit_for(queue, uniqueid, src);
        let now = self.turn.cause;
        let visit = &mut self.calls[c as usize].visits[v];
        let q = visit.queue;
        if let Some(f) = feed(src) {
            visit.left_by[f] = true;
        }
        if !visit.answered() && visit.leave.is_none() && visit.dequeued_at.is_none() {
            visit.dequeued_at = Some(now);
            self.timers.settle_leave(now + UNEXPLAINED_LEAVE_SETTLE_MS, uniqueid);
        }
        self.dequeue(q, uniqueid);
    }

    /// Agents whose screen pop may show this call (ringing for or connected to one of its visits).
    pub(super) fn screen_agents(&self, c: CallIx) -> Vec<AgentIx> {
        let mut agents = Vec::new();
        for visit in &self.calls[c as usize].visits {
            agents.extend(visit.ringing.iter().map(|(a, _)| *a));
            agents.extend(visit.agent.filter(|_| visit.ended_at.is_none()));
        }
        agents
    }

    /// Re-derives the agent's `call` field: the connected queue call it is talking on, else the latest
    /// queue call ringing it.
    pub(super) fn refresh_screen(&mut self, a: AgentIx) {
        let Some(agent) = self.agent(a) else { return };
        let mut best: Option<(bool, ScreenPop)> = None;
        for uid in agent.talking.iter().map(|u| (u, true)).chain(agent.ringing.iter().map(|u| (u, false))) {
            let Some(c) = self.calls.of(uid.0.as_str()) else { continue };
            let call = &self.calls[c as usize];
            for visit in &call.visits {
                let since = if uid.1 {
                    visit.connected_at.filter(|_| visit.agent == Some(a) && visit.ended_at.is_none())
                } else {
                    visit.ringing.iter().find(|(r, _)| *r == a).map(|(_, at)| *at)
                };
                let Some(since) = since else { continue };
                let pop = ScreenPop {
                    uniqueid: call.uniqueid.clone(),
                    queue: visit.queue,
                    caller_id: call.caller_id.clone(),
                    since,
                };
                let better = match &best {
                    None => true,
                    Some((talking, old)) => (uid.1, pop.since) > (*talking, old.since),
                };
                if better {
                    best = Some((uid.1, pop));
                }
            }
        }
        let screen = best.map(|(_, pop)| pop);
        if let Some(agent) = self.agent_mut(a)
            && agent.screen != screen
        {
            agent.screen = screen;
            self.agent_changed(a);
        }
    }
}

/// What a join says about the caller.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallerInfo<'a> {
    pub caller_id: Option<&'a str>,
    pub linkedid: Option<&'a str>,
    pub position: Option<u32>,
}

fn set_min(slot: &mut Option<TsMs>, ts: TsMs) -> bool {
    super::visits::set_min(slot, ts)
}

/// Adds or refreshes a waiting entry; keeps a known position and caller id when the new report has none.
/// Returns whether the entry changed.
fn put_waiting(
    queue: &mut Queue,
    uniqueid: &str,
    caller_id: Option<&Key>,
    position: Option<u32>,
    joined_at: TsMs,
) -> bool {
    match queue.waiting_at(uniqueid) {
        Err(at) => {
            let entry = Waiting { caller_id: caller_id.cloned(), position, joined_at };
            queue.waiting.insert(at, (Key::new(uniqueid), entry));
            true
        }
        Ok(at) => {
            let old = &mut queue.waiting[at].1;
            let mut changed = false;
            if joined_at < old.joined_at {
                old.joined_at = joined_at;
                changed = true;
            }
            if old.caller_id.is_none() && caller_id.is_some() {
                old.caller_id = caller_id.cloned();
                changed = true;
            }
            if old.position.is_none() && position.is_some() {
                old.position = position;
                changed = true;
            }
            changed
        }
    }
}
