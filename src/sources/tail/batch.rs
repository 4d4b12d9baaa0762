//! queue_log lines → bounded batches of engine events, sent from the blocking thread that reads the file.
//!
//! The reader waits (`blocking_send`) while the engine task has `SOURCE_CHANNEL_DEPTH` batches queued, so
//! what sits between the file and the engine is at most that many batches of `MAX_EVENTS_PER_BATCH` events:
//! the rest of the file stays on disk. That bound is what keeps a start-up on a 1 GiB queue_log in a few
//! MiB instead of the whole log as decoded events.

use super::decode::Decoder;
use super::follow::{Line, LineSink};
use super::history::History;
use crate::engine::Event;
use crate::sources::SourceMsg;
use parsers::queue_log::Head;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Events per batch sent to the engine task: large enough that the channel costs nothing per event, small
/// enough that the bound on queued events (this × the channel depth) is a few MiB.
pub const MAX_EVENTS_PER_BATCH: usize = 1024;

/// Decodes lines, keeps what `history` keeps, and sends full batches with back-pressure.
pub struct Batcher {
    decoder: Decoder,
    history: History,
    events: Vec<Event>,
    tx: mpsc::Sender<SourceMsg>,
    cancel: CancellationToken,
    closed: bool,
    /// Lines handed in (blank and bad ones included).
    pub lines: u64,
    /// Lines handed in since the last flush, not yet in the metrics (two atomic additions per line were a
    /// measurable part of a start-up replay).
    uncounted: u64,
}

impl Batcher {
    pub fn new(tx: mpsc::Sender<SourceMsg>, cancel: CancellationToken, history: History) -> Self {
        Self {
            decoder: Decoder::default(),
            history,
            events: Vec::with_capacity(MAX_EVENTS_PER_BATCH),
            tx,
            cancel,
            closed: false,
            lines: 0,
            uncounted: 0,
        }
    }

    /// From now on every event is kept (the follow after the start-up replay).
    pub fn keep_everything(&mut self) {
        self.history = History::everything();
    }

    /// True once the engine task is gone or the tail was cancelled: nothing more is decoded or sent.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// One line as the follower framed it.
    #[inline]
    pub fn line(&mut self, line: Line<'_>) {
        if self.closed {
            return;
        }
        self.count_line();
        self.decoder.decode_kept(line, self.history, &mut self.events);
        if self.events.len() >= MAX_EVENTS_PER_BATCH {
            self.flush();
        }
    }

    fn count_line(&mut self) {
        self.lines += 1;
        self.uncounted += 1;
    }

    /// Counts the lines handed in and sends the events collected so far. Must run outside the async runtime
    /// (blocking send).
    pub fn flush(&mut self) {
        crate::metrics::queue_log_lines_read(std::mem::take(&mut self.uncounted));
        if self.events.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.events, Vec::with_capacity(MAX_EVENTS_PER_BATCH));
        self.send(SourceMsg::Events(batch));
    }

    /// Flushes, then sends `msg` after the events (ordering matters: `ReplayDone` follows the last line).
    pub fn send(&mut self, msg: SourceMsg) {
        self.flush();
        if self.closed || self.cancel.is_cancelled() || self.tx.blocking_send(msg).is_err() {
            self.closed = true;
        }
    }
}

/// What `history` refuses on a line's head (an earlier day's call line) is skipped unparsed.
impl LineSink for Batcher {
    fn wants(&mut self, head: &Head<'_>) -> bool {
        !self.closed && self.history.keeps_head(head)
    }

    fn line(&mut self, line: Line<'_>) {
        Batcher::line(self, line)
    }

    fn skipped(&mut self) {
        self.count_line();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EventKind;
    use crate::sources::tail::follow;

    #[test]
    fn a_file_gives_what_history_keeps_and_refused_heads_are_not_bad_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("queue_log");
        std::fs::write(
            &path,
            b"1000|u1|q|PJSIP/1|ENTERQUEUE|bad\n\
              1001|NONE|q|PJSIP/1|PAUSE|lunch\n\
              \n\
              1002|u2|q|a\n\
              200000|u3|q|NONE|ENTERQUEUE||555|1\n\
              200001|u3|q|NONE|ABANDON|1",
        )
        .expect("write");
        let (tx, mut rx) = mpsc::channel(16);
        let mut batcher = Batcher::new(tx, CancellationToken::new(), History::from_day_start(100_000));
        let file = std::fs::File::open(&path).expect("open");
        follow::read_to_end(file, 0, &mut batcher).expect("read");
        batcher.flush();
        // The earlier day's ENTERQUEUE is refused on its head, so its bad data is not an error; the line
        // without five fields is, and so is the last one (at the end of a complete file it is a line).
        assert_eq!(batcher.decoder.bad_lines, 2);
        assert_eq!(batcher.lines, 5, "every line but the blank one, the refused one included");
        let Ok(SourceMsg::Events(events)) = rx.try_recv() else { panic!("one batch") };
        let kinds: Vec<_> = events.into_iter().map(|event| event.kind).collect();
        assert!(matches!(kinds.as_slice(), [EventKind::MemberPause { .. }, EventKind::CallerJoined { .. }]));
    }
}
