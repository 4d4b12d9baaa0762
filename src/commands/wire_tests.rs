use super::*;
use proptest::prelude::*;

fn entry(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    pairs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
}

fn decode(fields: &[(Vec<u8>, Vec<u8>)]) -> Result<Command, Malformed> {
    Command::from_fields(fields.iter().map(|(k, v)| (k.as_slice(), v.as_slice())))
}

fn pause() -> Vec<(Vec<u8>, Vec<u8>)> {
    entry(&[("id", "c1"), ("action", "pause"), ("agent", "PJSIP/1001"), ("queue", "sales"), ("ts", "1000")])
}

#[test]
fn round_trip_of_every_action() {
    for action in Action::ALL {
        let mut cmd = Command::new("c-1", action, "Local/1001@agents/n", 1_732_300_000_123);
        cmd.queue = Some("sales".into());
        cmd.penalty = Some(3);
        cmd.reason = "Lunch break".into();
        cmd.member_name = "Alice Example".into();
        cmd.requested_by = "cli:alice".into();
        let fields = cmd.to_fields();
        let back = Command::from_fields(fields.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()))).unwrap();
        assert_eq!(back, cmd);
        cmd.validate().unwrap();
    }
}

#[test]
fn empty_queue_means_every_queue() {
    let cmd = decode(&entry(&[
        ("id", "c1"),
        ("action", "logout"),
        ("agent", "PJSIP/1"),
        ("queue", ""),
        ("ts", "1"),
    ]))
    .unwrap();
    assert_eq!(cmd.queue, None);
}

#[test]
fn missing_fields_are_named_and_keep_a_usable_id() {
    let err = decode(&entry(&[("id", "c1"), ("action", "pause"), ("ts", "1")])).unwrap_err();
    assert_eq!(err, Malformed { id: Some("c1".into()), problem: Problem::Missing("agent") });
    let err = decode(&entry(&[("action", "pause"), ("agent", "PJSIP/1"), ("ts", "1")])).unwrap_err();
    assert_eq!(err, Malformed { id: None, problem: Problem::Missing("id") });
    let err = decode(&entry(&[("id", "c1"), ("action", "pause"), ("agent", "PJSIP/1")])).unwrap_err();
    assert_eq!(err.problem, Problem::Missing("ts"));
}

#[test]
fn hostile_values_are_refused() {
    let with = |k: &str, v: &[u8]| {
        let mut e = pause();
        e.retain(|(key, _)| key != k.as_bytes());
        e.push((k.as_bytes().to_vec(), v.to_vec()));
        decode(&e).unwrap_err().problem
    };
    assert_eq!(with("action", b"reboot"), Problem::UnknownAction(Shown("reboot".into())));
    assert_eq!(with("penalty", b"-1"), Problem::NotANumber("penalty"));
    assert_eq!(with("penalty", b"3x"), Problem::NotANumber("penalty"));
    assert_eq!(with("penalty", b"4294967295"), Problem::NotANumber("penalty"));
    assert_eq!(with("ts", b"yesterday"), Problem::NotANumber("ts"));
    assert_eq!(with("reason", b"a\r\nAction: Originate"), Problem::ControlCharacter("reason"));
    assert_eq!(with("agent", b"PJSIP/1\0"), Problem::ControlCharacter("agent"));
    assert_eq!(with("queue", &[0xff, 0xfe]), Problem::NotUtf8("queue"));
    assert_eq!(
        with("reason", &[b'x'; MAX_REASON_BYTES + 1]),
        Problem::TooLong { field: "reason", max: MAX_REASON_BYTES }
    );
    assert_eq!(with("agent", &vec![b'a'; 1 << 20]), Problem::TooLong { field: "agent", max: MAX_NAME_BYTES });
    assert_eq!(with("colour", b"red"), Problem::UnknownField(Shown("colour".into())));
    let mut twice = pause();
    twice.push((b"agent".to_vec(), b"PJSIP/2".to_vec()));
    assert_eq!(decode(&twice).unwrap_err().problem, Problem::Repeated("agent"));
    let many: Vec<_> = (0..100).map(|i| (format!("f{i}").into_bytes(), b"x".to_vec())).collect();
    assert_eq!(decode(&many).unwrap_err().problem, Problem::TooManyFields);
}

#[test]
fn a_hostile_id_is_not_kept() {
    let mut e = pause();
    e[0].1 = b"c1\r\n".to_vec();
    assert_eq!(decode(&e).unwrap_err().id, None);
    e[0].1 = vec![b'i'; MAX_ID_BYTES + 1];
    assert_eq!(decode(&e).unwrap_err().id, None);
}

#[test]
fn actions_get_what_they_need() {
    let login = entry(&[("id", "c1"), ("action", "login"), ("agent", "PJSIP/1"), ("ts", "1")]);
    assert_eq!(decode(&login).unwrap_err().problem, Problem::Needs { action: Action::Login, field: "queue" });
    let penalty =
        entry(&[("id", "c1"), ("action", "penalty"), ("agent", "PJSIP/1"), ("queue", "q"), ("ts", "1")]);
    assert_eq!(
        decode(&penalty).unwrap_err().problem,
        Problem::Needs { action: Action::Penalty, field: "penalty" }
    );
}

#[test]
fn quoted_junk_stays_short_and_escaped() {
    let shown = Shown::of(&[b'\n'; 1000]);
    assert!(shown.to_string().len() < 80, "{shown}");
    assert!(!shown.to_string().contains('\n'));
}

#[test]
fn result_round_trip_and_ok_follows_code() {
    for code in Code::ALL {
        let r = CommandResult::new("c1", code, if code == Code::Done { "" } else { "why" }, 5);
        let fields = r.to_fields();
        let pairs = || fields.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()));
        assert_eq!(CommandResult::from_fields(pairs()).unwrap(), r);
        assert_eq!(CommandResult::id_of(pairs()), Some(&b"c1"[..]));
        let ok = fields.iter().find(|(k, _)| *k == "ok").unwrap();
        assert_eq!(ok.1, (code == Code::Done).to_string());
        assert_eq!(Code::parse(code.as_str()), Some(code));
    }
}

#[test]
fn new_ids_differ_and_are_valid() {
    let (a, b) = (new_id(), new_id());
    assert_ne!(a, b);
    Command::new(a, Action::Pause, "PJSIP/1", 1).validate().unwrap();
}

proptest! {
    /// Any bytes at all decode to a command or a `Malformed`, never a panic; a command that decodes
    /// re-encodes to an entry that decodes to itself.
    #[test]
    fn arbitrary_entries_never_panic(fields in proptest::collection::vec(
        (prop_oneof![Just(b"id".to_vec()), Just(b"action".to_vec()), Just(b"agent".to_vec()),
                     Just(b"ts".to_vec()), Just(b"queue".to_vec()), Just(b"penalty".to_vec()),
                     proptest::collection::vec(any::<u8>(), 0..8)],
         proptest::collection::vec(any::<u8>(), 0..300)), 0..20)) {
        if let Ok(cmd) = decode(&fields) {
            let again = cmd.to_fields();
            let back = Command::from_fields(again.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()))).unwrap();
            prop_assert_eq!(back, cmd);
        }
    }

    #[test]
    fn valid_text_survives(agent in "[A-Za-z0-9/@._-]{1,64}", reason in "[ -~]{0,80}", ts in 0i64..i64::MAX) {
        let mut cmd = Command::new("x", Action::Pause, agent, ts);
        cmd.reason = reason;
        let fields = cmd.to_fields();
        let back = Command::from_fields(fields.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()))).unwrap();
        prop_assert_eq!(back, cmd);
    }
}
