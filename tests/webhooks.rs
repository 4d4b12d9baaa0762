//! Webhooks end to end: the real sink writes the stream into a real redis-server, the real gateway binary
//! delivers to real HTTP receivers (axum servers in this process), across a gateway crash and a receiver
//! outage; hostile webhook configs through `check-config`.

mod common;

use axum::http::Method;
use common::gateway::{Gateway, log_lines};
use common::receiver::{Mode, Received, Receiver, agent_event_hook};
use common::redis::{RedisServer, eventually};
use common::sink::Sink;
use common::updates::{fields, queue};
use queuecast::sink::{SinkMsg, Update};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

const PBX: &str = "pbx1";
const SECRET: &str = "webhook-secret-0123456789";
/// Generous: two loaded cores, a binary restart, retries with backoff.
const WAIT: Duration = Duration::from_secs(60);

fn agent_event(agent: &str, event: &str, queue: &str, n: u64) -> Update {
    Update::AgentEvent {
        id: agent.into(),
        data: fields(json!({"event": event, "queue": queue, "reason": format!("Lunch & co {n}"),
            "source": "api", "at": 1_732_300_000_000_i64 + n as i64})),
    }
}

/// One round: an event per agent (1001 in sales, 1002 in support) and a queue update.
async fn publish(sink: &Sink, n: u64) {
    let event = if n % 2 == 0 { "pause" } else { "unpause" };
    sink.handle.send(SinkMsg::Updates(vec![
        agent_event("PJSIP/1001", event, "sales", n),
        agent_event("PJSIP/1002", event, "support", n),
        queue("sales", &[], n),
    ]));
    sink.flushed().await;
}

/// Every stream message after `after` (an entry id), parsed; entries that are not messages left out.
async fn stream_after(server: &RedisServer, after: &str) -> Vec<Value> {
    let keys = server.settings(PBX).keys();
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(keys.stream())
        .arg(format!("({after}"))
        .arg("+")
        .query_async(&mut server.conn().await)
        .await
        .expect("XRANGE");
    reply
        .ids
        .iter()
        .filter_map(|e| e.get::<String>("payload"))
        .map(|p| serde_json::from_str(&p).unwrap())
        .collect()
}

