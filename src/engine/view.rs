//! What the engine tells the outside: which entity changed, and typed views of its current state.
//!
//! A view borrows from the engine and serializes to the entity's DESIGN.md hash content: one struct field
//! per hash field, declared in key order (the order `replay --json`, the Redis hashes and the messages have
//! always listed them in), absent values as `null`, times in ms since the epoch. The sink renders views
//! without knowing any field by name.

use super::state::{Agent, AgentIx, Call, Queue, ScreenPop, Visit, outcome};
use super::{AgentEvent, TsMs};
use serde::Serialize;
use serde::ser::Serializer;
use std::collections::BTreeMap;

/// An entity's state as JSON: what `replay --json` prints and what tests and tools compare. Not part of
/// the engine → sink contract (that is the views).
pub type Fields = serde_json::Map<String, serde_json::Value>;

/// One entity whose state changed. The publisher asks for the views of a batch's changes once, after the
/// batch, so a burst of changes to one entity collapses into one write.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Change {
    /// Agent id = member interface.
    Agent(String),
    AgentRemoved(String),
    /// Queue name as Asterisk spells it in queues.conf / QueueStatus. Includes its waiting list.
    Queue(String),
    /// Caller uniqueid.
    Call(String),
    /// A real login, logout, pause or unpause (DESIGN.md "Agent events"): a message, not a hash.
    AgentEvent(super::AgentEvent),
}

/// The current state of one changed entity ([`super::Engine::views`]).
#[derive(Debug, Clone, PartialEq)]
pub enum View<'a> {
    Agent(AgentView<'a>),
    /// The agent is gone: its id.
    AgentRemoved(&'a str),
    Queue(QueueView<'a>),
    Call(CallView<'a>),
    AgentEvent(&'a AgentEvent),
}

/// The `agent:ID` hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentView<'a> {
    /// The call it is on or being offered: a screen pop.
    pub call: Option<ScreenPopView<'a>>,
    pub calls_answered: u64,
    pub calls_missed: u64,
    pub id: &'a str,
    pub interface: Option<&'a str>,
    /// Asterisk reports an unnamed member's interface as its name (MemberName, QueueStatus Name).
    pub name: Option<&'a str>,
    pub pause_reason: Option<&'a str>,
    /// Paused in *every* queue it is a member of, so `paused` and `status == "paused"` never disagree.
    pub paused: bool,
    /// Display name → membership.
    pub queues: BTreeMap<&'a str, MembershipView<'a>>,
    pub status: &'static str,
    pub status_since: TsMs,
    pub talk_seconds: u64,
}

/// One entry of an agent's `queues`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MembershipView<'a> {
    pub pause_reason: Option<&'a str>,
    pub paused: bool,
    pub penalty: i64,
}

/// An agent's `call`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScreenPopView<'a> {
    pub caller_id: Option<&'a str>,
    pub queue: Option<&'a str>,
    pub since: TsMs,
    pub uniqueid: &'a str,
}

/// The `queue:NAME` hash; its waiting callers (`queue:NAME:waiting`) are in `waiting`, not in the hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueView<'a> {
    pub abandoned: u64,
    pub agents_available: u32,
    pub agents_logged_in: u32,
    /// Members paused in this queue whatever they are doing; the other `agents_*` partition members by their
    /// status *in this queue*, so an agent paused only in sales is counted available in support.
    pub agents_paused: u32,
    pub agents_ringing: u32,
    pub agents_talking: u32,
    pub agents_unavailable: u32,
    pub answered: u64,
    pub avg_hold_seconds: Option<f64>,
    pub avg_talk_seconds: Option<f64>,
    pub calls_waiting: usize,
    pub longest_wait_since: Option<TsMs>,
    pub max_hold_seconds: Option<u32>,
    pub name: &'a str,
    /// Share (percent, one decimal) of answered calls answered within the service level; the threshold is
    /// applied when a call is counted (`calls::contribution`).
    pub service_level: Option<f64>,
    pub timed_out: u64,
    pub transferred: u64,
    #[serde(skip)]
    pub waiting: Vec<WaitingView<'a>>,
}

