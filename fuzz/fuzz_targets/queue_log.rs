//! Arbitrary bytes through the streaming queue_log API, fed in two pieces the way a file tail sees them.
//! Must never panic, every step must make progress within the buffer, and the split must not change the
//! result compared with parsing the whole input at once. The reader that decides on each line's head
//! (`parse_next_if`) must frame the same lines, give the same record for a line it keeps, and differ from
//! `parse_next` only by skipping a line it refuses.

#![no_main]

use libfuzzer_sys::fuzz_target;
use parsers::queue_log::{Head, NextRecord, parse_next, parse_next_if, records};

/// Consumes every complete line of `buf` (all of it when `at_eof`); returns bytes done and a summary of
/// each item (event name or error text).
fn drain(buf: &[u8], at_eof: bool, out: &mut Vec<String>) -> usize {
    let mut start = 0;
    loop {
        let rest = &buf[start..];
        let step = parse_next(rest, at_eof);
        let (summary, consumed) = match step {
            Ok(NextRecord::Incomplete) => return start,
            Ok(NextRecord::Complete { record, consumed, lines }) => {
                assert!(lines >= 1);
                (format!("{record:?}"), consumed)
            }
            Err(error) => {
                assert!(error.lines >= 1);
                (error.to_string(), error.consumed)
            }
        };
        assert!(consumed > 0, "no progress");
        assert!(consumed <= rest.len(), "consumed past the end");
        out.push(summary);
        start += consumed;
    }
}

/// Every line of `buf` as `parse_next_if` sees it, keeping the heads `keep` accepts; refused lines are
/// summarized as `skipped`.
fn drain_if(buf: &[u8], keep: impl Fn(&Head<'_>) -> bool, out: &mut Vec<String>) {
    let mut start = 0;
    loop {
        let rest = &buf[start..];
        let (summary, consumed) = match parse_next_if(rest, true, &keep) {
            Ok(NextRecord::Incomplete) => return,
            Ok(NextRecord::Complete { record: Some(record), consumed, .. }) => (format!("{record:?}"), consumed),
            Ok(NextRecord::Complete { record: None, consumed, .. }) => ("skipped".to_owned(), consumed),
            Err(error) => (error.to_string(), error.consumed),
        };
        assert!(consumed > 0 && consumed <= rest.len(), "progress within the buffer");
        out.push(summary);
        start += consumed;
    }
}

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |&byte| usize::from(byte)) % (data.len() + 1);
    let mut pending = data[..split].to_vec();
    let mut streamed = Vec::new();
    let done = drain(&pending, false, &mut streamed);
    pending.drain(..done);
    pending.extend_from_slice(&data[split..]);
    let done = drain(&pending, false, &mut streamed);
    pending.drain(..done);
    let done = drain(&pending, true, &mut streamed);
    assert!(pending[done..].iter().all(|&byte| byte == b'\n' || byte == b'\r'));

    let whole: Vec<String> = records(data)
        .map(|item| match item {
            Ok(record) => format!("{record:?}"),
            Err(error) => error.to_string(),
        })
        .collect();
    assert_eq!(streamed, whole);

    let mut all = Vec::new();
    drain_if(data, |_| true, &mut all);
    assert_eq!(all, whole, "keeping every head is parse_next");
    let refuse_odd = |head: &Head<'_>| head.time % 2 == 0 && head.name.first().is_none_or(|b| b % 2 == 0);
    let mut some = Vec::new();
    drain_if(data, refuse_odd, &mut some);
    assert_eq!(some.len(), whole.len(), "the same lines framed");
    for (got, full) in some.iter().zip(&whole) {
        assert!(got == full || got == "skipped", "{got} vs {full}");
    }
});
