//! Asterisk Manager Interface framing: a streaming, zero-copy parser over a byte buffer.
//!
//! A codec keeps reading socket bytes into a buffer and calls [`AmiDecoder::decode`] (or the stateless
//! [`parse_message`]) until it answers [`NextMessage::Incomplete`]; every [`NextMessage::Complete`] says how many bytes
//! to drop. Partial input is never an error, so a message split anywhere across reads decodes identically.
//!
//! Framing rules (protocol/AMI.md §1, §3), and the choices made where Asterisk is loose:
//! * A message is `Key: Value` lines ended by an empty line. `\r\n` and bare `\n` are both line ends (the
//!   server writes `\r\n`; third-party transcripts and Asterisk's own reader accept `\n`).
//! * The value is what follows the first `:` with all leading blanks (space, tab) stripped; an empty value
//!   (`PausedReason: `) is an empty string. Keys repeat (`Output`, `ChanVariable`), so fields stay an ordered
//!   list and lookups are case-insensitive.
//! * A line without a colon inside a message is kept as a field whose key is the whole line and whose value
//!   is empty. Asterisk only produces such lines when a pre-13.5 CallerIDName (or a PausedReason) contains a
//!   newline, which splits the value across lines; keeping the fragment loses nothing and breaks nothing.
//! * Stray empty lines between messages are skipped (counted in the next message's `consumed`).
//! * The banner `Asterisk Call Manager/X` is one line with no empty line after it, sent once at connect;
//!   [`AmiDecoder`] recognises it only at the start of a stream.
//! * ≤13 `Response: Follows` (Command output) runs to `--END COMMAND--` followed by an empty line, whatever
//!   the raw CLI text in between looks like.
//! * The server puts no limit on what it sends, so [`Limits`] guard against a runaway peer: a message larger
//!   than `max_message_bytes` or with more than `max_lines` lines is [`FrameError::TooLarge`]; the error says how
//!   many bytes to drop, and [`AmiDecoder`] keeps discarding until the message's end.

mod decoder;
pub mod events;
mod frame;
mod message;

pub use decoder::AmiDecoder;
pub use frame::{parse_banner, parse_message, parse_message_with, skip_message};
pub use message::{Field, Message, MessageKind};

use serde::Serialize;

/// Default cap on one message: real events are at most a few KB (channel variables, long caller names);
/// a 1 MiB message means the peer is broken or hostile.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Default cap on header lines in one message. Asterisk writes a few dozen even with many `ChanVariable`s;
/// Command output (`Follows` body) is bounded by size only.
pub const DEFAULT_MAX_LINES: usize = 4096;

/// Safety limits against a runaway peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_lines: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES, max_lines: DEFAULT_MAX_LINES }
    }
}

/// The next message at the front of a buffer, or the word that more bytes are needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum NextMessage<T> {
    /// A whole message; drop `consumed` bytes from the front of the buffer (they include any stray empty
    /// lines before it).
    Complete { message: T, consumed: usize },
    /// The buffer holds only part of a message: read more and call again with the grown buffer.
    Incomplete,
}

/// Which safety limit a message broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Bytes,
    Lines,
}

/// Input that can never become a valid message. Every error says how many bytes to drop (`skip`, at least
/// 1) so the caller always makes progress.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The message broke a [`Limits`] cap. `complete` is false when its end has not arrived yet: the caller
    /// must keep discarding up to the next empty line ([`AmiDecoder`] does this itself; with the stateless
    /// functions use [`skip_message`]).
    #[error("AMI message exceeds the {} limit of {limit}", match what { Limit::Bytes => "size (bytes)", Limit::Lines => "line count" })]
    TooLarge { what: Limit, limit: usize, skip: usize, complete: bool },
    /// The first line is not `Response:`, `Event:` or `Action:` (nor a banner), so it cannot be classified.
    #[error("AMI message does not start with Response, Event or Action: {first_line:?}")]
    UnknownKind { first_line: String, skip: usize },
}

impl FrameError {
    /// Bytes to drop from the front of the buffer before calling again (always ≥ 1).
    pub fn skip(&self) -> usize {
        match self {
            Self::TooLarge { skip, .. } | Self::UnknownKind { skip, .. } => *skip,
        }
    }
}

#[cfg(test)]
mod tests;
