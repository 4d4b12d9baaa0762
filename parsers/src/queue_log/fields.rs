//! The data part of a line, split into fields. Its field count is known up front, so each event picks its
//! Asterisk-version layout by count before reading a field. Asterisk never escapes `|`, so a free-text
//! field is the contiguous run of bytes that spans its pieces: borrowed, never re-joined by copying.

use super::error::{ErrorKind, snippet};
use super::grammar::{next_field, number};
use crate::text::Text;

/// `|`-separated fields in `bytes` (a line or a data part): one more than its `|`s.
pub(crate) fn count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&byte| byte == b'|').count() + 1
}

/// One line, checked for UTF-8 once: one check of the whole line costs a fraction of one check per field
/// (most of a check is its set-up on these short fields). Fields of a valid line then borrow as `&str`
/// (cut at ASCII `|`, they are valid too); fields of other lines are checked one by one and kept as Latin-1
/// where they are not UTF-8.
#[derive(Clone, Copy)]
pub(crate) struct LineText<'a> {
    line: &'a [u8],
    utf8: Option<&'a str>,
}

impl<'a> LineText<'a> {
    pub fn new(line: &'a [u8]) -> Self {
        Self { line, utf8: std::str::from_utf8(line).ok() }
    }

    /// `field` as text; `field` is a part of the line (anything else is simply checked on its own).
    pub fn get(&self, field: &'a [u8]) -> Text<'a> {
        if let Some(line) = self.utf8 {
            // The field's place in the line, from the two addresses; `str::get` checks the range and the
            // character boundaries, so a slice from elsewhere falls through to `Text::from_bytes`.
            let start = (field.as_ptr() as usize).wrapping_sub(self.line.as_ptr() as usize);
            if let Some(text) = start.checked_add(field.len()).and_then(|end| line.get(start..end)) {
                return Text::utf8(text);
            }
        }
        Text::from_bytes(field)
    }
}

/// The data part of one line, and the event it belongs to (for error messages).
#[derive(Clone, Copy)]
pub(crate) struct Data<'a> {
    event: &'a [u8],
    pub bytes: &'a [u8],
    /// Number of fields; 0 for empty data (`ADDMEMBER|`).
    pub count: usize,
    line: LineText<'a>,
}

impl<'a> Data<'a> {
    pub fn new(event: &'a [u8], bytes: &'a [u8], line: LineText<'a>) -> Self {
        let count = if bytes.is_empty() { 0 } else { count(bytes) };
        Self { event, bytes, count, line }
    }

    /// A field (or a free-text run of fields) as text.
    pub fn text(&self, field: &'a [u8]) -> Text<'a> {
        self.line.get(field)
    }

    /// The first `N - 1` fields, then everything after them as the last one (free text keeps its `|`).
    /// Missing fields are empty; callers check `count` first.
    pub fn front<const N: usize>(&self) -> [&'a [u8]; N] {
        let mut out: [&'a [u8]; N] = [&[]; N];
        let mut rest = self.bytes;
        if let Some((last, fields)) = out.split_last_mut() {
            for slot in fields {
                (rest, *slot) = next_field(rest).unwrap_or_default();
            }
            *last = rest;
        }
        out
    }

    /// The last `N` fields, and everything before them (free text keeps its `|`). Missing fields (when
    /// there are fewer than `N`) are the first ones, empty.
    pub fn back<const N: usize>(&self) -> (&'a [u8], [&'a [u8]; N]) {
        let mut out: [&'a [u8]; N] = [&[]; N];
        let missing = N.saturating_sub(self.count);
        let mut rest = self.bytes;
        let mut head_len = 0;
        for _ in 0..self.count.saturating_sub(N) {
            let (after, field) = next_field(rest).unwrap_or_default();
            head_len += field.len() + 1;
            rest = after;
        }
        let head = self.bytes.get(..head_len.saturating_sub(1)).unwrap_or_default();
        if let Some(present) = out.get_mut(missing..) {
            for slot in present {
                (rest, *slot) = next_field(rest).unwrap_or_default();
            }
        }
        (head, out)
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
        ErrorKind::FieldCount { event: self.event_name(), expected, found: self.count }
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
            event: self.event_name(),
            field,
            name,
            value: snippet(bytes),
        })
    }

