//! The Redis sink against a real `redis-server` started per test: exact layout and messages, the gap-free
//! consumer protocol at random moments, seq across sink restarts, one-shot replay write equal to the live
//! sink, unix socket + ACL. Outages are in redis_sink_outages.rs.

mod common;

use common::redis::{RedisServer, dump_pbx, eventually};
use common::sink::{Sink, WAIT, expected_dump, stream_messages};
use common::updates::{agent, call, queue, random_batch};
use queuecast::config::{RedisUrl, Secret};
use queuecast::sink::message::{Message, MessageType};
use queuecast::sink::reader::{self, Applied};
use queuecast::sink::{self, Health, Keys, RedisConn, SinkMsg, Update};
use rand::{Rng, SeedableRng};
use redis::AsyncCommands;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
#[tokio::test]
async fn layout_and_messages_follow_design() {
    let (server, settings, keys) = RedisServer::start_for("pbx1");
    let mut conn = server.conn().await;
    let RedisConn::Single(single) = server.conn().await else { unreachable!() };
    let mut pubsub = server.subscribe_all(&keys).await;
    drop(single);

    let sink = Sink::start(settings);
    sink.handle.send(SinkMsg::Health(Health {
        ami: queuecast::sources::AmiHealth::Connected,
        queue_log: queuecast::sources::QueueLogHealth::Following,
    }));
    sink.handle.send(SinkMsg::Resync(vec![agent("PJSIP/1001", "available", 1), queue("sales", &["c1"], 3)]));
    sink.flushed().await;
    sink.handle.send(SinkMsg::Updates(vec![agent("PJSIP/1001", "paused", 1), call("c1", "waiting")]));
    sink.flushed().await;
    sink.handle.send(SinkMsg::Updates(vec![Update::AgentRemoved { id: "PJSIP/1001".into() }]));
    sink.flushed().await;

    let meta: BTreeMap<String, String> = conn.hgetall(keys.meta()).await.unwrap();
    assert_eq!(meta.get("ami").map(String::as_str), Some("connected"));
    assert_eq!(meta.get("queue_log").map(String::as_str), Some("following"));
    assert_eq!(meta.get("version").map(String::as_str), Some(sink::VERSION));
    for f in ["epoch", "seq", "started_at", "heartbeat_at"] {
        assert!(meta.contains_key(f), "meta.{f}");
    }

    let queue_hash: BTreeMap<String, String> = conn.hgetall(keys.queue("sales")).await.unwrap();
    assert_eq!(queue_hash["name"], "sales");
    assert_eq!(queue_hash["calls_waiting"], "1");
    assert_eq!(queue_hash["service_level"], "75.0");
    let waiting: BTreeMap<String, String> = conn.hgetall(keys.waiting("sales")).await.unwrap();
    let entry: Value = serde_json::from_str(&waiting["c1"]).unwrap();
    assert_eq!(entry, json!({"uniqueid": "c1", "caller_id": "5551234", "position": 1, "joined_at": 1}));
    let call_hash: BTreeMap<String, String> = conn.hgetall(keys.call("c1")).await.unwrap();
    assert_eq!(call_hash["agent"], "", "null is stored as the empty string");
    let ttl: i64 = conn.ttl(keys.call("c1")).await.unwrap();
    assert!(ttl > 0 && ttl <= 86_400, "call hash expires, ttl {ttl}");
    let agents: Vec<String> = conn.smembers(keys.agents()).await.unwrap();
    assert!(agents.is_empty(), "agent_removed does SREM");
    assert!(!conn.exists::<_, bool>(keys.agent("PJSIP/1001")).await.unwrap());
    let queues: Vec<String> = conn.smembers(keys.queues()).await.unwrap();
    assert_eq!(queues, ["sales"]);

    // The stream: ids SEQ-0, consecutive seq, one payload per message, channels for Centrifugo.
    let msgs = stream_messages(&mut conn, &keys).await;
    // A startup resync and the engine's rebuild resync may go out as one when both precede the connect.
    let resyncs = msgs.iter().take_while(|m| m.kind == MessageType::Resync).count();
    assert!(resyncs >= 1);
    assert_eq!(msgs[resyncs - 1].data["reason"], "rebuild");
    let kinds: Vec<MessageType> = msgs[resyncs..].iter().map(|m| m.kind).collect();
    use MessageType::*;
    assert_eq!(kinds, [AgentUpdate, CallUpdate, AgentRemoved]);
    let first = msgs[0].seq;
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(m.seq, first + i as u64);
        assert_eq!(m.pbx, "pbx1");
        assert_eq!(m.epoch, meta["epoch"]);
    }
    assert_eq!(meta["seq"], msgs.last().unwrap().seq.to_string());
    let paused = &msgs[resyncs];
    assert_eq!(paused.id, "PJSIP/1001");
    assert_eq!(paused.data["status"], "paused");
    assert_eq!(paused.data["seq"], paused.seq);
    let raw: redis::streams::StreamRangeReply = conn.xrange_all(keys.stream()).await.unwrap();
    assert_eq!(raw.ids[resyncs].id, format!("{}-0", paused.seq));
    let channels: String = raw.ids[resyncs].get("centrifugo-channels").unwrap();
    assert_eq!(channels, format!("{},{}", keys.events(), keys.agent("PJSIP/1001")));

    // Pub/sub carries the same JSON on `events` and on the entity channel; `resync` goes there too.
    let mut stream = pubsub.on_message();
    let mut seen: Vec<(String, Message)> = Vec::new();
    let agent_channel = keys.agent("PJSIP/1001");
    while !seen.iter().any(|(c, m)| *c == agent_channel && m.kind == AgentRemoved) {
        let msg = tokio::time::timeout(WAIT, futures::StreamExt::next(&mut stream)).await.unwrap().unwrap();
        let payload: String = msg.get_payload().unwrap();
        seen.push((msg.get_channel_name().to_owned(), serde_json::from_str(&payload).unwrap()));
    }
    let on_agent: Vec<&Message> = seen.iter().filter(|(c, _)| *c == agent_channel).map(|(_, m)| m).collect();
    let (resyncs_on_agent, changes): (Vec<&Message>, Vec<&Message>) =
        on_agent.iter().partition(|m| m.kind == MessageType::Resync);
    assert!(!resyncs_on_agent.is_empty(), "the rewrite's resync reaches the agent's channel");
    assert_eq!(changes.iter().map(|m| m.kind).collect::<Vec<_>>(), [AgentUpdate, AgentRemoved]);
    assert_eq!(changes[0], &msgs[resyncs]);
    sink.stop().await;
}