/// Group name → last-delivered-id, once the gateway has created them all.
async fn groups(server: &RedisServer, count: usize) -> HashMap<String, String> {
    let stream = server.settings(PBX).keys().stream();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let info: Result<Vec<HashMap<String, redis::Value>>, _> =
            redis::cmd("XINFO").arg("GROUPS").arg(&stream).query_async(&mut server.conn().await).await;
        let found: HashMap<String, String> = info
            .unwrap_or_default()
            .into_iter()
            .map(|g| {
                let text = |k: &str| redis::from_redis_value::<String>(g[k].clone()).unwrap();
                (text("name"), text("last-delivered-id"))
            })
            .collect();
        if found.len() == count {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "the gateway creates a consumer group per webhook");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Entries read by the webhook's group and not yet acknowledged.
async fn pending(server: &RedisServer, hook: &str) -> u64 {
    let reply: (u64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg(server.settings(PBX).keys().stream())
        .arg(format!("queuecast-webhook-{hook}"))
        .query_async(&mut server.conn().await)
        .await
        .expect("XPENDING");
    reply.0
}

/// The ids of the agent events in the stream after `after`, in order.
async fn agent_event_ids(server: &RedisServer, after: &str) -> Vec<String> {
    stream_after(server, after).await.iter().filter(|m| m["type"] == "agent_event").map(event_id).collect()
}

/// A fresh redis-server and the sink every test writes through (one `sales` queue in its state).
async fn redis_and_sink() -> (RedisServer, Sink) {
    let server = RedisServer::start();
    let sink = Sink::start_with_state(server.settings(PBX), vec![queue("sales", &[], 0)]).await;
    (server, sink)
}

fn event_id(msg: &Value) -> String {
    format!("{}:{}:{}", msg["pbx"].as_str().unwrap(), msg["epoch"].as_str().unwrap(), msg["seq"])
}

fn hmac_hex(secret: &str, timestamp: &str, signed: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, format!("{timestamp}.{signed}").as_bytes());
    format!("sha256={}", tag.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// The ids each request carried, in arrival order; each must be exactly once.
fn ids_once(received: &[Received], what: &str) -> Vec<String> {
    let ids: Vec<String> = received.iter().map(|r| r.header("x-queuecast-event-id")).collect();
    let mut counts = BTreeMap::new();
    for id in &ids {
        *counts.entry(id.clone()).or_insert(0) += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{what}: ids delivered more than once: {twice:?}");
    ids
}

fn form_pairs(text: &str) -> BTreeMap<String, String> {
    text.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            let d = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned()
            };
            (d(k), d(v))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_once_per_id_across_restart_and_outage_with_filters_and_signatures() {
    let (server, sink) = redis_and_sink().await;
    let mut main = Receiver::start(Mode::Accept).await;
    let side = Receiver::start(Mode::Accept).await;
    let slow = Receiver::start(Mode::Hang).await;
    let retries = "backoff_min_ms = 20\nbackoff_max_ms = 300\n";
    let main_hook = format!(
        r#"
[[gateway.webhooks]]
name = "main"
url = "{main}"
events = ["agent_event", "queue_update"]
secret = "{SECRET}"
timeout_ms = 1000
{retries}"#,
        main = main.url("/hooks/main"),
    );
    let hooks = [
        main_hook,
        agent_event_hook(
            "get",
            &side.url("/get?key=abc"),
            &format!("method = \"GET\"\nagents = [\"PJSIP/1001\"]\nsecret = \"{SECRET}\"\n{retries}"),
        ),
        agent_event_hook(
            "form",
            &side.url("/form"),
            &format!("body = \"form\"\nqueues = [\"support\"]\n{retries}"),
        ),
        agent_event_hook("slow", &slow.url("/slow"), &format!("timeout_ms = 200\n{retries}")),
    ]
    .join("");
    let mut gw = Gateway::start_with(&server, PBX, &hooks);
    let start = groups(&server, 4).await;
    let from = start["queuecast-webhook-main"].clone();
    assert!(start.values().all(|id| *id == from), "every group starts at the stream's end: {start:?}");

    // Phase 1: delivered while the slow receiver never answers.
    for n in 1..=5 {
        publish(&sink, n).await;
    }
    let wanted = |msgs: &[Value], f: &dyn Fn(&Value) -> bool| -> Vec<String> {
        msgs.iter().filter(|m| f(m)).map(event_id).collect()
    };
    let is_event = |m: &Value| m["type"] == "agent_event";
    let main_wants = |m: &Value| m["type"] == "agent_event" || m["type"] == "queue_update";
    let get_wants = |m: &Value| is_event(m) && m["id"] == "PJSIP/1001";
    let form_wants = |m: &Value| is_event(m) && m["data"]["queue"] == "support";
    let msgs = stream_after(&server, &from).await;
    let phase1 = wanted(&msgs, &main_wants);
    assert_eq!(phase1.len(), 15, "five rounds of two events and a queue update: {msgs:?}");
    eventually(WAIT, "main gets phase 1 while `slow` hangs", || async {
        main.accepted_count() >= phase1.len()
    })
    .await;
    assert!(slow.refused() >= 1, "the slow receiver was tried");

    // Phase 2: written while the gateway is down (SIGKILL), delivered after it starts again. It is killed
    // once every delivered event is acknowledged: a crash between a 2xx and its XACK sends that one event
    // again (at least once; the receiver dedupes by id), which is not what this phase checks.
    eventually(WAIT, "phase 1 acknowledged", || async {
        pending(&server, "main").await == 0
            && pending(&server, "get").await == 0
            && pending(&server, "form").await == 0
    })
    .await;
    gw.kill();
    for n in 6..=8 {
        publish(&sink, n).await;
    }
    gw.restart();

    // Phase 3: main answers 503 for a while, then is down entirely, then back.
    let refused_before = main.refused();
    eventually(WAIT, "phase 2 delivered after the restart", || async {
        main.accepted_count() >= wanted(&stream_after(&server, &from).await, &main_wants).len()
    })
    .await;
    main.set(Mode::Reject);
    publish(&sink, 9).await;
    eventually(WAIT, "main refuses a few tries", || async { main.refused() >= refused_before + 3 }).await;
    main.down().await;
    for n in 10..=12 {
        publish(&sink, n).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    main.set(Mode::Accept);
    main.up().await;

    let msgs = stream_after(&server, &from).await;
    let (main_ids, get_ids, form_ids) =
        (wanted(&msgs, &main_wants), wanted(&msgs, &get_wants), wanted(&msgs, &form_wants));
    eventually(WAIT, "every webhook has all its events", || async {
        let got = side.accepted();
        main.accepted_count() >= main_ids.len()
            && got.iter().filter(|r| r.path == "/get").count() >= get_ids.len()
            && got.iter().filter(|r| r.path == "/form").count() >= form_ids.len()
    })
    .await;
    // Give late duplicates, if any, the time to show.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let got_main = main.accepted();
    assert_eq!(ids_once(&got_main, "main"), main_ids, "main: every event once, in stream order");
    let side_got = side.accepted();
    let got_get: Vec<_> = side_got.iter().filter(|r| r.path == "/get").cloned().collect();
    let got_form: Vec<_> = side_got.iter().filter(|r| r.path == "/form").cloned().collect();
    assert_eq!(ids_once(&got_get, "get"), get_ids, "GET: only PJSIP/1001's agent events");
    assert_eq!(ids_once(&got_form, "form"), form_ids, "form: only events in queue support");
    assert_eq!(get_ids.len(), 12);
    assert_eq!(form_ids.len(), 12);

    let by_id: HashMap<String, &Value> = msgs.iter().map(|m| (event_id(m), m)).collect();
    for r in &got_main {
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.header("content-type"), "application/json");
        let ts = r.header("x-queuecast-timestamp");
        assert_eq!(r.header("x-queuecast-signature"), hmac_hex(SECRET, &ts, &r.body), "POST signature");
        let body: Value = serde_json::from_str(&r.body).unwrap();
        let id = r.header("x-queuecast-event-id");
        assert_eq!(body["event_id"], id.as_str());
        let mut sent = body.as_object().unwrap().clone();
        sent.remove("event_id");
        assert_eq!(&Value::Object(sent), by_id[&id], "the body is the stream message");
        assert_eq!(r.header("x-queuecast-event"), by_id[&id]["type"].as_str().unwrap());
    }
    for r in &got_get {
        assert_eq!(r.method, Method::GET);
        assert!(r.body.is_empty());
        let ts = r.header("x-queuecast-timestamp");
        assert_eq!(r.header("x-queuecast-signature"), hmac_hex(SECRET, &ts, &r.query), "GET signs the query");
        let q = form_pairs(&r.query);
        let msg = by_id[&r.header("x-queuecast-event-id")];
        assert_eq!(q["key"], "abc", "the URL's own query is kept");
        assert_eq!(q["event_id"], r.header("x-queuecast-event-id"));
        assert_eq!(q["id"], "PJSIP/1001");
        assert_eq!(q["data[reason]"], msg["data"]["reason"].as_str().unwrap());
        assert_eq!(q["seq"], msg["seq"].to_string());
    }
    for r in &got_form {
        assert_eq!(r.header("content-type"), "application/x-www-form-urlencoded");
        assert!(r.headers.get("x-queuecast-signature").is_none(), "no secret, no signature");
        let f = form_pairs(&r.body);
        assert_eq!(f["data[queue]"], "support");
        assert_eq!(f["type"], "agent_event");
    }

    // The receiver example checks a real request's signature the same way.
    let sample = &got_get[0];
    let python = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/webhook_receiver.py"))
        .args(["--check", SECRET, &sample.header("x-queuecast-timestamp"), &sample.query])
        .arg(sample.header("x-queuecast-signature"))
        .output()
        .expect("python3 must be installed");
    assert_eq!(String::from_utf8_lossy(&python.stdout).trim(), "valid");
    let tampered = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/webhook_receiver.py"))
        .args(["--check", SECRET, &sample.header("x-queuecast-timestamp"), &format!("{}x", sample.query)])
        .arg(sample.header("x-queuecast-signature"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&tampered.stdout).trim(), "invalid");

    // The outage was said once, and its end once; the secret never.
    let log = gw.log();
    let lines = |needle: &str| log_lines(&log, &[needle, "webhook=main"]);
    assert_eq!(lines("webhook receiver failed"), 1, "{log}");
    assert_eq!(lines("webhook receiver is back"), 1, "{log}");
    assert!(!log.contains(SECRET), "secret in the log:\n{log}");
    drop(gw);
    sink.stop().await;
}

/// Two gateway instances share each webhook's consumer group: every event reaches the receiver once, from
/// one instance or the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateway_instances_deliver_each_event_once() {
    let (server, sink) = redis_and_sink().await;
    let receiver = Receiver::start(Mode::Accept).await;
    let hook = agent_event_hook("crm", &receiver.url("/crm"), "backoff_min_ms = 20\n");
    let first = Gateway::start_with(&server, PBX, &hook);
    let from = groups(&server, 1).await["queuecast-webhook-crm"].clone();
    let second = Gateway::start_with(&server, PBX, &hook);
    let consumers = || async {
        let info: Vec<HashMap<String, redis::Value>> = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(server.settings(PBX).keys().stream())
            .arg("queuecast-webhook-crm")
            .query_async(&mut server.conn().await)
            .await
            .unwrap_or_default();
        info.len()
    };
    eventually(WAIT, "both instances joined the group", || async { consumers().await == 2 }).await;
    for n in 1..=10 {
        publish(&sink, n).await;
    }
    // A stream entry that is not a message, between two of the daemon's (ids are `SEQ-0`): skipped, and
    // delivery goes on.
    let last: redis::streams::StreamRangeReply = redis::cmd("XREVRANGE")
        .arg(server.settings(PBX).keys().stream())
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut server.conn().await)
        .await
        .unwrap();
    let junk_id = format!("{}-1", last.ids[0].id.split('-').next().unwrap());
    redis::cmd("XADD")
        .arg(server.settings(PBX).keys().stream())
        .arg(&junk_id)
        .arg("junk")
        .arg("not a message")
        .query_async::<String>(&mut server.conn().await)
        .await
        .unwrap();
    for n in 11..=20 {
        publish(&sink, n).await;
    }
    let expected = agent_event_ids(&server, &from).await;
    assert_eq!(expected.len(), 40);
    eventually(WAIT, "every event delivered", || async { receiver.accepted_count() >= expected.len() }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut got = ids_once(&receiver.accepted(), "two instances");
    got.sort_by_key(|id| id.rsplit(':').next().unwrap().parse::<u64>().unwrap());
    assert_eq!(got, expected);
    let log = format!("{}{}", first.log(), second.log());
    assert!(!log.contains("webhook receiver failed"), "{log}");
    let skipped = log_lines(&log, &["that are not messages", &junk_id]);
    assert_eq!(skipped, 1, "the junk entry is skipped once, by the instance that read it:\n{log}");
    sink.stop().await;
}

/// Redis hangs (SIGSTOP), then is killed and starts empty: the webhook says each outage once, goes on after
/// the hang without losing or repeating, and after the data loss recreates its group and delivers what the
/// daemon writes to the new stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_hang_and_data_loss() {
    let (mut server, sink) = redis_and_sink().await;
    let receiver = Receiver::start(Mode::Accept).await;
    let hook = format!(
        "pbx = [\"{PBX}\"]\n{}",
        agent_event_hook("crm", &receiver.url("/crm"), "backoff_min_ms = 20\n")
    );
    let gw = Gateway::start_with(&server, PBX, &hook);
    let from = groups(&server, 1).await["queuecast-webhook-crm"].clone();
    for n in 1..=3 {
        publish(&sink, n).await;
    }
    eventually(WAIT, "first events", || async { receiver.accepted_count() >= 6 }).await;
    let before_hang = stream_after(&server, &from).await;

    server.pause();
    tokio::time::sleep(Duration::from_secs(5)).await;
    server.resume();
    for n in 4..=6 {
        publish(&sink, n).await;
    }
    let msgs = stream_after(&server, &from).await;
    let expected: Vec<String> = msgs.iter().filter(|m| m["type"] == "agent_event").map(event_id).collect();
    eventually(WAIT, "events after the hang", || async { receiver.accepted_count() >= expected.len() }).await;
    assert_eq!(ids_once(&receiver.accepted(), "after the hang"), expected);
    assert!(before_hang.len() < msgs.len());

    server.restart();
    // The daemon's sink reconnects, rewrites the state (a new `meta`), and goes on writing the new stream.
    let delivered = receiver.accepted_count();
    eventually(WAIT, "the sink rewrote the state", || async {
        let exists: bool = redis::cmd("EXISTS")
            .arg(server.settings(PBX).keys().meta())
            .query_async(&mut server.conn().await)
            .await
            .unwrap_or(false);
        exists
    })
    .await;
    for n in 7..=9 {
        publish(&sink, n).await;
    }
    let after = agent_event_ids(&server, "0-0").await;
    // Agent events the sink could not write while Redis was down end in its resync, not in the stream.
    assert!(after.len() >= 2, "the new stream holds events written after the restart: {after:?}");
    eventually(WAIT, "events after the data loss", || async {
        receiver.accepted_count() >= delivered + after.len()
    })
    .await;
    let all = ids_once(&receiver.accepted(), "after the data loss");
    assert_eq!(all[delivered..], after[..]);
    let log = gw.log();
    let count = |needle: &str| log_lines(&log, &[needle, "webhook=crm"]);
    assert!(
        count("webhook lost Redis") >= 1 && count("webhook lost Redis") == count("webhook reads Redis again"),
        "{log}"
    );
    assert!(count("group is gone") + count("webhook lost Redis") >= 2, "{log}");
    sink.stop().await;
}

/// A 3xx is a failed try (the redirect is not followed), and a huge response body is not read whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed_and_response_bodies_are_bounded() {
    let (server, sink) = redis_and_sink().await;
    let elsewhere = Receiver::start(Mode::Accept).await;
    let target: &'static str = Box::leak(elsewhere.url("/elsewhere").into_boxed_str());
    let receiver = Receiver::start(Mode::Redirect(target)).await;
    let hook = agent_event_hook("crm", &receiver.url("/crm"), "backoff_min_ms = 20\nbackoff_max_ms = 100\n");
    let gw = Gateway::start_with(&server, PBX, &hook);
    let from = groups(&server, 1).await["queuecast-webhook-crm"].clone();
    publish(&sink, 1).await;
    eventually(WAIT, "redirected tries", || async { receiver.refused() >= 3 }).await;
    assert!(elsewhere.accepted().is_empty() && elsewhere.refused() == 0, "the redirect was followed");
    receiver.set(Mode::Big);
    for n in 2..=4 {
        publish(&sink, n).await;
    }
    let expected = agent_event_ids(&server, &from).await;
    eventually(WAIT, "delivered to a receiver with huge answers", || async {
        receiver.accepted_count() >= expected.len()
    })
    .await;
    assert_eq!(ids_once(&receiver.accepted(), "big answers"), expected);
    let log = gw.log();
    assert!(log.contains("answered 302 Found (redirects are not followed)"), "{log}");
    sink.stop().await;
}

/// An https receiver whose certificate a private CA signed: delivered with `ca_file`, refused (a failed
/// try, said once) against the default webpki roots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_receiver_checked_against_its_ca() {
    let (server, sink) = redis_and_sink().await;
    let good = Receiver::start_tls(Mode::Accept).await;
    let strict = Receiver::start_tls(Mode::Accept).await;
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/ca.pem");
    let hooks = agent_event_hook("private-ca", &good.url("/tls"), &format!("ca_file = \"{ca}\"\n"))
        + &agent_event_hook("webpki", &strict.url("/tls"), "backoff_min_ms = 20\n");
    let gw = Gateway::start_with(&server, PBX, &hooks);
    let from = groups(&server, 2).await["queuecast-webhook-private-ca"].clone();
    publish(&sink, 1).await;
    let expected = agent_event_ids(&server, &from).await;
    eventually(WAIT, "delivered over TLS", || async { good.accepted_count() >= expected.len() }).await;
    assert_eq!(ids_once(&good.accepted(), "tls"), expected);
    eventually(WAIT, "the unknown CA refused", || async {
        log_lines(&gw.log(), &["webhook receiver failed", "webhook=webpki"]) > 0
    })
    .await;
    assert_eq!(strict.accepted_count(), 0);
    let log = gw.log();
    assert!(log_lines(&log, &["webhook=webpki", "TLS"]) > 0, "{log}");
    sink.stop().await;
}
