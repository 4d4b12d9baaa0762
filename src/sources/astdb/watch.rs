//! Re-reading astdb when Asterisk changes it, so a member added by name after the start (CLI `queue add
//! member … as "Name"`, AMI QueueAdd, AddQueueMember) is known by the time queue_log names it.
//!
//! Only the name ↔ interface pairs of a re-read reach the engine (`EventKind::MemberNamed`). Membership and
//! pause are taken from astdb once, at start (`daemon::pbx_files::engine_setup`): later, queue_log says them first
//! and exactly, while astdb is committed up to a second late, and a stale copy must not undo a newer line.

use super::{AstdbError, Stamp, read};
use crate::engine::{Event, EventKind, Source};
use crate::normalize::static_members::StaticMember;
use crate::sources::SourceMsg;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// After a change notification, wait this long for more before reading: Asterisk's commit writes the file
/// and then deletes its journal, and several changes in a burst are one read.
const SETTLE: Duration = Duration::from_millis(300);
/// Look at the file this often without a notification: inotify may be unavailable (container, NFS) or the
/// directory may appear only later.
const FALLBACK_CHECK: Duration = Duration::from_secs(30);

/// Name → interface as last sent to the engine.
type Pairs = BTreeMap<String, String>;

/// Follows the astdb at `path` until `cancel`; `known` are the pairs the engine already has from the start.
pub fn spawn(
    path: PathBuf,
    known: &[StaticMember],
    tx: mpsc::Sender<SourceMsg>,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) {
    let sent = pairs(known);
    tracker.spawn(run(path, sent, tx, cancel));
}

async fn run(path: PathBuf, mut sent: Pairs, tx: mpsc::Sender<SourceMsg>, cancel: CancellationToken) {
    let (wake_tx, mut wake_rx) = mpsc::channel(1);
    let mut watcher = watch_dir(&path, wake_tx.clone());
    let mut failing: Option<String> = None;
    let mut read_at = Stamp::of(&path).ok();
    loop {
        let notified = tokio::select! {
            _ = cancel.cancelled() => return,
            _ = wake_rx.recv() => true,
            _ = tokio::time::sleep(FALLBACK_CHECK) => false,
        };
        // The periodic look reads only a file that changed since the last read.
        let stamp = Stamp::of(&path).ok();
        if !notified && stamp.is_some() && stamp == read_at {
            continue;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(SETTLE) => {}
        }
        while wake_rx.try_recv().is_ok() {}
        if watcher.is_none() {
            watcher = watch_dir(&path, wake_tx.clone());
        }
        read_at = Stamp::of(&path).ok();
        let file = path.clone();
        let Ok(result) = tokio::task::spawn_blocking(move || read(&file)).await else { return };
        let members = match result {
            Ok((members, _bad)) => {
                if let Some(reason) = failing.take() {
                    tracing::info!(path = %path.display(), was = %reason, "astdb readable again");
                }
                members
            }
            Err(err) => {
                report(&path, &err, &mut failing);
                continue;
            }
        };
        let now = pairs(&members);
        let events: Vec<Event> = now
            .iter()
            .filter(|(name, interface)| sent.get(*name) != Some(interface))
            .map(|(name, interface)| named(interface, name))
            .collect();
        sent = now;
        if !events.is_empty() {
            tokio::select! {
                _ = cancel.cancelled() => return,
                result = tx.send(SourceMsg::Events(events)) => if result.is_err() { return },
            }
        }
    }
}

/// An outage of the file is said once (WARN; a missing file, the normal case without persistent members,
/// at INFO), and once when it ends.
fn report(path: &Path, err: &AstdbError, failing: &mut Option<String>) {
    let reason = err.to_string();
    if matches!(err, AstdbError::Changing { .. }) || failing.as_deref() == Some(reason.as_str()) {
        return;
    }
    if err.is_missing() {
        tracing::info!(path = %path.display(), "astdb not found; member names come from queues.conf and [engine.members]");
    } else {
        tracing::warn!(path = %path.display(), error = %reason, "astdb not readable; keeping the member names known so far");
    }
    *failing = Some(reason);
}

/// Named pairs only: an unnamed member's name is its interface, which needs no resolving.
fn pairs(members: &[StaticMember]) -> Pairs {
    members.iter().filter_map(|m| Some((m.name.clone()?, m.interface.clone()))).collect()
}

fn named(interface: &str, name: &str) -> Event {
    Event {
        ts_ms: 0,
        source: Source::Clock,
        actor: None,
        kind: EventKind::MemberNamed { interface: interface.to_owned(), name: name.to_owned() },
    }
}

/// Watches the directory (Asterisk's commit touches the file and creates/deletes `astdb.sqlite3-journal`).
fn watch_dir(path: &Path, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let name = path.file_name()?.to_os_string();
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let relevant = event.map_or(true, |event| {
            event.paths.iter().any(|p| {
                p.file_name().is_some_and(|n| n.as_encoded_bytes().starts_with(name.as_encoded_bytes()))
            })
        });
        if relevant {
            let _ = tx.try_send(());
        }
    });
    let mut watcher = watcher.ok()?;
    watcher.watch(dir, notify::RecursiveMode::NonRecursive).ok()?;
    Some(watcher)
}
