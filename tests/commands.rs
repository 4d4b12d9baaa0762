//! Commands from panels end to end: the real daemon (`queuecast run`) against a real redis-server and the
//! fake AMI, which answers member actions with the bytes a real Asterisk 22 sent
//! (tests/fixtures/asterisk-22-actions) and starts from the members of a recorded QueueStatus answer
//! (asterisk-22/ami-actions: support = Dave (paused), Alice, Bob; sales = Carol (paused); billing = static
//! Sally). Producers are the shared client (`queuecast::commands::submit`), raw `XADD`s for hostile input,
//! and the `queuecast action` binary.

mod common;

use common::daemon::{BIN, Daemon, fixture};
use common::fake_ami::{Capture, FakeAmi, Faults, SECRET, USERNAME};
use common::redis::{RedisServer, eventually};
use queuecast::commands::{Action, Code, Command, CommandResult, submit, wire::new_id};
use queuecast::sink::message::{Message, MessageType};
use queuecast::sink::{Keys, RedisConn, RedisSettings};
use redis::AsyncCommands;
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(60);
const ANSWER: Duration = Duration::from_secs(20);
const ALICE: &str = "Local/1001@agents/n";
const CAROL: &str = "Local/1003@agents/n";
const SALLY: &str = "Local/1009@agents/n";
const ALL_ACTIONS: &str = "[actions]\nenabled = true\nallow = [\"pause\", \"unpause\", \"login\", \"logout\", \"penalty\"]\nqueues = [\"*\"]\n";

/// The recorded QueueStatus answer and no other events: the state changes only through commands.
fn capture() -> Capture {
    let mut capture = Capture::load(&fixture("ami-actions"));
    capture.events.truncate(1);
    capture
}

struct Env {
    dir: tempfile::TempDir,
    redis: RedisServer,
    ami: FakeAmi,
}

