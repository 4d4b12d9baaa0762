//! What a Redis outage costs the daemon: CPU time of the `queuecast run` process (utime + stime from
//! /proc) while its redis-server is killed, and how often the sink's loop woke up meanwhile (from
//! `/metrics`). Waiting must cost nothing: the goal is under 0.2 s of CPU for a 90 s outage, and wake-ups at
//! the reconnect cadence (one per 2.5–5 s once the backoff is capped).
//!
//! The daemon follows a real Asterisk 22 queue_log (the calls-answered scenario) and has written its state
//! before Redis goes away; Redis comes back empty at the end and the state is rewritten.
//!
//! Run: `cargo bench --bench outage` (90 s); `QUEUECAST_OUTAGE_S=N` for another length. Needs redis-server.

#[path = "../tests/common/redis.rs"]
mod redis_harness;
#[path = "support/mod.rs"]
mod support;

use redis_harness::{RedisServer, free_port};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DEFAULT_OUTAGE_S: u64 = 90;
const BIN: &str = env!("CARGO_BIN_EXE_queuecast");

fn main() {
    let outage_s =
        std::env::var("QUEUECAST_OUTAGE_S").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_OUTAGE_S);
    println!("Redis outage of {outage_s} s, daemon CPU and sink wake-ups; machine: {}", support::machine());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut redis = RedisServer::start();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asterisk-22");
    let queue_log = dir.path().join("queue_log");
    std::fs::copy(fixture.join("calls-answered/queue_log"), &queue_log).expect("copy queue_log");
    let port = free_port();
    let config = dir.path().join("queuecast.toml");
    std::fs::write(
        &config,
        format!(
            "[queue_log]\npath = \"{}\"\n[ami]\nenabled = false\n[redis]\nurl = \"{}\"\npbx_id = \"bench\"\n\
             [log]\nlevel = \"warn\"\nformat = \"text\"\n[engine]\nqueues_conf = \"{}\"\n\
             [metrics]\nlisten = \"127.0.0.1:{port}\"\n",
            queue_log.display(),
            redis.url(),
            fixture.join("asterisk-conf/queues.conf").display()
        ),
    )
    .expect("write config");
    let mut daemon = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the daemon");
    let pid = daemon.id();
    wait_for(|| metric(port, "queuecast_seq").is_some_and(|s| s > 0.0), "the first state in Redis");
    // The start-up is over; what follows is the outage alone.
    std::thread::sleep(Duration::from_secs(2));

    redis.stop();
    let (cpu0, wake0, t0) = (cpu_seconds(pid), metric(port, "queuecast_sink_wakeups_total"), Instant::now());
    std::thread::sleep(Duration::from_secs(outage_s));
    let (cpu1, wake1, elapsed) =
        (cpu_seconds(pid), metric(port, "queuecast_sink_wakeups_total"), t0.elapsed());
    redis.restart();
    wait_for(
        || metric(port, "queuecast_redis_reconnects_total") == Some(1.0),
        "the rewrite after the outage",
    );

    let cpu = cpu1 - cpu0;
    let wakeups = wake1.unwrap_or(0.0) - wake0.unwrap_or(0.0);
    println!(
        "  outage {:.1} s: daemon CPU {cpu:.3} s (user + system; goal < 0.2 s) = {:.3} % of one core; \
         sink wake-ups {wakeups:.0} ({:.2} per s)",
        elapsed.as_secs_f64(),
        cpu / elapsed.as_secs_f64() * 100.0,
        wakeups / elapsed.as_secs_f64()
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
}

/// utime + stime of `pid` in seconds (/proc/PID/stat fields 14 and 15, in clock ticks of 1/100 s: Linux'
/// USER_HZ is 100 on every architecture queuecast ships for).
fn cpu_seconds(pid: u32) -> f64 {
    const TICKS_PER_S: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // Field 3 (state) is fields[0], so utime (14) is fields[11] and stime (15) fields[12].
    (ticks(11) + ticks(12)) / TICKS_PER_S
}

fn metric(port: u16, name: &str) -> Option<f64> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn wait_for(mut cond: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
