//! The queue_log tail: start-up replay from the day start, then follow the file across rotations.
//!
//! Wake-ups come from notify (inotify on the directory) AND a periodic position check, because inotify is
//! silent on NFS/FUSE/some container overlays. File reads are blocking syscalls, so each poll runs on the
//! blocking pool with the follower moved in and out; the async side only sends results and waits.

pub mod batch;
mod catchup;
pub mod decode;
pub mod follow;
pub mod history;
mod reader;
pub mod startup;

use crate::config::QueueLogConfig;
use crate::engine::PbxSetup;
use crate::sources::{QueueLogHealth, SourceMsg};
use batch::Batcher;
use follow::{Follower, Note};
use history::History;
pub use startup::ReplayMode;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Position check period when notify says nothing (DESIGN: follow appends quickly; notify does the fast
/// path, this bounds the latency on filesystems without inotify).
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How often to retry setting up the directory watch when it failed (directory missing, inotify limits).
const WATCH_RETRY: Duration = Duration::from_secs(10);

/// Starts the tail task over `[queue_log]` as loaded (its rotated glob resolved; `enabled` is the caller's
/// business). `replay` is `Today` when AMI supplies membership, `Whole` in queue_log-only mode. The day start
/// is taken from the clock now (this is an edge; the engine is not).
pub fn spawn(
    settings: QueueLogConfig,
    replay: ReplayMode,
    engine: &PbxSetup,
    tx: mpsc::Sender<SourceMsg>,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) {
    let day_start = startup::day_start_epoch(jiff::Timestamp::now(), &engine.tz, engine.day_starts_at);
    tracker.spawn(run(settings, replay, day_start, tx, cancel));
}

/// The whole life of the tail: `replaying`, the start-up replay, `ReplayDone`, then follow until cancelled
/// (or the engine task is gone).
pub async fn run(
    settings: QueueLogConfig,
    mode: ReplayMode,
    day_start: i64,
    tx: mpsc::Sender<SourceMsg>,
    cancel: CancellationToken,
) {
    let mut wake = Wakeups::new(&settings.path);
    if send(&tx, &cancel, SourceMsg::QueueLog(QueueLogHealth::Replaying)).await.is_err() {
        return;
    }
    let batcher = Batcher::new(tx.clone(), cancel.clone(), History::from_day_start(day_start));
    let Some(mut tail) = replay(&settings, mode, day_start, batcher, &cancel).await else { return };
    let mut health = Some(tail.health);
    loop {
        let Some((next, outcome)) = poll_blocking(tail, &cancel).await else { return };
        tail = next;
        if tail.batcher.closed() {
            return;
        }
        let more = match outcome {
            Ok(step) => match deliver(step, &mut health, &tx, &cancel).await {
                Ok(more) => more,
                Err(Closed) => return,
            },
            Err(e) => {
                tracing::warn!(path = %settings.path.display(), error = %e, "queue_log read failed; retrying");
                false
            }
        };
        if more {
            continue;
        }
        wake.ensure_watch(&settings.path);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = wake.recv() => {}
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
        }
    }
}

/// The engine task went away or we were cancelled: stop.
#[derive(Debug)]
struct Closed;

async fn send(
    tx: &mpsc::Sender<SourceMsg>,
    cancel: &CancellationToken,
    msg: SourceMsg,
) -> Result<(), Closed> {
    crate::sources::send(tx, cancel, msg).await.map_err(|_| Closed)
}

/// The follower and the batcher its lines go through, moved together onto the blocking pool.
struct Tail {
    follower: Follower,
    batcher: Batcher,
    /// The health last sent.
    health: QueueLogHealth,
}

/// One poll's outcome for the async side (the events are already sent by the batcher).
struct Step {
    notes: Vec<Note>,
    missing: bool,
    more: bool,
}

async fn poll_blocking(mut tail: Tail, cancel: &CancellationToken) -> Option<(Tail, std::io::Result<Step>)> {
    let job = tokio::task::spawn_blocking(move || {
        let Tail { follower, batcher, .. } = &mut tail;
        let outcome = follower.poll(Instant::now(), batcher).map(|poll| Step {
            notes: poll.notes,
            missing: poll.missing,
            more: poll.more,
        });
        batcher.flush();
        (tail, outcome)
    });
    tokio::select! {
        _ = cancel.cancelled() => None,
        joined = job => match joined {
            Ok(pair) => Some(pair),
            Err(e) => {
                tracing::error!(error = %e, "queue_log poll task failed");
                None
            }
        },
    }
}

/// Logs a step's notes and sends health changes; returns whether more data is waiting.
async fn deliver(
    step: Step,
    health: &mut Option<QueueLogHealth>,
    tx: &mpsc::Sender<SourceMsg>,
    cancel: &CancellationToken,
) -> Result<bool, Closed> {
    for note in &step.notes {
        log_note(note);
    }
    let now = if step.missing { QueueLogHealth::Missing } else { QueueLogHealth::Following };
    if *health != Some(now) {
        *health = Some(now);
        send(tx, cancel, SourceMsg::QueueLog(now)).await?;
    }
    Ok(step.more)
}