/// One waiting caller: a field of `queue:NAME:waiting`, keyed by its uniqueid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitingView<'a> {
    pub caller_id: Option<&'a str>,
    pub joined_at: TsMs,
    pub position: Option<u32>,
    pub uniqueid: &'a str,
}

/// The `call:UNIQUEID` hash: the latest visit's fields at the top level, every visit in `visits`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallView<'a> {
    pub uniqueid: &'a str,
    pub caller_id: Option<&'a str>,
    pub linkedid: Option<&'a str>,
    pub visits: Vec<VisitView<'a>>,
}

/// One stay of a call in one queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VisitView<'a> {
    pub agent: Option<&'a str>,
    pub connected_at: Option<TsMs>,
    pub ended_at: Option<TsMs>,
    pub hold_seconds: Option<u32>,
    pub joined_at: Option<TsMs>,
    pub outcome: &'static str,
    pub queue: Option<&'a str>,
    pub talk_seconds: Option<u32>,
}

impl Serialize for CallView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let latest = self.visits.last();
        let of_latest = |field: fn(&VisitView<'_>) -> Option<TsMs>| latest.map(field);
        CallFields {
            agent: latest.map(|v| v.agent),
            caller_id: self.caller_id,
            connected_at: of_latest(|v| v.connected_at),
            ended_at: of_latest(|v| v.ended_at),
            hold_seconds: latest.map(|v| v.hold_seconds),
            joined_at: of_latest(|v| v.joined_at),
            linkedid: self.linkedid,
            outcome: latest.map(|v| v.outcome),
            queue: latest.map(|v| v.queue),
            talk_seconds: latest.map(|v| v.talk_seconds),
            visits: &self.visits,
        }
        .serialize(s)
    }
}

/// A call's hash: the keys of the call and of its latest visit interleaved in key order; a call without a
/// visit has only its own.
#[derive(Serialize)]
struct CallFields<'v, 'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<Option<&'a str>>,
    caller_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    connected_at: Option<Option<TsMs>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ended_at: Option<Option<TsMs>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hold_seconds: Option<Option<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    joined_at: Option<Option<TsMs>>,
    linkedid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    queue: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    talk_seconds: Option<Option<u32>>,
    visits: &'v [VisitView<'a>],
}

/// Agent-level pause, as the status table defines it. The reason is that of the most recent of those
/// pauses (ties: the alphabetically last reason, so the choice is deterministic); per-queue detail is in
/// `queues`.
fn agent_pause(agent: &Agent) -> (bool, Option<&str>) {
    let paused = !agent.queues.is_empty() && agent.queues.iter().all(|m| m.paused);
    if !paused {
        return (false, None);
    }
    let latest = agent.queues.iter().max_by(|a, b| {
        (a.paused_at, a.pause_reason.as_deref()).cmp(&(b.paused_at, b.pause_reason.as_deref()))
    });
    (true, latest.and_then(|m| m.pause_reason.as_deref()))
}

fn queue_name(queues: &[Queue], q: u32) -> Option<&str> {
    queues.get(q as usize).map(|q| q.name.as_str())
}

/// `queues`: all queues by number, for the display names of the agent's memberships.
pub(super) fn agent<'a>(agent: &'a Agent, queues: &'a [Queue]) -> AgentView<'a> {
    let (paused, pause_reason) = agent_pause(agent);
    let memberships = agent
        .queues
        .iter()
        .map(|m| {
            let detail = MembershipView {
                paused: m.paused,
                pause_reason: m.pause_reason.as_deref(),
                penalty: m.penalty,
            };
            (queue_name(queues, m.queue).unwrap_or_default(), detail)
        })
        .collect();
    AgentView {
        call: agent.screen.as_ref().map(|pop| screen_pop(pop, queues)),
        calls_answered: agent.calls_answered,
        calls_missed: agent.calls_missed,
        id: &agent.id,
        interface: agent.interface(),
        name: agent.name.as_deref().or_else(|| agent.interface()),
        pause_reason,
        paused,
        queues: memberships,
        status: agent.status.as_str(),
        status_since: agent.status_since,
        talk_seconds: agent.talk_seconds,
    }
}

