//! The engine's id strings and the maps keyed by them.
//!
//! `Key` is `compact_str`'s inline string: the engine keeps one record per call (100k a day in a large
//! center) and refers to agents, callers and queues by id on every event; interfaces (`PJSIP/10001`),
//! uniqueids (`1795300000.12345`) and caller numbers all fit in its 24 inline bytes, so an id costs no
//! allocation, no pointer chase and no free, where a `String` cost all three per id per record. It hashes,
//! compares and orders as its `str`, so maps keyed by `Key` are looked up by `&str`.
//!
//! The maps use foldhash's fast hasher: the engine does several lookups per event and the std SipHash
//! dominated the profile. Nothing iterates these maps to produce output, so their order never shows.

pub type Key = compact_str::CompactString;

/// A map keyed by `Key`, looked up by `&str`.
pub type KeyMap<V> = foldhash::HashMap<Key, V>;

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn ids_stay_inline_and_order_as_their_str() {
        for s in ["", "q1", "PJSIP/10001", "1795300000.12345", "Zoë"] {
            let key = Key::new(s);
            assert!(!key.is_heap_allocated(), "{s}");
            assert_eq!(key.cmp(&Key::new("PJSIP/2")), s.cmp("PJSIP/2"));
        }
        assert_eq!(std::mem::size_of::<Option<Key>>(), std::mem::size_of::<String>());
    }
}
