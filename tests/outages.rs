//! Outages as an operator sees them, on the daemon process (`queuecast run`) with its log captured: a real
//! redis-server killed and restarted empty, the fake AMI replaying real Asterisk 22 bytes and dropping the
//! connection mid-message, a queue_log file with bad lines appended. Each outage is said once at WARN and
//! once at INFO when it ends; bad input is logged 10 times per kind, escaped; `/metrics` (scraped with
//! HTTP requests while the daemon runs) shows the counters moving; `/healthz` follows Redis.

mod common;

use common::fake_ami::{Capture, FakeAmi, Faults, SECRET, USERNAME};
use common::redis::{RedisServer, eventually, free_port};
use queuecast::sink::Keys;
use redis::AsyncCommands;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Generous: CI has two loaded cores.
const WAIT: Duration = Duration::from_secs(60);
const BIN: &str = env!("CARGO_BIN_EXE_queuecast");
/// Bad lines appended: more than the 10 a minute the log shows.
const BAD_LINES: usize = 30;

fn fixture(scenario: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asterisk-22").join(scenario)
}

fn append(path: &Path, text: &[u8]) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open queue_log");
    f.write_all(text).expect("append");
    f.sync_all().expect("fsync");
}

/// The daemon with its stderr (text log) in a file; killed if the test fails first.
struct Daemon {
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    fn start(dir: &Path, config: &str) -> Self {
        let path = dir.join("queuecast.toml");
        std::fs::write(&path, config).expect("write config");
        let log = dir.join("daemon.log");
        let child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(&path)
            .env_remove("RUST_LOG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("INVOCATION_ID")
            .env_remove("JOURNAL_STREAM")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start queuecast run");
        Self { child: Some(child), log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Log lines at `level` containing `text`.
    fn count(&self, level: &str, text: &str) -> usize {
        self.log().lines().filter(|l| l.contains(level) && l.contains(text)).count()
    }

    fn stop(mut self) -> Option<i32> {
        let child = self.child.as_mut().expect("running");
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        child.wait().expect("wait").code()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn config(queue_log: &Path, redis_url: &str, metrics_port: u16, ami: &str) -> String {
    format!(
        "[queue_log]\npath = \"{ql}\"\n\n{ami}\n[redis]\nurl = \"{redis_url}\"\npbx_id = \"pbx1\"\n\
         queue_update_interval_ms = 20\n\n[log]\nlevel = \"info\"\nformat = \"text\"\n\n\
         [engine]\nqueues_conf = \"{qc}\"\ntimezone = \"UTC\"\n\n[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n",
        ql = queue_log.display(),
        qc = fixture("asterisk-conf").join("queues.conf").display(),
    )
}

/// `GET path` over HTTP/1.1 (status code, body), or None while nothing listens.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    s.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// The value of the sample `name` (with its labels, e.g. `x_total{kind="a"}`) in Prometheus text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn scrape(port: u16) -> String {
    let mut body = None;
    eventually(WAIT, "/metrics answers", || {
        body = http_get(port, "/metrics").filter(|(status, _)| *status == 200).map(|(_, b)| b);
        std::future::ready(body.is_some())
    })
    .await;
    body.unwrap_or_default()
}

async fn meta(redis: &RedisServer, field: &str) -> Option<String> {
    let mut conn = redis.conn().await;
    conn.hget(Keys::new("queuecast", "pbx1").meta(), field).await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_and_bad_lines_are_said_once_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut redis = RedisServer::start();
    let queue_log = dir.path().join("queue_log");
    let lines = std::fs::read(fixture("calls-answered").join("queue_log")).expect("fixture");
    append(&queue_log, &lines);
    let port = free_port();
    let daemon =
        Daemon::start(dir.path(), &config(&queue_log, &redis.url(), port, "[ami]\nenabled = false\n"));
    eventually(WAIT, "daemon follows queue_log", || async {
        meta(&redis, "queue_log").await.as_deref() == Some("following")
    })
    .await;
    let before = scrape(port).await;
    let read_before = sample(&before, "queuecast_queue_log_lines_read_total").expect("lines counter");
    assert!(read_before >= lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count() as f64);
    assert!(sample(&before, "queuecast_redis_batches_total").is_some_and(|n| n >= 1.0), "{before}");
    assert_eq!(sample(&before, "queuecast_startup_replay_lines"), Some(read_before), "{before}");
    assert!(sample(&before, "queuecast_startup_replay_seconds").is_some_and(|s| s > 0.0), "{before}");
    assert_eq!(http_get(port, "/healthz").map(|r| r.0), Some(200));

    // Bad lines, each with control bytes that must not reach the log raw.
    let mut bad = Vec::new();
    for i in 0..BAD_LINES {
        bad.extend_from_slice(format!("bad\0\x07\x1b[2J{i}|x|q|a|ENTERQUEUE||5551234|1\n").as_bytes());
    }
    append(&queue_log, &bad);
    eventually(WAIT, "bad lines counted", || async {
        let text = scrape(port).await;
        sample(&text, "queuecast_bad_input_total{kind=\"queue_log_line\"}") == Some(BAD_LINES as f64)
    })
    .await;

    redis.stop();
    eventually(WAIT, "/healthz says Redis is down", || {
        std::future::ready(http_get(port, "/healthz").map(|r| r.0) == Some(503))
    })
    .await;
    // Several reconnect attempts fail during the outage; the log says it once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    redis.restart();
    eventually(WAIT, "the state is rewritten into the empty Redis", || async {
        meta(&redis, "queue_log").await.as_deref() == Some("following")
    })
    .await;
    let after = scrape(port).await;
    assert_eq!(sample(&after, "queuecast_redis_reconnects_total"), Some(1.0), "{after}");
    assert!(sample(&after, "queuecast_redis_errors_total").is_some_and(|n| n >= 2.0), "{after}");
    assert_eq!(sample(&after, "queuecast_redis_up"), Some(1.0));
    assert!(sample(&after, "queuecast_seq") > sample(&before, "queuecast_seq"), "{after}");
    assert!(after.contains("queuecast_publish_latency_seconds_bucket"), "{after}");
    assert_eq!(stop_ok(daemon), "");
}

/// SIGTERM ends the daemon with 0; returns the problems found in its log, empty when all is as promised.
fn stop_ok(daemon: Daemon) -> String {
    let log_path = daemon.log.clone();
    let counts = [
        (
            "WARN Redis down",
            daemon.count("WARN", "Redis write failed") + daemon.count("WARN", "Redis is unreachable"),
            1,
        ),
        ("INFO Redis back", daemon.count("INFO", "Redis is reachable again"), 1),
        ("WARN bad queue_log line", daemon.count("WARN", "skipping a bad queue_log line"), 10),
    ];
    let mut problems: Vec<String> = counts
        .iter()
        .filter(|(_, n, want)| n != want)
        .map(|(what, n, want)| format!("{what}: {n} lines, expected {want}"))
        .collect();
    let log = daemon.log();
    if log.contains(['\0', '\x07', '\x1b']) {
        problems.push("raw control bytes in the log".to_owned());
    }
    if !log.contains("bad\\0\\u{7}\\u{1b}[2J") {
        problems.push("the bad line is not shown escaped".to_owned());
    }
    for line in log.lines() {
        if line.matches("os error").count() > 1 {
            problems.push(format!("a cause repeated: {line}"));
        }
    }
    let code = daemon.stop();
    if code != Some(0) {
        problems.push(format!("exit {code:?}"));
    }
    if !problems.is_empty() {
        eprintln!("{}", std::fs::read_to_string(log_path).unwrap_or_default());
    }
    problems.join("; ")
}

/// The AMI connection dropped in the middle of a message: one WARN, one INFO when it is back (the first
/// connection's INFO aside), and the connect/disconnect counters say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ami_dropped_mid_message_is_said_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let redis = RedisServer::start();
    let capture = Capture::load(&fixture("calls-answered"));
    let faults = Faults { drop_in_event: Some((3, 10)), ..Faults::default() };
    let ami = FakeAmi::start(capture, faults).await;
    let ami_section = format!(
        "[ami]\nhost = \"127.0.0.1\"\nport = {}\nusername = \"{USERNAME}\"\nsecret = \"{SECRET}\"\n\
         backoff_min_ms = 50\nbackoff_max_ms = 500\n",
        ami.addr.port()
    );
    let queue_log = dir.path().join("queue_log");
    append(&queue_log, b"");
    let port = free_port();
    let daemon = Daemon::start(dir.path(), &config(&queue_log, &redis.url(), port, &ami_section));
    eventually(WAIT, "AMI reconnected after the drop", || {
        std::future::ready(ami.seen().dropped && ami.seen().logins_ok >= 2)
    })
    .await;
    eventually(WAIT, "meta says AMI is connected", || async {
        meta(&redis, "ami").await.as_deref() == Some("connected")
    })
    .await;
    let text = scrape(port).await;
    assert_eq!(sample(&text, "queuecast_ami_connects_total"), Some(2.0), "{text}");
    assert_eq!(sample(&text, "queuecast_ami_disconnects_total"), Some(1.0), "{text}");
    assert!(sample(&text, "queuecast_ami_messages_read_total").is_some_and(|n| n > 10.0), "{text}");
    let log = daemon.log();
    assert_eq!(daemon.count("WARN", "AMI disconnected"), 1, "{log}");
    assert_eq!(daemon.count("INFO", "AMI connected"), 2, "{log}");
    assert_eq!(daemon.stop(), Some(0));
}

/// Redis unreachable from the start (nothing listens on its port): said at WARN at once, with the cause
/// once and without the password, and only once however many attempts fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_redis_at_start_is_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue_log = dir.path().join("queue_log");
    append(&queue_log, b"");
    let url = format!("redis://qc:pw-31f9@127.0.0.1:{}/0", free_port());
    let daemon =
        Daemon::start(dir.path(), &config(&queue_log, &url, free_port(), "[ami]\nenabled = false\n"));
    let mut log = String::new();
    eventually(WAIT, "the WARN", || {
        log = daemon.log();
        std::future::ready(log.contains("Redis is unreachable"))
    })
    .await;
    // Attempts at 100, 200, 400 … ms: several fail in the next seconds, none adds a line.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log = daemon.log();
    assert_eq!(daemon.count("WARN", "Redis is unreachable"), 1, "{log}");
    assert!(!log.contains("pw-31f9"), "{log}");
    let line = log.lines().find(|l| l.contains("Redis is unreachable")).unwrap_or_default();
    assert!(line.contains("refused"), "the cause is given: {line}");
    assert!(line.matches("refused").count() == 1, "the cause once: {line}");
    assert_eq!(daemon.stop(), Some(0));
}

fn status(redis: &RedisServer, pbx: Option<&str>) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["status", "--redis", &redis.url()]);
    if let Some(pbx) = pbx {
        cmd.args(["--pbx", pbx]);
    }
    let out = cmd.env_remove("QUEUECAST_REDIS").output().expect("run status");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// `status` says why it has nothing (current) to show, with a non-zero exit: nothing in Redis at all; no
/// state for the PBX asked for (and which ones exist); a heartbeat too old to be a running daemon's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_says_why_it_has_nothing_to_show() {
    let redis = RedisServer::start();
    let (code, _, stderr) = status(&redis, None);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("no PBX at all") && stderr.contains("is queuecast running"), "{stderr}");

    let state = [common::updates::agent("PJSIP/1", "available", 0)];
    for pbx in ["pbx-a", "pbx-b"] {
        queuecast::sink::write_snapshot(&redis.settings(pbx), &state, Default::default())
            .await
            .expect("write");
    }
    let (code, _, stderr) = status(&redis, Some("pbx-c"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("no state for PBX \"pbx-c\"") && stderr.contains("pbx-a, pbx-b"), "{stderr}");

    let (code, stdout, stderr) = status(&redis, Some("pbx-a"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("PJSIP/1") && stderr.is_empty(), "{stdout}{stderr}");

    let mut conn = redis.conn().await;
    let old = queuecast::sink::now_ms() - 120_000;
    let () = conn.hset(Keys::new("queuecast", "pbx-a").meta(), "heartbeat_at", old).await.expect("HSET");
    let (code, stdout, stderr) = status(&redis, Some("pbx-a"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stdout.contains("PJSIP/1"), "the last state is still shown: {stdout}");
    assert!(stderr.contains("heartbeat is 2m00s old"), "{stderr}");
}
