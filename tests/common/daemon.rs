//! The daemon as a process (`queuecast run`) against a real redis-server, real files and the fake AMI, and
//! `replay --redis` of the same inputs to compare with: shared by the daemon and chaos tests.

#![allow(dead_code)]

use super::fake_ami::{Capture, FakeAmi, SECRET, USERNAME};
use super::redis::{Dumped, RedisServer, dump_pbx};
use queuecast::sink::Keys;
use redis::AsyncCommands;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Generous: CI has two loaded cores.
pub const WAIT: Duration = Duration::from_secs(60);
pub const BIN: &str = env!("CARGO_BIN_EXE_queuecast");

pub fn fixture(scenario: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asterisk-22").join(scenario)
}

pub fn queues_conf() -> PathBuf {
    fixture("asterisk-conf").join("queues.conf")
}

pub fn now_s() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// The scenario's queue_log lines moved to "a few minutes ago, today (UTC)", so the daemon, which counts
/// today's calls by the wall clock, and `replay` see the same day.
pub fn shifted_lines(scenario: &str) -> Vec<String> {
    shifted(&fixture(scenario)).0
}

/// The queue_log lines of the scenario in `dir`, moved as [`shifted_lines`] says, and the shift in seconds.
pub fn shifted(dir: &Path) -> (Vec<String>, i64) {
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

pub fn append(path: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open queue_log");
    for line in lines {
        writeln!(f, "{line}").expect("append");
    }
    f.sync_all().expect("fsync");
}

pub struct Setup {
    pub dir: tempfile::TempDir,
    pub redis: RedisServer,
    /// Where `replay --redis` writes; None = the daemon's own server (under another PBX id).
    pub replay_redis: Option<RedisServer>,
    /// The queue_log `replay` reads; None = the daemon's live file (no rotation in the test).
    pub replay_input: Option<PathBuf>,
    /// Compare call hashes too (the daemon's and the replay's); see [`Setup::dump`].
    pub with_calls: bool,
}

impl Setup {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            redis: RedisServer::start(),
            replay_redis: None,
            replay_input: None,
            with_calls: false,
        }
    }

    pub fn queue_log(&self) -> PathBuf {
        self.dir.path().join("queue_log")
    }

    pub fn write_config(&self, pbx: &str, ami: Option<&FakeAmi>) -> PathBuf {
        self.write_config_for(pbx, ami.map(|ami| ami.addr.port()))
    }

    /// With AMI at `127.0.0.1:ami_port` (where nothing may listen yet).
    pub fn write_config_for(&self, pbx: &str, ami_port: Option<u16>) -> PathBuf {
        let ami_section = match ami_port {
            Some(port) => format!(
                "[ami]\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"{USERNAME}\"\nsecret = \"{SECRET}\"\nbackoff_min_ms = 50\nbackoff_max_ms = 500\n"
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

    pub fn start_daemon(&self, config: &Path) -> Daemon {
        self.start_daemon_with(config, &[])
    }

    /// With extra environment, e.g. what systemd passes (`NOTIFY_SOCKET`, `WATCHDOG_USEC`).
    pub fn start_daemon_with(&self, config: &Path, env: &[(&str, &str)]) -> Daemon {
        spawn(config, env)
    }

    /// `replay --redis` of the current queue_log under PBX id `pbx`, final tick at `until`, with an AMI
    /// capture when given (`ami.raw`, with `ami.sent` beside it).
    pub fn replay_with_ami(&self, pbx: &str, until: i64, ami_capture: Option<&Path>) {
        let mut replay = Command::new(BIN);
        let input = self.replay_input.clone().unwrap_or_else(|| self.queue_log());
        replay.args(["replay", "--queue-log"]).arg(input).arg("--queues-conf").arg(queues_conf());
        if let Some(capture) = ami_capture {
            replay.arg("--ami-capture").arg(capture);
        }
        let status = replay
            .args(["--redis", &self.replay_server().url(), "--pbx", pbx, "--until", &until.to_string()])
            .status()
            .expect("run replay");
        assert!(status.success(), "replay --redis failed");
    }

    /// The server `replay --redis` writes into.
    pub fn replay_server(&self) -> &RedisServer {
        self.replay_redis.as_ref().unwrap_or(&self.redis)
    }

    /// The state of PBX `pbx` in `server`.
    pub async fn dump(&self, server: &RedisServer, pbx: &str) -> BTreeMap<String, Dumped> {
        let mut conn = server.conn().await;
        let mut dump = dump_pbx(&mut conn, &Keys::new("queuecast", pbx), false).await;
        if self.with_calls {
            return dump;
        }
        // Call hashes: the engine keeps every call of the current day (ended ones until the day rolls
        // over), the sink's mirror and Redis every call for call_ttl after its last write. Within one day
        // the daemon and the replay hold the same calls (the chaos test compares them); across midnight
        // Redis still holds yesterday's calls that a replay of today's lines does not know. Tests that do
        // not ask for calls compare agents, queues, waiting lists, sets and meta.
        dump.retain(|key, _| !key.starts_with(":call:"));
        dump
    }

    pub async fn hash(&self, key: &str) -> BTreeMap<String, String> {
        let mut conn = self.redis.conn().await;
        let queuecast::sink::RedisConn::Single(c) = &mut conn else { panic!("single node") };
        c.hgetall(key).await.expect("HGETALL")
    }

    pub async fn meta(&self, pbx: &str, field: &str) -> Option<String> {
        let mut conn = self.redis.conn().await;
        let queuecast::sink::RedisConn::Single(c) = &mut conn else { return None };
        c.hget(Keys::new("queuecast", pbx).meta(), field).await.ok()
    }
}

/// Waits until the daemon's state equals the replay's (the daemon may still be catching up).
pub async fn assert_converges(setup: &Setup, daemon_pbx: &str, replay_pbx: &str) {
    assert_converges_with(setup, daemon_pbx, replay_pbx, None).await;
}

/// With an AMI capture for the replay. Then agents' `status_since` is left out: it is the time of the
/// first report of a status change, and which feed reports it first (queue_log in whole seconds, AMI in
/// ms) depends on how the live feeds interleave (as in engine_scenarios' interleaving property).
pub async fn assert_converges_with(setup: &Setup, daemon_pbx: &str, replay_pbx: &str, ami: Option<&Path>) {
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
            let (daemon, replay) = (
                strip(setup.dump(&setup.redis, daemon_pbx).await),
                strip(setup.dump(setup.replay_server(), replay_pbx).await),
            );
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

/// `queuecast run --config CONFIG` with `env` on top of a clean systemd-free environment.
pub fn spawn(config: &Path, env: &[(&str, &str)]) -> Daemon {
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

/// The daemon process; killed if a test fails before stopping it, so no daemon outlives its test.
pub struct Daemon(pub Option<Child>);

impl Daemon {
    pub fn kill_9(&mut self) {
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
    pub fn signal(&self, name: &str) {
        let child = self.0.as_ref().expect("running daemon");
        let _ = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status();
    }
}

/// SIGTERM, then the exit status.
pub fn stop(mut daemon: Daemon) -> std::process::ExitStatus {
    daemon.signal("TERM");
    let mut child = daemon.0.take().expect("running daemon");
    child.wait().expect("wait for daemon")
}

pub fn flow(scenario: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asterisk-22-flows").join(scenario)
}

/// What the fake Asterisk sends after login as one capture file for `replay`: the events, then the final
/// QueueStatus answer; the recorder's `ami.sent` beside it (it asked that QueueStatus without filters).
pub fn write_capture(path: &Path, capture: &Capture, dir: &Path) {
    let mut bytes = capture.banner.clone();
    bytes.extend(&capture.login_ok);
    capture.events.iter().chain(&capture.status_answer).for_each(|m| bytes.extend(m));
    std::fs::write(path, bytes).expect("write capture");
    std::fs::copy(dir.join("ami.sent"), path.with_file_name("ami.sent")).expect("copy ami.sent");
}
