//! Stream entries as raw bytes. The command streams are written by other programs, so an entry may hold
//! anything; the redis crate's typed stream replies fail on a field name that is not UTF-8 and would take the
//! whole batch with it. These read the reply `Value` directly (RESP2 arrays or RESP3 maps).

use redis::Value;

/// One stream entry: its id and its field/value pairs (empty when the entry was trimmed away, as
/// `XREADGROUP … 0` reports pending entries that no longer exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Entry {
    pub fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))
    }
}

/// The entries of an `XREAD`/`XREADGROUP` reply (any number of streams, in order); `Nil` (timeout) = none.
pub fn from_read_reply(value: Value) -> Vec<Entry> {
    let streams: Vec<Value> = match value {
        Value::Array(streams) => streams
            .into_iter()
            .filter_map(|s| match s {
                Value::Array(mut pair) if pair.len() == 2 => pair.pop(),
                _ => None,
            })
            .collect(),
        Value::Map(streams) => streams.into_iter().map(|(_, entries)| entries).collect(),
        _ => Vec::new(),
    };
    streams.into_iter().flat_map(from_range_reply).collect()
}

/// The entries of an `XRANGE`/`XREVRANGE` reply, or of one stream of an `XREAD` reply.
pub fn from_range_reply(value: Value) -> Vec<Entry> {
    let Value::Array(entries) = value else {
        return Vec::new();
    };
    entries.into_iter().filter_map(entry).collect()
}

fn entry(value: Value) -> Option<Entry> {
    let Value::Array(parts) = value else {
        return None;
    };
    let mut parts = parts.into_iter();
    let id = String::from_utf8(bytes(parts.next()?)?).ok()?;
    let fields = match parts.next() {
        Some(Value::Array(flat)) => pairs(flat),
        Some(Value::Map(map)) => map.into_iter().filter_map(|(k, v)| Some((bytes(k)?, bytes(v)?))).collect(),
        _ => Vec::new(),
    };
    Some(Entry { id, fields })
}

fn pairs(flat: Vec<Value>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        if let (Some(k), Some(v)) = (bytes(k), bytes(v)) {
            out.push((k, v));
        }
    }
    out
}

fn bytes(value: Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        Value::VerbatimString { text, .. } => Some(text.into_bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &[u8]) -> Value {
        Value::BulkString(s.to_vec())
    }

    #[test]
    fn resp2_and_resp3_replies_and_trimmed_entries() {
        let e1 = Value::Array(vec![bulk(b"1-0"), Value::Array(vec![bulk(b"id"), bulk(&[0xff, 0])])]);
        let trimmed = Value::Array(vec![bulk(b"2-0"), Value::Nil]);
        let resp2 = Value::Array(vec![Value::Array(vec![
            bulk(b"k"),
            Value::Array(vec![e1.clone(), trimmed.clone()]),
        ])]);
        let resp3 = Value::Map(vec![(bulk(b"k"), Value::Array(vec![e1, trimmed]))]);
        for reply in [resp2, resp3] {
            let entries = from_read_reply(reply);
            assert_eq!(entries.len(), 2);
            assert_eq!(entries[0].fields, vec![(b"id".to_vec(), vec![0xff, 0])]);
            assert_eq!(entries[1], Entry { id: "2-0".into(), fields: Vec::new() });
        }
        assert!(from_read_reply(Value::Nil).is_empty());
    }
}
