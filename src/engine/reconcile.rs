//! Authoritative resets: the AMI `QueueStatus` answer and an Asterisk restart.

use super::hash::FastSet;
use super::state::Waiting;
use super::{Engine, LeaveReason, MemberRef, MemberStatus, QueueEntry, SnapshotScope, StatusSnapshot};
use std::sync::Arc;

impl Engine {
    /// Reconciles with a `QueueStatus` answer: everything listed is applied through the same setters as live
    /// events (so only real differences become changes); inside the answer's scope, members and waiting
    /// callers it does not list are gone.
    pub(super) fn status_snapshot(&mut self, snapshot: &StatusSnapshot) {
        for params in &snapshot.queues {
            let key = self.ensure_queue(&params.queue);
            if let Some(queue) = self.queues.get_mut(&*key) {
                queue.service_level_s = params.service_level_s.or(queue.service_level_s);
            }
        }
        let mut seen: FastSet<(String, String)> = FastSet::default();
        for member in &snapshot.members {
            if let Some(row) = self.apply_member_row(member) {
                seen.insert(row);
            }
        }
        let listed: FastSet<&str> = snapshot.entries.iter().map(|e| e.uniqueid.as_str()).collect();
        for entry in &snapshot.entries {
            self.apply_entry(entry);
        }
        match &snapshot.scope {
            SnapshotScope::All => {
                let keys: Vec<String> = self.queues.keys().cloned().collect();
                for key in keys {
                    self.drop_unlisted_members(&key, None, &seen);
                    self.drop_unlisted_callers(&key, &listed);
                }
            }
            SnapshotScope::Queue { queue } => {
                let key = super::queue_key(queue);
                self.drop_unlisted_members(&key, None, &seen);
                self.drop_unlisted_callers(&key, &listed);
            }
            SnapshotScope::Member { queue, interface } => {
                let keys: Vec<String> = match queue {
                    Some(queue) => vec![super::queue_key(queue).into_owned()],
                    None => self
                        .agents
                        .get(interface)
                        .map(|a| a.queues.keys().cloned().collect())
                        .unwrap_or_default(),
                };
                for key in keys {
                    self.drop_unlisted_members(&key, Some(interface), &seen);
                }
            }
            SnapshotScope::Partial => {}
        }
    }

    /// Applies one QueueMember row; returns its (agent, queue key).
    fn apply_member_row(&mut self, row: &MemberStatus) -> Option<(String, String)> {
        let key = self.ensure_queue(&row.queue);
        let name = row.name.as_deref().filter(|n| *n != row.interface);
        let member = MemberRef { interface: Some(row.interface.clone()), name: name.map(str::to_owned) };
        let id = self.resolve(&member, Some(&key))?;
        self.ensure_membership(&id, &key);
        self.set_pause(&id, &key, row.paused, row.pause_reason.as_deref());
        if let Some(penalty) = row.penalty
            && let Some(m) = self.agents.get_mut(&*id).and_then(|a| a.queues.get_mut(&*key))
            && m.penalty != penalty
        {
            m.penalty = penalty;
            self.agent_changed(&id);
        }
        if let Some(m) = self.agents.get_mut(&*id).and_then(|a| a.queues.get_mut(&*key)) {
            m.wrapup_s = row.wrapup_s.or(m.wrapup_s);
        }
        if let Some(device) = row.device {
            self.set_device(&id, device);
        }
        Some((id.into_owned(), key.into_owned()))
    }

    /// A listed caller is waiting, unless we already know the call left the queue.
    fn apply_entry(&mut self, entry: &QueueEntry) {
        let key = self.ensure_queue(&entry.queue);
        let now = self.cause;
        let joined = now.saturating_sub(entry.wait_s.map_or(0, |w| i64::from(w) * 1000));
        let known = self.calls.get(&entry.uniqueid);
        if known.is_some_and(|c| c.ended_at.is_some() || c.leave.is_some() || c.agent.is_some()) {
            return;
        }
        if known.is_none() {
            self.caller_joined(&entry.queue, &entry.uniqueid, entry.caller_id.as_deref(), entry.position);
            if let Some(call) = self.calls.get_mut(&entry.uniqueid) {
                call.joined_at = Some(joined);
            }
        }
        let joined_at = self.calls.get(&entry.uniqueid).and_then(|c| c.joined_at).unwrap_or(joined);
        let caller_id = entry.caller_id.clone().filter(|c| !c.is_empty());
        // The answer's position is the current one: replace ours.
        if let Some(q) = self.queues.get_mut(&*key) {
            q.waiting.remove(&entry.uniqueid);
        }
        self.put_waiting(&key, &entry.uniqueid, Waiting { caller_id, position: entry.position, joined_at });
    }

    fn drop_unlisted_members(&mut self, key: &str, only: Option<&str>, seen: &FastSet<(String, String)>) {
        let Some(queue) = self.queues.get(key) else { return };
        let gone: Vec<String> = queue
            .members
            .iter()
            .filter(|id| only.is_none_or(|o| o == id.as_str()))
            .filter(|id| !seen.contains(&((*id).clone(), key.to_owned())))
            .cloned()
            .collect();
        for id in gone {
            self.remove_membership(&id, key);
        }
    }

    fn drop_unlisted_callers(&mut self, key: &str, listed: &FastSet<&str>) {
        let Some(queue) = self.queues.get(key) else { return };
        let gone: Vec<String> =
            queue.waiting.keys().filter(|uid| !listed.contains(uid.as_str())).cloned().collect();
        for uid in gone {
            self.dequeue(key, &uid);
        }
    }

    /// QUEUESTART: Asterisk restarted, so every call in progress is gone. Membership is kept (static and
    /// persistent members come back without ADDMEMBER lines). Callers who were still waiting were lost
    /// without an answer and count as abandoned — the wallboard's "lost calls" must include them. Bridged
    /// calls end now (their talk time is unknown; they were already counted as answered).
    pub(super) fn asterisk_started(&mut self) {
        let open: Vec<(String, Arc<str>, bool)> = self
            .calls
            .iter()
            .filter(|(_, c)| c.ended_at.is_none() && c.leave.is_none())
            .map(|(uid, c)| (uid.clone(), c.queue.clone(), c.agent.is_some()))
            .collect();
        for (uid, queue, answered) in open {
            if answered {
                self.end_unreported(&uid);
            } else {
                self.caller_left(&queue, &uid, LeaveReason::Abandon, super::Source::Clock);
            }
        }
        let ids: Vec<String> = self.agents.keys().cloned().collect();
        for id in ids {
            if let Some(agent) = self.agents.get_mut(&*id) {
                agent.ringing.clear();
                agent.talking.clear();
                agent.wrapup_until = None;
            }
            self.touch(&id);
        }
        let keys: Vec<String> = self.queues.keys().cloned().collect();
        for key in keys {
            if self.queues.get_mut(&*key).is_some_and(|q| !std::mem::take(&mut q.waiting).is_empty()) {
                self.queue_changed(&key);
            }
        }
    }

    /// Ends a bridged call nobody reported the end of.
    fn end_unreported(&mut self, uid: &str) {
        let now = self.cause;
        if let Some(call) = self.calls.get_mut(uid) {
            call.ended_at = Some(now);
            call.ringing.clear();
            self.call_changed(uid);
        }
    }
}
