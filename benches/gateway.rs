//! Gateway fan-out figures: N WebSocket clients on loopback following one PBX while the sink publishes a
//! steady rate of agent updates, side by side in the same run with the relay a user would write instead
//! (Node `ws` + `ioredis` forwarding pub/sub to every socket, installed with npm into `target/bench-node`).
//!
//! Per relay: p50/p99/max latency from the sink taking the change (just before its MULTI with the `XADD`; the
//! update carries that instant in µs) to a client receiving the frame, frames delivered, relay CPU per
//! message (user + sys of its process / messages published) and RSS per client (RSS with the clients
//! connected minus RSS before, / N). Latency is read by a sample of the clients (parsing every frame in all
//! of them would make the bench the bottleneck); every client counts its frames.
//!
//! Run: `cargo bench --bench gateway` (needs redis-server, node and npm). Knobs: `CLIENTS` (default 1000),
//! `RATE` messages/s (1000), `SECONDS` (10). 10 000 clients need `ulimit -n` above 2 × CLIENTS + 100.

#[path = "support/mod.rs"]
mod support;

use futures::StreamExt;
use queuecast::config::RedisConfig;
use queuecast::sink::{self, SinkMsg, Update};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const PBX: &str = "bench";
const SECRET: &str = "bench-secret-0123456789abcdef";
/// Clients that parse every frame for its latency.
const LATENCY_SAMPLERS: usize = 20;
/// Distinct agents the updates cycle through, so the sink never collapses two into one message.
const AGENTS: u64 = 1_000;
/// Connections opened at once while setting up.
const CONNECT_PARALLEL: usize = 50;
const MARKER: &str = "\"bench_sent_us\":";

const RELAY_JS: &str = r#"
const { WebSocketServer } = require("ws");
const Redis = require("ioredis");
const [port, url, channel] = process.argv.slice(2);
const wss = new WebSocketServer({ host: "127.0.0.1", port: Number(port) });
const sub = new Redis(url);
sub.subscribe(channel).then(() => console.log("ready"));
sub.on("message", (_c, msg) => { for (const ws of wss.clients) { if (ws.readyState === 1) ws.send(msg); } });
"#;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn now_us() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

/// user + sys seconds and RSS (KiB) of a process.
fn cpu_rss(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    (cpu, rss)
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "port {port} never opened");
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_gateway(redis: &support::Redis, dir: &std::path::Path, port: u16) -> Proc {
    let config = dir.join("gateway.toml");
    let toml = format!(
        "[redis]\nurl = \"{}\"\npbx_id = \"{PBX}\"\n[log]\nformat = \"text\"\nlevel = \"warn\"\n\
         [gateway]\nlisten = \"127.0.0.1:{port}\"\ntoken_secret = \"{SECRET}\"\nmax_streams = 100000\n",
        redis.url()
    );
    std::fs::write(&config, toml).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_queuecast"))
        .args(["gateway", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .spawn()
        .expect("queuecast gateway");
    wait_port(port);
    Proc(child)
}

fn start_node_relay(redis: &support::Redis, port: u16) -> Option<Proc> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-node");
    std::fs::create_dir_all(&dir).ok()?;
    if !dir.join("node_modules/ws").exists() || !dir.join("node_modules/ioredis").exists() {
        let ok = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&dir)
            .args(["ws@8", "ioredis@5"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("npm install ws ioredis failed: no Node relay figures");
            return None;
        }
    }
    std::fs::write(dir.join("relay.js"), RELAY_JS).ok()?;
    let channel = format!("{}:{{{PBX}}}:events", queuecast::config::DEFAULT_PREFIX);
    let child = Command::new("node")
        .arg(dir.join("relay.js"))
        .args([port.to_string(), redis.url(), channel])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .spawn()
        .ok()?;
    wait_port(port);
    Some(Proc(child))
}

/// The relay's figures for one phase.
struct Figures {
    latencies_us: Vec<i64>,
    frames: u64,
    cpu_s: f64,
    rss_per_client_kib: f64,
}

async fn connect_all(
    url: &str,
    n: usize,
) -> Vec<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>> {
    let urls = vec![url.to_owned(); n];
    futures::stream::iter(urls)
        .map(|u| async move { tokio_tungstenite::connect_async(u).await.expect("connect").0 })
        .buffered(CONNECT_PARALLEL)
        .collect()
        .await
}

async fn phase(
    name: &str,
    url: &str,
    pid: u32,
    sink: &sink::SinkHandle,
    clients: usize,
    rate: u64,
    seconds: u64,
) -> Figures {
    let (_, rss_before) = cpu_rss(pid);
    let sockets = connect_all(url, clients).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, rss_connected) = cpu_rss(pid);
    let frames = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    for (i, socket) in sockets.into_iter().enumerate() {
        let (frames, latencies, stop) = (frames.clone(), latencies.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let (_tx, mut rx) = socket.split();
            let mut mine = Vec::new();
            loop {
                let msg = tokio::select! {
                    _ = stop.cancelled() => break,
                    msg = rx.next() => msg,
                };
                let Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) = msg else { continue };
                frames.fetch_add(1, Ordering::Relaxed);
                if i < LATENCY_SAMPLERS {
                    if let Some(at) = text.as_str().find(MARKER) {
                        let digits: String = text.as_str()[at + MARKER.len()..]
                            .chars()
                            .take_while(char::is_ascii_digit)
                            .collect();
                        if let Ok(sent) = digits.parse::<i64>() {
                            mine.push(now_us() - sent);
                        }
                    }
                }
            }
            latencies.lock().unwrap().extend(mine);
        }));
    }
    let (cpu_before, _) = cpu_rss(pid);
    let total = rate * seconds;
    let start = Instant::now();
    for i in 0..total {
        let due = start + Duration::from_micros(i * 1_000_000 / rate);
        tokio::time::sleep_until(due.into()).await;
        sink.send(SinkMsg::Updates(vec![update(i)]));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (cpu_after, _) = cpu_rss(pid);
    stop.cancel();
    for t in tasks {
        let _ = t.await;
    }
    let mut latencies_us = std::mem::take(&mut *latencies.lock().unwrap());
    latencies_us.sort_unstable();
    let _ = name;
    Figures {
        latencies_us,
        frames: frames.load(Ordering::Relaxed),
        cpu_s: cpu_after - cpu_before,
        rss_per_client_kib: rss_connected.saturating_sub(rss_before) as f64 / clients as f64,
    }
}

