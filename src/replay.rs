//! One-shot replay: queue_log files and AMI captures → one engine at the end of the inputs.
//!
//! Everything streams: the queue_log files are read in order through the tail's reader and decoder, the AMI
//! captures chunk by chunk (`ami_feed`), and the two are merged by time as they go (stable; queue_log first
//! on equal times, because its whole-second stamps are earlier than AMI's receive times for the same fact)
//! into one `Engine`, followed by one `Tick` at the end time so that wrap-ups that ran out are closed. Memory
//! is one read buffer per feed and the engine's state, whatever the size of the inputs. Days before the one
//! the inputs end in keep only membership and pause (`sources::tail::history`), as the daemon's start-up.
//! Bad lines and messages are skipped and counted, as the daemon does.

mod ami_feed;

use crate::engine::{Engine, Event, EventKind, PbxSetup, Source, TsMs};
use crate::normalize::static_members::{StaticMember, static_member_events};
use crate::sources::tail::batch::MAX_EVENTS_PER_BATCH;
use crate::sources::tail::decode::Decoder;
use crate::sources::tail::follow::{self, Line, LineSink};
use crate::sources::tail::history::History;
use crate::sources::tail::startup;
pub use ami_feed::{Capture, Feed};
use parsers::ami::{AmiDecoder, Message, NextMessage};
use parsers::queue_log::Head;
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
    /// queue_log events applied (after the history filter).
    pub queue_log_events: usize,
    /// AMI events applied (after the history filter).
    pub ami_events: usize,
    /// queue_log lines that could not be parsed (skipped).
    pub bad_lines: usize,
    /// AMI bytes runs that could not be decoded as messages, and known events missing a field (skipped).
    pub bad_messages: usize,
    /// Time of the final `Tick`.
    pub end_ms: Option<TsMs>,
}

/// Inputs of a replay.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// queue_log files in reading order: rotated ones first, then the current one.
    pub queue_logs: Vec<PathBuf>,
    /// Raw bytes Asterisk sent, one file per AMI connection, in order; `<stem>.sent` and
    /// `<stem>.chunks.tsv` beside each are used when present (the client's actions, for QueueStatus scopes;
    /// per-chunk receive times).
    pub ami_captures: Vec<PathBuf>,
    /// Static members (queues.conf), present from the start: queue_log never writes a line for them.
    pub static_members: Vec<StaticMember>,
    /// Final `Tick` time; default the last input time.
    pub until_ms: Option<TsMs>,
}

impl Inputs {
    /// One queue_log file.
    pub fn queue_log(path: impl Into<PathBuf>) -> Self {
        Self { queue_logs: vec![path.into()], ..Self::default() }
    }

    /// One more AMI capture (the next connection).
    pub fn with_ami_capture(mut self, path: impl Into<PathBuf>) -> Self {
        self.ami_captures.push(path.into());
        self
    }
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

/// queue_log batches read ahead of the merge: the reading and parsing run on their own thread, as in the
/// daemon, and wait when this many batches are queued.
const QUEUE_LOG_BATCHES_IN_FLIGHT: usize = 16;

/// Reads, decodes, merges and applies the inputs, streaming.
pub fn replay(config: PbxSetup, inputs: &Inputs) -> Result<Replayed, ReplayError> {
    let history = history_for(&config, inputs);
    let mut run = Run {
        engine: Engine::new(config),
        statics: Some(&inputs.static_members),
        ami: Feed::open(&inputs.ami_captures),
        history,
        until_ms: inputs.until_ms,
        queue_log_events: 0,
        ami_events: 0,
        last_ms: None,
    };
    let bad_lines = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_LOG_BATCHES_IN_FLIGHT);
        let (back_tx, back_rx) = std::sync::mpsc::sync_channel(QUEUE_LOG_BATCHES_IN_FLIGHT + 2);
        let batches = Batches {
            tx,
            back: back_rx,
            decoder: Decoder::default(),
            history,
            batch: Vec::with_capacity(MAX_EVENTS_PER_BATCH),
            stopped: false,
        };
        let reader = scope.spawn(move || read_queue_logs(&inputs.queue_logs, batches));
        // Applied in place (no event is moved out of a batch), then handed back to be emptied and reused.
        let applied = rx.iter().try_for_each(|batch| {
            let applied = batch.iter().try_for_each(|event| run.queue_log_event(event));
            let _ = back_tx.try_send(batch);
            applied
        });
        // On an error the receiver is dropped first, so the reader stops at its next batch.
        drop(rx);
        let bad_lines = reader.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        applied.map(|()| bad_lines)
    })?;
    run.rest_of_ami()?;
    let end_ms = inputs.until_ms.or(run.last_ms);
    if let Some(end) = end_ms {
        run.engine.apply(&Event { ts_ms: end, source: Source::Clock, actor: None, kind: EventKind::Tick });
    }
    Ok(Replayed {
        bad_messages: run.ami.bad(),
        engine: run.engine,
        queue_log_events: run.queue_log_events,
        ami_events: run.ami_events,
        bad_lines,
        end_ms,
    })
}

