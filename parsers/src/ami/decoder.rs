//! Stream state around the stateless framing: the banner at connect, and resynchronisation after a message
//! broke a size limit before its end arrived.

use super::frame::{last_line_end, line, parse_banner, parse_message_with, skip_message};
use super::message::Message;
use super::{FrameError, Limit, Limits, NextMessage};

/// Decoder for one AMI byte stream (one TCP connection, or one capture file); create one per connection.
///
/// State changes only when a call tells the caller to drop bytes (`Complete` or an error), so an
/// `Incomplete` answer can always be retried with a longer buffer.
#[derive(Debug, Clone)]
pub struct AmiDecoder {
    limits: Limits,
    expect_banner: bool,
    skipping: Skipping,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skipping {
    No,
    /// Discarding the rest of an oversized message; the buffer starts at a line start.
    AtLineStart,
    /// Discarding the rest of an oversized message; the buffer starts inside a line.
    MidLine,
}

/// Where the rest of an oversized message ends in the current buffer.
enum SkipPlan {
    /// Its empty line is buffered: drop this many bytes, then parse normally.
    End(usize),
    /// Not yet: this many bytes may be dropped, leaving the stream in that state.
    Partial(usize, Skipping),
}

impl Default for AmiDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl AmiDecoder {
    /// For a fresh server connection: the first line may be the banner.
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    pub fn with_limits(limits: Limits) -> Self {
        Self { limits, expect_banner: true, skipping: Skipping::No }
    }

    /// For a stream that has no banner (client-side `ami.sent`, or a stream joined mid-way).
    pub fn without_banner(mut self) -> Self {
        self.expect_banner = false;
        self
    }

    /// The complete messages at the front of `bytes`, each with its bytes, up to the first that is partial or
    /// does not decode: for a capture read whole, where nothing after such a point is wanted.
    pub fn complete_messages<'b>(mut self, bytes: &'b [u8]) -> impl Iterator<Item = (Message<'b>, &'b [u8])> {
        let mut at = 0;
        std::iter::from_fn(move || match self.decode(&bytes[at..]) {
            Ok(NextMessage::Complete { message, consumed }) => {
                let raw = &bytes[at..at + consumed];
                at += consumed;
                Some((message, raw))
            }
            _ => None,
        })
    }

    /// Decode the next message from the front of `buf` (the caller's receive buffer). On `Complete` drop
    /// `consumed` bytes; on an error report it, drop `err.skip()` bytes and call again; on `Incomplete` read
    /// more and call again with the grown buffer. `consumed` includes discarded remains of an oversized
    /// message reported before.
    pub fn decode<'b>(&mut self, buf: &'b [u8]) -> Result<NextMessage<Message<'b>>, FrameError> {
        let resync = match self.plan_skip(buf) {
            SkipPlan::End(n) => n,
            SkipPlan::Partial(droppable, state) => return self.skip_partial(buf, droppable, state),
        };
        let rest = buf.get(resync..).unwrap_or_default();
        let banner = if self.expect_banner && resync == 0 { parse_banner(rest) } else { None };
        let parsed = match banner {
            Some(parsed) => Ok(parsed),
            None => parse_message_with(rest, &self.limits),
        };
        match parsed {
            Ok(NextMessage::Complete { message, consumed }) => {
                self.skipping = Skipping::No;
                self.expect_banner = false;
                Ok(NextMessage::Complete { message, consumed: resync + consumed })
            }
            Ok(NextMessage::Incomplete) => Ok(NextMessage::Incomplete),
            Err(err) => Err(self.after_error(buf, err, resync)),
        }
    }

    fn plan_skip(&self, buf: &[u8]) -> SkipPlan {
        let line_start = match self.skipping {
            Skipping::No => return SkipPlan::End(0),
            Skipping::AtLineStart => 0,
            Skipping::MidLine => match line(buf) {
                Some((_, len)) => len,
                None => return SkipPlan::Partial(buf.len(), Skipping::MidLine),
            },
        };
        let rest = buf.get(line_start..).unwrap_or_default();
        match skip_message(rest) {
            Some(n) => SkipPlan::End(line_start + n),
            None => SkipPlan::Partial(line_start + last_line_end(rest).unwrap_or(0), Skipping::AtLineStart),
        }
    }

    /// No end in sight yet: stay quiet (`Incomplete`, nothing dropped) until a further limit's worth of junk
    /// is buffered, then report it again so the caller drops it and memory stays bounded.
    fn skip_partial<'b>(
        &mut self,
        buf: &[u8],
        droppable: usize,
        state: Skipping,
    ) -> Result<NextMessage<Message<'b>>, FrameError> {
        if droppable == 0 || buf.len() <= self.limits.max_message_bytes {
            return Ok(NextMessage::Incomplete);
        }
        self.skipping = state;
        Err(FrameError::TooLarge {
            what: Limit::Bytes,
            limit: self.limits.max_message_bytes,
            skip: droppable,
            complete: false,
        })
    }

    fn after_error(&mut self, buf: &[u8], err: FrameError, resync: usize) -> FrameError {
        self.expect_banner = false;
        self.skipping = Skipping::No;
        match err {
            FrameError::TooLarge { what, limit, skip, complete } => {
                let skip = resync + skip;
                if !complete {
                    let at_line_start = skip == 0 || buf.get(skip - 1) == Some(&b'\n');
                    self.skipping = if at_line_start { Skipping::AtLineStart } else { Skipping::MidLine };
                }
                FrameError::TooLarge { what, limit, skip, complete }
            }
            FrameError::UnknownKind { first_line, skip } => {
                FrameError::UnknownKind { first_line, skip: resync + skip }
            }
        }
    }
}
