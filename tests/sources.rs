//! The sources against real parts: a real queue_log file appended and rotated by the test while the tail
//! runs, and an in-process fake AMI server replaying real Asterisk 22 bytes.

mod common;

use common::fake_ami::{Capture, FakeAmi, Faults, SECRET, USERNAME, tls_acceptor};
use queuecast::config::QueueLogConfig;
use queuecast::config::Secret;
use queuecast::config::{AmiConfig, AuthMethod};
use queuecast::engine::{Event, EventKind};
use queuecast::normalize::ami::AmiNormalizer;
use queuecast::sources::tail;
use queuecast::sources::tail::startup::{self, ReplayMode};
use queuecast::sources::{AmiHealth, QueueLogHealth, SourceMsg};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Generous: a loaded 2-core machine must not make these flaky.
const DEADLINE: Duration = Duration::from_secs(30);
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/asterisk-22");

// ---------------------------------------------------------------------------------------------------------
// queue_log tail

/// A numbered ENTERQUEUE line: its callid identifies it in the events.
fn line(n: usize) -> String {
    format!("{}|call-{n}|support|NONE|ENTERQUEUE||5550{n:04}|1\n", 1_795_382_000 + n)
}

fn append(path: &Path, range: std::ops::Range<usize>) {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    for n in range {
        file.write_all(line(n).as_bytes()).unwrap();
    }
}

/// Collects what the tail sends: callids of the lines seen (with repeats), health, ReplayDone position.
#[derive(Default)]
struct Seen {
    callids: Vec<String>,
    health: Vec<QueueLogHealth>,
    replay_done_at: Option<usize>,
}

impl Seen {
    fn take(&mut self, msg: SourceMsg) {
        match msg {
            SourceMsg::Events(events) => self.callids.extend(events.iter().filter_map(caller_uniqueid)),
            SourceMsg::ReplayDone => self.replay_done_at = Some(self.callids.len()),
            SourceMsg::QueueLog(health) => self.health.push(health),
            SourceMsg::Ami(_) => {}
        }
    }
}

fn caller_uniqueid(event: &Event) -> Option<String> {
    match &event.kind {
        EventKind::CallerJoined { uniqueid, .. } => Some(uniqueid.clone()),
        _ => None,
    }
}

struct Tail {
    dir: tempfile::TempDir,
    rx: mpsc::Receiver<SourceMsg>,
    seen: Seen,
    cancel: CancellationToken,
}

