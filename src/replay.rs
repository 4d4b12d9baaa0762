//! One-shot replay: a queue_log file and optionally one AMI capture → one engine at the end of the inputs.
//!
//! Both feeds are decoded to engine events, merged by time (stable; queue_log first on equal times, because
//! its whole-second stamps are earlier than AMI's receive times for the same fact) and applied to one
//! `Engine`, followed by one `Tick` at the end time so that wrap-ups that ran out are closed. Bad lines and
//! messages are skipped and counted, as the daemon does.

use crate::config::queues_conf::StaticMember;
use crate::engine::{Engine, EngineConfig, Event, EventKind, MemberRef, Source, TsMs};
use crate::normalize;
use crate::normalize::ami::AmiNormalizer;
use parsers::ami::{AmiDecoder, Message, Parsed};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
}

/// What was replayed.
#[derive(Debug)]
pub struct Replayed {
    pub engine: Engine,
    pub queue_log_events: usize,
    pub ami_events: usize,
    /// queue_log lines that could not be parsed (skipped).
    pub bad_lines: usize,
    /// AMI bytes runs that could not be decoded as messages (skipped).
    pub bad_messages: usize,
    /// Time of the final `Tick`.
    pub end_ms: Option<TsMs>,
}

/// Inputs of a replay.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub queue_log: PathBuf,
    /// Raw bytes Asterisk sent on one AMI connection; `<stem>.sent` and `<stem>.chunks.tsv` beside it are
    /// used when present (the client's actions, for QueueStatus scopes; per-chunk receive times).
    pub ami_capture: Option<PathBuf>,
    /// Static members (queues.conf), present from the start: queue_log never writes a line for them.
    pub static_members: Vec<StaticMember>,
    /// Final `Tick` time; default the last input time.
    pub until_ms: Option<TsMs>,
}

fn read(path: &Path) -> Result<Vec<u8>, ReplayError> {
    std::fs::read(path).map_err(|source| ReplayError::Read { path: path.to_owned(), source })
}

/// A sibling file `<stem>.<ext>` of `path` (`ami.raw` → `ami.sent`), if it exists.
fn sibling(path: &Path, ext: &str) -> Option<PathBuf> {
    let stem = path.file_stem()?.to_str()?;
    let candidate = path.with_file_name(format!("{stem}.{ext}"));
    candidate.is_file().then_some(candidate)
}

/// Reads, decodes, merges and applies the inputs.
pub fn replay(config: EngineConfig, inputs: &Inputs) -> Result<Replayed, ReplayError> {
    let (ql, bad_lines) = queue_log_events(&read(&inputs.queue_log)?);
    let (ami, bad_messages) = match &inputs.ami_capture {
        Some(path) => {
            let raw = read(path)?;
            let sent = sibling(path, "sent").map(|p| read(&p)).transpose()?;
            let chunks = sibling(path, "chunks.tsv").map(|p| read(&p)).transpose()?;
            let chunks = chunks.map(|c| String::from_utf8_lossy(&c).into_owned());
            ami_events(&raw, sent.as_deref(), chunks.as_deref())
        }
        None => (Vec::new(), 0),
    };
    let (queue_log_events, ami_events) = (ql.len(), ami.len());
    let mut events = merge(ql, ami);
    if let Some(first) = events.first().map(|e| e.ts_ms) {
        let statics = static_member_events(&inputs.static_members, first);
        events.splice(0..0, statics);
    }
    let mut engine = Engine::new(config);
    let end_ms = apply_all(&mut engine, &events, inputs.until_ms);
    Ok(Replayed { engine, queue_log_events, ami_events, bad_lines, bad_messages, end_ms })
}

/// Applies the events in order, then one `Tick` at `until` (or the last event time). Returns the tick time.
pub fn apply_all(engine: &mut Engine, events: &[Event], until: Option<TsMs>) -> Option<TsMs> {
    for event in events {
        engine.apply(event);
    }
    let end = until.or_else(|| events.iter().map(|e| e.ts_ms).max())?;
    engine.apply(&Event { ts_ms: end, source: Source::Clock, kind: EventKind::Tick });
    Some(end)
}

/// Every event of a whole queue_log file, and the number of bad lines skipped.
pub fn queue_log_events(bytes: &[u8]) -> (Vec<Event>, usize) {
    let mut events = Vec::new();
    let mut bad = 0;
    for record in parsers::queue_log::records(bytes) {
        match record {
            Ok(record) => events.extend(normalize::queue_log::events(&record)),
            Err(_) => bad += 1,
        }
    }
    (events, bad)
}

