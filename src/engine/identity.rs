//! Name ↔ interface resolution.
//!
//! Agents are keyed by interface. queue_log names members by their *member name* in most lines and by
//! interface in ADDMEMBER/REMOVEMEMBER/PENALTY, so a name must be resolved: first among the members of the
//! queue the event is about, then from names learned from AMI (MemberName + Interface) or astdb
//! (`EventKind::MemberNamed`), then from `PbxSetup::members` (config, queues.conf static members and
//! astdb's members at start).
//!
//! When none of these knows the name, the engine does not guess from the queue's unnamed members — a wrong
//! guess would silently merge two people. It keeps a *provisional* agent whose id is the name, shown but not
//! counted where it may be a twin (`uncounted_queues`). As soon as the pair is learned, the provisional
//! agent is merged into the real one: memberships, pause state, counters and call references move over, and
//! `AgentRemoved(name)` is emitted for the provisional id.

use super::key::Key;
use super::state::{Agent, AgentIx, QueueIx};
use super::{Change, Engine, MemberRef, looks_like_interface};
use std::borrow::Cow;

/// What a member reference names: an agent already known by number, or an id to look up (or create).
enum Found<'a> {
    Agent(AgentIx),
    Id(Cow<'a, str>, bool),
}

impl Engine {
    /// The agent a feed means, created on first mention. `queue` narrows name lookups to that queue.
    pub(super) fn resolve(&mut self, member: &MemberRef, queue: Option<QueueIx>) -> Option<AgentIx> {
        let (id, provisional) = match self.lookup(member, queue)? {
            Found::Agent(a) => return Some(a),
            Found::Id(id, provisional) => (id, provisional),
        };
        if let Some(a) = self.agents.of(&id) {
            return Some(a);
        }
        let name = member.name.as_deref().filter(|n| *n != id || provisional);
        let a = self.agents.add(Agent::new(&id, name, provisional, self.turn.cause));
        if let Some(name) = name.filter(|_| !provisional) {
            self.names.index(a, name);
        }
        self.agent_changed(a);
        self.touch(a);
        Some(a)
    }

    /// Like `resolve`, but never creates an agent.
    pub(super) fn resolve_existing(&mut self, member: &MemberRef, queue: Option<QueueIx>) -> Option<AgentIx> {
        match self.lookup(member, queue)? {
            Found::Agent(a) => Some(a),
            Found::Id(id, _) => self.agents.of(&id),
        }
    }