impl Tail {
    fn path(&self) -> PathBuf {
        self.file("queue_log")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Appends lines `range` to the live file.
    fn append(&self, range: std::ops::Range<usize>) {
        append(&self.path(), range);
    }

    /// Truncates the live file in place, as copytruncate or `> queue_log` does.
    fn truncate(&self) {
        std::fs::OpenOptions::new().write(true).open(self.path()).unwrap().set_len(0).unwrap();
    }

    async fn until_health(&mut self, health: QueueLogHealth) {
        self.until(&format!("{health:?}"), |s| s.health.last() == Some(&health)).await;
    }

    fn start(dir: tempfile::TempDir, mode: ReplayMode, day_start: i64) -> Tail {
        let (tx, rx) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        let settings = QueueLogConfig {
            path: dir.path().join("queue_log"),
            rotated_glob: dir.path().join("queue_log.*").to_string_lossy().into_owned(),
            ..QueueLogConfig::default()
        };
        tokio::spawn(tail::run(settings, mode, day_start, tx, cancel.clone()));
        Tail { dir, rx, seen: Seen::default(), cancel }
    }

    /// Receives until `done` holds (or fails after the deadline).
    async fn until(&mut self, what: &str, done: impl Fn(&Seen) -> bool) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while !done(&self.seen) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(msg)) => self.seen.take(msg),
                _ => panic!("timed out waiting for {what}; saw {} lines", self.seen.callids.len()),
            }
        }
    }

    /// Waits until lines `0..n` were all seen, then checks each exactly once.
    async fn expect_all(&mut self, n: usize) {
        self.until(&format!("{n} lines"), |s| s.callids.len() >= n).await;
        let mut counts = BTreeMap::new();
        for id in &self.seen.callids {
            *counts.entry(id.clone()).or_insert(0) += 1;
        }
        let missing: Vec<_> = (0..n).filter(|i| !counts.contains_key(&format!("call-{i}"))).collect();
        let repeated: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
        assert!(missing.is_empty() && repeated.is_empty(), "missing {missing:?}, repeated {repeated:?}");
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn started(initial: usize) -> Tail {
    let dir = tempfile::tempdir().unwrap();
    append(&dir.path().join("queue_log"), 0..initial);
    let mut tail = Tail::start(dir, ReplayMode::Whole, 0);
    tail.until("replay", |s| s.replay_done_at.is_some()).await;
    assert_eq!(tail.seen.replay_done_at, Some(initial));
    tail
}

#[tokio::test]
async fn tail_follows_rename_and_create_rotation() {
    let mut tail = started(50).await;
    tail.append(50..100);
    // Asterisk `logger rotate`: rename, lines still reach the old inode until the reopen, then a new file.
    std::fs::rename(tail.path(), tail.file("queue_log.0")).unwrap();
    append(&tail.file("queue_log.0"), 100..120);
    tail.append(120..200);
    tail.expect_all(200).await;
}

#[tokio::test]
async fn tail_recovers_unread_lines_after_copytruncate() {
    let mut tail = started(50).await;
    tail.append(50..150);
    // logrotate copytruncate, possibly before the tail read lines 50..150: they are recovered from the copy.
    std::fs::copy(tail.path(), tail.file("queue_log.1")).unwrap();
    tail.truncate();
    tail.append(150..200);
    tail.expect_all(200).await;
}

#[tokio::test]
async fn tail_restarts_after_plain_truncation() {
    let mut tail = started(20).await;
    tail.append(20..60);
    tail.expect_all(60).await;
    tail.truncate();
    tail.append(60..65);
    tail.expect_all(65).await;
}

#[tokio::test]
async fn tail_reports_deletion_and_resumes_on_recreation() {
    let mut tail = started(10).await;
    tail.append(10..30);
    std::fs::remove_file(tail.path()).unwrap();
    tail.until_health(QueueLogHealth::Missing).await;
    tail.append(30..60);
    tail.expect_all(60).await;
    tail.until_health(QueueLogHealth::Following).await;
}

#[tokio::test]
async fn tail_buffers_partial_lines() {
    let mut tail = started(5).await;
    let path = tail.path();
    let whole = line(5);
    let (head, rest) = whole.split_at(17);
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(head.as_bytes()).unwrap();
    // Let the tail read the fragment (a chance, not an assertion: either way the line must come out whole).
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(rest.as_bytes()).unwrap();
    append(&path, 6..10);
    tail.expect_all(10).await;
}

/// Yesterday evening and this morning in the rotated file, the rest of today in the live one.
#[tokio::test]
async fn start_up_replays_from_the_day_start_across_the_rotated_file() {
    let dir = tempfile::tempdir().unwrap();
    let day_start = 1_795_392_000; // some midnight
    let stamp = |n: usize| day_start - 5000 + 100 * n as i64; // lines 0..50 before the day start, 50.. after
    let write = |path: PathBuf, range: std::ops::Range<usize>| {
        let text: String = range.map(|n| format!("{}|call-{n}|q|NONE|ENTERQUEUE||1|1\n", stamp(n))).collect();
        std::fs::write(path, text).unwrap();
    };
    write(dir.path().join("queue_log.1"), 0..80);
    write(dir.path().join("queue_log"), 80..120);
    let plan = tail::plan_replay(
        &dir.path().join("queue_log"),
        Some(&dir.path().join("queue_log.*").to_string_lossy()),
        day_start,
        ReplayMode::Today,
    )
    .unwrap();
    // The margin reaches back one line (100 s apart, 60 s margin): line 49 is 100 s before, so not taken.
    let first_today = line_offset(&dir.path().join("queue_log.1"), 50);
    assert_eq!(
        plan.rotated,
        vec![startup::Segment { path: dir.path().join("queue_log.1"), start: first_today }]
    );
    assert_eq!(plan.live_start, Some(0));

    let mut tail = Tail::start(dir, ReplayMode::Today, day_start);
    tail.until("replay", |s| s.replay_done_at.is_some()).await;
    let expected: Vec<String> = (50..120).map(|n| format!("call-{n}")).collect();
    assert_eq!(tail.seen.callids, expected);
}

fn line_offset(path: &Path, n: usize) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().take_while(|l| !l.contains(&format!("|call-{n}|"))).map(|l| l.len() as u64 + 1).sum()
}

