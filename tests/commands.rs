//! Commands from panels end to end: the real daemon (`queuecast run`) against a real redis-server and the
//! fake AMI, which answers member actions with the bytes a real Asterisk 22 sent
//! (tests/fixtures/asterisk-22-actions) and starts from the members of a recorded QueueStatus answer
//! (asterisk-22/ami-actions: support = Dave (paused), Alice, Bob; sales = Carol (paused); billing = static
//! Sally). Producers are the shared client (`queuecast::commands::submit`), raw `XADD`s for hostile input,
//! and the `queuecast action` binary.

mod common;

use common::commands::*;
use common::daemon::{BIN, Daemon};
use common::fake_ami::{Faults, SECRET};
use common::redis::eventually;
use queuecast::commands::{Action, Code};
use queuecast::sink::Keys;
use queuecast::sink::message::{Message, MessageType};
use redis::AsyncCommands;
use std::process::{Command as Process, Stdio};
use std::time::Duration;

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
    // Every entry, answered or not, was acknowledged.
    let pending: (u64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg(Keys::new("queuecast", "p2").commands())
        .arg("queuecast")
        .query_async(&mut env.conn().await)
        .await
        .unwrap();
    assert_eq!(pending.0, 0, "nothing left pending");
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
    eventually(WAIT, "the restarted daemon logged in", || async { env.ami.seen().logins_ok >= 2 }).await;
    // A probe that reaches Asterisk ("Already there") shows the restarted daemon is reading; until its
    // state is in, a probe may be refused before AMI.
    let mut reached = 0;
    tokio::time::timeout(WAIT, async {
        while reached == 0 {
            let r = env.send("p4", &command(Action::Login, ALICE, Some("support"))).await;
            reached += usize::from(r.error.contains("Already there"));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("a probe reached Asterisk");
    assert_eq!(env.member_actions().len(), 1 + reached, "just the probe");
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
    eventually(WAIT, "both daemons logged in to AMI", || async { env.ami.seen().logins_ok >= 2 }).await;
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
    let mut done = 0;
    for id in &ids {
        let codes: Vec<&str> = results.iter().filter(|(i, _)| i == id).map(|(_, c)| c.as_str()).collect();
        let answers: Vec<&&str> = codes.iter().filter(|c| **c != "duplicate").collect();
        assert_eq!(answers.len(), 1, "{id}: {codes:?}");
        done += usize::from(*answers[0] == "done");
    }
    // A daemon whose AMI state is not complete yet may answer `failed`/`ami_unavailable`; whatever it
    // answers, what reached Asterisk is exactly what was answered done.
    assert!(done > 0, "{results:?}");
    let pauses = env.member_actions().iter().filter(|(name, _)| name == "QueuePause").count();
    assert_eq!(pauses, done, "each id reached Asterisk at most once: {results:?}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ami_down_answers_ami_unavailable_at_once() {
    let env = Env::start(Faults::default()).await;
    // AMI at a port where nothing listens: the daemon runs (state from nothing), commands cannot be sent.
    let port = common::redis::free_port();
    let config = env.config("down", "p7", ALL_ACTIONS).to_string_lossy().into_owned();
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&format!("port = {}\n", env.ami.addr.port()), &format!("port = {port}\n"));
    std::fs::write(&config, text).unwrap();
    let log = std::fs::File::create(env.log_path("down")).unwrap();
    let child = Process::new(BIN)
        .args(["run", "--config", &config])
        .stderr(log)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let _daemon = Daemon(Some(child));
    let keys = Keys::new("queuecast", "p7");
    eventually(WAIT, "the daemon is up", || async {
        let ami: Option<String> = env.conn().await.hget(keys.meta(), "ami").await.unwrap_or(None);
        ami.as_deref() == Some("disconnected")
    })
    .await;
    let r = env.send("p7", &command(Action::Pause, ALICE, Some("support"))).await;
    assert_eq!(r.code, Code::AmiUnavailable, "{r:?}");
    assert!(r.error.contains("AMI is not connected"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_matched_by_action_id_with_events_in_between() {
    let env = Env::start(Faults { events_before_answer: true, ..Faults::default() }).await;
    let _daemon = env.daemon("d", "p8", ALL_ACTIONS).await;
    let r = env.send("p8", &command(Action::Pause, "Local/1002@agents/n", None)).await;
    assert_eq!(r.code, Code::Done, "{r:?}");
    eventually(WAIT, "Bob paused", || async {
        env.queues("p8", "Local/1002@agents/n").await["support"]["paused"] == true
    })
    .await;
    let r = env.send("p8", &command(Action::Logout, SALLY, None)).await;
    assert!(r.code == Code::Failed && r.error.contains("Member not dynamic"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_is_said_once_and_commands_work_after_it() {
    let mut env = Env::start(Faults::default()).await;
    let _daemon = env.daemon("d", "p9", ALL_ACTIONS).await;
    assert_eq!(env.send("p9", &command(Action::Pause, ALICE, Some("support"))).await.code, Code::Done);
    env.redis.stop();
    // Long enough for several failed reconnects of the command reader (backoff from 500 ms).
    tokio::time::sleep(Duration::from_secs(3)).await;
    env.redis.restart();
    // Redis came back empty: the group is created again from id 0, so this command is read whenever the
    // reader's next attempt comes.
    let r = env.send("p9", &command(Action::Unpause, ALICE, Some("support"))).await;
    assert_eq!(r.code, Code::Done, "{r:?}");
    let log = std::fs::read_to_string(env.log_path("d")).unwrap();
    let count = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(count("cannot read the command stream"), 1, "{log}");
    assert_eq!(count("reading the command stream again"), 1, "{log}");
}
