//! Parsed queue_log lines → engine events, with bad lines counted and logged at a bounded rate (a file
//! full of junk must not flood the journal, and must not stop the tail).

use super::follow::Line;
use super::history::History;
use crate::engine::Event;

#[derive(Debug, Default)]
pub struct Decoder {
    /// Lines rejected by the parser since start.
    pub bad_lines: u64,
}

impl Decoder {
    /// Events of one line as the follower framed it; empty for bad or informational lines.
    pub fn decode(&mut self, line: Line<'_>) -> Vec<Event> {
        crate::metrics::queue_log_line();
        match line {
            Ok(record) => crate::normalize::queue_log::events(&record),
            Err(bad) => {
                self.bad_line(bad.bytes, &bad.kind);
                Vec::new()
            }
        }
    }

    /// The events of one line that `history` keeps, appended to `out`. The line is not counted in the
    /// metrics: the caller counts its lines in bulk (`metrics::queue_log_lines_read`).
    #[inline]
    pub fn decode_kept(&mut self, line: Line<'_>, history: History, out: &mut Vec<Event>) {
        match line {
            Ok(record) => {
                if let Some(event) = crate::normalize::queue_log::event(&record)
                    && history.keeps(&event)
                {
                    out.push(event);
                }
            }
            Err(bad) => self.bad_line(bad.bytes, &bad.kind),
        }
    }

    fn bad_line(&mut self, line: &[u8], error: &parsers::queue_log::ErrorKind) {
        self.bad_lines += 1;
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        crate::telemetry::bad_input(crate::telemetry::BadInput::QueueLogLine, error, line);
    }
}
