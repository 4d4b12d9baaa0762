//! Membership, pause, penalty and device state.

use super::agent_events::{Actor, AgentEventKind};
use super::state::{AgentIx, Membership, QueueIx};
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
    /// `dynamic`, `static` or `realtime` (AMI, and the static members read from queues.conf).
    pub membership: Option<&'a str>,
}

impl Engine {
    pub(super) fn member_added(&mut self, queue: &str, member: &MemberRef, details: AddedDetails<'_>) {
        let q = self.ensure_queue(queue);
        let Some(a) = self.resolve(member, Some(q)) else { return };
        let existed = self.agent(a).is_some_and(|agent| agent.membership(q).is_some());
        self.ensure_added(a, q, details.membership);
        // Asterisk refuses to add a member twice, so a queue_log ADDMEMBER for a membership already held is
        // the line of the add AMI reported first: its pause flag is from then, not newer than AMI's pause
        // since (the tail reads the line after the AMI events of the same moment).
        let details = if existed && self.turn.source == super::Source::QueueLog {
            AddedDetails { paused: None, ..details }
        } else {
            details
        };
        if let Some(m) =
            self.agent_mut(a).filter(|agent| agent.provisional).and_then(|agent| agent.membership_mut(q))
            && !m.added_by_name
        {
            m.added_by_name = true;
            self.touch(a);
        }
        if let Some(paused) = details.paused {
            let kept = self
                .agent(a)
                .and_then(|agent| agent.membership(q))
                .filter(|m| m.paused && paused)
                .and_then(|m| m.pause_reason.clone());
            let reason = details.pause_reason.map(str::to_owned).or(kept);
            self.set_pause(a, q, paused, reason.as_deref());
        }
        if let Some(penalty) = details.penalty {
            self.set_penalty(a, q, penalty);
        }
        if let Some(device) = details.device {
            self.set_device(a, device);
        }
        if let Some(m) = self.agent_mut(a).and_then(|agent| agent.membership_mut(q)) {
            m.wrapup_s = details.wrapup_s.or(m.wrapup_s);
        }
    }

