//! One pass over a line that finds every `|`. Every later split (the five fixed fields, the data fields from the front or the back) reuses these positions instead of
//! searching the bytes again: on 60–80 byte lines the set-up of a `memchr` call per field cost more than
//! the search itself.
//!
//! The pass reads 8 bytes at a time into a `u64` (SWAR): no `unsafe`, no target features, and a line of
//! typical length is nine loads.

/// `|`s remembered per line. Asterisk's own events have at most 5 fixed + 5 data separators; free-text
/// fields (pause reasons, `WITHDRAW` info) may add a few. Lines with more fall back to scanning.
const TRACKED_PIPES: usize = 16;

/// Every byte `|`, to XOR against: a byte of the result is zero exactly where the line has a `|`.
const PIPE_BYTES: u64 = u64::from_ne_bytes([b'|'; 8]);
/// The low seven bits of every byte.
const LOW7: u64 = u64::from_ne_bytes([0x7f; 8]);
/// The high bit of every byte.
const HIGH_BITS: u64 = u64::from_ne_bytes([0x80; 8]);
/// Bytes read and compared at once.
const WORD_BYTES: usize = 8;
/// A byte-wise mask has one flag bit per 8 bits: position = bit index >> 3.
const BYTE_BITS_LOG2: u32 = 3;

/// Where the `|`s of one line are.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pipes {
    /// The first `TRACKED_PIPES` positions, then one scratch slot that every later `|` is written to (so
    /// the store needs no branch).
    at: [usize; TRACKED_PIPES + 1],
    /// All `|`s of the line, also those past `TRACKED_PIPES`.
    count: usize,
}

impl Pipes {
    #[cfg(test)]
    pub fn scan(line: &[u8]) -> Self {
        let mut pipes = Self::default();
        pipes.fill_within(line, line.len());
        pipes
    }

    /// Finds the `|`s of the first `len` bytes of `window`, in place: returning this ~150-byte struct by
    /// value cost a `memcpy` per line. `window` is the line followed by whatever the buffer holds after it.
    /// Only the line's own words are read, and each word's `|` bytes are walked straight from its zero-byte
    /// mask: gathering whole 64-byte group masks first read a second, nearly empty group for a typical
    /// 68-byte line (callgrind: ~380 → ~290 instructions per line for the scan). The last word is read from
    /// the window past the line when it has 8 bytes there, its bytes past the line masked off, so only a
    /// line at the very end of the buffer takes the zero-padded copy.
    #[inline]
    pub fn fill_within(&mut self, window: &[u8], len: usize) {
        let line = window.get(..len).unwrap_or(window);
        self.count = 0;
        let mut words = line.chunks_exact(WORD_BYTES);
        let mut base = 0;
        for word in words.by_ref() {
            let word = word.try_into().map_or(0, u64::from_le_bytes);
            self.push_found(pipe_bytes(word), base, BYTE_BITS_LOG2);
            base += WORD_BYTES;
        }
        let tail = words.remainder().len();
        if tail > 0 {
            // High bit of each byte that belongs to the line.
            let line_bytes = HIGH_BITS >> (8 * (WORD_BYTES - tail));
            self.push_found(pipe_bytes(word_at(window, base)) & line_bytes, base, BYTE_BITS_LOG2);
        }
    }

    /// Forgets the previous line's `|`s (only the count: positions are overwritten before being read).
    #[inline]
    pub fn clear(&mut self) {
        self.count = 0;
    }

    /// Adds the `|`s of a bitmask (bit i: a `|` at line offset `base + i`, `base` wrapping as the block
    /// may start before the line), as `index` finds them.
    #[inline(always)]
    pub fn push_mask(&mut self, found: u64, base: usize) {
        self.push_found(found, base, 0);
    }

    /// Records the `|`s of `found`, whose set bit `b` is a `|` at line offset `base + (b >> bits_log2)`: one
    /// bit per byte from `index`, the high bit of each byte from the word scan. Past `TRACKED_PIPES` they are
    /// only counted (written to the scratch slot).
    #[inline(always)]
    fn push_found(&mut self, mut found: u64, base: usize, bits_log2: u32) {
        let mut count = self.count;
        while found != 0 {
            if let Some(slot) = self.at.get_mut(count.min(TRACKED_PIPES)) {
                *slot = base.wrapping_add((found.trailing_zeros() >> bits_log2) as usize);
            }
            count += 1;
            found &= found - 1;
        }
        self.count = count;
    }

