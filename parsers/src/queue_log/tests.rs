//! Unit tests: one per layout, taken from QUEUE_LOG.md §2 and the Asterisk 22 captures.

use super::*;

fn event(line: &str) -> QlEvent<'_> {
    match parse_record(line.as_bytes()) {
        Ok(record) => record.event,
        Err(error) => panic!("{line:?}: {error}"),
    }
}

fn error(line: &str) -> ErrorKind {
    match parse_record(line.as_bytes()) {
        Ok(record) => panic!("{line:?} parsed as {record:?}"),
        Err(error) => error,
    }
}

fn c(text: &str) -> Text<'_> {
    Text::utf8(text)
}

#[test]
fn fixed_fields() {
    let record = parse_record(b"1546015425|1546015415.757927|201|Paty Marin|CONNECT|10|1546015415.757936|9");
    let record = record.unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(record.time, 1546015425);
    assert_eq!(record.callid, "1546015415.757927");
    assert_eq!(record.queue, "201");
    assert_eq!(record.agent, "Paty Marin");
    assert_eq!(
        record.event,
        QlEvent::Connect { hold_s: Some(10), agent_uniqueid: Some(c("1546015415.757936")), ring_s: Some(9) }
    );
    assert_eq!(record.event.name(), "CONNECT");
}

#[test]
fn enter_queue_layouts() {
    let two = event("1|u|q|NONE|ENTERQUEUE|url|5551");
    assert_eq!(
        two,
        QlEvent::EnterQueue { url: c("url"), caller_id: c("5551"), position: None, caller_name: None }
    );
    let three = event("1|u|q|NONE|ENTERQUEUE||5552001|1");
    assert_eq!(
        three,
        QlEvent::EnterQueue { url: c(""), caller_id: c("5552001"), position: Some(1), caller_name: None }
    );
    let four = event("1|u|q|NONE|ENTERQUEUE||5552001|2|John_Doe");
    let name = Some(c("John_Doe"));
    assert_eq!(
        four,
        QlEvent::EnterQueue { url: c(""), caller_id: c("5552001"), position: Some(2), caller_name: name }
    );
    let restricted = event("1|u|q|NONE|ENTERQUEUE|||3");
    assert_eq!(
        restricted,
        QlEvent::EnterQueue { url: c(""), caller_id: c(""), position: Some(3), caller_name: None }
    );
    let piped_url = event("1|u|q|NONE|ENTERQUEUE|http://x/?a|b|anonymous|4");
    let expected = QlEvent::EnterQueue {
        url: c("http://x/?a|b"),
        caller_id: c("anonymous"),
        position: Some(4),
        caller_name: None,
    };
    assert_eq!(piped_url, expected);
    assert!(matches!(error("1|u|q|NONE|ENTERQUEUE|"), ErrorKind::FieldCount { found: 0, .. }));
    assert!(matches!(error("1|u|q|NONE|ENTERQUEUE||555|x"), ErrorKind::BadNumber { field: 3, .. }));
}

#[test]
fn caller_leaves() {
    let left = |position, orig_position, wait_s| Left { position, orig_position, wait_s };
    let positions = left(Some(1), Some(2), Some(10));
    assert_eq!(event("1|u|q|NONE|ABANDON|1|2|10"), QlEvent::Abandon(positions));
    assert_eq!(event("1|u|q|NONE|EXITEMPTY|1|2|10"), QlEvent::ExitEmpty(positions));
    assert_eq!(event("1|u|q|NONE|EXITWITHTIMEOUT|1|2|10"), QlEvent::ExitWithTimeout(positions));
    assert_eq!(event("1|u|q|NONE|EXITWITHTIMEOUT|3"), QlEvent::ExitWithTimeout(left(Some(3), None, None)));
    assert_eq!(
        event("1|u|q|NONE|EXITWITHKEY|1|1|1|5"),
        QlEvent::ExitWithKey { key: c("1"), left: left(Some(1), Some(1), Some(5)) }
    );
    assert_eq!(
        event("1|u|q|NONE|EXITWITHKEY|*9|2"),
        QlEvent::ExitWithKey { key: c("*9"), left: left(Some(2), None, None) }
    );
    assert_eq!(
        event("1|u|q|NONE|WITHDRAW|3|3|5|moved|by supervisor"),
        QlEvent::Withdraw { left: left(Some(3), Some(3), Some(5)), info: c("moved|by supervisor") }
    );
    assert!(matches!(
        error("1|u|q|NONE|ABANDON|1|2"),
        ErrorKind::FieldCount { event, found: 2, .. } if event == "ABANDON"
    ));
    assert!(matches!(error("1|u|q|NONE|EXITWITHTIMEOUT|1|2"), ErrorKind::FieldCount { found: 2, .. }));
    assert!(matches!(error("1|u|q|NONE|EXITWITHKEY|1|1|1"), ErrorKind::FieldCount { found: 3, .. }));
}

