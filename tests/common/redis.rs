//! A private `redis-server` per test: random TCP port on 127.0.0.1 plus a unix socket in a temp dir, no
//! persistence, killed on drop. `stop`/`restart` keep the port, for outage tests.

#![allow(dead_code)]

use queuecast::config::RedisConfig;
use queuecast::sink::{Keys, RedisConn};
use redis::AsyncCommands;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loaded 2-core CI machine may take a while to start a server.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

pub struct RedisServer {
    dir: tempfile::TempDir,
    port: u16,
    extra: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A server with the sink settings and keys of PBX `pbx`: how most sink tests begin.
    pub fn start_for(pbx: &str) -> (Self, RedisConfig, Keys) {
        let server = Self::start();
        let settings = server.settings(pbx);
        let keys = settings.keys();
        (server, settings, keys)
    }

    /// Extra `redis-server` arguments, e.g. `["--user", "qc on >pw ~* &* +@all"]`.
    pub fn start_with(extra: &[&str]) -> Self {
        Self::start_on(free_port(), extra)
    }

    /// On a chosen port (a cluster node needs `port + 10000` free for its bus too).
    pub fn start_on(port: u16, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server =
            Self { dir, port, extra: extra.iter().map(|s| (*s).to_owned()).collect(), child: None };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--unixsocketperm", "700"])
            .arg("--unixsocket")
            .arg(self.socket())
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if self.answers_ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not answer PING", self.port);
    }

    /// Any reply (also NOAUTH) means the server is up.
    fn answers_ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 64];
        s.write_all(b"PING\r\n").is_ok() && s.read(&mut buf).is_ok_and(|n| n > 0)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn unix_url(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// Sink settings for this server and PBX id, with a short queue interval so tests run fast.
    pub fn settings(&self, pbx: &str) -> RedisConfig {
        let mut s = RedisConfig::new(self.url());
        s.pbx_id = pbx.to_owned();
        s.queue_update_interval_ms = 20;
        s
    }

    pub async fn conn(&self) -> RedisConn {
        RedisConn::connect(&RedisConfig::new(self.url())).await.expect("connect to test redis")
    }

    /// A pub/sub connection subscribed to every channel of the PBX of `keys`.
    pub async fn subscribe_all(&self, keys: &Keys) -> redis::aio::PubSub {
        let client = redis::Client::open(self.url()).expect("client");
        let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
        pubsub.psubscribe(format!("{}:*", keys.base())).await.expect("psubscribe");
        pubsub
    }

    /// Kills the server (SIGKILL: an outage, not a clean shutdown). Data is gone (no persistence).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: the server keeps its sockets but answers nothing (a hung host), until [`Self::resume`].
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// SIGCONT after [`Self::pause`].
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let pid = self.child.as_ref().expect("running redis-server").id().to_string();
        let status = Command::new("kill").args([&format!("-{name}"), &pid]).status().expect("kill");
        assert!(status.success(), "kill -{name} redis-server");
    }

    /// Starts again on the same port and socket.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + READY_TIMEOUT;
        // The port is free once the killed process is reaped; retry if the OS is slow to release it.
        while TcpListener::bind(("127.0.0.1", self.port)).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(self.socket());
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// One key's content, normalized for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dumped {
    Hash(BTreeMap<String, String>),
    Set(Vec<String>),
    /// Streams are compared by length only: entry ids and `seq` differ between runs.
    Stream(u64),
    Other(String),
}

/// `meta` fields that differ between two runs over the same inputs (DESIGN: "timestamps of the daemon's own
/// heartbeat aside"; epoch/seq are per run; source health is live vs. off in replay).
const VOLATILE_META: &[&str] = &["epoch", "seq", "started_at", "heartbeat_at", "ami", "queue_log"];

/// Every key of one PBX, named relative to `PREFIX:{PBX}` (so two PBX ids can be compared), with volatile
/// meta fields and the per-hash `seq` removed. `with_stream` keeps the stream length.
pub async fn dump_pbx(conn: &mut RedisConn, keys: &Keys, with_stream: bool) -> BTreeMap<String, Dumped> {
    let RedisConn::Single(single) = conn else { panic!("dump_pbx needs a single-node connection") };
    let mut names: Vec<String> = Vec::new();
    {
        let mut iter: redis::AsyncIter<String> = single.scan_match(keys.scan_pattern()).await.expect("SCAN");
        while let Some(key) = futures::StreamExt::next(&mut iter).await {
            names.push(key.expect("SCAN key"));
        }
    }
    let mut out = BTreeMap::new();
    for key in names {
        let rel = key.strip_prefix(keys.base()).unwrap_or(&key).to_owned();
        let kind: String = redis::cmd("TYPE").arg(&key).query_async(single).await.expect("TYPE");
        let value = match kind.as_str() {
            "hash" => {
                let mut h: BTreeMap<String, String> = single.hgetall(&key).await.expect("HGETALL");
                if rel == ":meta" {
                    h.retain(|k, _| !VOLATILE_META.contains(&k.as_str()));
                } else {
                    h.remove("seq");
                }
                Dumped::Hash(h)
            }
            "set" => {
                let mut m: Vec<String> = single.smembers(&key).await.expect("SMEMBERS");
                m.sort();
                Dumped::Set(m)
            }
            "stream" if !with_stream => continue,
            "stream" => Dumped::Stream(single.xlen(&key).await.expect("XLEN")),
            other => Dumped::Other(other.to_owned()),
        };
        out.insert(rel, value);
    }
    out
}

/// Polls `cond` until true or `timeout` (generous: CI is slow), never a fixed sleep as an assertion.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for: {what}");
}
