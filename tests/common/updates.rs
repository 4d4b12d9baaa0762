//! Engine updates as the sink receives them, for the Redis tests: small agents, queues with waiting
//! callers, calls, and a seeded random mix of them.

#![allow(dead_code)]

use queuecast::engine::Fields;
use queuecast::sink::Update;
use rand::Rng;
use serde_json::{Value, json};

/// A hash's fields or a message's data.
pub fn fields<T: From<Fields>>(v: Value) -> T {
    T::from(v.as_object().cloned().expect("object"))
}

pub fn agent(id: &str, status: &str, answered: u64) -> Update {
    Update::Agent {
        id: id.into(),
        fields: fields(json!({
            "id": id, "name": format!("Agent {id}"), "interface": id, "status": status,
            "status_since": 1_732_300_000_000_i64 + answered as i64, "paused": status == "paused",
            "pause_reason": if status == "paused" { Value::from("lunch") } else { Value::Null },
            "calls_answered": answered, "calls_missed": 0, "talk_seconds": 0,
            "queues": {"sales": {"paused": false, "pause_reason": null, "penalty": 0}},
        })),
    }
}

pub fn queue(name: &str, waiting: &[&str], answered: u64) -> Update {
    Update::Queue {
        name: name.into(),
        fields: fields(json!({
            "name": name, "agents_logged_in": 2, "agents_available": 1, "calls_waiting": waiting.len(),
            "longest_wait_since": if waiting.is_empty() { Value::Null } else { Value::from(1_732_300_000_000_i64) },
            "answered": answered, "service_level": 75.0,
        })),
        waiting: waiting
            .iter()
            .enumerate()
            .map(|(i, uid)| {
                let entry =
                    json!({"uniqueid": uid, "caller_id": "5551234", "position": i + 1, "joined_at": 1});
                ((*uid).to_owned(), entry)
            })
            .collect(),
    }
}

pub fn call(uid: &str, outcome: &str) -> Update {
    Update::Call {
        uniqueid: uid.into(),
        fields: fields(json!({"queue": "sales", "caller_id": "5551234", "joined_at": 1, "agent": null,
                              "outcome": outcome})),
    }
}

/// One to five updates touching 15 agents and 3 queues, so agents come and go and queues fill and empty.
pub fn random_batch(rng: &mut impl Rng, round: u64) -> Vec<Update> {
    (0..rng.random_range(1..6))
        .map(|_| match rng.random_range(0..10) {
            0 => Update::AgentRemoved { id: format!("PJSIP/{}", rng.random_range(0..15)) },
            1..=5 => agent(&format!("PJSIP/{}", rng.random_range(0..15)), "talking", round),
            6..=8 => {
                let uids: Vec<String> = (0..rng.random_range(0..4)).map(|i| format!("{round}.{i}")).collect();
                let refs: Vec<&str> = uids.iter().map(String::as_str).collect();
                queue(&format!("q{}", rng.random_range(0..3)), &refs, round)
            }
            _ => call(&format!("{round}.0"), "answered"),
        })
        .collect()
}
