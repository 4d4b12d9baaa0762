//! Membership, pause, penalty and device state.

use super::state::Membership;
use super::{DeviceState, Engine, MemberRef};

/// What a MemberAdded may carry beyond queue and member (AMI gives all of it, queue_log only `paused`).
#[derive(Debug, Clone, Copy)]
pub struct AddedDetails<'a> {
    pub paused: Option<bool>,
    /// None = not said (queue_log `ADDMEMBER|PAUSED`), which keeps a reason already known from AMI.
    pub pause_reason: Option<&'a str>,
    pub penalty: Option<i64>,
    pub device: Option<DeviceState>,
    pub wrapup_s: Option<u32>,
}

impl Engine {
    pub(super) fn member_added(&mut self, queue: &str, member: &MemberRef, details: AddedDetails<'_>) {
        let key = self.ensure_queue(queue);
        let Some(id) = self.resolve(member, Some(&key)) else { return };
        self.ensure_membership(&id, &key);
        if let Some(paused) = details.paused {
            let kept = self
                .agents
                .get(&*id)
                .and_then(|a| a.queues.get(&*key))
                .filter(|m| m.paused && paused)
                .and_then(|m| m.pause_reason.clone());
            let reason = details.pause_reason.map(str::to_owned).or(kept);
            self.set_pause(&id, &key, paused, reason.as_deref());
        }
        if let Some(penalty) = details.penalty {
            self.set_penalty(&id, &key, penalty);
        }
        if let Some(device) = details.device {
            self.set_device(&id, device);
        }
        if let Some(m) = self.agents.get_mut(&*id).and_then(|a| a.queues.get_mut(&*key)) {
            m.wrapup_s = details.wrapup_s.or(m.wrapup_s);
        }
    }

    pub(super) fn member_removed(&mut self, queue: &str, member: &MemberRef) {
        let key = super::queue_key(queue);
        if let Some(id) = self.resolve_existing(member, Some(&key)) {
            self.remove_membership(&id, &key);
        }
    }

    pub(super) fn member_pause(
        &mut self,
        queue: Option<&str>,
        member: &MemberRef,
        paused: bool,
        reason: Option<&str>,
    ) {
        match queue {
            // Asterisk pauses only members: a pause names a membership even without an ADDMEMBER line
            // (static or persistent members).
            Some(queue) => {
                let key = self.ensure_queue(queue);
                let Some(id) = self.resolve(member, Some(&key)) else { return };
                self.ensure_membership(&id, &key);
                self.set_pause(&id, &key, paused, reason);
            }
            // PAUSEALL / a pause without queue: every queue the member is in (per-queue lines follow anyway).
            None => {
                let Some(id) = self.resolve_existing(member, None) else { return };
                let keys: Vec<String> =
                    self.agents.get(&*id).map(|a| a.queues.keys().cloned().collect()).unwrap_or_default();
                for key in keys {
                    self.set_pause(&id, &key, paused, reason);
                }
            }
        }
    }

    pub(super) fn member_penalty(&mut self, queue: &str, member: &MemberRef, penalty: i64) {
        let key = self.ensure_queue(queue);
        let Some(id) = self.resolve(member, Some(&key)) else { return };
        self.ensure_membership(&id, &key);
        self.set_penalty(&id, &key, penalty);
    }

    pub(super) fn member_device(&mut self, queue: Option<&str>, member: &MemberRef, device: DeviceState) {
        let id = match queue {
            Some(queue) => {
                let key = self.ensure_queue(queue);
                let Some(id) = self.resolve(member, Some(&key)) else { return };
                self.ensure_membership(&id, &key);
                id
            }
            None => match self.resolve_existing(member, None) {
                Some(id) => id,
                None => return,
            },
        };
        self.set_device(&id, device);
    }

    pub(super) fn ensure_membership(&mut self, id: &str, key: &str) {
        let now = self.cause;
        let Some(queue) = self.queues.get_mut(key) else { return };
        let Some(agent) = self.agents.get_mut(id) else { return };
        if agent.queues.contains_key(key) {
            return;
        }
        let mut membership = Membership::new(&queue.name);
        membership.paused_at = now;
        agent.queues.insert(key.to_owned(), membership);
        queue.members.insert(id.to_owned());
        self.agent_changed(id);
        self.touch(id);
    }

    pub(super) fn remove_membership(&mut self, id: &str, key: &str) {
        let Some(membership) = self.agents.get_mut(id).and_then(|a| a.queues.remove(key)) else { return };
        if let Some(queue) = self.queues.get_mut(key) {
            queue.members.remove(id);
            if let Some(counted) = membership.counted {
                queue.counts.adjust(counted, -1);
            }
        }
        self.queue_changed(key);
        self.agent_changed(id);
        self.touch(id);
    }

    /// Pause state in one queue. An empty reason is no reason; an unpause clears the reason.
    pub(super) fn set_pause(&mut self, id: &str, key: &str, paused: bool, reason: Option<&str>) {
        let now = self.cause;
        let Some(m) = self.agents.get_mut(id).and_then(|a| a.queues.get_mut(key)) else { return };
        let reason = reason.filter(|r| !r.is_empty() && paused);
        if m.paused == paused && m.pause_reason.as_deref() == reason {
            return;
        }
        m.paused = paused;
        m.pause_reason = reason.map(str::to_owned);
        m.paused_at = now;
        self.agent_changed(id);
        self.touch(id);
    }

    fn set_penalty(&mut self, id: &str, key: &str, penalty: i64) {
        let Some(m) = self.agents.get_mut(id).and_then(|a| a.queues.get_mut(key)) else { return };
        if m.penalty != penalty {
            m.penalty = penalty;
            self.agent_changed(id);
        }
    }

    /// Device state is per device, so it applies to the agent in every queue. A device that stopped ringing
    /// also ends any queue ring we still hold for it (AMI sends no "ring stopped" when another member answers).
    pub(super) fn set_device(&mut self, id: &str, device: DeviceState) {
        let Some(agent) = self.agents.get_mut(id) else { return };
        // "In use" is not a stop: a `Local/` member reads in use while it rings.
        let stops_ringing =
            matches!(device, DeviceState::NotInUse | DeviceState::Unavailable | DeviceState::Invalid);
        let rings: Vec<String> = if stops_ringing { std::mem::take(&mut agent.ringing) } else { Vec::new() };
        if agent.device == device && rings.is_empty() {
            return;
        }
        agent.device = device;
        for uid in rings {
            if let Some(call) = self.calls.get_mut(&uid) {
                call.ringing.retain(|a| a != id);
            }
        }
        self.touch(id);
    }
}
