//! The documented example consumer (`examples/consumer.py`, redis-py) against a real redis-server while the
//! sink writes: it snapshots mid-run, follows the stream, and ends with exactly the state in the hashes.
//! Needs `python3` with the `redis` module (test.sh installs it when missing).

mod common;

use common::redis::RedisServer;
use common::sink::Sink;
use common::updates::random_batch;
use queuecast::sink::reader::{self, Hash};
use queuecast::sink::{RedisConn, SinkMsg};
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long the consumer waits on a quiet stream before printing its state and exiting.
const IDLE_EXIT_S: &str = "2";
/// Writes that keep coming after the consumer's snapshot, so it must follow the stream, not just snapshot.
const WRITES_AFTER_SNAPSHOT_MS: u64 = 400;

/// The JSON line `consumer.py --idle-exit` prints.
#[derive(Debug, Deserialize)]
struct ConsumerState {
    seq: u64,
    agents: BTreeMap<String, Hash>,
    queues: BTreeMap<String, Hash>,
    waiting: BTreeMap<String, Hash>,
}

/// Queues without waiting callers: the Python state keeps an empty map, the Rust view leaves them out.
fn without_empty(waiting: BTreeMap<String, Hash>) -> BTreeMap<String, Hash> {
    waiting.into_iter().filter(|(_, callers)| !callers.is_empty()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_consumer_ends_with_the_hashes_state() {
    let (server, settings, keys) = RedisServer::start_for("pbx1");
    let sink = Sink::start_with_state(settings.clone(), vec![]).await;

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (handle, stop) = (sink.handle.clone(), stop.clone());
        tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(5);
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                handle.send(SinkMsg::Updates(random_batch(&mut rng, round)));
                tokio::time::sleep(Duration::from_micros(rng.random_range(0..1500))).await;
                round += 1;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;

    let (mut consumer, first, lines) = common::consumer::start(&server, IDLE_EXIT_S).await;
    let first =
        first.expect("the consumer printed nothing (is the python `redis` module installed?)").unwrap();
    assert!(first.starts_with("snapshot seq="), "{first}");

    tokio::time::sleep(Duration::from_millis(WRITES_AFTER_SNAPSHOT_MS)).await;
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    sink.flushed().await;
    let last = tokio::task::spawn_blocking(move || lines.map_while(Result::ok).last()).await.unwrap();
    assert!(consumer.wait().expect("consumer exit").success());

    let mut conn = RedisConn::connect(&settings).await.expect("connect");
    let truth = reader::read_snapshot(&mut conn, &keys).await.expect("snapshot");
    let seen: ConsumerState = serde_json::from_str(&last.expect("state line")).expect("state JSON");
    let snapshot_seq: u64 = first["snapshot seq=".len()..].split(' ').next().unwrap().parse().unwrap();
    assert!(snapshot_seq > 0 && snapshot_seq < truth.seq, "snapshot at {snapshot_seq} of {}", truth.seq);
    assert_eq!(seen.seq, truth.seq);
    assert_eq!(seen.agents, truth.agents);
    assert_eq!(seen.queues, truth.queues);
    assert_eq!(without_empty(seen.waiting), truth.waiting);
    sink.stop().await;
}

/// Redis killed and restarted empty while the consumer follows: it gets connection errors, waits, takes a
/// new snapshot (of the state the sink rewrote, announced by `resync`) and still ends with the hashes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_consumer_reconnects_and_resnapshots_after_a_redis_restart() {
    /// Longer than the sink's reconnect after a one-second outage (attempts at 0.1, 0.3, 0.7, 1.5 s …).
    const IDLE_EXIT_AFTER_RESTART_S: &str = "6";
    let mut server = RedisServer::start();
    let settings = server.settings("pbx1");
    let keys = settings.keys();
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let sink = Sink::start_with_state(settings.clone(), vec![]).await;
    for round in 0..50 {
        sink.handle.send(SinkMsg::Updates(random_batch(&mut rng, round)));
    }
    sink.flushed().await;

    let (mut consumer, first, lines) = common::consumer::start(&server, IDLE_EXIT_AFTER_RESTART_S).await;
    assert!(first.expect("a first line").unwrap().starts_with("snapshot seq="));

    server.stop();
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.restart();
    sink.flushed().await;
    for round in 50..80 {
        sink.handle.send(SinkMsg::Updates(random_batch(&mut rng, round)));
    }
    sink.flushed().await;
    let output: Vec<String> =
        tokio::task::spawn_blocking(move || lines.map_while(Result::ok).collect()).await.unwrap();
    assert!(consumer.wait().expect("consumer exit").success(), "{output:?}");
    assert!(output.iter().any(|l| l.starts_with("redis error:")), "the outage was seen: {output:?}");
    assert!(output.iter().any(|l| l.starts_with("snapshot seq=")), "a new snapshot: {output:?}");

    let mut conn = RedisConn::connect(&settings).await.expect("connect");
    let truth = reader::read_snapshot(&mut conn, &keys).await.expect("snapshot");
    let seen: ConsumerState = serde_json::from_str(output.last().expect("state line")).expect("state JSON");
    assert_eq!(seen.seq, truth.seq);
    assert_eq!(seen.agents, truth.agents);
    assert_eq!(seen.queues, truth.queues);
    assert_eq!(without_empty(seen.waiting), truth.waiting);
    sink.stop().await;
}
