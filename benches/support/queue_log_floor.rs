//! A reference for the queue_log bench: the least a fully typed parse of *this bench's file* costs in safe
//! Rust on this machine, so that `records` and the throughput target (25 % of `wc -l`) are set against a
//! measured floor rather than a guess.
//!
//! It keeps only what typing a line needs and drops everything `records` does for real input: it knows the
//! eight layouts the generator writes and nothing else (any other line is counted, not parsed), validates
//! the whole buffer as UTF-8 up front (no Latin-1 lines), has no `\r\n` or blank-line handling, no error
//! detail, no lines with more `|`s than it remembers. Same structure as `records`, and the parser's own code
//! for the `\n`/`|` masks of each 64-byte block (SSE2) and for 8-digit runs; every field is cut at a
//! remembered `|`. Its output is the parser's own `Record`, which the bench checks equals `records`' on
//! every line.

use parsers::queue_log::stages::{block_masks, eight_digits};
use parsers::queue_log::{QlEvent, Record, Text};

/// Bytes per block of `block_masks`: one bit of a `u64` mask per byte.
const BLOCK_BYTES: usize = 64;
/// `|` positions remembered per line; a power of two so the store index needs a mask, not a bounds check.
/// The generator's lines have at most 8.
const SLOTS: usize = 16;
/// `|`s before the data part.
const FIXED_PIPES: usize = 5;

/// Calls `each` with every line's record, or `None` for a line it does not know; returns how many lines
/// it parsed. `None` for the whole buffer when it is not UTF-8.
pub fn parse(buf: &[u8], mut each: impl FnMut(Option<&Record<'_>>)) -> Option<u64> {
    let text = simdutf8::basic::from_utf8(buf).ok()?;
    let mut lines = Lines { buf, pos: 0, block_at: 0, masks: block_masks(buf, 0), at: [0; SLOTS] };
    let mut parsed = 0;
    while let Some((start, end, count)) = lines.next() {
        // A plain `if`: `bool::then(..).flatten()` measured ~8 % slower here (the record went through one
        // more `Option` in memory).
        let record = if (FIXED_PIPES..SLOTS).contains(&count) {
            line(text, start, end, &lines.at, count)
        } else {
            None
        };
        parsed += u64::from(record.is_some());
        each(record.as_ref());
    }
    Some(parsed)
}

/// The lines of a buffer from the block masks, each line's `|` positions (buffer offsets) in `at`.
struct Lines<'a> {
    buf: &'a [u8],
    pos: usize,
    block_at: usize,
    /// `\n`s and `|`s of the block at `block_at`, those before `pos` cleared.
    masks: (u64, u64),
    at: [usize; SLOTS],
}

impl Lines<'_> {
    /// Start, end (without `\n`) and `|` count of the next line.
    #[inline(always)]
    fn next(&mut self) -> Option<(usize, usize, usize)> {
        let start = self.pos;
        if start >= self.buf.len() {
            return None;
        }
        let mut count = 0;
        loop {
            let (newlines, pipes) = self.masks;
            if newlines != 0 {
                let below = (newlines & newlines.wrapping_neg()) - 1;
                let end = self.block_at + newlines.trailing_zeros() as usize;
                count = self.remember(pipes & below, count);
                self.masks = (newlines & (newlines - 1), pipes & !below);
                self.pos = end + 1;
                return Some((start, end, count));
            }
            count = self.remember(pipes, count);
            self.block_at += BLOCK_BYTES;
            if self.block_at >= self.buf.len() {
                self.pos = self.buf.len();
                self.masks = (0, 0);
                return Some((start, self.buf.len(), count));
            }
            self.masks = block_masks(self.buf, self.block_at);
        }
    }

    #[inline(always)]
    fn remember(&mut self, mut found: u64, mut count: usize) -> usize {
        while found != 0 {
            self.at[count & (SLOTS - 1)] = self.block_at + found.trailing_zeros() as usize;
            count += 1;
            found &= found - 1;
        }
        count
    }
}

