//! Chaos with real parts (issue 16): the daemon process fed a real Asterisk 22 flow recording — its queue_log
//! appended in pieces to a real file, its AMI bytes replayed by the fake Asterisk — while faults come one
//! after another: rename+create rotation, copytruncate, kill -9 of the daemon and restart, Redis killed
//! (for `QUEUECAST_CHAOS_REDIS_DOWN_S` seconds, default 3; the README says how to run it with 70) and
//! restarted empty, Redis SIGSTOPped then continued, the AMI connection dropped mid-message. The final
//! Redis state, call records included, equals what `replay --redis` writes into a second fresh Redis from
//! the same inputs; a stream consumer following the gap-free protocol throughout never sees a gap within an
//! epoch and ends equal to the hashes.

mod common;

use common::daemon::*;
use common::fake_ami::{Capture, FakeAmi, Faults};
use common::redis::{RedisServer, eventually, free_port};
use queuecast::config::RedisConfig;
use queuecast::sink::message::MessageType;
use queuecast::sink::reader::{self, Applied, StateView};
use queuecast::sink::{Keys, RedisConn};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// How long Redis stays dead; the "longer than a minute" is `QUEUECAST_CHAOS_REDIS_DOWN_S=70`.
const REDIS_DOWN_ENV: &str = "QUEUECAST_CHAOS_REDIS_DOWN_S";
const DEFAULT_REDIS_DOWN_S: u64 = 3;
/// How long Redis stays stopped: longer than the sink's 3 s response timeout, so the batch in flight fails.
const REDIS_STOPPED: Duration = Duration::from_secs(4);
/// The consumer's XREAD BLOCK: well under the client's 3 s response timeout.
const CONSUMER_BLOCK_MS: u64 = 200;
/// Between a consumer's retries while Redis is away.
const CONSUMER_RETRY: Duration = Duration::from_millis(100);

fn redis_down() -> Duration {
    let secs =
        std::env::var(REDIS_DOWN_ENV).ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_REDIS_DOWN_S);
    Duration::from_secs(secs)
}

/// What the consumer saw, for the assertions.
#[derive(Debug, Default)]
struct Followed {
    view: StateView,
    applied: usize,
    snapshots: usize,
    epochs: Vec<String>,
    gaps: Vec<String>,
}

/// A consumer following the gap-free protocol (DESIGN "Gap-free consumer"): snapshot (MULTI of meta.seq and
/// the hashes), then XREAD from seq; a new epoch or `resync` ⇒ snapshot again. A message of the same epoch
/// that is neither the next seq nor a resync is a gap. Redis errors (outages) ⇒ reconnect and re-snapshot.
/// `progress` is the seq the consumer's state is at, for the test to wait on.
async fn follow(url: String, keys: Keys, stop: Arc<AtomicBool>, progress: Arc<AtomicU64>) -> Followed {
    let mut seen = Followed::default();
    let mut conn: Option<RedisConn> = None;
    let mut fresh = true;
    while !stop.load(Ordering::SeqCst) {
        progress.store(seen.view.seq, Ordering::SeqCst);
        if conn.is_none() {
            conn = RedisConn::connect(&RedisConfig::new(url.clone())).await.ok();
            fresh = true;
        }
        let Some(c) = conn.as_mut() else {
            tokio::time::sleep(CONSUMER_RETRY).await;
            continue;
        };
        if fresh || seen.view.epoch.is_empty() {
            match reader::read_snapshot(c, &keys).await {
                Ok(view) if !view.epoch.is_empty() => {
                    if seen.epochs.last() != Some(&view.epoch) {
                        seen.epochs.push(view.epoch.clone());
                    }
                    seen.view = view;
                    seen.snapshots += 1;
                    fresh = false;
                }
                Ok(_) => tokio::time::sleep(CONSUMER_RETRY).await,
                Err(_) => conn = None,
            }
            continue;
        }
        match reader::read_stream(c, &keys, seen.view.seq, 1_000, CONSUMER_BLOCK_MS).await {
            Ok(msgs) => fresh = apply_all(&mut seen, &msgs),
            Err(_) => conn = None,
        }
    }
    seen
}

/// Applies messages in order; true when a new snapshot is needed.
fn apply_all(seen: &mut Followed, msgs: &[queuecast::sink::message::Message]) -> bool {
    for msg in msgs {
        match seen.view.apply(msg) {
            Applied::Applied => seen.applied += 1,
            Applied::Skipped => {}
            Applied::NeedSnapshot => {
                let same_epoch = msg.epoch == seen.view.epoch;
                if same_epoch && msg.kind != MessageType::Resync {
                    seen.gaps.push(format!("seq {} after {} in epoch {}", msg.seq, seen.view.seq, msg.epoch));
                }
                return true;
            }
        }
    }
    false
}

/// The daemon with its log in `dir/name`, so the test can wait for what it says.
fn start_logged(setup: &Setup, config: &Path, name: &str) -> (Daemon, std::path::PathBuf) {
    let log = setup.dir.path().join(name);
    let child = Command::new(env!("CARGO_BIN_EXE_queuecast"))
        .args(["run", "--config"])
        .arg(config)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start queuecast run");
    (Daemon(Some(child)), log)
}

async fn log_says(log: &Path, text: &str) {
    eventually(WAIT, text, || {
        std::future::ready(std::fs::read_to_string(log).unwrap_or_default().contains(text))
    })
    .await;
}

async fn following(setup: &Setup) -> bool {
    setup.meta("daemon", "queue_log").await.as_deref() == Some("following")
}

