//! Arbitrary bytes through the AMI streaming decoder, whole and split at a fuzzer-chosen point.
//! Properties: never panics; every answer makes progress (`consumed`/`skip` in 1..=buffer length);
//! with default limits and no error, the two-chunk decode gives exactly the one-shot messages; the typed
//! event layer accepts whatever the framer produced.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parsers::ami::events::parse_event;
use parsers::ami::{AmiDecoder, Limits, Message, NextMessage};

/// Small limits so the oversized-message and resync paths are reachable with short inputs.
const SMALL_LIMITS: Limits = Limits { max_message_bytes: 96, max_lines: 6 };

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else { return };
    let split = if input.is_empty() { 0 } else { usize::from(control) * input.len() / 255 };
    let whole = decode(&[input], AmiDecoder::new());
    let (first, second) = input.split_at(split.min(input.len()));
    let chunked = decode(&[first, second], AmiDecoder::new());
    if whole.1 == 0 && chunked.1 == 0 {
        assert_eq!(whole.0, chunked.0, "split at {split} changed the messages");
    }
    decode(&[first, second], AmiDecoder::with_limits(SMALL_LIMITS));
    decode(&[input], AmiDecoder::new().without_banner());
});

/// Codec loop over `chunks`; returns the messages (debug-printed, to compare across buffers) and the
/// number of errors.
fn decode(chunks: &[&[u8]], mut decoder: AmiDecoder) -> (Vec<String>, usize) {
    let mut buf: Vec<u8> = Vec::new();
    let mut messages = Vec::new();
    let mut errors = 0;
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&buf) {
                Ok(NextMessage::Complete { message, consumed }) => {
                    assert!(consumed >= 1 && consumed <= buf.len(), "consumed {consumed} of {}", buf.len());
                    messages.push(touch(&message));
                    buf.drain(..consumed);
                }
                Ok(NextMessage::Incomplete) => break,
                Err(err) => {
                    let skip = err.skip();
                    assert!(skip >= 1 && skip <= buf.len(), "skip {skip} of {}", buf.len());
                    let _ = err.to_string();
                    errors += 1;
                    buf.drain(..skip);
                }
            }
        }
    }
    (messages, errors)
}

fn touch(message: &Message<'_>) -> String {
    let _ = parse_event(message);
    let _ = message.get("Queue");
    format!("{:?}", message)
}
