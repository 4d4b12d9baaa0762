//! The daemon with commands enabled against a real redis-server and the fake AMI, for tests/commands.rs:
//! configs, starting, sending commands (the shared client and raw entries), reading results and state.

#![allow(dead_code)]

use super::daemon::{BIN, Daemon, fixture};
use super::fake_ami::{Capture, FakeAmi, Faults, SECRET, USERNAME};
use super::redis::{RedisServer, eventually};
use queuecast::commands::{Action, Code, Command, CommandResult, submit, wire::new_id};
use queuecast::sink::message::Message;
use queuecast::sink::{Keys, RedisConn, RedisSettings};
use redis::AsyncCommands;
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const WAIT: Duration = Duration::from_secs(60);
pub const ANSWER: Duration = Duration::from_secs(20);
pub const ALICE: &str = "Local/1001@agents/n";
pub const CAROL: &str = "Local/1003@agents/n";
pub const SALLY: &str = "Local/1009@agents/n";
pub const ALL_ACTIONS: &str = "[actions]\nenabled = true\nallow = [\"pause\", \"unpause\", \"login\", \"logout\", \"penalty\"]\nqueues = [\"*\"]\n";

/// The recorded QueueStatus answer and no other events: the state changes only through commands.
pub fn capture() -> Capture {
    let mut capture = Capture::load(&fixture("ami-actions"));
    capture.events.truncate(1);
    capture
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub redis: RedisServer,
    pub ami: FakeAmi,
}

impl Env {
    pub async fn start(faults: Faults) -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            redis: RedisServer::start(),
            ami: FakeAmi::start(capture(), faults).await,
        }
    }

    pub fn settings(&self, pbx: &str) -> RedisSettings {
        self.redis.settings(pbx)
    }

    pub fn config(&self, name: &str, pbx: &str, actions: &str) -> PathBuf {
        let text = format!(
            "[queue_log]\nenabled = false\n\n[ami]\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"{USERNAME}\"\nsecret = \"{SECRET}\"\nbackoff_min_ms = 50\nbackoff_max_ms = 500\n\n[redis]\nurl = \"{url}\"\npbx_id = \"{pbx}\"\nqueue_update_interval_ms = 20\n\n[log]\nlevel = \"info\"\nformat = \"text\"\n\n[engine]\nqueues_conf = \"{qc}\"\ntimezone = \"UTC\"\n\n{actions}",
            port = self.ami.addr.port(),
            url = self.redis.url(),
            qc = super::daemon::queues_conf().display(),
        );
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `queuecast run`, its log in `<name>.log`; returns once Alice's hash is in Redis (state published, AMI up).
    pub async fn daemon(&self, name: &str, pbx: &str, actions: &str) -> Daemon {
        let config = self.config(name, pbx, actions);
        let log = std::fs::File::create(self.log_path(name)).unwrap();
        let child = Process::new(BIN)
            .args(["run", "--config"])
            .arg(&config)
            .env_remove("NOTIFY_SOCKET")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let daemon = Daemon(Some(child));
        let keys = Keys::new("queuecast", pbx);
        eventually(WAIT, "the daemon published the state with AMI connected", || async {
            let mut conn = self.conn().await;
            let meta: std::collections::HashMap<String, String> =
                conn.hgetall(keys.meta()).await.unwrap_or_default();
            let alice: bool = conn.exists(keys.agent(ALICE)).await.unwrap_or(false);
            alice && meta.get("ami").is_some_and(|a| a == "connected")
        })
        .await;
        daemon
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        match self.redis.conn().await {
            RedisConn::Single(c) => c,
            RedisConn::Cluster(_) => unreachable!(),
        }
    }

    pub async fn send(&self, pbx: &str, command: &Command) -> CommandResult {
        submit(&self.settings(pbx), command, ANSWER, &CancellationToken::new()).await.expect("an answer")
    }

    pub async fn agent(&self, pbx: &str, id: &str) -> std::collections::HashMap<String, String> {
        self.conn().await.hgetall(Keys::new("queuecast", pbx).agent(id)).await.unwrap()
    }

    /// The agent's `queues` field as JSON.
    pub async fn queues(&self, pbx: &str, id: &str) -> serde_json::Value {
        serde_json::from_str(self.agent(pbx, id).await.get("queues").map_or("{}", |s| s.as_str())).unwrap()
    }

    pub async fn stream(&self, pbx: &str) -> Vec<Message> {
        let mut conn = self.redis.conn().await;
        queuecast::sink::reader::read_stream(&mut conn, &Keys::new("queuecast", pbx), 0, 100_000, 0)
            .await
            .unwrap()
    }

    /// Every result entry, as (id, code).
    pub async fn results(&self, pbx: &str) -> Vec<(String, String)> {
        let entries: redis::streams::StreamRangeReply =
            self.conn().await.xrange_all(Keys::new("queuecast", pbx).results()).await.unwrap();
        entries
            .ids
            .iter()
            .map(|e| (e.get("id").unwrap_or_default(), e.get("code").unwrap_or_default()))
            .collect()
    }

    /// Adds a raw entry to the command stream (any bytes).
    pub async fn xadd_raw(&self, pbx: &str, fields: &[(&[u8], &[u8])]) {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(Keys::new("queuecast", pbx).commands()).arg("*");
        for (k, v) in fields {
            cmd.arg(*k).arg(*v);
        }
        let _: String = cmd.query_async(&mut self.conn().await).await.unwrap();
    }

    /// Waits for the result of `id` on the results stream.
    pub async fn result_of(&self, pbx: &str, id: &str) -> (String, String) {
        let deadline = tokio::time::Instant::now() + ANSWER;
        loop {
            if let Some(found) = self.results(pbx).await.into_iter().find(|(i, _)| i == id) {
                return found;
            }
            assert!(tokio::time::Instant::now() < deadline, "no result for {id}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn member_actions(&self) -> Vec<(String, Vec<(String, String)>)> {
        self.ami.seen().member_actions.clone()
    }
}

/// One raw field of a stream entry.
pub type Field<'a> = (&'a [u8], &'a [u8]);

pub fn command(action: Action, agent: &str, queue: Option<&str>) -> Command {
    let mut c = Command::new(new_id(), action, agent, jiff::Timestamp::now().as_millisecond());
    c.queue = queue.map(str::to_owned);
    c.requested_by = "test:commands".into();
    c
}

pub fn code(result: &CommandResult) -> Code {
    result.code
}
