//! Tests of the AMI normalizer on real Asterisk 22 captures.

use std::path::Path;

use parsers::ami::{AmiDecoder, NextMessage};

use super::*;

fn capture(scenario: &str, file: &str) -> Vec<u8> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asterisk-22").join(scenario).join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn each_message(bytes: &[u8], mut f: impl FnMut(&Message<'_>)) {
    for (message, _) in AmiDecoder::new().complete_messages(bytes) {
        f(&message);
    }
}

/// Replays a scenario the way `replay --ami-capture` does: client bytes registered, server bytes pushed.
fn replay(scenario: &str) -> Vec<Event> {
    let mut normalizer = AmiNormalizer::new();
    each_message(&capture(scenario, "ami.sent"), |msg| normalizer.observe_sent(msg));
    let mut out = Vec::new();
    each_message(&capture(scenario, "ami.raw"), |msg| out.extend(normalizer.push(msg, 0)));
    out
}

fn final_snapshot(events: &[Event]) -> &StatusSnapshot {
    events
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::StatusSnapshot(s) => Some(s),
            _ => None,
        })
        .expect("a QueueStatus answer")
}

/// queue, interface, penalty, paused, reason.
type Row<'a> = (&'a str, &'a str, Option<i64>, bool, Option<&'a str>);

#[test]
fn final_status_gives_readme_membership() {
    let events = replay("login-pause-unpause");
    let snapshot = final_snapshot(&events);
    assert_eq!(snapshot.scope, SnapshotScope::All, "ami.sent asked QueueStatus without filters");
    let mut rows: Vec<Row<'_>> = snapshot
        .members
        .iter()
        .map(|m| (m.queue.as_str(), m.interface.as_str(), m.penalty, m.paused, m.pause_reason.as_deref()))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![
            ("billing", "Local/1009@agents/n", Some(0), false, None),
            ("sales", "Local/1001@agents/n", Some(1), true, Some("Lunch")),
            ("sales", "Local/1002@agents/n", Some(0), true, None),
            ("support", "Local/1001@agents/n", Some(0), true, Some("Lunch")),
            ("support", "Local/1003@agents/n", Some(5), true, Some("Break (10 min)")),
        ]
    );
    assert!(snapshot.entries.is_empty());
    assert!(snapshot.queues.iter().any(|q| q.queue == "support"));
}

#[test]
fn member_events_carry_reasons_and_membership() {
    let events = replay("login-pause-unpause");
    let dave_added = events.iter().find_map(|e| match &e.kind {
        EventKind::MemberAdded { member, paused, pause_reason, .. }
            if member.interface.as_deref() == Some("Local/1004@agents/n") =>
        {
            Some((*paused, pause_reason.clone()))
        }
        _ => None,
    });
    assert_eq!(dave_added, Some((Some(true), Some("Training".to_owned()))));
    let lunch = events.iter().filter(
        |e| matches!(&e.kind, EventKind::MemberPause { paused: true, reason: Some(r), .. } if r == "Lunch"),
    );
    assert_eq!(lunch.count(), 2, "Lunch pause in support and in sales");
}

#[test]
fn unregistered_answer_is_partial() {
    let mut normalizer = AmiNormalizer::new();
    let mut out = Vec::new();
    each_message(&capture("login-pause-unpause", "ami.raw"), |msg| out.extend(normalizer.push(msg, 0)));
    let snapshot = final_snapshot(&out);
    assert_eq!(snapshot.scope, SnapshotScope::Partial);
    assert_eq!(snapshot.members.len(), 5);
}

#[test]
fn ringnoanswer_call_flow() {
    let events = replay("ringnoanswer");
    let count = |pred: fn(&EventKind) -> bool| events.iter().filter(|e| pred(&e.kind)).count();
    assert_eq!(count(|k| matches!(k, EventKind::AgentRinging { .. })), 12);
    assert_eq!(count(|k| matches!(k, EventKind::RingStopped { missed: true, .. })), 6);
    assert_eq!(count(|k| matches!(k, EventKind::CallConnected { .. })), 3);
    assert_eq!(count(|k| matches!(k, EventKind::CallEnded { reason: EndReason::Agent, .. })), 3);
    assert_eq!(count(|k| matches!(k, EventKind::CallerLeft { reason: LeaveReason::Unspecified, .. })), 1);
    assert_eq!(count(|k| matches!(k, EventKind::CallerJoined { .. })), 4);
}

#[test]
fn scopes_from_filters() {
    let mut n = AmiNormalizer::new();
    n.expect_queue_status("a", None, None);
    n.expect_queue_status("q", Some("support"), None);
    n.expect_queue_status("m", Some(""), Some("PJSIP/101"));
    assert_eq!(n.expected.get("a"), Some(&SnapshotScope::All));
    assert_eq!(n.expected.get("q"), Some(&SnapshotScope::Queue { queue: "support".into() }));
    assert_eq!(
        n.expected.get("m"),
        Some(&SnapshotScope::Member { queue: None, interface: "PJSIP/101".into() })
    );
}

#[test]
fn control_messages() {
    let raw = b"Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\nRestart: True\r\n\r\n";
    let Ok(NextMessage::Complete { message, .. }) = parsers::ami::parse_message(raw) else { panic!("parse") };
    assert_eq!(control(&message), Some(Control::Shutdown { restart: true }));
    let raw = b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\nTimestamp: 1795382851.269373\r\n\r\n";
    let Ok(NextMessage::Complete { message, .. }) = parsers::ami::parse_message(raw) else { panic!("parse") };
    assert_eq!(control(&message), Some(Control::FullyBooted));
    assert_eq!(header_timestamp_ms(&message), Some(1_795_382_851_269));
}