fn log_note(note: &Note) {
    match note {
        Note::Rotated => tracing::info!("queue_log rotated: finished the old file, following the new one"),
        Note::Truncated => tracing::info!("queue_log truncated (copytruncate?): reading from the start"),
        Note::Missing => tracing::warn!("queue_log is missing; waiting for it to be created"),
        Note::Appeared => tracing::info!("queue_log is back"),
        Note::DroppedPartial { bytes } => {
            tracing::warn!(bytes, "dropped an unterminated queue_log line (file truncated/rotated mid-line)")
        }
    }
}

/// Plans (opening every file), replays and sends `ReplayDone` on the blocking pool, and returns the live
/// follower positioned after what was replayed. None when cancelled or the engine task is gone.
async fn replay(
    settings: &QueueLogConfig,
    mode: ReplayMode,
    day_start: i64,
    mut batcher: Batcher,
    cancel: &CancellationToken,
) -> Option<Tail> {
    let settings = settings.clone();
    let job = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let planned_at = std::time::SystemTime::now();
        let plan = open_plan_logged(&settings, mode, day_start);
        let follower = catchup::replay(plan, planned_at, &settings, &mut batcher)?;
        tracing::info!(
            lines = batcher.lines,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "queue_log start-up replay done"
        );
        // Health first: the daemon's READY waits for what was sent before `ReplayDone` to reach Redis, so
        // `meta.queue_log` no longer says `replaying` when systemd hears the daemon is up.
        let health =
            if follower.position().is_some() { QueueLogHealth::Following } else { QueueLogHealth::Missing };
        batcher.send(SourceMsg::QueueLog(health));
        batcher.send(SourceMsg::ReplayDone);
        batcher.keep_everything();
        (!batcher.closed()).then_some(Tail { follower, batcher, health })
    });
    tokio::select! {
        _ = cancel.cancelled() => None,
        joined = job => joined.ok().flatten(),
    }
}

fn open_plan_logged(settings: &QueueLogConfig, mode: ReplayMode, day_start: i64) -> startup::OpenPlan {
    let glob = Some(settings.rotated_glob.as_str());
    startup::open_plan(&settings.path, || Ok(rotated_candidates(&settings.path, glob)), day_start, mode)
        .unwrap_or_else(|e| {
            tracing::warn!(path = %settings.path.display(), error = %e, "cannot plan the queue_log replay; following from the start");
            startup::OpenPlan { rotated: Vec::new(), live: None }
        })
}

fn rotated_candidates(path: &Path, glob: Option<&str>) -> Vec<PathBuf> {
    match glob {
        Some(glob) if !glob.is_empty() => startup::rotated_files(glob, path).unwrap_or_else(|e| {
            tracing::warn!(glob, error = %e, "cannot list rotated queue_log files");
            Vec::new()
        }),
        _ => Vec::new(),
    }
}

/// The replay plan for `path`: rotated files from `glob`, the day start, the mode.
pub fn plan_replay(
    path: &Path,
    glob: Option<&str>,
    day_start: i64,
    mode: ReplayMode,
) -> std::io::Result<startup::Plan> {
    Ok(startup::open_plan(path, || Ok(rotated_candidates(path, glob)), day_start, mode)?.describe())
}

/// notify wake-ups for the followed file (and its rotated siblings), coalesced into one pending signal.
struct Wakeups {
    rx: mpsc::Receiver<()>,
    tx: mpsc::Sender<()>,
    watcher: Option<notify::RecommendedWatcher>,
    last_attempt: Option<Instant>,
}

impl Wakeups {
    fn new(path: &Path) -> Self {
        let (tx, rx) = mpsc::channel(1);
        let mut wakeups = Self { rx, tx, watcher: None, last_attempt: None };
        wakeups.ensure_watch(path);
        wakeups
    }

    async fn recv(&mut self) {
        // The sender lives in self, so recv only ends with a message.
        let _ = self.rx.recv().await;
    }

    /// Watches the parent directory (a watch on the file itself dies with a rename or delete).
    fn ensure_watch(&mut self, path: &Path) {
        if self.watcher.is_some() || self.last_attempt.is_some_and(|at| at.elapsed() < WATCH_RETRY) {
            return;
        }
        self.last_attempt = Some(Instant::now());
        match watch_dir(path, self.tx.clone()) {
            Ok(watcher) => self.watcher = Some(watcher),
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "no file watch; relying on the position check")
            }
        }
    }
}

fn watch_dir(path: &Path, tx: mpsc::Sender<()>) -> notify::Result<notify::RecommendedWatcher> {
    use notify::Watcher;
    let name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let relevant = event.map_or(true, |event| {
            event.paths.iter().any(|p| {
                p.file_name().is_some_and(|n| n.as_encoded_bytes().starts_with(name.as_encoded_bytes()))
            })
        });
        if relevant {
            // Full = a wake-up is already pending, which is all we need.
            let _ = tx.try_send(());
        }
    })?;
    watcher.watch(&dir, notify::RecursiveMode::NonRecursive)?;
    Ok(watcher)
}
