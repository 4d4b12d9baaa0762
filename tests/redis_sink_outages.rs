//! The Redis sink through Redis outages against a real `redis-server` started per test: kill and restart,
//! an empty restart, a long outage, a failed batch with later ones in flight, a stalled batch, and the fence
//! of the old connection after a restart.

mod common;

use common::proxy::Proxy;
use common::redis::{RedisServer, dump_pbx, eventually};
use common::sink::{Sink, WAIT, expected_dump, stream_messages};
use common::updates::{agent, call, queue};
use queuecast::config::RedisUrl;
use queuecast::sink::message::MessageType;
use queuecast::sink::{Keys, SinkMsg, Update, reader};
use redis::AsyncCommands;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn redis_killed_and_restarted_converges_with_resync() {
    let mut server = RedisServer::start();
    let settings = server.settings("pbx1");
    let keys = settings.keys();
    let mut state =
        vec![agent("PJSIP/1", "available", 0), agent("PJSIP/2", "available", 0), queue("sales", &[], 0)];
    let sink = Sink::start_with_state(settings.clone(), state.clone()).await;
    let seq_before: u64 = server.conn().await.hget(keys.meta(), "seq").await.unwrap();

    server.stop();
    let mut connected = sink.handle.connected();
    tokio::time::timeout(WAIT, connected.wait_for(|c| !*c)).await.expect("outage noticed").unwrap();
    // Changes during the outage: kept as latest state per entity, not as a queue of messages.
    for round in 1..=50 {
        sink.handle
            .send(SinkMsg::Updates(vec![agent("PJSIP/1", "talking", round), queue("sales", &["c9"], round)]));
    }
    sink.handle
        .send(SinkMsg::Updates(vec![Update::AgentRemoved { id: "PJSIP/2".into() }, call("c9", "waiting")]));
    server.restart();
    sink.flushed().await;

    let mut conn = server.conn().await;
    state = vec![agent("PJSIP/1", "talking", 50), queue("sales", &["c9"], 50), call("c9", "waiting")];
    let expected = expected_dump(&server, &state).await;
    assert_eq!(dump_pbx(&mut conn, &keys, false).await, expected);
    let msgs = stream_messages(&mut conn, &keys).await;
    let last = msgs.last().expect("a message after restart");
    assert_eq!(last.kind, MessageType::Resync);
    assert_eq!(last.data["reason"], "reconnect");
    assert!(last.seq > seq_before, "seq continues after a data-losing Redis restart");
    sink.stop().await;
}

/// Calls that ended before the outage are rewritten too when Redis comes back empty (within `call_ttl`):
/// Redis then holds every call record the engine holds, as it did before the outage.
#[tokio::test]
async fn calls_ended_before_the_outage_are_back_after_an_empty_restart() {
    let mut server = RedisServer::start();
    let settings = server.settings("pbx1");
    let keys = settings.keys();
    let ended = |uid: &str| {
        let Update::Call { uniqueid, mut fields } = call(uid, "answered") else { unreachable!() };
        fields.insert("ended_at".into(), json!(1_732_300_100_000_i64));
        Update::Call { uniqueid, fields }
    };
    let mut state = vec![agent("PJSIP/1", "available", 0), queue("sales", &[], 0)];
    let sink = Sink::start_with_state(settings.clone(), state.clone()).await;
    let calls = vec![ended("c1"), ended("c2"), call("c3", "waiting")];
    sink.handle.send(SinkMsg::Updates(calls.clone()));
    sink.flushed().await;

    server.restart();
    eventually(WAIT, "the state is rewritten into the empty Redis", || async {
        let mut conn = server.conn().await;
        let n: usize = conn.exists(keys.meta()).await.unwrap_or(0);
        n == 1 && sink.handle.flushed(Duration::from_millis(10)).await
    })
    .await;
    state.extend(calls);
    let expected = expected_dump(&server, &state).await;
    assert_eq!(dump_pbx(&mut server.conn().await, &keys, false).await, expected);
    sink.stop().await;
}

