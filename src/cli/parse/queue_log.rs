//! `queuecast parse queue-log FILE…`: every line as one JSON object (`file`, `line`, then the record's
//! fields) on stdout; a bad line is one `FILE:LINE: reason` on stderr and parsing goes on.

use super::{Printer, Report};
use parsers::queue_log::{LineError, NextRecord, Record, parse_next};
use serde::Serialize;
use std::path::PathBuf;

/// One stdout line.
#[derive(Serialize)]
struct Output<'a> {
    file: &'a str,
    line: u64,
    #[serde(flatten)]
    record: &'a Record<'a>,
}

pub fn queue_log(files: &[PathBuf]) -> anyhow::Result<u8> {
    super::run(files, |name| FileState { name, line: 0 })
}

struct FileState {
    name: String,
    /// Lines of the file consumed so far.
    line: u64,
}

impl Printer for FileState {
    fn drain(&mut self, buf: &[u8], at_eof: bool, to: &mut Report<'_>) -> anyhow::Result<usize> {
        let mut start = 0;
        loop {
            let rest = buf.get(start..).unwrap_or_default();
            let parsed = parse_next(rest, at_eof);
            match parsed {
                Ok(NextRecord::Incomplete) => return Ok(start),
                Ok(NextRecord::Complete { record, consumed, lines }) => {
                    self.line += lines as u64;
                    to.item(&Output { file: &self.name, line: self.line, record: &record })?;
                    start += consumed;
                }
                Err(LineError { kind, consumed, lines }) => {
                    self.line += lines as u64;
                    to.bad(format_args!("{}:{}: {kind}", self.name, self.line))?;
                    start += consumed;
                }
            }
        }
    }
}
