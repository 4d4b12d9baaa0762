//! A gateway under clients that misbehave: one that never reads, one that sends oversized frames, bad
//! tokens on the WebSocket. The others are not held back and the gateway's memory stays bounded.

mod common;

use common::gateway::{Gateway, Served, Shared, claims, follow_ws, sign};
use common::redis::eventually;
use common::sink::Sink;
use common::updates::{agent, queue};
use futures::{SinkExt, StreamExt};
use queuecast::sink::{SinkMsg, Update, reader};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

const PBX: &str = "pbx1";
const WAIT: Duration = Duration::from_secs(60);
/// Per agent update: ~4 KiB of payload, so a flood is tens of MiB of frames.
const PAD_BYTES: usize = 4_096;
/// Updates per flood: more than the hub's ring, so a client that does not read is sure to fall off it.
const FLOOD_UPDATES: u64 = 6_000;
/// Growth of the gateway's RSS allowed between two equal floods once the ring is full (allocator slack).
const RSS_SLACK_KIB: u64 = 16 * 1024;

fn padded(i: u64) -> Update {
    let Update::Agent { id, mut fields } = agent(&format!("PJSIP/{}", i % 50), "talking", i) else {
        unreachable!()
    };
    fields.insert("pad".into(), "x".repeat(PAD_BYTES).into());
    Update::Agent { id, fields }
}

async fn flood(sink: &Sink, from: u64) {
    for chunk in (from..from + FLOOD_UPDATES).collect::<Vec<_>>().chunks(20) {
        sink.handle.send(SinkMsg::Updates(chunk.iter().map(|i| padded(*i)).collect()));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    sink.flushed().await;
}

/// A gateway over the queue `sales` (`extra` in its config), and a token for it.
async fn served(extra: &str) -> (Served, String) {
    (Served::start(PBX, vec![queue("sales", &[], 0)], extra).await, sign(&claims(PBX)))
}

/// Opens a WebSocket by hand and never reads a byte of it.
async fn stalled_client(gw: &Gateway, token: &str) -> tokio::net::TcpStream {
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    let request = format!(
        "GET /v1/pbx1/ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    socket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_holds_back_nobody_and_memory_stays_bounded() {
    let (Served { server, settings, sink, gw }, token) = served("").await;
    let _stalled = [stalled_client(&gw, &token).await, stalled_client(&gw, &token).await];
    let live: Shared = Arc::default();
    let _task = follow_ws(gw.ws(&format!("/v1/pbx1/ws?token={token}")), live.clone()).await;
    let seq = || async {
        reader::read_meta(&mut server.conn().await, &settings.keys()).await.unwrap()["seq"]
            .parse::<u64>()
            .unwrap()
    };

    let mut rss = Vec::new();
    for round in 0..4 {
        let before = seq().await;
        flood(&sink, round * FLOOD_UPDATES).await;
        let target = seq().await;
        eprintln!("flood {round}: {} messages", target - before);
        eventually(WAIT, "the live client keeps up", || async { live.lock().unwrap().seq >= target }).await;
        rss.push(gw.rss_kib());
    }
    // The first rounds fill the ring and the allocator's pools; the rounds after that must not grow memory.
    eprintln!("gateway RSS after each flood (KiB): {rss:?}");
    assert!(rss[3] <= rss[2] + RSS_SLACK_KIB, "RSS grew: {rss:?}");
    let want = reader::read_snapshot(&mut server.conn().await, &settings.keys()).await.unwrap();
    let live = live.lock().unwrap().clone();
    assert_eq!(live.agents.len(), want.agents.len());
    for (id, hash) in &want.agents {
        assert_eq!(live.agents[id]["seq"].as_u64().unwrap().to_string(), hash["seq"], "{id}");
    }
    sink.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_and_bad_tokens_are_refused_and_others_go_on() {
    let (Served { server: _redis, sink, gw, .. }, token) = served("").await;
    for bad in ["", "garbage", "a.b.c"] {
        match tokio_tungstenite::connect_async(gw.ws(&format!("/v1/pbx1/ws?token={bad}"))).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
            other => panic!("expected 401, got {other:?}"),
        }
    }
    let (mut hostile, _) =
        tokio_tungstenite::connect_async(gw.ws(&format!("/v1/pbx1/ws?token={token}"))).await.unwrap();
    let first = hostile.next().await.unwrap().unwrap();
    let first: serde_json::Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(first["type"], "snapshot");
    let _ = hostile.send(Message::Text("x".repeat(1 << 20).into())).await;
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match hostile.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await
    .expect("the oversized frame ends the connection");
    assert!(closed);
    let live: Shared = Arc::default();
    let _task = follow_ws(gw.ws(&format!("/v1/pbx1/ws?token={token}")), live.clone()).await;
    sink.handle.send(SinkMsg::Updates(vec![queue("sales", &["1.1"], 5)]));
    sink.flushed().await;
    eventually(WAIT, "another client still served", || async {
        live.lock().unwrap().queues.get("sales").is_some_and(|q| q["answered"] == 5)
    })
    .await;
    sink.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_beyond_max_streams_are_refused_with_503() {
    let (Served { server: _redis, sink, gw, .. }, token) = served("max_streams = 2").await;
    let url = gw.ws(&format!("/v1/pbx1/ws?token={token}"));
    let (first, _) = tokio_tungstenite::connect_async(url.clone()).await.unwrap();
    let (_second, _) = tokio_tungstenite::connect_async(url.clone()).await.unwrap();
    match tokio_tungstenite::connect_async(url.clone()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("expected 503, got {other:?}"),
    }
    let sse = reqwest::get(gw.http(&format!("/v1/pbx1/events?token={token}"))).await.unwrap();
    assert_eq!(sse.status(), 503);
    // A slot freed is a slot available again.
    drop(first);
    eventually(WAIT, "a slot frees up", || async {
        tokio_tungstenite::connect_async(url.clone()).await.is_ok()
    })
    .await;
    sink.stop().await;
}
