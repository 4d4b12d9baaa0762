//! The Redis sink task as the daemon runs it (own cancellation token and task tracker), for the Redis tests.

#![allow(dead_code)]

use super::redis::{Dumped, RedisServer, dump_pbx};
use queuecast::config::RedisConfig;
use queuecast::sink::message::Message;
use queuecast::sink::{self, Health, Keys, RedisConn, SinkHandle, SinkMsg, Update, reader};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Generous: the CI machine has 2 loaded cores.
pub const WAIT: Duration = Duration::from_secs(30);

pub struct Sink {
    pub handle: SinkHandle,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Sink {
    pub fn start(settings: RedisConfig) -> Self {
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let handle = sink::spawn(settings, cancel.clone(), &tracker);
        Self { handle, cancel, tracker }
    }

    /// Starts the sink and has it write `state` as the engine's first full state (`Resync`), as the daemon
    /// does after its start-up replay; returns once that is in Redis.
    pub async fn start_with_state(settings: RedisConfig, state: Vec<Update>) -> Self {
        let sink = Self::start(settings);
        sink.handle.send(SinkMsg::Resync(state));
        sink.flushed().await;
        sink
    }

    pub async fn flushed(&self) {
        assert!(self.handle.flushed(WAIT).await, "sink did not flush");
    }

    pub async fn stop(self) {
        self.cancel.cancel();
        self.tracker.close();
        tokio::time::timeout(WAIT, self.tracker.wait()).await.expect("sink task ends");
    }
}

/// Every message on the PBX's stream, oldest first.
pub async fn stream_messages(conn: &mut RedisConn, keys: &Keys) -> Vec<Message> {
    reader::read_stream(conn, keys, 0, 100_000, 0).await.expect("XREAD")
}

/// What `replay --redis` writes for `state`, under another PBX id, normalized.
pub async fn expected_dump(server: &RedisServer, state: &[Update]) -> BTreeMap<String, Dumped> {
    let settings = server.settings("expected");
    sink::write_snapshot(&settings, state, Health::default()).await.expect("write_snapshot");
    dump_pbx(&mut server.conn().await, &settings.keys(), false).await
}
