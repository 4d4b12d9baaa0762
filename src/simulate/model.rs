//! The simulated call center: a deterministic state machine (seeded RNG, time passed in) that produces
//! [`Fact`]s. It knows nothing about file formats or sockets; `queue_log.rs` and `ami.rs` render the facts.
//!
//! Time is real time (the writers stamp current timestamps); `speed` shortens every random duration
//! (talk, wrap-up, pauses, gaps between calls) so a demo shows a busy hour in minutes.

use super::fact::{CallInfo, DEVICE_INUSE, DEVICE_NOT_INUSE, DEVICE_RINGING, Fact, MemberInfo, QueueInfo};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

mod actions;

/// `until` of a pause that only a member action ends.
const UNTIL_UNPAUSED: u64 = u64::MAX;
/// `login_at` of a logged-out agent that only a member action logs in again.
const UNTIL_LOGGED_IN: u64 = u64::MAX;
/// `shift_ends_at` while no simulated shift is running: before an agent's first login (which sets it), and
/// for an agent a panel logged in, which stays until a panel logs it out.
const NO_SHIFT_END: u64 = u64::MAX;

/// Pause reasons seen in real call centers, with how long (seconds, before `speed`) each typically lasts.
const PAUSE_REASONS: &[(&str, u64, u64)] = &[
    ("Lunch", 900, 1800),
    ("Break", 180, 600),
    ("Training", 600, 1200),
    ("Admin", 60, 300),
    ("Coaching", 300, 900),
];
/// Seconds an agent's phone rings before Asterisk gives up on it (queues.conf `timeout`).
const RING_TIMEOUT_S: u64 = 15;
/// Seconds a caller waits before Asterisk sends them on (queue `timeout` in Queue()).
const QUEUE_TIMEOUT_S: u64 = 180;
/// Share of rings the agent answers; the rest become RINGNOANSWER.
const ANSWER_PROBABILITY: f64 = 0.88;
/// Mean seconds between an idle agent's pauses (before `speed`).
const MEAN_S_BETWEEN_PAUSES: f64 = 1200.0;
/// queues.conf `wrapuptime` of the simulated queues.
const WRAPUP_S: u64 = 5;
/// Seconds over which the initial logins are spread.
const LOGIN_SPREAD_S: u64 = 8;
/// Seconds (before `speed`) an agent works before logging off at the next idle moment: short "shifts" so a
/// demo also shows members leaving (REMOVEMEMBER / QueueMemberRemoved) and coming back.
const SHIFT_S: (u64, u64) = (1800, 5400);
/// Seconds (before `speed`) a logged-off agent stays away.
const OFF_S: (u64, u64) = (120, 600);

const FIRST_NAMES: &[&str] =
    &["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Niaj"];
const LAST_NAMES: &[&str] = &["Smith", "Jones", "White", "Brown", "Miller", "Davis", "Garcia", "Wilson"];

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub queues: Vec<String>,
    pub agents: usize,
    pub calls_per_minute: f64,
    pub speed: f64,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq)]
enum AgentState {
    LoggedOut {
        login_at: u64,
    },
    Idle {
        since: u64,
        pause_at: u64,
    },
    /// Between calls, with the shift over: logs off at `at`.
    ShiftOver {
        at: u64,
    },
    Paused {
        reason: &'static str,
        until: u64,
    },
    Ringing {
        call: String,
        since: u64,
        until: u64,
        answers: bool,
    },
    Talking {
        call: Box<CallInfo>,
        hold_s: u64,
        since: u64,
        until: u64,
    },
    Wrapup {
        until: u64,
    },
}

#[derive(Debug, Clone)]
struct Agent {
    /// `member.queues` are the queues it is in now.
    member: MemberInfo,
    /// The queues each of its logins (not a member action's) joins.
    home_queues: Vec<String>,
    state: AgentState,
    /// Epoch ms after which the agent logs off when next idle.
    shift_ends_at: u64,
}

