//! Authoritative resets: the AMI `QueueStatus` answer and an Asterisk restart.

use super::state::{AgentIx, CallIx, QueueIx, Waiting};
use super::{Engine, LeaveReason, MemberRef, MemberStatus, QueueEntry, SnapshotScope, StatusSnapshot};
use foldhash::HashSet;

impl Engine {
    /// Reconciles with a `QueueStatus` answer: everything listed is applied through the same setters as live
    /// events (so only real differences become changes); inside the answer's scope, members and waiting
    /// callers it does not list are gone.
    pub(super) fn status_snapshot(&mut self, snapshot: &StatusSnapshot) {
        // The first answer is where the engine starts from (AMI alone knows nothing before it), not a change
        // anybody made: its logins and pauses are no agent events. Later answers (reconnects) find changes
        // missed meanwhile, and those are.
        self.turn.quiet = !self.seen_snapshot;
        self.seen_snapshot = true;
        self.status_snapshot_rows(snapshot);
        self.turn.quiet = false;
    }

    fn status_snapshot_rows(&mut self, snapshot: &StatusSnapshot) {
        for params in &snapshot.queues {
            let q = self.ensure_queue(&params.queue);
            let queue = &mut self.queues[q as usize];
            queue.service_level_s = params.service_level_s.or(queue.service_level_s);
        }
        let mut seen: HashSet<(AgentIx, QueueIx)> = HashSet::default();
        for member in &snapshot.members {
            if let Some(row) = self.apply_member_row(member) {
                seen.insert(row);
            }
        }
        let listed: HashSet<&str> = snapshot.entries.iter().map(|e| e.uniqueid.as_str()).collect();
        for entry in &snapshot.entries {
            self.apply_entry(entry);
        }
        match &snapshot.scope {
            SnapshotScope::All => {
                for q in 0..super::ix(self.queues.len()) {
                    self.drop_unlisted_members(q, None, &seen);
                    self.drop_unlisted_callers(q, &listed);
                }
            }
            SnapshotScope::Queue { queue } => {
                if let Some(q) = self.queue_of(queue) {
                    self.drop_unlisted_members(q, None, &seen);
                    self.drop_unlisted_callers(q, &listed);
                }
            }
            SnapshotScope::Member { queue, interface } => {
                let queues: Vec<QueueIx> = match queue {
                    Some(queue) => self.queue_of(queue).into_iter().collect(),
                    None => self
                        .agents
                        .of(interface.as_str())
                        .and_then(|a| self.agent(a))
                        .map(|a| a.queues.iter().map(|m| m.queue).collect())
                        .unwrap_or_default(),
                };
                for q in queues {
                    self.drop_unlisted_members(q, Some(interface), &seen);
                }
            }
            SnapshotScope::Partial => {}
        }
    }

    /// Applies one QueueMember row; returns its (agent, queue).
    fn apply_member_row(&mut self, row: &MemberStatus) -> Option<(AgentIx, QueueIx)> {
        let q = self.ensure_queue(&row.queue);
        let name = row.name.as_deref().filter(|n| *n != row.interface);
        let member = MemberRef { interface: Some(row.interface.clone()), name: name.map(str::to_owned) };
        let a = self.resolve(&member, Some(q))?;
        self.ensure_added(a, q, row.membership.as_deref());
        self.set_pause(a, q, row.paused, row.pause_reason.as_deref());
        if let Some(penalty) = row.penalty
            && let Some(m) = self.agent_mut(a).and_then(|agent| agent.membership_mut(q))
            && m.penalty != penalty
        {
            m.penalty = penalty;
            self.agent_changed(a);
        }
        if let Some(m) = self.agent_mut(a).and_then(|agent| agent.membership_mut(q)) {
            m.wrapup_s = row.wrapup_s.or(m.wrapup_s);
        }
        if let Some(device) = row.device {
            self.set_device(a, device);
        }
        Some((a, q))
    }

