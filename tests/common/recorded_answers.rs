//! Asterisk 22's answers to member actions, from tests/fixtures/asterisk-22-actions, for the fake AMI: the
//! recorded response of each case and the recorded member events, with the changed member's fields.

#![allow(dead_code)]

use parsers::ami::{AmiDecoder, NextMessage};
use queuecast::simulate::member_actions::{Answer, Effect, Member, MemberBook};
use std::path::Path;

/// The members of a captured QueueStatus answer (its QueueParams and QueueMember events).
pub fn members_of(status_answer: &[Vec<u8>]) -> MemberBook {
    let mut book = MemberBook::default();
    for bytes in status_answer {
        let Ok(NextMessage::Complete { message, .. }) = parsers::ami::parse_message(bytes) else { continue };
        let get = |k: &str| message.get(k).map(|v| v.into_owned()).unwrap_or_default();
        if message.is_event("QueueParams") {
            book.add_queue(&get("Queue"));
        } else if message.is_event("QueueMember") {
            let member = Member {
                interface: get("Location"),
                name: get("Name"),
                penalty: get("Penalty").parse().unwrap_or(0),
                paused: get("Paused") == "1",
                reason: get("PausedReason"),
                dynamic: get("Membership") != "static",
            };
            book.add_member(&get("Queue"), member);
        }
    }
    book
}

/// Asterisk 22's answers and events for member actions, read from tests/fixtures/asterisk-22-actions.
pub struct RecordedAnswers {
    dir: std::path::PathBuf,
    /// Event name → the first such event of the recordings.
    events: std::collections::BTreeMap<&'static str, Vec<u8>>,
}

impl RecordedAnswers {
    pub fn load() -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asterisk-22-actions");
        let mut events = std::collections::BTreeMap::new();
        for (case, event) in [
            ("pause-one", "QueueMemberPause"),
            ("add-paused", "QueueMemberAdded"),
            ("remove-ok", "QueueMemberRemoved"),
            ("penalty-one", "QueueMemberPenalty"),
        ] {
            let found = messages(&dir.join(format!("{case}.raw"))).into_iter().find(|m| {
                matches!(parsers::ami::parse_message(m), Ok(NextMessage::Complete { message, .. }) if message.is_event(event))
            });
            events.insert(event, found.unwrap_or_else(|| panic!("{case}.raw has a {event}")));
        }
        Self { dir, events }
    }

    /// The recorded answer of `answer`'s case, for ActionID `id`.
    pub fn answer(&self, answer: Answer, id: &str) -> Vec<u8> {
        let case = answer.recorded_case();
        let response = messages(&self.dir.join(format!("{case}.raw"))).into_iter().find(|m| {
            matches!(parsers::ami::parse_message(m), Ok(NextMessage::Complete { message, .. })
                if message.action_id().is_some_and(|a| a == case))
        });
        queuecast::simulate::ami_peer::with_action_id(
            &response.unwrap_or_else(|| panic!("{case}.raw answers {case}")),
            case,
            id,
        )
    }

    /// The recorded event of `effect`, with the changed member's fields.
    pub fn event(&self, effect: &Effect) -> Vec<u8> {
        let (name, queue, m) = match effect {
            Effect::Paused { queue, member } => ("QueueMemberPause", queue, member),
            Effect::Added { queue, member } => ("QueueMemberAdded", queue, member),
            Effect::Removed { queue, member } => ("QueueMemberRemoved", queue, member),
            Effect::Penalty { queue, member } => ("QueueMemberPenalty", queue, member),
        };
        let mut bytes = self.events[name].clone();
        let membership = if m.dynamic { "dynamic" } else { "static" };
        let paused = if m.paused { "1" } else { "0" };
        for (header, value) in [
            ("Queue", queue.as_str()),
            ("MemberName", m.name.as_str()),
            ("Interface", m.interface.as_str()),
            ("StateInterface", m.interface.as_str()),
            ("Membership", membership),
            ("Penalty", &m.penalty.to_string()),
            ("Paused", paused),
            ("PausedReason", m.reason.as_str()),
        ] {
            bytes = set_header(&bytes, header, value);
        }
        bytes
    }
}

/// Every message of a recorded connection, as bytes.
fn messages(path: &Path) -> Vec<Vec<u8>> {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut decoder = AmiDecoder::new();
    let mut rest = raw.as_slice();
    let mut out = Vec::new();
    while let Ok(NextMessage::Complete { consumed, .. }) = decoder.decode(rest) {
        out.push(rest[..consumed].to_vec());
        rest = &rest[consumed..];
    }
    out
}

/// The message with header `name`'s value replaced (the header is kept where it was).
fn set_header(message: &[u8], name: &str, value: &str) -> Vec<u8> {
    let prefix = format!("{name}: ");
    let mut out = Vec::with_capacity(message.len());
    for line in message.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(prefix.as_bytes()) {
            out.extend_from_slice(format!("{prefix}{value}\r\n").as_bytes());
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}
