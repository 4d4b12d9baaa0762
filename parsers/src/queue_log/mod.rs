//! Asterisk `queue_log` lines (protocol/QUEUE_LOG.md): `<epoch>|<callid>|<queue>|<agent>|<EVENT>|<data...>`.
//!
//! Streaming over a byte buffer: `parse_line` looks at the front of the buffer and says how many bytes the
//! first line took, or that the line is not finished yet (`Incomplete` — Asterisk may be in the middle of
//! writing it). A bad line is an error that still says how many bytes to skip, so the next line parses.
//! At end of input (a file that does not end in `\n`), `parse_final` takes the rest.
//!
//! Framing is tolerant of what people do to these files: `\r\n` endings (copied through Windows tools) and
//! blank lines (hand edits) are accepted; lines of any length are parsed.

mod error;
mod event;
mod fields;
mod record;
#[cfg(test)]
mod tests;

pub use error::{ErrorKind, LineError};
pub use record::{QlEvent, Record};

use memchr::memchr;

/// Result of looking at the front of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// The first line parsed. `consumed` bytes (its `\n` and any blank lines before it included) are done;
    /// they hold `lines` lines (the record's own plus the blank ones skipped).
    Complete { record: T, consumed: usize, lines: usize },
    /// No complete line yet: wait for more bytes (the buffer may hold blank lines or a partial line).
    Incomplete,
}

/// Parses the first line of `buf`. Blank lines in front of it are skipped and counted in `consumed`.
#[inline]
pub fn parse_line(buf: &[u8]) -> Result<Parsed<Record<'_>>, LineError> {
    parse_front(buf, false)
}

/// Like `parse_line`, for the bytes left at end of input: the end of `buf` also ends a line, so a last line
/// without `\n` (hand-made files) is parsed. `Incomplete` here means nothing but blank lines was left.
#[inline]
pub fn parse_final(buf: &[u8]) -> Result<Parsed<Record<'_>>, LineError> {
    parse_front(buf, true)
}

#[inline]
fn parse_front(buf: &[u8], at_eof: bool) -> Result<Parsed<Record<'_>>, LineError> {
    let mut start = 0;
    let mut lines = 0;
    loop {
        let rest = buf.get(start..).unwrap_or_default();
        let (end, consumed) = match memchr(b'\n', rest) {
            Some(end) => (end, start + end + 1),
            None if at_eof && !rest.is_empty() => (rest.len(), buf.len()),
            None => return Ok(Parsed::Incomplete),
        };
        lines += 1;
        let line = strip_cr(rest.get(..end).unwrap_or_default());
        if line.is_empty() {
            start = consumed;
            continue;
        }
        return match parse_record(line) {
            Ok(record) => Ok(Parsed::Complete { record, consumed, lines }),
            Err(kind) => Err(LineError { kind, consumed, lines }),
        };
    }
}

/// Every line of a complete input (a whole file in memory), including a last line without `\n`.
pub fn records(buf: &[u8]) -> Records<'_> {
    Records { rest: buf }
}

/// Iterator returned by `records`.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, LineError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        let (item, consumed) = match parse_final(rest) {
            Ok(Parsed::Complete { record, consumed, .. }) => (Ok(record), consumed),
            Ok(Parsed::Incomplete) => return None,
            Err(error) => {
                let consumed = error.consumed;
                (Err(error), consumed)
            }
        };
        self.rest = rest.get(consumed..).unwrap_or_default();
        Some(item)
    }
}

/// Parses one line without its terminator.
#[inline]
pub fn parse_record(line: &[u8]) -> Result<Record<'_>, ErrorKind> {
    let [epoch, callid, queue, agent, name, data] = split_fixed(line)?;
    let time = fields::number(epoch).ok_or_else(|| ErrorKind::BadEpoch { value: error::snippet(epoch) })?;
    if name.is_empty() {
        return Err(ErrorKind::EmptyEvent);
    }
    let text = fields::Text::new(line);
    let event = event::parse_event(text, name, data)?;
    Ok(Record { time, callid: text.get(callid), queue: text.get(queue), agent: text.get(agent), event })
}

/// The five fixed fields and the data part, split with one resumable memchr scan for `|`. The `|` after the
/// event name is always written by Asterisk; a hand-made `…|QUEUESTART` without it is accepted as empty data.
#[inline]
fn split_fixed(line: &[u8]) -> Result<[&[u8]; 6], ErrorKind> {
    let mut pipes = memchr::memchr_iter(b'|', line);
    let mut fixed: [&[u8]; 4] = [&[]; 4];
    let mut start = 0;
    for (index, slot) in fixed.iter_mut().enumerate() {
        let end = pipes.next().ok_or(ErrorKind::TooFewFields { found: index + 1 })?;
        *slot = line.get(start..end).unwrap_or_default();
        start = end + 1;
    }
    let (name, data) = match pipes.next() {
        Some(end) => (line.get(start..end), line.get(end + 1..)),
        None => (line.get(start..), None),
    };
    let [epoch, callid, queue, agent] = fixed;
    Ok([epoch, callid, queue, agent, name.unwrap_or_default(), data.unwrap_or_default()])
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}
