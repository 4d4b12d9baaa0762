//! Framing and `|` positions for a whole buffer in one pass (the structural index of simdjson): each
//! 64-byte block is compared once against `\n` and `|`, giving two `u64` bitmasks, and every line then
//! takes its end and its `|`s from the masks (trailing zeros, clear lowest bit). This replaced a `memchr`
//! per line for the `\n` plus a word-at-a-time `|` scan of the same bytes: two passes and their per-line
//! set-up (callgrind: ~230 → ~90 instructions per 68-byte line for framing and scan together).
//!
//! On x86_64 a block is four SSE2 compares per byte value; elsewhere eight SWAR words per byte value.

use super::scan::Pipes;
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
use super::scan::{pipe_bytes, zero_bytes};

/// Bytes per block: one bit of a `u64` mask per byte.
const BLOCK_BYTES: usize = 64;

/// Walks the lines of a buffer, one 64-byte block of masks at a time.
#[derive(Debug, Clone)]
pub(crate) struct Index<'a> {
    buf: &'a [u8],
    /// Start of the next line.
    pos: usize,
    /// Buffer offset of the block the masks describe.
    block_at: usize,
    /// `\n`s of the block at or after `pos`.
    newlines: u64,
    /// `|`s of the block at or after `pos`.
    pipes: u64,
}

/// One line found by the index: `line` is `buf[start..end]` without its `\n`; `next` is where the line
/// after it starts (past the `\n`, or the end of the buffer for a last line without one).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line {
    pub start: usize,
    pub end: usize,
    pub next: usize,
}

impl<'a> Index<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        let (newlines, pipes) = block_masks(buf, 0);
        Self { buf, pos: 0, block_at: 0, newlines, pipes }
    }

    /// The next line, its `|`s (offsets from its start) written to `found`; `None` at the end.
    #[inline]
    pub fn next_line(&mut self, found: &mut Pipes) -> Option<Line> {
        let start = self.pos;
        if start >= self.buf.len() {
            return None;
        }
        found.clear();
        loop {
            if self.newlines != 0 {
                // Every bit below the block's first `\n`: the line's own `|`s in this block.
                let below = (self.newlines & self.newlines.wrapping_neg()).wrapping_sub(1);
                let end = self.block_at + self.newlines.trailing_zeros() as usize;
                found.push_mask(self.pipes & below, self.block_at.wrapping_sub(start));
                self.pipes &= !below;
                self.newlines &= self.newlines.wrapping_sub(1);
                self.pos = end + 1;
                return Some(Line { start, end, next: end + 1 });
            }
            found.push_mask(self.pipes, self.block_at.wrapping_sub(start));
            self.block_at += BLOCK_BYTES;
            if self.block_at >= self.buf.len() {
                let end = self.buf.len();
                self.pos = end;
                (self.newlines, self.pipes) = (0, 0);
                return Some(Line { start, end, next: end });
            }
            (self.newlines, self.pipes) = block_masks(self.buf, self.block_at);
        }
    }
}

/// The `\n` and `|` masks of the 64 bytes of `buf` from `at`; bytes past the end count as neither.
#[inline]
pub fn block_masks(buf: &[u8], at: usize) -> (u64, u64) {
    let rest = buf.get(at..).unwrap_or_default();
    match rest.first_chunk::<BLOCK_BYTES>() {
        Some(block) => masks(block),
        None => {
            let mut padded = [0u8; BLOCK_BYTES];
            if let Some(head) = padded.get_mut(..rest.len()) {
                head.copy_from_slice(rest);
            }
            masks(&padded)
        }
    }
}

