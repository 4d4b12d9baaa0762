//! Asterisk `queue_log` lines (protocol/QUEUE_LOG.md): `<epoch>|<callid>|<queue>|<agent>|<EVENT>|<data...>`.
//!
//! The public API is two functions and a thin iterator over the second:
//!
//! * [`parse_record`]`(line) -> Result<Record, ErrorKind>`: one line, without its `\n` (a trailing `\r` is
//!   stripped). For callers that frame lines themselves.
//! * [`parse_next`]`(buf, at_eof) -> Result<Parsed<Record>, LineError>`: the streaming reader. It looks at
//!   the front of `buf` and says how many bytes (and lines) the first line took, or `Incomplete` when the
//!   line is not finished yet (Asterisk may be in the middle of writing it). End of input is explicit: with
//!   `at_eof` the end of `buf` also ends a line, so a last line without `\n` (hand-made files) is parsed, and
//!   `Incomplete` means nothing but blank lines was left. A bad line is an error that still says how many
//!   bytes to skip, so the next line parses.
//! * [`records`]`(buf)`: every line of a complete input (`parse_next` with `at_eof`, until the end).
//!
//! Framing is tolerant of what people do to these files: `\r\n` endings (copied through Windows tools) and
//! blank lines (hand edits) are accepted; lines of any length are parsed.

mod error;
mod event;
mod fields;
mod grammar;
mod index;
mod record;
mod scan;
#[cfg(feature = "bench-stages")]
pub mod stages;
#[cfg(test)]
mod tests;
mod text;

pub use error::{ErrorKind, LineError};
pub use record::{QlEvent, Record};
pub use text::Text;

use index::Index;
use scan::Pipes;

/// Result of looking at the front of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// The first line parsed. `consumed` bytes (its `\n` and any blank lines before it included) are done;
    /// they hold `lines` lines (the record's own plus the blank ones skipped).
    Complete { record: T, consumed: usize, lines: usize },
    /// No complete line yet: wait for more bytes (the buffer may hold blank lines or a partial line).
    Incomplete,
}

/// Parses the first line of `buf`; blank lines in front of it are skipped and counted in `consumed` and
/// `lines`. `at_eof`: no byte will follow `buf`, so its end also ends the last line.
#[inline]
pub fn parse_next(buf: &[u8], at_eof: bool) -> Result<Parsed<Record<'_>>, LineError> {
    parse_front(buf, at_eof)
}

#[inline]
fn parse_front(buf: &[u8], at_eof: bool) -> Result<Parsed<Record<'_>>, LineError> {
    let mut start = 0;
    let mut lines = 0;
    loop {
        let rest = buf.get(start..).unwrap_or_default();
        let (end, consumed) = match grammar::line(rest) {
            Ok((_, line)) => (line.len(), start + line.len() + 1),
            Err(_) if at_eof && !rest.is_empty() => (rest.len(), buf.len()),
            Err(_) => return Ok(Parsed::Incomplete),
        };
        lines += 1;
        let line = strip_cr(rest.get(..end).unwrap_or_default());
        if line.is_empty() {
            start = consumed;
            continue;
        }
        return parse_into(
            line,
            rest,
            None,
            &mut Pipes::default(),
            |record| Parsed::Complete { record, consumed, lines },
            |kind| LineError { kind, consumed, lines },
        );
    }
}

/// Every line of a complete input (a whole file in memory), including a last line without `\n`.
pub fn records(buf: &[u8]) -> Records<'_> {
    Records { buf, index: Index::new(buf), valid: "", valid_at: 0, clean: true, pipes: Pipes::default() }
}

/// UTF-8 is checked this many bytes at a time ahead of the lines: one long check runs at memory speed where
/// one check per 70-byte line pays its set-up every time. Small enough to stay in cache for the parse.
const VALIDATE_BLOCK_BYTES: usize = 16 * 1024;

