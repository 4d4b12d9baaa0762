//! Redis hash strings → JSON values, so a snapshot carries the same value types as the messages that follow
//! it (`"paused": false`, not `"false"`). The hash spelling (DESIGN.md: numbers and booleans in JSON
//! spelling, null as the empty string, objects as JSON text) is ambiguous only for text that looks like a
//! number (a caller id `5551234`, an agent named `1001`), so the fields that are text by the contract are
//! never parsed.

use crate::sink::reader::{Hash, StateView};
use serde_json::{Map, Value, json};

/// Fields whose value is text in every entity (agent, queue, call, waiting entry).
const TEXT_FIELDS: &[&str] = &[
    "id",
    "name",
    "interface",
    "status",
    "pause_reason",
    "queue",
    "caller_id",
    "agent",
    "outcome",
    "uniqueid",
];

/// One hash field as the JSON value the messages carry.
pub fn field_value(name: &str, text: &str) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    if TEXT_FIELDS.contains(&name) {
        return Value::String(text.to_owned());
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

pub fn hash_to_json(hash: &Hash) -> Map<String, Value> {
    hash.iter().map(|(k, v)| (k.clone(), field_value(k, v))).collect()
}

/// A queue's fields plus `waiting` (uniqueid → entry), as in `queue_update`.
pub fn queue_json(fields: &Hash, waiting: Option<&Hash>) -> Map<String, Value> {
    let mut out = hash_to_json(fields);
    let entries: Map<String, Value> = waiting
        .into_iter()
        .flatten()
        .map(|(uid, entry)| (uid.clone(), serde_json::from_str(entry).unwrap_or(Value::Null)))
        .collect();
    out.insert("waiting".into(), Value::Object(entries));
    out
}

/// The agent's queue memberships (keys of its `queues` field).
pub fn agent_queues(fields: &Map<String, Value>) -> impl Iterator<Item = &str> {
    fields.get("queues").and_then(Value::as_object).into_iter().flat_map(|q| q.keys().map(String::as_str))
}

/// `{pbx, seq, epoch, ts, agents, queues}` of a snapshot, entities already converted and filtered.
pub fn state_json(
    view: &StateView,
    pbx: &str,
    ts: i64,
    agents: Map<String, Value>,
    queues: Map<String, Value>,
) -> Value {
    json!({"pbx": pbx, "seq": view.seq, "epoch": view.epoch, "ts": ts, "agents": agents, "queues": queues})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_values_become_message_values() {
        assert_eq!(field_value("paused", "false"), json!(false));
        assert_eq!(field_value("service_level", "75.5"), json!(75.5));
        assert_eq!(field_value("pause_reason", ""), Value::Null);
        assert_eq!(field_value("caller_id", "5551234"), json!("5551234"));
        assert_eq!(field_value("name", "1001"), json!("1001"));
        assert_eq!(field_value("queues", r#"{"sales":{"penalty":0}}"#), json!({"sales":{"penalty":0}}));
        assert_eq!(field_value("call", r#"{"uniqueid":"1.2"}"#), json!({"uniqueid":"1.2"}));
        assert_eq!(field_value("status", "talking"), json!("talking"));
    }
}