    pub(super) fn member_removed(&mut self, queue: &str, member: &MemberRef) {
        let q = self.queue_of(queue);
        if let Some(a) = self.resolve_existing(member, q)
            && let Some(q) = q
        {
            self.remove_membership(a, q);
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
                let q = self.ensure_queue(queue);
                let Some(a) = self.resolve(member, Some(q)) else { return };
                self.ensure_membership(a, q);
                self.set_pause(a, q, paused, reason);
            }
            // PAUSEALL / a pause without queue: every queue the member is in (per-queue lines follow anyway).
            None => {
                let Some(a) = self.resolve_existing(member, None) else { return };
                let queues: Vec<QueueIx> = self
                    .agent(a)
                    .map(|agent| agent.queues.iter().map(|m| m.queue).collect())
                    .unwrap_or_default();
                for q in queues {
                    self.set_pause(a, q, paused, reason);
                }
            }
        }
    }

    pub(super) fn member_penalty(&mut self, queue: &str, member: &MemberRef, penalty: i64) {
        let q = self.ensure_queue(queue);
        let Some(a) = self.resolve(member, Some(q)) else { return };
        self.ensure_membership(a, q);
        self.set_penalty(a, q, penalty);
    }

    pub(super) fn member_device(&mut self, queue: Option<&str>, member: &MemberRef, device: DeviceState) {
        let a = match queue {
            Some(queue) => {
                let q = self.ensure_queue(queue);
                let Some(a) = self.resolve(member, Some(q)) else { return };
                self.ensure_membership(a, q);
                a
            }
            None => match self.resolve_existing(member, None) {
                Some(a) => a,
                None => return,
            },
        };
        self.set_device(a, device);
    }

    /// A membership the event states explicitly (ADDMEMBER, QueueMemberAdded, a QueueStatus row): its
    /// login takes the event's source, or `config` for static and realtime members.
    pub(super) fn ensure_added(&mut self, a: AgentIx, q: QueueIx, membership: Option<&str>) {
        let actor =
            if matches!(membership, Some("static" | "realtime")) { Actor::Config } else { self.turn.actor };
        self.join(a, q, Some(actor));
    }

    /// A membership the event names; one only implied (a pause or device line of a member never added)
    /// is a static or persistent member: its login's source is `config`.
    pub(super) fn ensure_membership(&mut self, a: AgentIx, q: QueueIx) {
        self.join(a, q, None);
    }

    /// The membership of `a` in `q`, created if new. `added_by`: who added it when the event states the
    /// add (a repeat of a held login then names its source), `None` when the event only implies it.
    fn join(&mut self, a: AgentIx, q: QueueIx, added_by: Option<Actor>) {
        let now = self.turn.cause;
        let Some(agent) = self.agents.get_mut(a as usize).and_then(Option::as_mut) else { return };
        let mut membership = Membership::new(q);
        membership.paused_at = now;
        if !agent.add_membership(membership) {
            if let Some(actor) = added_by {
                self.confirm_agent_event(a, q, AgentEventKind::Login, actor);
            }
            return;
        }
        self.queues[q as usize].add_member(a);
        self.agent_event(a, q, AgentEventKind::Login, None, added_by.unwrap_or(Actor::Config));
        self.agent_changed(a);
        self.touch(a);
    }

    pub(super) fn remove_membership(&mut self, a: AgentIx, q: QueueIx) {
        let Some(membership) = self.agent_mut(a).and_then(|agent| agent.remove_membership(q)) else {
            self.confirm_agent_event(a, q, AgentEventKind::Logout, self.turn.actor);
            return;
        };
        self.agent_event(a, q, AgentEventKind::Logout, None, self.turn.actor);
        let queue = &mut self.queues[q as usize];
        queue.remove_member(a);
        if let Some(counted) = membership.counted {
            queue.counts.adjust(counted, -1);
        }
        self.queue_changed(q);
        self.agent_changed(a);
        self.touch(a);
    }

    /// Pause state in one queue. An empty reason is no reason; an unpause clears the reason.
    pub(super) fn set_pause(&mut self, a: AgentIx, q: QueueIx, paused: bool, reason: Option<&str>) {
        let now = self.turn.cause;
        let Some(m) = self.agent_mut(a).and_then(|agent| agent.membership_mut(q)) else { return };
        let reason = reason.filter(|r| !r.is_empty() && paused);
        let moved = m.paused != paused;
        if !moved && m.pause_reason.as_deref() == reason {
            let kind = if paused { AgentEventKind::Pause } else { AgentEventKind::Unpause };
            self.confirm_agent_event(a, q, kind, self.turn.actor);
            return;
        }
        if moved {
            let kind = if paused { AgentEventKind::Pause } else { AgentEventKind::Unpause };
            self.agent_event(a, q, kind, reason, self.turn.actor);
        }
        let Some(m) = self.agent_mut(a).and_then(|agent| agent.membership_mut(q)) else { return };
        m.paused = paused;
        m.pause_reason = reason.map(str::to_owned);
        m.paused_at = now;
        self.agent_changed(a);
        self.touch(a);
    }

    fn set_penalty(&mut self, a: AgentIx, q: QueueIx, penalty: i64) {
        let Some(m) = self.agent_mut(a).and_then(|agent| agent.membership_mut(q)) else { return };
        if m.penalty != penalty {
            m.penalty = penalty;
            self.agent_changed(a);
        }
    }

    /// Device state is per device, so it applies to the agent in every queue. A device that stopped ringing
    /// also ends any queue ring we still hold for it (AMI sends no "ring stopped" when another member answers).
    pub(super) fn set_device(&mut self, a: AgentIx, device: DeviceState) {
        let Some(agent) = self.agents.get_mut(a as usize).and_then(Option::as_mut) else { return };
        // "In use" is not a stop: a `Local/` member reads in use while it rings.
        let stops_ringing =
            matches!(device, DeviceState::NotInUse | DeviceState::Unavailable | DeviceState::Invalid);
        let rings = if stops_ringing { std::mem::take(&mut agent.ringing) } else { Vec::new() };
        if agent.device == device && rings.is_empty() {
            return;
        }
        agent.device = device;
        for uid in rings {
            if let Some(c) = self.calls.of(&uid) {
                self.calls[c as usize].visits.iter_mut().for_each(|v| v.ringing.retain(|(r, _)| *r != a));
            }
        }
        self.touch(a);
    }
}
