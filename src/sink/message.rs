//! The JSON message published on the channels and appended to the stream (DESIGN.md "Redis layout"):
//! `{"type","seq","epoch","ts","pbx","id","data"}`.

use super::Update;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

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
                let mut data = fields.clone();
                data.insert("seq".into(), seq.into());
                (MessageType::AgentUpdate, id, data)
            }
            Update::AgentRemoved { id } => (MessageType::AgentRemoved, id, Map::new()),
            Update::AgentEvent { id, data } => (MessageType::AgentEvent, id, data.clone()),
            Update::CommandResult { id, data, .. } => (MessageType::CommandResult, id, data.clone()),
            Update::Queue { name, fields, waiting } => {
                let mut data = fields.clone();
                data.insert("seq".into(), seq.into());
                let waiting: Map<String, Value> = waiting.iter().cloned().collect();
                data.insert("waiting".into(), Value::Object(waiting));
                (MessageType::QueueUpdate, name, data)
            }
            Update::Call { uniqueid, fields } => (MessageType::CallUpdate, uniqueid, fields.clone()),
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

/// Appends to `out` the JSON of the message announcing `update` as number `seq`: the same object as
/// `Message::for_update(env, seq, update).to_json()`, serialized straight from the update. This runs once per
/// change on the hot path, where copying the field map into a `Message` first was a large share of the cost.
pub fn write_update_json(out: &mut Vec<u8>, env: Envelope<'_>, seq: u64, update: &Update) {
    let (kind, id, data) = match update {
        Update::Agent { id, fields } => {
            (MessageType::AgentUpdate, id, Data::Fields { fields, seq: Some(seq), waiting: None })
        }
        Update::AgentRemoved { id } => (MessageType::AgentRemoved, id, Data::Empty),
        Update::Queue { name, fields, waiting } => {
            (MessageType::QueueUpdate, name, Data::Fields { fields, seq: Some(seq), waiting: Some(waiting) })
        }
        Update::Call { uniqueid, fields } => {
            (MessageType::CallUpdate, uniqueid, Data::Fields { fields, seq: None, waiting: None })
        }
        Update::AgentEvent { id, data } => {
            (MessageType::AgentEvent, id, Data::Fields { fields: data, seq: None, waiting: None })
        }
        Update::CommandResult { id, data, .. } => {
            (MessageType::CommandResult, id, Data::Fields { fields: data, seq: None, waiting: None })
        }
    };
    let msg = MessageRef { kind, seq, epoch: env.epoch, ts: env.ts, pbx: env.pbx, id, data };
    // Writing strings, integers and JSON values into a Vec cannot fail.
    let _ = serde_json::to_writer(out, &msg);
}

/// [`Message`] with borrowed parts; same field names and order.
#[derive(Serialize)]
struct MessageRef<'a> {
    #[serde(rename = "type")]
    kind: MessageType,
    seq: u64,
    epoch: &'a str,
    ts: i64,
    pbx: &'a str,
    id: &'a str,
    data: Data<'a>,
}

/// `data` of an update message: the entity's fields plus `seq` (agents, queues) and `waiting` (queues),
/// emitted in the key order of the equivalent `serde_json::Map`, so both paths give identical bytes.
enum Data<'a> {
    Empty,
    Fields { fields: &'a Map<String, Value>, seq: Option<u64>, waiting: Option<&'a [(String, Value)]> },
}

/// A key the message adds to the entity's fields; it replaces a field of the same name.
enum Extra<'a> {
    Seq(u64),
    /// uniqueid → entry; a repeated uniqueid keeps its last entry, as collecting into a map does.
    Waiting(&'a [(String, Value)]),
}

impl Serialize for Extra<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Extra::Seq(seq) => s.serialize_u64(*seq),
            Extra::Waiting(entries) => {
                let sorted: BTreeMap<&str, &Value> = entries.iter().map(|(k, v)| (k.as_str(), v)).collect();
                s.collect_map(sorted)
            }
        }
    }
}

impl Serialize for Data<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Data::Fields { fields, seq, waiting } = self else {
            return s.serialize_map(Some(0))?.end();
        };
        // Both lists are sorted by key ("seq" < "waiting"); merge them.
        let extras = [("seq", seq.map(Extra::Seq)), ("waiting", waiting.map(Extra::Waiting))];
        let mut extras = extras.into_iter().filter_map(|(k, v)| Some((k, v?))).peekable();
        let replaced = |key: &str| (key == "seq" && seq.is_some()) || (key == "waiting" && waiting.is_some());
        let mut map = s.serialize_map(None)?;
        for (key, value) in fields.iter() {
            if replaced(key) {
                continue;
            }
            while let Some((extra_key, extra)) = extras.next_if(|(k, _)| *k < key.as_str()) {
                map.serialize_entry(extra_key, &extra)?;
            }
            map.serialize_entry(key, value)?;
        }
        for (extra_key, extra) in extras {
            map.serialize_entry(extra_key, &extra)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn agent_message_shape() {
        let env = Envelope { epoch: "e1", ts: 1_732_300_000_123, pbx: "pbx1" };
        let mut fields = Map::new();
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
        let fields =
            json!({"a": 1, "seq": 99, "status": "x", "waiting": "old", "zz": null, "q": {"s": {"p": true}}})
                .as_object()
                .cloned()
                .unwrap();
        let waiting = vec![
            ("2.2".to_owned(), json!({"uniqueid": "2.2", "position": 2})),
            ("1.1".to_owned(), json!({"uniqueid": "1.1", "position": 1})),
            ("2.2".to_owned(), json!({"uniqueid": "2.2", "position": 3})),
        ];
        let updates = [
            Update::Agent { id: "PJSIP/1".into(), fields: fields.clone() },
            Update::AgentRemoved { id: "PJSIP/1".into() },
            Update::Queue { name: "sales".into(), fields: fields.clone(), waiting },
            Update::Queue { name: "empty".into(), fields: Map::new(), waiting: Vec::new() },
            Update::Call { uniqueid: "1.1".into(), fields: fields.clone() },
            Update::CommandResult { id: "c1".into(), agent: Some("PJSIP/1".into()), data: fields },
        ];
        for update in &updates {
            let mut out = Vec::new();
            write_update_json(&mut out, env, 42, update);
            assert_eq!(String::from_utf8(out).unwrap(), Message::for_update(env, 42, update).to_json());
        }
    }
}
