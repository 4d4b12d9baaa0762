//! The wallboard and the operator panel in a real headless Chromium (Debian's `chromium`, driven over
//! WebDriver by `chromedriver`), served by the real gateway from a real redis-server written by the sink.
//! Screenshots: `target/screenshots/wallboard.png` and `target/screenshots/panel.png`.

mod common;

use common::browser::{Driver, SLOW_DEADLINE};
use common::gateway::{Served, claims, sign};
use common::sink::Sink;
use common::updates::{fields, queue};
use queuecast::sink::{SinkMsg, Update};
use serde_json::{Value, json};
use std::time::Duration;

const PBX: &str = "pbx1";
/// What the issue asks: a change in the daemon is on the page within a second.
const CHANGE_DEADLINE: Duration = Duration::from_secs(1);

fn member(
    id: &str,
    name: &str,
    status: &str,
    queues: &[&str],
    caller: Option<&str>,
    reason: Option<&str>,
) -> Update {
    let memberships: serde_json::Map<String, Value> = queues
        .iter()
        .map(|q| (q.to_string(), json!({"paused": reason.is_some(), "pause_reason": reason, "penalty": 0})))
        .collect();
    let since = queuecast::sink::now_ms() - 65_000;
    let call = caller.map(|c| json!({"uniqueid": "1.1", "queue": queues[0], "caller_id": c, "since": since}));
    Update::Agent {
        id: id.into(),
        fields: fields(json!({"id": id, "name": name, "interface": id, "status": status,
            "status_since": since, "paused": reason.is_some(), "pause_reason": reason,
            "queues": memberships, "calls_answered": 7, "calls_missed": 0, "talk_seconds": 300, "call": call})),
    }
}

fn busy_queue(name: &str, waiting: &[&str], answered: u64) -> Update {
    let Update::Queue { name, mut fields, waiting } = queue(name, waiting, answered) else { unreachable!() };
    fields.insert("longest_wait_since".into(), json!(queuecast::sink::now_ms() - 95_000));
    fields.insert("abandoned".into(), json!(2));
    fields.insert("service_level".into(), json!(87.5));
    fields.insert("agents_talking".into(), json!(1));
    fields.insert("agents_paused".into(), json!(1));
    Update::Queue { name, fields, waiting }
}

fn state() -> Vec<Update> {
    vec![
        member("PJSIP/1001", "Alice Martin", "talking", &["sales"], Some("+49 30 5551234"), None),
        member("PJSIP/1002", "Bob Chen", "available", &["support", "sales"], None, None),
        member("PJSIP/1003", "Chiara Rossi", "paused", &["support"], None, Some("lunch")),
        member("Local/1004@agents/n", "Dmitri Ivanov", "ringing", &["sales"], Some("+33 1 5550000"), None),
        busy_queue("sales", &["9.1", "9.2"], 41),
        queue("support", &[], 17),
    ]
}

