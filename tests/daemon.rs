//! The whole daemon as a process (`queuecast run`) against a real redis-server, real files and the fake AMI
//! server: it leaves the same Redis state as `replay --redis` over the same inputs, also across a kill -9 and
//! restart; SIGTERM stops it cleanly; with AMI it takes membership from QueueStatus; it speaks systemd's
//! notify protocol (READY, WATCHDOG, STATUS, RELOADING on SIGHUP, STOPPING) on a socket the test owns.

mod common;

use common::fake_ami::{Capture, FakeAmi, Faults, SECRET, USERNAME};
use common::redis::{Dumped, RedisServer, dump_pbx, eventually};
use queuecast::sink::Keys;
use redis::AsyncCommands;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Generous: CI has two loaded cores.
const WAIT: Duration = Duration::from_secs(60);
/// How long a notification may take (the watchdog pets every 200 ms, so a missing one fails fast).
const NOTIFY_WAIT: Duration = Duration::from_secs(10);
const BIN: &str = env!("CARGO_BIN_EXE_queuecast");

fn fixture(scenario: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asterisk-22").join(scenario)
}

fn queues_conf() -> PathBuf {
    fixture("asterisk-conf").join("queues.conf")
}

fn now_s() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// The scenario's queue_log lines moved to "a few minutes ago, today (UTC)", so the daemon, which counts
/// today's calls by the wall clock, and `replay` see the same day.
fn shifted_lines(scenario: &str) -> Vec<String> {
    shifted(&fixture(scenario)).0
}

/// The queue_log lines of the scenario in `dir`, moved as [`shifted_lines`] says, and the shift in seconds.
fn shifted(dir: &Path) -> (Vec<String>, i64) {
    let text = std::fs::read_to_string(dir.join("queue_log")).expect("fixture queue_log");
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let epoch = |l: &str| l.split('|').next().and_then(|e| e.parse::<i64>().ok()).expect("epoch");
    let first = epoch(lines[0]);
    let now = now_s();
    let midnight = now - now.rem_euclid(86_400);
    let base = (now - 600).max(midnight + 1);
    let lines = lines
        .iter()
        .map(|l| {
            let (e, rest) = l.split_once('|').expect("line");
            format!("{}|{rest}", e.parse::<i64>().expect("epoch") - first + base)
        })
        .collect();
    (lines, base - first)
}

fn append(path: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open queue_log");
    for line in lines {
        writeln!(f, "{line}").expect("append");
    }
    f.sync_all().expect("fsync");
}

struct Setup {
    dir: tempfile::TempDir,
    redis: RedisServer,
}

