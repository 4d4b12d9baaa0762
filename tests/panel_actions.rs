//! The operator panel's pause / unpause buttons in headless Chromium, served by the real gateway. The test
//! plays the daemon: it reads the command the click wrote on `…:commands`, writes the agent's new state with
//! the real sink (as the daemon does once Asterisk confirms), then the result on `…:results`.
//! Screenshot: `target/screenshots/panel_paused.png`.

mod common;

use common::browser::{Driver, SLOW_DEADLINE};
use common::gateway::{Gateway, claims, sign};
use common::redis::RedisServer;
use common::sink::Sink;
use common::updates::{fields, queue};
use queuecast::commands::{Code, Command, CommandResult};
use queuecast::sink::{Keys, RedisConn, SinkMsg, Update};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PBX: &str = "pbx1";
const AGENT: &str = "PJSIP/1001";

fn member(reason: Option<&str>) -> Update {
    let queues: serde_json::Map<String, Value> = ["sales", "support"]
        .iter()
        .map(|q| (q.to_string(), json!({"paused": reason.is_some(), "pause_reason": reason, "penalty": 0})))
        .collect();
    Update::Agent {
        id: AGENT.into(),
        fields: fields(json!({"id": AGENT, "name": "Alice Martin", "interface": AGENT,
            "status": if reason.is_some() { "paused" } else { "available" },
            "status_since": queuecast::sink::now_ms(), "paused": reason.is_some(), "pause_reason": reason,
            "queues": queues, "calls_answered": 0, "calls_missed": 0, "talk_seconds": 0, "call": null})),
    }
}

