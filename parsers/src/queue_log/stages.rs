//! The `records` parse stopped after each of its stages, for the throughput bench (feature
//! `bench-stages`, off in the daemon): the per-stage cost is what tells whether a throughput target is
//! within reach of tuning or needs a different design, so the bench prints it instead of a note claiming it.
//!
//! Each stage runs everything the ones before it do and folds what it found into a checksum so that
//! nothing is optimized away. Framing and UTF-8 are `Records`' own code (`next_filled`, `text_of`); the
//! fixed fields are the first lines of `parse_scanned`, without its error paths.

/// The parser's block masks and 8-digit conversion, for the bench's reference floor: it then measures the
/// same code for these two steps, and only leaves out what `records` does around them.
pub use super::fields::eight_digits;
pub use super::index::block_masks;

use super::fields::LineText;
use super::{grammar, records, split_fixed};

/// Lines and the positions of their `|`s (the structural index).
pub fn framing(buf: &[u8]) -> u64 {
    up_to::<FRAMING>(buf)
}

/// `framing`, and each line's text checked as UTF-8.
pub fn utf8(buf: &[u8]) -> u64 {
    up_to::<UTF8>(buf)
}

/// `utf8`, and the five fixed fields cut: the epoch converted, callid, queue and agent as text.
pub fn fixed_fields(buf: &[u8]) -> u64 {
    up_to::<FIXED_FIELDS>(buf)
}

const FRAMING: u8 = 0;
const UTF8: u8 = 1;
const FIXED_FIELDS: u8 = 2;

#[inline(always)]
fn up_to<const STAGE: u8>(buf: &[u8]) -> u64 {
    let mut lines = records(buf);
    let mut sum = 0u64;
    while let Some(found) = lines.next_filled() {
        let line = found.line;
        sum = sum.wrapping_add(lines.pipes.count() as u64);
        if STAGE == FRAMING {
            continue;
        }
        let known = lines.text_of(found.start, line.len());
        sum = sum.wrapping_add(known.map_or(0, str::len) as u64);
        if STAGE == UTF8 {
            continue;
        }
        if let Ok([epoch, callid, queue, agent, name, _]) = split_fixed(line, &lines.pipes) {
            let text = LineText::new(line, known);
            let texts = [callid, queue, agent].map(|field| text.get(field).as_bytes().len() as u64);
            let time = grammar::epoch(epoch).unwrap_or_default() as u64;
            sum = texts
                .iter()
                .fold(sum.wrapping_add(time).wrapping_add(name.len() as u64), |a, &b| a.wrapping_add(b));
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stage_sees_every_line() {
        let buf = b"1795382800|c1|q|a|ENTERQUEUE||100|1\n\n1795382801|c1|q|a|ABANDON|1|1|3\r\n";
        // 7 `|`s per line; 35 + 31 bytes of text (without `\r`); the epochs, names 10 + 7, 2+1+1 per line.
        assert_eq!(framing(buf), 14);
        assert_eq!(utf8(buf), 14 + 35 + 31);
        assert_eq!(fixed_fields(buf), 14 + 35 + 31 + 1_795_382_800 + 1_795_382_801 + 17 + 8);
    }
}