#[tokio::test]
async fn queue_updates_are_coalesced_per_interval() {
    let server = RedisServer::start();
    let mut settings = server.settings("pbx1");
    // An interval far longer than the test: a second queue update can only leave at shutdown.
    settings.queue_update_interval_ms = 3_600_000;
    let keys = settings.keys();
    let mut conn = server.conn().await;
    let sink = Sink::start_with_state(settings, vec![]).await;
    sink.handle.send(SinkMsg::Updates(vec![queue("sales", &[], 1)]));
    sink.flushed().await;
    sink.handle.send(SinkMsg::Updates(vec![queue("sales", &[], 2)]));
    sink.handle.send(SinkMsg::Updates(vec![queue("sales", &[], 3)]));
    sink.handle.send(SinkMsg::Updates(vec![agent("PJSIP/1", "available", 9)]));
    eventually(WAIT, "agent update written at once", || {
        let mut c = conn.clone();
        let key = keys.agent("PJSIP/1");
        async move { c.exists::<_, bool>(key).await.unwrap() }
    })
    .await;
    let answered: String = conn.hget(keys.queue("sales"), "answered").await.unwrap();
    assert_eq!(answered, "1", "queue update held back within its interval");
    sink.stop().await;
    let answered: String = conn.hget(keys.queue("sales"), "answered").await.unwrap();
    assert_eq!(answered, "3", "shutdown flushes the latest queue state");
    let queue_msgs: Vec<u64> = stream_messages(&mut conn, &keys)
        .await
        .into_iter()
        .filter(|m| m.kind == MessageType::QueueUpdate)
        .map(|m| m.data["answered"].as_u64().unwrap())
        .collect();
    assert_eq!(queue_msgs, [1, 3], "one message per interval, carrying the latest state");
}

/// Random churn: agents change and disappear, queues change their waiting lists, calls come and go.
#[tokio::test]
async fn snapshot_at_any_moment_plus_stream_equals_hashes() {
    let (server, settings, keys) = RedisServer::start_for("pbx1");
    let sink = Sink::start_with_state(settings, vec![]).await;

    let writer = {
        let handle = sink.handle.clone();
        tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(7);
            for round in 0..400 {
                handle.send(SinkMsg::Updates(random_batch(&mut rng, round)));
                tokio::time::sleep(Duration::from_micros(rng.random_range(0..1500))).await;
            }
        })
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut conn = server.conn().await;
    let mut consumers = Vec::new();
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..60))).await;
        consumers.push(reader::read_snapshot(&mut conn, &keys).await.expect("snapshot"));
        // Follow a little while the writer runs.
        for view in &mut consumers {
            follow(&mut conn, &keys, view).await;
        }
    }
    writer.await.unwrap();
    sink.flushed().await;
    let truth = reader::read_snapshot(&mut conn, &keys).await.unwrap();
    assert!(truth.seq > 100, "the run produced messages");
    for view in &mut consumers {
        follow(&mut conn, &keys, view).await;
        assert_eq!(view.seq, truth.seq);
        assert_eq!(view.agents, truth.agents);
        assert_eq!(view.queues, truth.queues);
        assert_eq!(view.waiting, truth.waiting);
    }
    sink.stop().await;
}

