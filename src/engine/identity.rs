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

impl Engine {
    /// The agent a feed means, created on first mention. `queue_key` narrows name lookups to that queue.
    pub(super) fn resolve(&mut self, member: &MemberRef, queue_key: Option<&str>) -> Option<String> {
        let (id, provisional) = self.lookup(member, queue_key)?;
        if !self.agents.contains_key(&id) {
            let name = member.name.as_deref().filter(|n| *n != id || provisional);
            self.agents.insert(id.clone(), Agent::new(&id, name, provisional, self.now));
            self.agent_changed(&id);
            self.touch(&id);
        }
        Some(id)
    }

    /// Like `resolve`, but never creates an agent.
    pub(super) fn resolve_existing(&mut self, member: &MemberRef, queue_key: Option<&str>) -> Option<String> {
        let (id, _) = self.lookup(member, queue_key)?;
        self.agents.contains_key(&id).then_some(id)
    }

    /// The agent id for a member reference, and whether it is provisional (a name with no known interface).
    fn lookup(&mut self, member: &MemberRef, queue_key: Option<&str>) -> Option<(String, bool)> {
        let name = member.name.as_deref().filter(|n| !n.is_empty());
        if let Some(interface) = member.interface.as_deref().filter(|i| !i.is_empty()) {
            if let Some(name) = name {
                self.learn(name, interface);
            }
            return Some((interface.to_owned(), false));
        }
        let name = name?;
        if looks_like_interface(name) {
            return Some((name.to_owned(), false));
        }
        if let Some(id) = queue_key.and_then(|key| self.member_named(key, name)) {
            return Some((id, false));
        }
        if let Some(interface) = self.names.get(name).or_else(|| self.config.members.get(name)) {
            let interface = interface.clone();
            self.learn(name, &interface);
            return Some((interface, false));
        }
        Some((name.to_owned(), true))
    }

    /// A non-provisional member of the queue with this name.
    fn member_named(&self, key: &str, name: &str) -> Option<String> {
        let queue = self.queues.get(key)?;
        queue
            .members
            .iter()
            .filter_map(|id| self.agents.get(id))
            .find(|a| !a.provisional && a.name.as_deref() == Some(name))
            .map(|a| a.id.clone())
    }

    /// Records that `name` is the member name of `interface` (AMI says both), merging a provisional agent.
    pub(super) fn learn(&mut self, name: &str, interface: &str) {
        // Asterisk reports the interface as the name of an unnamed member: nothing to learn.
        if name == interface || name.is_empty() {
            return;
        }
        if self.names.get(name).map(String::as_str) != Some(interface) {
            self.names.insert(name.to_owned(), interface.to_owned());
        }
        if self.agents.get(name).is_some_and(|a| a.provisional) {
            self.merge_provisional(name, interface);
        }
        self.set_name(interface, name);
    }

    fn set_name(&mut self, interface: &str, name: &str) {
        if let Some(agent) = self.agents.get_mut(interface)
            && agent.name.as_deref() != Some(name)
        {
            agent.name = Some(name.to_owned());
            self.agent_changed(interface);
        }
    }

    /// Moves everything the provisional agent `name` holds into the agent `interface`.
    fn merge_provisional(&mut self, name: &str, interface: &str) {
        let Some(provisional) = self.agents.remove(name) else { return };
        if !self.agents.contains_key(interface) {
            let agent = Agent::new(interface, Some(name), false, self.now);
            self.agents.insert(interface.to_owned(), agent);
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
        self.touched.retain(|id| id != name);
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
