//! Rotation while the start-up replay runs: Asterisk's `logger rotate` (rename `queue_log` away, keep
//! writing the old file for a moment, create a new `queue_log`) at random moments of a large day's replay,
//! and during the daemon's restart after kill -9. Real files, a real redis-server, the real daemon binary:
//! every line is delivered exactly once, and the daemon's final state equals `replay` of all the files.
//! The random moments come from a seed printed by each test (`ROTATION_SEED=N` repeats a run).

mod common;

use common::fixtures::{self, FIXTURES};
use common::redis::{Dumped, RedisServer, dump_pbx};
use queuecast::config::QueueLogConfig;
use queuecast::engine::{Event, EventKind};
use queuecast::sink::Keys;
use queuecast::sources::SourceMsg;
use queuecast::sources::tail::{self, ReplayMode};
use rand::{Rng, SeedableRng};
use redis::AsyncCommands;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_queuecast");
/// Generous: two loaded cores.
const WAIT: Duration = Duration::from_secs(120);

fn rng(test: &str) -> rand::rngs::StdRng {
    let seed = std::env::var("ROTATION_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("{test}: ROTATION_SEED={seed}");
    rand::rngs::StdRng::seed_from_u64(seed)
}

fn append(path: &Path, lines: &[String]) {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    file.write_all(text.as_bytes()).expect("append");
}

/// Asterisk's sequential rotation: `queue_log` becomes `queue_log.N`, the old descriptor still gets
/// `late` lines, then a new `queue_log` is created with `fresh` lines.
fn rotate(dir: &Path, n: usize, late: &[String], fresh: &[String]) {
    let rotated = dir.join(format!("queue_log.{n}"));
    std::fs::rename(dir.join("queue_log"), &rotated).expect("rename");
    append(&rotated, late);
    append(&dir.join("queue_log"), fresh);
}

// ---------------------------------------------------------------------------------------------------------
// The tail alone: every line exactly once.

/// A numbered ENTERQUEUE line of the day starting at `DAY`: its callid identifies it.
fn numbered(n: usize) -> String {
    format!("{}|call-{n}|support|NONE|ENTERQUEUE||5550{n:06}|1", DAY + (n / 100) as i64)
}
const DAY: i64 = 1_795_392_000;

fn numbered_range(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(numbered).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_at_random_moments_of_the_start_up_replay_lose_and_repeat_nothing() {
    let mut rng = rng("tail");
    let dir = tempfile::tempdir().expect("tempdir");
    // A large day: 300k lines in yesterday's rotation-to-be, 100k in the live file.
    append(&dir.path().join("queue_log.1"), &numbered_range(0..300_000));
    append(&dir.path().join("queue_log"), &numbered_range(300_000..400_000));
    let (tx, mut rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let settings = QueueLogConfig {
        path: dir.path().join("queue_log"),
        rotated_glob: dir.path().join("queue_log.*").to_string_lossy().into_owned(),
        ..QueueLogConfig::default()
    };
    tokio::spawn(tail::run(settings, ReplayMode::Today, DAY, tx, cancel.clone()));

    // Three rotations: the first within 20 ms of the start (planning or the rotated file), the others at
    // random moments after it; each with lines still written to the old file and new ones in the new file.
    let root = dir.path().to_owned();
    let delays: Vec<u64> = vec![rng.random_range(0..20), rng.random_range(0..400), rng.random_range(0..400)];
    let rotator = std::thread::spawn(move || {
        let mut next = 400_000;
        let mut at = Vec::new();
        for (i, delay) in delays.into_iter().enumerate() {
            std::thread::sleep(Duration::from_millis(delay));
            rotate(
                &root,
                i + 2,
                &numbered_range(next..next + 500),
                &numbered_range(next + 500..next + 2_000),
            );
            at.push(Instant::now());
            next += 2_000;
        }
        at
    });
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let mut replay_done = None;
    let total = 406_000;
    let deadline = tokio::time::Instant::now() + WAIT;
    while seen.len() < total || replay_done.is_none() {
        let msg = tokio::time::timeout_at(deadline, rx.recv()).await;
        let missing =
            || (0..total).filter(|n| !seen.contains_key(&format!("call-{n}"))).take(3).collect::<Vec<_>>();
        let msg = msg.unwrap_or_else(|_| {
            panic!(
                "timed out with {} distinct lines, replay done {replay_done:?}, missing {:?}",
                seen.len(),
                missing()
            )
        });
        match msg {
            Some(SourceMsg::Events(events)) => {
                for id in events.iter().filter_map(callid) {
                    *seen.entry(id).or_default() += 1;
                }
            }
            Some(SourceMsg::ReplayDone) => replay_done = Some(Instant::now()),
            Some(_) => {}
            None => panic!("tail ended"),
        }
    }
    let rotated_at = rotator.join().expect("rotator");
    let replay_done = replay_done.expect("replay done");
    assert!(rotated_at[0] < replay_done, "the first rotation fell inside the start-up replay");
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(repeated.is_empty(), "lines delivered twice: {repeated:?}");
    let missing: Vec<usize> =
        (0..total).filter(|n| !seen.contains_key(&format!("call-{n}"))).take(5).collect();
    assert!(missing.is_empty(), "lines lost: {missing:?}");
    // And the follow goes on in the last new file.
    append(&dir.path().join("queue_log"), &numbered_range(total..total + 10));
    while seen.len() < total + 10 {
        match tokio::time::timeout_at(deadline, rx.recv()).await.expect("follow after the replay") {
            Some(SourceMsg::Events(events)) => {
                for id in events.iter().filter_map(callid) {
                    *seen.entry(id).or_default() += 1;
                }
            }
            Some(_) => {}
            None => panic!("tail ended"),
        }
    }
    assert!(seen.values().all(|n| *n == 1), "every line exactly once");
    cancel.cancel();
}

fn callid(event: &Event) -> Option<String> {
    match &event.kind {
        EventKind::CallerJoined { uniqueid, .. } => Some(uniqueid.clone()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------------------
// The daemon: rotations during its start-up and during its restart after kill -9; state = replay.

/// Real Asterisk 22 lines: every fixture scenario repeated `copies` times through today (UTC), each copy
/// with its own uniqueids, in time order, all at least two minutes before now.
fn todays_lines(copies: usize) -> Vec<String> {
    let texts: Vec<String> =
        fixtures::queue_logs().iter().map(|p| std::fs::read_to_string(p).expect("read")).collect();
    let now = jiff::Timestamp::now().as_second();
    let midnight = now - now.rem_euclid(86_400);
    let (from, to) = (midnight + 120, (now - 120).max(midnight + 240));
    let step = ((to - from) / (copies * texts.len()) as i64).max(1);
    let mut lines = Vec::new();
    for k in 0..copies * texts.len() {
        let text = &texts[k % texts.len()];
        let rows: Vec<&str> =
            text.lines().map(|l| l.trim_end_matches('\r')).filter(|l| l.contains('|')).collect();
        let epoch = |l: &str| l.split('|').next().and_then(|e| e.parse::<i64>().ok()).unwrap_or(0);
        let first = rows.first().map_or(0, |l| epoch(l));
        let base = from + k as i64 * step;
        for row in rows {
            let mut fields = row.splitn(3, '|');
            let (_, uniqueid, rest) =
                (fields.next(), fields.next().unwrap_or(""), fields.next().unwrap_or(""));
            let t = base + (epoch(row) - first).clamp(0, step - 1);
            let uniqueid = if uniqueid == "NONE" { uniqueid.to_owned() } else { format!("{uniqueid}-{k}") };
            lines.push(format!("{t}|{uniqueid}|{rest}"));
        }
    }
    lines
}

async fn meta(redis: &RedisServer, pbx: &str) -> Option<String> {
    let mut conn = redis.conn().await;
    let queuecast::sink::RedisConn::Single(c) = &mut conn else { return None };
    c.hget(Keys::new("queuecast", pbx).meta(), "queue_log").await.ok()
}

async fn following(redis: &RedisServer, pbx: &str) {
    let deadline = Instant::now() + WAIT;
    while meta(redis, pbx).await.as_deref() != Some("following") {
        assert!(Instant::now() < deadline, "daemon never reached following");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Agents, queues, waiting lists and sets (call hashes expire on their own schedule, see tests/daemon.rs).
async fn dump(redis: &RedisServer, pbx: &str) -> BTreeMap<String, Dumped> {
    let mut conn = redis.conn().await;
    let mut dump = dump_pbx(&mut conn, &Keys::new("queuecast", pbx), false).await;
    dump.retain(|key, _| !key.starts_with(":call:"));
    dump
}

fn replay_to_redis(redis: &RedisServer, files: &[PathBuf], pbx: &str) {
    let status = Command::new(BIN)
        .arg("replay")
        .arg("--queue-log")
        .args(files)
        .arg("--queues-conf")
        .arg(Path::new(FIXTURES).join("asterisk-conf/queues.conf"))
        .args(["--redis", &redis.url(), "--pbx", pbx, "--until"])
        .arg(jiff::Timestamp::now().as_second().to_string())
        .status()
        .expect("run replay");
    assert!(status.success(), "replay --redis failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_start_up_and_restart_after_kill_9_survive_rotations_with_the_replay_state() {
    let mut rng = rng("daemon");
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let lines = todays_lines(400);
    let n = lines.len();
    let cut = |a: usize, b: usize| lines[n * a / 100..n * b / 100].to_vec();
    append(&root.join("queue_log.1"), &cut(0, 40));
    append(&root.join("queue_log"), &cut(40, 60));
    let config = root.join("queuecast.toml");
    std::fs::write(
        &config,
        format!(
            "[queue_log]\npath = \"{ql}\"\nrotated_glob = \"{ql}.*\"\n\n[ami]\nenabled = false\n\n[redis]\nurl = \"{url}\"\npbx_id = \"daemon\"\nqueue_update_interval_ms = 20\n\n[log]\nlevel = \"info\"\nformat = \"text\"\n\n[engine]\nqueues_conf = \"{FIXTURES}/asterisk-conf/queues.conf\"\ntimezone = \"UTC\"\n",
            ql = root.join("queue_log").display(),
            url = redis.url(),
        ),
    )
    .expect("config");

    // First start: a rotation at a random moment of its start-up.
    let mut daemon = common::daemon::spawn(&config, &[]);
    tokio::time::sleep(Duration::from_millis(rng.random_range(0..150))).await;
    rotate(root, 2, &cut(60, 65), &cut(65, 75));
    following(&redis, "daemon").await;
    append(&root.join("queue_log"), &cut(75, 80));
    tokio::time::sleep(Duration::from_millis(rng.random_range(0..200))).await;
    daemon.kill_9();
    // Written while it is dead, then a restart with another rotation during its start-up.
    append(&root.join("queue_log"), &cut(80, 85));
    let _daemon = common::daemon::spawn(&config, &[]);
    tokio::time::sleep(Duration::from_millis(rng.random_range(0..150))).await;
    rotate(root, 3, &cut(85, 90), &cut(90, 100));
    following(&redis, "daemon").await;

    let files: Vec<PathBuf> =
        ["queue_log.1", "queue_log.2", "queue_log.3", "queue_log"].iter().map(|f| root.join(f)).collect();
    let deadline = Instant::now() + WAIT;
    loop {
        replay_to_redis(&redis, &files, "replay");
        let (live, replayed) = (dump(&redis, "daemon").await, dump(&redis, "replay").await);
        if !live.is_empty() && live == replayed {
            break;
        }
        if Instant::now() > deadline {
            for key in live.keys().chain(replayed.keys()) {
                if live.get(key) != replayed.get(key) {
                    eprintln!("{key}:\n  daemon {:?}\n  replay {:?}", live.get(key), replayed.get(key));
                }
            }
            panic!("the daemon's state differs from replay of all the files");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
