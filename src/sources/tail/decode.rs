//! Parsed queue_log lines → engine events, with bad lines counted and logged at a bounded rate (a file
//! full of junk must not flood the journal, and must not stop the tail).

use super::follow::Line;
use super::history::History;
use crate::engine::Event;
use std::time::{Duration, Instant};

/// Bad lines logged one by one before switching to periodic summaries.
const BAD_LINES_LOGGED_INDIVIDUALLY: u64 = 20;
/// Period of the "N more bad lines" summary.
const BAD_LINE_SUMMARY_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct Decoder {
    /// Lines rejected by the parser since start.
    pub bad_lines: u64,
    /// Bad lines not yet reported individually or in a summary.
    unreported: u64,
    last_summary: Option<Instant>,
}

impl Decoder {
    /// Events of one line as the follower framed it; empty for bad or informational lines.
    pub fn decode(&mut self, line: Line<'_>) -> Vec<Event> {
        match line {
            Ok(record) => crate::normalize::queue_log::events(&record),
            Err(bad) => {
                self.bad_line(bad.bytes, &bad.kind);
                Vec::new()
            }
        }
    }

    /// The events of one line that `history` keeps, appended to `out`.
    pub fn decode_kept(&mut self, line: Line<'_>, history: History, out: &mut Vec<Event>) {
        match line {
            Ok(record) if history.keeps_record(&record) => out.extend(
                crate::normalize::queue_log::events(&record).into_iter().filter(|event| history.keeps(event)),
            ),
            Ok(_) => {}
            Err(bad) => self.bad_line(bad.bytes, &bad.kind),
        }
    }

    fn bad_line(&mut self, line: &[u8], error: &parsers::queue_log::ErrorKind) {
        self.bad_lines += 1;
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        if self.bad_lines <= BAD_LINES_LOGGED_INDIVIDUALLY {
            let shown = line.get(..120).unwrap_or(line);
            tracing::warn!(error = %error, line = %parsers::text::decode(shown), "skipping a bad queue_log line");
            if self.bad_lines == BAD_LINES_LOGGED_INDIVIDUALLY {
                tracing::warn!("further bad queue_log lines are summarised once a minute");
                self.last_summary = Some(Instant::now());
            }
            return;
        }
        self.unreported += 1;
        if self.last_summary.is_none_or(|at| at.elapsed() >= BAD_LINE_SUMMARY_EVERY) {
            tracing::warn!(skipped = self.unreported, total = self.bad_lines, last_error = %error, "bad queue_log lines skipped");
            self.unreported = 0;
            self.last_summary = Some(Instant::now());
        }
    }
}
