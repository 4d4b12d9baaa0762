//! What a webhook sends for one stream message: pure functions (filter, event id, body, signature), no I/O.
//!
//! Signature (DESIGN.md "Webhooks"): `X-Queuecast-Signature: sha256=<hex>` where `<hex>` is the lowercase
//! hex HMAC-SHA256, keyed by the webhook's `secret`, of `<X-Queuecast-Timestamp>.<signed>`: the timestamp
//! header's value (Unix seconds), a `.`, then the exact request body (POST) or the exact query string after
//! `?` (GET, including any query the configured URL already had).

use crate::config::WebhookBody;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

/// `application/x-www-form-urlencoded` escapes everything but `*-._` and alphanumerics (WHATWG URL spec).
const FORM: &AsciiSet = &NON_ALPHANUMERIC.remove(b'*').remove(b'-').remove(b'.').remove(b'_');

/// Which messages a webhook wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookFilter {
    pub events: Vec<String>,
    pub agents: Option<Vec<String>>,
    pub queues: Option<Vec<String>>,
}

impl HookFilter {
    /// `message` is the stream payload. With `agents`, the message must be about one of them (an agent's own
    /// messages, a call or command naming it); with `queues`, about one of those (a queue's messages, an
    /// agent event in it, an agent update of a member, a call in it). `resync` has neither and passes both.
    pub fn wants(&self, message: &Map<String, Value>) -> bool {
        let kind = text(message, "type");
        if !self.events.iter().any(|e| e == kind) {
            return false;
        }
        if kind == "resync" {
            return true;
        }
        let id = text(message, "id");
        let data = message.get("data").and_then(Value::as_object);
        let field = |k: &str| data.map_or("", |d| text(d, k));
        let agent = match kind {
            "agent_update" | "agent_removed" | "agent_event" => id,
            _ => field("agent"),
        };
        let mut queues: Vec<&str> = match kind {
            "queue_update" => vec![id],
            _ => vec![field("queue")],
        };
        if let Some(Value::Object(member_of)) = data.and_then(|d| d.get("queues")) {
            queues.extend(member_of.keys().map(String::as_str));
        }
        let agent_ok = self.agents.as_ref().is_none_or(|list| list.iter().any(|a| a == agent));
        let queue_ok =
            self.queues.as_ref().is_none_or(|list| list.iter().any(|q| queues.iter().any(|m| m == q)));
        agent_ok && queue_ok
    }
}

fn text<'a>(map: &'a Map<String, Value>, key: &str) -> &'a str {
    map.get(key).and_then(Value::as_str).unwrap_or("")
}

/// `<pbx>:<epoch>:<seq>`: unique per message across daemon restarts (a new epoch) and PBXs.
pub fn event_id(message: &Map<String, Value>) -> String {
    let seq = message.get("seq").and_then(Value::as_u64).unwrap_or(0);
    format!("{}:{}:{seq}", text(message, "pbx"), text(message, "epoch"))
}

/// The bytes to send (POST body, or the query string for GET): the message with `event_id` first.
///
/// JSON: the message object with `event_id` added. Form: `event_id`, then the message's top-level fields,
/// then each field of `data` as `data[KEY]` (strings as they are, `null` empty, anything else as JSON) —
/// the nesting PHP, Rails and Node's `qs` read back as an object.
pub fn render(message: &Map<String, Value>, body: WebhookBody) -> String {
    let id = event_id(message);
    match body {
        WebhookBody::Json => {
            let mut out = Map::new();
            out.insert("event_id".into(), Value::String(id));
            out.extend(message.iter().map(|(k, v)| (k.clone(), v.clone())));
            Value::Object(out).to_string()
        }
        WebhookBody::Form => {
            let mut pairs = vec![("event_id".to_owned(), id)];
            for (key, value) in message.iter().filter(|(k, _)| *k != "data" && *k != "event_id") {
                pairs.push((key.clone(), scalar(value)));
            }
            if let Some(Value::Object(data)) = message.get("data") {
                pairs.extend(data.iter().map(|(k, v)| (format!("data[{k}]"), scalar(v))));
            }
            pairs
                .iter()
                .map(|(k, v)| format!("{}={}", utf8_percent_encode(k, FORM), utf8_percent_encode(v, FORM)))
                .collect::<Vec<_>>()
                .join("&")
        }
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<signed>")>`.
pub fn signature(secret: &[u8], timestamp: &str, signed: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(timestamp.as_bytes());
    ctx.update(b".");
    ctx.update(signed.as_bytes());
    let tag = ctx.sign();
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn filters_by_type_agent_and_queue() {
        let event = msg(
            json!({"type": "agent_event", "id": "PJSIP/1", "data": {"event": "pause", "queue": "sales"}}),
        );
        let update =
            msg(json!({"type": "agent_update", "id": "PJSIP/2", "data": {"queues": {"support": null}}}));
        let queue = msg(json!({"type": "queue_update", "id": "sales", "data": {}}));
        let all = |events: &[&str]| HookFilter {
            events: events.iter().map(|e| e.to_string()).collect(),
            ..Default::default()
        };
        assert!(all(&["agent_event"]).wants(&event) && !all(&["agent_event"]).wants(&update));
        let agents =
            HookFilter { agents: Some(vec!["PJSIP/1".into()]), ..all(&["agent_event", "agent_update"]) };
        assert!(agents.wants(&event) && !agents.wants(&update));
        let queues = HookFilter {
            queues: Some(vec!["support".into()]),
            ..all(&["agent_event", "agent_update", "queue_update"])
        };
        assert!(!queues.wants(&event) && queues.wants(&update) && !queues.wants(&queue));
        let resync = msg(json!({"type": "resync", "id": "", "data": {}}));
        assert!(HookFilter { queues: Some(vec!["x".into()]), ..all(&["resync"]) }.wants(&resync));
    }

    #[test]
    fn bodies_and_signature() {
        let m = msg(json!({"type": "agent_event", "seq": 7, "epoch": "e1", "pbx": "p", "id": "PJSIP/1 a",
            "data": {"event": "pause", "reason": "Lunch & co", "at": 5, "x": null}}));
        assert_eq!(event_id(&m), "p:e1:7");
        let form = render(&m, WebhookBody::Form);
        assert!(form.starts_with("event_id=p%3Ae1%3A7&"), "{form}");
        assert!(
            form.contains("&id=PJSIP%2F1%20a&") && form.contains("data%5Breason%5D=Lunch%20%26%20co"),
            "{form}"
        );
        assert!(form.contains("data%5Bat%5D=5&") && form.contains("data%5Bx%5D="), "{form}");
        let json: Value = serde_json::from_str(&render(&m, WebhookBody::Json)).unwrap();
        assert_eq!(json["event_id"], "p:e1:7");
        assert_eq!(json["data"]["reason"], "Lunch & co");
        // The same text signed by Python's hmac (the receiver example's way): hmac.new(b"Jefe",
        // b'1700000000.{"a":1}', hashlib.sha256).hexdigest().
        assert_eq!(
            signature(b"Jefe", "1700000000", r#"{"a":1}"#),
            "sha256=fa5f6481efc59da48b19c9dc10196c9953e5651f8304b3a318b6b87d70272e0a"
        );
    }
}
