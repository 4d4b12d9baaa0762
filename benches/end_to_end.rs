//! End-to-end latency of the running daemon: a line appended to queue_log → the `call_update` a Redis pub/sub
//! subscriber receives. The whole daemon runs in-process (`queuecast::daemon::run`: tail with notify +
//! position check, engine task, sink) against a private `redis-server` this bench starts. Lines are
//! appended at a steady rate, each a new caller, so every line yields exactly one `call_update`.
//!
//! Run: `cargo bench --bench end_to_end`. Needs `redis-server` on PATH.

use futures::StreamExt;
use queuecast::config::Config;

#[path = "support/mod.rs"]
mod support;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// DESIGN target load for the latency figure.
const RATE_PER_S: u64 = 1_000;
const SECONDS: u64 = 10;
/// Lines appended before measuring, so the daemon is past its start-up replay and the caches are warm.
const WARMUP_LINES: u64 = 200;

fn main() {
    let redis = support::Redis::start();
    let port = redis.port;
    let dir = tempfile::tempdir().expect("tempdir");
    let queue_log = dir.path().join("queue_log");
    std::fs::write(&queue_log, "").expect("create queue_log");
    let config_path = dir.path().join("queuecast.toml");
    let toml = format!(
        "[queue_log]\npath = \"{}\"\n[redis]\nurl = \"redis://127.0.0.1:{port}\"\npbx_id = \"bench\"\n[engine]\nqueues_conf = \"/nonexistent\"\ntimezone = \"UTC\"\n[log]\nlevel = \"warn\"\nformat = \"text\"\n",
        queue_log.display()
    );
    std::fs::write(&config_path, &toml).expect("write config");
    let config = Config::from_toml(&toml, &config_path).expect("config");
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies = runtime.block_on(async {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("client");
        let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
        pubsub.subscribe("queuecast:{bench}:events").await.expect("subscribe");
        let mut messages = pubsub.into_on_message();
        let daemon = tokio::spawn(async move { queuecast::daemon::run(&config_path, config, None).await });
        // The daemon publishes `resync` once its start-up replay is written: from then on every line is a delta.
        while let Some(msg) = messages.next().await {
            if msg.get_payload::<String>().is_ok_and(|p| p.contains("\"type\":\"resync\"")) {
                break;
            }
        }
        let total = WARMUP_LINES + RATE_PER_S * SECONDS;
        let writer = {
            let sent = Arc::clone(&sent);
            let path = queue_log.clone();
            std::thread::spawn(move || append_lines(&path, total, &sent))
        };
        let mut latencies = Vec::with_capacity((RATE_PER_S * SECONDS) as usize);
        let mut seen = 0u64;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(SECONDS + 60);
        while seen < total {
            let msg = tokio::select! {
                msg = messages.next() => msg,
                _ = tokio::time::sleep_until(deadline) => break,
            };
            let Some(msg) = msg else { break };
            let received = Instant::now();
            let Ok(payload) = msg.get_payload::<String>() else { continue };
            let Ok(value) = serde_json::from_str::<serde_json::Value>(&payload) else { continue };
            if value["type"] != "call_update" {
                continue;
            }
            let id = format!(
                "{}/{}",
                value["id"].as_str().unwrap_or_default(),
                value["data"]["outcome"].as_str().unwrap_or_default()
            );
            let Some(at) = sent.lock().expect("sent").remove(&id) else { continue };
            seen += 1;
            if seen > WARMUP_LINES {
                latencies.push(received - at);
            }
        }
        writer.join().expect("writer");
        daemon.abort();
        latencies
    });
    // A caller that joins and hangs up within one read of the tail yields one `call_update` (abandoned):
    // updates of one entity are coalesced by design, so its `waiting` sample has nothing to match.
    let coalesced = sent.lock().expect("sent").len();
    let mut sorted = latencies;
    sorted.sort();
    println!(
        "end-to-end queue_log append -> PUBLISH received ({} samples at {RATE_PER_S} lines/s; {coalesced} updates coalesced with the next one)",
        sorted.len()
    );
    println!("  machine: {}", support::machine());
    println!(
        "  p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        support::percentile(&sorted, 0.50),
        support::percentile(&sorted, 0.90),
        support::percentile(&sorted, 0.99),
        sorted.last().copied().unwrap_or_default()
    );
    // `exit` skips destructors: stop our redis-server and remove the temp dir first, or the orphaned server
    // keeps a caller's pipe (`cargo bench … | tail`) open forever.
    drop(redis);
    drop(dir);
    std::process::exit(0);
}

/// Appends lines at `RATE_PER_S`, each written on its own like Asterisk's `fprintf` + `fflush`: callers
/// join and, on the next line, hang up, so the queue stays realistic (no ever-growing waiting list). Each
/// line changes its call, so each yields one `call_update` (`waiting`, then `abandoned`).
fn append_lines(path: &std::path::Path, total: u64, sent: &Mutex<HashMap<String, Instant>>) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).expect("open queue_log");
    let start = Instant::now();
    let epoch = jiff::Timestamp::now().as_second();
    for n in 0..total {
        let due = start + Duration::from_micros(n * 1_000_000 / RATE_PER_S);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let uniqueid = format!("{epoch}.{}", n / 2);
        let (line, outcome) = if n % 2 == 0 {
            (format!("{epoch}|{uniqueid}|support|NONE|ENTERQUEUE||555{n:07}|1\n"), "waiting")
        } else {
            (format!("{epoch}|{uniqueid}|support|NONE|ABANDON|1|1|0\n"), "abandoned")
        };
        sent.lock().expect("sent").insert(format!("{uniqueid}/{outcome}"), Instant::now());
        file.write_all(line.as_bytes()).expect("append");
    }
}
