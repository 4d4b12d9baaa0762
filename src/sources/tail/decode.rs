//! Complete queue_log lines → engine events, with bad lines counted and logged at a bounded rate (a file
//! full of junk must not flood the journal, and must not stop the tail).

use crate::engine::Event;

#[derive(Debug, Default)]
pub struct Decoder {
    /// Lines rejected by the parser since start.
    pub bad_lines: u64,
}

impl Decoder {
    /// Events of one line (with or without its `\n`); empty for blank, bad or informational lines.
    pub fn decode(&mut self, line: &[u8]) -> Vec<Event> {
        crate::metrics::queue_log_line();
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Vec::new();
        }
        match parsers::queue_log::parse_record(line) {
            Ok(record) => crate::normalize::queue_log::events(&record),
            Err(error) => {
                self.bad_line(line, &error);
                Vec::new()
            }
        }
    }

    fn bad_line(&mut self, line: &[u8], error: &parsers::queue_log::ErrorKind) {
        self.bad_lines += 1;
        crate::telemetry::bad_input(crate::telemetry::BadInput::QueueLogLine, error, line);
    }
}
