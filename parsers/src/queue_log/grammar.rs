//! The line grammar in nom: framing (streaming: a line without its `\n` yet is `Incomplete`, which is
//! exactly nom's streaming contract), the five fixed fields, and the numbers Asterisk prints.
//!
//! Parsers of fields run on one framed line, so they are nom's `complete` variants: the end of the line
//! ends the last field. Errors carry no detail (`()`): every caller turns a failure into its own
//! `ErrorKind`, which says more than a nom error could.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_until};
use nom::character::complete::{char, digit1};
use nom::combinator::{all_consuming, opt, rest};
use nom::sequence::{preceded, separated_pair, terminated};
use nom::{IResult, Parser};

type Res<'a, T> = IResult<&'a [u8], T, ()>;

/// The first line of `input` and the bytes it takes with its `\n`; `None` while its `\n` has not arrived.
/// `at_eof`: the end of the input also ends a last line (which then has no `\n`). nom's `take_until` looks
/// for a one-byte needle with memchr, so framing runs at memory speed.
pub(super) fn line(input: &[u8], at_eof: bool) -> Option<(&[u8], usize)> {
    let framed: Res<'_, &[u8]> =
        terminated(nom::bytes::streaming::take_until("\n"), nom::bytes::streaming::tag("\n")).parse(input);
    match framed {
        Ok((rest, line)) => Some((line, input.len() - rest.len())),
        Err(_) if at_eof && !input.is_empty() => Some((input, input.len())),
        Err(_) => None,
    }
}

/// The parts of a line before its event data.
pub(super) struct Fixed<'a> {
    pub epoch: &'a [u8],
    pub callid: &'a [u8],
    pub queue: &'a [u8],
    pub agent: &'a [u8],
    pub name: &'a [u8],
    /// Everything after the `|` that ends the event name; empty when there is no such `|` (Asterisk always
    /// writes it, but a hand-made `…|QUEUESTART` is accepted as an event without data).
    pub data: &'a [u8],
}

/// `epoch|callid|queue|agent|EVENT[|data]`; `None` when the line has fewer than five fields.
pub(super) fn fixed_fields(line: &[u8]) -> Option<Fixed<'_>> {
    let mut fixed = (
        terminated(field, pipe),
        terminated(field, pipe),
        terminated(field, pipe),
        terminated(field, pipe),
        field,
        opt(preceded(pipe, rest)),
    );
    let (_, (epoch, callid, queue, agent, name, data)) = fixed.parse(line).ok()?;
    Some(Fixed { epoch, callid, queue, agent, name, data: data.unwrap_or_default() })
}

/// One field: everything up to the next `|` or the end of the line. Asterisk never escapes `|`. nom runs
/// `take_until` with a one-byte needle as one memchr, measured faster on these 5–20 byte fields than
/// `take_till`'s test of every byte.
pub(super) fn field(input: &[u8]) -> Res<'_, &[u8]> {
    alt((take_until("|"), rest)).parse(input)
}

pub(super) fn pipe(input: &[u8]) -> Res<'_, &[u8]> {
    tag(&b"|"[..])(input)
}

/// `field` and the `|` after it, if there is one (the last field of the line has none).
pub(super) fn next_field(input: &[u8]) -> Res<'_, &[u8]> {
    terminated(field, opt(pipe)).parse(input)
}

/// `head|tail` at the first `|`; `None` without one.
pub(super) fn split_pipe(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let split: Res<'_, (&[u8], &[u8])> = separated_pair(field, pipe, rest).parse(bytes);
    split.ok().map(|(_, pair)| pair)
}

/// The epoch: `time(NULL)` printed with `%ld`, so only digits (a negative or empty epoch is a bad line).
pub(super) fn epoch(field: &[u8]) -> Option<i64> {
    let digits: Res<'_, &[u8]> = all_consuming(digit1).parse(field);
    let (_, digits) = digits.ok()?;
    signed(false, digits)
}

/// A whole field as a decimal `%d`/`%ld`: optional `-`, digits, nothing else, no overflow.
pub(super) fn number(field: &[u8]) -> Option<i64> {
    let parsed: Res<'_, (Option<char>, &[u8])> = all_consuming((opt(char('-')), digit1)).parse(field);
    let (_, (minus, digits)) = parsed.ok()?;
    signed(minus.is_some(), digits)
}

/// Digits in `i64::MAX`; longer fields are rejected before any arithmetic (so leading zeros count too,
/// as they always did: `%ld` never writes them).
const MAX_I64_DIGITS: usize = 19;

/// ASCII digits (at most 19, which always fit a `u64` without overflow checks) as an `i64`.
fn signed(negative: bool, digits: &[u8]) -> Option<i64> {
    if digits.len() > MAX_I64_DIGITS {
        return None;
    }
    let value = digits.iter().fold(0u64, |value, &digit| value * 10 + u64::from(digit - b'0'));
    if negative { 0i64.checked_sub_unsigned(value) } else { i64::try_from(value).ok() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_incomplete_until_its_newline_or_the_end_of_input() {
        assert_eq!(line(b"1|a|b|c|X|", false), None);
        assert_eq!(line(b"1|a|b|c|X|", true), Some((&b"1|a|b|c|X|"[..], 10)));
        assert_eq!(line(b"1|a|b|c|X|\nrest", false), Some((&b"1|a|b|c|X|"[..], 11)));
        assert_eq!(line(b"", true), None);
    }

    #[test]
    fn fixed_fields_need_five() {
        let fixed =
            fixed_fields(b"1|c|q|a|X|d|e").map(|f| (f.epoch, f.callid, f.queue, f.agent, f.name, f.data));
        assert_eq!(fixed, Some((&b"1"[..], &b"c"[..], &b"q"[..], &b"a"[..], &b"X"[..], &b"d|e"[..])));
        assert_eq!(fixed_fields(b"1|c|q|a|X").map(|f| f.data), Some(&b""[..]));
        assert!(fixed_fields(b"1|c|q|a").is_none());
    }

    #[test]
    fn epochs_are_digits_only() {
        assert_eq!(epoch(b"1795382801"), Some(1_795_382_801));
        assert_eq!(epoch(b""), None);
        assert_eq!(epoch(b"-5"), None);
        assert_eq!(epoch(b"12x"), None);
    }

    #[test]
    fn numbers_are_whole_fields_without_overflow() {
        assert_eq!(number(b"-12"), Some(-12));
        assert_eq!(number(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(number(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(number(b"9223372036854775808"), None);
        assert_eq!(number(b"00000000000000000001"), None);
        assert_eq!(number(b"0000000001"), Some(1));
        for bad in [&b""[..], b"-", b"+5", b" 5", b"5 ", b"1234567:", b"/2345678", b"12345678a"] {
            assert_eq!(number(bad), None, "{bad:?}");
        }
    }
}
