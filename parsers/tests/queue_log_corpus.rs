//! queue_log parser against real files: the Asterisk 22 captures and the third-party files must parse with
//! zero errors, however the bytes are chunked, with LF or CRLF endings, and around garbage lines.

use parsers::queue_log::{LineError, NextRecord, Record, parse_next, records};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn fixture_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let mut files = Vec::new();
    for group in ["asterisk-22", "third-party"] {
        let dir = root.join(group);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display()));
        for entry in entries {
            let path = entry.unwrap_or_else(|error| panic!("{error}")).path().join("queue_log");
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// All fixture files back to back: a valid file with every scenario's events.
fn corpus() -> Vec<u8> {
    fixture_files().iter().flat_map(|path| read(path)).collect()
}

/// Records as JSON text (owned, comparable), errors as their message.
fn whole(buf: &[u8]) -> Vec<Result<String, String>> {
    records(buf).map(render).collect()
}

fn render(item: Result<Record<'_>, LineError>) -> Result<String, String> {
    match item {
        Ok(record) => Ok(serde_json::to_string(&record).unwrap_or_else(|error| panic!("{error}"))),
        Err(error) => Err(error.to_string()),
    }
}

/// Feeds `buf` in pieces cut at `cuts`, the way a file tail receives it, then flushes at end of input.
fn incremental(buf: &[u8], cuts: &[usize]) -> Vec<Result<String, String>> {
    let mut pending: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut fed = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|&cut| cut.min(buf.len())).collect();
    bounds.sort_unstable();
    bounds.push(buf.len());
    for bound in bounds {
        pending.extend_from_slice(&buf[fed..bound]);
        fed = bound;
        drain(&mut pending, &mut out, false);
    }
    drain(&mut pending, &mut out, true);
    assert!(pending.iter().all(|&byte| byte == b'\n' || byte == b'\r'));
    out
}

fn drain(pending: &mut Vec<u8>, out: &mut Vec<Result<String, String>>, at_eof: bool) {
    loop {
        let (item, consumed) = match parse_next(pending, at_eof) {
            Ok(NextRecord::Incomplete) => return,
            Ok(NextRecord::Complete { record, consumed, .. }) => (render(Ok(record)), consumed),
            Err(error) => {
                let consumed = error.consumed;
                (render(Err(error)), consumed)
            }
        };
        assert!(consumed > 0 && consumed <= pending.len());
        out.push(item);
        pending.drain(..consumed);
    }
}

fn crlf(buf: &[u8]) -> Vec<u8> {
    buf.iter().flat_map(|&byte| if byte == b'\n' { vec![b'\r', b'\n'] } else { vec![byte] }).collect()
}

#[test]
fn every_fixture_parses_without_errors() {
    let files = fixture_files();
    assert!(files.len() >= 8, "fixtures missing: {files:?}");
    for path in files {
        let buf = read(&path);
        let lines = buf.split(|&byte| byte == b'\n').filter(|line| !line.is_empty()).count();
        let parsed = whole(&buf);
        let errors: Vec<_> = parsed.iter().filter_map(|item| item.as_ref().err()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        assert_eq!(parsed.len(), lines, "{}", path.display());
    }
}

#[test]
fn crlf_gives_the_same_records() {
    let buf = corpus();
    assert_eq!(whole(&crlf(&buf)), whole(&buf));
    assert_eq!(incremental(&crlf(&buf), &[7, 500, 501]), whole(&buf));
}

#[test]
fn garbage_line_costs_exactly_one_error() {
    let buf = corpus();
    let good = whole(&buf);
    let middle = buf.iter().take(buf.len() / 2).rposition(|&byte| byte == b'\n').map_or(0, |at| at + 1);
    let mut spoiled = buf[..middle].to_vec();
    spoiled.extend_from_slice(b"\xff\xfe garbage | not | a queue_log line\n");
    spoiled.extend_from_slice(&buf[middle..]);
    let parsed = whole(&spoiled);
    let errors = parsed.iter().filter(|item| item.is_err()).count();
    assert_eq!(errors, 1);
    let rest: Vec<_> = parsed.into_iter().filter(|item| item.is_ok()).collect();
    assert_eq!(rest, good);
}

#[test]
fn last_line_without_newline_waits_then_parses_at_end() {
    let buf = b"1795382851|NONE|NONE|NONE|QUEUESTART|\n1795382851|CLI|support|Local/1001@agents/n|ADDMEMBER|";
    let Ok(NextRecord::Complete { consumed, .. }) = parse_next(buf, false) else { panic!("first line") };
    assert_eq!(parse_next(&buf[consumed..], false), Ok(NextRecord::Incomplete));
    assert_eq!(whole(buf).len(), 2);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_split_gives_identical_records(cuts in proptest::collection::vec(0usize..12_000, 0..6), use_crlf: bool) {
        let buf = corpus();
        let input = if use_crlf { crlf(&buf) } else { buf.clone() };
        let cuts: Vec<usize> = cuts.into_iter().map(|cut| cut % (input.len() + 1)).collect();
        prop_assert_eq!(incremental(&input, &cuts), whole(&buf));
    }

    #[test]
    fn arbitrary_bytes_never_stall(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut rest = &bytes[..];
        while let Some(consumed) = match parse_next(rest, true) {
            Ok(NextRecord::Complete { consumed, .. }) => Some(consumed),
            Err(error) => Some(error.consumed),
            Ok(NextRecord::Incomplete) => None,
        } {
            prop_assert!(consumed > 0 && consumed <= rest.len());
            rest = &rest[consumed..];
        }
    }
}