#[derive(Debug, Clone)]
struct Call {
    info: CallInfo,
    gives_up_at: u64,
    ringing: Option<usize>,
}

pub struct Model {
    scenario: Scenario,
    rng: StdRng,
    agents: Vec<Agent>,
    /// Waiting callers per queue, in queue order.
    waiting: BTreeMap<String, Vec<Call>>,
    next_arrival: u64,
    next_uid: u64,
    stats: BTreeMap<String, QueueInfo>,
    /// Facts of member actions, handed out by the next `advance`.
    pending: Vec<Fact>,
}

impl Model {
    pub fn new(scenario: Scenario, now_ms: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(scenario.seed);
        let agents = (0..scenario.agents).map(|i| new_agent(i, &scenario, &mut rng, now_ms)).collect();
        let waiting = scenario.queues.iter().map(|q| (q.clone(), Vec::new())).collect();
        let stats = scenario.queues.iter().map(|q| (q.clone(), QueueInfo::new(q))).collect();
        let mut model = Model {
            scenario,
            rng,
            agents,
            waiting,
            next_arrival: now_ms,
            next_uid: 0,
            stats,
            pending: Vec::new(),
        };
        model.next_arrival = now_ms + model.scaled_ms(LOGIN_SPREAD_S as f64 * 1000.0);
        model
    }

    /// Everything that happens up to `now_ms`, in order.
    pub fn advance(&mut self, now_ms: u64) -> Vec<Fact> {
        let mut facts = std::mem::take(&mut self.pending);
        while self.next_arrival <= now_ms {
            let at = self.next_arrival;
            self.arrive(at, &mut facts);
            let mean_gap_ms = 60_000.0 / self.scenario.calls_per_minute.max(0.01);
            let gap = -mean_gap_ms * (1.0 - self.rng.random::<f64>()).ln();
            self.next_arrival = at + self.scaled_ms(gap).max(1);
        }
        for i in 0..self.agents.len() {
            self.step_agent(i, now_ms, &mut facts);
        }
        self.step_callers(now_ms, &mut facts);
        self.offer_calls(now_ms, &mut facts);
        facts
    }

    /// The current truth, as QueueStatus reports it.
    pub fn queues(&self) -> Vec<(QueueInfo, Vec<MemberInfo>, Vec<CallInfo>)> {
        self.scenario
            .queues
            .iter()
            .map(|q| {
                let members = self
                    .agents
                    .iter()
                    .filter(|a| {
                        a.member.queues.contains(q) && !matches!(a.state, AgentState::LoggedOut { .. })
                    })
                    .map(|a| a.member.clone())
                    .collect();
                let waiting: Vec<CallInfo> = self
                    .waiting
                    .get(q)
                    .map(|calls| calls.iter().map(|c| c.info.clone()).collect())
                    .unwrap_or_default();
                let mut info = self.stats.get(q).cloned().unwrap_or_else(|| QueueInfo::new(q));
                info.calls = waiting.len();
                (info, members, waiting)
            })
            .collect()
    }

    fn scaled_ms(&self, ms: f64) -> u64 {
        (ms / self.scenario.speed.max(0.001)) as u64
    }

    fn random_s(&mut self, low: u64, high: u64) -> u64 {
        let s = self.rng.random_range(low..=high.max(low));
        self.scaled_ms(s as f64 * 1000.0)
    }

    fn arrive(&mut self, at: u64, facts: &mut Vec<Fact>) {
        let q = self.rng.random_range(0..self.scenario.queues.len().max(1));
        let Some(queue) = self.scenario.queues.get(q).cloned() else { return };
        self.next_uid += 1;
        let uniqueid = format!("{}.{}", at / 1000, self.next_uid * 2);
        let caller_id = format!("555{:04}", self.rng.random_range(0..10_000));
        // Patience: most callers wait a minute or two; some hang up quickly.
        let patience = self.random_s(10, 240);
        let calls = self.waiting.entry(queue.clone()).or_default();
        let position = calls.len() + 1;
        let info = CallInfo {
            uniqueid,
            seq: self.next_uid,
            caller_id,
            queue,
            joined_at: at,
            position,
            original_position: position,
        };
        calls.push(Call { info: info.clone(), gives_up_at: at + patience, ringing: None });
        facts.push(Fact::CallerJoin { at, call: info, count: position });
    }