#[test]
fn connect_layouts() {
    assert_eq!(
        event("1|u|q|a|CONNECT|5"),
        QlEvent::Connect { hold_s: Some(5), agent_uniqueid: None, ring_s: None }
    );
    assert_eq!(
        event("1|u|q|a|CONNECT|5|9.1"),
        QlEvent::Connect { hold_s: Some(5), agent_uniqueid: Some(c("9.1")), ring_s: None }
    );
    assert!(matches!(
        error("1|u|q|a|CONNECT|5|9.1|x"),
        ErrorKind::BadNumber { event, field: 3, name: "ringtime", .. } if event == "CONNECT"
    ));
    assert!(matches!(error("1|u|q|a|CONNECT|1|2|3|4"), ErrorKind::FieldCount { found: 4, .. }));
    // An empty statistic (QueueLog() with an empty variable) is None, not a lost line.
    assert_eq!(
        event("1|u|q|a|CONNECT||9.1|"),
        QlEvent::Connect { hold_s: None, agent_uniqueid: Some(c("9.1")), ring_s: None }
    );
}

#[test]
fn completes_and_transfers() {
    let times = |hold_s, talk_s, orig_position| Completed { hold_s, talk_s, orig_position };
    assert_eq!(
        event("1|u|q|a|COMPLETECALLER|10|122|1"),
        QlEvent::CompleteCaller(times(Some(10), Some(122), Some(1)))
    );
    assert_eq!(
        event("1|u|q|a|COMPLETEAGENT|-1|8|1"),
        QlEvent::CompleteAgent(times(Some(-1), Some(8), Some(1)))
    );
    assert_eq!(
        event("1|u|q|a|BLINDTRANSFER|200|from-internal|4|30|1"),
        QlEvent::BlindTransfer(ToExten {
            exten: c("200"),
            context: c("from-internal"),
            times: times(Some(4), Some(30), Some(1))
        })
    );
    assert_eq!(
        event("1|u|q|a|ATTENDEDTRANSFER|BRIDGE|5a1b-22|4|30|1"),
        QlEvent::AttendedTransfer {
            method: c("BRIDGE"),
            target: c("5a1b-22"),
            peer: None,
            times: times(Some(4), Some(30), Some(1))
        }
    );
    assert_eq!(
        event("1|u|q|a|ATTENDEDTRANSFER|LINK|PJSIP/1-01|PJSIP/2-02|4|30|2"),
        QlEvent::AttendedTransfer {
            method: c("LINK"),
            target: c("PJSIP/1-01"),
            peer: Some(c("PJSIP/2-02")),
            times: times(Some(4), Some(30), Some(2))
        }
    );
    assert!(matches!(
        error("1|u|q|a|ATTENDEDTRANSFER|LINK|x|y|4|z|2"),
        ErrorKind::BadNumber { field: 5, .. }
    ));
    let transfer = |hold, talk, orig| {
        QlEvent::Transfer(ToExten { exten: c("200"), context: c("ctx"), times: times(hold, talk, orig) })
    };
    assert_eq!(event("1|u|q|a|TRANSFER|200|ctx"), transfer(None, None, None));
    assert_eq!(event("1|u|q|a|TRANSFER|200|ctx|3|40"), transfer(Some(3), Some(40), None));
    assert_eq!(event("1|u|q|a|TRANSFER|200|ctx|3|40|1"), transfer(Some(3), Some(40), Some(1)));
    assert!(matches!(error("1|u|q|a|TRANSFER|200|ctx|3"), ErrorKind::FieldCount { found: 3, .. }));
}

#[test]
fn ringing_and_dataless_events() {
    assert_eq!(event("1|u|q|a|RINGNOANSWER|15000"), QlEvent::RingNoAnswer { ring_ms: Some(15000) });
    assert_eq!(event("1|u|q|a|RINGCANCELED|1017"), QlEvent::RingCanceled { ring_ms: Some(1017) });
    assert!(matches!(
        error("1|u|q|a|RINGNOANSWER|soon"),
        ErrorKind::BadNumber { event, field: 1, .. } if event == "RINGNOANSWER"
    ));
    assert_eq!(event("1|u|q|a|AGENTDUMP|"), QlEvent::AgentDump);
    assert_eq!(event("1|u|q|a|SYSCOMPAT|"), QlEvent::SysCompat);
    assert_eq!(event("1|NONE|NONE|NONE|QUEUESTART|"), QlEvent::QueueStart);
    assert_eq!(event("1|NONE|NONE|NONE|QUEUESTART"), QlEvent::QueueStart);
    assert_eq!(event("1|NONE|NONE|NONE|CONFIGRELOAD|"), QlEvent::ConfigReload);
}

