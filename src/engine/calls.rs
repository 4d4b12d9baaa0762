//! Queue calls, keyed by the caller's uniqueid, and the daily counters derived from them.
//!
//! Both feeds report most call facts (ENTERQUEUE/QueueCallerJoin, CONNECT/AgentConnect, …). Each fact is
//! merged into the one call record; timestamps keep the earliest report (queue_log's whole seconds are
//! earlier than AMI's receive time), durations prefer queue_log, and a precise queue_log leave reason
//! replaces AMI's `Unspecified` in either arrival order. Counters are then re-derived from the record.

use super::key::Key;
use super::state::{AgentIx, Call, CallIx, Contribution, Ending, Queue, QueueIx, Waiting, is_timed_out};
use super::{Change, EndReason, Engine, LeaveReason, MemberRef, Source, TsMs, ix};

#[derive(Debug, Clone, Copy)]
pub struct EndDetails {
    pub hold_s: Option<u32>,
    pub talk_s: Option<u32>,
    pub reason: EndReason,
    pub source: Source,
}

fn set_min(slot: &mut Option<TsMs>, ts: TsMs) -> bool {
    match slot {
        Some(old) if *old <= ts => false,
        _ => {
            *slot = Some(ts);
            true
        }
    }
}

/// Sets a duration when unknown, or when queue_log gives it (queue_log wins over AMI).
fn set_duration(slot: &mut Option<u32>, from_queue_log: &mut bool, value: Option<u32>, src: Source) -> bool {
    let Some(value) = value else { return false };
    let is_ql = src == Source::QueueLog;
    if slot.is_none() || (is_ql && !*from_queue_log) {
        *from_queue_log = is_ql;
        let changed = *slot != Some(value);
        *slot = Some(value);
        return changed;
    }
    false
}

impl Engine {
    /// The event's queue and the call record, created on first mention (a feed may report a call whose
    /// join we never saw).
    fn ensure_call(&mut self, queue: &str, uniqueid: &str) -> (QueueIx, CallIx) {
        let q = self.ensure_queue(queue);
        if let Some(&c) = self.call_ix.get(uniqueid) {
            return (q, c);
        }
        let c = ix(self.calls.len());
        self.calls.push(Call::new(uniqueid, q));
        self.call_ix.insert(Key::new(uniqueid), c);
        self.out.push(Change::Call(uniqueid.to_owned()));
        (q, c)
    }

    pub(super) fn call_changed(&mut self, uniqueid: &str) {
        if !self.out.iter().any(|c| matches!(c, Change::Call(u) if u == uniqueid)) {
            self.out.push(Change::Call(uniqueid.to_owned()));
        }
    }

    pub(super) fn caller_joined(
        &mut self,
        queue: &str,
        uniqueid: &str,
        caller_id: Option<&str>,
        position: Option<u32>,
    ) {
        let (q, c) = self.ensure_call(queue, uniqueid);
        let now = self.cause;
        let call = &mut self.calls[c as usize];
        let mut changed = set_min(&mut call.joined_at, now);
        if call.caller_id.is_none()
            && let Some(caller_id) = caller_id.filter(|c| !c.is_empty())
        {
            call.caller_id = Some(Key::new(caller_id));
            changed = true;
        }
        if changed {
            self.out.push(Change::Call(uniqueid.to_owned()));
        }
        if is_over(call) {
            return; // a late duplicate of a call that already left the queue
        }
        let (joined_at, caller) = (call.joined_at.unwrap_or(now), call.caller_id.as_ref());
        let queue = &mut self.queues[q as usize];
        if put_waiting(queue, uniqueid, caller, position, joined_at) {
            self.out.push(Change::Queue(queue.name.clone()));
        }
    }

