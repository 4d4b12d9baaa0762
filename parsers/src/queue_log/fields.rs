//! Splitting the data part of a line into fields. Asterisk never escapes `|`, so free-text fields are
//! recovered as the contiguous byte range that spans their pieces — borrowed, never re-joined by copying.

use super::error::{ErrorKind, snippet};
use super::scan::Pipes;
use super::text::Text;
use memchr::{memchr, memrchr};

/// `head|tail` at the first `|`.
pub(crate) fn split_once(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = memchr(b'|', bytes)?;
    Some((bytes.get(..at)?, bytes.get(at + 1..)?))
}

/// `head|tail` at the last `|`.
fn rsplit_once(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = memrchr(b'|', bytes)?;
    Some((bytes.get(..at)?, bytes.get(at + 1..)?))
}

/// One line's bytes, checked for UTF-8 once. Fields of a valid line then borrow as `&str` without being
/// validated again (splitting at ASCII `|` keeps UTF-8 valid); fields of other lines are checked one by one
/// and kept as Latin-1 where they are not UTF-8.
#[derive(Clone, Copy)]
pub(crate) struct LineText<'a> {
    line: &'a [u8],
    utf8: Option<&'a str>,
}

impl<'a> LineText<'a> {
    /// `known`: the same line already validated (as part of a bigger block) by the caller, if it was.
    #[inline]
    pub fn new(line: &'a [u8], known: Option<&'a str>) -> Self {
        let utf8 = match known {
            Some(text) if text.len() == line.len() && text.as_ptr() == line.as_ptr() => Some(text),
            // simdutf8 takes its SIMD path from 64 bytes on (most Asterisk lines) and is `std` below that.
            _ => simdutf8::basic::from_utf8(line).ok(),
        };
        Self { line, utf8 }
    }

    /// `field` must be a sub-slice of the line (anything else, e.g. an empty default, is simply checked).
    #[inline]
    pub fn get(&self, field: &'a [u8]) -> Text<'a> {
        if let Some(line) = self.utf8 {
            // Position of the field inside the line, from the two addresses; `str::get` re-checks range and
            // char boundaries, so a slice from elsewhere falls through to `Text::from_bytes`.
            let start = (field.as_ptr() as usize).wrapping_sub(self.line.as_ptr() as usize);
            if let Some(text) = start.checked_add(field.len()).and_then(|end| line.get(start..end)) {
                return Text::utf8(text);
            }
        }
        Text::from_bytes(field)
    }
}

/// The data part of one line, with its field count known up front so that each event can pick its version
/// layout by count, and the `|` positions of the line's scan so that splitting never searches again.
#[derive(Clone, Copy)]
pub(crate) struct Data<'a, 'p> {
    /// Event name for error messages.
    pub event: &'static str,
    pub bytes: &'a [u8],
    /// Number of `|`-separated fields; 0 for empty data (`ADDMEMBER|`).
    pub count: usize,
    text: LineText<'a>,
    /// Positions of the `|`s inside `bytes`, counted from `offset` (the start of the scanned line); `None`
    /// when the scan could not remember them all, and the splitters search instead.
    pipes: Option<&'p [usize]>,
    offset: usize,
}

impl<'a, 'p> Data<'a, 'p> {
    /// `bytes` is the data part of the line `pipes` scanned: everything after its fifth `|`.
    #[inline]
    pub fn new(bytes: &'a [u8], text: LineText<'a>, pipes: &'p Pipes) -> Self {
        let count = if bytes.is_empty() { 0 } else { pipes.count().saturating_sub(FIXED_PIPES) + 1 };
        let offset = pipes.tracked().get(FIXED_PIPES - 1).map_or(0, |&at| at + 1);
        Self { event: "", bytes, count, text, pipes: pipes.after(FIXED_PIPES), offset }
    }