    /// A listed caller is waiting in its latest visit of that queue, unless we already know that visit is
    /// over: queue_log, ahead of the AMI answer, already said it ended, so the listing is stale. A caller
    /// with no visit in that queue gets one (it joined before this AMI connection).
    fn apply_entry(&mut self, entry: &QueueEntry) {
        let q = self.ensure_queue(&entry.queue);
        let now = self.turn.cause;
        let joined = now.saturating_sub(entry.wait_s.map_or(0, |w| i64::from(w) * 1000));
        let uid = entry.uniqueid.as_str();
        let c = self.ensure_call(uid);
        let visits = &mut self.calls[c as usize].visits;
        let latest = visits.iter().rposition(|v| v.queue == q);
        let v = match latest {
            Some(v) if visits[v].is_over() => return,
            Some(v) => v,
            None => {
                let mut visit = super::state::Visit::new(q);
                visit.joined_at = Some(joined);
                visits.push(visit);
                let v = visits.len() - 1;
                self.turn.call_changed(uid);
                v
            }
        };
        let call = &mut self.calls[c as usize];
        if call.caller_id.is_none()
            && let Some(caller_id) = entry.caller_id.as_deref().filter(|c| !c.is_empty())
        {
            call.caller_id = Some(super::key::Key::new(caller_id));
            self.turn.call_changed(uid);
        }
        let call = &self.calls[c as usize];
        let joined_at = call.visits[v].joined_at.unwrap_or(joined);
        let caller_id = call.caller_id.clone();
        // The answer's position is the current one: replace ours.
        let queue = &mut self.queues[q as usize];
        if let Ok(at) = queue.waiting_at(uid) {
            queue.waiting.remove(at);
        }
        self.put_waiting(q, uid, Waiting { caller_id, position: entry.position, joined_at });
    }

    /// Removes the queue's members the answer did not list (in id order, as they were always removed).
    fn drop_unlisted_members(&mut self, q: QueueIx, only: Option<&str>, seen: &HashSet<(AgentIx, QueueIx)>) {
        let mut gone: Vec<(&str, AgentIx)> = self.queues[q as usize]
            .members
            .iter()
            .filter_map(|&a| self.agent(a).map(|agent| (agent.id.as_str(), a)))
            .filter(|(id, _)| only.is_none_or(|o| o == *id))
            .filter(|(_, a)| !seen.contains(&(*a, q)))
            .collect();
        gone.sort_unstable();
        let gone: Vec<AgentIx> = gone.into_iter().map(|(_, a)| a).collect();
        for a in gone {
            self.remove_membership(a, q);
        }
    }

    fn drop_unlisted_callers(&mut self, q: QueueIx, listed: &HashSet<&str>) {
        let gone: Vec<String> = self.queues[q as usize]
            .waiting
            .iter()
            .filter(|(uid, _)| !listed.contains(uid.as_str()))
            .map(|(uid, _)| uid.to_string())
            .collect();
        for uid in gone {
            self.dequeue(q, &uid);
        }
    }

    /// QUEUESTART: Asterisk restarted, so every call in progress is gone. Membership is kept (static and
    /// persistent members come back without ADDMEMBER lines). Callers who were still waiting were lost
    /// without an answer and count as abandoned — the wallboard's "lost calls" must include them. Bridged
    /// visits end now (their talk time is unknown; they were already counted as answered). A visit that
    /// began after the restart (the other feed ran ahead of this line) is not touched.
    pub(super) fn asterisk_started(&mut self) {
        let restart = self.turn.cause;
        let mut open: Vec<(CallIx, usize, bool)> = Vec::new();
        for (c, call) in self.calls.unsettled() {
            for (v, visit) in call.visits.iter().enumerate() {
                let began = visit.joined_at.or(visit.connected_at).or(visit.dequeued_at);
                let before = began.is_none_or(|t| t <= restart);
                if before && visit.is_open() {
                    open.push((c, v, visit.agent.is_some()));
                }
            }
        }
        for (c, v, answered) in open {
            if answered {
                self.end_unreported(c, v);
            } else {
                self.leave_visit((c, v), LeaveReason::Abandon, super::Source::Clock);
            }
        }
        self.calls.settle();
        for a in 0..super::ix(self.agents.len()) {
            let Some(agent) = self.agent_mut(a) else { continue };
            if agent.wrapup_until.is_some_and(|until| until > restart) {
                agent.wrapup_until = None;
                self.touch(a);
            }
        }
    }

    /// Ends a bridged visit nobody reported the end of: its agent is free.
    fn end_unreported(&mut self, c: CallIx, v: usize) {
        let now = self.turn.cause;
        let call = &mut self.calls[c as usize];
        let visit = &mut call.visits[v];
        visit.ended_at = Some(now);
        let agent = visit.agent;
        let uid = call.uniqueid.clone();
        if let Some(a) = agent {
            if let Some(agent) = self.agent_mut(a) {
                agent.talking.retain(|u| *u != uid);
            }
            self.touch(a);
        }
        self.stop_call_rings(c, v);
        self.turn.call_changed(&uid);
    }
}
