//! Stateless framing: find where a message ends, split its lines into fields, classify it.

use memchr::{memchr, memmem, memrchr};
use nom::IResult;
use nom::character::complete::space0;

use super::message::{Field, Message, MessageKind};
use super::{AmiError, Limit, Limits, Parsed};

/// First bytes of the banner line (`Asterisk Call Manager/11.0.0`), identical from 1.0 to 23.
const BANNER_PREFIX: &[u8] = b"Asterisk Call Manager/";
/// End of ≤13 Command output; a line end and an empty line follow it.
const END_COMMAND: &[u8] = b"--END COMMAND--";
/// Longest first-line excerpt quoted in an `UnknownKind` error, in characters.
const ERROR_EXCERPT_CHARS: usize = 80;

/// Parse one message with the default [`Limits`].
pub fn parse_message(buf: &[u8]) -> Result<Parsed<Message<'_>>, AmiError> {
    parse_message_with(buf, &Limits::default())
}

/// Parse one message (`Response`, `Event`, `Action` or ≤13 `Follows`) from the front of `buf`.
pub fn parse_message_with<'a>(buf: &'a [u8], limits: &Limits) -> Result<Parsed<Message<'a>>, AmiError> {
    let start = skip_empty_lines(buf);
    let Some(first_end) = memchr(b'\n', &buf[start..]).map(|i| start + i + 1) else {
        return incomplete_unless_too_large(buf, start, start, limits);
    };
    let first = split_field(strip_eol(&buf[start..first_end]));
    if first.key.eq_ignore_ascii_case(b"Response") && first.value.eq_ignore_ascii_case(b"Follows") {
        return parse_follows(buf, start, first, first_end, limits);
    }
    let mut fields = Vec::with_capacity(24);
    fields.push(first);
    let mut at = first_end;
    loop {
        let Some(nl) = memchr(b'\n', &buf[at..]) else {
            return incomplete_unless_too_large(buf, start, at, limits);
        };
        let line = strip_eol(&buf[at..at + nl]);
        at += nl + 1;
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
    let kind = classify(&first).ok_or_else(|| AmiError::UnknownKind {
        first_line: excerpt(strip_eol(&buf[start..first_end])),
        skip: at,
    })?;
    Ok(Parsed::Complete { message: Message { kind, fields }, consumed: at })
}

/// The banner line, if `buf` starts with one (after stray empty lines). `None`: these bytes are not a
/// banner (a proxy may omit it).
pub fn parse_banner(buf: &[u8]) -> Option<Parsed<Message<'_>>> {
    let start = skip_empty_lines(buf);
    let line = &buf[start..];
    let shared = line.len().min(BANNER_PREFIX.len());
    if line[..shared] != BANNER_PREFIX[..shared] {
        return None;
    }
    if line.len() < BANNER_PREFIX.len() {
        return Some(Parsed::Incomplete);
    }
    let Some(nl) = memchr(b'\n', line) else {
        // A banner is ~30 bytes; a longer unterminated "banner" is something else, let the caller decide.
        return (line.len() <= Limits::default().max_message_bytes).then_some(Parsed::Incomplete);
    };
    let version = strip_eol(&line[..nl]).get(BANNER_PREFIX.len()..).unwrap_or_default();
    let message = Message { kind: MessageKind::Banner { version }, fields: Vec::new() };
    Some(Parsed::Complete { message, consumed: start + nl + 1 })
}

/// Bytes up to and including the next empty line (the end of the message `buf` is inside), or `None` if it
/// has not arrived yet. Used to resynchronise after an error.
pub fn skip_message(buf: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(nl) = memchr(b'\n', &buf[at..]) {
        let line = strip_eol(&buf[at..at + nl]);
        at += nl + 1;
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
) -> Result<Parsed<Message<'a>>, AmiError> {
    let Some((marker, end)) = find_end_command(buf, first_end) else {
        return incomplete_unless_too_large(buf, start, first_end, limits);
    };
    if end - start > limits.max_message_bytes {
        return Err(AmiError::TooLarge {
            what: Limit::Bytes,
            limit: limits.max_message_bytes,
            skip: end,
            complete: true,
        });
    }
    let mut fields = vec![first];
    let mut at = first_end;
    while let Some(nl) = memchr(b'\n', &buf[at..marker]) {
        let field = split_field(strip_eol(&buf[at..at + nl]));
        let is_header =
            field.key.eq_ignore_ascii_case(b"Privilege") || field.key.eq_ignore_ascii_case(b"ActionID");
        if !is_header {
            break;
        }
        fields.push(field);
        at += nl + 1;
    }
    Ok(Parsed::Complete {
        message: Message { kind: MessageKind::Follows { body: &buf[at..marker] }, fields },
        consumed: end,
    })
}

