//! Parsed queue_log lines → engine events, with bad lines counted and logged at a bounded rate (a file
//! full of junk must not flood the journal, and must not stop the tail).

use super::follow::Line;
use super::history::History;
use crate::engine::Event;
use parsers::queue_log::{Parsed, parse_next_if};

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

    /// The events `history` keeps of the lines at the front of `buf`, handed to `each`; returns the bytes
    /// taken (whole lines; with `at_eof` a last line without `\n` too). A line `history` refuses on its head
    /// (an earlier day's call line) is skipped without reading its data (`parse_next_if`), so an error in
    /// that data goes uncounted: the line would have been dropped either way.
    pub fn decode_buffer(
        &mut self,
        buf: &[u8],
        at_eof: bool,
        history: History,
        mut each: impl FnMut(Event),
    ) -> usize {
        let (mut start, mut lines) = (0, 0);
        while let Some(rest) = buf.get(start..).filter(|rest| !rest.is_empty()) {
            lines += 1;
            match parse_next_if(rest, at_eof, |head| history.keeps_head(head)) {
                Ok(Parsed::Complete { record, consumed, .. }) => {
                    if let Some(event) = record.as_ref().and_then(crate::normalize::queue_log::event)
                        && history.keeps(&event)
                    {
                        each(event);
                    }
                    start += consumed.max(1);
                }
                Err(error) => {
                    self.bad_line(rest.get(..error.consumed).unwrap_or(rest), &error.kind);
                    start += error.consumed.max(1);
                }
                Ok(Parsed::Incomplete) => {
                    // Blank lines, or a partial one: not a line read (yet).
                    lines -= 1;
                    if at_eof {
                        start = buf.len();
                    }
                    break;
                }
            }
        }
        crate::metrics::queue_log_lines_read(lines);
        start
    }

    fn bad_line(&mut self, line: &[u8], error: &parsers::queue_log::ErrorKind) {
        self.bad_lines += 1;
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        crate::telemetry::bad_input(crate::telemetry::BadInput::QueueLogLine, error, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EventKind;

    #[test]
    fn buffers_keep_what_history_keeps_and_leave_the_partial_line() {
        let history = History::from_day_start(100_000);
        let buf = b"1000|u1|q|PJSIP/1|ENTERQUEUE|bad\n\
                    1001|NONE|q|PJSIP/1|PAUSE|lunch\n\
                    \n\
                    1002|u2|q|a\n\
                    200000|u3|q|NONE|ENTERQUEUE||555|1\n\
                    200001|u3|q|NONE|ABANDON|1";
        let mut decoder = Decoder::default();
        let mut kinds = Vec::new();
        let taken = decoder.decode_buffer(buf, false, history, |event| kinds.push(event.kind));
        let partial = b"200001|u3|q|NONE|ABANDON|1";
        assert_eq!(&buf[taken..], partial);
        // The earlier day's ENTERQUEUE is refused on its head, so its bad data is not an error; the line
        // without five fields is.
        assert_eq!(decoder.bad_lines, 1);
        assert!(matches!(kinds.as_slice(), [EventKind::MemberPause { .. }, EventKind::CallerJoined { .. }]));
        let taken = decoder.decode_buffer(partial, true, history, |event| kinds.push(event.kind));
        assert_eq!((taken, decoder.bad_lines), (partial.len(), 2), "at the end the partial line is a line");
    }
}
