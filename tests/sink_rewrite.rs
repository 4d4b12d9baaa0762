//! A full rewrite larger than one pipeline: the sink sends a busy day's state in chunks of one MULTI, so it
//! must land whole when it succeeds, and not at all when Redis refuses any part of it. Real `redis-server`
//! started per test.

mod common;

use common::redis::RedisServer;
use common::updates::{agent, fields};
use queuecast::sink::{self, Health, Update};
use redis::AsyncCommands;
use serde_json::json;
use std::collections::BTreeMap;

/// Calls of ~600 bytes of commands each: 3 000 of them are ~1.8 MB, more than ten of the sink's pipelines.
const CALLS: usize = 3_000;

fn day_of_calls() -> Vec<Update> {
    let visits = json!([{"queue": "sales", "outcome": "answered", "joined_at": 1_796_191_049_000_i64,
                         "connected_at": 1_796_191_052_000_i64, "agent": "Alice Smith", "hold_seconds": 3,
                         "talk_seconds": 61, "ended_at": 1_796_191_113_000_i64}]);
    let mut state: Vec<Update> = (0..CALLS)
        .map(|i| Update::Call {
            uniqueid: format!("1796191049.{i}"),
            fields: fields(json!({"queue": "sales", "caller_id": format!("555{i:07}"), "outcome": "answered",
                                  "agent": "Alice Smith", "joined_at": 1_796_191_049_000_i64, "visits": visits,
                                  "note": "x".repeat(300)})),
        })
        .collect();
    state.push(agent("PJSIP/1001", "available", CALLS as u64));
    state
}

#[tokio::test]
async fn a_rewrite_of_many_pipelines_lands_whole() {
    let (server, settings, keys) = RedisServer::start_for("pbx1");
    let state = day_of_calls();
    let seq = sink::write_snapshot(&settings, &state, Health::default()).await.expect("rewrite");
    assert_eq!(seq, 1, "one rewrite, one seq");
    let mut conn = server.conn().await;
    for update in &state {
        let Update::Call { uniqueid, fields } = update else { continue };
        let stored: BTreeMap<String, String> = conn.hgetall(keys.call(uniqueid)).await.unwrap();
        let expected: BTreeMap<String, String> =
            fields.iter().map(|(name, value)| (name.to_owned(), value.redis().to_owned())).collect();
        assert_eq!(stored, expected, "call {uniqueid}");
    }
    let status: String = conn.hget(keys.agent("PJSIP/1001"), "status").await.unwrap();
    assert_eq!(status, "available");
    let meta_seq: String = conn.hget(keys.meta(), "seq").await.unwrap();
    assert_eq!(meta_seq, "1");
}

#[tokio::test]
async fn a_rewrite_refused_in_its_last_pipeline_leaves_nothing_of_the_earlier_ones() {
    // A user who may do everything the sink does except trim the stream, the MULTI's last command: Redis
    // refuses it when it is queued, and discards the whole transaction at EXEC.
    let server = RedisServer::start_with(&[
        "--user", "qc", "on", ">pw", "~*", "&*", "+@all", "-xtrim", "--user", "default", "off",
    ]);
    let mut settings = server.settings("pbx1");
    settings.username = Some("qc".into());
    settings.password = Some(queuecast::config::Secret::new("pw"));
    let keys = settings.keys();
    let refused = sink::write_snapshot(&settings, &day_of_calls(), Health::default()).await;
    assert!(refused.is_err(), "the rewrite fails as a whole");
    let mut conn = sink::RedisConn::connect(&settings).await.expect("connect as qc");
    let written: Vec<String> = conn.keys(format!("{}:*", keys.base())).await.unwrap();
    assert_eq!(written, Vec::<String>::new(), "no chunk was applied before EXEC");
}
