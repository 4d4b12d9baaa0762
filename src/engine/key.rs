//! `Key`: an immutable string stored inline when short, on the heap otherwise.
//!
//! Why: the engine keeps one record per call (100k a day in a large center) and refers to agents, callers
//! and queues by id on every event. Interfaces (`PJSIP/10001`), uniqueids (`1795300000.12345`) and caller
//! numbers all fit in `INLINE_CAPACITY_BYTES`, so a `Key` costs no allocation, no pointer chase and no free —
//! where a `String` cost all three per id per record.
//!
//! A `Key` hashes, compares and orders exactly as the bytes of the `str` it holds, and maps look keys up
//! by those bytes (`KeyMap`): turning inline bytes back into a `&str` means a UTF-8 check (safe code cannot
//! skip it), which on every probe of every lookup showed as the top entry of the profile.

use super::hash::FastMap;
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::fmt;
use std::hash::{Hash, Hasher};

/// Longest string kept inline: with the length byte and the enum tag, a `Key` is as large as a `String`.
const INLINE_CAPACITY_BYTES: usize = 22;

#[derive(Clone)]
pub enum Key {
    Inline { len: u8, bytes: [u8; INLINE_CAPACITY_BYTES] },
    Heap(Box<str>),
}

impl Key {
    pub fn new(s: &str) -> Self {
        match u8::try_from(s.len()) {
            Ok(len) if s.len() <= INLINE_CAPACITY_BYTES => {
                let mut bytes = [0u8; INLINE_CAPACITY_BYTES];
                bytes[..s.len()].copy_from_slice(s.as_bytes());
                Self::Inline { len, bytes }
            }
            _ => Self::Heap(s.into()),
        }
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Heap(s) => s.as_bytes(),
        }
    }

    #[inline]
    pub fn as_str(&self) -> &str {
        match self {
            // Always a whole `str` copied in `new`, so valid UTF-8; the check is a short ASCII scan.
            Self::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            Self::Heap(s) => s,
        }
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl std::ops::Deref for Key {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for Key {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

impl PartialEq<str> for Key {
    #[inline]
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for Key {
    #[inline]
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Ord for Key {
    /// Byte order, which is `str`'s order.
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash for Key {
    /// Exactly what `<[u8]>::hash` feeds the hasher, so lookups by `&[u8]` (`Borrow`) find the key.
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A map keyed by `Key`, looked up by `&str` through its bytes (see the module doc for why not `str`).
#[derive(Debug, Clone)]
pub struct KeyMap<V>(FastMap<Key, V>);

impl<V> Default for KeyMap<V> {
    fn default() -> Self {
        Self(FastMap::default())
    }
}

impl<V> KeyMap<V> {
    #[inline]
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.get(key.as_bytes())
    }

    #[inline]
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.0.get_mut(key.as_bytes())
    }

    pub fn insert(&mut self, key: Key, value: V) -> Option<V> {
        self.0.insert(key, value)
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        self.0.remove(key.as_bytes())
    }

    pub fn entry(&mut self, key: Key) -> Entry<'_, Key, V> {
        self.0.entry(key)
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn hashes_orders_and_compares_as_its_str() {
        let build = std::hash::BuildHasherDefault::<super::super::hash::FoldHasher>::default();
        let std_build = std::collections::hash_map::RandomState::new();
        let long = "Local/1001@from-queue-with-a-long-context/n";
        for s in ["", "q1", "PJSIP/10001", "1795300000.12345", "exactly-22-bytes-long!", long, "Zoë"] {
            let key = Key::new(s);
            assert_eq!(key.as_str(), s);
            assert_eq!(build.hash_one(&key), build.hash_one(s.as_bytes()));
            assert_eq!(std_build.hash_one(&key), std_build.hash_one(s.as_bytes()));
            assert_eq!(key.cmp(&Key::new("PJSIP/2")), s.cmp("PJSIP/2"));
        }
        assert!(matches!(Key::new("exactly-22-bytes-long!"), Key::Inline { .. }));
        assert!(matches!(Key::new(long), Key::Heap(_)));
        assert_eq!(std::mem::size_of::<Key>(), std::mem::size_of::<String>());
        assert_eq!(std::mem::size_of::<Option<Key>>(), std::mem::size_of::<String>());
    }

    #[test]
    fn key_map_finds_keys_by_str() {
        let mut map = KeyMap::default();
        let long = "a-queue-name-longer-than-the-inline-capacity";
        for (i, k) in ["PJSIP/10001", "1795300000.1", long, ""].into_iter().enumerate() {
            map.insert(Key::new(k), i);
        }
        assert_eq!(map.get("PJSIP/10001"), Some(&0));
        assert_eq!(map.get(long), Some(&2));
        assert_eq!(map.get(""), Some(&3));
        assert_eq!(map.get("PJSIP/1000"), None);
        assert_eq!(map.remove("1795300000.1"), Some(1));
        assert_eq!(map.get("1795300000.1"), None);
    }
}
