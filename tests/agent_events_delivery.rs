//! `agent_event`s of a real Asterisk 22 recording on their way out: the real sink writes them to a real
//! `redis-server` (stream and pub/sub, no hash), and the gateway forwards them to its clients in scope.

mod common;

use common::agent_feed::{Row, engine_rows, events, facts, settling_tick};
use common::corpus::{self, Mode};
use queuecast::engine::{Engine, Event, PbxSetup};
use std::collections::BTreeMap;

/// Applies `events` and a settling tick, and hands every batch of changes to the sink, waiting for each
/// to be written: the live path, one event at a time.
async fn feed_sink(engine: &mut Engine, sink: &common::sink::Sink, events: &[Event]) {
    use queuecast::sink::{self, SinkMsg};
    let tick = settling_tick(events);
    for event in events.iter().chain([&tick]) {
        let changes = engine.apply(event);
        if !changes.is_empty() {
            sink.handle.send(SinkMsg::Updates(sink::render(engine.views(&changes))));
            sink.flushed().await;
        }
    }
}

/// The real sink and a real `redis-server`: the engine's agent events of a recording, live after a start-up
/// resync, are on the stream and on pub/sub (`events` and the agent's channel) as `agent_event` messages with
/// consecutive seq among the state messages, and no hash holds them.
#[tokio::test]
async fn agent_events_reach_the_stream_and_pub_sub_but_no_hash() {
    use common::redis::RedisServer;
    use common::sink::{Sink, stream_messages};
    use queuecast::sink;
    use queuecast::sink::message::{Message, MessageType};
    use redis::AsyncCommands;

    let wait = std::time::Duration::from_secs(30);
    let s = corpus::scenario("asterisk-22", "login-pause-unpause");
    let config = PbxSetup { queue_log_feed: true, ..s.config() };
    let facts = facts(&s, Mode::QueueLogAndAmi);
    let events = events(&facts);
    let want = engine_rows(config.clone(), &events);

    let (server, settings, keys) = RedisServer::start_for("pbx1");
    let mut conn = server.conn().await;
    let mut pubsub = server.subscribe_all(&keys).await;

    let mut engine = Engine::new(config);
    let sink = Sink::start_with_state(settings, sink::render(engine.all_views())).await;
    feed_sink(&mut engine, &sink, &events).await;

    let msgs = stream_messages(&mut conn, &keys).await;
    let first = msgs[0].seq;
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(m.seq, first + i as u64, "consecutive seq");
    }
    let published: Vec<&Message> = msgs.iter().filter(|m| m.kind == MessageType::AgentEvent).collect();
    let rows: Vec<Row> = published
        .iter()
        .map(|m| {
            let text = |k: &str| m.data[k].as_str().map(str::to_owned);
            let event = serde_json::from_value(m.data["event"].clone()).expect("event");
            let source = serde_json::from_value(m.data["source"].clone()).expect("source");
            assert!(m.data["at"].is_i64(), "at is ms since the epoch");
            let at = m.data["at"].as_i64().expect("at");
            (m.id.clone(), event, text("queue").expect("queue"), text("reason"), source, at)
        })
        .collect();
    assert_eq!(rows, want, "every agent event, in order, on the stream");
    assert!(!want.is_empty());

    // Pub/sub: each agent_event on `events` and on its agent's channel, the same JSON as the stream entry.
    let mut stream = pubsub.on_message();
    let (mut on_events, mut on_agent) = (Vec::new(), 0);
    while on_events.len() < published.len() || on_agent < published.len() {
        let msg = tokio::time::timeout(wait, futures::StreamExt::next(&mut stream)).await.unwrap().unwrap();
        let m: Message = serde_json::from_str(&msg.get_payload::<String>().unwrap()).unwrap();
        if m.kind != MessageType::AgentEvent {
            continue;
        }
        if msg.get_channel_name() == keys.events() {
            on_events.push(m);
        } else {
            assert_eq!(msg.get_channel_name(), keys.agent(&m.id));
            on_agent += 1;
        }
    }
    assert_eq!(on_events.iter().collect::<Vec<_>>(), published);

    // No hash: the keys are the layout's state keys only, and no agent hash carries an event field.
    let all: Vec<String> = conn.keys(format!("{}:*", keys.base())).await.unwrap();
    for key in &all {
        let kind: String = redis::cmd("TYPE").arg(key).query_async(&mut conn).await.unwrap();
        if kind == "hash" {
            let fields: BTreeMap<String, String> = conn.hgetall(key).await.unwrap();
            for f in ["event", "source"] {
                assert!(!fields.contains_key(f), "{key} holds no agent_event field {f}");
            }
        }
    }
    let agents: Vec<String> = conn.smembers(keys.agents()).await.unwrap();
    let mut expected_keys: Vec<String> = agents.iter().map(|a| keys.agent(a)).collect();
    let queues: Vec<String> = conn.smembers(keys.queues()).await.unwrap();
    expected_keys.extend(queues.iter().map(|q| keys.queue(q)));
    expected_keys.extend([keys.meta(), keys.agents(), keys.queues(), keys.stream()]);
    let mut all = all;
    all.sort();
    expected_keys.sort();
    assert_eq!(all, expected_keys, "agent events add no key");
    sink.stop().await;
}