/// The next command on the stream after `after` (an entry id), waiting for it.
async fn next_command(conn: &mut RedisConn, keys: &Keys, after: &mut String) -> Command {
    let deadline = Instant::now() + SLOW_DEADLINE;
    loop {
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(keys.commands())
            .arg(format!("({after}"))
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query_async(conn)
            .await
            .expect("XRANGE commands");
        if let Some(entry) = reply.ids.first() {
            *after = entry.id.clone();
            let fields: Vec<(String, Vec<u8>)> = entry
                .map
                .iter()
                .map(|(k, v)| (k.clone(), redis::from_redis_value(v.clone()).unwrap()))
                .collect();
            return Command::from_fields(fields.iter().map(|(k, v)| (k.as_bytes(), v.as_slice())))
                .expect("valid");
        }
        assert!(Instant::now() < deadline, "no command on the stream");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn answer(conn: &mut RedisConn, keys: &Keys, id: &str, code: Code, error: &str) {
    let mut add = redis::cmd("XADD");
    add.arg(keys.results()).arg("*");
    for (k, v) in CommandResult::new(id, code, error, queuecast::sink::now_ms()).to_fields() {
        add.arg(k).arg(v);
    }
    add.query_async::<String>(conn).await.expect("XADD result");
}

const RESULT: &str = "return document.getElementById('action-result').textContent";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_from_the_panel_in_headless_chromium() {
    let server = RedisServer::start();
    let settings = server.settings(PBX);
    let keys = settings.keys();
    let sink = Sink::start_with_state(settings.clone(), vec![member(None), queue("sales", &[], 0)]).await;
    let gw = Gateway::start_with(
        &server,
        PBX,
        "pause_reasons = [\"Break\", \"Lunch\", \"Training\"]\ncommand_timeout_ms = 1500\n",
    );
    let driver = Driver::start().await;
    let mut conn = server.conn().await;
    let mut after = "0-0".to_owned();

    let mut mine = claims(PBX);
    mine.sub = "panel-alice".into();
    mine.agent = Some(AGENT.into());
    mine.actions = true;
    driver.goto(&gw.http(&format!("/panel?agent=PJSIP%2F1001&pbx={PBX}&token={}", sign(&mine)))).await;
    driver
        .until("return document.getElementById('status').textContent", json!("available"), SLOW_DEADLINE)
        .await;
    driver.until("return document.getElementById('actions').hidden", json!(false), SLOW_DEADLINE).await;
    let options = "return [...document.querySelectorAll('#pause-reason option')].map(o => o.value).join(',')";
    assert_eq!(driver.js(options).await, "Break,Lunch,Training");

    // Pause with a reason: the command on the stream, then the daemon's state change and result.
    driver.click("#pause-reason option[value=\"Lunch\"]").await;
    let clicked = Instant::now();
    driver.click("#do-pause").await;
    let command = next_command(&mut conn, &keys, &mut after).await;
    eprintln!("command on the stream {:?} after the click", clicked.elapsed());
    assert_eq!(command.action.as_str(), "pause");
    assert_eq!(
        (command.agent.as_str(), command.reason.as_str(), command.queue.as_deref()),
        (AGENT, "Lunch", None)
    );
    assert_eq!(command.requested_by, "gateway:panel-alice");
    sink.handle.send(SinkMsg::Updates(vec![member(Some("Lunch"))]));
    sink.flushed().await;
    answer(&mut conn, &keys, &command.id, Code::Done, "").await;
    driver
        .until("return document.getElementById('status').textContent", json!("paused"), SLOW_DEADLINE)
        .await;
    driver
        .until("return document.getElementById('reason').textContent", json!("paused: Lunch"), SLOW_DEADLINE)
        .await;
    driver.until(RESULT, json!("paused (Lunch)"), SLOW_DEADLINE).await;
    eprintln!("panel showed paused (Lunch) {:?} after the click", clicked.elapsed());
    let shot = driver.screenshot("panel_paused.png").await;
    eprintln!("screenshot: {}", shot.display());

    // Refused by the daemon: the reason is shown. No answer at all: said so.
    driver.click("#do-unpause").await;
    let command = next_command(&mut conn, &keys, &mut after).await;
    assert_eq!(command.action.as_str(), "unpause");
    answer(&mut conn, &keys, &command.id, Code::NotAllowed, "unpause is not in [actions] allow").await;
    driver.until(RESULT, json!("refused: unpause is not in [actions] allow"), SLOW_DEADLINE).await;
    driver.click("#do-pause").await;
    next_command(&mut conn, &keys, &mut after).await;
    driver.until(RESULT, json!("no answer from the PBX"), SLOW_DEADLINE).await;

    // No buttons without `actions`, for another agent's token, or on the wallboard.
    let shown = "return document.getElementById('status').textContent";
    for (agent, actions) in [(Some(AGENT), false), (Some("PJSIP/1002"), true)] {
        let mut other = claims(PBX);
        other.agent = agent.map(Into::into);
        other.actions = actions;
        driver.goto(&gw.http(&format!("/panel?agent=PJSIP%2F1001&pbx={PBX}&token={}", sign(&other)))).await;
        // Another agent's token sees nothing of PJSIP/1001 (its stream is refused); the page still asks for
        // the session.
        if !actions {
            driver.until(shown, json!("paused"), SLOW_DEADLINE).await;
        }
        let session_seen =
            "return performance.getEntriesByType('resource').some(e => e.name.endsWith('/v1/session'))";
        driver.until(session_seen, json!(true), SLOW_DEADLINE).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            driver.js("return document.getElementById('actions').hidden").await,
            json!(true),
            "{agent:?} {actions}"
        );
    }
    driver.goto(&gw.http(&format!("/?token={}", sign(&mine)))).await;
    driver.until("return document.querySelectorAll('[data-agent]').length", json!(1), SLOW_DEADLINE).await;
    assert_eq!(driver.js("return document.querySelectorAll('button, #actions').length").await, json!(0));
    sink.stop().await;
}

/// The whole path with the real daemon: a click in the panel → the gateway's command → `queuecast run` →
/// QueuePause on the fake AMI (which answers with a real Asterisk 22's bytes and emits the member's pause
/// event) → the engine's state → the panel shows it. The state comes from the recorded QueueStatus answer
/// (asterisk-22/ami-actions: Alice is a member of support).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_from_the_panel_through_the_real_daemon() {
    use common::commands::{ALICE, Env};
    use common::fake_ami::Faults;

    let env = Env::start(Faults::default()).await;
    let actions = "[actions]\nenabled = true\nallow = [\"pause\", \"unpause\"]\nqueues = [\"*\"]\n";
    let _daemon = env.daemon("d", PBX, actions).await;
    let server = &env.redis;
    let gw = Gateway::start_with(
        server,
        PBX,
        "pause_reasons = [\"Break\", \"Lunch\"]\ncommand_timeout_ms = 10000\n",
    );
    let driver = Driver::start().await;
    let mut token = claims(PBX);
    token.sub = "panel-alice".into();
    token.agent = Some(ALICE.into());
    token.actions = true;
    let page = format!("/panel?agent={}&pbx={PBX}&token={}", "Local%2F1001%40agents%2Fn", sign(&token));
    driver.open_panel(&gw.http(&page)).await;
    let (clicked, answered) = driver.pause_in_panel("Lunch").await;
    driver
        .until("return document.getElementById('reason').textContent", json!("paused: Lunch"), SLOW_DEADLINE)
        .await;
    eprintln!(
        "real daemon: result on the panel {answered:?}, paused shown {:?} after the click",
        clicked.elapsed()
    );
    let support =
        "return document.querySelector('#queues tr[data-queue=\"support\"] td:nth-child(2)').textContent";
    driver.until(support, json!("paused (Lunch)"), SLOW_DEADLINE).await;
}
