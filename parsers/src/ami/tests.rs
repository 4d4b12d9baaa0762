//! Framing edge cases on hand-written bytes (the real captures are in parsers/tests/ami_corpus.rs).

use super::*;

fn one(buf: &[u8]) -> (Message<'_>, usize) {
    match parse_message(buf) {
        Ok(NextMessage::Complete { message, consumed }) => (message, consumed),
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Codec loop over `chunks`; returns message kinds/first values and error count.
fn run(chunks: &[&[u8]], mut decoder: AmiDecoder) -> (Vec<String>, usize) {
    let (mut buf, mut out, mut errors) = (Vec::new(), Vec::new(), 0);
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&buf) {
                Ok(NextMessage::Complete { message, consumed }) => {
                    out.push(format!("{:?}", message.fields.first().map(|f| f.value_str())));
                    buf.drain(..consumed);
                }
                Ok(NextMessage::Incomplete) => break,
                Err(err) => {
                    errors += 1;
                    buf.drain(..err.skip());
                }
            }
        }
    }
    (out, errors)
}

#[test]
fn fields_values_and_lookup() {
    let raw = b"Event: QueueMemberPause\r\nPrivilege: agent,all\r\nPausedReason: \r\nReason:\r\n\
                Message:   a: b\r\nOutput: x\r\noutput: y\r\n\r\nrest";
    let (msg, consumed) = one(raw);
    assert_eq!(consumed, raw.len() - 4);
    assert_eq!(msg.kind, MessageKind::Event { name: b"QueueMemberPause" });
    assert_eq!(msg.get("pausedreason").as_deref(), Some(""));
    assert_eq!(msg.get("REASON").as_deref(), Some(""));
    assert_eq!(msg.get("Message").as_deref(), Some("a: b"));
    assert_eq!(msg.get_all("OUTPUT").collect::<Vec<_>>(), ["x", "y"]);
    assert!(msg.is_event("queuememberpause"));
    assert_eq!(msg.get("Missing"), None);
}

#[test]
fn lf_only_and_latin1() {
    let (msg, _) = one(b"Response: Success\nMessage: Jos\xe9\n\n");
    assert_eq!(msg.get("message").as_deref(), Some("Jos\u{e9}"));
}

#[test]
fn line_without_colon_is_kept_as_key() {
    let (msg, _) = one(b"Event: Join\r\nCallerIDName: first\r\nsecond half\r\nQueue: q\r\n\r\n");
    assert_eq!(msg.fields[2], Field { key: b"second half", value: b"" });
    assert_eq!(msg.get("Queue").as_deref(), Some("q"));
}

#[test]
fn every_prefix_is_incomplete() {
    let raw = b"\r\nAction: Ping\r\nActionID: 1\r\n\r\n";
    for end in 0..raw.len() {
        assert_eq!(parse_message(&raw[..end]), Ok(NextMessage::Incomplete), "prefix {end}");
    }
    assert_eq!(one(raw).1, raw.len(), "leading empty line belongs to the message");
}

#[test]
fn banner_only_at_stream_start() {
    let raw: &[u8] = b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\n\r\n";
    for split in 0..=raw.len() {
        let (got, errors) = run(&[&raw[..split], &raw[split..]], AmiDecoder::new());
        assert_eq!((got.len(), errors), (2, 0), "split {split}");
    }
    let mut decoder = AmiDecoder::new();
    let Ok(NextMessage::Complete { message, .. }) = decoder.decode(raw) else { panic!("banner") };
    assert_eq!(message.kind, MessageKind::Banner { version: b"11.0.0" });
    // Without a banner the first message is read as usual.
    let (got, errors) = run(&[b"Event: FullyBooted\r\n\r\n"], AmiDecoder::new());
    assert_eq!((got.len(), errors), (1, 0));
    // A banner-looking line later in the stream is an error, not a banner.
    let (_, errors) =
        run(&[b"Response: Success\r\n\r\nAsterisk Call Manager/1.1\r\n\r\n"], AmiDecoder::new());
    assert_eq!(errors, 1);
}