fn screen_pop<'a>(pop: &'a ScreenPop, queues: &'a [Queue]) -> ScreenPopView<'a> {
    ScreenPopView {
        caller_id: pop.caller_id.as_deref(),
        queue: queue_name(queues, pop.queue),
        since: pop.since,
        uniqueid: &pop.uniqueid,
    }
}

/// Mean in seconds with one decimal; none without samples.
fn mean(sum: u64, count: u64) -> Option<f64> {
    (count != 0).then(|| ((sum as f64 / count as f64) * 10.0).round() / 10.0)
}

pub(super) fn queue(queue: &Queue) -> QueueView<'_> {
    let c = &queue.counters;
    let n = &queue.counts;
    let answered_in_time = ((c.sl_within as f64 * 1000.0) / c.hold_count as f64).round() / 10.0;
    QueueView {
        abandoned: c.abandoned,
        agents_available: n.available,
        agents_logged_in: n.logged_in,
        agents_paused: n.paused,
        agents_ringing: n.ringing,
        agents_talking: n.talking,
        agents_unavailable: n.unavailable,
        answered: c.answered,
        avg_hold_seconds: mean(c.hold_sum_s, c.hold_count),
        avg_talk_seconds: mean(c.talk_sum_s, c.talk_count),
        calls_waiting: queue.waiting.len(),
        longest_wait_since: queue.waiting.iter().map(|(_, w)| w.joined_at).min(),
        max_hold_seconds: (c.hold_count != 0).then_some(c.hold_max_s),
        name: &queue.name,
        service_level: (c.hold_count != 0).then_some(answered_in_time),
        timed_out: c.timed_out,
        transferred: c.transferred,
        waiting: queue
            .waiting
            .iter()
            .map(|(uid, w)| WaitingView {
                caller_id: w.caller_id.as_deref(),
                joined_at: w.joined_at,
                position: w.position,
                uniqueid: uid,
            })
            .collect(),
    }
}

/// `agent_id`: the id of an agent by number.
pub(super) fn call<'a>(
    call: &'a Call,
    queues: &'a [Queue],
    agent_id: impl Fn(AgentIx) -> Option<&'a str>,
) -> CallView<'a> {
    CallView {
        uniqueid: &call.uniqueid,
        caller_id: call.caller_id.as_deref(),
        linkedid: call.linkedid.as_deref(),
        visits: call.visits.iter().map(|v| visit(v, queues, &agent_id)).collect(),
    }
}

fn visit<'a>(
    visit: &Visit,
    queues: &'a [Queue],
    agent_id: &impl Fn(AgentIx) -> Option<&'a str>,
) -> VisitView<'a> {
    VisitView {
        agent: visit.agent.and_then(agent_id),
        connected_at: visit.connected_at,
        ended_at: visit.ended_at,
        hold_seconds: visit.hold_s,
        joined_at: visit.joined_at,
        outcome: outcome(visit),
        queue: queue_name(queues, visit.queue),
        talk_seconds: visit.talk_s,
    }
}

/// A view as JSON, for tests, tools and `replay --json`.
pub fn to_fields(view: &impl Serialize) -> Fields {
    match serde_json::to_value(view) {
        Ok(serde_json::Value::Object(fields)) => fields,
        _ => Fields::new(),
    }
}

/// Everything at once: what `replay --json` prints.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snapshot {
    pub agents: BTreeMap<String, Fields>,
    pub queues: BTreeMap<String, Fields>,
}
