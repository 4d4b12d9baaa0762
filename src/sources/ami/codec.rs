//! tokio-util codec around `parsers::ami`: cuts the byte stream into whole AMI messages and writes actions.
//!
//! The parser borrows from the buffer, which a `Decoder` item cannot, so the codec yields each message's
//! exact bytes (`Frame`) and the session parses them again without copying (`Frame::message`). Bad input
//! (an oversized or unclassifiable message) is logged and skipped here; it never ends the connection.

use parsers::ami::{AmiDecoder, Message, MessageKind, NextMessage};
use std::io;
use tokio_util::bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// One whole message as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    bytes: Bytes,
    banner: bool,
}

impl Frame {
    pub fn is_banner(&self) -> bool {
        self.banner
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The parsed message (borrowing the frame). None only if the bytes stopped parsing, which the codec
    /// rules out by construction.
    pub fn message(&self) -> Option<Message<'_>> {
        let parsed = if self.banner {
            parsers::ami::parse_banner(&self.bytes)
        } else {
            parsers::ami::parse_message(&self.bytes).ok()
        };
        match parsed {
            Some(NextMessage::Complete { message, .. }) => Some(message),
            _ => None,
        }
    }
}

/// Decoder state for one connection (create one per connection: the banner comes first on each).
#[derive(Debug, Default)]
pub struct AmiCodec {
    decoder: AmiDecoder,
    /// Messages skipped as unparsable on this connection (for logs and tests).
    pub skipped: u64,
}

impl Decoder for AmiCodec {
    type Item = Frame;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, io::Error> {
        loop {
            match self.decoder.decode(buf) {
                Ok(NextMessage::Complete { message, consumed }) => {
                    let banner = matches!(message.kind, MessageKind::Banner { .. });
                    let bytes = buf.split_to(consumed).freeze();
                    return Ok(Some(Frame { bytes, banner }));
                }
                Ok(NextMessage::Incomplete) => return Ok(None),
                Err(err) => {
                    self.skipped += 1;
                    let skip = err.skip().min(buf.len());
                    let quoted = buf.get(..skip).unwrap_or(buf);
                    crate::telemetry::bad_input(crate::telemetry::BadInput::AmiMessage, &err, quoted);
                    if skip == 0 {
                        return Ok(None);
                    }
                    buf.advance(skip);
                }
            }
        }
    }
}

/// An action to send: `Action: X` then fields, CRLF line ends, blank line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub name: &'static str,
    pub action_id: String,
    pub fields: Vec<(&'static str, String)>,
}

impl Action {
    pub fn new(name: &'static str, action_id: String) -> Self {
        Self { name, action_id, fields: Vec::new() }
    }

    pub fn field(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.fields.push((key, value.into()));
        self
    }
}

impl Encoder<Action> for AmiCodec {
    type Error = io::Error;

    fn encode(&mut self, action: Action, dst: &mut BytesMut) -> Result<(), io::Error> {
        let mut put = |key: &str, value: &str| {
            // A CR or LF inside a value would end the header early and let it inject fields.
            if value.bytes().any(|b| b == b'\r' || b == b'\n') {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("AMI {key} contains a line break"),
                ));
            }
            dst.extend_from_slice(key.as_bytes());
            dst.extend_from_slice(b": ");
            dst.extend_from_slice(value.as_bytes());
            dst.extend_from_slice(b"\r\n");
            Ok(())
        };
        put("Action", action.name)?;
        put("ActionID", &action.action_id)?;
        for (key, value) in &action.fields {
            put(key, value)?;
        }
        dst.extend_from_slice(b"\r\n");
        Ok(())
    }
}
