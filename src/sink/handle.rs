//! The sink's front door: the daemon hands it messages through a never-blocking, self-coalescing inbox
//! (the latest update per entity), and waits on what the task reports back (written, connected, wake-ups).

use super::state::Latest;
use super::{Health, Update};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// What the daemon tells the sink.
#[derive(Debug, Clone)]
pub enum SinkMsg {
    /// Entities that changed (rendered in the engine task).
    Updates(Vec<Update>),
    /// The complete state after an engine rebuild: replaces agents and queues, adds calls; written whole
    /// with a `resync`.
    Resync(Vec<Update>),
    /// Source health for `meta`.
    Health(Health),
}

/// Latest updates per entity not yet taken by the task; bounded by the number of entities.
#[derive(Default)]
pub(super) struct Inbox {
    pub(super) resync: Option<Vec<Update>>,
    pub(super) updates: Latest,
    pub(super) health: Option<Health>,
    /// Number of `send`s so far; the task reports how many of them are in Redis.
    pub(super) submitted: u64,
    /// When the oldest change not yet taken by the task arrived (for the publish latency).
    pub(super) oldest: Option<std::time::Instant>,
}

pub(super) struct Shared {
    pub(super) inbox: Mutex<Inbox>,
    pub(super) wake: Notify,
    /// Generation (`Inbox::submitted`) fully written to Redis.
    pub(super) written: watch::Sender<u64>,
    pub(super) connected: watch::Sender<bool>,
    /// Times the task's loop woke up (for tests and `/metrics`: an outage must not make it spin).
    pub(super) wakeups: AtomicU64,
}

/// Cheap to clone; `send` never blocks and never fails.
#[derive(Clone)]
pub struct SinkHandle {
    pub(super) shared: Arc<Shared>,
}

impl SinkHandle {
    /// Hands `msg` to the sink. A burst while Redis is slow or down collapses to the latest state per entity.
    pub fn send(&self, msg: SinkMsg) {
        {
            let mut inbox = self.shared.inbox.lock().unwrap_or_else(PoisonError::into_inner);
            inbox.submitted += 1;
            inbox.oldest.get_or_insert_with(std::time::Instant::now);
            match msg {
                SinkMsg::Updates(updates) => {
                    for update in updates {
                        inbox.updates.insert(update);
                    }
                }
                SinkMsg::Resync(state) => {
                    // The rebuilt state supersedes every update taken before it.
                    inbox.updates.clear();
                    inbox.resync = Some(state);
                }
                SinkMsg::Health(health) => inbox.health = Some(health),
            }
        }
        self.shared.wake.notify_one();
    }

    /// Waits until everything sent before this call is in Redis (queue updates may wait for their
    /// coalescing interval). False on timeout.
    pub async fn flushed(&self, timeout: Duration) -> bool {
        let target = self.shared.inbox.lock().unwrap_or_else(PoisonError::into_inner).submitted;
        let mut rx = self.shared.written.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|w| *w >= target)).await.is_ok_and(|r| r.is_ok())
    }

    /// Whether the last Redis operation succeeded.
    pub fn connected(&self) -> watch::Receiver<bool> {
        self.shared.connected.subscribe()
    }

    /// How often the sink task's loop has woken up so far: during an outage it wakes once per reconnect
    /// attempt (and per `send`), never more.
    pub fn wakeups(&self) -> u64 {
        self.shared.wakeups.load(Ordering::Relaxed)
    }
}
