//! The JSON message published on the channels and appended to the stream (DESIGN.md "Redis layout"):
//! `{"type","seq","epoch","ts","pbx","id","data"}`.

use super::{Hash, Update};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::Write as _;

/// Stream entry field holding the message JSON. Named `payload` because that is the field Centrifugo's
/// `redis_stream` consumer publishes in publication-data mode, so the stream feeds Centrifugo as it is.
pub const STREAM_PAYLOAD_FIELD: &str = "payload";
/// Stream entry field with the comma-separated channels of the message (Centrifugo's default
/// `channels_value`); same names as the Redis pub/sub channels.
pub const STREAM_CHANNELS_FIELD: &str = "centrifugo-channels";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    AgentUpdate,
    QueueUpdate,
    CallUpdate,
    AgentRemoved,
    /// A real login, logout, pause or unpause (DESIGN.md "Agent events").
    AgentEvent,
    /// The answer to a command from a panel (DESIGN.md "Commands from panels"); `id` is the command's id.
    CommandResult,
    /// The state was rebuilt or rewritten: re-read the snapshot.
    Resync,
}

/// One published message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    #[serde(rename = "type")]
    pub kind: MessageType,
    pub seq: u64,
    pub epoch: String,
    /// ms since the Unix epoch when the batch was written.
    pub ts: i64,
    pub pbx: String,
    /// Agent id, queue name or call uniqueid; empty for `resync`.
    pub id: String,
    /// Agent/queue: all hash fields including `seq`; queue also `waiting` (uniqueid → entry, the content of
    /// `queue:NAME:waiting`); call: the call hash; `agent_removed`: `{}`; `resync`: `{"reason": …}`.
    pub data: Map<String, Value>,
}

/// Why a `resync` was published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResyncReason {
    /// The sink started (new epoch).
    Startup,
    /// The engine rebuilt its state (start-up replay, AMI reconnect reconciliation).
    Rebuild,
    /// Redis was unreachable; everything was rewritten after reconnecting.
    Reconnect,
    /// `queuecast replay --redis`.
    Replay,
}

impl ResyncReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ResyncReason::Startup => "startup",
            ResyncReason::Rebuild => "rebuild",
            ResyncReason::Reconnect => "reconnect",
            ResyncReason::Replay => "replay",
        }
    }
}

/// Fields shared by every message of one batch.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    pub epoch: &'a str,
    pub ts: i64,
    pub pbx: &'a str,
}

impl Message {
    /// The message announcing `update` as message number `seq`.
    pub fn for_update(env: Envelope<'_>, seq: u64, update: &Update) -> Self {
        let (kind, id, data) = match update {
            Update::Agent { id, fields } => {
                let mut data = fields.to_fields();
                data.insert("seq".into(), seq.into());
                (MessageType::AgentUpdate, id, data)
            }
            Update::AgentRemoved { id } => (MessageType::AgentRemoved, id, Map::new()),
            Update::AgentEvent { id, data } => (MessageType::AgentEvent, id, data.clone()),
            Update::CommandResult { id, data, .. } => (MessageType::CommandResult, id, data.clone()),
            Update::Queue { name, fields, waiting } => {
                let mut data = fields.to_fields();
                data.insert("seq".into(), seq.into());
                let waiting: Map<String, Value> = waiting.iter().cloned().collect();
                data.insert("waiting".into(), Value::Object(waiting));
                (MessageType::QueueUpdate, name, data)
            }
            Update::Call { uniqueid, fields } => (MessageType::CallUpdate, uniqueid, fields.to_fields()),
        };
        Self::new(env, kind, seq, id.clone(), data)
    }

    pub fn resync(env: Envelope<'_>, seq: u64, reason: ResyncReason) -> Self {
        let mut data = Map::new();
        data.insert("reason".into(), reason.as_str().into());
        Self::new(env, MessageType::Resync, seq, String::new(), data)
    }

    fn new(env: Envelope<'_>, kind: MessageType, seq: u64, id: String, data: Map<String, Value>) -> Self {
        Self { kind, seq, epoch: env.epoch.to_owned(), ts: env.ts, pbx: env.pbx.to_owned(), id, data }
    }

