//! Rotations at fixed points between planning and the first look: real files in a temp dir, the lines
//! counted as the engine would get them.

use super::*;
use crate::engine::EventKind;
use crate::sources::SourceMsg;
use crate::sources::tail::ReplayMode;
use crate::sources::tail::history::History;
use crate::sources::tail::startup::{open_plan, rotated_files};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const DAY: i64 = 1_795_392_000;

fn append(path: &Path, lines: std::ops::Range<usize>) {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open");
    let text: String = lines
        .map(|n| format!("{}|call-{n}|support|NONE|ENTERQUEUE||5550{n:06}|1\n", DAY + n as i64))
        .collect();
    file.write_all(text.as_bytes()).expect("append");
}

struct Setup {
    dir: tempfile::TempDir,
    settings: QueueLogConfig,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = QueueLogConfig {
            path: dir.path().join("queue_log"),
            rotated_glob: dir.path().join("queue_log.*").to_string_lossy().into_owned(),
            ..QueueLogConfig::default()
        };
        Self { dir, settings }
    }

    fn file(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// `logger rotate`: the live file becomes `queue_log.N`, then a new one gets `fresh`.
    fn rotate(&self, n: usize, fresh: std::ops::Range<usize>) {
        std::fs::rename(self.file("queue_log"), self.file(&format!("queue_log.{n}"))).expect("rename");
        append(&self.file("queue_log"), fresh);
    }

    fn plan(&self) -> (OpenPlan, SystemTime) {
        let planned_at = SystemTime::now();
        let glob = self.settings.rotated_glob.clone();
        let live = self.settings.path.clone();
        let plan = open_plan(&live, || rotated_files(&glob, &live), DAY, ReplayMode::Whole).expect("plan");
        (plan, planned_at)
    }
}

/// Runs the replay (and `polls` more polls of the follower it returns); every callid with its count.
fn lines_seen(
    setup: &Setup,
    plan: OpenPlan,
    planned_at: SystemTime,
    between: impl FnOnce(),
) -> BTreeMap<String, u32> {
    let (tx, mut rx) = mpsc::channel(1 << 12);
    let mut batcher = Batcher::new(tx, CancellationToken::new(), History::everything());
    let mut follower = replay(plan, planned_at, &setup.settings, &mut batcher).expect("replay");
    between();
    follower.poll(Instant::now(), &mut batcher).expect("poll");
    batcher.flush();
    drop(batcher);
    let mut seen = BTreeMap::new();
    while let Ok(msg) = rx.try_recv() {
        let SourceMsg::Events(events) = msg else { continue };
        for event in events {
            if let EventKind::CallerJoined { uniqueid, .. } = event.kind {
                *seen.entry(uniqueid).or_default() += 1;
            }
        }
    }
    seen
}

fn assert_exactly_once(seen: &BTreeMap<String, u32>, total: usize) {
    let missing: Vec<usize> = (0..total).filter(|n| !seen.contains_key(&format!("call-{n}"))).collect();
    assert!(missing.is_empty(), "lines lost: {missing:?}");
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "lines delivered twice: {repeated:?}");
    assert_eq!(seen.len(), total);
}

#[test]
fn a_live_file_missing_at_planning_and_rotated_twice_before_the_first_look_is_read_whole() {
    let setup = Setup::new();
    append(&setup.file("queue_log.1"), 0..10);
    append(&setup.file("queue_log.2"), 10..20);
    let (plan, planned_at) = setup.plan();
    assert!(plan.live.is_none());
    // Created after planning, then rotated away twice before the follower first looks.
    append(&setup.file("queue_log"), 20..30);
    setup.rotate(3, 30..40);
    setup.rotate(4, 40..50);
    let seen = lines_seen(&setup, plan, planned_at, || append(&setup.file("queue_log"), 50..55));
    assert_exactly_once(&seen, 55);
}

#[test]
fn a_rotated_file_of_the_plan_still_written_after_its_replay_is_read_to_its_new_end() {
    let setup = Setup::new();
    append(&setup.file("queue_log"), 0..10);
    setup.rotate(1, 10..20);
    let (plan, planned_at) = setup.plan();
    assert_eq!(plan.rotated.len(), 1);
    // The writer has not reopened the path yet: its last lines go to the renamed file.
    let seen = lines_seen(&setup, plan, planned_at, || append(&setup.file("queue_log.1"), 20..25));
    assert_exactly_once(&seen, 25);
}

#[test]
fn a_live_file_rotated_twice_between_planning_and_the_replay_loses_nothing() {
    let setup = Setup::new();
    append(&setup.file("queue_log.1"), 0..10);
    append(&setup.file("queue_log"), 10..20);
    let (plan, planned_at) = setup.plan();
    setup.rotate(2, 20..30);
    append(&setup.file("queue_log.2"), 30..35);
    setup.rotate(3, 35..45);
    let seen = lines_seen(&setup, plan, planned_at, || append(&setup.file("queue_log"), 45..50));
    assert_exactly_once(&seen, 50);
}
