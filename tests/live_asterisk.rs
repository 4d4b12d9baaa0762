//! The whole round trip against a real Asterisk that the developer runs (not in CI: CI has no Asterisk, and
//! this project never ships or builds one). Ignored unless asked for:
//!
//! ```text
//! QUEUECAST_LIVE_AMI_PORT=15040 QUEUECAST_LIVE_AMI_USER=panel QUEUECAST_LIVE_AMI_SECRET=p4nel \
//! QUEUECAST_LIVE_QUEUE_LOG=/tmp/ast-live/log/queue_log \
//! QUEUECAST_LIVE_ASTERISK="/tmp/ast22/sbin/asterisk -C /tmp/ast-live/etc/asterisk.conf" \
//! QUEUECAST_LIVE_AGENT="Local/1001@agents/n" QUEUECAST_LIVE_QUEUE=support \
//! cargo test --test live_asterisk -- --ignored --nocapture
//! ```
//!
//! The agent must be an unpaused member of the queue (e.g. `queue add member … to support`), and the AMI user
//! needs `write = agent`. Path: a click on Pause in the operator panel (headless Chromium) → the gateway's
//! POST → the command stream → `queuecast run` → QueuePause on the real AMI → Asterisk's `queue show` says
//! paused with the reason → the wallboard shows it. Prints each leg's time; unpauses at the end.

mod common;

use common::browser::{Driver, SLOW_DEADLINE};
use common::daemon::spawn;
use common::gateway::{Gateway, claims, sign};
use common::redis::RedisServer;
use serde_json::json;
use std::time::Duration;

const PBX: &str = "live";

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set (see the module doc)"))
}

/// `asterisk -rx COMMAND` through the configured Asterisk binary and config.
fn asterisk_rx(command: &str) -> String {
    let base = var("QUEUECAST_LIVE_ASTERISK");
    let mut words = base.split_whitespace();
    let out = std::process::Command::new(words.next().expect("an Asterisk binary"))
        .args(words)
        .arg("-rx")
        .arg(command)
        .output()
        .expect("run asterisk -rx");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `queue show` line of `interface`.
fn member_line(queue: &str, interface: &str) -> String {
    asterisk_rx(&format!("queue show {queue}"))
        .lines()
        .find(|l| l.contains(&format!("({interface})")))
        .unwrap_or_default()
        .to_owned()
}

fn daemon_config(dir: &std::path::Path, redis: &RedisServer) -> std::path::PathBuf {
    let text = format!(
        "[queue_log]\npath = \"{ql}\"\n\n[ami]\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"{user}\"\n\
         secret = \"{secret}\"\n\n[redis]\nurl = \"{url}\"\npbx_id = \"{PBX}\"\nqueue_update_interval_ms = 50\n\n\
         [log]\nformat = \"text\"\n\n[actions]\nenabled = true\nallow = [\"pause\", \"unpause\"]\n\
         queues = [\"*\"]\n",
        ql = var("QUEUECAST_LIVE_QUEUE_LOG"),
        port = var("QUEUECAST_LIVE_AMI_PORT"),
        user = var("QUEUECAST_LIVE_AMI_USER"),
        secret = var("QUEUECAST_LIVE_AMI_SECRET"),
        url = redis.url(),
    );
    let path = dir.join("queuecast.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// The `agent_event` messages on the PBX stream.
async fn agent_events(redis: &RedisServer) -> Vec<serde_json::Value> {
    let mut conn = redis.conn().await;
    let keys = queuecast::sink::Keys::new("queuecast", PBX);
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(keys.stream())
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .expect("XRANGE");
    reply
        .ids
        .iter()
        .flat_map(|entry| entry.map.values())
        .filter_map(|v| redis::from_redis_value::<String>(v.clone()).ok())
        .filter_map(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .filter(|m| m["type"] == "agent_event")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real Asterisk: see the module doc"]
async fn pause_from_the_panel_reaches_a_real_asterisk() {
    let agent = var("QUEUECAST_LIVE_AGENT");
    let queue = var("QUEUECAST_LIVE_QUEUE");
    assert!(!member_line(&queue, &agent).contains("paused"), "{agent} must start unpaused in {queue}");
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let _daemon = spawn(&daemon_config(dir.path(), &redis), &[]);
    let gw = Gateway::start_with(&redis, PBX, "pause_reasons = [\"Break\", \"Lunch\"]\n");
    let driver = Driver::start().await;
    let mut token = claims(PBX);
    token.sub = "live-panel".into();
    token.agent = Some(agent.clone());
    token.actions = true;
    let encoded =
        percent_encoding::utf8_percent_encode(&agent, percent_encoding::NON_ALPHANUMERIC).to_string();
    let panel = gw.http(&format!("/panel?agent={encoded}&pbx={PBX}&token={}", sign(&token)));
    driver.open_panel(&panel).await;
    let (clicked, answered) = driver.pause_in_panel("Lunch").await;
    let mut in_asterisk = None;
    while clicked.elapsed() < SLOW_DEADLINE {
        if member_line(&queue, &agent).contains("paused:Lunch") {
            in_asterisk = Some(clicked.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let line = member_line(&queue, &agent);
    assert!(in_asterisk.is_some(), "queue show {queue} says: {line}");
    driver
        .until("return document.getElementById('reason').textContent", json!("paused: Lunch"), SLOW_DEADLINE)
        .await;
    let panel_shows = clicked.elapsed();
    eprintln!("queue show: {}", line.trim());
    eprintln!(
        "click → result on the panel {answered:?}; → `queue show` paused:Lunch by {:?} (polled with asterisk -rx); \
         → panel status paused {panel_shows:?}",
        in_asterisk.unwrap()
    );
    driver.screenshot("live_panel_paused.png").await;
    let events = agent_events(&redis).await;
    assert!(
        events.iter().any(|e| e["data"]["event"] == "pause" && e["data"]["source"] == "api"),
        "the pause is published as agent_event with source api: {events:#?}"
    );

    driver.goto(&gw.http(&format!("/?pbx={PBX}&token={}", sign(&claims(PBX))))).await;
    let reason =
        format!("return document.querySelector('[data-agent=\"{agent}\"] .reason')?.textContent ?? ''");
    let shown = driver.until(&reason, json!("Lunch"), SLOW_DEADLINE).await;
    eprintln!("wallboard shows the pause reason {shown:?} after loading");
    driver.screenshot("live_wallboard_paused.png").await;

    driver.goto(&panel).await;
    driver.until("return document.getElementById('actions').hidden", json!(false), SLOW_DEADLINE).await;
    driver.click("#do-unpause").await;
    let result = "return document.getElementById('action-result').textContent";
    driver.until(result, json!("unpaused"), SLOW_DEADLINE).await;
}