    fn step_agent(&mut self, i: usize, now: u64, facts: &mut Vec<Fact>) {
        let Some(agent) = self.agents.get(i) else { return };
        match agent.state.clone() {
            AgentState::LoggedOut { login_at } if login_at <= now => self.login(i, login_at, facts),
            AgentState::ShiftOver { at } => self.logoff(i, at, facts),
            AgentState::Idle { pause_at, .. } if pause_at <= now => self.pause(i, pause_at, facts),
            AgentState::Paused { until, .. } if until <= now => self.unpause(i, until, facts),
            AgentState::Wrapup { until } if until <= now => self.set_idle(i, until),
            AgentState::Ringing { call, since, until, answers } if until <= now => {
                if answers {
                    self.connect(i, &call, (since, until), facts)
                } else {
                    self.ring_no_answer(i, &call, (since, until), facts)
                }
            }
            AgentState::Talking { call, hold_s, since, until } if until <= now => {
                self.complete(i, *call, (hold_s, since, until), facts)
            }
            _ => {}
        }
    }

    fn set_idle(&mut self, i: usize, at: u64) {
        let gap = -MEAN_S_BETWEEN_PAUSES * 1000.0 * (1.0 - self.rng.random::<f64>()).ln();
        let pause_at = at + self.scaled_ms(gap).max(1);
        if let Some(agent) = self.agents.get_mut(i) {
            agent.state = if agent.member.queues.is_empty() {
                // Logged out of its last queue by a member action: stays out until one logs it in.
                let info = &agent.member;
                agent.member = MemberInfo::new(info.name.clone(), info.interface.clone(), Vec::new());
                AgentState::LoggedOut { login_at: UNTIL_LOGGED_IN }
            } else if agent.member.paused {
                // Paused by a member action while busy: stays paused once the call is over.
                AgentState::Paused { reason: "", until: UNTIL_UNPAUSED }
            } else if agent.shift_ends_at <= at {
                AgentState::ShiftOver { at }
            } else {
                AgentState::Idle { since: at, pause_at }
            };
            agent.member.status = DEVICE_NOT_INUSE;
            agent.member.in_call = false;
        }
    }

    fn login(&mut self, i: usize, at: u64, facts: &mut Vec<Fact>) {
        let shift = self.random_s(SHIFT_S.0, SHIFT_S.1);
        if let Some(agent) = self.agents.get_mut(i) {
            agent.shift_ends_at = at + shift;
            agent.member.queues = agent.home_queues.clone();
        }
        self.set_idle(i, at);
        let Some(agent) = self.agents.get_mut(i) else { return };
        agent.member.login_time = at / 1000;
        for queue in agent.member.queues.clone() {
            facts.push(Fact::MemberAdded { at, queue, member: agent.member.clone() });
        }
    }

    /// Leaves every queue; Asterisk forgets the member, so its figures start again at the next login.
    fn logoff(&mut self, i: usize, at: u64, facts: &mut Vec<Fact>) {
        let login_at = at + self.random_s(OFF_S.0, OFF_S.1);
        let Some(agent) = self.agents.get_mut(i) else { return };
        for queue in agent.member.queues.clone() {
            facts.push(Fact::MemberRemoved { at, queue, member: agent.member.clone() });
        }
        let member = &mut agent.member;
        *member = MemberInfo::new(member.name.clone(), member.interface.clone(), member.queues.clone());
        agent.state = AgentState::LoggedOut { login_at };
    }

