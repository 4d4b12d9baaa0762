//! The line level: framing, in nom (streaming: a line without its `\n` yet is `Incomplete`, which is
//! exactly nom's streaming contract), and the epoch field. The per-event data layouts are cut at the
//! `|` positions one scan found (`scan`, `fields`): re-searching for each field was measured slower.

use nom::bytes::streaming::{tag, take_until};
use nom::sequence::terminated;
use nom::{IResult, Parser};

/// One line and its `\n`. nom's `take_until` looks for a one-byte needle with memchr, so framing runs at
/// memory speed.
#[inline]
pub(super) fn line(input: &[u8]) -> IResult<&[u8], &[u8]> {
    terminated(take_until("\n"), tag("\n")).parse(input)
}

/// The epoch: `time(NULL)` printed with `%ld`, so only digits (a negative or empty epoch is a bad line).
/// Converted by `fields::number` directly: through nom's `digit1` + `map_opt` the field was scanned twice
/// and the combinator plumbing took ~8 % of a line's parse time.
#[inline]
pub(super) fn epoch(field: &[u8]) -> Option<i64> {
    if !field.first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    super::fields::number(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_incomplete_until_its_newline() {
        assert!(matches!(line(b"1|a|b|c|X|"), Err(nom::Err::Incomplete(_))));
        assert_eq!(line(b"1|a|b|c|X|\nrest").ok(), Some((&b"rest"[..], &b"1|a|b|c|X|"[..])));
    }

    #[test]
    fn epochs_are_digits_only() {
        assert_eq!(epoch(b"1795382801"), Some(1_795_382_801));
        assert_eq!(epoch(b""), None);
        assert_eq!(epoch(b"-5"), None);
        assert_eq!(epoch(b"12x"), None);
    }
}
