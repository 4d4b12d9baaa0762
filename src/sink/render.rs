//! The engine's views → [`Update`]s, and JSON field values → Redis strings. Runs in the engine task, so the
//! sink never needs the engine.

use super::{Hash, Update};
use crate::engine::{AgentEvent, Fields, View};
use serde_json::Value;

/// Renders the views of one batch (`Engine::views`) or of the whole state (`Engine::all_views`).
pub fn render<'a>(views: impl IntoIterator<Item = View<'a>>) -> Vec<Update> {
    views.into_iter().map(render_one).collect()
}

fn render_one(view: View<'_>) -> Update {
    match view {
        View::Agent(agent) => Update::Agent { id: agent.id.to_owned(), fields: Hash::of(&agent) },
        View::AgentRemoved(id) => Update::AgentRemoved { id: id.to_owned() },
        View::Queue(queue) => Update::Queue {
            name: queue.name.to_owned(),
            fields: Hash::of(&queue),
            waiting: queue
                .waiting
                .iter()
                .map(|w| (w.uniqueid.to_owned(), serde_json::to_value(w).unwrap_or_default()))
                .collect(),
        },
        View::Call(call) => Update::Call { uniqueid: call.uniqueid.to_owned(), fields: Hash::of(&call) },
        View::AgentEvent(event) => Update::AgentEvent { id: event.agent.clone(), data: agent_event(event) },
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