fn update(i: u64) -> Update {
    let id = format!("PJSIP/{}", 1000 + i % AGENTS);
    let fields = serde_json::json!({"id": id, "name": format!("Agent {i}"), "interface": id, "status": "talking",
        "status_since": 1_732_300_000_000_i64, "paused": false, "pause_reason": null,
        "queues": {"sales": {"paused": false, "pause_reason": null, "penalty": 0}},
        "calls_answered": i, "calls_missed": 0, "talk_seconds": 0, "call": null, "bench_sent_us": now_us()});
    Update::Agent { id, fields: fields.as_object().cloned().unwrap().into() }
}

fn report(name: &str, f: &Figures, clients: usize, messages: u64) {
    let pct = |p: f64| support::percentile(&f.latencies_us, p) as f64 / 1000.0;
    println!(
        "{name:<22} latency p50 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms (n={})  delivered {:>5.1}% of {} frames  \
         CPU {:>6.1} µs/message ({:.2} s)  RSS {:>5.1} KiB/client",
        pct(0.5),
        pct(0.99),
        pct(1.0),
        f.latencies_us.len(),
        100.0 * f.frames as f64 / (messages * clients as u64) as f64,
        messages * clients as u64,
        f.cpu_s * 1e6 / messages as f64,
        f.cpu_s,
        f.rss_per_client_kib,
    );
}

fn main() {
    let clients = env_or("CLIENTS", 1_000) as usize;
    let rate = env_or("RATE", 1_000);
    let seconds = env_or("SECONDS", 10);
    println!("gateway bench on {}, redis-server {}", support::machine(), support::Redis::version());
    println!("{clients} WebSocket clients, {rate} messages/s for {seconds} s, loopback");
    let redis = support::Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let mut settings = RedisConfig::new(redis.url());
        settings.pbx_id = PBX.into();
        let cancel = CancellationToken::new();
        let tracker = tokio_util::task::TaskTracker::new();
        let handle = sink::spawn(settings, cancel.clone(), &tracker);
        handle.send(SinkMsg::Resync(vec![]));
        assert!(handle.flushed(Duration::from_secs(10)).await);

        let port = support_port();
        let gateway = start_gateway(&redis, dir.path(), port);
        let claims = queuecast::gateway::token::Claims {
            sub: "bench".into(),
            exp: (now_us() / 1_000_000) as u64 + 3600,
            pbx: queuecast::gateway::token::PbxClaim::One(PBX.into()),
            agent: None,
            queues: None,
            actions: false,
        };
        let token = queuecast::gateway::token::issue(SECRET.as_bytes(), &claims).unwrap();
        let url = format!("ws://127.0.0.1:{port}/v1/{PBX}/ws?token={token}");
        let g = phase("gateway", &url, gateway.0.id(), &handle, clients, rate, seconds).await;
        drop(gateway);
        report("queuecast gateway", &g, clients, rate * seconds);

        let port = support_port();
        match start_node_relay(&redis, port) {
            Some(relay) => {
                let node = Command::new("node")
                    .arg("--version")
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                    .unwrap_or_default();
                let url = format!("ws://127.0.0.1:{port}/");
                let n = phase("node", &url, relay.0.id(), &handle, clients, rate, seconds).await;
                report(&format!("node {node} ws+ioredis"), &n, clients, rate * seconds);
            }
            None => println!("node relay: not run"),
        }
        cancel.cancel();
        tracker.close();
        tracker.wait().await;
    });
}

fn support_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
