//! Redis sink figures against a private `redis-server` this bench starts (TCP loopback, no persistence):
//! 1. changes/s written (each change = hash rewrite + XADD + PUBLISH inside MULTI/EXEC batches);
//! 2. latency from `SinkHandle::send` to a pub/sub subscriber receiving the message, at 1k updates/s;
//! 3. the ceiling of Redis alone: the same batches, packed before the clock starts and written on a raw
//!    socket as fast as Redis takes them (no client work, no round trips in the figure).
//!
//! Run: `cargo bench --bench redis_sink`. Needs `redis-server` on PATH.

use queuecast::config::RedisConfig;
use queuecast::sink::{self, SinkHandle, SinkMsg, Update};

#[path = "support/mod.rs"]
mod support;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Distinct entities so the inbox cannot coalesce them: every change is really written.
const THROUGHPUT_CHANGES: u64 = 200_000;
/// Changes per `send`, like one engine batch after a burst of events.
const THROUGHPUT_BATCH: u64 = 100;
const LATENCY_RATE_PER_S: u64 = 1_000;
const LATENCY_SECONDS: u64 = 10;
/// Changes for the Redis-only ceiling (packed up front: ~1.3 kB each in memory).
const CEILING_CHANGES: u64 = 100_000;
/// Changes per MULTI in the ceiling run, as the sink batches a backlog.
const CEILING_BATCH: u64 = 1_000;

fn call(i: u64, t_ns: u64) -> Update {
    let fields = json!({"queue": "sales", "caller_id": "5551234", "joined_at": 1_732_300_000_000_i64,
                        "agent": format!("PJSIP/{}", i % 500), "connected_at": 1_732_300_005_000_i64,
                        "ended_at": 1_732_300_065_000_i64, "hold_seconds": 5, "talk_seconds": 60,
                        "outcome": "answered", "t_ns": t_ns});
    Update::Call {
        uniqueid: format!("1732300000.{i}"),
        fields: fields.as_object().cloned().unwrap_or_default().into(),
    }
}