impl Setup {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("tempdir"), redis: RedisServer::start() }
    }

    fn queue_log(&self) -> PathBuf {
        self.dir.path().join("queue_log")
    }

    fn write_config(&self, pbx: &str, ami: Option<&FakeAmi>) -> PathBuf {
        let ami_section = match ami {
            Some(ami) => format!(
                "[ami]\nhost = \"127.0.0.1\"\nport = {}\nusername = \"{USERNAME}\"\nsecret = \"{SECRET}\"\nbackoff_min_ms = 50\nbackoff_max_ms = 500\n",
                ami.addr.port()
            ),
            None => "[ami]\nenabled = false\n".to_owned(),
        };
        let text = format!(
            "[queue_log]\npath = \"{ql}\"\n\n{ami_section}\n[redis]\nurl = \"{url}\"\npbx_id = \"{pbx}\"\nqueue_update_interval_ms = 20\n\n[log]\nlevel = \"info\"\nformat = \"text\"\n\n[engine]\nqueues_conf = \"{qc}\"\ntimezone = \"UTC\"\n",
            ql = self.queue_log().display(),
            url = self.redis.url(),
            qc = queues_conf().display(),
        );
        let path = self.dir.path().join(format!("{pbx}.toml"));
        std::fs::write(&path, text).expect("write config");
        path
    }

    fn start_daemon(&self, config: &Path) -> Daemon {
        self.start_daemon_with(config, &[])
    }

    /// With extra environment, e.g. what systemd passes (`NOTIFY_SOCKET`, `WATCHDOG_USEC`).
    fn start_daemon_with(&self, config: &Path, env: &[(&str, &str)]) -> Daemon {
        let child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(config)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start queuecast run");
        Daemon(Some(child))
    }

    /// `replay --redis` of the current queue_log under PBX id `pbx`, final tick at `until`, with an AMI
    /// capture when given (`ami.raw`, with `ami.sent` beside it).
    fn replay_with_ami(&self, pbx: &str, until: i64, ami_capture: Option<&Path>) {
        let mut replay = Command::new(BIN);
        replay.args(["replay", "--queue-log"]).arg(self.queue_log()).arg("--queues-conf").arg(queues_conf());
        if let Some(capture) = ami_capture {
            replay.arg("--ami-capture").arg(capture);
        }
        let status = replay
            .args(["--redis", &self.redis.url(), "--pbx", pbx, "--until", &until.to_string()])
            .status()
            .expect("run replay");
        assert!(status.success(), "replay --redis failed");
    }

    async fn dump(&self, pbx: &str) -> BTreeMap<String, Dumped> {
        let mut conn = self.redis.conn().await;
        let mut dump = dump_pbx(&mut conn, &Keys::new("queuecast", pbx), false).await;
        // Call hashes: the replay writes the calls it still remembers, the daemon every call it saw; both
        // are kept in Redis only for call_ttl. Compare agents, queues, waiting lists, sets and meta.
        dump.retain(|key, _| !key.starts_with(":call:"));
        dump
    }

    async fn hash(&self, key: &str) -> BTreeMap<String, String> {
        let mut conn = self.redis.conn().await;
        let queuecast::sink::RedisConn::Single(c) = &mut conn else { panic!("single node") };
        c.hgetall(key).await.expect("HGETALL")
    }

    async fn meta(&self, pbx: &str, field: &str) -> Option<String> {
        let mut conn = self.redis.conn().await;
        let queuecast::sink::RedisConn::Single(c) = &mut conn else { return None };
        c.hget(Keys::new("queuecast", pbx).meta(), field).await.ok()
    }
}

/// Waits until the daemon's state equals the replay's (the daemon may still be catching up).
async fn assert_converges(setup: &Setup, daemon_pbx: &str, replay_pbx: &str) {
    assert_converges_with(setup, daemon_pbx, replay_pbx, None).await;
}

