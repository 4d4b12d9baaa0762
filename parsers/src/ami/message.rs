//! One decoded AMI message: its kind and its ordered fields, all borrowed from the input buffer.

use std::borrow::Cow;

use serde::ser::{SerializeMap, SerializeTuple};
use serde::{Serialize, Serializer};

use crate::text::decode;

/// One `Key: Value` line. Both halves borrow the input; decode them with [`crate::text::decode`] (or the
/// [`Field::key_str`] / [`Field::value_str`] helpers) because AMI text is not guaranteed UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
}

impl<'a> Field<'a> {
    pub fn key_str(&self) -> Cow<'a, str> {
        decode(self.key)
    }
    pub fn value_str(&self) -> Cow<'a, str> {
        decode(self.value)
    }
}

/// What a message is, from its first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind<'a> {
    /// `Asterisk Call Manager/<version>`: the first line of a connection (no fields).
    Banner { version: &'a [u8] },
    /// `Response: <status>` (`Success`, `Error`, `Goodbye`, 1.4 `Pong` …).
    Response { status: &'a [u8] },
    /// `Event: <name>`.
    Event { name: &'a [u8] },
    /// `Action: <name>`: what a client sends (e.g. a recorded `ami.sent`).
    Action { name: &'a [u8] },
    /// ≤13 `Response: Follows`: `body` is the raw CLI text (lines ended by `\n`) without `--END COMMAND--`.
    Follows { body: &'a [u8] },
}

/// A decoded message. `fields` holds every header line in order, the first line (`Event: X` …) included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub kind: MessageKind<'a>,
    pub fields: Vec<Field<'a>>,
}

impl<'a> Message<'a> {
    /// First value of `key` (ASCII case-insensitive), raw bytes.
    pub fn get_bytes(&self, key: &str) -> Option<&'a [u8]> {
        self.fields.iter().find(|f| f.key.eq_ignore_ascii_case(key.as_bytes())).map(|f| f.value)
    }

    /// First value of `key` (ASCII case-insensitive), decoded (UTF-8, else Latin-1).
    pub fn get(&self, key: &str) -> Option<Cow<'a, str>> {
        self.get_bytes(key).map(decode)
    }

    /// Every value of a repeated key (`Output`, `ChanVariable`, `Variable`), in order.
    pub fn get_all<'m>(&'m self, key: &'m str) -> impl Iterator<Item = Cow<'a, str>> + 'm {
        self.fields
            .iter()
            .filter(move |f| f.key.eq_ignore_ascii_case(key.as_bytes()))
            .map(|f| decode(f.value))
    }

    /// True when `key` is present and its value equals `expected` ignoring ASCII case.
    pub fn value_is(&self, key: &str, expected: &str) -> bool {
        self.get_bytes(key).is_some_and(|v| v.eq_ignore_ascii_case(expected.as_bytes()))
    }

    /// Event name for `Event:` messages.
    pub fn event_name(&self) -> Option<Cow<'a, str>> {
        match self.kind {
            MessageKind::Event { name } => Some(decode(name)),
            _ => None,
        }
    }

    /// True for an `Event:` message whose name equals `name` ignoring ASCII case.
    pub fn is_event(&self, name: &str) -> bool {
        matches!(self.kind, MessageKind::Event { name: n } if n.eq_ignore_ascii_case(name.as_bytes()))
    }

    /// `ActionID` echoed by responses and list items (never present in asynchronous events).
    pub fn action_id(&self) -> Option<Cow<'a, str>> {
        self.get("ActionID")
    }

    fn type_and_head(&self) -> (&'static str, Option<(&'static str, &'a [u8])>) {
        match self.kind {
            MessageKind::Banner { version } => ("banner", Some(("version", version))),
            MessageKind::Response { status } => ("response", Some(("status", status))),
            MessageKind::Event { name } => ("event", Some(("name", name))),
            MessageKind::Action { name } => ("action", Some(("name", name))),
            MessageKind::Follows { body } => ("follows", Some(("body", body))),
        }
    }
}

/// `{"type":"event","name":"QueueMemberPause","fields":[["Event","QueueMemberPause"],…]}`; text decoded.
impl Serialize for Message<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (kind, head) = self.type_and_head();
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", kind)?;
        if let Some((key, value)) = head {
            map.serialize_entry(key, &decode(value))?;
        }
        if !matches!(self.kind, MessageKind::Banner { .. }) {
            map.serialize_entry("fields", &self.fields)?;
        }
        map.end()
    }
}

impl Serialize for Field<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut pair = serializer.serialize_tuple(2)?;
        pair.serialize_element(&decode(self.key))?;
        pair.serialize_element(&decode(self.value))?;
        pair.end()
    }
}
