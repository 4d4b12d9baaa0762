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
/// Multiplier that gathers the bits 0, 8, …, 56 of a word into bits 56…63 (bit 8i lands on 56 + i; no two
/// partial products meet, so there are no carries).
const GATHER: u64 = 0x0102_0408_1020_4080;
/// Bytes covered by one bit mask of `|` positions.
const GROUP_BYTES: usize = 64;

/// Where the `|`s of one line are.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pipes {
    at: [usize; TRACKED_PIPES],
    /// All `|`s of the line, also those past `TRACKED_PIPES`.
    count: usize,
}

impl Pipes {
    /// The word loop has no data-dependent branch: each word's `|`s become 8 bits of a 64-byte group mask,
    /// and only a finished group is walked bit by bit (one predictable loop turn per `|`).
    #[cfg(test)]
    pub fn scan(line: &[u8]) -> Self {
        let mut pipes = Self::default();
        pipes.fill_within(line, line.len());
        pipes
    }

    /// Finds the `|`s of the first `len` bytes of `window`, in place: returning this 140-byte struct by value
    /// cost a `memcpy` per line. `window` is the line followed by whatever the buffer holds after it. The last, partial group of the line is read from the window when it holds 64 bytes there,
    /// its bits past the line masked off: copying it into a zero-padded array was a variable-length `memcpy`
    /// on every line. Only a line at the very end of the buffer takes the padded copy.
    #[inline]
    pub fn fill_within(&mut self, window: &[u8], len: usize) {
        self.count = 0;
        let line = window.get(..len).unwrap_or(window);
        let mut rest = line;
        let mut start = 0;
        while let Some((group, tail)) = rest.split_first_chunk::<GROUP_BYTES>() {
            self.push_group(start, group_bits(group));
            start += GROUP_BYTES;
            rest = tail;
        }
        if rest.is_empty() {
            return;
        }
        let line_bits = (1u64 << rest.len()) - 1;
        if let Some(group) = window.get(start..).and_then(<[u8]>::first_chunk::<GROUP_BYTES>) {
            self.push_group(start, group_bits(group) & line_bits);
            return;
        }
        // Padded with zeros (not `|`) so that it takes the same straight-line path as a full group.
        let mut last = [0u8; GROUP_BYTES];
        if let Some(head) = last.get_mut(..rest.len()) {
            head.copy_from_slice(rest);
        }
        self.push_group(start, group_bits(&last));
    }

    #[inline]
    fn push_group(&mut self, start: usize, mut group: u64) {
        while group != 0 {
            if let Some(slot) = self.at.get_mut(self.count) {
                *slot = start + group.trailing_zeros() as usize;
            }
            self.count += 1;
            group &= group - 1;
        }
    }

    /// All `|`s of the line.
    #[inline]
    pub fn count(&self) -> usize {
        self.count
    }

    /// Positions of the first `|`s, as many as were remembered.
    #[inline]
    pub fn tracked(&self) -> &[usize] {
        self.at.get(..self.count).unwrap_or(&self.at)
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

/// Bit i set where byte i of `group` is `|`: eight words, unrolled by the compiler.
#[inline]
fn group_bits(group: &[u8; GROUP_BYTES]) -> u64 {
    let mut bits = 0;
    for (index, word) in group.chunks_exact(8).enumerate() {
        let word = word.try_into().map_or(0, u64::from_le_bytes);
        bits |= pipe_bits(word) << (8 * index);
    }
    bits
}

/// Bit i set where byte i of the (little-endian loaded) word is `|`.
#[inline]
fn pipe_bits(word: u64) -> u64 {
    (zero_bytes(word ^ PIPE_BYTES) >> 7).wrapping_mul(GATHER) >> 56
}

/// The high bit of each byte of `word` that is zero, and no other bit. (The classic `(x - 0x01…) & !x`
/// also flags bytes above a zero byte; this form has no carries between bytes.)
#[inline]
fn zero_bytes(word: u64) -> u64 {
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