#[test]
fn membership_and_pause() {
    assert_eq!(event("1|CLI|q|Local/1@a/n|ADDMEMBER|"), QlEvent::AddMember { paused: false });
    assert_eq!(event("1|MANAGER|q|Local/1@a/n|ADDMEMBER|PAUSED"), QlEvent::AddMember { paused: true });
    assert!(
        matches!(error("1|MANAGER|q|x|ADDMEMBER|maybe"), ErrorKind::BadValue { event, .. } if event == "ADDMEMBER")
    );
    assert_eq!(event("1|CLI|q|Local/1@a/n|REMOVEMEMBER|"), QlEvent::RemoveMember);
    assert_eq!(
        event("1|NONE|q|Bob|PAUSE|Break (10 min)|back|soon"),
        QlEvent::Pause { reason: c("Break (10 min)|back|soon") }
    );
    assert_eq!(event("1|NONE|q|Bob|UNPAUSE|"), QlEvent::Unpause { reason: c("") });
    assert_eq!(event("1|NONE|NONE|Bob|PAUSEALL|Lunch"), QlEvent::PauseAll { reason: c("Lunch") });
    assert_eq!(event("1|NONE|NONE|Bob|UNPAUSEALL|"), QlEvent::UnpauseAll { reason: c("") });
    assert_eq!(event("1|NONE|q|PJSIP/1|PENALTY|5"), QlEvent::Penalty { penalty: 5 });
    assert!(
        matches!(error("1|NONE|q|PJSIP/1|PENALTY|"), ErrorKind::BadNumber { event, .. } if event == "PENALTY")
    );
    assert_eq!(event("1|NONE|q|PJSIP/1|RINGINUSE|1"), QlEvent::RingInUse { enabled: true });
    assert_eq!(event("1|NONE|q|PJSIP/1|RINGINUSE|0"), QlEvent::RingInUse { enabled: false });
}

#[test]
fn agent_sessions_and_others() {
    assert_eq!(
        event("1795383326|1795383326.1|NONE|7001|AGENTLOGIN|Local/7001@agent-login-00000000;2"),
        QlEvent::AgentLogin { channel: c("Local/7001@agent-login-00000000;2") }
    );
    assert_eq!(
        event("1|u|NONE|7001|AGENTLOGOFF|Local/7001@agent-login-00000000;2|20"),
        QlEvent::AgentLogoff {
            channel: c("Local/7001@agent-login-00000000;2"),
            login_s: Some(20),
            reason: None
        }
    );
    assert_eq!(
        event("1|u|NONE|Agent/1|AGENTCALLBACKLOGIN|hint:1127@default"),
        QlEvent::AgentCallbackLogin { location: c("hint:1127@default") }
    );
    assert_eq!(
        event("1|u|NONE|Agent/1|AGENTCALLBACKLOGOFF|1127@default|3600|Autologoff"),
        QlEvent::AgentCallbackLogoff {
            location: c("1127@default"),
            login_s: Some(3600),
            reason: Some(c("Autologoff"))
        }
    );
    assert_eq!(
        event("1|u|q|Bob|OUTCALL|ANSWER|42|50|5551234"),
        QlEvent::OutCall { status: c("ANSWER"), talk_s: Some(42), params: c("50|5551234") }
    );
    assert_eq!(event("1|u|201|NONE|DID|+15556667775"), QlEvent::Did { did: c("+15556667775") });
    assert_eq!(
        event("1|NONE|support|Local/1004@agents/n|CUSTOMNOTE|hello from AMI|with a pipe"),
        QlEvent::Unknown { name: c("CUSTOMNOTE"), data: vec![c("hello from AMI"), c("with a pipe")] }
    );
    assert_eq!(event("1|NONE|q||HEARTBEAT|"), QlEvent::Unknown { name: c("HEARTBEAT"), data: vec![] });
}