    /// All `|`s of the line.
    #[inline]
    pub fn count(&self) -> usize {
        self.count
    }

    /// Positions of the first `|`s, as many as were remembered.
    #[inline]
    pub fn tracked(&self) -> &[usize] {
        self.at.get(..self.count.min(TRACKED_PIPES)).unwrap_or_default()
    }

    /// Positions of the `|`s after the first `skip`, or `None` when not all of them were remembered.
    #[inline]
    pub fn after(&self, skip: usize) -> Option<&[usize]> {
        if self.count > TRACKED_PIPES {
            return None;
        }
        self.at.get(skip..self.count)
    }
}

/// The 8 bytes of `window` from `at`, little-endian; zero bytes (not `|`) past its end.
#[inline]
fn word_at(window: &[u8], at: usize) -> u64 {
    let rest = window.get(at..).unwrap_or_default();
    if let Some(word) = rest.first_chunk::<WORD_BYTES>() {
        return u64::from_le_bytes(*word);
    }
    let mut padded = [0u8; WORD_BYTES];
    if let Some(head) = padded.get_mut(..rest.len()) {
        head.copy_from_slice(rest);
    }
    u64::from_le_bytes(padded)
}

/// The high bit of each byte of the word that is `|`, and no other bit.
#[inline]
pub(crate) fn pipe_bytes(word: u64) -> u64 {
    zero_bytes(word ^ PIPE_BYTES)
}

/// The high bit of each byte of `word` that is zero, and no other bit. (The classic `(x - 0x01…) & !x`
/// also flags bytes above a zero byte; this form has no carries between bytes.)
#[inline]
pub(crate) fn zero_bytes(word: u64) -> u64 {
    !(((word & LOW7) + LOW7) | word | LOW7)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(line: &[u8]) -> Vec<usize> {
        line.iter().enumerate().filter(|&(_, &byte)| byte == b'|').map(|(at, _)| at).collect()
    }

    #[test]
    fn finds_every_pipe_at_every_offset() {
        for len in 0..40 {
            for pipe in 0..len {
                let mut line = vec![b'a'; len];
                line[pipe] = b'|';
                line[len - 1] = b'|';
                let pipes = Pipes::scan(&line);
                assert_eq!(pipes.after(0).map(<[usize]>::to_vec), Some(positions(&line)), "{line:?}");
            }
        }
    }

    #[test]
    fn pipes_after_the_line_in_its_window_are_not_counted() {
        for len in 0..70 {
            let mut window = vec![b'|'; 200];
            window[..len].fill(b'a');
            if len > 0 {
                window[len / 2] = b'|';
            }
            let mut pipes = Pipes::default();
            pipes.fill_within(&window, len);
            assert_eq!(pipes.after(0).map(<[usize]>::to_vec), Some(positions(&window[..len])), "{len}");
        }
    }

    #[test]
    fn counts_pipes_past_the_tracked_ones() {
        let line = "|".repeat(TRACKED_PIPES + 3);
        let pipes = Pipes::scan(line.as_bytes());
        assert_eq!(pipes.count(), TRACKED_PIPES + 3);
        assert_eq!(pipes.after(5), None);
        let line = "|".repeat(TRACKED_PIPES);
        assert_eq!(Pipes::scan(line.as_bytes()).after(5).map(<[usize]>::len), Some(TRACKED_PIPES - 5));
    }

    #[test]
    fn bytes_next_to_a_pipe_are_not_pipes() {
        // 0x7b/0x7d/0xfc differ from `|` (0x7c) in one bit each; 0x00 next to `|` must not borrow.
        let line = [0x7b, b'|', 0x7d, 0xfc, 0x00, b'|', 0x01, 0xff, b'|'];
        let pipes = Pipes::scan(&line);
        assert_eq!(pipes.after(0), Some(&[1usize, 5, 8][..]));
        let long: Vec<u8> = (0..200).map(|at| if at % 3 == 0 { b'|' } else { 0xfc }).collect();
        let found = Pipes::scan(&long);
        assert_eq!(found.count(), positions(&long).len());
        assert_eq!(found.tracked(), &positions(&long)[..TRACKED_PIPES]);
    }
}