/// Applies everything in the stream after the view's seq; a gap or duplicate fails the test.
async fn follow(conn: &mut RedisConn, keys: &Keys, view: &mut reader::StateView) {
    let msgs = reader::read_stream(conn, keys, view.seq, 100_000, 0).await.expect("XREAD");
    for msg in &msgs {
        assert_eq!(view.apply(msg), Applied::Applied, "message {} after {}", msg.seq, view.seq);
    }
}

#[tokio::test]
async fn seq_continues_and_epoch_changes_across_sink_restarts() {
    let (server, settings, keys) = RedisServer::start_for("pbx1");
    let mut conn = server.conn().await;
    let first = Sink::start(settings.clone());
    first.handle.send(SinkMsg::Updates(vec![agent("PJSIP/1", "available", 1)]));
    first.flushed().await;
    first.stop().await;
    let before = stream_messages(&mut conn, &keys).await;
    let second = Sink::start(settings);
    second.handle.send(SinkMsg::Updates(vec![agent("PJSIP/1", "talking", 2)]));
    second.flushed().await;
    second.stop().await;
    let all = stream_messages(&mut conn, &keys).await;
    let after = &all[before.len()..];
    assert_eq!(after[0].seq, before.last().unwrap().seq + 1);
    assert_eq!(after[0].kind, MessageType::Resync);
    assert_ne!(after[0].epoch, before[0].epoch);
    assert!(all.windows(2).all(|w| w[1].seq == w[0].seq + 1));
}

#[tokio::test]
async fn live_sink_and_one_shot_replay_leave_the_same_state() {
    let server = RedisServer::start();
    let live = server.settings("live");
    let sink = Sink::start(live.clone());
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut latest: BTreeMap<sink::Entity, Update> = BTreeMap::new();
    sink.handle.send(SinkMsg::Resync(vec![]));
    for round in 0..200 {
        let batch = random_batch(&mut rng, round);
        for u in &batch {
            latest.insert(u.entity(), u.clone());
        }
        sink.handle.send(SinkMsg::Updates(batch));
    }
    sink.flushed().await;
    sink.stop().await;
    let final_state: Vec<Update> =
        latest.into_values().filter(|u| !matches!(u, Update::AgentRemoved { .. })).collect();
    let expected = expected_dump(&server, &final_state).await;
    assert_eq!(dump_pbx(&mut server.conn().await, &live.keys(), false).await, expected);
}

#[tokio::test]
async fn unix_socket_with_acl_user_and_password_redaction() {
    let server = RedisServer::start_with(&[
        "--user",
        "qc",
        "on",
        ">s3cret-pw",
        // The permissions docs/consumers.md tells operators to grant, nothing more.
        "~queuecast:{pbx1}:*",
        "&queuecast:{pbx1}:*",
        "+@write",
        "+@read",
        "+@stream",
        "+@pubsub",
        "+@transaction",
        "+ping",
        "+hello",
        "+client",
        "--user",
        "default",
        "off",
    ]);
    let mut settings = server.settings("pbx1");
    settings.url = RedisUrl::new(format!("{}?user=qc&pass=s3cret-pw", server.unix_url()));
    sink::write_snapshot(&settings, &[agent("PJSIP/1", "available", 1)], Health::default())
        .await
        .expect("write over unix socket with ACL user");
    let mut tcp = settings.clone();
    tcp.url = RedisUrl::new(format!("redis://127.0.0.1:{}", server.port()));
    tcp.username = Some("qc".into());
    tcp.password = Some(Secret::new("s3cret-pw"));
    let mut conn = RedisConn::connect(&tcp).await.expect("TCP with separate ACL fields");
    let id: String = conn.hget(tcp.keys().agent("PJSIP/1"), "id").await.unwrap();
    assert_eq!(id, "PJSIP/1");
    // The live sink under the same ACL, through a reconnect (its fence runs `CLIENT KILL`).
    let live = Sink::start(tcp.clone());
    live.handle.send(SinkMsg::Updates(vec![agent("PJSIP/1", "talking", 2)]));
    live.flushed().await;
    let _: () = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .query_async(&mut conn)
        .await
        .expect("kill the sink's connection");
    live.handle.send(SinkMsg::Updates(vec![agent("PJSIP/1", "paused", 3)]));
    eventually(WAIT, "the sink reconnects and writes under the documented ACL", || {
        let mut conn = conn.clone();
        let key = tcp.keys().agent("PJSIP/1");
        async move { conn.hget::<_, _, String>(key, "status").await.is_ok_and(|s| s == "paused") }
    })
    .await;
    live.stop().await;

    let mut wrong = tcp.clone();
    wrong.url = RedisUrl::new(format!("redis://qc:wrong-pw@127.0.0.1:{}", server.port()));
    wrong.password = None;
    let err = match RedisConn::connect(&wrong).await {
        Ok(_) => panic!("wrong password accepted"),
        Err(err) => err.to_string(),
    };
    assert!(!err.contains("wrong-pw"), "password leaked: {err}");
    assert!(err.contains("qc:***@"), "{err}");
}