    pub fn to_json(&self) -> String {
        // Serializing a struct of strings, integers and JSON values cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Appends to `out` the JSON of the message announcing `update` as number `seq`: the same bytes as
/// `Message::for_update(env, seq, update).to_json()`, written straight from the update. This runs once per
/// change on the hot path, where copying the fields into a `Message` first was a large share of the cost.
pub fn write_update_json(out: &mut Vec<u8>, env: Envelope<'_>, seq: u64, update: &Update) {
    let (kind, id) = match update {
        Update::Agent { id, .. } => (MessageType::AgentUpdate, id),
        Update::AgentRemoved { id } => (MessageType::AgentRemoved, id),
        Update::Queue { name, .. } => (MessageType::QueueUpdate, name),
        Update::Call { uniqueid, .. } => (MessageType::CallUpdate, uniqueid),
        Update::AgentEvent { id, .. } => (MessageType::AgentEvent, id),
        Update::CommandResult { id, .. } => (MessageType::CommandResult, id),
    };
    // Writing strings, integers and JSON values into a Vec cannot fail.
    out.extend_from_slice(b"{\"type\":");
    let _ = serde_json::to_writer(&mut *out, &kind);
    let _ = write!(out, ",\"seq\":{seq},\"epoch\":");
    let _ = serde_json::to_writer(&mut *out, env.epoch);
    let _ = write!(out, ",\"ts\":{},\"pbx\":", env.ts);
    let _ = serde_json::to_writer(&mut *out, env.pbx);
    out.extend_from_slice(b",\"id\":");
    let _ = serde_json::to_writer(&mut *out, id.as_str());
    out.extend_from_slice(b",\"data\":");
    match update {
        Update::Agent { fields, .. } => write_data(out, fields, Some(seq), None),
        Update::Queue { fields, waiting, .. } => write_data(out, fields, Some(seq), Some(waiting)),
        Update::Call { fields, .. } => write_data(out, fields, None, None),
        Update::AgentRemoved { .. } => out.extend_from_slice(b"{}"),
        Update::AgentEvent { data, .. } | Update::CommandResult { data, .. } => {
            let _ = serde_json::to_writer(&mut *out, data);
        }
    }
    out.push(b'}');
}

/// `data` of an agent, queue or call message: the hash fields plus `seq` (agents, queues) and `waiting`
/// (queues), in the key order of the equivalent JSON object. `waiting` is uniqueid → entry; a repeated
/// uniqueid keeps its last entry, as collecting into a map does.
fn write_data(out: &mut Vec<u8>, fields: &Hash, seq: Option<u64>, waiting: Option<&[(String, Value)]>) {
    let replaced = |key: &str| (key == "seq" && seq.is_some()) || (key == "waiting" && waiting.is_some());
    let mut extras = [("seq", seq.is_some()), ("waiting", waiting.is_some())]
        .into_iter()
        .filter_map(|(key, present)| present.then_some(key))
        .peekable();
    let mut first = true;
    let mut key = |out: &mut Vec<u8>, key: &str| {
        out.push(if first { b'{' } else { b',' });
        first = false;
        let _ = serde_json::to_writer(&mut *out, key);
        out.push(b':');
    };
    let extra = |out: &mut Vec<u8>, name: &str, key: &mut dyn FnMut(&mut Vec<u8>, &str)| {
        key(out, name);
        if name == "seq" {
            let _ = write!(out, "{}", seq.unwrap_or_default());
        } else {
            let sorted: BTreeMap<&str, &Value> =
                waiting.unwrap_or_default().iter().map(|(k, v)| (k.as_str(), v)).collect();
            let _ = serde_json::to_writer(&mut *out, &sorted);
        }
    };
    for (name, value) in fields.iter() {
        if replaced(name) {
            continue;
        }
        while let Some(extra_name) = extras.next_if(|k| *k < name) {
            extra(out, extra_name, &mut key);
        }
        key(out, name);
        value.write_json(out);
    }
    for extra_name in extras {
        extra(out, extra_name, &mut key);
    }
    if first {
        out.push(b'{');
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn agent_message_shape() {
        let env = Envelope { epoch: "e1", ts: 1_732_300_000_123, pbx: "pbx1" };
        let mut fields = Hash::new();
        fields.insert("status".into(), json!("available"));
        let msg = Message::for_update(env, 7, &Update::Agent { id: "PJSIP/1001".into(), fields });
        let v: Value = serde_json::from_str(&msg.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type":"agent_update","seq":7,"epoch":"e1","ts":1_732_300_000_123_i64,"pbx":"pbx1",
                   "id":"PJSIP/1001","data":{"status":"available","seq":7}})
        );
        let back: Message = serde_json::from_value(v).unwrap();
        assert_eq!(back, msg);
    }

    /// The hot-path serializer and the `Message` model must agree byte for byte, for every kind and for
    /// fields that collide with the keys the message adds.
    #[test]
    fn borrowed_serializer_matches_message_model() {
        let env = Envelope { epoch: "e1", ts: 5, pbx: "p" };
        let data =
            json!({"a": 1, "seq": 99, "status": "x", "waiting": "old", "zz": null, "q": {"s": {"p": true}}})
                .as_object()
                .cloned()
                .unwrap();
        let fields = Hash::from(data.clone());
        let waiting = vec![
            ("2.2".to_owned(), json!({"uniqueid": "2.2", "position": 2})),
            ("1.1".to_owned(), json!({"uniqueid": "1.1", "position": 1})),
            ("2.2".to_owned(), json!({"uniqueid": "2.2", "position": 3})),
        ];
        let updates = [
            Update::Agent { id: "PJSIP/1".into(), fields: fields.clone() },
            Update::AgentRemoved { id: "PJSIP/1".into() },
            Update::Queue { name: "sales".into(), fields: fields.clone(), waiting },
            Update::Queue { name: "empty".into(), fields: Hash::new(), waiting: Vec::new() },
            Update::Call { uniqueid: "1.0".into(), fields: Hash::new() },
            Update::Call { uniqueid: "1.1".into(), fields: fields.clone() },
            Update::CommandResult { id: "c1".into(), agent: Some("PJSIP/1".into()), data: data.clone() },
            Update::AgentEvent { id: "PJSIP/1".into(), data },
        ];
        for update in &updates {
            let mut out = Vec::new();
            write_update_json(&mut out, env, 42, update);
            assert_eq!(String::from_utf8(out).unwrap(), Message::for_update(env, 42, update).to_json());
        }
    }
}
