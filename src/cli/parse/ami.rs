//! `queuecast parse ami FILE…`: every AMI message of a capture (server bytes like `ami.raw`, or client bytes
//! like `ami.sent`) as one JSON object (`file`, `line` where the message starts, then the message) on
//! stdout; a bad message is one `FILE:LINE: reason` on stderr, it is skipped and parsing goes on.
//!
//! Files are streamed in fixed-size reads through the same decoder the AMI client uses, so a capture's
//! chunking can never change the result. Login secrets (`Secret`, MD5 `Key`) are masked in the output.

use super::{Printer, Report};
use parsers::ami::{AmiDecoder, Field, Message, MessageKind, NextMessage};
use serde::Serialize;
use std::path::PathBuf;
/// Keys whose value must never be printed (plain secret, and the MD5 login key derived from it).
const SECRET_KEYS: &[&str] = &["Secret", "Key"];
const MASK: &[u8] = b"********";

/// One stdout line.
#[derive(Serialize)]
struct Output<'a> {
    file: &'a str,
    line: u64,
    #[serde(flatten)]
    message: &'a Message<'a>,
}

pub fn ami(files: &[PathBuf]) -> anyhow::Result<u8> {
    super::run(files, |name| FileState { name, decoder: AmiDecoder::new(), line: 1 })
}

struct FileState {
    name: String,
    decoder: AmiDecoder,
    /// Line number of the first byte not yet consumed.
    line: u64,
}

impl Printer for FileState {
    fn drain(&mut self, buf: &[u8], at_eof: bool, to: &mut Report<'_>) -> anyhow::Result<usize> {
        let done = self.drain_messages(buf, to)?;
        if at_eof {
            self.finish(buf.get(done..).unwrap_or_default(), to)?;
            return Ok(buf.len());
        }
        Ok(done)
    }
}

impl FileState {
    /// Prints every complete message in `buf`; returns the bytes done with.
    fn drain_messages(&mut self, buf: &[u8], to: &mut Report<'_>) -> anyhow::Result<usize> {
        let mut start = 0;
        loop {
            let rest = buf.get(start..).unwrap_or_default();
            match self.decoder.decode(rest) {
                Ok(NextMessage::Incomplete) => return Ok(start),
                Ok(NextMessage::Complete { message, consumed }) => {
                    let taken = rest.get(..consumed).unwrap_or_default();
                    let line = self.line + leading_empty_lines(taken);
                    let message = masked(message);
                    to.item(&Output { file: &self.name, line, message: &message })?;
                    self.advance(taken);
                    start += consumed;
                }
                Err(error) => {
                    let skip = error.skip().min(rest.len()).max(1);
                    let taken = rest.get(..skip).unwrap_or_default();
                    to.bad(format_args!(
                        "{}:{}: {error}",
                        self.name,
                        self.line + leading_empty_lines(taken)
                    ))?;
                    self.advance(taken);
                    start += skip;
                }
            }
        }
    }

    /// End of file: anything but blank lines left over is a message cut short.
    fn finish(&mut self, rest: &[u8], to: &mut Report<'_>) -> anyhow::Result<()> {
        if !rest.iter().all(u8::is_ascii_whitespace) {
            let line = self.line + leading_empty_lines(rest);
            let bytes = rest.len();
            to.bad(format_args!(
                "{}:{line}: incomplete AMI message at end of file ({bytes} bytes)",
                self.name
            ))?;
        }
        Ok(())
    }

    fn advance(&mut self, taken: &[u8]) {
        self.line += newlines(taken);
    }
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Empty lines before the message's first line (they belong to `consumed` but not to the message).
fn leading_empty_lines(bytes: &[u8]) -> u64 {
    let blank = bytes.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
    newlines(bytes.get(..blank).unwrap_or_default())
}

fn masked(mut message: Message<'_>) -> Message<'_> {
    if matches!(message.kind, MessageKind::Action { .. }) {
        for field in &mut message.fields {
            if SECRET_KEYS.iter().any(|k| field.key.eq_ignore_ascii_case(k.as_bytes())) {
                *field = Field { key: field.key, value: MASK };
            }
        }
    }
    message
}
