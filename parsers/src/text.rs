//! Asterisk text is bytes: caller names, member names and pause reasons come from SIP/dialplan and may be
//! UTF-8 or Latin-1. Nothing is ever rejected for its encoding.

use std::borrow::Cow;

/// Valid UTF-8 is borrowed as is; anything else is read as Latin-1 (every byte is a character), which
/// loses nothing and is what legacy PBX setups actually write.
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => Cow::Owned(latin1(bytes)),
    }
}

/// `bytes` read as Latin-1: every byte is the character of the same number.
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&byte| char::from(byte)).collect()
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn utf8_is_borrowed_latin1_is_mapped() {
        assert_eq!(decode("Jos\u{e9}".as_bytes()), "Jos\u{e9}");
        assert_eq!(decode(b"Jos\xe9"), "Jos\u{e9}");
        assert!(matches!(decode(b"plain"), std::borrow::Cow::Borrowed(_)));
    }
}