/// Four 16-byte compares per byte value, through `safe_arch` (safe wrappers of the SSE2 intrinsics, which
/// the x86_64 baseline always has). A plain loop over the bytes is not vectorized by LLVM here: it became
/// 128 byte compares per block, slower than the word scan this replaced.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline]
fn masks(block: &[u8; BLOCK_BYTES]) -> (u64, u64) {
    use safe_arch::{cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i, set_splat_i8_m128i};
    let newline = set_splat_i8_m128i(b'\n' as i8);
    let pipe = set_splat_i8_m128i(b'|' as i8);
    let (mut newlines, mut pipes) = (0u64, 0u64);
    for (index, lane) in block.chunks_exact(16).enumerate() {
        let lane = load_unaligned_m128i(lane.try_into().unwrap_or(&[0; 16]));
        let shift = 16 * index;
        newlines |= u64::from(move_mask_i8_m128i(cmp_eq_mask_i8_m128i(lane, newline)) as u16) << shift;
        pipes |= u64::from(move_mask_i8_m128i(cmp_eq_mask_i8_m128i(lane, pipe)) as u16) << shift;
    }
    (newlines, pipes)
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
use swar_masks as masks;

/// Elsewhere: eight words per block, each byte value's matches found without carries between bytes and
/// their high bits gathered into the mask with a multiply.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline]
fn swar_masks(block: &[u8; BLOCK_BYTES]) -> (u64, u64) {
    let (mut newlines, mut pipes) = (0u64, 0u64);
    for (index, word) in block.chunks_exact(8).enumerate() {
        let word = word.try_into().map_or(0, u64::from_le_bytes);
        let shift = 8 * index;
        newlines |= gather(zero_bytes(word ^ u64::from_ne_bytes([b'\n'; 8]))) << shift;
        pipes |= gather(pipe_bytes(word)) << shift;
    }
    (newlines, pipes)
}

/// Byte high bits → one bit per byte (little-endian byte i → bit i): the multiply moves each bit into the
/// top byte at its own place, no two partial products overlapping there.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline]
fn gather(high_bits: u64) -> u64 {
    ((high_bits >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line and its `|`s, from the index and from plain iteration, for buffers that cross blocks.
    #[test]
    fn lines_and_pipes_match_a_plain_split() {
        let mut buf = Vec::new();
        for len in 0..150 {
            buf.extend((0..len).map(|at| if (at * 7 + len) % 5 == 0 { b'|' } else { b'a' }));
            buf.push(b'\n');
        }
        buf.extend_from_slice(b"last|line");
        for cut in [buf.len(), buf.len() - 9, buf.len() - 10, 63, 64, 65, 0] {
            let buf = &buf[..cut];
            let mut index = Index::new(buf);
            let mut pipes = Pipes::default();
            let mut expected = buf.split(|&byte| byte == b'\n').collect::<Vec<_>>();
            if buf.last() == Some(&b'\n') || buf.is_empty() {
                expected.pop();
            }
            let mut got = 0;
            while let Some(line) = index.next_line(&mut pipes) {
                let text = &buf[line.start..line.end];
                assert_eq!(text, expected[got], "line {got} cut {cut}");
                let positions: Vec<usize> =
                    text.iter().enumerate().filter(|&(_, &b)| b == b'|').map(|(at, _)| at).collect();
                assert_eq!(pipes.count(), positions.len());
                assert_eq!(pipes.tracked(), &positions[..positions.len().min(pipes.tracked().len())]);
                got += 1;
            }
            assert_eq!(got, expected.len(), "cut {cut}");
        }
    }

    #[test]
    fn masks_flag_exactly_the_bytes() {
        let mut block = [0u8; BLOCK_BYTES];
        for (at, byte) in block.iter_mut().enumerate() {
            *byte = [b'|', b'\n', 0x7c ^ 0x80, 0x0a ^ 0x80, b'a', 0xfc, 0x7d][at % 7];
        }
        let (newlines, pipes) = masks(&block);
        assert_eq!(swar_masks(&block), (newlines, pipes));
        for (at, &byte) in block.iter().enumerate() {
            assert_eq!(newlines >> at & 1 == 1, byte == b'\n', "{at}");
            assert_eq!(pipes >> at & 1 == 1, byte == b'|', "{at}");
        }
    }
}