    fn pause(&mut self, i: usize, at: u64, facts: &mut Vec<Fact>) {
        let (reason, low, high) = PAUSE_REASONS[self.rng.random_range(0..PAUSE_REASONS.len())];
        let until = at + self.random_s(low, high);
        let Some(agent) = self.agents.get_mut(i) else { return };
        agent.state = AgentState::Paused { reason, until };
        agent.member.paused = true;
        agent.member.paused_reason = reason.to_owned();
        agent.member.last_pause = at / 1000;
        facts.push(Fact::Pause { at, member: agent.member.clone(), queue: None });
    }

    fn unpause(&mut self, i: usize, at: u64, facts: &mut Vec<Fact>) {
        if let Some(agent) = self.agents.get_mut(i) {
            agent.member.paused = false;
            agent.member.paused_reason.clear();
        }
        self.set_idle(i, at);
        let Some(agent) = self.agents.get(i) else { return };
        facts.push(Fact::Pause { at, member: agent.member.clone(), queue: None });
    }

    /// Rings the longest-idle available member of the queue for each waiting caller not yet ringing.
    fn offer_calls(&mut self, now: u64, facts: &mut Vec<Fact>) {
        for queue in self.scenario.queues.clone() {
            let pending: Vec<usize> = match self.waiting.get(&queue) {
                Some(calls) => {
                    calls.iter().enumerate().filter(|(_, c)| c.ringing.is_none()).map(|(n, _)| n).collect()
                }
                None => continue,
            };
            for c in pending {
                let Some(agent) = self.longest_idle(&queue) else { break };
                let answers = self.rng.random_bool(ANSWER_PROBABILITY);
                let until = now
                    + if answers {
                        self.random_s(2, 8)
                    } else {
                        self.random_s(RING_TIMEOUT_S, RING_TIMEOUT_S)
                    };
                let Some(call) = self.waiting.get_mut(&queue).and_then(|calls| calls.get_mut(c)) else {
                    break;
                };
                call.ringing = Some(agent);
                let info = call.info.clone();
                let Some(a) = self.agents.get_mut(agent) else { break };
                a.state = AgentState::Ringing { call: info.uniqueid.clone(), since: now, until, answers };
                a.member.status = DEVICE_RINGING;
                facts.push(Fact::AgentCalled { at: now, call: info, member: a.member.clone() });
            }
        }
    }

    fn longest_idle(&self, queue: &str) -> Option<usize> {
        self.agents
            .iter()
            .enumerate()
            .filter(|(_, a)| a.member.queues.iter().any(|q| q == queue))
            .filter_map(|(i, a)| match a.state {
                AgentState::Idle { since, .. } => Some((since, i)),
                _ => None,
            })
            .min()
            .map(|(_, i)| i)
    }

    /// Removes a caller from its queue, renumbering the ones behind it as Asterisk does.
    fn take_call(&mut self, uniqueid: &str) -> Option<(Call, usize)> {
        for calls in self.waiting.values_mut() {
            if let Some(index) = calls.iter().position(|c| c.info.uniqueid == uniqueid) {
                let call = calls.remove(index);
                for (n, later) in calls.iter_mut().enumerate() {
                    later.info.position = n + 1;
                }
                let remaining = calls.len();
                return Some((call, remaining));
            }
        }
        None
    }

    fn connect(&mut self, i: usize, uniqueid: &str, (rang_at, at): (u64, u64), facts: &mut Vec<Fact>) {
        let Some((call, count)) = self.take_call(uniqueid) else { return self.set_idle(i, at) };
        let talk = self.random_s(20, 400);
        let ring_s = at.saturating_sub(rang_at) / 1000;
        let hold_s = at.saturating_sub(call.info.joined_at) / 1000;
        let Some(agent) = self.agents.get_mut(i) else { return };
        agent.state =
            AgentState::Talking { call: Box::new(call.info.clone()), hold_s, since: at, until: at + talk };
        agent.member.status = DEVICE_INUSE;
        agent.member.in_call = true;
        if let Some(stats) = self.stats.get_mut(&call.info.queue) {
            stats.record_hold(hold_s);
        }
        facts.push(Fact::Connect {
            at,
            call: call.info,
            count,
            member: agent.member.clone(),
            hold_s,
            ring_s,
        });
    }

