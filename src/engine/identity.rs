//! Name ↔ interface resolution.
//!
//! Agents are keyed by interface. queue_log names members by their *member name* in most lines and by
//! interface in ADDMEMBER/REMOVEMEMBER/PENALTY, so a name must be resolved: first among the members of the
//! queue the event is about, then from names learned from AMI (MemberName + Interface), then from
//! `EngineConfig::members`.
//!
//! When none of these knows the name (queue_log-only, no config), the engine does not guess from the queue's
//! unnamed members — a wrong guess would silently merge two people. It keeps a *provisional* agent whose id
//! is the name. As soon as the pair is learned (an AMI event or QueueStatus naming both), the provisional
//! agent is merged into the real one: memberships, pause state, counters and call references move over, and
//! `AgentRemoved(name)` is emitted for the provisional id.

use super::state::Agent;
use super::{Change, Engine, MemberRef, looks_like_interface};
use std::borrow::Cow;

impl Engine {
    /// The agent a feed means, created on first mention. `queue_key` narrows name lookups to that queue.
    /// Borrows the id from the event when the event names the interface (the common case: no allocation).
    pub(super) fn resolve<'a>(
        &mut self,
        member: &'a MemberRef,
        queue_key: Option<&str>,
    ) -> Option<Cow<'a, str>> {
        let (id, provisional) = self.lookup(member, queue_key)?;
        if !self.agents.contains_key(&*id) {
            let name = member.name.as_deref().filter(|n| *n != id || provisional);
            self.agents.insert(id.clone().into_owned(), Agent::new(&id, name, provisional, self.cause));
            if let Some(name) = name.filter(|_| !provisional) {
                self.index_name(&id, name);
            }
            self.agent_changed(&id);
            self.touch(&id);
        }
        Some(id)
    }

    /// Like `resolve`, but never creates an agent.
    pub(super) fn resolve_existing<'a>(
        &mut self,
        member: &'a MemberRef,
        queue_key: Option<&str>,
    ) -> Option<Cow<'a, str>> {
        let (id, _) = self.lookup(member, queue_key)?;
        self.agents.contains_key(&*id).then_some(id)
    }

    /// The agent id for a member reference, and whether it is provisional (a name with no known interface).
    fn lookup<'a>(&mut self, member: &'a MemberRef, queue_key: Option<&str>) -> Option<(Cow<'a, str>, bool)> {
        let name = member.name.as_deref().filter(|n| !n.is_empty());
        if let Some(interface) = member.interface.as_deref().filter(|i| !i.is_empty()) {
            if let Some(name) = name {
                self.learn(name, interface);
            }
            return Some((Cow::Borrowed(interface), false));
        }
        let name = name?;
        if looks_like_interface(name) {
            return Some((Cow::Borrowed(name), false));
        }
        if let Some(id) = queue_key.and_then(|key| self.member_named(key, name)) {
            return Some((Cow::Owned(id), false));
        }
        if let Some(interface) = self.names.get(name).or_else(|| self.config.members.get(name)) {
            let interface = interface.clone();
            self.learn(name, &interface);
            return Some((Cow::Owned(interface), false));
        }
        Some((Cow::Borrowed(name), true))
    }

    /// A non-provisional member of the queue with this name (the first by id when several share it).
    fn member_named(&self, key: &str, name: &str) -> Option<String> {
        let ids = self.named.get(name)?;
        let member = |id: &&String| self.agents.get(id.as_str()).is_some_and(|a| a.queues.contains_key(key));
        ids.iter().filter(member).min().cloned()
    }

    /// Adds a non-provisional agent to the name index.
    fn index_name(&mut self, id: &str, name: &str) {
        let ids = self.named.entry(name.to_owned()).or_default();
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_owned());
        }
    }

    fn unindex_name(&mut self, id: &str, name: &str) {
        if let Some(ids) = self.named.get_mut(name) {
            ids.retain(|i| i != id);
            if ids.is_empty() {
                self.named.remove(name);
            }
        }
    }

    /// Records that `name` is the member name of `interface` (AMI says both), merging a provisional agent.
    pub(super) fn learn(&mut self, name: &str, interface: &str) {
        // Asterisk reports the interface as the name of an unnamed member: nothing to learn.
        if name == interface || name.is_empty() {
            return;
        }
        // Once a name is known, `lookup` never creates a provisional agent for it, and the learn that recorded
        // it merged any earlier one: only a newly learned pair can have a provisional agent to merge.
        if self.names.get(name).map(String::as_str) != Some(interface) {
            self.names.insert(name.to_owned(), interface.to_owned());
            if self.agents.get(name).is_some_and(|a| a.provisional) {
                self.merge_provisional(name, interface);
            }
        }
        self.set_name(interface, name);
    }

    fn set_name(&mut self, interface: &str, name: &str) {
        let Some(agent) = self.agents.get_mut(interface) else { return };
        if agent.name.as_deref() == Some(name) {
            return;
        }
        let old = agent.name.replace(name.to_owned());
        let indexed = !agent.provisional;
        if indexed {
            if let Some(old) = old {
                self.unindex_name(interface, &old);
            }
            self.index_name(interface, name);
        }
        self.agent_changed(interface);
    }

    /// Moves everything the provisional agent `name` holds into the agent `interface`.
    fn merge_provisional(&mut self, name: &str, interface: &str) {
        let Some(provisional) = self.agents.remove(name) else { return };
        if !self.agents.contains_key(interface) {
            let agent = Agent::new(interface, Some(name), false, self.cause);
            self.agents.insert(interface.to_owned(), agent);
            self.index_name(interface, name);
        }
        for (key, membership) in &provisional.queues {
            if let Some(queue) = self.queues.get_mut(key) {
                queue.members.remove(name);
                queue.members.insert(interface.to_owned());
                if let Some(counted) = membership.counted {
                    queue.counts.adjust(counted, -1);
                }
                self.out.push(Change::Queue(queue.name.clone()));
            }
        }
        if let Some(real) = self.agents.get_mut(interface) {
            merge_into(real, provisional);
        }
        self.repoint_calls(name, interface);
        self.wrapups = std::mem::take(&mut self.wrapups)
            .into_iter()
            .map(|(until, id)| (until, if id == name { interface.to_owned() } else { id }))
            .collect();
        if let Some(pos) = self.touched.iter().take(self.touched_len).position(|id| id == name)
            && let Some(live) = self.touched.get_mut(pos..self.touched_len)
        {
            live.rotate_left(1);
            self.touched_len -= 1;
        }
        self.out.push(Change::AgentRemoved(name.to_owned()));
        self.agent_changed(interface);
        self.touch(interface);
    }

    /// Calls that credit or ring the provisional id now refer to the interface.
    fn repoint_calls(&mut self, from: &str, to: &str) {
        let swap = |id: &mut String| {
            if id == from {
                *id = to.to_owned();
            }
        };
        for call in self.calls.values_mut() {
            call.agent.as_mut().map(swap);
            call.contributed.agent.as_mut().map(swap);
            call.ringing.iter_mut().for_each(swap);
            call.misses.iter_mut().for_each(|(id, _, _)| swap(id));
            call.contributed.misses.iter_mut().for_each(|(id, _)| swap(id));
        }
    }
}

fn merge_into(real: &mut Agent, provisional: Agent) {
    for (key, mut theirs) in provisional.queues {
        theirs.counted = None;
        match real.queues.get_mut(&key) {
            // The name-keyed facts are newer than the interface-keyed ADDMEMBER when they carry a later pause.
            Some(ours) if theirs.paused_at >= ours.paused_at => {
                ours.paused = theirs.paused;
                ours.pause_reason = theirs.pause_reason;
                ours.paused_at = theirs.paused_at;
            }
            Some(_) => {}
            None => {
                real.queues.insert(key, theirs);
            }
        }
    }
    real.calls_answered += provisional.calls_answered;
    real.calls_missed += provisional.calls_missed;
    real.talk_seconds += provisional.talk_seconds;
    for uid in provisional.ringing {
        if !real.ringing.contains(&uid) {
            real.ringing.push(uid);
        }
    }
    for uid in provisional.talking {
        if !real.talking.contains(&uid) {
            real.talking.push(uid);
        }
    }
    real.wrapup_until = real.wrapup_until.max(provisional.wrapup_until);
}