    /// Adds or refreshes a waiting entry (see [`put_waiting`]).
    pub(super) fn put_waiting(&mut self, q: QueueIx, uniqueid: &str, entry: Waiting) {
        let queue = &mut self.queues[q as usize];
        if put_waiting(queue, uniqueid, entry.caller_id.as_ref(), entry.position, entry.joined_at) {
            self.out.push(Change::Queue(queue.name.clone()));
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

    /// Every member ringing for this caller stops ringing.
    fn stop_all_rings(&mut self, c: CallIx, uniqueid: &str) {
        let ringing = std::mem::take(&mut self.calls[c as usize].ringing);
        for &a in &ringing {
            if let Some(agent) = self.agent_mut(a) {
                agent.ringing.retain(|u| *u != uniqueid);
            }
            self.touch(a);
        }
    }

    fn stop_ring(&mut self, c: Option<CallIx>, uniqueid: &str, a: AgentIx) {
        if let Some(c) = c {
            self.calls[c as usize].ringing.retain(|r| *r != a);
        }
        if let Some(agent) = self.agent_mut(a) {
            agent.ringing.retain(|u| *u != uniqueid);
        }
        self.touch(a);
    }

    pub(super) fn agent_ringing(&mut self, queue: &str, uniqueid: &str, member: &MemberRef) {
        let (q, c) = self.ensure_call(queue, uniqueid);
        let Some(a) = self.resolve(member, Some(q)) else { return };
        self.ensure_membership(a, q);
        let call = &mut self.calls[c as usize];
        if is_over(call) || call.agent.is_some() || call.ringing.contains(&a) {
            return;
        }
        call.ringing.push(a);
        if let Some(agent) = self.agent_mut(a) {
            agent.ringing.push(Key::new(uniqueid));
        }
        self.touch(a);
    }

    pub(super) fn ring_stopped(
        &mut self,
        queue: &str,
        uniqueid: &str,
        member: &MemberRef,
        missed: bool,
        src: Source,
    ) {
        let (q, c) = self.ensure_call(queue, uniqueid);
        let Some(a) = self.resolve(member, Some(q)) else { return };
        self.ensure_membership(a, q);
        self.stop_ring(Some(c), uniqueid, a);
        if missed {
            let call = &mut self.calls[c as usize];
            let report = (a, src, self.cause);
            if !call.misses.contains(&report) {
                call.misses.push(report);
                self.recount(c);
            }
        }
    }

    pub(super) fn call_connected(
        &mut self,
        queue: &str,
        uniqueid: &str,
        member: &MemberRef,
        hold_s: Option<u32>,
        src: Source,
    ) {
        let (q, c) = self.ensure_call(queue, uniqueid);
        let Some(a) = self.resolve(member, Some(q)) else { return };
        self.ensure_membership(a, q);
        let now = self.cause;
        let call = &mut self.calls[c as usize];
        let mut changed = set_min(&mut call.connected_at, now);
        if call.agent.is_none() {
            call.agent = Some(a);
            changed = true;
        }
        changed |= set_duration(&mut call.hold_s, &mut call.hold_from_queue_log, hold_s, src);
        let ended = call.ended_at.is_some();
        let credited = call.agent == Some(a);
        if changed {
            self.call_changed(uniqueid);
        }
        self.dequeue(q, uniqueid);
        self.stop_all_rings(c, uniqueid);
        if !ended && credited {
            if let Some(agent) =
                self.agent_mut(a).filter(|agent| !agent.talking.iter().any(|u| *u == uniqueid))
            {
                agent.talking.push(Key::new(uniqueid));
            }
            self.touch(a);
        }
        self.recount(c);
    }

    pub(super) fn call_ended(
        &mut self,
        queue: &str,
        uniqueid: &str,
        member: Option<&MemberRef>,
        end: EndDetails,
    ) {
        let (q, c) = self.ensure_call(queue, uniqueid);
        let named = member.and_then(|m| self.resolve(m, Some(q)));
        let now = self.cause;
        let call = &mut self.calls[c as usize];
        let mut changed = false;
        if call.agent.is_none()
            && let Some(named) = named
        {
            call.agent = Some(named);
            changed = true;
        }
        let first_end = call.ended_at.is_none();
        changed |= set_min(&mut call.ended_at, now);
        changed |= set_duration(&mut call.hold_s, &mut call.hold_from_queue_log, end.hold_s, end.source);
        changed |= set_duration(&mut call.talk_s, &mut call.talk_from_queue_log, end.talk_s, end.source);
        let ending = if end.reason == EndReason::Transfer { Ending::Transferred } else { Ending::Completed };
        if call.ending != Some(Ending::Transferred) && call.ending != Some(ending) {
            call.ending = Some(ending);
            changed = true;
        }
        let credited = call.agent;
        let ended_at = call.ended_at.unwrap_or(now);
        if changed {
            self.call_changed(uniqueid);
        }
        self.dequeue(q, uniqueid);
        self.stop_all_rings(c, uniqueid);
        if let Some(a) = credited {
            if let Some(agent) = self.agent_mut(a) {
                agent.talking.retain(|u| *u != uniqueid);
            }
            if first_end {
                self.start_wrapup(a, q, ended_at);
            }
            self.touch(a);
        }
        self.recount(c);
    }

    fn start_wrapup(&mut self, a: AgentIx, q: QueueIx, ended_at: TsMs) {
        let wrapup_s = self.wrapup_s(a, q);
        if wrapup_s == 0 {
            return;
        }
        let until = ended_at.saturating_add(i64::from(wrapup_s) * 1000);
        let Some(agent) = self.agent_mut(a) else { return };
        if agent.wrapup_until.is_none_or(|u| u < until) {
            agent.wrapup_until = Some(until);
            agent.wrapup_scheduled = Some(until);
            self.wrapups.insert((until, a));
        }
    }

    pub(super) fn caller_left(&mut self, queue: &str, uniqueid: &str, reason: LeaveReason, src: Source) {
        let (q, c) = self.ensure_call(queue, uniqueid);
        let now = self.cause;
        let call = &mut self.calls[c as usize];
        let mut changed = false;
        let refine = match call.leave {
            None => true,
            Some(LeaveReason::Unspecified) => reason != LeaveReason::Unspecified,
            Some(old) => src == Source::QueueLog && old != reason && reason != LeaveReason::Unspecified,
        };
        if refine {
            call.leave = Some(reason);
            changed = true;
        }
        changed |= set_min(&mut call.ended_at, now);
        if changed {
            self.call_changed(uniqueid);
        }
        self.dequeue(q, uniqueid);
        self.stop_all_rings(c, uniqueid);
        self.recount(c);
    }

    pub(super) fn caller_dequeued(&mut self, queue: &str, uniqueid: &str) {
        if let Some(q) = self.queue_of(queue) {
            self.dequeue(q, uniqueid);
        }
    }

    /// The member hung up during the announcement: it is no longer ringing; the caller keeps waiting.
    pub(super) fn agent_dump(&mut self, queue: &str, uniqueid: &str, member: &MemberRef) {
        let q = self.queue_of(queue);
        if let Some(a) = self.resolve_existing(member, q) {
            let c = self.call_ix.get(uniqueid).copied();
            self.stop_ring(c, uniqueid, a);
        }
    }

    /// Re-derives what the call adds to today's counters and applies the difference.
    pub(super) fn recount(&mut self, c: CallIx) {
        let today = self.today();
        let q = self.calls[c as usize].queue;
        let sl = self.service_level_s(q);
        let call = &mut self.calls[c as usize];
        if contribution_is(call, sl, &call.contributed) {
            return;
        }
        let wanted = contribution(call, sl);
        if wanted == call.contributed {
            return;
        }
        match call.counted_day {
            None if wanted.is_empty() => return,
            None => call.counted_day = Some(today),
            // Counters of that day were reset: a late fact about an old call changes only the record.
            Some(day) if day != today => {
                call.contributed = wanted;
                return;
            }
            Some(_) => {}
        }
        let old = std::mem::replace(&mut call.contributed, wanted);
        let new = &call.contributed;
        let queue = &mut self.queues[q as usize];
        let (changed, max_lowered) = super::counters::apply_queue_delta(queue, &old, new);
        if changed || max_lowered {
            self.out.push(Change::Queue(queue.name.clone()));
        }
        super::counters::apply_agent_delta(&mut self.agents, &mut self.out, &old, new);
        if max_lowered {
            self.recompute_hold_max(q);
        }
    }
}

/// The call left the waiting list for good (answered, left or ended).
fn is_over(call: &Call) -> bool {
    call.ended_at.is_some() || call.leave.is_some() || call.agent.is_some()
}

/// Whether `contribution(call, service_level_s)` would equal `current`, without building it (most facts a
/// second feed reports change nothing, and building one allocates).
fn contribution_is(call: &Call, service_level_s: u32, current: &Contribution) -> bool {
    let answered = call.agent.is_some() || call.connected_at.is_some();
    let unanswered = call.leave.filter(|_| !answered);
    let hold_s = call.hold_s.filter(|_| answered);
    current.answered == answered
        && current.abandoned == unanswered.is_some_and(|r| !is_timed_out(r))
        && current.timed_out == unanswered.is_some_and(is_timed_out)
        && current.transferred == (answered && call.ending == Some(Ending::Transferred))
        && current.hold_s == hold_s
        && current.sl_within == hold_s.is_some_and(|h| h <= service_level_s)
        && current.talk_s == call.talk_s.filter(|_| answered && call.ended_at.is_some())
        && current.agent == call.agent.filter(|_| answered)
        && call.misses.is_empty()
        && current.misses.is_empty()
}

fn contribution(call: &Call, service_level_s: u32) -> Contribution {
    let answered = call.agent.is_some() || call.connected_at.is_some();
    let unanswered = call.leave.filter(|_| !answered);
    let hold_s = call.hold_s.filter(|_| answered);
    let mut misses: Vec<(AgentIx, u32)> = Vec::new();
    for &(agent, _, _) in &call.misses {
        if misses.iter().any(|(a, _)| *a == agent) {
            continue;
        }
        // Each feed reports each missed ring once; the feed that saw more of them is the count.
        let count = |src: Source| call.misses.iter().filter(|(a, s, _)| *a == agent && *s == src).count();
        let n = count(Source::QueueLog).max(count(Source::Ami)).max(count(Source::Clock));
        misses.push((agent, u32::try_from(n).unwrap_or(u32::MAX)));
    }
    Contribution {
        answered,
        abandoned: unanswered.is_some_and(|r| !is_timed_out(r)),
        timed_out: unanswered.is_some_and(is_timed_out),
        transferred: answered && call.ending == Some(Ending::Transferred),
        hold_s,
        sl_within: hold_s.is_some_and(|h| h <= service_level_s),
        talk_s: call.talk_s.filter(|_| answered && call.ended_at.is_some()),
        agent: call.agent.filter(|_| answered),
        misses,
    }
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