/// The reader's end of the two channels, as the follower's sink: lines `history` refuses on their head
/// are skipped unparsed, kept events fill batches that go to the merge, and applied batches come back. The
/// events are dropped where their strings were allocated: glibc frees another thread's blocks slowly (its
/// arena's lock, none of them reused from this thread's cache), and the reader reuses the vector's capacity.
struct Batches {
    tx: std::sync::mpsc::SyncSender<Vec<Event>>,
    back: std::sync::mpsc::Receiver<Vec<Event>>,
    decoder: Decoder,
    history: History,
    batch: Vec<Event>,
    /// The merge is gone (it failed): nothing more is decoded.
    stopped: bool,
}

impl Batches {
    /// An empty batch: an applied one emptied, or a new one.
    fn fresh(&self) -> Vec<Event> {
        match self.back.try_recv() {
            Ok(mut batch) => {
                batch.clear();
                batch
            }
            Err(_) => Vec::with_capacity(MAX_EVENTS_PER_BATCH),
        }
    }
}

impl LineSink for Batches {
    fn wants(&mut self, head: &Head<'_>) -> bool {
        !self.stopped && self.history.keeps_head(head)
    }

    fn line(&mut self, line: Line<'_>) {
        if self.stopped {
            return;
        }
        self.decoder.decode_kept(line, self.history, &mut self.batch);
        if self.batch.len() >= MAX_EVENTS_PER_BATCH {
            let fresh = self.fresh();
            let full = std::mem::replace(&mut self.batch, fresh);
            self.stopped = self.tx.send(full).is_err();
        }
    }
}

/// The queue_log files in order → batches of the events `history` keeps; returns the bad lines skipped.
/// Each file is read as the daemon's tail reads a complete file (`follow::read_to_end`), so an earlier
/// day's call line is dropped on its head there too.
fn read_queue_logs(paths: &[PathBuf], mut batches: Batches) -> Result<usize, ReplayError> {
    for path in paths {
        let failed = |source| ReplayError::Read { path: path.to_owned(), source };
        let file = std::fs::File::open(path).map_err(failed)?;
        follow::read_to_end(file, 0, &mut batches).map_err(failed)?;
        if batches.stopped {
            break;
        }
    }
    if !batches.batch.is_empty() && !batches.stopped {
        let _ = batches.tx.send(std::mem::take(&mut batches.batch));
    }
    Ok(batches.decoder.bad_lines as usize)
}

/// The day the inputs end in (`until`, else the last line of the last queue_log) decides which earlier
/// events keep only membership and pause; without either, everything is kept.
fn history_for(config: &PbxSetup, inputs: &Inputs) -> History {
    let end_s = inputs
        .until_ms
        .map(|ms| ms.div_euclid(1000))
        .or_else(|| inputs.queue_logs.iter().rev().find_map(|path| startup::last_epoch(path).ok().flatten()));
    let Some(end) = end_s.and_then(|s| jiff::Timestamp::from_second(s).ok()) else {
        return History::everything();
    };
    History::from_day_start(startup::day_start_epoch(end, &config.tz, config.day_starts_at))
}

