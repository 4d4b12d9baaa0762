//! Records → DESIGN.md hash fields. Absent values are JSON null; times are ms since the epoch.

use super::Fields;
use super::state::{Agent, AgentIx, Call, Queue, ScreenPop, Visit, outcome};
use serde_json::{Value, json};

/// Agent-level pause, as the status table defines it: paused in *every* queue it is a member of (so
/// `paused` and `status == "paused"` never disagree). The reason is that of the most recent of those pauses
/// (ties: the alphabetically last reason, so the choice is deterministic); per-queue detail is in `queues`.
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

/// `queues`: all queues by number, for the display names of the agent's memberships.
pub fn agent(agent: &Agent, queues: &[Queue]) -> Fields {
    let (paused, pause_reason) = agent_pause(agent);
    let memberships: serde_json::Map<String, Value> = agent
        .queues
        .iter()
        .map(|m| {
            let detail = json!({"paused": m.paused, "pause_reason": m.pause_reason, "penalty": m.penalty});
            let name = queues.get(m.queue as usize).map(|q| q.name.clone()).unwrap_or_default();
            (name, detail)
        })
        .collect();
    let mut f = Fields::new();
    f.insert("id".into(), json!(agent.id));
    // Asterisk reports an unnamed member's interface as its name (MemberName, QueueStatus Name).
    f.insert("name".into(), json!(agent.name.as_deref().or_else(|| agent.interface())));
    f.insert("interface".into(), json!(agent.interface()));
    f.insert("status".into(), json!(agent.status.as_str()));
    f.insert("status_since".into(), json!(agent.status_since));
    f.insert("paused".into(), json!(paused));
    f.insert("pause_reason".into(), json!(pause_reason));
    f.insert("queues".into(), Value::Object(memberships));
    f.insert("calls_answered".into(), json!(agent.calls_answered));
    f.insert("calls_missed".into(), json!(agent.calls_missed));
    f.insert("talk_seconds".into(), json!(agent.talk_seconds));
    f.insert("call".into(), agent.screen.as_ref().map_or(Value::Null, |pop| screen_pop(pop, queues)));
    f
}

/// The agent's `call` field: `{uniqueid, queue, caller_id, since}`; null when none (the sink writes null as
/// an empty field).
fn screen_pop(pop: &ScreenPop, queues: &[Queue]) -> Value {
    let queue = queues.get(pop.queue as usize).map(|q| q.name.as_str());
    json!({"uniqueid": pop.uniqueid.as_str(), "queue": queue, "caller_id": pop.caller_id.as_deref(), "since": pop.since})
}

/// Mean in seconds with one decimal; null without samples.
fn mean(sum: u64, count: u64) -> Value {
    if count == 0 {
        return Value::Null;
    }
    json!(((sum as f64 / count as f64) * 10.0).round() / 10.0)
}

/// `agents_paused` counts members paused in this queue whatever they are doing; the other `agents_*`
/// partition members by their status *in this queue* (the status rule with this queue's pause only), so
/// an agent paused only in sales is counted available in support.
pub fn queue(queue: &Queue) -> Fields {
    let c = &queue.counters;
    let n = &queue.counts;
    let longest = queue.waiting.iter().map(|(_, w)| w.joined_at).min();
    // Share (percent, one decimal) of answered calls answered within the service level; the threshold is
    // applied when a call is counted (`calls::contribution`).
    let service_level = if c.hold_count == 0 {
        Value::Null
    } else {
        json!(((c.sl_within as f64 * 1000.0) / c.hold_count as f64).round() / 10.0)
    };
    let mut f = Fields::new();
    f.insert("name".into(), json!(queue.name));
    f.insert("agents_logged_in".into(), json!(n.logged_in));
    f.insert("agents_available".into(), json!(n.available));
    f.insert("agents_paused".into(), json!(n.paused));
    f.insert("agents_talking".into(), json!(n.talking));
    f.insert("agents_ringing".into(), json!(n.ringing));
    f.insert("agents_unavailable".into(), json!(n.unavailable));
    f.insert("calls_waiting".into(), json!(queue.waiting.len()));
    f.insert("longest_wait_since".into(), json!(longest));
    f.insert("answered".into(), json!(c.answered));
    f.insert("abandoned".into(), json!(c.abandoned));
    f.insert("timed_out".into(), json!(c.timed_out));
    f.insert("transferred".into(), json!(c.transferred));
    f.insert("avg_hold_seconds".into(), mean(c.hold_sum_s, c.hold_count));
    f.insert("max_hold_seconds".into(), if c.hold_count == 0 { Value::Null } else { json!(c.hold_max_s) });
    f.insert("avg_talk_seconds".into(), mean(c.talk_sum_s, c.talk_count));
    f.insert("service_level".into(), service_level);
    f
}

pub fn waiting(queue: &Queue) -> Vec<(String, Value)> {
    queue
        .waiting
        .iter()
        .map(|(uid, w)| {
            let (uid, caller_id) = (uid.as_str(), w.caller_id.as_deref());
            let entry =
                json!({"uniqueid": uid, "caller_id": caller_id, "position": w.position, "joined_at": w.joined_at});
            (uid.to_owned(), entry)
        })
        .collect()
}

/// `agent_id`: the id of an agent by number. The latest visit's fields at the top level, every visit in
/// `visits` (DESIGN.md `call:` hash).
pub fn call<'a>(call: &Call, queues: &[Queue], agent_id: impl Fn(AgentIx) -> Option<&'a str>) -> Fields {
    let mut f = Fields::new();
    f.insert("caller_id".into(), json!(call.caller_id.as_deref()));
    f.insert("linkedid".into(), json!(call.linkedid.as_deref()));
    let visits: Vec<Fields> = call.visits.iter().map(|v| visit(v, queues, &agent_id)).collect();
    if let Some(latest) = visits.last() {
        f.extend(latest.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let visits: Vec<Value> = visits.into_iter().map(Value::Object).collect();
    f.insert("visits".into(), Value::Array(visits));
    f
}

fn visit<'a>(visit: &Visit, queues: &[Queue], agent_id: &impl Fn(AgentIx) -> Option<&'a str>) -> Fields {
    let mut f = Fields::new();
    f.insert("queue".into(), json!(queues.get(visit.queue as usize).map(|q| q.name.as_str())));
    f.insert("joined_at".into(), json!(visit.joined_at));
    f.insert("agent".into(), json!(visit.agent.and_then(agent_id)));
    f.insert("connected_at".into(), json!(visit.connected_at));
    f.insert("ended_at".into(), json!(visit.ended_at));
    f.insert("hold_seconds".into(), json!(visit.hold_s));
    f.insert("talk_seconds".into(), json!(visit.talk_s));
    f.insert("outcome".into(), json!(outcome(visit)));
    f
}