/// The sink task as the daemon runs it (own cancellation and tracker), its state resynced to empty and
/// flushed before any figure is taken.
struct RunningSink {
    handle: SinkHandle,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl RunningSink {
    /// The running sink and a client of the same Redis.
    async fn start(settings: &RedisConfig) -> (Self, redis::Client) {
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let handle = sink::spawn(settings.clone(), cancel.clone(), &tracker);
        handle.send(SinkMsg::Resync(Vec::new()));
        assert!(handle.flushed(Duration::from_secs(10)).await);
        let client = redis::Client::open(settings.url.expose()).expect("client");
        (Self { handle, cancel, tracker }, client)
    }

    async fn stop(self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

/// `subscribed`: a pub/sub client reads every message of the `events` channel meanwhile, as a wallboard
/// backend would; each `PUBLISH` then also costs Redis the write to that subscriber's socket.
async fn throughput(settings: RedisConfig, subscribed: bool) {
    let (running, client) = RunningSink::start(&settings).await;
    let handle = &running.handle;
    let subscriber = if subscribed { Some(subscriber(&client, &settings).await) } else { None };
    let mut conn = client.get_multiplexed_async_connection().await.expect("connect");
    let redis_cpu_before = redis_cpu_s(&mut conn).await;
    let stats_before = command_stats(&mut conn).await;
    let own_cpu_before = own_cpu_s();
    let start = Instant::now();
    for batch in 0..THROUGHPUT_CHANGES / THROUGHPUT_BATCH {
        let updates = (0..THROUGHPUT_BATCH).map(|j| call(batch * THROUGHPUT_BATCH + j, 0)).collect();
        handle.send(SinkMsg::Updates(updates));
        // Let the sink run between engine batches, as the engine task would.
        tokio::task::yield_now().await;
    }
    assert!(handle.flushed(Duration::from_secs(120)).await, "flush");
    let elapsed = start.elapsed();
    let redis_cpu = redis_cpu_s(&mut conn).await - redis_cpu_before;
    let stats = command_stats(&mut conn).await;
    let own_cpu = own_cpu_s() - own_cpu_before;
    let rate = THROUGHPUT_CHANGES as f64 / elapsed.as_secs_f64();
    let received = match subscriber {
        Some(task) => {
            let count = tokio::time::timeout(Duration::from_secs(30), task).await;
            format!(", subscriber received {}", count.ok().and_then(Result::ok).unwrap_or(0))
        }
        None => String::new(),
    };
    let label = if subscribed { "with a pub/sub subscriber" } else { "no subscriber" };
    println!(
        "throughput ({label}): {THROUGHPUT_CHANGES} changes (hash + XADD + PUBLISH each) in {:.2} s = {:.0} \
         changes/s (peak RSS {} MB){received}",
        elapsed.as_secs_f64(),
        rate,
        peak_rss_mb()
    );
    println!(
        "  redis-server CPU: {:.2} s = {:.1} µs per change (its ceiling here: {:.0} changes/s per core), busy {:.0}%",
        redis_cpu,
        redis_cpu * 1e6 / THROUGHPUT_CHANGES as f64,
        THROUGHPUT_CHANGES as f64 / redis_cpu,
        100.0 * redis_cpu / elapsed.as_secs_f64()
    );
    println!(
        "  bench process CPU (producer + sink + client): {:.2} s = {:.1} µs per change",
        own_cpu,
        own_cpu * 1e6 / THROUGHPUT_CHANGES as f64
    );
    print_command_stats(&stats_before, &stats);
    running.stop().await;
}

/// Subscribes to the `events` channel and counts messages until `THROUGHPUT_CHANGES` have arrived.
async fn subscriber(client: &redis::Client, settings: &RedisConfig) -> tokio::task::JoinHandle<u64> {
    let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
    pubsub.subscribe(settings.keys().events()).await.expect("subscribe");
    tokio::spawn(async move {
        let mut stream = pubsub.into_on_message();
        let mut count = 0;
        while count < THROUGHPUT_CHANGES && futures::StreamExt::next(&mut stream).await.is_some() {
            count += 1;
        }
        count
    })
}

async fn latency(settings: RedisConfig) {
    let (running, client) = RunningSink::start(&settings).await;
    let handle = &running.handle;
    let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
    pubsub.subscribe(settings.keys().events()).await.expect("subscribe");
    let origin = Instant::now();
    let total = LATENCY_RATE_PER_S * LATENCY_SECONDS;
    let receiver = tokio::spawn(async move {
        let mut samples = Vec::with_capacity(total as usize);
        let mut stream = pubsub.on_message();
        while (samples.len() as u64) < total {
            let Some(msg) = futures::StreamExt::next(&mut stream).await else { break };
            let now_ns = origin.elapsed().as_nanos() as u64;
            let payload: String = msg.get_payload().unwrap_or_default();
            let v: serde_json::Value = serde_json::from_str(&payload).unwrap_or_default();
            if let Some(t) = v["data"]["t_ns"].as_u64() {
                samples.push(now_ns.saturating_sub(t));
            }
        }
        samples
    });
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / LATENCY_RATE_PER_S));
    for i in 0..total {
        tick.tick().await;
        handle.send(SinkMsg::Updates(vec![call(i, origin.elapsed().as_nanos() as u64)]));
    }
    let mut samples =
        tokio::time::timeout(Duration::from_secs(30), receiver).await.expect("receive").expect("join");
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize] as f64 / 1e6;
    println!(
        "latency at {LATENCY_RATE_PER_S}/s send → subscriber: n={} p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        samples.len(),
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    running.stop().await;
}

/// CPU seconds (user + sys) redis-server has used so far.
async fn redis_cpu_s(conn: &mut redis::aio::MultiplexedConnection) -> f64 {
    let info: String = redis::cmd("INFO").arg("cpu").query_async(conn).await.expect("INFO cpu");
    info.lines()
        .filter(|l| l.starts_with("used_cpu_sys:") || l.starts_with("used_cpu_user:"))
        .filter_map(|l| l.split(':').nth(1)?.trim().parse::<f64>().ok())
        .sum()
}

/// `INFO commandstats` as command → (calls, µs inside the command).
async fn command_stats(conn: &mut redis::aio::MultiplexedConnection) -> BTreeMap<String, (u64, u64)> {
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(conn).await.expect("INFO");
    let mut stats = BTreeMap::new();
    for line in info.lines() {
        let Some((name, rest)) = line.strip_prefix("cmdstat_").and_then(|l| l.split_once(':')) else {
            continue;
        };
        let field = |key: &str| {
            rest.split(',').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse::<u64>().ok())
        };
        stats.insert(name.to_owned(), (field("calls").unwrap_or(0), field("usec").unwrap_or(0)));
    }
    stats
}

/// Commands per change and the time Redis spent inside each (the rest of its CPU is reading, parsing,
/// queueing into MULTI and freeing arguments: see the total µs per change above).
fn print_command_stats(before: &BTreeMap<String, (u64, u64)>, after: &BTreeMap<String, (u64, u64)>) {
    let changes = THROUGHPUT_CHANGES as f64;
    let (mut calls_total, mut usec_total) = (0, 0);
    let mut parts = Vec::new();
    for (name, &(calls, usec)) in after {
        let (calls0, usec0) = before.get(name).copied().unwrap_or_default();
        let (calls, usec) = (calls - calls0, usec - usec0);
        if calls == 0 || name == "info" {
            continue;
        }
        calls_total += calls;
        usec_total += usec;
        parts.push(format!("{name} {:.2}×{:.2} µs", calls as f64 / changes, usec as f64 / calls as f64));
    }
    println!(
        "  commands per change: {:.2} ({}), inside commands {:.1} µs per change",
        calls_total as f64 / changes,
        parts.join(", "),
        usec_total as f64 / changes
    );
}