/// One line of a known layout as a record.
#[inline(always)]
fn line<'a>(
    text: &'a str,
    start: usize,
    end: usize,
    at: &[usize; SLOTS],
    count: usize,
) -> Option<Record<'a>> {
    let bytes = text.as_bytes();
    let raw = |from: usize, to: usize| bytes.get(from..to).unwrap_or_default();
    let text = |from: usize, to: usize| Text::utf8(text.get(from..to).unwrap_or_default());
    let [epoch, callid, queue, agent, name] = [at[0], at[1], at[2], at[3], at[4]];
    let data = at.get(FIXED_PIPES..count).unwrap_or_default();
    let first = name + 1;
    // Before the event: the epoch's loads then overlap the name compare (measured ~4 % faster than last).
    let time = epoch_of(raw(start, epoch))?;
    let event = match (raw(agent + 1, name), data) {
        (b"RINGNOANSWER", []) => QlEvent::RingNoAnswer { ring_ms: optional(raw(first, end))? },
        (b"PAUSE", _) => QlEvent::Pause { reason: text(first, end) },
        (b"UNPAUSE", _) => QlEvent::Unpause { reason: text(first, end) },
        (b"PAUSEALL", _) => QlEvent::PauseAll { reason: text(first, end) },
        (b"QUEUESTART", []) if first >= end => QlEvent::QueueStart,
        (b"ENTERQUEUE", &[one, two]) => QlEvent::EnterQueue {
            url: text(first, one),
            caller_id: text(one + 1, two),
            position: optional(raw(two + 1, end))?,
            caller_name: None,
        },
        (b"CONNECT", &[one, two]) => QlEvent::Connect {
            hold_s: optional(raw(first, one))?,
            agent_uniqueid: Some(text(one + 1, two)),
            ring_s: optional(raw(two + 1, end))?,
        },
        (name, &[one, two]) => {
            let numbers =
                (optional(raw(first, one))?, optional(raw(one + 1, two))?, optional(raw(two + 1, end))?);
            three_numbers(name, numbers)?
        }
        _ => return None,
    };
    Some(Record {
        time,
        callid: text(epoch + 1, callid),
        queue: text(callid + 1, queue),
        agent: text(queue + 1, agent),
        event,
    })
}

type Three = (Option<i64>, Option<i64>, Option<i64>);

#[inline(always)]
fn three_numbers<'a>(name: &[u8], (first, second, third): Three) -> Option<QlEvent<'a>> {
    Some(match name {
        b"COMPLETECALLER" => QlEvent::CompleteCaller { hold_s: first, talk_s: second, orig_position: third },
        b"COMPLETEAGENT" => QlEvent::CompleteAgent { hold_s: first, talk_s: second, orig_position: third },
        b"ABANDON" => QlEvent::Abandon { position: first, orig_position: second, wait_s: third },
        b"EXITWITHTIMEOUT" => {
            QlEvent::ExitWithTimeout { position: first, orig_position: second, wait_s: third }
        }
        _ => return None,
    })
}

/// Empty → `None`; digits → the number; anything else fails the line.
#[inline(always)]
fn optional(field: &[u8]) -> Option<Option<i64>> {
    if field.is_empty() { Some(None) } else { digits(field).map(Some) }
}

/// Up to 18 digits (no sign: the generator writes none), one multiply-add each.
#[inline(always)]
fn digits(field: &[u8]) -> Option<i64> {
    if field.is_empty() || field.len() > 18 {
        return None;
    }
    field.iter().try_fold(0i64, |value, &byte| {
        let digit = byte.wrapping_sub(b'0');
        (digit <= 9).then(|| value * 10 + i64::from(digit))
    })
}

/// A 10-digit epoch: the first eight digits in a few word operations (the parser's own), then the rest.
#[inline(always)]
fn epoch_of(field: &[u8]) -> Option<i64> {
    let Some((eight, rest)) = field.split_first_chunk::<8>().filter(|(_, rest)| rest.len() <= 10) else {
        return digits(field);
    };
    let head = eight_digits(*eight)? as i64;
    rest.iter().try_fold(head, |value, &byte| {
        let digit = byte.wrapping_sub(b'0');
        (digit <= 9).then(|| value * 10 + i64::from(digit))
    })
}
