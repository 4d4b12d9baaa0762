//! Asterisk `queue_log` lines (protocol/QUEUE_LOG.md): `<epoch>|<callid>|<queue>|<agent>|<EVENT>|<data...>`.
//!
//! The public API is three functions and a thin iterator over the second:
//!
//! * [`parse_record`]`(line) -> Result<Record, ErrorKind>`: one line, without its `\n` (a trailing `\r` is
//!   stripped). For callers that frame lines themselves.
//! * [`parse_next`]`(buf, at_eof) -> Result<NextRecord<Record>, LineError>`: the streaming reader. It looks at
//!   the front of `buf` and says how many bytes (and lines) the first line took, or `Incomplete` when the
//!   line is not finished yet (Asterisk may be in the middle of writing it). End of input is explicit: with
//!   `at_eof` the end of `buf` also ends a line, so a last line without `\n` (hand-made files) is parsed, and
//!   `Incomplete` means nothing but blank lines was left. A bad line is an error that still says how many
//!   bytes to skip, so the next line parses.
//! * [`parse_next_if`]`(buf, at_eof, keep)`: the same reader, for callers that drop most lines by their time
//!   and event name (the start-up replay of days before today): `keep` sees the line's [`Head`] first, and a
//!   line it refuses is framed and skipped without its data being read, typed or checked for UTF-8.
//! * [`records`]`(buf)`: every line of a complete input (`parse_next` with `at_eof`, until the end).
//!
//! Framing is tolerant of what people do to these files: `\r\n` endings (copied through Windows tools) and
//! blank lines (hand edits) are accepted; lines of any length are parsed.
//!
//! The grammar is written with nom (`grammar`): the line, the five fixed fields, then the data part, whose
//! layout depends on the event name and, across Asterisk versions, on its field count (`event`, `fields`).

mod error;
mod event;
mod fields;
mod grammar;
mod record;
#[cfg(test)]
mod tests;

pub use crate::text::Text;
pub use error::{ErrorKind, LineError};
pub use record::{Completed, Left, QlEvent, Record, ToExten};

/// The next record at the front of a buffer, or the word that more bytes are needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextRecord<T> {
    /// The first line parsed. `consumed` bytes (its `\n` and any blank lines before it included) are done;
    /// they hold `lines` lines (the record's own plus the blank ones skipped).
    Complete { record: T, consumed: usize, lines: usize },
    /// No complete line yet: wait for more bytes (the buffer may hold blank lines or a partial line). At end
    /// of input: nothing but blank lines was left.
    Incomplete,
}

/// Parses the first line of `buf`; blank lines in front of it are skipped and counted in `consumed` and
/// `lines`. `at_eof`: no byte will follow `buf`, so its end also ends the last line.
pub fn parse_next(buf: &[u8], at_eof: bool) -> Result<NextRecord<Record<'_>>, LineError> {
    next_line(buf, at_eof, record_of)
}

/// `parse_next`, deciding on each line from its head: a line `keep` refuses is `Complete` with `None`
/// (its bytes and lines consumed as usual). The head is checked as for any line (five fields, an epoch,
/// an event name), so a line too broken to have a head is still an error; the data of a refused line is
/// not read at all, so an error there goes unnoticed.
pub fn parse_next_if<'a>(
    buf: &'a [u8],
    at_eof: bool,
    mut keep: impl FnMut(&Head<'a>) -> bool,
) -> Result<NextRecord<Option<Record<'a>>>, LineError> {
    next_line(buf, at_eof, |line| {
        let (head, fixed) = head_of(line)?;
        if !keep(&head) {
            return Ok(None);
        }
        record_from(line, head, &fixed).map(Some)
    })
}

/// The framing both readers share: skips blank lines, hands the first other line (without its `\n` and
/// `\r`) to `parse`.
#[inline(always)]
fn next_line<'a, T>(
    buf: &'a [u8],
    at_eof: bool,
    mut parse: impl FnMut(&'a [u8]) -> Result<T, ErrorKind>,
) -> Result<NextRecord<T>, LineError> {
    let mut consumed = 0;
    let mut lines = 0;
    loop {
        let rest = buf.get(consumed..).unwrap_or_default();
        let Some((line, taken)) = grammar::line(rest, at_eof) else { return Ok(NextRecord::Incomplete) };
        consumed += taken;
        lines += 1;
        let line = strip_cr(line);
        if line.is_empty() {
            continue;
        }
        return match parse(line) {
            Ok(record) => Ok(NextRecord::Complete { record, consumed, lines }),
            Err(kind) => Err(LineError { kind, consumed, lines }),
        };
    }
}

/// Parses one line without its `\n`; a trailing `\r` is stripped.
pub fn parse_record(line: &[u8]) -> Result<Record<'_>, ErrorKind> {
    record_of(strip_cr(line))
}

/// Every line of a complete input (a whole file in memory), including a last line without `\n`.
pub fn records(buf: &[u8]) -> Records<'_> {
    Records { rest: buf }
}

/// Iterator returned by `records`: `parse_next` at end of input, until only blank lines are left.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (item, consumed) = match parse_next(self.rest, true) {
            Ok(NextRecord::Incomplete) => return None,
            Ok(NextRecord::Complete { record, consumed, .. }) => (Ok(record), consumed),
            Err(error) => {
                let consumed = error.consumed;
                (Err(error), consumed)
            }
        };
        self.rest = self.rest.get(consumed..).unwrap_or_default();
        Some(item)
    }
}

/// What a line says before its event data: enough to decide whether the rest is worth reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head<'a> {
    /// Write time of the line, seconds since the Unix epoch (UTC).
    pub time: i64,
    /// The event name as written (not empty; not checked for UTF-8).
    pub name: &'a [u8],
}

/// A line that is not blank, without its terminator. The checks run in the order a reader would make them:
/// enough fields, then the epoch, then the event name, then the event's own data.
fn record_of(line: &[u8]) -> Result<Record<'_>, ErrorKind> {
    let (head, fixed) = head_of(line)?;
    record_from(line, head, &fixed)
}

/// The fixed fields, the epoch and a non-empty event name.
#[inline(always)]
fn head_of(line: &[u8]) -> Result<(Head<'_>, grammar::Fixed<'_>), ErrorKind> {
    let fixed =
        grammar::fixed_fields(line).ok_or_else(|| ErrorKind::TooFewFields { found: fields::count(line) })?;
    let time = grammar::epoch(fixed.epoch)
        .ok_or_else(|| ErrorKind::BadEpoch { value: error::snippet(fixed.epoch) })?;
    if fixed.name.is_empty() {
        return Err(ErrorKind::EmptyEvent);
    }
    Ok((Head { time, name: fixed.name }, fixed))
}

/// The rest of a line whose head was read: its text fields and its event's data.
#[inline(always)]
fn record_from<'a>(
    line: &'a [u8],
    head: Head<'a>,
    fixed: &grammar::Fixed<'a>,
) -> Result<Record<'a>, ErrorKind> {
    let text = fields::LineText::new(line);
    Ok(Record {
        time: head.time,
        callid: text.get(fixed.callid),
        queue: text.get(fixed.queue),
        agent: text.get(fixed.agent),
        event: event::parse_event(text, head.name, fixed.data)?,
    })
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}