/// A live timer `M:SS` counting from `status_since` (65 s before the state was written) with server time.
fn timer_at_least_65s(selector: &str) -> String {
    format!(
        "const t = document.querySelector('{selector}').textContent; const m = /^(\\d+):(\\d\\d)$/.exec(t); \
         return !!m && Number(m[1]) * 60 + Number(m[2]) >= 65 && Number(m[1]) < 10;"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallboard_and_panel_in_headless_chromium() {
    let Served { server: _redis, settings, sink, mut gw } = Served::start(PBX, state(), "").await;
    let driver = Driver::start().await;

    // Wallboard: the state's queues and agents, then a change within a second.
    driver.goto(&gw.http(&format!("/?token={}", sign(&claims(PBX))))).await;
    driver.until("return document.querySelectorAll('[data-queue]').length", json!(2), SLOW_DEADLINE).await;
    driver.until("return document.querySelectorAll('[data-agent]').length", json!(4), SLOW_DEADLINE).await;
    let agent = |id: &str, part: &str| {
        format!("return document.querySelector('[data-agent=\"{id}\"] .{part}').textContent")
    };
    assert_eq!(driver.js(&agent("PJSIP/1001", "caller")).await, "+49 30 5551234");
    assert_eq!(driver.js(&agent("PJSIP/1003", "reason")).await, "lunch");
    let sales_waiting = "return document.querySelector('[data-queue=\"sales\"] .waiting b').textContent";
    assert_eq!(driver.js(sales_waiting).await, "2");
    driver.until(&timer_at_least_65s("[data-agent=\"PJSIP/1001\"] .timer"), json!(true), SLOW_DEADLINE).await;
    sink.handle.send(SinkMsg::Updates(vec![member(
        "PJSIP/1002",
        "Bob Chen",
        "talking",
        &["support"],
        Some("+1 555 0100"),
        None,
    )]));
    sink.flushed().await;
    let took = driver.until(&agent("PJSIP/1002", "caller"), json!("+1 555 0100"), CHANGE_DEADLINE).await;
    eprintln!("wallboard showed the change {took:?} after the write");
    let shot = driver.screenshot("wallboard.png").await;
    eprintln!("screenshot: {}", shot.display());

    // Daemon restart (new epoch): the page takes the new snapshot by itself.
    sink.stop().await;
    let mut next = state();
    next.push(queue("billing", &["8.1"], 3));
    let sink = Sink::start_with_state(settings.clone(), next).await;
    driver.until("return document.querySelectorAll('[data-queue]').length", json!(3), SLOW_DEADLINE).await;
    sink.handle.send(SinkMsg::Updates(vec![queue("billing", &[], 4)]));
    sink.flushed().await;
    let billing =
        "return document.querySelector('[data-queue=\"billing\"] [data-stat=\"answered\"] b').textContent";
    driver.until(billing, json!("4"), CHANGE_DEADLINE).await;

    // Operator panel with an agent token: own status, the caller's number, its queues; live changes.
    let mut mine = claims(PBX);
    mine.agent = Some("PJSIP/1001".into());
    driver.goto(&gw.http(&format!("/panel?agent=PJSIP%2F1001&token={}", sign(&mine)))).await;
    driver
        .until(
            "return document.querySelector('#caller .number')?.textContent ?? ''",
            json!("+49 30 5551234"),
            SLOW_DEADLINE,
        )
        .await;
    assert_eq!(driver.js("return document.getElementById('status').textContent").await, "talking");
    assert_eq!(driver.js("return document.querySelectorAll('#queues tr').length").await, 1);
    assert_eq!(driver.js("return document.querySelector('#queues tr .waiting').textContent").await, "2");
    sink.handle.send(SinkMsg::Updates(vec![member(
        "PJSIP/1001",
        "Alice Martin",
        "ringing",
        &["sales"],
        Some("+44 20 7946 0000"),
        None,
    )]));
    sink.flushed().await;
    let took = driver
        .until(
            "return document.querySelector('#caller .number')?.textContent ?? ''",
            json!("+44 20 7946 0000"),
            CHANGE_DEADLINE,
        )
        .await;
    eprintln!("panel showed the change {took:?} after the write");
    driver.until(&timer_at_least_65s("#timer"), json!(true), SLOW_DEADLINE).await;
    let shot = driver.screenshot("panel.png").await;
    eprintln!("screenshot: {}", shot.display());

    // Gateway restart: the panel reconnects and resumes by itself.
    gw.restart();
    sink.handle.send(SinkMsg::Updates(vec![member(
        "PJSIP/1001",
        "Alice Martin",
        "available",
        &["sales"],
        None,
        None,
    )]));
    sink.flushed().await;
    driver
        .until("return document.getElementById('status').textContent", json!("available"), SLOW_DEADLINE)
        .await;
    driver
        .until(
            "return document.querySelector('#caller .label').textContent",
            json!("No caller"),
            SLOW_DEADLINE,
        )
        .await;
    sink.stop().await;
}
