//! The queue_log tail: start-up replay from the day start, then follow the file across rotations.
//!
//! Wake-ups come from notify (inotify on the directory) AND a periodic position check, because inotify is
//! silent on NFS/FUSE/some container overlays. File reads are blocking syscalls, so each poll runs on the
//! blocking pool with the follower moved in and out; the async side only sends results and waits.

pub mod decode;
pub mod follow;
pub mod startup;

use crate::engine::EngineConfig;
use crate::sources::{QueueLogHealth, SourceMsg};
use decode::Decoder;
use follow::{Follower, Note};
pub use startup::ReplayMode;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Position check period when notify says nothing (DESIGN: follow appends quickly; notify does the fast
/// path, this bounds the latency on filesystems without inotify).
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 250;
/// How often to retry setting up the directory watch when it failed (directory missing, inotify limits).
const WATCH_RETRY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct TailSettings {
    /// The live queue_log (`/var/log/asterisk/queue_log`).
    pub path: PathBuf,
    /// Rotated files (`/var/log/asterisk/queue_log.*`); None = never read rotated files.
    pub rotated_glob: Option<String>,
    pub poll_interval_ms: u64,
    /// `Today` when AMI supplies membership, `Whole` in queue_log-only mode.
    pub replay: ReplayMode,
}

impl TailSettings {
    pub fn new(path: impl Into<PathBuf>, replay: ReplayMode) -> Self {
        Self { path: path.into(), rotated_glob: None, poll_interval_ms: DEFAULT_POLL_INTERVAL_MS, replay }
    }
}

/// Starts the tail task. The day start is taken from the clock now (this is an edge; the engine is not).
pub fn spawn(
    settings: TailSettings,
    engine: &EngineConfig,
    tx: mpsc::Sender<SourceMsg>,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) {
    let day_start = startup::day_start_epoch(jiff::Timestamp::now(), &engine.tz, engine.day_starts_at);
    tracker.spawn(run(settings, day_start, tx, cancel));
}

/// The whole life of the tail: replay, `ReplayDone`, follow until cancelled (or the engine task is gone).
pub async fn run(
    settings: TailSettings,
    day_start: i64,
    tx: mpsc::Sender<SourceMsg>,
    cancel: CancellationToken,
) {
    let mut wake = Wakeups::new(&settings.path);
    let Some(mut tail) = replay(&settings, day_start, &tx, &cancel).await else { return };
    if send(&tx, &cancel, SourceMsg::ReplayDone).await.is_err() {
        return;
    }
    let mut health = None;
    let interval = Duration::from_millis(settings.poll_interval_ms.max(1));
    loop {
        let Some((next, outcome)) = poll_blocking(tail, &cancel).await else { return };
        tail = next;
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
            _ = tokio::time::sleep(interval) => {}
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
    tokio::select! {
        _ = cancel.cancelled() => Err(Closed),
        sent = tx.send(msg) => sent.map_err(|_| Closed),
    }
}

/// A follower and the decoder for its lines, moved together onto the blocking pool.
struct Tail {
    follower: Follower,
    decoder: Decoder,
}

/// One poll's outcome for the async side.
struct Step {
    events: Vec<crate::engine::Event>,
    notes: Vec<Note>,
    missing: bool,
    more: bool,
}

async fn poll_blocking(mut tail: Tail, cancel: &CancellationToken) -> Option<(Tail, std::io::Result<Step>)> {
    let job = tokio::task::spawn_blocking(move || {
        let mut events = Vec::new();
        let Tail { follower, decoder } = &mut tail;
        let outcome = follower
            .poll(Instant::now(), &mut |line| events.extend(decoder.decode(line)))
            .map(|poll| Step { events, notes: poll.notes, missing: poll.missing, more: poll.more });
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

/// Sends a step's events and health changes; returns whether more data is waiting.
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
    if !step.events.is_empty() {
        send(tx, cancel, SourceMsg::Events(step.events)).await?;
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

/// Replays rotated files and the live file as planned, and returns the live follower positioned at the
/// end of what was replayed. None when cancelled.
async fn replay(
    settings: &TailSettings,
    day_start: i64,
    tx: &mpsc::Sender<SourceMsg>,
    cancel: &CancellationToken,
) -> Option<Tail> {
    let plan = plan_blocking(settings, day_start, cancel).await?;
    for segment in plan.rotated {
        tracing::info!(path = %segment.path.display(), offset = segment.start, "replaying rotated queue_log");
        let tail =
            Tail { follower: Follower::new(&segment.path, segment.start), decoder: Decoder::default() };
        drain_quietly(tail, tx, cancel).await?;
    }
    let start = plan.live_start.unwrap_or(0);
    tracing::info!(path = %settings.path.display(), offset = start, "replaying queue_log");
    let follower = Follower::new(&settings.path, start).with_rotated_glob(settings.rotated_glob.clone());
    drain_quietly(Tail { follower, decoder: Decoder::default() }, tx, cancel).await
}

/// Reads a follower until it has nothing more right now, sending the events (health is reported by the
/// follow loop afterwards).
async fn drain_quietly(
    mut tail: Tail,
    tx: &mpsc::Sender<SourceMsg>,
    cancel: &CancellationToken,
) -> Option<Tail> {
    loop {
        let (next, outcome) = poll_blocking(tail, cancel).await?;
        tail = next;
        let step = match outcome {
            Ok(step) => step,
            Err(e) => {
                tracing::warn!(path = %tail.follower.path().display(), error = %e, "queue_log replay read failed");
                return Some(tail);
            }
        };
        if !step.events.is_empty() {
            send(tx, cancel, SourceMsg::Events(step.events)).await.ok()?;
        }
        if !step.more {
            return Some(tail);
        }
    }
}

async fn plan_blocking(
    settings: &TailSettings,
    day_start: i64,
    cancel: &CancellationToken,
) -> Option<startup::Plan> {
    let (path, glob, mode) = (settings.path.clone(), settings.rotated_glob.clone(), settings.replay);
    let job = tokio::task::spawn_blocking(move || plan_replay(&path, glob.as_deref(), day_start, mode));
    let plan = tokio::select! {
        _ = cancel.cancelled() => return None,
        joined = job => joined.ok()?,
    };
    Some(plan.unwrap_or_else(|e| {
        tracing::warn!(path = %settings.path.display(), error = %e, "cannot plan the queue_log replay; following from the start");
        startup::Plan { rotated: Vec::new(), live_start: Some(0) }
    }))
}

/// The replay plan for `path`: rotated files from `glob`, the day start, the mode.
pub fn plan_replay(
    path: &Path,
    glob: Option<&str>,
    day_start: i64,
    mode: ReplayMode,
) -> std::io::Result<startup::Plan> {
    let rotated = match glob {
        Some(glob) if !glob.is_empty() => startup::rotated_files(glob, path).unwrap_or_else(|e| {
            tracing::warn!(glob, error = %e, "cannot list rotated queue_log files");
            Vec::new()
        }),
        _ => Vec::new(),
    };
    startup::plan(path, &rotated, day_start, mode)
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
