//! The real gateway binary (`queuecast gateway`) against a test Redis, and real clients of it: a WebSocket
//! client (tokio-tungstenite), an SSE client reading the raw `text/event-stream`, and the follower state a
//! front end keeps (snapshot, then messages).

#![allow(dead_code)]

use super::redis::{RedisServer, free_port};
use super::sink::Sink;
use futures::StreamExt;
use queuecast::config::RedisConfig;
use queuecast::gateway::token::{self, Claims, PbxClaim};
use queuecast::sink::Update;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const SECRET: &str = "test-secret-0123456789abcdef";
/// A loaded 2-core machine may take a while to start the binary.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A test Redis, the sink that wrote `state` into it, and a gateway on it: where most gateway tests start.
pub struct Served {
    pub server: RedisServer,
    pub settings: RedisConfig,
    pub sink: Sink,
    pub gw: Gateway,
}

impl Served {
    /// `extra` goes into the gateway's `[gateway]` section, as in [`Gateway::start_with`].
    pub async fn start(pbx: &str, state: Vec<Update>, extra: &str) -> Self {
        let server = RedisServer::start();
        let settings = server.settings(pbx);
        let sink = Sink::start_with_state(settings.clone(), state).await;
        let gw = Gateway::start_with(&server, pbx, extra);
        Self { server, settings, sink, gw }
    }
}

pub struct Gateway {
    dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl Gateway {
    pub fn start(redis: &RedisServer, pbx: &str) -> Self {
        Self::start_with(redis, pbx, "")
    }

    /// `extra`: more `[gateway]` lines.
    pub fn start_with(redis: &RedisServer, pbx: &str, extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let config = format!(
            "[redis]\nurl = \"{}\"\npbx_id = \"{pbx}\"\n\n[log]\nformat = \"text\"\nlevel = \"info\"\n\n\
             [gateway]\nlisten = \"127.0.0.1:{port}\"\ntoken_secret = \"{SECRET}\"\n{extra}\n",
            redis.url()
        );
        std::fs::write(dir.path().join("queuecast.toml"), config).expect("write config");
        let mut gateway = Self { dir, port, child: None };
        gateway.spawn();
        gateway
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("queuecast.toml")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gateway.log")).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("gateway.log"))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_queuecast"))
            .arg("gateway")
            .arg("--config")
            .arg(self.config_path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start queuecast gateway");
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("gateway did not listen; log:\n{}", self.log());
    }

    /// SIGKILL (a crash, not a clean stop) and start again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Resident memory of the gateway process, KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn ws(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How many lines of `log` contain every one of `needles`.
pub fn log_lines(log: &str, needles: &[&str]) -> usize {
    log.lines().filter(|line| needles.iter().all(|needle| line.contains(needle))).count()
}

pub fn now_s() -> u64 {
    (queuecast::sink::now_ms() / 1000) as u64
}

/// A token for `pbx` valid for an hour.
pub fn claims(pbx: &str) -> Claims {
    Claims {
        sub: "test".into(),
        exp: now_s() + 3600,
        pbx: PbxClaim::One(pbx.into()),
        agent: None,
        queues: None,
        actions: false,
    }
}

pub fn sign(claims: &Claims) -> String {
    token::issue(SECRET.as_bytes(), claims).expect("sign")
}

/// What a front end keeps: the snapshot, then every message applied.
#[derive(Debug, Default, Clone)]
pub struct Follower {
    pub epoch: String,
    pub seq: u64,
    pub agents: Map<String, Value>,
    pub queues: Map<String, Value>,
    pub snapshots: usize,
    /// Every frame's type and seq, in order.
    pub frames: Vec<(String, u64)>,
    pub closed: bool,
    /// SSE `id:` of the last event.
    pub last_event_id: String,
}

impl Follower {
    pub fn apply(&mut self, msg: &Value) {
        let kind = msg["type"].as_str().unwrap_or("").to_owned();
        let seq = msg["seq"].as_u64().unwrap_or(0);
        let id = msg["id"].as_str().unwrap_or("").to_owned();
        match kind.as_str() {
            "snapshot" => {
                self.agents = msg["agents"].as_object().cloned().unwrap_or_default();
                self.queues = msg["queues"].as_object().cloned().unwrap_or_default();
                self.snapshots += 1;
            }
            "agent_update" => {
                self.agents.insert(id, msg["data"].clone());
            }
            "agent_removed" => {
                self.agents.remove(&id);
            }
            "queue_update" => {
                self.queues.insert(id, msg["data"].clone());
            }
            _ => {}
        }
        if let Some(epoch) = msg["epoch"].as_str() {
            self.epoch = epoch.to_owned();
        }
        if kind != "ping" || seq > 0 {
            self.seq = seq;
        }
        self.frames.push((kind, seq));
    }

    /// Frames after index `from` that are messages (not snapshots or pings).
    pub fn messages_after(&self, from: usize) -> Vec<u64> {
        self.frames[from..].iter().filter(|(k, _)| k != "snapshot" && k != "ping").map(|(_, s)| *s).collect()
    }
}

pub type Shared = Arc<Mutex<Follower>>;

/// Connects a WebSocket client and applies every frame to `state` in a background task until the server
/// closes; `query` is appended after `?token=…`.
pub async fn follow_ws(url: String, state: Shared) -> tokio::task::JoinHandle<()> {
    let (stream, _) = tokio_tungstenite::connect_async(url).await.expect("WebSocket connect");
    tokio::spawn(async move {
        let (_tx, mut rx) = stream.split();
        while let Some(Ok(message)) = rx.next().await {
            if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
                let msg: Value = serde_json::from_str(text.as_str()).expect("frame is JSON");
                state.lock().unwrap().apply(&msg);
            }
        }
        state.lock().unwrap().closed = true;
    })
}

/// Reads the raw `text/event-stream` (no SSE library): `id:` and `data:` lines, an empty line ends an event.
pub async fn follow_sse(
    url: String,
    last_event_id: Option<String>,
    state: Shared,
) -> tokio::task::JoinHandle<()> {
    let mut request = reqwest::Client::new().get(url).header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = request.send().await.expect("SSE request");
    assert_eq!(response.status(), 200, "SSE status");
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    tokio::spawn(async move {
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        let (mut id, mut data) = (String::new(), String::new());
        while let Some(Ok(chunk)) = body.next().await {
            buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
            while let Some(end) = buffer.find('\n') {
                let line: String = buffer.drain(..=end).collect();
                let line = line.trim_end_matches(['\n', '\r']);
                if line.is_empty() {
                    if !data.is_empty() {
                        let msg: Value = serde_json::from_str(&data).expect("event data is JSON");
                        let mut s = state.lock().unwrap();
                        s.apply(&msg);
                        s.last_event_id = id.clone();
                    }
                    data.clear();
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim_start().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
        }
        state.lock().unwrap().closed = true;
    })
}
