//! A hash from views and field maps: names in order, each value's kind and Redis spelling.

use super::*;
use serde_json::json;

fn hash(v: Value) -> Hash {
    Hash::from(v.as_object().cloned().unwrap())
}

#[test]
fn values_are_stored_as_redis_strings_and_read_back_as_json() {
    let h = hash(json!({"a": "PJSIP/1001", "b": 12, "c": 0.5, "d": true, "e": null,
                        "f": {"sales": {"paused": false}}, "g": [1, "x"]}));
    let redis: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k, v.redis())).collect();
    assert_eq!(
        redis,
        [
            ("a", "PJSIP/1001"),
            ("b", "12"),
            ("c", "0.5"),
            ("d", "true"),
            ("e", ""),
            ("f", r#"{"sales":{"paused":false}}"#),
            ("g", r#"[1,"x"]"#)
        ]
    );
    let mut json = Vec::new();
    for (_, value) in h.iter() {
        value.write_json(&mut json);
        json.push(b' ');
    }
    assert_eq!(
        String::from_utf8(json).unwrap(),
        r#""PJSIP/1001" 12 0.5 true null {"sales":{"paused":false}} [1,"x"] "#
    );
    assert_eq!(
        Value::Object(h.to_fields()),
        json!({"a": "PJSIP/1001", "b": 12, "c": 0.5, "d": true, "e": null,
                        "f": {"sales": {"paused": false}}, "g": [1, "x"]})
    );
}

#[test]
fn insert_keeps_names_in_order() {
    let mut h = hash(json!({"a": 1, "c": 3}));
    h.insert("b".into(), json!("two"));
    h.insert("c".into(), json!(null));
    assert_eq!(Value::Object(h.to_fields()), json!({"a": 1, "b": "two", "c": null}));
    assert_eq!(h.names().collect::<Vec<_>>(), ["a", "b", "c"]);
}