#[test]
fn fixed_field_errors() {
    assert_eq!(error("garbage"), ErrorKind::TooFewFields { found: 1 });
    assert_eq!(error("1|u|q|a"), ErrorKind::TooFewFields { found: 4 });
    assert!(matches!(error("2024-05-02 10:11:12|u|q|a|PAUSE|"), ErrorKind::BadEpoch { .. }));
    assert_eq!(error("1|u|q|a||x"), ErrorKind::EmptyEvent);
    let message = error("x|u|q|a|PAUSE|").to_string();
    assert!(message.contains("bad epoch \"x\""), "{message}");
}

#[test]
fn latin1_text_is_decoded() {
    let record = parse_record(b"1|NONE|q|Jos\xe9 P\xe9rez|PAUSE|D\xe9jeuner")
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(record.agent, "José Pérez");
    assert_eq!(record.event, QlEvent::Pause { reason: Text::from_bytes(b"D\xe9jeuner") });
}

#[test]
fn framing() {
    let buf = b"\n\r\n1|NONE|NONE|NONE|QUEUESTART|\r\n2|NONE|NONE|NONE|CONFIG";
    let Ok(NextRecord::Complete { record, consumed, lines }) = parse_next(buf, false) else {
        panic!("first line")
    };
    assert_eq!((record.time, consumed, lines), (1, 33, 3));
    let rest = &buf[consumed..];
    assert_eq!(parse_next(rest, false), Ok(NextRecord::Incomplete));
    let Ok(NextRecord::Complete { record, consumed, lines }) = parse_next(rest, true) else {
        panic!("last line")
    };
    assert_eq!(
        (record.event, consumed, lines),
        (QlEvent::Unknown { name: c("CONFIG"), data: vec![] }, rest.len(), 1)
    );
    assert_eq!(parse_next(b"\n\n", false), Ok(NextRecord::Incomplete));
    assert_eq!(parse_next(b"\n\r\n", true), Ok(NextRecord::Incomplete));
    assert_eq!(parse_next(b"", false), Ok(NextRecord::Incomplete));
}

#[test]
fn refused_lines_are_framed_but_not_read() {
    let buf = b"\n5|u|q|a|ENTERQUEUE|x\xff\n6|NONE|q|a|PAUSE|lunch\n";
    let mut heads = Vec::new();
    let mut keep = |head: &Head<'_>| {
        heads.push((head.time, head.name.to_vec()));
        head.name == b"PAUSE"
    };
    // Bad data (one field for ENTERQUEUE, not UTF-8), but refused on its head: skipped, no error.
    let Ok(NextRecord::Complete { record: None, consumed, lines }) = parse_next_if(buf, false, &mut keep)
    else {
        panic!("first line refused")
    };
    assert_eq!((consumed, lines), (23, 2));
    let rest = &buf[consumed..];
    let kept = parse_next_if(rest, false, &mut keep);
    assert_eq!(
        kept,
        parse_next(rest, false).map(|parsed| match parsed {
            NextRecord::Complete { record, consumed, lines } =>
                NextRecord::Complete { record: Some(record), consumed, lines },
            NextRecord::Incomplete => NextRecord::Incomplete,
        })
    );
    assert_eq!(heads, [(5, b"ENTERQUEUE".to_vec()), (6, b"PAUSE".to_vec())]);
    // A line without a head is an error whatever `keep` says, with the same error as `parse_next`.
    for broken in [&b"7|u|q|a\n"[..], b"x|u|q|a|PAUSE|\n", b"8|u|q|a||\n"] {
        let refused = parse_next_if(broken, false, |_| false).map(|_| ());
        assert_eq!(refused, parse_next(broken, false).map(|_| ()), "{broken:?}");
        assert!(refused.is_err(), "{broken:?}");
    }
    assert_eq!(parse_next_if(b"9|u|q|a|X", false, |_| true), Ok(NextRecord::Incomplete));
}

#[test]
fn bad_line_is_skipped() {
    let buf = b"1|NONE|NONE|NONE|QUEUESTART|\nnot a line\n2|NONE|NONE|NONE|CONFIGRELOAD|\n";
    let items: Vec<_> = records(buf).collect();
    assert_eq!(items.len(), 3);
    assert!(items[0].is_ok() && items[2].is_ok());
    let Err(error) = &items[1] else { panic!("second line must fail") };
    assert_eq!((error.consumed, error.lines), (11, 1));
}

#[test]
fn long_lines_are_parsed() {
    let reason = "x|".repeat(10_000);
    let line = format!("1|NONE|q|Bob|PAUSE|{reason}\n");
    let Ok(NextRecord::Complete { record, consumed, .. }) = parse_next(line.as_bytes(), false) else {
        panic!("long line")
    };
    assert_eq!(consumed, line.len());
    assert_eq!(record.event, QlEvent::Pause { reason: c(&reason) });
}

