//! Asterisk text is bytes: caller names, member names and pause reasons come from SIP/dialplan and may be
//! UTF-8 or Latin-1. Nothing is ever rejected for its encoding: valid UTF-8 is borrowed as is, anything else
//! is read as Latin-1 (every byte is a character), which loses nothing and is what legacy PBX setups write.
//!
//! [`Text`] is that rule as a type, for queue_log records and AMI fields alike. It is `Copy` and borrows the
//! input, so a parsed record has nothing to drop and a Latin-1 field costs its conversion only when read.

use serde::{Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// A text field: valid UTF-8 as `str`, or any other bytes as Latin-1 (every byte one character, which
/// loses nothing and is what legacy PBX setups write). Compares, prints and serializes as its decoded text.
#[derive(Clone, Copy)]
pub struct Text<'a>(Repr<'a>);

#[derive(Clone, Copy)]
enum Repr<'a> {
    Utf8(&'a str),
    Latin1(&'a [u8]),
}

impl<'a> Text<'a> {
    /// Text already known to be UTF-8.
    #[inline]
    pub fn utf8(text: &'a str) -> Self {
        Self(Repr::Utf8(text))
    }

    /// Bytes of unknown encoding: UTF-8 if they are valid UTF-8, Latin-1 otherwise.
    #[inline]
    pub fn from_bytes(bytes: &'a [u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::utf8(text),
            Err(_) => Self(Repr::Latin1(bytes)),
        }
    }

    /// The text, borrowed when it is UTF-8 in the input, converted from Latin-1 otherwise.
    pub fn to_cow(&self) -> Cow<'a, str> {
        match self.0 {
            Repr::Utf8(text) => Cow::Borrowed(text),
            Repr::Latin1(bytes) => Cow::Owned(latin1(bytes)),
        }
    }

    /// The text when the input had it as UTF-8 (no conversion needed); `None` for Latin-1.
    #[inline]
    pub fn as_str(&self) -> Option<&'a str> {
        match self.0 {
            Repr::Utf8(text) => Some(text),
            Repr::Latin1(_) => None,
        }
    }

    /// The field's bytes as they were in the input.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        match self.0 {
            Repr::Utf8(text) => text.as_bytes(),
            Repr::Latin1(bytes) => bytes,
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }
}

impl Default for Text<'_> {
    fn default() -> Self {
        Self::utf8("")
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(text: &'a str) -> Self {
        Self::utf8(text)
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Repr::Utf8(text) => f.write_str(text),
            Repr::Latin1(bytes) => {
                bytes.iter().try_for_each(|&byte| fmt::Write::write_char(f, char::from(byte)))
            }
        }
    }
}

/// As the decoded string (`"…"`).
impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.to_cow(), f)
    }
}

impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Repr::Utf8(text) => serializer.serialize_str(text),
            Repr::Latin1(_) => serializer.serialize_str(&self.to_cow()),
        }
    }
}

/// Equal when the decoded texts are equal (a Latin-1 `é` equals a UTF-8 `é`).
impl PartialEq for Text<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self.0, other.0) {
            (Repr::Utf8(left), Repr::Utf8(right)) => left == right,
            _ => self.to_cow() == other.to_cow(),
        }
    }
}

impl Eq for Text<'_> {}

impl PartialEq<str> for Text<'_> {
    fn eq(&self, other: &str) -> bool {
        match self.0 {
            Repr::Utf8(text) => text == other,
            Repr::Latin1(_) => self.to_cow() == other,
        }
    }
}

impl PartialEq<&str> for Text<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

/// `bytes` as text: borrowed when UTF-8, converted from Latin-1 otherwise.
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    Text::from_bytes(bytes).to_cow()
}

/// `bytes` read as Latin-1: every byte is the character of the same number.
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&byte| char::from(byte)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_borrows_utf8_and_maps_latin1() {
        assert_eq!(decode("Jos\u{e9}".as_bytes()), "Jos\u{e9}");
        assert_eq!(decode(b"Jos\xe9"), "Jos\u{e9}");
        assert!(matches!(decode(b"plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn utf8_borrows_latin1_decodes_when_read() {
        let utf8 = Text::from_bytes("Zoë".as_bytes());
        assert_eq!(utf8.as_str(), Some("Zoë"));
        assert!(matches!(utf8.to_cow(), Cow::Borrowed("Zoë")));
        let latin1 = Text::from_bytes(b"Zo\xeb");
        assert_eq!(latin1.as_str(), None);
        assert_eq!(latin1.to_cow(), "Zoë");
        assert_eq!(latin1, utf8);
        assert_eq!(latin1, "Zoë");
        assert_eq!(latin1.to_string(), "Zoë");
        assert_eq!(format!("{latin1:?}"), format!("{:?}", "Zoë"));
        assert_eq!(latin1.as_bytes(), b"Zo\xeb");
        assert!(Text::default().is_empty());
    }

    #[test]
    fn serializes_as_the_decoded_string() {
        let json = |text: Text<'_>| serde_json::to_string(&text).unwrap_or_default();
        assert_eq!(json(Text::from_bytes(b"a\"\xe9\n")), serde_json::to_string("a\"é\n").unwrap_or_default());
        assert_eq!(json(Text::utf8("x|y")), "\"x|y\"");
    }
}