#[test]
fn binary_search_finds_the_first_line_of_the_day_in_a_large_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue_log");
    let text: String =
        (0..50_000).map(|n| format!("{}|c{n}|q|NONE|RINGNOANSWER|1000\n", 1_000_000 + n)).collect();
    std::fs::write(&path, &text).unwrap();
    for target in [999_000, 1_000_000, 1_000_001, 1_012_345, 1_049_999, 1_050_000] {
        let offset = startup::offset_at_or_after(&path, target).unwrap() as usize;
        let expected = text.find(&format!("{target}|")).unwrap_or(text.len());
        let expected = if target < 1_000_000 { 0 } else { expected };
        assert_eq!(offset, expected, "target {target}");
    }
}

// ---------------------------------------------------------------------------------------------------------
// AMI client

fn settings(fake: &FakeAmi, auth: AuthMethod) -> AmiConfig {
    let mut settings = AmiConfig::new("127.0.0.1", fake.addr.port(), USERNAME, Secret::new(SECRET));
    settings.auth = auth;
    settings.backoff_min_ms = 10;
    settings.backoff_max_ms = 200;
    settings
}

/// Runs the client against `fake` until it delivered `snapshots` QueueStatus answers, then returns
/// everything it sent. The last QueueStatus is asked for on the fake's final Reload, i.e. after every
/// earlier message was handled, so nothing is in flight when the last snapshot arrives.
async fn run_client(fake: &FakeAmi, settings: AmiConfig, snapshots: usize) -> Vec<SourceMsg> {
    let (tx, mut rx) = mpsc::channel(1024);
    let cancel = CancellationToken::new();
    let client =
        tokio::spawn(queuecast::sources::ami::run(settings, AmiNormalizer::default(), tx, cancel.clone()));
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut received = Vec::new();
    while snapshot_count(&received) < snapshots {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(msg)) => received.push(msg),
            Ok(None) => break,
            Err(_) => panic!("timed out: the fake saw {:?}", fake.seen().actions),
        }
    }
    cancel.cancel();
    client.await.unwrap();
    while let Ok(msg) = rx.try_recv() {
        received.push(msg);
    }
    received
}

fn snapshot_count(messages: &[SourceMsg]) -> usize {
    let events = messages.iter().filter_map(|m| match m {
        SourceMsg::Events(events) => Some(events.iter()),
        _ => None,
    });
    events.flatten().filter(|e| matches!(e.kind, EventKind::StatusSnapshot(_))).count()
}

/// The event kinds, without resync snapshots (asked for once per connection) and receive times.
fn kinds(messages: &[SourceMsg]) -> Vec<EventKind> {
    messages
        .iter()
        .filter_map(|m| match m {
            SourceMsg::Events(events) => Some(events.iter().map(|e| e.kind.clone())),
            _ => None,
        })
        .flatten()
        .filter(|kind| !matches!(kind, EventKind::StatusSnapshot(_)))
        .collect()
}

