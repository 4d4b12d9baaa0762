//! What each fact does to one visit, and the daily counters derived from visits.
//!
//! Each fact is merged into the one visit record it is about (`calls::visit_for`); timestamps keep the
//! earliest report (queue_log's whole seconds are earlier than AMI's receive time), durations prefer
//! queue_log, and a precise queue_log leave reason replaces AMI's `Unspecified` (or the key exit inferred from
//! a bare QueueCallerLeave) in either arrival order. Counters are then re-derived from the visit, so a visit
//! counts once in its queue and once for the agent who answered it.

use super::calls::VisitRef;
use super::key::Key;
use super::state::{
    AgentIx, Call, CallIx, Contribution, CountedOutcome, Ending, QueueIx, Visit, feed, is_timed_out,
};
use super::{EndReason, Engine, LeaveReason, MemberRef, Source, TsMs};

#[derive(Debug, Clone, Copy)]
pub struct EndDetails {
    pub hold_s: Option<u32>,
    pub talk_s: Option<u32>,
    pub reason: EndReason,
    pub source: Source,
}

pub(super) fn set_min(slot: &mut Option<TsMs>, ts: TsMs) -> bool {
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
    fn visit_mut(&mut self, (c, v): VisitRef) -> &mut Visit {
        &mut self.calls[c as usize].visits[v]
    }

    fn uniqueid_of(&self, (c, _): VisitRef) -> Key {
        self.calls[c as usize].uniqueid.clone()
    }

    /// The feed saw the caller leave this visit's waiting list.
    fn mark_left(&mut self, at: VisitRef, src: Source) {
        if let Some(f) = feed(src) {
            self.visit_mut(at).left_by[f] = true;
        }
    }

    /// Takes the caller off its queue's waiting list, unless a later visit of the call is the one waiting
    /// there (a late report about an earlier stay in the same queue).
    fn dequeue_visit(&mut self, (c, v): VisitRef) {
        let call = &self.calls[c as usize];
        let q = call.visits[v].queue;
        if call.visits[v + 1..].iter().any(|later| later.queue == q) {
            return;
        }
        let uid = call.uniqueid.clone();
        self.dequeue(q, &uid);
    }

    /// [`Self::stop_all_rings`] for callers outside this module.
    pub(super) fn stop_call_rings(&mut self, c: CallIx, v: usize) {
        self.stop_all_rings((c, v));
    }

    /// Every member ringing for this visit stops ringing.
    fn stop_all_rings(&mut self, at: VisitRef) {
        let uid = self.uniqueid_of(at);
        let ringing = std::mem::take(&mut self.visit_mut(at).ringing);
        for (a, _) in ringing {
            if let Some(agent) = self.agent_mut(a) {
                agent.ringing.retain(|u| *u != uid);
            }
            self.touch(a);
        }
    }

    /// The agent stops ringing for this call (every visit of it: a device rings for one at a time).
    pub(super) fn stop_ring(&mut self, uniqueid: &str, a: AgentIx) {
        if let Some(c) = self.calls.of(uniqueid) {
            for visit in &mut self.calls[c as usize].visits {
                visit.ringing.retain(|(r, _)| *r != a);
            }
        }
        if let Some(agent) = self.agent_mut(a) {
            agent.ringing.retain(|u| *u != uniqueid);
        }
        self.touch(a);
    }

    pub(super) fn agent_ringing(&mut self, queue: &str, uniqueid: &str, member: &MemberRef, src: Source) {
        let Some((at, a)) = self.visit_and_member(queue, uniqueid, member, src) else { return };
        let now = self.turn.cause;
        let visit = self.visit_mut(at);
        if visit.is_over() || visit.ringing.iter().any(|(r, _)| *r == a) {
            return;
        }
        visit.ringing.push((a, now));
        if let Some(agent) = self.agent_mut(a) {
            if agent.ringing.is_empty() {
                agent.busy_when_rung = device_busy(agent.device);
            }
            agent.ringing.push(Key::new(uniqueid));
        }
        self.touch(a);
    }

    /// The visit a member event is about, and the member (a member of the visit's queue from now on).
    fn visit_and_member(
        &mut self,
        queue: &str,
        uniqueid: &str,
        member: &MemberRef,
        src: Source,
    ) -> Option<(VisitRef, AgentIx)> {
        let at = self.visit_for(queue, uniqueid, src);
        let q = self.visit_mut(at).queue;
        let a = self.resolve(member, Some(q))?;
        self.ensure_membership(a, q);
        Some((at, a))
    }

    pub(super) fn ring_stopped(
        &mut self,
        queue: &str,
        uniqueid: &str,
        member: &MemberRef,
        missed: bool,
        src: Source,
    ) {
        let Some((at, a)) = self.visit_and_member(queue, uniqueid, member, src) else { return };
        self.stop_ring(uniqueid, a);
        if missed {
            let report = (a, src, self.turn.cause);
            let visit = self.visit_mut(at);
            if !visit.misses.contains(&report) {
                visit.misses.push(report);
                self.recount(at.0, at.1);
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
        let Some((at, a)) = self.visit_and_member(queue, uniqueid, member, src) else { return };
        self.mark_left(at, src);
        let now = self.turn.cause;
        let visit = self.visit_mut(at);
        let mut changed = set_min(&mut visit.connected_at, now);
        if std::mem::take(&mut visit.guessed_exit) {
            // The settle time ran out before this connect arrived (the clock ahead of a late feed): the
            // caller was answered, not gone by an exit key; the end comes with the call's completion.
            visit.leave = None;
            visit.ended_at = None;
            changed = true;
        }
        if visit.agent.is_none() {
            visit.agent = Some(a);
            changed = true;
        }
        changed |= set_duration(&mut visit.hold_s, &mut visit.hold_from_queue_log, hold_s, src);
        let ended = visit.ended_at.is_some();
        let credited = visit.agent == Some(a);
        if changed {
            self.turn.call_changed(uniqueid);
        }
        self.dequeue_visit(at);
        self.stop_all_rings(at);
        let latest = self.calls[at.0 as usize].visits.len() == at.1 + 1;
        if !ended && credited && latest {
            if let Some(agent) =
                self.agent_mut(a).filter(|agent| !agent.talking.iter().any(|u| *u == uniqueid))
            {
                agent.talking.push(Key::new(uniqueid));
            }
            self.touch(a);
        }
        self.recount(at.0, at.1);
    }

    pub(super) fn call_ended(
        &mut self,
        queue: &str,
        uniqueid: &str,
        member: Option<&MemberRef>,
        end: EndDetails,
    ) {
        let at = self.visit_for(queue, uniqueid, end.source);
        self.end_visit(at, member, end);
    }

    /// AgentComplete without the caller's channel fields (the caller's channel is already gone): it ends
    /// the member's connected call in that queue. Nothing happens when the member has none.
    pub(super) fn member_call_ended(&mut self, queue: &str, member: &MemberRef, end: EndDetails) {
        let Some(q) = self.queue_of(queue) else { return };
        let Some(a) = self.resolve_existing(member, Some(q)) else { return };
        let open_visit = |c: CallIx, call: &Call| {
            let v = call
                .visits
                .iter()
                .rposition(|v| v.queue == q && v.agent == Some(a) && v.ended_at.is_none())?;
            Some((c, v))
        };
        // The calls the agent is bridged to first; a visit it was redirected out of is no longer among them,
        // so then every call, newest first (rare: the caller left the bridge and this event came anyway).
        let talking = self.agent(a).map(|agent| agent.talking.clone()).unwrap_or_default();
        let found = talking
            .iter()
            .filter_map(|uid| self.calls.of(uid.as_str()))
            .find_map(|c| open_visit(c, &self.calls[c as usize]))
            .or_else(|| {
                self.calls.iter().enumerate().rev().find_map(|(c, call)| open_visit(super::ix(c), call))
            });
        if let Some(at) = found {
            if let Some(f) = feed(end.source) {
                self.visit_mut(at).seen_by[f] = true;
            }
            self.end_visit(at, Some(member), end);
        }
    }

    fn end_visit(&mut self, at: VisitRef, member: Option<&MemberRef>, end: EndDetails) {
        let uid = self.uniqueid_of(at);
        let q = self.visit_mut(at).queue;
        let named = member.and_then(|m| self.resolve(m, Some(q)));
        self.mark_left(at, end.source);
        let now = self.turn.cause;
        let visit = self.visit_mut(at);
        let mut changed = false;
        if visit.agent.is_none()
            && let Some(named) = named
        {
            visit.agent = Some(named);
            changed = true;
        }
        let first_end = visit.ended_at.is_none();
        changed |= set_min(&mut visit.ended_at, now);
        changed |= set_duration(&mut visit.hold_s, &mut visit.hold_from_queue_log, end.hold_s, end.source);
        changed |= set_duration(&mut visit.talk_s, &mut visit.talk_from_queue_log, end.talk_s, end.source);
        let ending = if end.reason == EndReason::Transfer { Ending::Transferred } else { Ending::Completed };
        if visit.ending != Some(Ending::Transferred) && visit.ending != Some(ending) {
            visit.ending = Some(ending);
            changed = true;
        }
        let credited = visit.agent;
        let ended_at = visit.ended_at.unwrap_or(now);
        if changed {
            self.turn.call_changed(&uid);
        }
        self.dequeue_visit(at);
        self.stop_all_rings(at);
        if let Some(a) = credited {
            // Still bridged to this caller on a later visit (the same agent in another queue) is not over.
            let later = self.calls[at.0 as usize].visits[at.1 + 1..]
                .iter()
                .any(|v| v.agent == Some(a) && v.ended_at.is_none());
            if !later && let Some(agent) = self.agent_mut(a) {
                agent.talking.retain(|u| *u != uid);
            }
            if first_end {
                self.start_wrapup(a, q, ended_at);
            }
            self.touch(a);
        }
        self.recount(at.0, at.1);
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
            self.timers.wrapup_ends(until, a);
        }
    }

    pub(super) fn caller_left(&mut self, queue: &str, uniqueid: &str, reason: LeaveReason, src: Source) {
        let at = self.visit_for(queue, uniqueid, src);
        self.leave_visit(at, reason, src);
    }

    pub(super) fn leave_visit(&mut self, at: VisitRef, reason: LeaveReason, src: Source) {
        let uid = self.uniqueid_of(at);
        self.mark_left(at, src);
        let now = self.turn.cause;
        let visit = self.visit_mut(at);
        let mut changed = false;
        let refine = match visit.leave {
            None => true,
            Some(LeaveReason::Unspecified) => reason != LeaveReason::Unspecified,
            Some(old) => src == Source::QueueLog && old != reason && reason != LeaveReason::Unspecified,
        };
        if refine {
            visit.leave = Some(reason);
            changed = true;
        }
        visit.guessed_exit = false;
        changed |= set_min(&mut visit.ended_at, now);
        if changed {
            self.turn.call_changed(&uid);
        }
        self.dequeue_visit(at);
        self.stop_all_rings(at);
        self.recount(at.0, at.1);
    }

    /// The member hung up during the announcement: it is no longer ringing; the caller keeps waiting.
    pub(super) fn agent_dump(&mut self, queue: &str, uniqueid: &str, member: &MemberRef) {
        let q = self.queue_of(queue);
        if let Some(a) = self.resolve_existing(member, q) {
            self.stop_ring(uniqueid, a);
        }
    }

    /// Re-derives what the visit adds to today's counters and applies the difference.
    pub(super) fn recount(&mut self, c: CallIx, v: usize) {
        let today = self.today();
        let q = self.calls[c as usize].visits[v].queue;
        let sl = self.service_level_s(q);
        let visit = &mut self.calls[c as usize].visits[v];
        let wanted = contribution(visit, sl);
        if wanted == visit.contributed {
            return;
        }
        match visit.counted_day {
            None if wanted.is_empty() => return,
            None => visit.counted_day = Some(today),
            // Counters of that day were reset: a late fact about an old visit changes only the record.
            Some(day) if day != today => {
                visit.contributed = wanted;
                return;
            }
            Some(_) => {}
        }
        let old = std::mem::replace(&mut visit.contributed, wanted);
        let new = &visit.contributed;
        let queue = &mut self.queues[q as usize];
        let (changed, max_lowered) = super::counters::apply_queue_delta(queue, &old, new);
        if changed || max_lowered {
            self.turn.out.push(super::Change::Queue(queue.name.clone()));
        }
        super::counters::apply_agent_delta(&mut self.agents, &mut self.turn.out, &old, new);
        if max_lowered {
            self.recompute_hold_max(q);
        }
    }
}

/// Device readings that mean the device is on some call.
pub(super) fn device_busy(device: super::DeviceState) -> bool {
    use super::DeviceState as D;
    matches!(device, D::InUse | D::Busy | D::OnHold | D::RingInUse)
}

/// What the visit adds to the counters now. It allocates only for missed rings, so `recount` can build one
/// for every fact, most of which change nothing.
fn contribution(visit: &Visit, service_level_s: u32) -> Contribution {
    let answered = visit.answered();
    let hold_s = visit.hold_s.filter(|_| answered);
    let mut misses: Vec<(AgentIx, u32)> = Vec::new();
    for &(agent, _, _) in &visit.misses {
        if misses.iter().any(|(a, _)| *a == agent) {
            continue;
        }
        // Each feed reports each missed ring once; the feed that saw more of them is the count.
        let count = |src: Source| visit.misses.iter().filter(|(a, s, _)| *a == agent && *s == src).count();
        let n = count(Source::QueueLog).max(count(Source::Ami)).max(count(Source::Clock));
        misses.push((agent, u32::try_from(n).unwrap_or(u32::MAX)));
    }
    let outcome = match visit.leave {
        _ if answered => CountedOutcome::Answered {
            transferred: visit.ending == Some(Ending::Transferred),
            sl_within: hold_s.is_some_and(|h| h <= service_level_s),
        },
        Some(reason) if is_timed_out(reason) => CountedOutcome::TimedOut,
        Some(_) => CountedOutcome::Abandoned,
        None => CountedOutcome::Undecided,
    };
    Contribution {
        outcome,
        hold_s,
        talk_s: visit.talk_s.filter(|_| answered && visit.ended_at.is_some()),
        agent: visit.agent.filter(|_| answered),
        misses,
    }
}