fn flow(scenario: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/asterisk-22-flows")
        .join(scenario)
        .join("ami.raw");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The first message of a capture that `pick` accepts, as its bytes.
fn first_message(bytes: &[u8], pick: impl Fn(&Message<'_>) -> bool) -> Vec<u8> {
    let mut messages = AmiDecoder::new().complete_messages(bytes);
    messages.find(|(message, _)| pick(message)).expect("no such message").1.to_vec()
}

fn push_bytes(bytes: &[u8]) -> Result<Vec<Event>, EventError> {
    let Ok(NextMessage::Complete { message, .. }) = parsers::ami::parse_message(bytes) else {
        panic!("parse")
    };
    AmiNormalizer::new().push_checked(&message, 7)
}

#[test]
fn agent_complete_without_the_callers_channel_ends_the_members_call() {
    let real = first_message(&flow("requeue-same"), |m| m.is_event("AgentComplete"));
    let text = String::from_utf8_lossy(&real);
    // What Asterisk sends once the caller's channel is gone: the caller's channel block is missing.
    let kept =
        ["Event:", "Privilege:", "Queue:", "Interface:", "MemberName:", "HoldTime:", "TalkTime:", "Reason:"];
    let cut: String = text
        .split_inclusive("\r\n")
        .filter(|l| *l == "\r\n" || kept.iter().any(|k| l.starts_with(k)))
        .collect();
    assert!(!cut.contains("Uniqueid") && !cut.contains("\r\nChannel:"), "{cut}");
    let events = push_bytes(cut.as_bytes()).expect("not a bad message");
    assert_eq!(
        events.iter().map(|e| &e.kind).collect::<Vec<_>>(),
        vec![&EventKind::MemberCallEnded {
            queue: "support".into(),
            member: MemberRef::both("Local/1001@agents/n", "Alice Smith"),
            hold_s: Some(6),
            talk_s: Some(8),
            reason: EndReason::Agent,
        }]
    );
    // Without the member it means nothing: still an error.
    let no_member: String = cut.split_inclusive("\r\n").filter(|l| !l.starts_with("Interface:")).collect();
    assert!(push_bytes(no_member.as_bytes()).is_err());
}

#[test]
fn caller_join_keeps_linkedid() {
    let join = first_message(&flow("transfer-into-queue"), |m| {
        m.is_event("QueueCallerJoin") && m.get("Uniqueid").as_deref() == Some("1796156672.17")
    });
    let events = push_bytes(&join).expect("join");
    assert!(
        matches!(&events[0].kind, EventKind::CallerJoined { linkedid: Some(l), caller_id: Some(c), .. }
            if l == "1796156667.12" && c == "5557303"),
        "{events:?}"
    );
}

#[test]
fn member_status_reports_the_pause_too() {
    let status = first_message(&capture("ami-actions", "ami.raw"), |m| {
        m.is_event("QueueMemberStatus") && m.get("Interface").as_deref() == Some("Local/1002@agents/n")
    });
    let kinds: Vec<EventKind> = push_bytes(&status).expect("status").into_iter().map(|e| e.kind).collect();
    assert!(matches!(kinds[0], EventKind::MemberDevice { .. }), "{kinds:?}");
    assert_eq!(
        kinds[1],
        EventKind::MemberPause {
            queue: Some("support".into()),
            member: MemberRef::both("Local/1002@agents/n", "Bob Jones"),
            paused: false,
            reason: None,
        }
    );
}

/// agent-self-service (asterisk-22-flows): Dave's logins, pauses and logout run on his phone's channel
/// (AddQueueMember / PauseQueueMember / UnpauseQueueMember / RemoveQueueMember, each after its Newexten);
/// Erin's (AMI QueueAdd/QueuePause) and Frank's (CLI) member events say nothing about who.
#[test]
fn member_events_of_a_dialplan_application_are_the_phone() {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asterisk-22-flows/agent-self-service");
    let raw = std::fs::read(dir.join("ami.raw")).expect("ami.raw");
    let mut normalizer = AmiNormalizer::new();
    let mut got = Vec::new();
    each_message(&raw, |msg| {
        // QueueMemberStatus (device changes during Dave's call) repeats the pause state; not a change.
        let status = msg.is_event("QueueMemberStatus");
        for e in normalizer.push(msg, 0).into_iter().filter(|_| !status) {
            let (what, member) = match &e.kind {
                EventKind::MemberAdded { member, .. } => ("added", member),
                EventKind::MemberRemoved { member, .. } => ("removed", member),
                EventKind::MemberPause { member, paused: true, .. } => ("paused", member),
                EventKind::MemberPause { member, paused: false, .. } => ("unpaused", member),
                _ => continue,
            };
            got.push((what, member.interface.clone().unwrap_or_default(), e.actor));
        }
    });
    let dave = |what| (what, "Local/1004@agents/n".to_owned(), Some(crate::engine::Actor::Phone));
    let other = |what, ext: &str| (what, format!("Local/{ext}@agents/n"), None);
    assert_eq!(
        got,
        vec![
            dave("added"),
            dave("added"),
            dave("paused"),
            dave("paused"),
            dave("unpaused"),
            dave("unpaused"),
            other("added", "1005"),
            other("paused", "1005"),
            other("added", "1006"),
            other("paused", "1006"),
            other("paused", "1005"),
            other("paused", "1006"),
            dave("removed"),
            dave("paused"),
        ]
    );
}