/// Position of the `--END COMMAND--` marker and the end of the empty line after it.
fn find_end_command(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let finder = memmem::Finder::new(END_COMMAND);
    let mut search = from;
    while let Some(i) = finder.find(&buf[search..]) {
        let marker = search + i;
        let after = marker + END_COMMAND.len();
        match two_line_ends(&buf[after..]) {
            LineEnds::Found(n) => return Some((marker, after + n)),
            LineEnds::NeedMore => return None,
            LineEnds::No => search = after,
        }
    }
    None
}

enum LineEnds {
    Found(usize),
    NeedMore,
    No,
}

/// `\r?\n\r?\n` at the start of `rest`.
fn two_line_ends(rest: &[u8]) -> LineEnds {
    let mut at = 0;
    for _ in 0..2 {
        match rest.get(at..) {
            Some([b'\n', ..]) => at += 1,
            Some([b'\r', b'\n', ..]) => at += 2,
            Some([] | [b'\r']) | None => return LineEnds::NeedMore,
            Some(_) => return LineEnds::No,
        }
    }
    LineEnds::Found(at)
}

fn incomplete_unless_too_large<'a>(
    buf: &[u8],
    start: usize,
    line_start: usize,
    limits: &Limits,
) -> Result<Parsed<Message<'a>>, AmiError> {
    if buf.len() - start > limits.max_message_bytes {
        return Err(too_large(buf, line_start, Limit::Bytes, limits.max_message_bytes, false));
    }
    Ok(Parsed::Incomplete)
}

/// A message broke a limit. `from` is a line start inside it (or its end when `at_end`): drop through the
/// message's empty line if it is buffered, else every buffered whole line (or everything, mid-line).
fn too_large(buf: &[u8], from: usize, what: Limit, limit: usize, at_end: bool) -> AmiError {
    let found = if at_end { Some(0) } else { buf.get(from..).and_then(skip_message) };
    let (skip, complete) = match found {
        Some(n) => (from + n, true),
        None => (memrchr(b'\n', buf).map_or(buf.len(), |i| i + 1), false),
    };
    AmiError::TooLarge { what, limit, skip: skip.max(1), complete }
}

/// Index of the first byte after any empty lines (`\n` or `\r\n`) at the front of `buf`.
fn skip_empty_lines(buf: &[u8]) -> usize {
    let mut at = 0;
    loop {
        match buf.get(at..) {
            Some([b'\n', ..]) => at += 1,
            Some([b'\r', b'\n', ..]) => at += 2,
            _ => return at,
        }
    }
}

/// A line without its `\n` terminator and optional `\r`.
fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `Key: Value` → key and value with leading blanks stripped; a line without `:` is all key, empty value.
pub(super) fn split_field(line: &[u8]) -> Field<'_> {
    match memchr(b':', line) {
        Some(colon) => Field { key: &line[..colon], value: strip_blanks(&line[colon + 1..]) },
        None => Field { key: line, value: &[] },
    }
}

/// The server's reader skips every leading space and tab after the colon; so do we.
fn strip_blanks(value: &[u8]) -> &[u8] {
    let blanks: IResult<&[u8], &[u8]> = space0(value);
    match blanks {
        Ok((rest, _)) => rest,
        Err(_) => value,
    }
}

fn excerpt(line: &[u8]) -> String {
    crate::text::decode(line).chars().take(ERROR_EXCERPT_CHARS).collect()
}
