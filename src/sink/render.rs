//! Engine state → [`Update`]s, and JSON field values → Redis strings. Runs in the engine task, so the sink
//! never needs the engine.

use super::Update;
use crate::engine::{AgentEvent, Change, Engine, Fields};
use serde_json::Value;

/// Renders the entities named by `changes` with their current fields. An entity the engine no longer knows
/// (e.g. a call already forgotten) is skipped: there is nothing to write.
pub fn render(engine: &Engine, changes: &[Change]) -> Vec<Update> {
    changes.iter().filter_map(|change| render_one(engine, change)).collect()
}

fn render_one(engine: &Engine, change: &Change) -> Option<Update> {
    match change {
        Change::Agent(id) => Some(Update::Agent { id: id.clone(), fields: engine.agent_fields(id)? }),
        Change::AgentRemoved(id) => Some(Update::AgentRemoved { id: id.clone() }),
        Change::Queue(name) => Some(Update::Queue {
            name: name.clone(),
            fields: engine.queue_fields(name)?,
            waiting: engine.queue_waiting(name),
        }),
        Change::Call(uniqueid) => {
            Some(Update::Call { uniqueid: uniqueid.clone(), fields: engine.call_fields(uniqueid)? })
        }
        Change::AgentEvent(event) => {
            Some(Update::AgentEvent { id: event.agent.clone(), data: agent_event(event) })
        }
    }
}

/// `data` of an `agent_event` message (DESIGN.md "Agent events").
pub fn agent_event(event: &AgentEvent) -> Fields {
    let mut data = Fields::new();
    data.insert("event".into(), event.event.as_str().into());
    data.insert("queue".into(), event.queue.clone().into());
    data.insert("reason".into(), event.reason.clone().map_or(Value::Null, Value::String));
    data.insert("source".into(), event.source.as_str().into());
    data.insert("at".into(), event.at.into());
    data
}

/// The whole state, for a resync or `replay --redis`: every agent, queue (with its waiting callers) and
/// call the engine knows.
pub fn render_all(engine: &Engine) -> Vec<Update> {
    let (agents, queues, calls) = engine.ids();
    let changes: Vec<Change> = agents
        .into_iter()
        .map(Change::Agent)
        .chain(queues.into_iter().map(Change::Queue))
        .chain(calls.into_iter().map(Change::Call))
        .collect();
    render(engine, &changes)
}

/// A field value as Redis stores it: strings as they are, numbers and booleans in their JSON spelling,
/// `null` as the empty string, objects and arrays as JSON text.
pub fn field_to_redis(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_values_map_to_strings() {
        assert_eq!(field_to_redis(&json!("PJSIP/1001")), "PJSIP/1001");
        assert_eq!(field_to_redis(&json!(12)), "12");
        assert_eq!(field_to_redis(&json!(0.5)), "0.5");
        assert_eq!(field_to_redis(&json!(true)), "true");
        assert_eq!(field_to_redis(&Value::Null), "");
        assert_eq!(field_to_redis(&json!({"sales": {"paused": false}})), r#"{"sales":{"paused":false}}"#);
    }
}