    /// A field (or free-text run of fields) as text.
    #[inline]
    pub fn text(&self, field: &'a [u8]) -> Text<'a> {
        self.text.get(field)
    }

    /// The first `N - 1` fields, then everything after them as the last one (free text keeps its `|`).
    /// Missing fields are empty; callers check `count` first.
    ///
    /// When the data has exactly `N` fields (the usual case), each cut is read straight from its `|`
    /// position: always inlined with `N` known, LLVM unrolls the cuts into registers, where the general
    /// loop (free-text tail, missing fields) kept its array on the stack and re-read it.
    #[inline(always)]
    pub fn front<const N: usize>(&self) -> [&'a [u8]; N] {
        let Some(pipes) = self.pipes.filter(|pipes| pipes.len() + 1 == N) else { return self.front_any() };
        let mut out: [&'a [u8]; N] = [&[]; N];
        let mut start = 0;
        for (index, slot) in out.iter_mut().enumerate() {
            let end = pipes.get(index).map_or(self.bytes.len(), |&at| at.wrapping_sub(self.offset));
            *slot = self.bytes.get(start..end).unwrap_or_default();
            start = end.wrapping_add(1);
        }
        out
    }

    /// `front` for any number of fields.
    #[inline]
    fn front_any<const N: usize>(&self) -> [&'a [u8]; N] {
        let Some(pipes) = self.pipes else { return self.front_searching() };
        let mut out: [&'a [u8]; N] = [&[]; N];
        let mut cuts = pipes.iter().map(|&at| at.wrapping_sub(self.offset));
        let mut start = 0;
        for (index, slot) in out.iter_mut().enumerate() {
            match cuts.next().filter(|_| index + 1 < N) {
                Some(end) => {
                    *slot = self.bytes.get(start..end).unwrap_or_default();
                    start = end + 1;
                }
                None => {
                    *slot = self.bytes.get(start..).unwrap_or_default();
                    break;
                }
            }
        }
        out
    }

    /// The last `N` fields, and everything before them (free text keeps its `|`).
    #[inline]
    pub fn back<const N: usize>(&self) -> (&'a [u8], [&'a [u8]; N]) {
        let Some(pipes) = self.pipes else { return self.back_searching() };
        let mut out: [&'a [u8]; N] = [&[]; N];
        let mut cuts = pipes.iter().rev().map(|&at| at.wrapping_sub(self.offset));
        let mut end = self.bytes.len();
        for slot in out.iter_mut().rev() {
            match cuts.next() {
                Some(at) => {
                    *slot = self.bytes.get(at + 1..end).unwrap_or_default();
                    end = at;
                }
                None => {
                    *slot = self.bytes.get(..end).unwrap_or_default();
                    end = 0;
                    break;
                }
            }
        }
        (self.bytes.get(..end).unwrap_or_default(), out)
    }

    /// `front` for lines with more `|`s than the scan remembers (long free text).
    fn front_searching<const N: usize>(&self) -> [&'a [u8]; N] {
        let mut out: [&'a [u8]; N] = [&[]; N];
        let mut rest = self.bytes;
        for (index, slot) in out.iter_mut().enumerate() {
            if index + 1 == N {
                *slot = rest;
                break;
            }
            match split_once(rest) {
                Some((head, tail)) => {
                    *slot = head;
                    rest = tail;
                }
                None => {
                    *slot = rest;
                    rest = &[];
                }
            }
        }
        out
    }

    /// `back` for lines with more `|`s than the scan remembers (long free text).
    fn back_searching<const N: usize>(&self) -> (&'a [u8], [&'a [u8]; N]) {
        let mut out: [&'a [u8]; N] = [&[]; N];
        let mut rest = self.bytes;
        for slot in out.iter_mut().rev() {
            match rsplit_once(rest) {
                Some((head, tail)) => {
                    *slot = tail;
                    rest = head;
                }
                None => {
                    *slot = rest;
                    rest = &[];
                }
            }
        }
        (rest, out)
    }

    /// Every field, for events nobody typed.
    pub fn all(&self) -> Vec<Text<'a>> {
        if self.bytes.is_empty() {
            return Vec::new();
        }
        self.bytes.split(|&byte| byte == b'|').map(|field| self.text(field)).collect()
    }

    #[cold]
    pub fn wrong_count(&self, expected: &'static str) -> ErrorKind {
        ErrorKind::FieldCount { event: self.event, expected, found: self.count }
    }

    /// An optional number: empty → `None`, digits → `Some`, anything else is an error naming the field
    /// (1-based `field` as a person counts them in the data part).
    #[inline]
    pub fn opt_num(&self, bytes: &[u8], field: usize, name: &'static str) -> Result<Option<i64>, ErrorKind> {
        if bytes.is_empty() {
            return Ok(None);
        }
        self.num(bytes, field, name).map(Some)
    }

    /// A number the event cannot do without.
    #[inline]
    pub fn num(&self, bytes: &[u8], field: usize, name: &'static str) -> Result<i64, ErrorKind> {
        number(bytes).ok_or_else(|| ErrorKind::BadNumber {
            event: self.event,
            field,
            name,
            value: snippet(bytes),
        })
    }
}

/// A whole field as a decimal `%d`/`%ld`: optional `-`, digits, nothing else, no overflow. Hand-rolled
/// rather than nom's `i64` because it runs for most fields of most lines and dominated the profile.
#[inline]
pub(crate) fn number(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > MAX_I64_DIGITS {
        return None;
    }
    // 19 decimal digits always fit in a u64, so the loop needs no overflow checks; the range of i64 is
    // checked once at the end.
    let mut value: u64 = 0;
    let mut digits = digits;
    // Epochs (10 digits) would be a 10-step multiply-add chain; 8 digits at a time cut it to a few steps.
    while let Some((eight, rest)) = digits.split_first_chunk::<8>() {
        value = value * 100_000_000 + eight_digits(*eight)?;
        digits = rest;
    }
    for &byte in digits {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value * 10 + u64::from(digit);
    }
    if negative { 0i64.checked_sub_unsigned(value) } else { i64::try_from(value).ok() }
}

/// `|`s before the data part: after epoch, callid, queue, agent and the event name.
const FIXED_PIPES: usize = 5;

/// Eight ASCII digits as their value, in a few word operations instead of eight dependent multiply-adds;
/// `None` if any byte is not a digit.
#[inline]
pub fn eight_digits(bytes: [u8; 8]) -> Option<u64> {
    const ZEROS: u64 = u64::from_ne_bytes([b'0'; 8]);
    const HIGH_NIBBLES: u64 = u64::from_ne_bytes([0xf0; 8]);
    const PAST_NINE: u64 = u64::from_ne_bytes([0x06; 8]);
    let word = u64::from_le_bytes(bytes);
    // Every byte 0x30..=0x39: its high nibble is 3, and adding 6 does not carry out of the low nibble.
    if word & HIGH_NIBBLES != ZEROS || (word + PAST_NINE) & HIGH_NIBBLES != ZEROS {
        return None;
    }
    // Little-endian: the first (most significant) digit is the lowest byte. Pair digits, then pairs of
    // pairs, then the two halves; each step's products stay inside their lane.
    let digits = word - ZEROS;
    let pairs = (digits * 10 + (digits >> 8)) & 0x00ff_00ff_00ff_00ff;
    // The products overflow the top lane on purpose: only the shifted-down lanes are kept.
    let quads = (pairs.wrapping_mul((100 << 16) + 1) >> 16) & 0x0000_ffff_0000_ffff;
    Some(quads.wrapping_mul((10_000 << 32) + 1) >> 32)
}

/// Digits in `i64::MAX`; longer fields are rejected before any arithmetic.
const MAX_I64_DIGITS: usize = 19;

/// Whether a field holds a number (used to tell version layouts apart).
pub(crate) fn is_number(bytes: &[u8]) -> bool {
    number(bytes).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `check` on `data` as the data part of a whole line, split with the line's scan.
    fn with_data<R>(data: &[u8], check: impl FnOnce(Data<'_, '_>) -> R) -> R {
        let line = [&b"1|c|q|a|X|"[..], data].concat();
        let pipes = Pipes::scan(&line);
        let bytes = line.get(10..).unwrap_or_default();
        check(Data::new(bytes, LineText::new(&line, None), &pipes))
    }

    fn front<const N: usize>(data: &[u8]) -> Vec<Vec<u8>> {
        with_data(data, |data| data.front::<N>().map(<[u8]>::to_vec).to_vec())
    }

    fn back<const N: usize>(data: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
        with_data(data, |data| {
            let (head, tail) = data.back::<N>();
            (head.to_vec(), tail.map(<[u8]>::to_vec).to_vec())
        })
    }

    fn count(data: &[u8]) -> usize {
        with_data(data, |data| data.count)
    }

    #[test]
    fn text_borrows_fields_of_utf8_lines_and_decodes_latin1() {
        let line = "Zoë|Ng".as_bytes();
        let text = LineText::new(line, None);
        assert_eq!(text.get(&line[..4]).as_str(), Some("Zo\u{eb}"));
        assert_eq!(text.get(b"elsewhere"), "elsewhere");
        let latin1 = b"Zo\xeb|Ng";
        assert_eq!(LineText::new(latin1, None).get(&latin1[..3]), "Zo\u{eb}");
        assert_eq!(LineText::new(latin1, None).get(&latin1[..3]).as_str(), None);
        assert_eq!(LineText::new(latin1, None).get(&latin1[4..]).as_str(), Some("Ng"));
        let known = "Zo|Ng";
        let text = LineText::new(known.as_bytes(), Some(known));
        assert_eq!(text.get(&known.as_bytes()[3..]).as_str(), Some("Ng"));
        // A `known` text that is not the line itself is ignored, not trusted.
        assert_eq!(LineText::new(latin1, Some("other")).get(&latin1[..3]), "Zo\u{eb}");
    }

    #[test]
    fn front_keeps_free_text_tail() {
        assert_eq!(count(b"1|2|a|b|c"), 5);
        assert_eq!(front::<3>(b"1|2|a|b|c"), [&b"1"[..], b"2", b"a|b|c"]);
        assert_eq!(front::<3>(b"1"), [&b"1"[..], b"", b""]);
        assert_eq!(front::<3>(b"1|2"), [&b"1"[..], b"2", b""]);
        assert_eq!(front::<1>(b"a|b"), [&b"a|b"[..]]);
        assert_eq!(front::<2>(b""), [&b""[..], b""]);
    }

    #[test]
    fn back_keeps_free_text_head() {
        assert_eq!(back::<2>(b"u|r|l|cid|7"), (b"u|r|l".to_vec(), vec![b"cid".to_vec(), b"7".to_vec()]));
        assert_eq!(back::<2>(b"a|b"), (b"".to_vec(), vec![b"a".to_vec(), b"b".to_vec()]));
        assert_eq!(back::<3>(b"a|b"), (b"".to_vec(), vec![b"".to_vec(), b"a".to_vec(), b"b".to_vec()]));
    }

    #[test]
    fn splitting_is_the_same_with_and_without_remembered_pipes() {
        // More `|`s than the scan remembers: the searching fallbacks must give the same fields.
        let long = "a|".repeat(20) + "z";
        let data = long.as_bytes();
        let split: Vec<&[u8]> = data.split(|&byte| byte == b'|').collect();
        let fronts = front::<3>(data);
        assert_eq!(fronts[0], split[0]);
        assert_eq!(fronts[2], data.get(4..).unwrap_or_default());
        let (head, tail) = back::<2>(data);
        assert_eq!(tail, vec![b"a".to_vec(), b"z".to_vec()]);
        assert_eq!(head, data.get(..data.len() - 4).unwrap_or_default());
        assert_eq!(count(data), 21);
    }

    #[test]
    fn numbers_are_whole_fields() {
        assert_eq!(number(b"15000"), Some(15000));
        assert_eq!(number(b"-3"), Some(-3));
        assert_eq!(number(b""), None);
        assert_eq!(number(b"12a"), None);
        assert_eq!(number(b" 12"), None);
        assert_eq!(number(b"99999999999999999999"), None);
        assert_eq!(number(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(number(b"9223372036854775808"), None);
        assert_eq!(number(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(number(b"-"), None);
        assert_eq!(number(b"1795382800"), Some(1_795_382_800));
        assert_eq!(number(b"12345678"), Some(12_345_678));
        assert_eq!(number(b"1234567890123456789"), Some(1_234_567_890_123_456_789));
        assert_eq!(number(b"0000000001"), Some(1));
        for bad in
            [&b"1234567:"[..], b"/2345678", b"12345678a", b"123 5678", b"\x00\x00\x00\x00\x00\x00\x00\x00"]
        {
            assert_eq!(number(bad), None, "{bad:?}");
        }
        assert_eq!(number(b"+5"), None);
        assert_eq!(count(b""), 0);
        assert_eq!(count(b"|"), 2);
    }
}
