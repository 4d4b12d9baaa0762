//! The JSON message published on the channels and appended to the stream (DESIGN.md "Redis layout"):
//! `{"type","seq","epoch","ts","pbx","id","data"}`.

use super::Update;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
}
