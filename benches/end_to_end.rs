//! End-to-end latency of the running daemon, from each source to a Redis pub/sub subscriber:
//! 1. a line appended to queue_log → the `call_update` the subscriber receives;
//! 2. an AMI event (QueueCallerJoin / QueueCallerAbandon from a minimal Asterisk 22 peer on loopback) → the
//!    same.
//!
//! The whole daemon runs in-process (`queuecast::daemon::run`: tail with notify + position check, AMI
//! client, engine task, sink) against a private `redis-server` this bench starts. Input arrives at a steady
//! rate, each line or event a caller joining or abandoning, so every one yields exactly one `call_update`.
//!
//! Run: `cargo bench --bench end_to_end`. Needs `redis-server` on PATH.

use futures::StreamExt;
use queuecast::config::Config;

#[path = "support/fake_asterisk.rs"]
mod fake_asterisk;
#[path = "support/mod.rs"]
mod support;
use fake_asterisk::{Caller, Sent};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// DESIGN target load for the latency figure.
const RATE_PER_S: u64 = 1_000;
const SECONDS: u64 = 10;
/// Lines or events sent before measuring, so the daemon is past its start-up and the caches are warm.
const WARMUP: u64 = 200;
const TOTAL: u64 = WARMUP + RATE_PER_S * SECONDS;

fn main() {
    let redis = support::Redis::start();
    println!("end-to-end latency, source → PUBLISH received; machine: {}", support::machine());
    let from_queue_log = measure(redis.port, "", |queue_log, sent| {
        let path = queue_log.to_owned();
        std::thread::spawn(move || append_lines(&path, &sent))
    });
    report("queue_log append", from_queue_log);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake AMI");
    let ami_port = listener.local_addr().expect("AMI addr").port();
    let ami =
        format!("[ami]\nhost = \"127.0.0.1\"\nport = {ami_port}\nusername = \"bench\"\nsecret = \"bench\"\n");
    let from_ami = measure(redis.port, &ami, move |_, sent| {
        std::thread::spawn(move || fake_asterisk::serve(listener, TOTAL, RATE_PER_S, sent))
    });
    report("AMI event", from_ami);
    // `exit` skips destructors: stop our redis-server first, or the orphaned server keeps a caller's pipe
    // (`cargo bench … | tail`) open forever.
    drop(redis);
    std::process::exit(0);
}

/// Latencies after the warm-up, and how many sent updates found no message of their own.
struct Run {
    latencies: Vec<Duration>,
    coalesced: usize,
}

/// Runs the daemon (config `extra` added to a queue_log + Redis one) until `TOTAL` `call_update`s are
/// matched or a minute passes; `source` starts feeding it once the start-up `resync` is out.
fn measure(
    redis_port: u16,
    extra: &str,
    source: impl FnOnce(&Path, Sent) -> std::thread::JoinHandle<()>,
) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue_log = dir.path().join("queue_log");
    std::fs::write(&queue_log, "").expect("create queue_log");
    let config_path = dir.path().join("queuecast.toml");
    let toml = format!(
        "[queue_log]\npath = \"{}\"\n[redis]\nurl = \"redis://127.0.0.1:{redis_port}\"\npbx_id = \"bench\"\n[engine]\nqueues_conf = \"/nonexistent\"\ntimezone = \"UTC\"\n[log]\nlevel = \"warn\"\nformat = \"text\"\n{extra}",
        queue_log.display()
    );
    std::fs::write(&config_path, &toml).expect("write config");
    let config = Config::from_toml(&toml, &config_path).expect("config");
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let sent = Sent::default();
    let latencies = runtime.block_on(async {
        let client = redis::Client::open(format!("redis://127.0.0.1:{redis_port}")).expect("client");
        let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
        pubsub.subscribe("queuecast:{bench}:events").await.expect("subscribe");
        let mut messages = pubsub.into_on_message();
        let daemon = tokio::spawn(async move { queuecast::daemon::run(&config_path, config, None).await });
        // The daemon publishes `resync` once its start-up state is written: from then on every input is a delta.
        while let Some(msg) = messages.next().await {
            if msg.get_payload::<String>().is_ok_and(|p| p.contains("\"type\":\"resync\"")) {
                break;
            }
        }
        let feeder = source(&queue_log, std::sync::Arc::clone(&sent));
        let mut latencies = Vec::with_capacity((RATE_PER_S * SECONDS) as usize);
        let mut seen = 0u64;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(SECONDS + 60);
        while seen < TOTAL {
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
            if seen > WARMUP {
                latencies.push(received - at);
            }
        }
        feeder.join().expect("feeder");
        daemon.abort();
        latencies
    });
    // A caller that joins and hangs up within one read of the source yields one `call_update` (abandoned):
    // updates of one entity are coalesced by design, so its `waiting` sample has nothing to match.
    let coalesced = sent.lock().expect("sent").len();
    Run { latencies, coalesced }
}

fn report(source: &str, run: Run) {
    let mut sorted = run.latencies;
    sorted.sort();
    println!(
        "{source} -> PUBLISH received ({} samples at {RATE_PER_S}/s; {} updates coalesced with the next one)",
        sorted.len(),
        run.coalesced
    );
    println!(
        "  p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        support::percentile(&sorted, 0.50),
        support::percentile(&sorted, 0.90),
        support::percentile(&sorted, 0.99),
        sorted.last().copied().unwrap_or_default()
    );
}

/// Appends lines at `RATE_PER_S`, each written on its own like Asterisk's `fprintf` + `fflush`: callers
/// join and, on the next line, hang up, so the queue stays realistic (no ever-growing waiting list). Each
/// line changes its call, so each yields one `call_update` (`waiting`, then `abandoned`).
fn append_lines(path: &Path, sent: &Sent) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).expect("open queue_log");
    fake_asterisk::paced_callers(TOTAL, RATE_PER_S, sent, |caller| {
        let Caller { n, epoch, uniqueid, joins } = caller;
        let line = if joins {
            format!("{epoch}|{uniqueid}|support|NONE|ENTERQUEUE||555{n:07}|1\n")
        } else {
            format!("{epoch}|{uniqueid}|support|NONE|ABANDON|1|1|0\n")
        };
        file.write_all(line.as_bytes()).expect("append");
    });
}