#[test]
fn follows_runs_to_end_command() {
    let raw: &[u8] = b"Response: Follows\r\nPrivilege: Command\r\nActionID: 7\r\nline: one\n\nthree\n\
                      --END COMMAND--\r\n\r\nEvent: Next\r\n\r\n";
    let (msg, consumed) = one(raw);
    assert_eq!(msg.kind, MessageKind::Follows { body: b"line: one\n\nthree\n" });
    assert_eq!(msg.action_id().as_deref(), Some("7"));
    assert_eq!(&raw[consumed..], b"Event: Next\r\n\r\n");
    let glued = b"Response: Follows\r\nPrivilege: Command\r\nno newline--END COMMAND--\n\n";
    assert_eq!(one(glued).0.kind, MessageKind::Follows { body: b"no newline" });
    for end in 0..glued.len() {
        assert_eq!(parse_message(&glued[..end]), Ok(NextMessage::Incomplete), "prefix {end}");
    }
}

#[test]
fn unknown_first_line_is_skipped() {
    let raw = b"Bogus: 1\r\nX: y\r\n\r\nEvent: Ok\r\n\r\n";
    let err = parse_message(raw).expect_err("unknown kind");
    assert_eq!(err.skip(), 18);
    assert_eq!(run(&[raw], AmiDecoder::new()), (vec!["Some(\"Ok\")".to_owned()], 1));
}

#[test]
fn oversized_message_is_reported_once_and_skipped() {
    let limits = Limits { max_message_bytes: 64, max_lines: 100 };
    let big: Vec<u8> =
        [&b"Event: Big\r\n"[..], &b"ChanVariable: x=0123456789\r\n".repeat(20), b"\r\n"].concat();
    let stream = [&big[..], b"Event: Small\r\n\r\n"].concat();
    for split in 0..=stream.len() {
        let (got, errors) = run(&[&stream[..split], &stream[split..]], AmiDecoder::with_limits(limits));
        assert_eq!(got, ["Some(\"Small\")"], "split {split}");
        assert!(errors >= 1, "split {split}");
    }
    // Whole message buffered: one error that drops exactly the message.
    let err = parse_message_with(&stream, &limits).expect_err("too large");
    assert!(matches!(err, FrameError::TooLarge { complete: true, .. }));
    assert_eq!(err.skip(), big.len());
}

#[test]
fn runaway_line_without_newline_keeps_memory_bounded() {
    let limits = Limits { max_message_bytes: 64, max_lines: 100 };
    let mut decoder = AmiDecoder::with_limits(limits);
    let junk = vec![b'A'; 200];
    let err = decoder.decode(&junk).expect_err("too large");
    assert_eq!(err.skip(), 200);
    // Still inside the same line: dropped quietly until another limit's worth arrives, then the end is found.
    assert_eq!(decoder.decode(b"AAAA\r\nmore\r\n"), Ok(NextMessage::Incomplete));
    let Ok(NextMessage::Complete { message, consumed }) =
        decoder.decode(b"AAAA\r\nmore\r\n\r\nEvent: E\r\n\r\n")
    else {
        panic!("resynchronised message")
    };
    assert!(message.is_event("E"));
    assert_eq!(consumed, 26);
}

#[test]
fn too_many_lines() {
    let limits = Limits { max_message_bytes: 1 << 20, max_lines: 3 };
    let raw = b"Event: E\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n";
    let err = parse_message_with(raw, &limits).expect_err("too many lines");
    assert!(matches!(err, FrameError::TooLarge { what: Limit::Lines, complete: true, .. }));
    assert_eq!(err.skip(), raw.len());
}

#[test]
fn skip_message_finds_next_empty_line() {
    assert_eq!(skip_message(b"a: b\r\nc\r\n\r\nEvent"), Some(11));
    assert_eq!(skip_message(b"a: b\r\n"), None);
}