/// Members present from the start (queues.conf static members, astdb persistent members) as `MemberAdded`
/// at `ts`: they exist since Asterisk loaded them, and later queue_log lines about them win.
pub fn static_member_events(members: &[StaticMember], ts: TsMs) -> Vec<Event> {
    members
        .iter()
        .map(|m| Event {
            ts_ms: ts,
            source: Source::Clock,
            kind: EventKind::MemberAdded {
                queue: m.queue.clone(),
                member: MemberRef { interface: Some(m.interface.clone()), name: m.name.clone() },
                paused: m.paused,
                pause_reason: m.pause_reason.clone(),
                penalty: Some(m.penalty),
                device: None,
                in_call: None,
                wrapup_s: None,
                membership: Some(if m.dynamic { "dynamic" } else { "static" }.into()),
            },
        })
        .collect()
}

/// Merges two time-ordered feeds by time; stable, `first` wins ties.
pub fn merge(first: Vec<Event>, second: Vec<Event>) -> Vec<Event> {
    let mut out = Vec::with_capacity(first.len() + second.len());
    let mut a = first.into_iter().peekable();
    let mut b = second.into_iter().peekable();
    loop {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.ts_ms <= y.ts_ms,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_a { a.next() } else { b.next() };
        out.extend(next);
    }
    out
}

/// Per-chunk receive times of a capture (`time<TAB>recv|sent<TAB>offset<TAB>length`, time in epoch seconds
/// with µs): (end offset of the chunk in the received bytes, ms).
pub fn receive_times(chunks_tsv: &str) -> Vec<(usize, TsMs)> {
    chunks_tsv
        .lines()
        .filter_map(|line| {
            let mut cols = line.split('\t');
            let time: f64 = cols.next()?.trim().parse().ok()?;
            if cols.next()? != "recv" {
                return None;
            }
            let offset: usize = cols.next()?.trim().parse().ok()?;
            let len: usize = cols.next()?.trim().parse().ok()?;
            Some((offset + len, (time * 1000.0).round() as TsMs))
        })
        .collect()
}

/// Receive time of the message whose last byte is at `end - 1`: the chunk that brought that byte.
pub fn time_at(times: &[(usize, TsMs)], end: usize) -> Option<TsMs> {
    let i = times.partition_point(|(chunk_end, _)| *chunk_end < end);
    times.get(i).or(times.last()).map(|(_, ts)| *ts)
}

/// Every engine event of one AMI capture, and the number of undecodable messages skipped. Messages are
/// stamped with the receive time of the chunk that completed them (`chunks_tsv`); without it, only events
/// with a `Timestamp:` header have a time, and the others take the time of the event before them.
pub fn ami_events(raw: &[u8], sent: Option<&[u8]>, chunks_tsv: Option<&str>) -> (Vec<Event>, usize) {
    let mut normalizer = AmiNormalizer::new();
    if let Some(sent) = sent {
        decode_all(sent, AmiDecoder::new().without_banner(), |msg, _| normalizer.observe_sent(msg));
    }
    let times = chunks_tsv.map(receive_times).unwrap_or_default();
    let mut events: Vec<Event> = Vec::new();
    let mut bad = 0;
    let mut last_ts: TsMs = 0;
    bad += decode_all(raw, AmiDecoder::new(), |msg, end| {
        let ts = time_at(&times, end).unwrap_or(last_ts);
        match normalizer.push_checked(msg, ts) {
            Ok(new) => {
                last_ts = new.last().map_or(ts, |e| e.ts_ms);
                events.extend(new);
            }
            Err(_) => bad += 1,
        }
    });
    (events, bad)
}

/// Decodes every message of a complete capture; `each` gets the message and the offset just past it.
/// Returns how many undecodable byte runs were skipped.
fn decode_all(bytes: &[u8], mut decoder: AmiDecoder, mut each: impl FnMut(&Message<'_>, usize)) -> usize {
    let mut at = 0usize;
    let mut bad = 0;
    while let Some(rest) = bytes.get(at..).filter(|r| !r.is_empty()) {
        match decoder.decode(rest) {
            Ok(Parsed::Complete { message, consumed }) => {
                at += consumed.max(1);
                each(&message, at);
            }
            Ok(Parsed::Incomplete) => break,
            Err(err) => {
                bad += 1;
                at += err.skip().max(1);
            }
        }
    }
    bad
}