impl Env {
    async fn start(faults: Faults) -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            redis: RedisServer::start(),
            ami: FakeAmi::start(capture(), faults).await,
        }
    }

    fn settings(&self, pbx: &str) -> RedisSettings {
        self.redis.settings(pbx)
    }

    fn config(&self, name: &str, pbx: &str, actions: &str) -> PathBuf {
        let text = format!(
            "[queue_log]\nenabled = false\n\n[ami]\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"{USERNAME}\"\nsecret = \"{SECRET}\"\nbackoff_min_ms = 50\nbackoff_max_ms = 500\n\n[redis]\nurl = \"{url}\"\npbx_id = \"{pbx}\"\nqueue_update_interval_ms = 20\n\n[log]\nlevel = \"info\"\nformat = \"text\"\n\n[engine]\nqueues_conf = \"{qc}\"\ntimezone = \"UTC\"\n\n{actions}",
            port = self.ami.addr.port(),
            url = self.redis.url(),
            qc = common::daemon::queues_conf().display(),
        );
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `queuecast run`, its log in `<name>.log`; returns once Alice's hash is in Redis (state published, AMI up).
    async fn daemon(&self, name: &str, pbx: &str, actions: &str) -> Daemon {
        let config = self.config(name, pbx, actions);
        let log = std::fs::File::create(self.log_path(name)).unwrap();
        let child = Process::new(BIN)
            .args(["run", "--config"])
            .arg(&config)
            .env_remove("NOTIFY_SOCKET")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let daemon = Daemon(Some(child));
        let keys = Keys::new("queuecast", pbx);
        eventually(WAIT, "the daemon published the state with AMI connected", || async {
            let mut conn = self.conn().await;
            let meta: std::collections::HashMap<String, String> =
                conn.hgetall(keys.meta()).await.unwrap_or_default();
            let alice: bool = conn.exists(keys.agent(ALICE)).await.unwrap_or(false);
            alice && meta.get("ami").is_some_and(|a| a == "connected")
        })
        .await;
        daemon
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    async fn conn(&self) -> redis::aio::MultiplexedConnection {
        match self.redis.conn().await {
            RedisConn::Single(c) => c,
            RedisConn::Cluster(_) => unreachable!(),
        }
    }

    async fn send(&self, pbx: &str, command: &Command) -> CommandResult {
        submit(&self.settings(pbx), command, ANSWER, &CancellationToken::new()).await.expect("an answer")
    }

    async fn agent(&self, pbx: &str, id: &str) -> std::collections::HashMap<String, String> {
        self.conn().await.hgetall(Keys::new("queuecast", pbx).agent(id)).await.unwrap()
    }

    /// The agent's `queues` field as JSON.
    async fn queues(&self, pbx: &str, id: &str) -> serde_json::Value {
        serde_json::from_str(self.agent(pbx, id).await.get("queues").map_or("{}", |s| s.as_str())).unwrap()
    }

    async fn stream(&self, pbx: &str) -> Vec<Message> {
        let mut conn = self.redis.conn().await;
        queuecast::sink::reader::read_stream(&mut conn, &Keys::new("queuecast", pbx), 0, 100_000, 0)
            .await
            .unwrap()
    }

    /// Every result entry, as (id, code).
    async fn results(&self, pbx: &str) -> Vec<(String, String)> {
        let entries: redis::streams::StreamRangeReply =
            self.conn().await.xrange_all(Keys::new("queuecast", pbx).results()).await.unwrap();
        entries
            .ids
            .iter()
            .map(|e| (e.get("id").unwrap_or_default(), e.get("code").unwrap_or_default()))
            .collect()
    }

    /// Adds a raw entry to the command stream (any bytes).
    async fn xadd_raw(&self, pbx: &str, fields: &[(&[u8], &[u8])]) {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(Keys::new("queuecast", pbx).commands()).arg("*");
        for (k, v) in fields {
            cmd.arg(*k).arg(*v);
        }
        let _: String = cmd.query_async(&mut self.conn().await).await.unwrap();
    }

    /// Waits for the result of `id` on the results stream.
    async fn result_of(&self, pbx: &str, id: &str) -> (String, String) {
        let deadline = tokio::time::Instant::now() + ANSWER;
        loop {
            if let Some(found) = self.results(pbx).await.into_iter().find(|(i, _)| i == id) {
                return found;
            }
            assert!(tokio::time::Instant::now() < deadline, "no result for {id}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn member_actions(&self) -> Vec<(String, Vec<(String, String)>)> {
        self.ami.seen().member_actions.clone()
    }
}

/// One raw field of a stream entry.
type Field<'a> = (&'a [u8], &'a [u8]);

fn command(action: Action, agent: &str, queue: Option<&str>) -> Command {
    let mut c = Command::new(new_id(), action, agent, jiff::Timestamp::now().as_millisecond());
    c.queue = queue.map(str::to_owned);
    c.requested_by = "test:commands".into();
    c
}

fn code(result: &CommandResult) -> Code {
    result.code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_changes_the_state_and_answers() {
    let env = Env::start(Faults::default()).await;
    let _daemon = env.daemon("d", "p1", ALL_ACTIONS).await;

    let mut pause = command(Action::Pause, ALICE, Some("support"));
    pause.reason = "Lunch".into();
    let r = env.send("p1", &pause).await;
    assert_eq!((r.code, r.ok(), r.error.as_str()), (Code::Done, true, ""), "{r:?}");
    eventually(WAIT, "Alice paused in support", || async {
        let q = env.queues("p1", ALICE).await;
        q["support"]["paused"] == true && q["support"]["pause_reason"] == "Lunch"
    })
    .await;
    assert_eq!(
        env.member_actions().last().unwrap(),
        &(
            "QueuePause".to_owned(),
            vec![
                ("Interface".into(), ALICE.into()),
                ("Queue".into(), "support".into()),
                ("Paused".into(), "true".into()),
                ("Reason".into(), "Lunch".into())
            ]
        )
    );

    let r = env.send("p1", &command(Action::Unpause, ALICE, None)).await;
    assert_eq!(code(&r), Code::Done, "{r:?}");
    eventually(WAIT, "Alice unpaused", || async {
        env.queues("p1", ALICE).await["support"]["paused"] == false
    })
    .await;

    let mut penalty = command(Action::Penalty, ALICE, Some("support"));
    penalty.penalty = Some(3);
    assert_eq!(code(&env.send("p1", &penalty).await), Code::Done);
    eventually(WAIT, "penalty 3", || async { env.queues("p1", ALICE).await["support"]["penalty"] == 3 })
        .await;

    let erin = "Local/1005@agents/n";
    let mut login = command(Action::Login, erin, Some("sales"));
    login.member_name = "Erin Gray".into();
    assert_eq!(code(&env.send("p1", &login).await), Code::Done);
    eventually(WAIT, "Erin in sales", || async { env.queues("p1", erin).await.get("sales").is_some() }).await;
    assert_eq!(env.agent("p1", erin).await.get("name").map(String::as_str), Some("Erin Gray"));

    assert_eq!(code(&env.send("p1", &command(Action::Logout, erin, None)).await), Code::Done);
    eventually(WAIT, "Erin logged out", || async {
        let a = env.agent("p1", erin).await;
        a.is_empty() || a.get("status").is_some_and(|s| s == "logged_out")
    })
    .await;

    // Asterisk's own refusals come back as `failed` with its message.
    let r = env.send("p1", &command(Action::Login, ALICE, Some("support"))).await;
    assert_eq!(code(&r), Code::Failed);
    assert!(r.error.contains("Already there"), "{r:?}");
    let r = env.send("p1", &command(Action::Logout, SALLY, Some("billing"))).await;
    assert!(r.code == Code::Failed && r.error.contains("Member not dynamic"), "{r:?}");
    let r = env.send("p1", &command(Action::Pause, "PJSIP/nobody", None)).await;
    assert!(r.code == Code::Failed && r.error.contains("unknown agent"), "{r:?}");

    // The changes were published as agent events from `api`, the answers as command_result messages.
    let messages = env.stream("p1").await;
    let api: Vec<(String, String)> = messages
        .iter()
        .filter(|m| m.kind == MessageType::AgentEvent && m.data["source"] == "api")
        .map(|m| (m.id.clone(), m.data["event"].as_str().unwrap_or_default().to_owned()))
        .collect();
    for want in [(ALICE, "pause"), (ALICE, "unpause"), (erin, "login"), (erin, "logout")] {
        assert!(api.contains(&(want.0.to_owned(), want.1.to_owned())), "{want:?} from api in {api:?}");
    }
    let results: Vec<&Message> = messages.iter().filter(|m| m.kind == MessageType::CommandResult).collect();
    assert_eq!(results.len(), 8, "one command_result per command");
    let first = results.iter().find(|m| m.id == pause.id).expect("the pause's command_result");
    assert_eq!((first.data["ok"].clone(), first.data["code"].clone()), (true.into(), "done".into()));
    assert_eq!(first.data["agent"], ALICE);

    // One audit line per command, with who asked.
    let log = std::fs::read_to_string(env.log_path("d")).unwrap();
    let audit: Vec<&str> = log.lines().filter(|l| l.contains("queuecast::audit")).collect();
    assert_eq!(audit.len(), 8, "{audit:#?}");
    assert!(audit.iter().all(|l| l.contains("requested_by=test:commands")), "{audit:#?}");
    assert!(!log.contains(SECRET), "no secret in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_by_actions_config_clock_and_rate() {
    let env = Env::start(Faults::default()).await;
    let actions = "[actions]\nenabled = true\nallow = [\"pause\", \"unpause\"]\nqueues = [\"support\"]\nmax_per_minute = 3\n";
    let _daemon = env.daemon("d", "p2", actions).await;
    let r = env.send("p2", &command(Action::Login, ALICE, Some("support"))).await;
    assert_eq!(code(&r), Code::NotAllowed, "{r:?}");
    assert!(r.code.is_forbidden());
    assert_eq!(
        code(&env.send("p2", &command(Action::Pause, ALICE, Some("sales"))).await),
        Code::QueueNotAllowed
    );
    // Every queue of Carol is sales: not allowed either.
    assert_eq!(code(&env.send("p2", &command(Action::Pause, CAROL, None)).await), Code::QueueNotAllowed);
    let mut stale = command(Action::Pause, ALICE, Some("support"));
    stale.ts -= 20_000;
    let r = env.send("p2", &stale).await;
    assert!(r.code == Code::Stale && r.error.contains("max_age_ms"), "{r:?}");
    let mut future = command(Action::Pause, ALICE, Some("support"));
    future.ts += 60_000;
    assert_eq!(code(&env.send("p2", &future).await), Code::Stale);
    assert!(env.member_actions().is_empty(), "nothing refused reached Asterisk");
    // Three per agent per minute.
    for action in [Action::Pause, Action::Unpause, Action::Pause] {
        assert_eq!(code(&env.send("p2", &command(action, ALICE, Some("support"))).await), Code::Done);
    }
    assert_eq!(
        code(&env.send("p2", &command(Action::Unpause, ALICE, Some("support"))).await),
        Code::RateLimited
    );
    assert_eq!(env.member_actions().len(), 3);

    // Hostile entries: each with a usable id gets `malformed`; without one it is logged and acknowledged.
    let cases: Vec<(&str, Vec<Field>)> = vec![
        (
            "m-action",
            vec![(b"id", b"m-action"), (b"action", b"reboot"), (b"agent", ALICE.as_bytes()), (b"ts", b"1")],
        ),
        ("m-ts", vec![(b"id", b"m-ts"), (b"action", b"pause"), (b"agent", ALICE.as_bytes())]),
        (
            "m-crlf",
            vec![
                (b"id", b"m-crlf"),
                (b"action", b"pause"),
                (b"agent", b"PJSIP/1\r\nAction: Originate"),
                (b"ts", b"1"),
            ],
        ),
        ("m-binary", vec![(b"id", b"m-binary"), (b"\xff\xfe\x00", b"\x00\x01\x02"), (b"ts", b"1")]),
    ];
    let huge = vec![b'x'; 4 << 20];
    for (id, fields) in &cases {
        env.xadd_raw("p2", fields).await;
        assert_eq!(env.result_of("p2", id).await.1, "malformed", "{id}");
    }
    let mut with_huge: Vec<(&[u8], &[u8])> =
        vec![(b"id", b"m-huge"), (b"action", b"pause"), (b"agent", ALICE.as_bytes()), (b"ts", b"1")];
    with_huge.push((b"reason", &huge));
    env.xadd_raw("p2", &with_huge).await;
    assert_eq!(env.result_of("p2", "m-huge").await.1, "malformed");
    env.xadd_raw("p2", &[(b"\x00junk", b"\xff"), (b"action", b"pause")]).await;
    env.xadd_raw("p2", &[(b"id", &vec![b'i'; 10_000]), (b"action", b"pause")]).await;
    // Duplicate ids: the first is handled, the second refused, nothing runs twice.
    let dup = command(Action::Pause, "Local/1002@agents/n", Some("support"));
    let fields = dup.to_fields();
    let pairs: Vec<(&[u8], &[u8])> = fields.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())).collect();
    env.xadd_raw("p2", &pairs).await;
    env.xadd_raw("p2", &pairs).await;
    let marker = command(Action::Pause, ALICE, Some("sales"));
    assert_eq!(code(&env.send("p2", &marker).await), Code::QueueNotAllowed, "the daemon is still answering");
    let codes: Vec<String> =
        env.results("p2").await.into_iter().filter(|(i, _)| *i == dup.id).map(|(_, c)| c).collect();
    assert_eq!(codes, ["done", "duplicate"]);
    let results = env.results("p2").await;
    assert!(
        results.iter().all(|(id, _)| !id.contains("junk") && id.len() < 200),
        "no answer without a usable id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_by_default_and_a_clear_error_without_write_agent() {
    let env = Env::start(Faults { no_write_agent: true, ..Faults::default() }).await;
    let off = env.daemon("off", "p3", "").await;
    let r = env.send("p3", &command(Action::Pause, ALICE, Some("support"))).await;
    assert_eq!((r.code, r.code.is_forbidden()), (Code::Disabled, true), "{r:?}");
    drop(off);
    let _on = env.daemon("on", "p3b", ALL_ACTIONS).await;
    for c in [
        command(Action::Pause, ALICE, Some("support")),
        command(Action::Logout, ALICE, None),
        command(Action::Login, "Local/1005@agents/n", Some("sales")),
    ] {
        let r = env.send("p3b", &c).await;
        assert_eq!(r.code, Code::Failed, "{r:?}");
        assert!(r.error.contains("Permission denied") && r.error.contains("write = agent"), "{r:?}");
    }
    assert_eq!(env.queues("p3b", ALICE).await["support"]["paused"], false, "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn written_while_down_runs_once_if_fresh_and_interrupted_ones_never_rerun() {
    let env = Env::start(Faults::default()).await;
    let keys = Keys::new("queuecast", "p4");
    let mut conn = env.conn().await;
    // An entry a previous run (consumer `d`) had taken and started: pending, claim "running".
    let interrupted = command(Action::Pause, ALICE, Some("support"));
    let mut xadd = redis::cmd("XADD");
    xadd.arg(keys.commands()).arg("*");
    for (k, v) in interrupted.to_fields() {
        xadd.arg(k).arg(v);
    }
    let entry: String = xadd.query_async(&mut conn).await.unwrap();
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(keys.commands())
        .arg("queuecast")
        .arg("0")
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("queuecast")
        .arg("d")
        .arg("STREAMS")
        .arg(keys.commands())
        .arg(">")
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = conn.set(keys.command_claim(&interrupted.id), format!("{entry} running")).await.unwrap();
    // Written while the daemon is down: one fresh, one already stale.
    let fresh = command(Action::Pause, CAROL, Some("sales"));
    let mut stale = command(Action::Unpause, CAROL, Some("sales"));
    stale.ts -= 60_000;
    for c in [&fresh, &stale] {
        let mut xadd = redis::cmd("XADD");
        xadd.arg(keys.commands()).arg("*");
        for (k, v) in c.to_fields() {
            xadd.arg(k).arg(v);
        }
        let _: String = xadd.query_async(&mut conn).await.unwrap();
    }
    let actions = format!("{ALL_ACTIONS}consumer = \"d\"\n");
    let daemon = env.daemon("d", "p4", &actions).await;
    assert_eq!(env.result_of("p4", &fresh.id).await.1, "done");
    assert_eq!(env.result_of("p4", &stale.id).await.1, "stale");
    assert_eq!(env.result_of("p4", &interrupted.id).await.1, "failed");
    let entries: redis::streams::StreamRangeReply =
        env.conn().await.xrange_all(keys.results()).await.unwrap();
    let error: String = entries
        .ids
        .iter()
        .find(|e| e.get::<String>("id").as_deref() == Some(interrupted.id.as_str()))
        .and_then(|e| e.get("error"))
        .unwrap_or_default();
    assert!(error.contains("interrupted by a restart"), "{error}");
    assert_eq!(env.member_actions().len(), 1, "only the fresh one reached Asterisk");
    // A restart executes nothing again and answers nothing twice.
    common::daemon::stop(daemon);
    let _again = env.daemon("d", "p4", &actions).await;
    let probe = command(Action::Login, ALICE, Some("support"));
    env.send("p4", &probe).await;
    assert_eq!(env.member_actions().len(), 2, "just the probe");
    let results = env.results("p4").await;
    for id in [&fresh.id, &stale.id, &interrupted.id] {
        assert_eq!(results.iter().filter(|(i, _)| i == id).count(), 1, "{id} answered once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_on_one_stream_execute_each_id_once() {
    let env = Env::start(Faults::default()).await;
    let _a = env.daemon("a", "p5", &format!("{ALL_ACTIONS}consumer = \"a\"\n")).await;
    let _b = env.daemon("b", "p5", &format!("{ALL_ACTIONS}consumer = \"b\"\n")).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let action = if i % 2 == 0 { Action::Pause } else { Action::Unpause };
        let c = command(action, ALICE, Some("support"));
        let fields = c.to_fields();
        let pairs: Vec<(&[u8], &[u8])> = fields.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())).collect();
        env.xadd_raw("p5", &pairs).await;
        // Every third id is written twice.
        if i % 3 == 0 {
            env.xadd_raw("p5", &pairs).await;
        }
        ids.push(c.id);
    }
    for id in &ids {
        env.result_of("p5", id).await;
    }
    eventually(WAIT, "every entry answered", || async { env.results("p5").await.len() == 16 }).await;
    let results = env.results("p5").await;
    for id in &ids {
        let codes: Vec<&str> = results.iter().filter(|(i, _)| i == id).map(|(_, c)| c.as_str()).collect();
        assert_eq!(codes.iter().filter(|c| **c != "duplicate").count(), 1, "{id}: {codes:?}");
    }
    let pauses = env.member_actions().iter().filter(|(name, _)| name == "QueuePause").count();
    assert_eq!(pauses, 12, "each id reached Asterisk once");
    // Both daemons took part (the group hands entries to whichever reads first).
    let consumers: redis::Value = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(Keys::new("queuecast", "p5").commands())
        .arg("queuecast")
        .query_async(&mut env.conn().await)
        .await
        .unwrap();
    let redis::Value::Array(consumers) = consumers else { panic!("XINFO CONSUMERS: {consumers:?}") };
    assert_eq!(consumers.len(), 2, "consumers a and b");
}

fn cli(env: &Env, pbx: &str, args: &[&str]) -> (i32, String) {
    let out = Process::new(BIN)
        .arg("action")
        .args(args)
        .args(["--redis", &env.redis.url(), "--pbx", pbx, "--timeout-ms", "15000"])
        .env("USER", "alice")
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queuecast_action_exit_codes() {
    let env = Env::start(Faults::default()).await;
    let actions = "[actions]\nenabled = true\nallow = [\"pause\", \"unpause\"]\nqueues = [\"*\"]\n";
    let _daemon = env.daemon("d", "p6", actions).await;
    let (status, _) =
        cli(&env, "p6", &["pause", "--agent", ALICE, "--queue", "support", "--reason", "Break"]);
    assert_eq!(status, 0);
    assert_eq!(env.queues("p6", ALICE).await["support"]["pause_reason"], "Break");
    let (status, stderr) = cli(&env, "p6", &["login", "--agent", ALICE, "--queue", "support"]);
    assert_eq!(status, 1);
    assert!(stderr.contains("not_allowed"), "{stderr}");
    let (status, stderr) = cli(&env, "p6", &["penalty", "--agent", ALICE]);
    assert_eq!(status, 1, "penalty without --penalty is refused before sending: {stderr}");
    let log = std::fs::read_to_string(env.log_path("d")).unwrap();
    assert!(log.contains("requested_by=cli:alice"), "the audit line names the user");
    // No daemon for this PBX: no answer in time.
    let out = Process::new(BIN)
        .args([
            "action",
            "unpause",
            "--agent",
            ALICE,
            "--redis",
            &env.redis.url(),
            "--pbx",
            "nobody",
            "--timeout-ms",
            "300",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(69), "{}", String::from_utf8_lossy(&out.stderr));
}
