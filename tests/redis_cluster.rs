//! The sink and the consumer protocol on a real Redis Cluster (three masters started by the test): every
//! key of a PBX lands on the one node owning its `{PBX}` slot, MULTI/EXEC batches and the MULTI snapshot
//! work through the cluster client, and PUBLISH reaches subscribers on every node.

mod common;

use common::redis_cluster::RedisCluster;
use common::sink::Sink;
use common::updates::{agent, call, queue};
use queuecast::config::RedisConfig;
use queuecast::sink::reader::{self, Applied};
use queuecast::sink::{RedisConn, SinkMsg, Update};
use std::time::Duration;

/// Generous: the CI machine has 2 loaded cores.
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn sink_and_gap_free_consumer_work_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    let mut settings = RedisConfig::new(cluster.url());
    settings.pbx_id = "pbx1".into();
    settings.queue_update_interval_ms = 20;
    settings.cluster = true;
    let keys = settings.keys();
    let mut subscribers = Vec::new();
    for node in &cluster.nodes {
        let client = redis::Client::open(node.url()).expect("client");
        let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
        pubsub.subscribe(keys.events()).await.expect("subscribe");
        subscribers.push(pubsub);
    }

    let state = vec![agent("PJSIP/1", "available", 0), queue("sales", &[], 0)];
    let sink = Sink::start_with_state(settings.clone(), state).await;
    let handle = &sink.handle;
    let mut conn = RedisConn::connect(&settings).await.expect("cluster connection");
    let mut view = reader::read_snapshot(&mut conn, &keys).await.expect("snapshot through the cluster");
    assert_eq!(view.agents["PJSIP/1"]["status"], "available");

    for round in 0..50 {
        let uid = format!("c{round}");
        handle.send(SinkMsg::Updates(vec![
            queue("sales", &[&uid], 0),
            call(&uid, "waiting"),
            agent("PJSIP/1", if round % 2 == 0 { "talking" } else { "available" }, round),
            agent(&format!("PJSIP/{}", 100 + round % 7), "paused", round),
        ]));
    }
    handle.send(SinkMsg::Updates(vec![Update::AgentRemoved { id: "PJSIP/103".into() }]));
    sink.flushed().await;

    let messages = reader::read_stream(&mut conn, &keys, view.seq, 100_000, 0).await.expect("XREAD");
    assert!(messages.len() > 20, "{} messages", messages.len());
    for msg in &messages {
        assert_eq!(view.apply(msg), Applied::Applied, "message {} after {}", msg.seq, view.seq);
    }
    let truth = reader::read_snapshot(&mut conn, &keys).await.expect("snapshot");
    assert_eq!(
        (view.seq, &view.agents, &view.queues, &view.waiting),
        (truth.seq, &truth.agents, &truth.queues, &truth.waiting)
    );
    assert!(!truth.agents.contains_key("PJSIP/103") && truth.agents.contains_key("PJSIP/104"));

    // One slot: every key lives on one node.
    let mut sizes = Vec::new();
    for node in &cluster.nodes {
        let mut single =
            redis::Client::open(node.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
        sizes.push(redis::cmd("DBSIZE").query_async::<u64>(&mut single).await.unwrap());
    }
    sizes.sort_unstable();
    assert!(sizes[0] == 0 && sizes[1] == 0 && sizes[2] > 50, "keys per node: {sizes:?}");

    // PUBLISH is cluster-wide: a consumer subscribed on any node gets the messages.
    for pubsub in &mut subscribers {
        let mut stream = pubsub.on_message();
        let first = tokio::time::timeout(WAIT, futures::StreamExt::next(&mut stream)).await;
        assert!(first.is_ok_and(|m| m.is_some()), "a subscriber got nothing");
    }
    sink.stop().await;
}