/// CPU seconds (user + sys) of this process so far, from `/proc/self/stat` (clock ticks of 10 ms).
fn own_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th of those.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest.split_whitespace().skip(11).take(2).filter_map(|v| v.parse::<u64>().ok()).sum();
    ticks as f64 / 100.0
}

/// `VmHWM` of this process (bench + sink; redis-server is a separate process).
fn peak_rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
    kb.unwrap_or(0) / 1024
}

/// Redis alone on this machine with the sink's command mix: batches built by the sink's own builder (every
/// call new, as in the throughput run), packed before the clock starts, written on a plain socket while a
/// second thread drains the replies. Nothing of the client is in the figure, so it bounds what any client
/// could reach against this Redis here.
fn ceiling(port: u16) {
    use queuecast::sink::batch::{Builder, HashMode, Retention};
    use std::io::{Read, Write};
    let keys = queuecast::sink::Keys::new(queuecast::config::DEFAULT_PREFIX, "bench-ceiling");
    let retention = Retention {
        stream_maxlen: queuecast::config::DEFAULT_STREAM_MAXLEN,
        call_ttl_s: queuecast::config::DEFAULT_CALL_TTL_S,
    };
    let mut builder = Builder::new(keys, retention);
    let mut packed = Vec::new();
    let mut seq = 0;
    for batch in 0..CEILING_CHANGES / CEILING_BATCH {
        let updates: Vec<Update> = (0..CEILING_BATCH).map(|j| call(batch * CEILING_BATCH + j, 0)).collect();
        let writes: Vec<(&Update, HashMode)> = updates.iter().map(|u| (u, HashMode::Replace)).collect();
        let mut pipe = redis::pipe();
        pipe.atomic();
        seq = builder.delta(&mut pipe, "0123456789abcdef", 1_732_300_000_000, seq, &writes);
        packed.extend_from_slice(&pipe.get_packed_pipeline());
    }
    const DONE: &[u8] = b"queuecast-ceiling-done";
    packed.extend_from_slice(&redis::cmd("ECHO").arg(DONE).get_packed_command());
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("client");
    let mut info = client.get_connection().expect("connect");
    let cpu = |conn: &mut redis::Connection| {
        let text: String = redis::cmd("INFO").arg("cpu").query(conn).expect("INFO cpu");
        text.lines()
            .filter(|l| l.starts_with("used_cpu_sys:") || l.starts_with("used_cpu_user:"))
            .filter_map(|l| l.split(':').nth(1)?.trim().parse::<f64>().ok())
            .sum::<f64>()
    };
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut replies = socket.try_clone().expect("clone socket");
    let cpu_before = cpu(&mut info);
    let start = Instant::now();
    let drain = std::thread::spawn(move || {
        let (mut buf, mut tail) = (vec![0_u8; 1 << 16], Vec::new());
        loop {
            let n = replies.read(&mut buf).expect("read replies");
            assert!(n > 0, "redis closed the connection");
            tail.extend_from_slice(&buf[..n]);
            if tail.windows(DONE.len()).any(|w| w == DONE) {
                return;
            }
            tail.drain(..tail.len().saturating_sub(DONE.len()));
        }
    });
    socket.write_all(&packed).expect("write batches");
    drain.join().expect("drain");
    let elapsed = start.elapsed().as_secs_f64();
    let redis_cpu = cpu(&mut info) - cpu_before;
    println!(
        "redis-only ceiling (same batches pre-packed, {:.0} bytes per change): {:.0} changes/s, redis-server CPU \
         {:.1} µs per change ({:.0} changes/s per core), busy {:.0}%",
        packed.len() as f64 / CEILING_CHANGES as f64,
        CEILING_CHANGES as f64 / elapsed,
        redis_cpu * 1e6 / CEILING_CHANGES as f64,
        CEILING_CHANGES as f64 / redis_cpu,
        100.0 * redis_cpu / elapsed
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    println!("redis_sink bench on {}, redis-server {}", support::machine(), support::Redis::version());
    let server = support::Redis::start();
    let mut settings = RedisConfig::new(server.url());
    settings.pbx_id = "bench".into();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(throughput(settings.clone(), false));
    settings.pbx_id = "bench-subscribed".into();
    runtime.block_on(throughput(settings.clone(), true));
    settings.pbx_id = "bench-latency".into();
    runtime.block_on(latency(settings));
    ceiling(server.port);
    println!("load average after: {}", support::load());
}