    /// The agent (or agent id) for a member reference; an id comes with whether it is provisional (a name
    /// with no known interface).
    fn lookup<'a>(&mut self, member: &'a MemberRef, queue: Option<QueueIx>) -> Option<Found<'a>> {
        let name = member.name.as_deref().filter(|n| !n.is_empty());
        if let Some(interface) = member.interface.as_deref().filter(|i| !i.is_empty()) {
            if let Some(name) = name
                && let Some(a) = self.learn(name, interface)
            {
                return Some(Found::Agent(a));
            }
            return Some(Found::Id(Cow::Borrowed(interface), false));
        }
        let name = name?;
        if looks_like_interface(name) {
            return Some(Found::Id(Cow::Borrowed(name), false));
        }
        if let Some(a) = queue.and_then(|q| self.member_named(q, name)) {
            return Some(Found::Agent(a));
        }
        let learned = self
            .names
            .interface(name)
            .map(Key::as_str)
            .or_else(|| self.config.members.get(name).map(String::as_str));
        if let Some(interface) = learned {
            let interface = interface.to_owned();
            return Some(match self.learn(name, &interface) {
                Some(a) => Found::Agent(a),
                None => Found::Id(Cow::Owned(interface), false),
            });
        }
        Some(Found::Id(Cow::Borrowed(name), true))
    }

    /// The queues in which agent `a` is not counted in `agents_*`: for a provisional agent (a member name with
    /// no known interface), each queue it is in only because a PAUSE, CONNECT… line named it. With Asterisk's
    /// default `log_membername_as_agent = no` such a name is always a member that ADDMEMBER (or queues.conf,
    /// astdb, realtime) knows by interface: counting both would count one person twice. A name an ADDMEMBER
    /// line gave (`= yes`) is a member of its own and is counted.
    pub(super) fn uncounted_queues(&self, a: AgentIx) -> Vec<QueueIx> {
        let Some(agent) = self.agent(a).filter(|agent| agent.provisional) else { return Vec::new() };
        agent.queues.iter().filter(|m| !m.added_by_name).map(|m| m.queue).collect()
    }

    /// A non-provisional member of the queue with this name (the first by id when several share it).
    fn member_named(&self, q: QueueIx, name: &str) -> Option<AgentIx> {
        self.names
            .agents(name)
            .iter()
            .filter_map(|&a| {
                self.agent(a).filter(|agent| agent.is_member(q)).map(|agent| (agent.id.as_str(), a))
            })
            .min()
            .map(|(_, a)| a)
    }

    /// A pair from a host file (astdb): learned like an AMI pair, at the latest time seen, since the file has
    /// no time of its own.
    pub(super) fn member_named_from_host(&mut self, interface: &str, name: &str) -> Vec<Change> {
        self.turn.cause = self.now;
        self.learn(name, interface);
        self.finish()
    }

    /// Records that `name` is the member name of `interface` (AMI says both), merging a provisional agent.
    /// Returns the interface's agent when it exists.
    pub(super) fn learn(&mut self, name: &str, interface: &str) -> Option<AgentIx> {
        // Asterisk reports the interface as the name of an unnamed member: nothing to learn.
        if name == interface || name.is_empty() {
            return None;
        }
        // Once a name is known, `lookup` never creates a provisional agent for it, and the learn that recorded
        // it merged any earlier one: only a newly learned pair can have a provisional agent to merge.
        if self.names.learn(name, interface)
            && let Some(p) = self.agents.of(name)
            && self.agent(p).is_some_and(|a| a.provisional)
        {
            self.merge_provisional(p, name, interface);
        }
        let a = self.agents.of(interface)?;
        self.set_name(a, name);
        Some(a)
    }

    fn set_name(&mut self, a: AgentIx, name: &str) {
        let Some(agent) = self.agent_mut(a) else { return };
        if agent.name.as_deref() == Some(name) {
            return;
        }
        let old = agent.name.replace(name.to_owned());
        if !agent.provisional {
            if let Some(old) = old {
                self.names.unindex(a, &old);
            }
            self.names.index(a, name);
        }
        self.agent_changed(a);
    }

    /// Moves everything the provisional agent `p` (id `name`) holds into the agent `interface`.
    fn merge_provisional(&mut self, p: AgentIx, name: &str, interface: &str) {
        let Some(provisional) = self.agents.take(p, name) else { return };
        let real = match self.agents.of(interface) {
            Some(real) => real,
            None => {
                let real = self.agents.add(Agent::new(interface, Some(name), false, self.turn.cause));
                self.names.index(real, name);
                real
            }
        };
        for membership in &provisional.queues {
            let queue = &mut self.queues[membership.queue as usize];
            queue.remove_member(p);
            queue.add_member(real);
            if let Some(counted) = membership.counted {
                queue.counts.adjust(counted, -1);
            }
            self.turn.out.push(Change::Queue(queue.name.clone()));
        }
        if let Some(agent) = self.agent_mut(real) {
            merge_into(agent, provisional);
        }
        self.repoint_calls(p, real);
        self.timers.move_wrapups(p, real);
        self.turn.touched.retain(|a| *a != p);
        self.turn.out.push(Change::AgentRemoved(name.to_owned()));
        self.agent_changed(real);
        self.touch(real);
    }

    /// Calls that credit or ring the provisional agent now refer to the real one.
    fn repoint_calls(&mut self, from: AgentIx, to: AgentIx) {
        let swap = |a: &mut AgentIx| {
            if *a == from {
                *a = to;
            }
        };
        for visit in self.calls.iter_mut().flat_map(|call| &mut call.visits) {
            visit.agent.as_mut().map(swap);
            visit.contributed.agent.as_mut().map(swap);
            visit.ringing.iter_mut().for_each(|(a, _)| swap(a));
            visit.misses.iter_mut().for_each(|(a, _, _)| swap(a));
            visit.contributed.misses.iter_mut().for_each(|(a, _)| swap(a));
        }
    }
}

fn merge_into(real: &mut Agent, provisional: Agent) {
    for mut theirs in provisional.queues {
        theirs.counted = None;
        match real.membership_mut(theirs.queue) {
            // The name-keyed facts are newer than the interface-keyed ADDMEMBER when they carry a later pause.
            Some(ours) if theirs.paused_at >= ours.paused_at => {
                ours.paused = theirs.paused;
                ours.pause_reason = theirs.pause_reason;
                ours.paused_at = theirs.paused_at;
            }
            Some(_) => {}
            None => {
                real.add_membership(theirs);
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