/// The lines go to the live queue_log and to the file `replay` reads (everything the daemon was given).
fn feed(setup: &Setup, lines: &[String]) {
    append(&setup.queue_log(), lines);
    append(setup.replay_input.as_deref().expect("replay input"), lines);
}

/// logrotate's `copytruncate`: queue_log.1 → queue_log.2, queue_log copied to queue_log.1, then truncated.
fn copytruncate(queue_log: &Path) {
    let rotated = |n: u32| queue_log.with_file_name(format!("queue_log.{n}"));
    std::fs::rename(rotated(1), rotated(2)).expect("shift queue_log.1");
    std::fs::copy(queue_log, rotated(1)).expect("copy");
    std::fs::OpenOptions::new().write(true).open(queue_log).expect("open").set_len(0).expect("truncate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_ends_in_the_replay_state_and_the_stream_has_no_gap() {
    let mut setup = Setup::new();
    setup.replay_redis = Some(RedisServer::start());
    setup.replay_input = Some(setup.dir.path().join("all-inputs.queue_log"));
    setup.with_calls = true;
    let dir = flow("overflow-chain");
    let (lines, shift_s) = shifted(&dir);
    let pieces: Vec<Vec<String>> = lines.chunks(lines.len().div_ceil(6)).map(<[String]>::to_vec).collect();
    assert_eq!(pieces.len(), 6, "one piece per fault and one to start with");
    let capture = Capture::load_timestamped(&dir, shift_s * 1000);
    let events = capture.events.len();
    let replay_capture = setup.dir.path().join("ami.raw");
    write_capture(&replay_capture, &capture, &dir);

    let keys = Keys::new("queuecast", "daemon");
    let done = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    let consumer = tokio::spawn(follow(setup.redis.url(), keys.clone(), done.clone(), progress.clone()));
    let ami_port = free_port();
    let config = setup.write_config_for("daemon", Some(ami_port));

    feed(&setup, &pieces[0]);
    let (mut daemon, log) = start_logged(&setup, &config, "daemon-1.log");
    eventually(WAIT, "daemon follows queue_log", || following(&setup)).await;
    eventually(WAIT, "the consumer follows", || std::future::ready(progress.load(Ordering::SeqCst) > 0))
        .await;

    // Rename + create rotation.
    let queue_log = setup.queue_log();
    std::fs::rename(&queue_log, queue_log.with_file_name("queue_log.1")).expect("rotate");
    feed(&setup, &pieces[1]);
    log_says(&log, "queue_log rotated").await;

    copytruncate(&queue_log);
    feed(&setup, &pieces[2]);
    log_says(&log, "queue_log truncated").await;

    // kill -9; lines written while it is dead; the new daemon reads them and the rotated files again.
    daemon.kill_9();
    feed(&setup, &pieces[3]);
    let (daemon, log) = start_logged(&setup, &config, "daemon-2.log");
    eventually(WAIT, "restarted daemon follows queue_log", || following(&setup)).await;

    // Asterisk's AMI comes up; the connection drops in the middle of an event, the daemon reconnects.
    let faults =
        Faults { drop_in_event: Some((events / 2, 10)), status_after_events: true, ..Faults::default() };
    let ami = FakeAmi::start_on(ami_port, capture, faults).await;
    eventually(WAIT, "AMI dropped and back, every event streamed", || {
        let seen = ami.seen();
        std::future::ready(seen.dropped && seen.logins_ok >= 2 && seen.next_event == events)
    })
    .await;

    // Redis killed, lines meanwhile, restarted empty.
    let down = redis_down();
    setup.redis.stop();
    feed(&setup, &pieces[4]);
    tokio::time::sleep(down).await;
    setup.redis.restart();
    eventually(WAIT + down, "state rewritten into the empty Redis", || following(&setup)).await;

    // Redis stopped (a hung host) with lines meanwhile, then continued.
    setup.redis.pause();
    feed(&setup, &pieces[5]);
    tokio::time::sleep(REDIS_STOPPED).await;
    setup.redis.resume();

    assert_converges_with(&setup, "daemon", "replay", Some(&replay_capture)).await;
    let dump = setup.dump(&setup.redis, "daemon").await;
    let calls = dump.keys().filter(|k| k.starts_with(":call:")).count();
    assert!(calls >= 3, "call records were compared: {calls}");
    let final_view = {
        let mut conn = setup.redis.conn().await;
        reader::read_snapshot(&mut conn, &keys).await.expect("snapshot")
    };
    eventually(WAIT, "the consumer caught up", || {
        std::future::ready(progress.load(Ordering::SeqCst) == final_view.seq)
    })
    .await;
    done.store(true, Ordering::SeqCst);
    let seen = consumer.await.expect("consumer task");
    eprintln!("consumer: {} snapshots, {} applied, epochs {:?}", seen.snapshots, seen.applied, seen.epochs);
    assert!(seen.gaps.is_empty(), "gaps within an epoch: {:?}", seen.gaps);
    assert!(seen.epochs.len() >= 2, "the kill -9 started a new epoch: {:?}", seen.epochs);
    assert!(seen.snapshots >= 3, "re-snapshots after the restart and the outages: {}", seen.snapshots);
    assert!(seen.applied > 0, "messages were followed");
    assert_eq!(seen.view.epoch, final_view.epoch);
    assert_eq!(seen.view.seq, final_view.seq, "the consumer ends at the last message");
    assert_eq!(seen.view.agents, final_view.agents);
    assert_eq!(seen.view.queues, final_view.queues);
    assert_eq!(seen.view.waiting, final_view.waiting);
    assert_eq!(stop(daemon).code(), Some(0), "{}", std::fs::read_to_string(&log).unwrap_or_default());
}
