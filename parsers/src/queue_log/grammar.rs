//! The nom grammar of the line level: framing (streaming: a line without its `\n` yet is `Incomplete`,
//! which is exactly nom's streaming contract) and the epoch field. The per-event data layouts are cut at the
//! `|` positions one scan found (`scan`, `fields`): re-searching for each field was measured slower.

use nom::bytes::streaming::{tag, take_until};
use nom::character::complete::digit1;
use nom::combinator::{all_consuming, map_opt};
use nom::sequence::terminated;
use nom::{IResult, Parser};

/// One line and its `\n`. nom's `take_until` looks for a one-byte needle with memchr, so framing runs at
/// memory speed.
#[inline]
pub(super) fn line(input: &[u8]) -> IResult<&[u8], &[u8]> {
    terminated(take_until("\n"), tag("\n")).parse(input)
}

/// The epoch: `time(NULL)` printed with `%ld`, so only digits (a negative or empty epoch is a bad line).
/// The digits are converted by `fields::number`, which is checked and faster than a per-digit fold.
#[inline]
pub(super) fn epoch(field: &[u8]) -> Option<i64> {
    all_consuming(map_opt(digit1::<_, nom::error::Error<&[u8]>>, super::fields::number))
        .parse(field)
        .ok()
        .map(|(_, value)| value)
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