/// Iterator returned by `records`.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    buf: &'a [u8],
    /// Lines and their `|`s, from one pass over the buffer (`index`).
    index: Index<'a>,
    /// A stretch of `buf` known to be UTF-8, from offset `valid_at` on: the last block checked. Ends early
    /// at a non-UTF-8 (Latin-1) byte or an unfinished character at the block's end; lines past it are
    /// checked again, from their own start. Kept in place (lines are cut from it by offset) rather than
    /// re-sliced behind every line, which cost a second char-boundary-checked slice per line.
    valid: &'a str,
    valid_at: usize,
    /// The last block checked was UTF-8 to its end.
    clean: bool,
    /// Each line's `|` positions, kept so that it is not zeroed again for every line.
    pipes: Pipes,
}

impl<'a> Records<'a> {
    /// The `len` bytes of `buf` from `start` as text, checking a new block from `start` on when they are not
    /// inside the checked part. `None`: the line itself is not UTF-8.
    #[inline]
    fn text_of(&mut self, start: usize, len: usize) -> Option<&'a str> {
        let mut offset = start.wrapping_sub(self.valid_at);
        if offset.checked_add(len).is_none_or(|end| end > self.valid.len()) {
            let rest = self.buf.get(start..).unwrap_or_default();
            let block = rest.get(..VALIDATE_BLOCK_BYTES).unwrap_or(rest);
            // simdutf8 checks a block several times faster than `std` (SIMD), but always to its end and
            // without saying where it failed. After a failure (Latin-1 lines are usually many), `std` is
            // used until a block passes: it stops at the first bad byte, so a Latin-1 file does not pay a
            // whole block per line.
            self.valid = if self.clean {
                simdutf8::basic::from_utf8(block).unwrap_or_else(|_| utf8_prefix(block))
            } else {
                utf8_prefix(block)
            };
            self.clean = self.valid.len() == block.len();
            self.valid_at = start;
            offset = 0;
        }
        self.valid.get(offset..offset.wrapping_add(len))
    }

    /// The next line that is not blank, its `|`s in `self.pipes`; the framing stage of `next`, which the
    /// bench's `stages` share.
    #[inline(always)]
    fn next_filled(&mut self) -> Option<Filled<'a>> {
        let (mut lines, mut blank_bytes) = (0, 0);
        loop {
            // The whole input is here: a last line without `\n` ends at the end of the input.
            let found = self.index.next_line(&mut self.pipes)?;
            let consumed = found.next - found.start;
            lines += 1;
            let line = strip_cr(self.buf.get(found.start..found.end).unwrap_or_default());
            if line.is_empty() {
                blank_bytes += consumed;
                continue;
            }
            return Some(Filled { line, start: found.start, consumed: blank_bytes + consumed, lines });
        }
    }
}

/// A line that is not blank, as `Records` finds it.
struct Filled<'a> {
    /// Without its `\n` or `\r\n`.
    line: &'a [u8],
    /// Offset of the line in the buffer.
    start: usize,
    /// Bytes done with this line: its own and its terminator, and the blank lines before it (as from
    /// `parse_next`, they are part of what a bad line consumed).
    consumed: usize,
    /// Lines in `consumed`.
    lines: usize,
}

/// The longest UTF-8 prefix of `bytes` (it ends before a Latin-1 byte or an unfinished character).
#[cold]
fn utf8_prefix(bytes: &[u8]) -> &str {
    match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            bytes.get(..error.valid_up_to()).and_then(|ok| std::str::from_utf8(ok).ok()).unwrap_or_default()
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, LineError>;

    /// Always inlined: as a call (LLVM's choice once the index was added), each ~200-byte item came back
    /// through memory and the caller's loop copied it again with `memcpy` (~30 instructions per line).
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let found = self.next_filled()?;
        let known = self.text_of(found.start, found.line.len());
        // Matched here rather than with `map_err`: mapping a returned `Result` copied the ~200-byte record
        // again.
        let error = |kind| LineError { kind, consumed: found.consumed, lines: found.lines };
        Some(match parse_scanned(found.line, known, &self.pipes) {
            Ok(record) => Ok(record),
            Err(kind) => Err(error(kind)),
        })
    }
}