/// The merge in progress.
struct Run<'a> {
    engine: Engine,
    /// Applied at the time of the first event, then None.
    statics: Option<&'a [StaticMember]>,
    ami: Feed,
    history: History,
    /// Events after this time are not applied (`--until`).
    until_ms: Option<TsMs>,
    queue_log_events: usize,
    ami_events: usize,
    last_ms: Option<TsMs>,
}

impl Run<'_> {
    fn queue_log_event(&mut self, event: &Event) -> Result<(), ReplayError> {
        if !self.history.keeps(event) {
            return Ok(());
        }
        while let Some(ami) = self.ami.peek()? {
            if ami.ts_ms >= event.ts_ms {
                break;
            }
            if let Some(ami) = self.ami.next_event()? {
                self.ami_event(ami);
            }
        }
        if self.apply(event) {
            self.queue_log_events += 1;
        }
        Ok(())
    }

    fn rest_of_ami(&mut self) -> Result<(), ReplayError> {
        while let Some(event) = self.ami.next_event()? {
            self.ami_event(event);
        }
        Ok(())
    }

    fn ami_event(&mut self, event: Event) {
        if self.history.keeps(&event) && self.apply(&event) {
            self.ami_events += 1;
        }
    }

    /// Applies `event` unless it happened after `until` (the moment the state is wanted at: a daemon
    /// running then would not have seen it yet). Says whether it was applied.
    fn apply(&mut self, event: &Event) -> bool {
        if self.until_ms.is_some_and(|until| event.ts_ms > until) {
            return false;
        }
        if let Some(statics) = self.statics.take() {
            for added in static_member_events(statics, event.ts_ms) {
                self.engine.apply(&added);
            }
        }
        self.engine.apply(event);
        self.last_ms = Some(self.last_ms.map_or(event.ts_ms, |last| last.max(event.ts_ms)));
        true
    }
}

/// Applies the events in order, then one `Tick` at `until` (or the last event time). Returns the tick time.
pub fn apply_all(engine: &mut Engine, events: &[Event], until: Option<TsMs>) -> Option<TsMs> {
    for event in events {
        engine.apply(event);
    }
    let end = until.or_else(|| events.iter().map(|e| e.ts_ms).max())?;
    engine.apply(&Event { ts_ms: end, source: Source::Clock, actor: None, kind: EventKind::Tick });
    Some(end)
}

/// Every event of a whole queue_log in memory, and the number of bad lines skipped.
pub fn queue_log_events(bytes: &[u8]) -> (Vec<Event>, usize) {
    let mut events = Vec::new();
    let mut bad = 0;
    for record in parsers::queue_log::records(bytes) {
        match record {
            Ok(record) => events.extend(crate::normalize::queue_log::events(&record)),
            Err(_) => bad += 1,
        }
    }
    (events, bad)
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

/// Every engine event of one AMI capture in memory, and the number of undecodable messages skipped.
/// Messages are stamped with the receive time of the chunk that completed them (`chunks_tsv`); without it,
/// only events with a `Timestamp:` header have a time, and the others take the time of the event before them.
pub fn ami_events(raw: &[u8], sent: Option<&[u8]>, chunks_tsv: Option<&str>) -> (Vec<Event>, usize) {
    let mut capture = Capture::new(raw, sent, chunks_tsv);
    let events = std::iter::from_fn(|| capture.next_event()).collect();
    (events, capture.bad)
}

/// Decodes every message of a complete capture; `each` gets the message and the offset just past it.
/// Returns how many undecodable byte runs were skipped.
fn decode_all(bytes: &[u8], mut decoder: AmiDecoder, mut each: impl FnMut(&Message<'_>, usize)) -> usize {
    let mut at = 0usize;
    let mut bad = 0;
    while let Some(rest) = bytes.get(at..).filter(|r| !r.is_empty()) {
        match decoder.decode(rest) {
            Ok(NextMessage::Complete { message, consumed }) => {
                at += consumed.max(1);
                each(&message, at);
            }
            Ok(NextMessage::Incomplete) => break,
            Err(err) => {
                bad += 1;
                at += err.skip().max(1);
            }
        }
    }
    bad
}
