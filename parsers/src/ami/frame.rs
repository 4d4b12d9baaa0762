//! Stateless framing, in nom: find where a message ends, split its lines into fields, classify it. Lines
//! are framed with nom's streaming parsers, so a line without its `\n` yet is `Incomplete`, which is the
//! decoder's own contract; a framed line is split with the `complete` ones.

use nom::bytes::complete::take_till;
use nom::bytes::streaming::{tag, take_until};
use nom::character::complete::{char, space0};
use nom::combinator::{opt, rest};
use nom::multi::many0_count;
use nom::sequence::{preceded, terminated};
use nom::{IResult, Parser};

use super::message::{Field, Message, MessageKind};
use super::{FrameError, Limit, Limits, NextMessage};

/// nom results without error detail: every failure becomes `Incomplete` or an [`FrameError`] here.
type Res<'a, T> = IResult<&'a [u8], T, ()>;

/// First bytes of the banner line (`Asterisk Call Manager/11.0.0`), identical from 1.0 to 23.
const BANNER_PREFIX: &[u8] = b"Asterisk Call Manager/";
/// End of ≤13 Command output; a line end and an empty line follow it.
const END_COMMAND: &[u8] = b"--END COMMAND--";
/// Longest first-line excerpt quoted in an `UnknownKind` error, in characters.
const ERROR_EXCERPT_CHARS: usize = 80;

/// Parse one message with the default [`Limits`].
pub fn parse_message(buf: &[u8]) -> Result<NextMessage<Message<'_>>, FrameError> {
    parse_message_with(buf, &Limits::default())
}

/// Parse one message (`Response`, `Event`, `Action` or ≤13 `Follows`) from the front of `buf`.
pub fn parse_message_with<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<NextMessage<Message<'a>>, FrameError> {
    let start = skip_empty_lines(buf);
    let Some((first_line, first_len)) = line(&buf[start..]) else {
        return incomplete_unless_too_large(buf, start, start, limits);
    };
    let first_end = start + first_len;
    let first = split_field(first_line);
    if first.key.eq_ignore_ascii_case(b"Response") && first.value.eq_ignore_ascii_case(b"Follows") {
        return parse_follows(buf, start, first, first_end, limits);
    }
    let mut fields = Vec::with_capacity(24);
    fields.push(first);
    let mut at = first_end;
    loop {
        let Some((line, len)) = line(&buf[at..]) else {
            return incomplete_unless_too_large(buf, start, at, limits);
        };
        at += len;
        if at - start > limits.max_message_bytes {
            return Err(too_large(buf, at, Limit::Bytes, limits.max_message_bytes, line.is_empty()));
        }
        if line.is_empty() {
            break;
        }
        if fields.len() >= limits.max_lines {
            return Err(too_large(buf, at, Limit::Lines, limits.max_lines, false));
        }
        fields.push(split_field(line));
    }
    let kind = classify(&first)
        .ok_or_else(|| FrameError::UnknownKind { first_line: excerpt(first_line), skip: at })?;
    Ok(NextMessage::Complete { message: Message { kind, fields }, consumed: at })
}

/// The banner line, if `buf` starts with one (after stray empty lines). `None`: these bytes are not a
/// banner (a proxy may omit it).
pub fn parse_banner(buf: &[u8]) -> Option<NextMessage<Message<'_>>> {
    let start = skip_empty_lines(buf);
    let rest = &buf[start..];
    let prefix: Res<'_, &[u8]> = tag(BANNER_PREFIX).parse(rest);
    match prefix {
        Ok(_) => {}
        Err(nom::Err::Incomplete(_)) => return Some(NextMessage::Incomplete),
        Err(_) => return None,
    }
    let Some((line, len)) = line(rest) else {
        // A banner is ~30 bytes; a longer unterminated "banner" is something else, let the caller decide.
        return (rest.len() <= Limits::default().max_message_bytes).then_some(NextMessage::Incomplete);
    };
    let version = line.get(BANNER_PREFIX.len()..).unwrap_or_default();
    let message = Message { kind: MessageKind::Banner { version }, fields: Vec::new() };
    Some(NextMessage::Complete { message, consumed: start + len })
}

/// Bytes up to and including the next empty line (the end of the message `buf` is inside), or `None` if it
/// has not arrived yet. Used to resynchronise after an error.
pub fn skip_message(buf: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some((line, len)) = line(&buf[at..]) {
        at += len;
        if line.is_empty() {
            return Some(at);
        }
    }
    None
}

fn classify<'a>(first: &Field<'a>) -> Option<MessageKind<'a>> {
    let key = first.key;
    if key.eq_ignore_ascii_case(b"Event") {
        Some(MessageKind::Event { name: first.value })
    } else if key.eq_ignore_ascii_case(b"Response") {
        Some(MessageKind::Response { status: first.value })
    } else if key.eq_ignore_ascii_case(b"Action") {
        Some(MessageKind::Action { name: first.value })
    } else {
        None
    }
}