/// A Redis outage costs no CPU: the sink's loop wakes once per reconnect attempt, however long the outage
/// (here ten minutes of paused, simulated time, well past the one-minute call-prune timer that once made
/// it spin). Redis is a unix socket path nobody listens on, so every attempt fails at once.
#[tokio::test(start_paused = true)]
async fn a_long_outage_wakes_the_sink_only_per_reconnect_attempt() {
    /// Simulated outage length; any length must give wake-ups proportional to it at the reconnect cadence.
    const OUTAGE_S: u64 = 600;
    /// The reconnect delay's cap is 5 s, jittered in its upper half: at least 2.5 s between attempts once
    /// capped; the first attempts (100 ms, 200 ms …) and the `send` add a handful.
    const MIN_ATTEMPT_GAP_MS: u64 = 2_500;
    const SLACK: u64 = 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("unix://{}", dir.path().join("nobody.sock").display());
    let sink = Sink::start(queuecast::config::RedisConfig::new(url));
    sink.handle.send(SinkMsg::Resync(vec![agent("PJSIP/1", "available", 0), call("c1", "waiting")]));
    let before = sink.handle.wakeups();
    tokio::time::sleep(Duration::from_secs(OUTAGE_S)).await;
    let wakeups = sink.handle.wakeups() - before;
    let bound = OUTAGE_S * 1_000 / MIN_ATTEMPT_GAP_MS + SLACK;
    println!("sink wake-ups during a {OUTAGE_S} s outage: {wakeups} (bound {bound})");
    assert!(wakeups >= OUTAGE_S * 1_000 / 5_000, "it keeps retrying: {wakeups}");
    assert!(wakeups <= bound, "{wakeups} wake-ups in {OUTAGE_S} s: the sink spins");
    sink.stop().await;
}

/// A batch fails while later ones are already on the connection: the first write of a burst hits a key
/// someone else replaced by a string (WRONGTYPE inside its EXEC; the connection stays up). The batch after
/// it was sent before that reply came back and is applied; the sink still converges: it waits for that
/// reply, reconnects, rewrites everything (the clobbered key included) and publishes `resync`.
#[tokio::test]
async fn a_failed_batch_with_later_ones_in_flight_converges_with_resync() {
    let (server, settings, keys) = RedisServer::start_for("pbx1");
    let sink = Sink::start_with_state(settings.clone(), vec![]).await;
    sink.handle.send(SinkMsg::Updates(vec![call("clobbered", "waiting")]));
    sink.flushed().await;
    let mut conn = server.conn().await;
    let seq_before: u64 = conn.hget(keys.meta(), "seq").await.unwrap();
    let () = conn.set(keys.call("clobbered"), "not a hash").await.unwrap();

    // One send: the sink cuts it into batches of 1 000, the clobbered call in the first.
    let mut burst = vec![call("clobbered", "answered")];
    burst.extend((0..2_999).map(|i| call(&format!("burst.{i}"), "waiting")));
    sink.handle.send(SinkMsg::Updates(burst.clone()));
    sink.flushed().await;

    let expected = expected_dump(&server, &burst).await;
    assert_eq!(dump_pbx(&mut conn, &keys, false).await, expected);
    let msgs = reader::read_stream(&mut conn, &keys, seq_before, 100_000, 0).await.expect("XREAD");
    assert!(msgs.windows(2).all(|w| w[1].seq > w[0].seq), "stream ids grow");
    let resync = msgs.iter().position(|m| m.kind == MessageType::Resync).expect("a resync after the failure");
    assert_eq!(msgs[resync].data["reason"], "reconnect");
    let before_resync = &msgs[..resync];
    assert!(
        before_resync.len() > 1_000,
        "the second batch was in flight and applied before the rewrite ({} messages)",
        before_resync.len()
    );
    sink.stop().await;
}

