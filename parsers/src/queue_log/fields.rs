//! Splitting the data part of a line into fields. Asterisk never escapes `|`, so free-text fields are
//! recovered as the contiguous byte range that spans their pieces — borrowed, never re-joined by copying.

use super::error::{ErrorKind, snippet};
use crate::text::decode;
use memchr::{memchr, memrchr};
use std::borrow::Cow;

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
/// validated again (splitting at ASCII `|` keeps UTF-8 valid); other lines decode field by field as Latin-1.
#[derive(Clone, Copy)]
pub(crate) struct Text<'a> {
    line: &'a [u8],
    utf8: Option<&'a str>,
}

impl<'a> Text<'a> {
    pub fn new(line: &'a [u8]) -> Self {
        Self { line, utf8: std::str::from_utf8(line).ok() }
    }

    /// `field` must be a sub-slice of the line (anything else, e.g. an empty default, is simply decoded).
    #[inline]
    pub fn get(&self, field: &'a [u8]) -> Cow<'a, str> {
        if let Some(line) = self.utf8 {
            // Position of the field inside the line, from the two addresses; `str::get` re-checks range and
            // char boundaries, so a slice from elsewhere falls through to `decode`.
            let start = (field.as_ptr() as usize).wrapping_sub(self.line.as_ptr() as usize);
            if let Some(text) = start.checked_add(field.len()).and_then(|end| line.get(start..end)) {
                return Cow::Borrowed(text);
            }
        }
        decode(field)
    }
}

/// The data part of one line of a known event, with its field count known up front so that each event can
/// pick its version layout by count.
pub(crate) struct Data<'a> {
    pub event: &'static str,
    pub bytes: &'a [u8],
    /// Number of `|`-separated fields; 0 for empty data (`ADDMEMBER|`).
    pub count: usize,
    text: Text<'a>,
}

impl<'a> Data<'a> {
    pub fn new(event: &'static str, bytes: &'a [u8], text: Text<'a>) -> Self {
        // A plain loop: data parts are short, where SIMD set-up costs more than it saves.
        let count = if bytes.is_empty() { 0 } else { bytes.iter().filter(|&&byte| byte == b'|').count() + 1 };
        Self { event, bytes, count, text }
    }

    /// A field (or free-text run of fields) as text.
    #[inline]
    pub fn text(&self, field: &'a [u8]) -> Cow<'a, str> {
        self.text.get(field)
    }

    /// The first `N - 1` fields, then everything after them as the last one (free text keeps its `|`).
    /// Missing fields are empty; callers check `count` first.
    pub fn front<const N: usize>(&self) -> [&'a [u8]; N] {
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

    /// The last `N` fields, and everything before them (free text keeps its `|`).
    pub fn back<const N: usize>(&self) -> (&'a [u8], [&'a [u8]; N]) {
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
    pub fn all(&self) -> Vec<Cow<'a, str>> {
        if self.bytes.is_empty() {
            return Vec::new();
        }
        self.bytes.split(|&byte| byte == b'|').map(|field| self.text(field)).collect()
    }

    pub fn wrong_count(&self, expected: &'static str) -> ErrorKind {
        ErrorKind::FieldCount { event: self.event, expected, found: self.count }
    }

    /// An optional number: empty → `None`, digits → `Some`, anything else is an error naming the field
    /// (1-based `field` as a person counts them in the data part).
    pub fn opt_num(&self, bytes: &[u8], field: usize, name: &'static str) -> Result<Option<i64>, ErrorKind> {
        if bytes.is_empty() {
            return Ok(None);
        }
        self.num(bytes, field, name).map(Some)
    }

    /// A number the event cannot do without.
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
    for &byte in digits {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value * 10 + u64::from(digit);
    }
    if negative { 0i64.checked_sub_unsigned(value) } else { i64::try_from(value).ok() }
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

    fn fields(bytes: &[u8]) -> Data<'_> {
        Data::new("X", bytes, Text::new(bytes))
    }

    #[test]
    fn text_borrows_fields_of_utf8_lines_and_decodes_latin1() {
        let line = "Zoë|Ng".as_bytes();
        let text = Text::new(line);
        assert!(matches!(text.get(&line[..4]), Cow::Borrowed("Zo\u{eb}")));
        assert_eq!(text.get(b"elsewhere"), "elsewhere");
        let latin1 = b"Zo\xeb|Ng";
        assert_eq!(Text::new(latin1).get(&latin1[..3]), "Zo\u{eb}");
    }

    #[test]
    fn front_keeps_free_text_tail() {
        let data = fields(b"1|2|a|b|c");
        assert_eq!(data.count, 5);
        assert_eq!(data.front::<3>(), [&b"1"[..], b"2", b"a|b|c"]);
        assert_eq!(fields(b"1").front::<3>(), [&b"1"[..], b"", b""]);
    }

    #[test]
    fn back_keeps_free_text_head() {
        let data = fields(b"u|r|l|cid|7");
        assert_eq!(data.back::<2>(), (&b"u|r|l"[..], [&b"cid"[..], b"7"]));
        assert_eq!(fields(b"a|b").back::<2>(), (&b""[..], [&b"a"[..], b"b"]));
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
        assert_eq!(number(b"+5"), None);
        assert_eq!(fields(b"").count, 0);
        assert_eq!(fields(b"|").count, 2);
    }
}