#[test]
fn serializes_flat_json() {
    let json = |line: &str| {
        let record = parse_record(line.as_bytes()).unwrap_or_else(|error| panic!("{error}"));
        serde_json::to_string(&record).unwrap_or_else(|error| panic!("{error}"))
    };
    assert_eq!(
        json("1|u|q|Bob|RINGNOANSWER|15000"),
        r#"{"time":1,"callid":"u","queue":"q","agent":"Bob","event":"RINGNOANSWER","ring_ms":15000}"#
    );
    // The layouts several events share (`Left`, `Completed`, `ToExten`) are fields of the line, not objects.
    let head = r#"{"time":1,"callid":"u","queue":"q","agent":"a","event":"#;
    for (line, data) in [
        ("ABANDON|1|2|10", r#""ABANDON","position":1,"orig_position":2,"wait_s":10}"#),
        ("EXITWITHKEY|5|1|1|3", r#""EXITWITHKEY","key":"5","position":1,"orig_position":1,"wait_s":3}"#),
        ("WITHDRAW|1|1|3|x", r#""WITHDRAW","position":1,"orig_position":1,"wait_s":3,"info":"x"}"#),
        ("COMPLETEAGENT|4|30|1", r#""COMPLETEAGENT","hold_s":4,"talk_s":30,"orig_position":1}"#),
        (
            "TRANSFER|200|ctx|4|30",
            r#""TRANSFER","exten":"200","context":"ctx","hold_s":4,"talk_s":30,"orig_position":null}"#,
        ),
        (
            "ATTENDEDTRANSFER|APP|Dial|4|30|1",
            r#""ATTENDEDTRANSFER","method":"APP","target":"Dial","peer":null,"hold_s":4,"talk_s":30,"orig_position":1}"#,
        ),
    ] {
        assert_eq!(json(&format!("1|u|q|a|{line}")), format!("{head}{data}"), "{line}");
    }
}

/// What `parse_next` says line by line, feeding the rest of the buffer back: the reference for `records`.
fn line_by_line(mut buf: &[u8]) -> Vec<Result<Record<'_>, LineError>> {
    let mut items = Vec::new();
    loop {
        let (item, consumed) = match parse_next(buf, true) {
            Ok(NextRecord::Complete { record, consumed, .. }) => (Ok(record), consumed),
            Ok(NextRecord::Incomplete) => return items,
            Err(error) => {
                let consumed = error.consumed;
                (Err(error), consumed)
            }
        };
        items.push(item);
        buf = buf.get(consumed..).unwrap_or_default();
    }
}

#[test]
fn records_is_parse_next_line_by_line() {
    const LONG_LINE_BYTES: usize = 16 * 1024;
    fn push(buf: &mut Vec<u8>, text: &[u8]) {
        buf.extend_from_slice(text);
        buf.push(b'\n');
    }
    let mut buf = Vec::new();
    for n in 0..400 {
        push(&mut buf, format!("17953828{n:02}|17.{n}|support|Zo\u{eb} Ng|PAUSE|Caf\u{e9}|{n}").as_bytes());
        if n % 97 == 0 {
            push(&mut buf, b"1795382800|NONE|support|Jos\xe9 P\xe9rez|ADDMEMBER|");
            push(&mut buf, b"");
            push(&mut buf, b"1795382800|NONE|support|x|PENALTY|oops\r");
        }
    }
    // Long lines, with multi-byte characters.
    push(&mut buf, format!("1795382800|NONE|support|agent|PAUSE|{}\u{e9}\u{e9}", "a".repeat(500)).as_bytes());
    push(
        &mut buf,
        format!("1795382800|NONE|support|agent|PAUSE|{}\u{20ac}", "b".repeat(3 * LONG_LINE_BYTES)).as_bytes(),
    );
    buf.extend_from_slice("1795382800|NONE|support|Zo\u{eb}|UNPAUSE|".as_bytes());

    let expected = line_by_line(&buf);
    let got: Vec<_> = records(&buf).collect();
    assert_eq!(got.len(), expected.len());
    for (index, (got, expected)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(got, expected, "item {index}");
    }
    assert!(got.iter().filter(|item| item.is_err()).count() >= 4);
    let borrowed = |item: &Result<Record<'_>, LineError>| matches!(item, Ok(r) if r.agent.as_str().is_some());
    assert!(got.iter().filter(|item| borrowed(item)).count() > 400);
}