/// `Response: Follows`, `Privilege: Command`, optional `ActionID`, raw CLI text, `--END COMMAND--`, empty line.
fn parse_follows<'a>(
    buf: &'a [u8],
    start: usize,
    first: Field<'a>,
    first_end: usize,
    limits: &Limits,
) -> Result<NextMessage<Message<'a>>, FrameError> {
    let Some((marker, end)) = find_end_command(buf, first_end) else {
        return incomplete_unless_too_large(buf, start, first_end, limits);
    };
    if end - start > limits.max_message_bytes {
        return Err(FrameError::TooLarge {
            what: Limit::Bytes,
            limit: limits.max_message_bytes,
            skip: end,
            complete: true,
        });
    }
    let mut fields = vec![first];
    let mut at = first_end;
    while let Some((line, len)) = line(&buf[at..marker]) {
        let field = split_field(line);
        let is_header =
            field.key.eq_ignore_ascii_case(b"Privilege") || field.key.eq_ignore_ascii_case(b"ActionID");
        if !is_header {
            break;
        }
        fields.push(field);
        at += len;
    }
    Ok(NextMessage::Complete {
        message: Message { kind: MessageKind::Follows { body: &buf[at..marker] }, fields },
        consumed: end,
    })
}

/// Position of the `--END COMMAND--` marker and the end of the empty line after it; `None` until both
/// have arrived. A marker not followed by two line ends is part of the CLI text.
fn find_end_command(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut search = from;
    loop {
        let found: Res<'_, &[u8]> = nom::bytes::complete::take_until(END_COMMAND).parse(&buf[search..]);
        let (_, before) = found.ok()?;
        let marker = search + before.len();
        let after = marker + END_COMMAND.len();
        let ends: Res<'_, _> = (line_ending, line_ending).parse(&buf[after..]);
        match ends {
            Ok((rest, _)) => return Some((marker, buf.len() - rest.len())),
            Err(nom::Err::Incomplete(_)) => return None,
            Err(_) => search = after,
        }
    }
}

fn incomplete_unless_too_large<'a>(
    buf: &[u8],
    start: usize,
    line_start: usize,
    limits: &Limits,
) -> Result<NextMessage<Message<'a>>, FrameError> {
    if buf.len() - start > limits.max_message_bytes {
        return Err(too_large(buf, line_start, Limit::Bytes, limits.max_message_bytes, false));
    }
    Ok(NextMessage::Incomplete)
}

/// A message broke a limit. `from` is a line start inside it (or its end when `at_end`): drop through the
/// message's empty line if it is buffered, else every buffered whole line (or everything, mid-line).
fn too_large(buf: &[u8], from: usize, what: Limit, limit: usize, at_end: bool) -> FrameError {
    let found = if at_end { Some(0) } else { buf.get(from..).and_then(skip_message) };
    let (skip, complete) = match found {
        Some(n) => (from + n, true),
        None => (last_line_end(buf).unwrap_or(buf.len()), false),
    };
    FrameError::TooLarge { what, limit, skip: skip.max(1), complete }
}

/// Index of the first byte after any empty lines (`\n` or `\r\n`) at the front of `buf`.
fn skip_empty_lines(buf: &[u8]) -> usize {
    let skipped: Res<'_, usize> = many0_count(nom::character::complete::line_ending).parse(buf);
    skipped.map_or(0, |(rest, _)| buf.len() - rest.len())
}

/// The first line of `input` without its `\n` and optional `\r`, and its length with them; `None` while its
/// `\n` has not arrived.
pub(super) fn line(input: &[u8]) -> Option<(&[u8], usize)> {
    let framed: Res<'_, &[u8]> = terminated(take_until("\n"), tag("\n")).parse(input);
    let (rest, line) = framed.ok()?;
    Some((line.strip_suffix(b"\r").unwrap_or(line), input.len() - rest.len()))
}

/// `\n` or `\r\n`; `Incomplete` on an empty input or a lone `\r`.
fn line_ending(input: &[u8]) -> Res<'_, &[u8]> {
    nom::character::streaming::line_ending(input)
}

/// Bytes of `buf` up to the end of its last whole line; `None` when it has none.
pub(super) fn last_line_end(buf: &[u8]) -> Option<usize> {
    buf.iter().rposition(|&byte| byte == b'\n').map(|at| at + 1)
}

/// `Key: Value` → key and value; the value without the blanks (space, tab) after the colon, which the
/// server's reader skips too. A line without `:` is all key, with an empty value.
pub(super) fn split_field(line: &[u8]) -> Field<'_> {
    let mut field = (take_till(|byte| byte == b':'), opt(preceded(char(':'), preceded(space0, rest))));
    let split: Res<'_, (&[u8], Option<&[u8]>)> = field.parse(line);
    match split {
        Ok((_, (key, value))) => Field { key, value: value.unwrap_or_default() },
        Err(_) => Field { key: line, value: &[] },
    }
}

fn excerpt(line: &[u8]) -> String {
    crate::text::decode(line).chars().take(ERROR_EXCERPT_CHARS).collect()
}
