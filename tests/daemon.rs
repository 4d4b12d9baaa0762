//! The whole daemon as a process (`queuecast run`) against a real redis-server, real files and the fake AMI
//! server: it leaves the same Redis state as `replay --redis` over the same inputs, also across a kill -9 and
//! restart; SIGTERM stops it cleanly; with AMI it takes membership from QueueStatus; it speaks systemd's
//! notify protocol (READY, WATCHDOG, STATUS, RELOADING on SIGHUP, STOPPING) on a socket the test owns.

mod common;

use common::daemon::*;
use common::fake_ami::{Capture, FakeAmi, Faults};
use common::redis::eventually;
use queuecast::sink::Keys;
use std::path::Path;
use std::time::Duration;

/// How long a notification may take (the watchdog pets every 200 ms, so a missing one fails fast).
const NOTIFY_WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_daemon_leaves_the_same_state_as_replay() {
    let setup = Setup::new();
    let lines = shifted_lines("calls-answered");
    let (before, after) = lines.split_at(lines.len() / 2);
    append(&setup.queue_log(), before);
    let daemon = setup.start_daemon(&setup.write_config("daemon", None));
    eventually(WAIT, "daemon follows queue_log", || async {
        setup.meta("daemon", "queue_log").await.as_deref() == Some("following")
    })
    .await;
    // Let the daemon's per-second ticks run ahead of the (older) lines appended next: their status changes
    // must still be stamped with the lines' own times, as `replay` stamps them.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    append(&setup.queue_log(), after);
    assert_converges(&setup, "daemon", "replay").await;
    let status = stop(daemon);
    assert_eq!(status.code(), Some(0), "SIGTERM must end the daemon with exit 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_restart_gives_the_replay_state() {
    let setup = Setup::new();
    let lines = shifted_lines("ringnoanswer");
    let (before, after) = lines.split_at(lines.len() / 3);
    let config = setup.write_config("daemon", None);
    append(&setup.queue_log(), before);
    let mut daemon = setup.start_daemon(&config);
    eventually(WAIT, "daemon follows queue_log", || async {
        setup.meta("daemon", "queue_log").await.as_deref() == Some("following")
    })
    .await;
    let (middle, rest) = after.split_at(after.len() / 2);
    append(&setup.queue_log(), middle);
    daemon.kill_9();
    // Lines written while the daemon is dead must not be lost; the ones it had read must not count twice.
    append(&setup.queue_log(), rest);
    let daemon = setup.start_daemon(&config);
    assert_converges(&setup, "daemon", "replay").await;
    stop(daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_ami_membership_and_pause_come_from_queue_status() {
    let setup = Setup::new();
    append(&setup.queue_log(), &shifted_lines("login-pause-unpause"));
    // Only the captured final QueueStatus answer: the capture's events are older than that answer, and
    // streaming them after it would rewind the state.
    let mut capture = Capture::load(&fixture("login-pause-unpause"));
    capture.events.clear();
    let ami = FakeAmi::start(capture, Faults::default()).await;
    let daemon = setup.start_daemon(&setup.write_config("pbx", Some(&ami)));
    let keys = Keys::new("queuecast", "pbx");
    // queue_log names Alice only as "Alice Smith"; QueueStatus tells that she is Local/1001@agents/n and
    // paused for Lunch in both queues.
    let alice = keys.agent("Local/1001@agents/n");
    eventually(WAIT, "QueueStatus reconciled", || async {
        let fields = setup.hash(&alice).await;
        fields.get("status").map(String::as_str) == Some("paused")
            && fields.get("pause_reason").map(String::as_str) == Some("Lunch")
    })
    .await;
    assert_eq!(setup.meta("pbx", "ami").await.as_deref(), Some("connected"));
    let sally = setup.hash(&keys.agent("Local/1009@agents/n")).await;
    assert_eq!(sally.get("status").map(String::as_str), Some("available"), "{sally:?}");
    let dave = setup.hash(&keys.agent("Local/1004@agents/n")).await;
    assert!(dave.is_empty() || dave.get("status").map(String::as_str) == Some("logged_out"), "{dave:?}");
    assert_eq!(stop(daemon).code(), Some(0));
}

/// The live daemon fed a flow recording's real bytes — its queue_log appended in two parts around the start,
/// its AMI events streamed by the fake Asterisk (timestamped as recorded, shifted with the queue_log), then
/// the recorded final QueueStatus answer — leaves the state `replay --redis` builds from the same files.
async fn daemon_equals_replay_on_flow(scenario: &str) {
    daemon_equals_replay_with(scenario, Faults::default()).await;
}

async fn daemon_equals_replay_with(scenario: &str, faults: Faults) {
    let setup = Setup::new();
    let dir = flow(scenario);
    let (lines, shift_s) = shifted(&dir);
    let (before, after) = lines.split_at(lines.len() / 2);
    append(&setup.queue_log(), before);
    let capture = Capture::load_timestamped(&dir, shift_s * 1000);
    let events = capture.events.len();
    assert!(events > 100, "{scenario}: the recording's events");
    let replay_capture = setup.dir.path().join("ami.raw");
    write_capture(&replay_capture, &capture, &dir);
    let faults = Faults { status_after_events: true, ..faults };
    let ami = FakeAmi::start(capture, faults).await;
    let daemon = setup.start_daemon(&setup.write_config("daemon", Some(&ami)));
    eventually(WAIT, "daemon follows queue_log", || async {
        setup.meta("daemon", "queue_log").await.as_deref() == Some("following")
    })
    .await;
    append(&setup.queue_log(), after);
    // The last events may change nothing the comparison sees, so the states can agree before the fake has
    // written them (byte by byte, under load, that takes a while): wait for the whole stream first.
    eventually(WAIT, "the fake Asterisk streamed every event", || async { ami.seen().next_event == events })
        .await;
    assert_converges_with(&setup, "daemon", "replay", Some(&replay_capture)).await;
    assert_eq!(setup.meta("daemon", "ami").await.as_deref(), Some("connected"));
    assert!(ami.seen().actions.iter().any(|a| a.eq_ignore_ascii_case("QueueStatus")));
    assert_eq!(stop(daemon).code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_equals_replay_overflow_chain() {
    daemon_equals_replay_on_flow("overflow-chain").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_equals_replay_requeue_same() {
    daemon_equals_replay_on_flow("requeue-same").await;
}

/// The same recording written one byte at a time: every message split at every byte boundary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_equals_replay_requeue_same_byte_by_byte() {
    daemon_equals_replay_with("requeue-same", Faults { one_byte_chunks: true, ..Faults::default() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_equals_replay_transfer_into_queue() {
    daemon_equals_replay_on_flow("transfer-into-queue").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_equals_replay_agent_busy_direct() {
    daemon_equals_replay_on_flow("agent-busy-direct").await;
}

/// What systemd would receive on `NOTIFY_SOCKET`, one datagram per notification.
struct NotifySocket(std::os::unix::net::UnixDatagram);

impl NotifySocket {
    fn bind(path: &Path) -> Self {
        let socket = std::os::unix::net::UnixDatagram::bind(path).expect("bind notify socket");
        socket.set_read_timeout(Some(NOTIFY_WAIT)).expect("read timeout");
        Self(socket)
    }

    /// Reads notifications until one has a line equal to `line`; returns everything read.
    fn until(&self, line: &str) -> Vec<String> {
        let deadline = std::time::Instant::now() + NOTIFY_WAIT;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            assert!(std::time::Instant::now() < deadline, "no {line:?} in {seen:?}");
            let n = self.0.recv(&mut buf).unwrap_or_else(|e| panic!("no {line:?} after {seen:?}: {e}"));
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            if seen.last().is_some_and(|m| m.lines().any(|l| l == line)) {
                return seen;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speaks_the_systemd_notify_protocol() {
    let setup = Setup::new();
    append(&setup.queue_log(), &shifted_lines("login-pause-unpause"));
    let config = setup.write_config("pbx", None);
    let socket_path = setup.dir.path().join("notify.sock");
    let notify = NotifySocket::bind(&socket_path);
    // WatchdogSec=0.4s: the daemon pets every 200 ms.
    let env = [("NOTIFY_SOCKET", socket_path.to_str().expect("utf-8 path")), ("WATCHDOG_USEC", "400000")];
    let daemon = setup.start_daemon_with(&config, &env);

    let start = notify.until("READY=1");
    assert!(start.last().is_some_and(|m| m.contains("STATUS=state written to Redis")), "{start:?}");
    assert_eq!(setup.meta("pbx", "queue_log").await.as_deref(), Some("following"), "READY after the state");
    notify.until("WATCHDOG=1");
    notify.until("WATCHDOG=1");

    daemon.signal("HUP");
    notify.until("RELOADING=1");
    let reload = notify.until("READY=1");
    assert!(reload.last().is_some_and(|m| m.contains("STATUS=configuration reloaded")), "{reload:?}");

    daemon.signal("TERM");
    notify.until("STOPPING=1");
    assert_eq!(stop(daemon).code(), Some(0));
}