/// The engine's final state after every event of a run (resync snapshots included), with `status_since`
/// removed: it comes from receive times, which differ between two runs.
fn final_state(messages: &[SourceMsg]) -> queuecast::engine::Snapshot {
    let mut engine = queuecast::engine::Engine::new(Default::default());
    for msg in messages {
        if let SourceMsg::Events(events) = msg {
            for event in events {
                engine.apply(event);
            }
        }
    }
    let mut snapshot = engine.snapshot();
    for fields in snapshot.agents.values_mut() {
        fields.remove("status_since");
    }
    snapshot
}

fn capture(scenario: &str) -> Capture {
    Capture::load(&Path::new(FIXTURES).join(scenario))
}

fn end_with_reload() -> Faults {
    Faults { end_with_reload: true, ..Faults::default() }
}

#[tokio::test]
async fn ami_plain_and_md5_logins_stream_the_same_events() {
    let mut runs = Vec::new();
    for auth in [AuthMethod::Plain, AuthMethod::Md5] {
        let fake = FakeAmi::start(capture("login-pause-unpause"), end_with_reload()).await;
        let messages = run_client(&fake, settings(&fake, auth), 2).await;
        assert_eq!(fake.seen().logins_ok, 1);
        assert_eq!(messages.first(), Some(&SourceMsg::Ami(AmiHealth::Connected)));
        runs.push(kinds(&messages));
    }
    assert!(!runs[0].is_empty());
    assert_eq!(runs[0], runs[1]);
}

#[tokio::test]
async fn ami_drop_mid_message_reconnects_resyncs_and_loses_nothing() {
    let uninterrupted = {
        let fake = FakeAmi::start(capture("calls-answered"), end_with_reload()).await;
        run_client(&fake, settings(&fake, AuthMethod::Md5), 2).await
    };
    let faults = Faults { drop_in_event: Some((40, 25)), ..end_with_reload() };
    let fake = FakeAmi::start(capture("calls-answered"), faults).await;
    let interrupted = run_client(&fake, settings(&fake, AuthMethod::Md5), 3).await;
    assert!(fake.seen().dropped);
    assert_eq!(fake.seen().connections, 2);
    let health: Vec<_> = interrupted.iter().filter(|m| matches!(m, SourceMsg::Ami(_))).collect();
    assert_eq!(
        health,
        [AmiHealth::Connected, AmiHealth::Disconnected, AmiHealth::Connected]
            .map(SourceMsg::Ami)
            .iter()
            .collect::<Vec<_>>()
    );
    assert_eq!(kinds(&interrupted), kinds(&uninterrupted));
    let state = final_state(&uninterrupted);
    assert!(!state.agents.is_empty() && !state.queues.is_empty());
    assert_eq!(final_state(&interrupted), state, "same final engine state as the uninterrupted run");
}

#[tokio::test]
async fn ami_one_byte_chunks_decode_like_whole_messages() {
    let whole = {
        let fake = FakeAmi::start(capture("login-pause-unpause"), end_with_reload()).await;
        run_client(&fake, settings(&fake, AuthMethod::Md5), 2).await
    };
    let faults = Faults { one_byte_chunks: true, ..end_with_reload() };
    let fake = FakeAmi::start(capture("login-pause-unpause"), faults).await;
    let chunked = run_client(&fake, settings(&fake, AuthMethod::Md5), 2).await;
    assert_eq!(kinds(&chunked), kinds(&whole));
}