/// With an AMI capture for the replay. Then agents' `status_since` is left out: it is the time of the
/// first report of a status change, and which feed reports it first (queue_log in whole seconds, AMI in
/// ms) depends on how the live feeds interleave (as in engine_scenarios' interleaving property).
async fn assert_converges_with(setup: &Setup, daemon_pbx: &str, replay_pbx: &str, ami: Option<&Path>) {
    let strip = |mut dump: BTreeMap<String, Dumped>| {
        if ami.is_some() {
            for (key, value) in &mut dump {
                if let (true, Dumped::Hash(h)) = (key.starts_with(":agent:"), value) {
                    h.remove("status_since");
                }
            }
        }
        dump
    };
    let mut last = (BTreeMap::new(), BTreeMap::new());
    let converged = tokio::time::timeout(WAIT, async {
        loop {
            setup.replay_with_ami(replay_pbx, now_s(), ami);
            let (daemon, replay) = (strip(setup.dump(daemon_pbx).await), strip(setup.dump(replay_pbx).await));
            if !daemon.is_empty() && daemon == replay {
                return;
            }
            last = (daemon, replay);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await;
    if converged.is_err() {
        let (daemon, replay) = last;
        for key in daemon.keys().chain(replay.keys()) {
            if daemon.get(key) != replay.get(key) {
                eprintln!("{key}:\n  daemon {:?}\n  replay {:?}", daemon.get(key), replay.get(key));
            }
        }
        panic!("daemon state did not converge to the replay state");
    }
}

/// The daemon process; killed if a test fails before stopping it, so no daemon outlives its test.
struct Daemon(Option<Child>);

impl Daemon {
    fn kill_9(&mut self) {
        if let Some(mut child) = self.0.take() {
            child.kill().expect("kill -9");
            child.wait().expect("reap");
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill_9();
    }
}

impl Daemon {
    fn signal(&self, name: &str) {
        let child = self.0.as_ref().expect("running daemon");
        let _ = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status();
    }
}

/// SIGTERM, then the exit status.
fn stop(mut daemon: Daemon) -> std::process::ExitStatus {
    daemon.signal("TERM");
    let mut child = daemon.0.take().expect("running daemon");
    child.wait().expect("wait for daemon")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_daemon_leaves_the_same_state_as_replay() {
    let setup = Setup::new();
    let lines = shifted_lines("calls-answered");
    let (before, after) = lines.split_at(lines.len() / 2);
    append(&setup.queue_log(), before);
    let daemon = setup.start_daemon(&setup.write_config("daemon", None));
    eventually(WAIT, "daemon follows queue_log", || async {
        setup.meta("daemon", "queue_log").await.as_deref() == Some("following")
    })
    .await;
    // Let the daemon's per-second ticks run ahead of the (older) lines appended next: their status changes
    // must still be stamped with the lines' own times, as `replay` stamps them.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    append(&setup.queue_log(), after);
    assert_converges(&setup, "daemon", "replay").await;
    let status = stop(daemon);
    assert_eq!(status.code(), Some(0), "SIGTERM must end the daemon with exit 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_restart_gives_the_replay_state() {
    let setup = Setup::new();
    let lines = shifted_lines("ringnoanswer");
    let (before, after) = lines.split_at(lines.len() / 3);
    let config = setup.write_config("daemon", None);
    append(&setup.queue_log(), before);
    let mut daemon = setup.start_daemon(&config);
    eventually(WAIT, "daemon follows queue_log", || async {
        setup.meta("daemon", "queue_log").await.as_deref() == Some("following")
    })
    .await;
    let (middle, rest) = after.split_at(after.len() / 2);
    append(&setup.queue_log(), middle);
    daemon.kill_9();
    // Lines written while the daemon is dead must not be lost; the ones it had read must not count twice.
    append(&setup.queue_log(), rest);
    let daemon = setup.start_daemon(&config);
    assert_converges(&setup, "daemon", "replay").await;
    stop(daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_ami_membership_and_pause_come_from_queue_status() {
    let setup = Setup::new();
    append(&setup.queue_log(), &shifted_lines("login-pause-unpause"));
    // Only the captured final QueueStatus answer: the capture's events are older than that answer, and
    // streaming them after it would rewind the state.
    let mut capture = Capture::load(&fixture("login-pause-unpause"));
    capture.events.clear();
    let ami = FakeAmi::start(capture, Faults::default()).await;
    let daemon = setup.start_daemon(&setup.write_config("pbx", Some(&ami)));
    let keys = Keys::new("queuecast", "pbx");
    // queue_log names Alice only as "Alice Smith"; QueueStatus tells that she is Local/1001@agents/n and
    // paused for Lunch in both queues.
    let alice = keys.agent("Local/1001@agents/n");
    eventually(WAIT, "QueueStatus reconciled", || async {
        let fields = setup.hash(&alice).await;
        fields.get("status").map(String::as_str) == Some("paused")
            && fields.get("pause_reason").map(String::as_str) == Some("Lunch")
    })
    .await;
    assert_eq!(setup.meta("pbx", "ami").await.as_deref(), Some("connected"));
    let sally = setup.hash(&keys.agent("Local/1009@agents/n")).await;
    assert_eq!(sally.get("status").map(String::as_str), Some("available"), "{sally:?}");
    let dave = setup.hash(&keys.agent("Local/1004@agents/n")).await;
    assert!(dave.is_empty() || dave.get("status").map(String::as_str) == Some("logged_out"), "{dave:?}");
    assert_eq!(stop(daemon).code(), Some(0));
}

fn flow(scenario: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asterisk-22-flows").join(scenario)
}

/// The live daemon fed a flow recording's real bytes — its queue_log appended in two parts around the start,
/// its AMI events streamed by the fake Asterisk (timestamped as recorded, shifted with the queue_log), then
/// the recorded final QueueStatus answer — leaves the state `replay --redis` builds from the same files.
async fn daemon_equals_replay_on_flow(scenario: &str) {
    daemon_equals_replay_with(scenario, Faults::default()).await;
}

async fn daemon_equals_replay_with(scenario: &str, faults: Faults) {
    let setup = Setup::new();
    let dir = flow(scenario);
    let (lines, shift_s) = shifted(&dir);
    let (before, after) = lines.split_at(lines.len() / 2);
    append(&setup.queue_log(), before);
    let capture = Capture::load_timestamped(&dir, shift_s * 1000);
    let events = capture.events.len();
    assert!(events > 100, "{scenario}: the recording's events");
    let replay_capture = setup.dir.path().join("ami.raw");
    write_capture(&replay_capture, &capture, &dir);
    let faults = Faults { status_after_events: true, ..faults };
    let ami = FakeAmi::start(capture, faults).await;
    let daemon = setup.start_daemon(&setup.write_config("daemon", Some(&ami)));
    eventually(WAIT, "daemon follows queue_log", || async {
        setup.meta("daemon", "queue_log").await.as_deref() == Some("following")
    })
    .await;
    append(&setup.queue_log(), after);
    assert_converges_with(&setup, "daemon", "replay", Some(&replay_capture)).await;
    assert_eq!(setup.meta("daemon", "ami").await.as_deref(), Some("connected"));
    assert_eq!(ami.seen().next_event, events, "{scenario}: every event was streamed");
    assert!(ami.seen().actions.iter().any(|a| a.eq_ignore_ascii_case("QueueStatus")));
    assert_eq!(stop(daemon).code(), Some(0));
}

/// What the fake Asterisk sends after login as one capture file for `replay`: the events, then the final
/// QueueStatus answer; the recorder's `ami.sent` beside it (it asked that QueueStatus without filters).
fn write_capture(path: &Path, capture: &Capture, dir: &Path) {
    let mut bytes = capture.banner.clone();
    bytes.extend(&capture.login_ok);
    capture.events.iter().chain(&capture.status_answer).for_each(|m| bytes.extend(m));
    std::fs::write(path, bytes).expect("write capture");
    std::fs::copy(dir.join("ami.sent"), path.with_file_name("ami.sent")).expect("copy ami.sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_equals_replay_overflow_chain() {
    daemon_equals_replay_on_flow("overflow-chain").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_equals_replay_requeue_same() {
    daemon_equals_replay_on_flow("requeue-same").await;
}

/// The same recording written one byte at a time: every message split at every byte boundary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_equals_replay_requeue_same_byte_by_byte() {
    daemon_equals_replay_with("requeue-same", Faults { one_byte_chunks: true, ..Faults::default() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_equals_replay_transfer_into_queue() {
    daemon_equals_replay_on_flow("transfer-into-queue").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_equals_replay_agent_busy_direct() {
    daemon_equals_replay_on_flow("agent-busy-direct").await;
}

/// What systemd would receive on `NOTIFY_SOCKET`, one datagram per notification.
struct NotifySocket(std::os::unix::net::UnixDatagram);

impl NotifySocket {
    fn bind(path: &Path) -> Self {
        let socket = std::os::unix::net::UnixDatagram::bind(path).expect("bind notify socket");
        socket.set_read_timeout(Some(NOTIFY_WAIT)).expect("read timeout");
        Self(socket)
    }

    /// Reads notifications until one has a line equal to `line`; returns everything read.
    fn until(&self, line: &str) -> Vec<String> {
        let deadline = std::time::Instant::now() + NOTIFY_WAIT;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            assert!(std::time::Instant::now() < deadline, "no {line:?} in {seen:?}");
            let n = self.0.recv(&mut buf).unwrap_or_else(|e| panic!("no {line:?} after {seen:?}: {e}"));
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            if seen.last().is_some_and(|m| m.lines().any(|l| l == line)) {
                return seen;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speaks_the_systemd_notify_protocol() {
    let setup = Setup::new();
    append(&setup.queue_log(), &shifted_lines("login-pause-unpause"));
    let config = setup.write_config("pbx", None);
    let socket_path = setup.dir.path().join("notify.sock");
    let notify = NotifySocket::bind(&socket_path);
    // WatchdogSec=0.4s: the daemon pets every 200 ms.
    let env = [("NOTIFY_SOCKET", socket_path.to_str().expect("utf-8 path")), ("WATCHDOG_USEC", "400000")];
    let daemon = setup.start_daemon_with(&config, &env);

    let start = notify.until("READY=1");
    assert!(start.last().is_some_and(|m| m.contains("STATUS=state written to Redis")), "{start:?}");
    assert_eq!(setup.meta("pbx", "queue_log").await.as_deref(), Some("following"), "READY after the state");
    notify.until("WATCHDOG=1");
    notify.until("WATCHDOG=1");

    daemon.signal("HUP");
    notify.until("RELOADING=1");
    let reload = notify.until("READY=1");
    assert!(reload.last().is_some_and(|m| m.contains("STATUS=configuration reloaded")), "{reload:?}");

    daemon.signal("TERM");
    notify.until("STOPPING=1");
    assert_eq!(stop(daemon).code(), Some(0));
}