/// Redis stalls while a batch is on its way (held in a proxy, as a frozen server or a partitioned network
/// would): the sink times out, reconnects, rewrites, and later changes go out on the new connection. When
/// the stalled bytes finally arrive, Redis must not run them: they would put an older agent state and an
/// older `meta.seq` back. The new connection closes the old one server-side before rewriting.
#[tokio::test]
async fn a_stalled_batch_arriving_after_the_rewrite_is_never_applied() {
    let server = RedisServer::start();
    let (mut proxy, keys, sink) = sink_behind_proxy(&server).await;

    proxy.hold();
    sink.handle.send(SinkMsg::Updates(vec![agent("PJSIP/1", "talking", 2)]));
    let mut connected = sink.handle.connected();
    tokio::time::timeout(WAIT, connected.wait_for(|c| !*c)).await.expect("the stall is noticed").unwrap();
    sink.handle.send(SinkMsg::Updates(vec![agent("PJSIP/1", "paused", 3)]));
    sink.flushed().await;
    proxy.release().await;

    let mut conn = server.conn().await;
    let status: String = conn.hget(keys.agent("PJSIP/1"), "status").await.unwrap();
    assert_eq!(status, "paused", "the stalled batch was applied after the newer state");
    let meta_seq: u64 = conn.hget(keys.meta(), "seq").await.unwrap();
    let msgs = stream_messages(&mut conn, &keys).await;
    assert_eq!(meta_seq, msgs.last().expect("messages").seq, "meta.seq went back");
    assert!(msgs.iter().any(|m| m.kind == MessageType::Resync && m.data["reason"] == "reconnect"));
    sink.stop().await;
}

/// A sink that reaches `server` through a [`Proxy`], with one available agent written.
async fn sink_behind_proxy(server: &RedisServer) -> (Proxy, Keys, Sink) {
    let proxy = Proxy::start(server.port()).await;
    let mut settings = server.settings("pbx1");
    settings.url = RedisUrl::new(proxy.url());
    let keys = settings.keys();
    let sink = Sink::start_with_state(settings, vec![agent("PJSIP/1", "available", 1)]).await;
    (proxy, keys, sink)
}

/// Client ids restart from 1 when Redis restarts, so the id of the sink's old connection may then belong
/// to another client. The fence must leave that client alone: it kills only a connection that still has
/// the name the sink gave its own.
#[tokio::test]
async fn after_a_redis_restart_the_fence_spares_whoever_has_the_old_id() {
    let mut server = RedisServer::start();
    let (proxy, keys, sink) = sink_behind_proxy(&server).await;
    let list: String = redis::cmd("CLIENT").arg("LIST").query_async(&mut server.conn().await).await.unwrap();
    let line = list.lines().find(|l| l.contains(" name=queuecast-")).expect("the sink names its connection");
    let old_id: u64 = line.strip_prefix("id=").and_then(|l| l.split(' ').next()).unwrap().parse().unwrap();

    // Keep the sink away until another client holds its old id on the restarted server.
    proxy.reject_new(true);
    server.restart();
    let mut others = Vec::new();
    let mut bystander = loop {
        let mut conn = server.conn().await;
        let id: u64 = redis::cmd("CLIENT").arg("ID").query_async(&mut conn).await.unwrap();
        assert!(id <= old_id, "setup: ids after the restart passed {old_id} (at {id})");
        if id == old_id {
            break conn;
        }
        others.push(conn);
    };
    proxy.reject_new(false);
    sink.handle.send(SinkMsg::Updates(vec![agent("PJSIP/1", "talking", 2)]));
    sink.flushed().await;

    let pong: String = redis::cmd("PING").query_async(&mut bystander).await.expect("the bystander lives");
    assert_eq!(pong, "PONG");
    let status: String = bystander.hget(keys.agent("PJSIP/1"), "status").await.unwrap();
    assert_eq!(status, "talking");
    sink.stop().await;
}
