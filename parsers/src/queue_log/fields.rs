//! Splitting the data part of a line into fields. Asterisk never escapes `|`, so free-text fields are
//! recovered as the contiguous byte range that spans their pieces — borrowed, never re-joined by copying.

use super::error::{ErrorKind, snippet};
use crate::text::decode;
use memchr::{memchr, memrchr};
use nom::Parser;
use nom::combinator::all_consuming;
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

/// The data part of one line of a known event, with its field count known up front so that each event can
/// pick its version layout by count.
pub(crate) struct Data<'a> {
    pub event: &'static str,
    pub bytes: &'a [u8],
    /// Number of `|`-separated fields; 0 for empty data (`ADDMEMBER|`).
    pub count: usize,
}

impl<'a> Data<'a> {
    pub fn new(event: &'static str, bytes: &'a [u8]) -> Self {
        let count = if bytes.is_empty() { 0 } else { memchr::memchr_iter(b'|', bytes).count() + 1 };
        Self { event, bytes, count }
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
        self.bytes.split(|&byte| byte == b'|').map(decode).collect()
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

/// A whole field as a decimal `%d`/`%ld`: optional sign, digits, nothing else, no overflow.
pub(crate) fn number(bytes: &[u8]) -> Option<i64> {
    all_consuming(nom::character::complete::i64::<_, ()>).parse(bytes).ok().map(|(_, value)| value)
}

/// Whether a field holds a number (used to tell version layouts apart).
pub(crate) fn is_number(bytes: &[u8]) -> bool {
    number(bytes).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_keeps_free_text_tail() {
        let data = Data::new("X", b"1|2|a|b|c");
        assert_eq!(data.count, 5);
        assert_eq!(data.front::<3>(), [&b"1"[..], b"2", b"a|b|c"]);
        assert_eq!(Data::new("X", b"1").front::<3>(), [&b"1"[..], b"", b""]);
    }

    #[test]
    fn back_keeps_free_text_head() {
        let data = Data::new("X", b"u|r|l|cid|7");
        assert_eq!(data.back::<2>(), (&b"u|r|l"[..], [&b"cid"[..], b"7"]));
        assert_eq!(Data::new("X", b"a|b").back::<2>(), (&b""[..], [&b"a"[..], b"b"]));
    }

    #[test]
    fn numbers_are_whole_fields() {
        assert_eq!(number(b"15000"), Some(15000));
        assert_eq!(number(b"-3"), Some(-3));
        assert_eq!(number(b""), None);
        assert_eq!(number(b"12a"), None);
        assert_eq!(number(b" 12"), None);
        assert_eq!(number(b"99999999999999999999"), None);
        assert_eq!(Data::new("X", b"").count, 0);
        assert_eq!(Data::new("X", b"|").count, 2);
    }
}