#[tokio::test]
async fn ami_auth_failure_is_retried_at_the_maximum_backoff() {
    let fake =
        FakeAmi::start(capture("login-pause-unpause"), Faults { reject_auth: true, ..Faults::default() })
            .await;
    let mut settings = settings(&fake, AuthMethod::Md5);
    settings.backoff_max_ms = 400;
    let (tx, mut rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let started = tokio::time::Instant::now();
    let client =
        tokio::spawn(queuecast::sources::ami::run(settings, AmiNormalizer::default(), tx, cancel.clone()));
    let deadline = started + DEADLINE;
    while fake.seen().connections < 3 {
        assert!(tokio::time::Instant::now() < deadline, "the client stopped retrying");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Two waits of at least half the maximum (200 ms) lie between three attempts: no tight loop.
    assert!(started.elapsed() >= Duration::from_millis(400), "retried too fast: {:?}", started.elapsed());
    cancel.cancel();
    client.await.unwrap();
    let mut health = Vec::new();
    while let Ok(msg) = rx.try_recv() {
        health.push(msg);
    }
    assert_eq!(health, vec![SourceMsg::Ami(AmiHealth::Disconnected)], "never reported connected");
    assert_eq!(fake.seen().logins_ok, 0);
}

#[tokio::test]
async fn ami_silent_peer_is_left_on_ping_timeout_then_reconnected_and_resynced() {
    let faults = Faults { ignore_pings: true, ..Faults::default() };
    let fake = FakeAmi::start(capture("login-pause-unpause"), faults).await;
    let mut settings = settings(&fake, AuthMethod::Md5);
    settings.ping_interval_ms = 100;
    settings.ping_timeout_ms = 200;
    // One QueueStatus per connection (no Reload in this fault): the second snapshot needs a reconnect.
    let received = run_client(&fake, settings, 2).await;
    assert!(fake.seen().logins_ok >= 2);
    let actions = fake.seen().actions.clone();
    let first_ping = actions.iter().position(|a| a == "Ping").expect("a Ping was sent");
    let second_login =
        actions.iter().enumerate().filter(|(_, a)| *a == "Login").nth(1).expect("second login").0;
    assert!(first_ping < second_login, "{actions:?}");
    let health: Vec<&SourceMsg> =
        received.iter().filter(|m| matches!(m, SourceMsg::Ami(_))).take(3).collect();
    let expected = [AmiHealth::Connected, AmiHealth::Disconnected, AmiHealth::Connected].map(SourceMsg::Ami);
    assert_eq!(health, expected.iter().collect::<Vec<_>>());
}

#[tokio::test]
async fn ami_over_tls_verified_by_the_ca_file_streams_what_plain_tcp_streams() {
    let plain = {
        let fake = FakeAmi::start(capture("login-pause-unpause"), end_with_reload()).await;
        run_client(&fake, settings(&fake, AuthMethod::Md5), 2).await
    };
    let fake = FakeAmi::start_tls(capture("login-pause-unpause"), end_with_reload(), tls_acceptor()).await;
    let mut tls = settings(&fake, AuthMethod::Md5);
    tls.tls = true;
    tls.ca_file = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/ca.pem"));
    let over_tls = run_client(&fake, tls, 2).await;
    assert_eq!(fake.seen().tls_handshakes, 1);
    assert_eq!(fake.seen().logins_ok, 1);
    assert!(!kinds(&plain).is_empty());
    assert_eq!(kinds(&over_tls), kinds(&plain));
}

#[tokio::test]
async fn ami_tls_with_an_untrusted_certificate_never_logs_in() {
    let fake = FakeAmi::start_tls(capture("login-pause-unpause"), Faults::default(), tls_acceptor()).await;
    let mut settings = settings(&fake, AuthMethod::Md5);
    settings.tls = true; // No ca_file: the public web roots, which did not issue the test certificate.
    let (tx, mut rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let client =
        tokio::spawn(queuecast::sources::ami::run(settings, AmiNormalizer::default(), tx, cancel.clone()));
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while fake.seen().connections < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the client stopped retrying");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    client.await.unwrap();
    let seen = fake.seen();
    assert_eq!((seen.tls_handshakes, seen.logins_ok), (0, 0), "no session on an unverified server");
    while let Ok(msg) = rx.try_recv() {
        assert_ne!(msg, SourceMsg::Ami(AmiHealth::Connected));
    }
}