    fn ring_no_answer(&mut self, i: usize, uniqueid: &str, (rang_at, at): (u64, u64), facts: &mut Vec<Fact>) {
        let Some(call) = self.waiting.values_mut().flatten().find(|c| c.info.uniqueid == uniqueid) else {
            return self.set_idle(i, at);
        };
        call.ringing = None;
        let info = call.info.clone();
        self.set_idle(i, at);
        let Some(agent) = self.agents.get(i) else { return };
        facts.push(Fact::RingNoAnswer {
            at,
            call: info,
            member: agent.member.clone(),
            ring_ms: at.saturating_sub(rang_at),
        });
    }

    fn complete(
        &mut self,
        i: usize,
        call: CallInfo,
        (hold_s, since, at): (u64, u64, u64),
        facts: &mut Vec<Fact>,
    ) {
        let by_agent = self.rng.random_bool(0.5);
        let wrapup = self.random_s(WRAPUP_S, WRAPUP_S);
        let talk_s = at.saturating_sub(since) / 1000;
        if let Some(stats) = self.stats.get_mut(&call.queue) {
            stats.completed += 1;
            stats.talk_total_s += talk_s;
        }
        let Some(agent) = self.agents.get_mut(i) else { return };
        agent.state = AgentState::Wrapup { until: at + wrapup };
        agent.member.status = DEVICE_NOT_INUSE;
        agent.member.in_call = false;
        agent.member.calls_taken += 1;
        agent.member.last_call = at / 1000;
        facts.push(Fact::Complete { at, call, member: agent.member.clone(), hold_s, talk_s, by_agent });
    }

    /// Callers whose patience ran out hang up (ABANDON); those waiting past the queue timeout leave
    /// (EXITWITHTIMEOUT). A caller being rung stays until the ring ends.
    fn step_callers(&mut self, now: u64, facts: &mut Vec<Fact>) {
        let timeout_ms = self.scaled_ms(QUEUE_TIMEOUT_S as f64 * 1000.0);
        let leaving: Vec<(String, bool)> = self
            .waiting
            .values()
            .flatten()
            .filter(|c| c.ringing.is_none())
            .filter_map(|c| {
                if c.info.joined_at + timeout_ms <= now {
                    Some((c.info.uniqueid.clone(), false))
                } else {
                    (c.gives_up_at <= now).then(|| (c.info.uniqueid.clone(), true))
                }
            })
            .collect();
        for (uniqueid, abandoned) in leaving {
            let Some((call, count)) = self.take_call(&uniqueid) else { continue };
            let wait_s = now.saturating_sub(call.info.joined_at) / 1000;
            if let Some(stats) = self.stats.get_mut(&call.info.queue) {
                stats.abandoned += u64::from(abandoned);
            }
            facts.push(Fact::CallerLeft { at: now, call: call.info, count, wait_s, abandoned });
        }
    }
}

fn new_agent(i: usize, scenario: &Scenario, rng: &mut StdRng, now: u64) -> Agent {
    let first = FIRST_NAMES[i % FIRST_NAMES.len()];
    let last = LAST_NAMES[(i / FIRST_NAMES.len() + i) % LAST_NAMES.len()];
    let n = scenario.queues.len().max(1);
    // Everyone works their home queue; every third agent also backs up the next queue.
    let mut queues = vec![scenario.queues.get(i % n).cloned().unwrap_or_default()];
    if i % 3 == 0 && n > 1 {
        queues.push(scenario.queues.get((i + 1) % n).cloned().unwrap_or_default());
    }
    let spread_ms = (LOGIN_SPREAD_S as f64 * 1000.0 / scenario.speed.max(0.001)) as u64;
    let login_at = now + rng.random_range(0..=spread_ms);
    Agent {
        member: MemberInfo::new(format!("{first} {last}"), format!("PJSIP/{}", 1001 + i), queues.clone()),
        home_queues: queues,
        state: AgentState::LoggedOut { login_at },
        shift_ends_at: NO_SHIFT_END,
    }
}
