//! Member actions from an AMI session (a panel's pause with a reason, a login, a logout, a penalty) on the
//! simulated call center. app_queue's answer and which members change come from
//! [`member_actions`](crate::simulate::member_actions), the rules the recordings of real Asterisk show, so the
//! demo answers as the test fake and Asterisk do; the change then reaches both feeds like any other fact.
//!
//! The simulated agents pause as a whole: a pause that names one queue is announced for that queue only, as
//! app_queue does, but keeps the agent from taking calls of its other queues too.

use super::{AgentState, Model, NO_SHIFT_END, UNTIL_LOGGED_IN, UNTIL_UNPAUSED};
use crate::simulate::fact::{Fact, MemberInfo};
use crate::simulate::member_actions::{Answer, Effect, Member, MemberBook};

impl Model {
    /// Applies member action `name` (headers through `get`) at `now_ms`: app_queue's answer, or None when
    /// `name` is no member action. Its facts come out of the next [`Model::advance`].
    pub fn member_action(
        &mut self,
        name: &str,
        get: impl Fn(&str) -> Option<String>,
        now_ms: u64,
    ) -> Option<Answer> {
        let named_queue = get("Queue").filter(|q| !q.is_empty());
        let (answer, effects) = self.member_book().apply(name, get, true)?;
        let mut paused_all = Vec::new();
        for effect in effects {
            match effect {
                // Without a queue app_queue pauses the member everywhere: one PAUSEALL, as the model
                // renders a pause of all its queues.
                Effect::Paused { member, .. } if named_queue.is_none() => {
                    if !paused_all.contains(&member.interface) {
                        paused_all.push(member.interface.clone());
                        self.pause_by_action(&member, None, now_ms);
                    }
                }
                Effect::Paused { queue, member } => self.pause_by_action(&member, Some(queue), now_ms),
                Effect::Added { queue, member } => self.add_by_action(queue, &member, now_ms),
                Effect::Removed { queue, member } => self.remove_by_action(&queue, &member, now_ms),
                Effect::Penalty { queue, member } => self.penalty_by_action(queue, &member, now_ms),
            }
        }
        Some(answer)
    }

    /// The members app_queue has now: the logged-in agents, all added at runtime.
    fn member_book(&self) -> MemberBook {
        let mut book = MemberBook::default();
        for queue in &self.scenario.queues {
            book.add_queue(queue);
        }
        for agent in self.agents.iter().filter(|a| !matches!(a.state, AgentState::LoggedOut { .. })) {
            let m = &agent.member;
            for queue in &m.queues {
                book.add_member(
                    queue,
                    Member {
                        interface: m.interface.clone(),
                        name: m.name.clone(),
                        penalty: i64::from(m.penalty),
                        paused: m.paused,
                        reason: m.paused_reason.clone(),
                        dynamic: true,
                    },
                );
            }
        }
        book
    }

    fn agent_of(&self, interface: &str) -> Option<usize> {
        self.agents.iter().position(|a| a.member.interface == interface)
    }

    fn pause_by_action(&mut self, member: &Member, queue: Option<String>, at: u64) {
        let Some(i) = self.agent_of(&member.interface) else { return };
        let Some(agent) = self.agents.get_mut(i) else { return };
        agent.member.paused = member.paused;
        agent.member.paused_reason = member.reason.clone();
        // Ringing, talking or in wrap-up: a pause holds from the end of the call (`set_idle`).
        let between_calls = matches!(
            agent.state,
            AgentState::Idle { .. } | AgentState::ShiftOver { .. } | AgentState::Paused { .. }
        );
        if member.paused {
            agent.member.last_pause = at / 1000;
            if between_calls {
                agent.state = AgentState::Paused { reason: "", until: UNTIL_UNPAUSED };
            }
        } else if matches!(agent.state, AgentState::Paused { .. }) {
            // Back to work at once, as when a pause of its own runs out.
            self.set_idle(i, at);
        }
        if let Some(agent) = self.agents.get(i) {
            self.pending.push(Fact::Pause { at, member: agent.member.clone(), queue });
        }
    }

    /// A login through a panel: into one queue, even for a member the simulation never had (Asterisk takes
    /// any interface); it then takes calls like the others. Such a login has no simulated shift: the agent
    /// stays until a panel logs it out.
    fn add_by_action(&mut self, queue: String, member: &Member, at: u64) {
        let i = match self.agent_of(&member.interface) {
            Some(i) => i,
            None => {
                let info = MemberInfo::new(member.name.clone(), member.interface.clone(), Vec::new());
                self.agents.push(super::Agent {
                    member: info,
                    home_queues: vec![queue.clone()],
                    state: AgentState::LoggedOut { login_at: UNTIL_LOGGED_IN },
                    shift_ends_at: NO_SHIFT_END,
                });
                self.agents.len() - 1
            }
        };
        let Some(agent) = self.agents.get_mut(i) else { return };
        let logged_out = matches!(agent.state, AgentState::LoggedOut { .. });
        agent.shift_ends_at = NO_SHIFT_END;
        if logged_out {
            agent.member.queues.clear();
            agent.member.paused = member.paused;
            agent.member.paused_reason = member.reason.clone();
            agent.member.login_time = at / 1000;
        }
        agent.member.queues.push(queue.clone());
        agent.member.penalty = u32::try_from(member.penalty).unwrap_or(0);
        if logged_out {
            self.set_idle(i, at);
        }
        if let Some(agent) = self.agents.get(i) {
            self.pending.push(Fact::MemberAdded { at, queue, member: agent.member.clone() });
        }
    }

    /// A logout from one queue. Out of its last queue, the agent is logged out (after its call, if it is on
    /// one: `set_idle`) until a panel logs it in again.
    fn remove_by_action(&mut self, queue: &str, member: &Member, at: u64) {
        let Some(i) = self.agent_of(&member.interface) else { return };
        let Some(agent) = self.agents.get_mut(i) else { return };
        let removed = agent.member.clone();
        agent.member.queues.retain(|q| q != queue);
        let between_calls = matches!(
            agent.state,
            AgentState::Idle { .. } | AgentState::ShiftOver { .. } | AgentState::Paused { .. }
        );
        if agent.member.queues.is_empty() && between_calls {
            self.set_idle(i, at);
        }
        self.pending.push(Fact::MemberRemoved { at, queue: queue.to_owned(), member: removed });
    }

    fn penalty_by_action(&mut self, queue: String, member: &Member, at: u64) {
        let Some(agent) = self.agent_of(&member.interface).and_then(|i| self.agents.get_mut(i)) else {
            return;
        };
        agent.member.penalty = u32::try_from(member.penalty).unwrap_or(0);
        self.pending.push(Fact::Penalty { at, queue, member: agent.member.clone() });
    }
}