    /// The event name for an error message (a typed event's name is ASCII).
    #[cold]
    pub fn event_name(&self) -> String {
        String::from_utf8_lossy(self.event).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(bytes: &[u8]) -> Data<'_> {
        Data::new(b"X", bytes, LineText::new(bytes))
    }

    fn front<const N: usize>(data: &[u8]) -> Vec<Vec<u8>> {
        self::data(data).front::<N>().map(<[u8]>::to_vec).to_vec()
    }

    fn back<const N: usize>(data: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
        let (head, tail) = self::data(data).back::<N>();
        (head.to_vec(), tail.map(<[u8]>::to_vec).to_vec())
    }

    #[test]
    fn front_keeps_free_text_tail() {
        assert_eq!(data(b"1|2|a|b|c").count, 5);
        assert_eq!(front::<3>(b"1|2|a|b|c"), [&b"1"[..], b"2", b"a|b|c"]);
        assert_eq!(front::<3>(b"1"), [&b"1"[..], b"", b""]);
        assert_eq!(front::<3>(b"1|2"), [&b"1"[..], b"2", b""]);
        assert_eq!(front::<3>(b"1|"), [&b"1"[..], b"", b""]);
        assert_eq!(front::<1>(b"a|b"), [&b"a|b"[..]]);
        assert_eq!(front::<2>(b""), [&b""[..], b""]);
    }

    #[test]
    fn back_keeps_free_text_head() {
        assert_eq!(back::<2>(b"u|r|l|cid|7"), (b"u|r|l".to_vec(), vec![b"cid".to_vec(), b"7".to_vec()]));
        assert_eq!(back::<2>(b"a|b"), (b"".to_vec(), vec![b"a".to_vec(), b"b".to_vec()]));
        assert_eq!(back::<3>(b"a|b"), (b"".to_vec(), vec![b"".to_vec(), b"a".to_vec(), b"b".to_vec()]));
        assert_eq!(back::<2>(b"|a|b"), (b"".to_vec(), vec![b"a".to_vec(), b"b".to_vec()]));
        assert_eq!(back::<2>(b"||a|b"), (b"|".to_vec(), vec![b"a".to_vec(), b"b".to_vec()]));
        let long = "a|".repeat(20) + "z";
        let (head, tail) = back::<2>(long.as_bytes());
        assert_eq!(tail, vec![b"a".to_vec(), b"z".to_vec()]);
        assert_eq!(head, long.as_bytes()[..long.len() - 4].to_vec());
    }

    #[test]
    fn fields_of_utf8_lines_borrow_and_latin1_fields_decode() {
        let line = "Zoë|Ng".as_bytes();
        let text = LineText::new(line);
        assert_eq!(text.get(&line[..4]).as_str(), Some("Zo\u{eb}"));
        assert_eq!(text.get(b"elsewhere"), "elsewhere");
        let latin1 = b"Zo\xeb|Ng";
        assert_eq!(LineText::new(latin1).get(&latin1[..3]), "Zo\u{eb}");
        assert_eq!(LineText::new(latin1).get(&latin1[..3]).as_str(), None);
        assert_eq!(LineText::new(latin1).get(&latin1[4..]).as_str(), Some("Ng"));
    }

    #[test]
    fn unknown_events_keep_every_field() {
        assert_eq!(data(b"a||b").all(), [Text::utf8("a"), Text::utf8(""), Text::utf8("b")]);
        assert!(data(b"").all().is_empty());
        assert_eq!(data(b"|").count, 2);
    }
}