/// The gateway forwards `agent_event`s in order: an open WebSocket client gets every one, an SSE client with
/// an agent-scoped token exactly its agent's (after that agent's `agent_update`, which the engine emits first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_forwards_agent_events_in_scope() {
    use common::gateway::{Follower, Gateway, Shared, claims, follow_sse, follow_ws, sign};
    use common::redis::{RedisServer, eventually};
    use common::sink::{Sink, stream_messages};
    use queuecast::sink;
    use queuecast::sink::message::{Message, MessageType};
    use std::sync::{Arc, Mutex};

    let s = corpus::scenario("asterisk-22", "login-pause-unpause");
    let config = PbxSetup { queue_log_feed: true, ..s.config() };
    let events = events(&facts(&s, Mode::QueueLogAndAmi));
    let (server, settings, keys) = RedisServer::start_for("pbx1");
    let mut engine = Engine::new(config);
    let sink = Sink::start_with_state(settings, sink::render(engine.all_views())).await;
    let gw = Gateway::start(&server, "pbx1");
    let open: Shared = Arc::new(Mutex::new(Follower::default()));
    let scoped: Shared = Arc::new(Mutex::new(Follower::default()));
    let agent = "Local/1001@agents/n";
    let mut mine = claims("pbx1");
    mine.agent = Some(agent.into());
    let ws = follow_ws(gw.ws(&format!("/v1/pbx1/ws?token={}", sign(&claims("pbx1")))), open.clone()).await;
    let sse =
        follow_sse(gw.http(&format!("/v1/pbx1/events?token={}", sign(&mine))), None, scoped.clone()).await;
    let wait = std::time::Duration::from_secs(30);
    eventually(wait, "both clients have their snapshot", || {
        let ready = open.lock().unwrap().snapshots > 0 && scoped.lock().unwrap().snapshots > 0;
        async move { ready }
    })
    .await;

    feed_sink(&mut engine, &sink, &events).await;
    let mut conn = server.conn().await;
    let msgs: Vec<Message> = stream_messages(&mut conn, &keys).await;
    let last = msgs.last().expect("messages").seq;
    let seqs = |pred: &dyn Fn(&Message) -> bool| -> Vec<u64> {
        msgs.iter().filter(|m| m.kind == MessageType::AgentEvent && pred(m)).map(|m| m.seq).collect()
    };
    let (all, of_agent) = (seqs(&|_| true), seqs(&|m| m.id == agent));
    assert!(!of_agent.is_empty() && of_agent.len() < all.len());
    let got = |f: &Shared| -> Vec<u64> {
        f.lock().unwrap().frames.iter().filter(|(k, _)| k == "agent_event").map(|(_, s)| *s).collect()
    };
    eventually(wait, "the open client reached the last message", || {
        let seq = open.lock().unwrap().seq;
        async move { seq >= last }
    })
    .await;
    assert_eq!(got(&open), all, "every agent_event, in order");
    // A login changes the scoped agent's queues, so that client re-snapshots (DESIGN.md "Gateway"); an event
    // inside such a snapshot is not sent again. Every other one of its agent's events reaches it, in order.
    eventually(wait, "the scoped client reached its agent's last event", || {
        let reached = scoped.lock().unwrap().frames.iter().any(|(_, s)| *s >= *of_agent.last().unwrap());
        async move { reached }
    })
    .await;
    let frames = scoped.lock().unwrap().frames.clone();
    let received = got(&scoped);
    let covered = |seq: u64| frames.iter().any(|(k, s)| k == "snapshot" && *s >= seq);
    let want: Vec<u64> =
        of_agent.iter().copied().filter(|&seq| !covered(seq) || received.contains(&seq)).collect();
    assert_eq!(received, want, "its agent's events, in order, none of another agent: {frames:?}");
    assert!(received.len() >= 2, "the pause and unpause of its agent arrive: {frames:?}");
    assert_eq!(open.lock().unwrap().snapshots, 1, "no re-snapshot for an unknown-to-the-follower type");
    ws.abort();
    sse.abort();
    drop(gw);
    sink.stop().await;
}
