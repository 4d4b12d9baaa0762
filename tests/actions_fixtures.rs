//! The real Asterisk 22.10.1 answers to the member actions (tests/fixtures/asterisk-22-actions): every byte
//! decodes, each case's answer and the member events and queue_log lines it caused are the ones its README
//! lists (typed here from that table, not derived), and the normalizers read them as the changes they are.

use parsers::ami::{AmiDecoder, MessageKind, NextMessage};
use queuecast::engine::EventKind;
use queuecast::normalize::ami::AmiNormalizer;
use queuecast::replay;
use queuecast::simulate::member_actions::Answer;
use std::path::{Path, PathBuf};

/// (case, Response, Message, member events in order, queue_log verbs in order).
type Case = (&'static str, &'static str, &'static str, &'static [&'static str], &'static [&'static str]);

const PAUSED: &str = "Interface paused successfully";
const UNPAUSED: &str = "Interface unpaused successfully";
const ADDED: &str = "Added interface to queue";
const PENALTY: &str = "Interface penalty set successfully";
const NOT_FOUND: &str = "Interface not found";
const INVALID_PENALTY: &str = "Invalid interface, queuename or penalty";
const DENIED: &str = "Permission denied";
const PAUSE: &[&str] = &["QueueMemberPause"];
const PAUSE_2: &[&str] = &["QueueMemberPause", "QueueMemberPause"];

const CASES: [Case; 34] = [
    ("pause-one", "Success", PAUSED, PAUSE, &["PAUSE"]),
    ("pause-all", "Success", PAUSED, PAUSE_2, &["PAUSEALL", "PAUSE", "PAUSE"]),
    ("pause-again", "Success", PAUSED, PAUSE, &["PAUSE"]),
    ("pause-again-newreason", "Success", PAUSED, PAUSE, &["PAUSE"]),
    ("unpause-one", "Success", UNPAUSED, PAUSE, &["UNPAUSE"]),
    ("unpause-all", "Success", UNPAUSED, PAUSE_2, &["UNPAUSEALL", "UNPAUSE", "UNPAUSE"]),
    ("unpause-again", "Success", UNPAUSED, PAUSE_2, &["UNPAUSEALL", "UNPAUSE", "UNPAUSE"]),
    ("pause-notmember", "Error", NOT_FOUND, &[], &[]),
    ("pause-nosuchqueue", "Error", NOT_FOUND, &[], &[]),
    ("pause-wrongqueue", "Error", NOT_FOUND, &[], &[]),
    ("pause-nopaused", "Error", "Need 'Interface' and 'Paused' parameters.", &[], &[]),
    ("add-paused", "Success", ADDED, &["QueueMemberAdded"], &["ADDMEMBER"]),
    ("add-unpaused", "Success", ADDED, &["QueueMemberAdded"], &["ADDMEMBER"]),
    ("add-dup", "Error", "Unable to add interface: Already there", &[], &[]),
    ("add-nosuchqueue", "Error", "Unable to add interface to queue: No such queue", &[], &[]),
    ("add-badpenalty-abc", "Success", ADDED, &["QueueMemberAdded"], &["ADDMEMBER"]),
    ("add-badpenalty-neg", "Success", ADDED, &["QueueMemberAdded"], &["ADDMEMBER"]),
    ("add-noqueue", "Error", "'Queue' not specified.", &[], &[]),
    ("remove-ok", "Success", "Removed interface from queue", &["QueueMemberRemoved"], &["REMOVEMEMBER"]),
    ("remove-notthere", "Error", "Unable to remove interface: Not there", &[], &[]),
    ("remove-nosuchqueue", "Error", "Unable to remove interface from queue: No such queue", &[], &[]),
    ("remove-static", "Error", "Member not dynamic", &[], &[]),
    ("penalty-one", "Success", PENALTY, &["QueueMemberPenalty"], &["PENALTY"]),
    (
        "penalty-all",
        "Success",
        PENALTY,
        &["QueueMemberPenalty", "QueueMemberPenalty"],
        &["PENALTY", "PENALTY"],
    ),
    ("penalty-notmember", "Error", INVALID_PENALTY, &[], &[]),
    ("penalty-nosuchqueue", "Error", INVALID_PENALTY, &[], &[]),
    ("penalty-wrongqueue", "Error", INVALID_PENALTY, &[], &[]),
    ("penalty-invalid-abc", "Success", PENALTY, &["QueueMemberPenalty"], &["PENALTY"]),
    ("penalty-invalid-neg", "Error", INVALID_PENALTY, &[], &[]),
    ("denied-pause", "Error", DENIED, &[], &[]),
    ("denied-unpause", "Error", DENIED, &[], &[]),
    ("denied-add", "Error", DENIED, &[], &[]),
    ("denied-remove", "Error", DENIED, &[], &[]),
    ("denied-penalty", "Error", DENIED, &[], &[]),
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asterisk-22-actions")
}

fn read(file: &str) -> Vec<u8> {
    std::fs::read(dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// One server message: kind (`banner`, `response <status>`, `event <name>`), ActionID, Message, RequestType.
type Msg = (String, Option<String>, Option<String>, Option<String>);

/// Every message of a capture; all bytes used.
fn messages(raw: &[u8]) -> Vec<Msg> {
    let mut decoder = AmiDecoder::new();
    let (mut at, mut out) = (0, Vec::new());
    while at < raw.len() {
        let Ok(NextMessage::Complete { message, consumed }) = decoder.decode(&raw[at..]) else {
            panic!("undecodable or cut at byte {at}")
        };
        let kind = match message.kind {
            MessageKind::Banner { .. } => "banner".to_owned(),
            MessageKind::Response { status } => format!("response {}", String::from_utf8_lossy(status)),
            MessageKind::Event { name } => format!("event {}", String::from_utf8_lossy(name)),
            other => panic!("server sent {other:?}"),
        };
        let get = |k: &str| message.get(k).map(|v| v.into_owned());
        out.push((kind, get("ActionID"), get("Message"), get("RequestType")));
        at += consumed;
    }
    out
}

#[test]
fn every_answer_event_and_queue_log_line_is_the_readmes() {
    for (case, response, message, events, verbs) in CASES {
        let msgs = messages(&read(&format!("{case}.raw")));
        let answer = msgs
            .iter()
            .position(|m| m.1.as_deref() == Some(case))
            .unwrap_or_else(|| panic!("{case}: no answer to its ActionID"));
        assert_eq!(msgs[answer].0, format!("response {response}"), "{case}");
        assert_eq!(msgs[answer].2.as_deref(), Some(message), "{case}");
        let member_events: Vec<&str> = msgs
            .iter()
            .filter_map(|m| m.0.strip_prefix("event "))
            .filter(|name| name.starts_with("QueueMember"))
            .collect();
        assert_eq!(member_events, events, "{case}: member events");
        if message == DENIED {
            let refused = msgs.iter().find(|m| m.0 == "event RequestNotAllowed").expect("RequestNotAllowed");
            assert!(refused.3.as_deref().is_some_and(|t| t.starts_with("Action: Queue")), "{case}");
        }
        assert_eq!(msgs.last().map(|m| m.0.as_str()), Some("response Goodbye"), "{case}: logged off");
        let log = read(&format!("{case}.queue_log"));
        let text = String::from_utf8_lossy(&log);
        let got: Vec<&str> = text.lines().filter_map(|l| l.split('|').nth(4)).collect();
        assert_eq!(got, verbs, "{case}: queue_log lines");
        assert_eq!(replay::queue_log_events(&log).1, 0, "{case}: queue_log parses");
    }
    assert_eq!(replay::queue_log_events(&read("queue_log")).1, 0, "the whole queue_log parses");
}

/// What the normalizer makes of the successes: the pause, its reason and the added member's penalty as
/// Asterisk applied them (a bad QueueAdd penalty becomes 0), and nothing at all from an error.
#[test]
fn the_normalizer_reads_each_change() {
    let kinds = |case: &str| -> Vec<EventKind> {
        let raw = read(&format!("{case}.raw"));
        let mut normalizer = AmiNormalizer::new();
        let mut decoder = AmiDecoder::new();
        let (mut at, mut out) = (0, Vec::new());
        while let Ok(NextMessage::Complete { message, consumed }) = decoder.decode(&raw[at..]) {
            out.extend(normalizer.push(&message, 0).into_iter().map(|e| e.kind));
            at += consumed;
        }
        out
    };
    match kinds("pause-one").as_slice() {
        [EventKind::MemberPause { queue, member, paused: true, reason }] => {
            assert_eq!((queue.as_deref(), reason.as_deref()), (Some("support"), Some("Lunch")));
            assert_eq!(member.interface.as_deref(), Some("Local/1001@agents/n"));
        }
        other => panic!("pause-one: {other:?}"),
    }
    match kinds("add-paused").as_slice() {
        [EventKind::MemberAdded { queue, paused, pause_reason, penalty, membership, .. }] => {
            assert_eq!(queue, "support");
            assert_eq!(
                (*paused, pause_reason.as_deref(), *penalty),
                (Some(true), Some("Onboarding"), Some(2))
            );
            assert_eq!(membership.as_deref(), Some("dynamic"));
        }
        other => panic!("add-paused: {other:?}"),
    }
    for case in ["add-badpenalty-abc", "add-badpenalty-neg"] {
        match kinds(case).as_slice() {
            [EventKind::MemberAdded { penalty, .. }] => assert_eq!(*penalty, Some(0), "{case}"),
            other => panic!("{case}: {other:?}"),
        }
    }
    for (case, _, _, events, _) in CASES.iter().filter(|c| c.1 == "Error") {
        assert!(events.is_empty());
        let changes: Vec<EventKind> =
            kinds(case).into_iter().filter(|k| !matches!(k, EventKind::MemberDevice { .. })).collect();
        assert!(changes.is_empty(), "{case}: an error changes nothing: {changes:?}");
    }
}

/// Every answer the member-action rules give (the simulator's and the fake AMI's).
const ANSWERS: [Answer; 15] = [
    Answer::Paused,
    Answer::Unpaused,
    Answer::Added,
    Answer::Removed,
    Answer::PenaltySet,
    Answer::InterfaceNotFound,
    Answer::NeedInterfaceAndPaused,
    Answer::AlreadyThere,
    Answer::AddNoSuchQueue,
    Answer::QueueNotSpecified,
    Answer::NotThere,
    Answer::RemoveNoSuchQueue,
    Answer::NotDynamic,
    Answer::InvalidPenalty,
    Answer::PermissionDenied,
];

#[test]
fn the_simulator_answers_each_member_action_as_asterisk_did() {
    for answer in ANSWERS {
        let case = answer.recorded_case();
        let (_, response, message, _, _) =
            CASES.iter().find(|c| c.0 == case).unwrap_or_else(|| panic!("{case} is a recorded case"));
        assert_eq!(answer.response(), (*response == "Success", *message), "{answer:?} ({case})");
    }
}
