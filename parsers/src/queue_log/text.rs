//! `Text`: a record's text field, borrowed from the input and decoded only when read.
//!
//! Fields used to be `Cow<'a, str>`, with Latin-1 fields converted (allocated) while parsing. A `Cow` has
//! drop glue, so every record's drop dispatched on its event variant to look for owned strings — an
//! indirect branch that mispredicts on every line (the variants follow the calls, not a pattern), measured
//! at ~10 % of `records`' time per line. A `Text` is `Copy`: a record (apart from the `UNKNOWN` event's
//! `Vec`) has nothing to drop, and a Latin-1 field costs its conversion only when someone reads it.

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

    /// Bytes of unknown encoding: UTF-8 if they are valid UTF-8, Latin-1 otherwise (the same rule as
    /// `crate::text::decode`, applied lazily).
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
            Repr::Latin1(bytes) => Cow::Owned(crate::text::latin1(bytes)),
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

/// As the decoded string (`"…"`), the way the `Cow<str>` fields printed.
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

#[cfg(test)]
mod tests {
    use super::*;

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