/// Parses one line without its `\n`; a trailing `\r` is stripped.
#[inline]
pub fn parse_record(line: &[u8]) -> Result<Record<'_>, ErrorKind> {
    let line = strip_cr(line);
    parse_text(line, line, None, &mut Pipes::default())
}

/// `parse_text`, building the caller's own result type: converting a returned `Result<Record, ErrorKind>`
/// afterwards copied the ~200-byte record once more per line.
#[inline(always)]
fn parse_into<'a, T, E>(
    line: &'a [u8],
    window: &[u8],
    known: Option<&'a str>,
    pipes: &mut Pipes,
    ok: impl FnOnce(Record<'a>) -> T,
    err: impl FnOnce(ErrorKind) -> E,
) -> Result<T, E> {
    match parse_text(line, window, known, pipes) {
        Ok(record) => Ok(ok(record)),
        Err(kind) => Err(err(kind)),
    }
}

/// `parse_record`, with the line's text when the caller already checked that it is UTF-8. `window` starts
/// with the line and runs on into the rest of the buffer, so that the `|` scan can read its last word whole.
#[inline(always)]
fn parse_text<'a>(
    line: &'a [u8],
    window: &[u8],
    known: Option<&'a str>,
    pipes: &mut Pipes,
) -> Result<Record<'a>, ErrorKind> {
    pipes.fill_within(window, line.len());
    parse_scanned(line, known, pipes)
}

/// `parse_text` for a line whose `|`s are already in `pipes`.
#[inline(always)]
fn parse_scanned<'a>(line: &'a [u8], known: Option<&'a str>, pipes: &Pipes) -> Result<Record<'a>, ErrorKind> {
    let [epoch, callid, queue, agent, name, data] = split_fixed(line, pipes)?;
    let time = grammar::epoch(epoch).ok_or_else(|| ErrorKind::BadEpoch { value: error::snippet(epoch) })?;
    if name.is_empty() {
        return Err(ErrorKind::EmptyEvent);
    }
    let text = fields::LineText::new(line, known);
    let data = fields::Data::new(data, text, pipes);
    // The fixed fields first: built right before the record, their `Text`s were read back (as 16-byte
    // moves) just after being written (as 8-byte stores), a store-forwarding stall measured at ~10 % of
    // the parse. The event's work in between lets those stores retire.
    let (callid, queue, agent) = (text.get(callid), text.get(queue), text.get(agent));
    let event = event::parse_event(text, name, data)?;
    Ok(Record { time, callid, queue, agent, event })
}

/// The five fixed fields and the data part, cut at the `|`s the scan found. The `|` after the event name is
/// always written by Asterisk; a hand-made `…|QUEUESTART` without it is accepted as empty data.
#[inline]
fn split_fixed<'a>(line: &'a [u8], pipes: &Pipes) -> Result<[&'a [u8]; 6], ErrorKind> {
    let (epoch, callid, queue, agent, name_end) = match *pipes.tracked() {
        [a, b, c, d, e, ..] => (a, b, c, d, Some(e)),
        [a, b, c, d] => (a, b, c, d, None),
        _ => return Err(ErrorKind::TooFewFields { found: pipes.count() + 1 }),
    };
    let field = |start: usize, end: usize| line.get(start..end).unwrap_or_default();
    let (name, data) = match name_end {
        Some(end) => (field(agent + 1, end), line.get(end + 1..).unwrap_or_default()),
        None => (line.get(agent + 1..).unwrap_or_default(), &[][..]),
    };
    Ok([
        field(0, epoch),
        field(epoch + 1, callid),
        field(callid + 1, queue),
        field(queue + 1, agent),
        name,
        data,
    ])
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}
