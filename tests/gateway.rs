//! The gateway binary against a real redis-server written by the real sink, with real clients: HTTP
//! (reqwest), WebSocket (tokio-tungstenite) and SSE (the raw event stream).

mod common;

use common::gateway::{Follower, Gateway, Served, Shared, claims, follow_sse, follow_ws, now_s, sign};
use common::redis::{RedisServer, eventually};
use common::sink::Sink;
use common::updates::{call, fields, queue, random_batch};
use queuecast::config::RedisConfig;
use queuecast::gateway::follow::filtered_state;
use queuecast::gateway::scope::Scope;
use queuecast::sink::reader;
use queuecast::sink::{SinkMsg, Update};
use rand::SeedableRng;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const PBX: &str = "pbx1";
/// Generous: two loaded cores.
const WAIT: Duration = Duration::from_secs(30);

fn member(id: &str, status: &str, queues: &[&str], caller: Option<&str>) -> Update {
    let memberships: serde_json::Map<String, Value> = queues
        .iter()
        .map(|q| (q.to_string(), json!({"paused": false, "pause_reason": null, "penalty": 0})))
        .collect();
    let call = caller.map(|c| json!({"uniqueid": "1.1", "queue": queues[0], "caller_id": c, "since": 1}));
    Update::Agent {
        id: id.into(),
        fields: fields(json!({"id": id, "name": format!("Agent {id}"), "interface": id, "status": status,
            "status_since": 1_732_300_000_000_i64, "paused": false, "pause_reason": null,
            "queues": memberships, "calls_answered": 1, "calls_missed": 0, "talk_seconds": 0,
            "call": call})),
    }
}

fn initial_state() -> Vec<Update> {
    vec![
        member("PJSIP/1001", "talking", &["sales"], Some("5551234")),
        member("PJSIP/1002", "available", &["support"], None),
        member("Local/1003@agents/n", "available", &["sales", "support"], None),
        queue("sales", &["9.1"], 3),
        queue("support", &[], 1),
        call("9.1", "waiting"),
    ]
}

/// The hashes as the gateway's open view renders them (the state every follower must end with).
async fn expected(server: &RedisServer, settings: &RedisConfig) -> Value {
    let view = reader::read_snapshot(&mut server.conn().await, &settings.keys()).await.expect("snapshot");
    filtered_state(&view, &Scope::default(), PBX, 0)
}

async fn meta_seq(server: &RedisServer, settings: &RedisConfig) -> u64 {
    let meta = reader::read_meta(&mut server.conn().await, &settings.keys()).await.expect("meta");
    meta["seq"].parse().expect("seq")
}

async fn get(url: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("HTTP request")
}

async fn json_of(url: &str, token: &str) -> Value {
    let response = get(url, Some(token)).await;
    assert_eq!(response.status(), 200, "{url}");
    response.json().await.expect("JSON body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_with_tokens_scopes_and_hostile_input() {
    let Served { server, settings, sink, gw } = Served::start(PBX, initial_state(), "").await;
    let token = sign(&claims(PBX));

    // Open endpoints.
    let time = json_of(&gw.http("/v1/time"), "").await;
    assert!((time["ts"].as_i64().unwrap() - queuecast::sink::now_ms()).abs() < 60_000);
    assert_eq!(get(&gw.http("/healthz"), None).await.status(), 200);
    // Everything else needs a token.
    for path in ["/metrics", "/v1/pbx", "/v1/pbx1/state", "/v1/pbx1/agents", "/v1/pbx1/queues/sales"] {
        let response = get(&gw.http(path), None).await;
        assert_eq!(response.status(), 401, "{path}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }

    let pbxes = json_of(&gw.http("/v1/pbx"), &token).await;
    assert_eq!(pbxes[0]["pbx"], PBX);
    assert_eq!(pbxes[0]["seq"].as_u64().unwrap(), meta_seq(&server, &settings).await);
    let state = json_of(&gw.http("/v1/pbx1/state"), &token).await;
    let want = expected(&server, &settings).await;
    assert_eq!(state["agents"], want["agents"]);
    assert_eq!(state["queues"], want["queues"]);
    assert_eq!(state["seq"], want["seq"]);
    assert_eq!(state["agents"]["PJSIP/1001"]["call"]["caller_id"], "5551234");
    assert_eq!(state["agents"]["PJSIP/1001"]["paused"], false);
    assert_eq!(state["queues"]["sales"]["waiting"]["9.1"]["caller_id"], "5551234");
    let metrics = get(&gw.http("/metrics"), Some(&token)).await.text().await.unwrap();
    assert!(metrics.contains("queuecast_gateway_snapshot_reads_total"), "{metrics}");
    assert_eq!(json_of(&gw.http("/v1/pbx1/agents"), &token).await, want["agents"]);
    assert_eq!(json_of(&gw.http("/v1/pbx1/queues"), &token).await, want["queues"]);
    // Ids URL-encoded (agent ids contain '/', '@'), and '/' left as is works too.
    let encoded = json_of(&gw.http("/v1/pbx1/agents/Local%2F1003%40agents%2Fn"), &token).await;
    assert_eq!(encoded["id"], "Local/1003@agents/n");
    assert_eq!(json_of(&gw.http("/v1/pbx1/agents/PJSIP/1001"), &token).await["status"], "talking");
    assert_eq!(json_of(&gw.http("/v1/pbx1/queues/sales"), &token).await["answered"], 3);
    assert_eq!(json_of(&gw.http("/v1/pbx1/calls/9.1"), &token).await["outcome"], "waiting");
    assert_eq!(get(&gw.http("/v1/pbx1/agents/PJSIP%2F9999"), Some(&token)).await.status(), 404);
    assert_eq!(get(&gw.http("/v1/pbx1/calls/nope"), Some(&token)).await.status(), 404);
    assert_eq!(get(&gw.http("/v1/nopbx/state"), Some(&sign(&claims("nopbx")))).await.status(), 404);

    // Bad tokens: expired, wrong key, alg none, garbage; another PBX's token is 403.
    let mut expired = claims(PBX);
    expired.exp = now_s() - 120;
    let body = sign(&claims(PBX)).split('.').nth(1).unwrap().to_owned();
    let wrong_key = queuecast::gateway::token::issue(b"another-secret-0123456789", &claims(PBX)).unwrap();
    for bad in
        [sign(&expired), wrong_key, format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{body}."), "x.y.z".into()]
    {
        assert_eq!(get(&gw.http("/v1/pbx1/state"), Some(&bad)).await.status(), 401, "{bad}");
        assert_eq!(get(&gw.http(&format!("/v1/pbx1/state?token={bad}")), None).await.status(), 401);
    }
    assert_eq!(get(&gw.http("/v1/pbx1/state"), Some(&sign(&claims("other")))).await.status(), 403);
    // The token also works as ?token=.
    assert_eq!(get(&gw.http(&format!("/v1/pbx1/agents?token={token}")), None).await.status(), 200);

    // An agent-scoped token sees that agent and its queues only.
    let mut mine = claims(PBX);
    mine.agent = Some("PJSIP/1001".into());
    let agent_token = sign(&mine);
    let scoped = json_of(&gw.http("/v1/pbx1/state"), &agent_token).await;
    assert_eq!(scoped["agents"].as_object().unwrap().keys().collect::<Vec<_>>(), ["PJSIP/1001"]);
    assert_eq!(scoped["queues"].as_object().unwrap().keys().collect::<Vec<_>>(), ["sales"]);
    assert_eq!(get(&gw.http("/v1/pbx1/agents/PJSIP%2F1002"), Some(&agent_token)).await.status(), 403);
    assert_eq!(get(&gw.http("/v1/pbx1/queues/support"), Some(&agent_token)).await.status(), 403);
    assert_eq!(get(&gw.http("/v1/pbx1/state?agent=PJSIP%2F1002"), Some(&agent_token)).await.status(), 403);
    assert_eq!(get(&gw.http("/v1/pbx1/calls/9.1"), Some(&agent_token)).await.status(), 200);
    // A queue filter in the query narrows an open token's view.
    let support = json_of(&gw.http("/v1/pbx1/state?queue=support"), &token).await;
    assert_eq!(support["queues"].as_object().unwrap().keys().collect::<Vec<_>>(), ["support"]);
    let agents: Vec<&String> = support["agents"].as_object().unwrap().keys().collect();
    assert_eq!(agents, ["Local/1003@agents/n", "PJSIP/1002"]);

    // Pages from the binary, nothing from elsewhere; no path reaches outside them.
    for path in ["/", "/panel?agent=PJSIP%2F1001", "/assets/queuecast.js", "/assets/style.css"] {
        let response = get(&gw.http(path), None).await;
        assert_eq!(response.status(), 200, "{path}");
        let text = response.text().await.unwrap();
        assert!(!text.contains("http://") && !text.contains("https://") && !text.contains("//cdn"), "{path}");
    }
    for path in [
        "/../../etc/passwd",
        "/assets/../../Cargo.toml",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/assets/%2e%2e%2fCargo.toml",
        "/assets/..%2f..%2fsrc%2fmain.rs",
        "//etc/passwd",
    ] {
        let response = get(&gw.http(path), None).await;
        assert_eq!(response.status(), 404, "{path}");
        assert!(!response.text().await.unwrap().contains("root:"), "{path}");
    }
    let long = format!("/v1/pbx1/state?queue={}", "q".repeat(10_000));
    assert_eq!(get(&gw.http(&long), Some(&token)).await.status(), 414);

    // CORS: only configured origins (none here) get an allow-origin header.
    let response = reqwest::Client::new()
        .get(gw.http("/v1/time"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("access-control-allow-origin").is_none());
    assert!(!gw.log().contains(common::gateway::SECRET), "the secret never reaches the log");
    sink.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_configured_origins_only_and_no_secret_means_exit_78() {
    let server = RedisServer::start();
    let gw = Gateway::start_with(&server, PBX, "allowed_origins = [\"https://crm.example.com\"]");
    let preflight = |origin: &'static str| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, gw.http("/v1/pbx1/state"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let ok = preflight("https://crm.example.com").await.unwrap();
    assert_eq!(ok.headers()["access-control-allow-origin"], "https://crm.example.com");
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(refused.headers().get("access-control-allow-origin").is_none());

    // Closed by default: no token secret, no gateway (exit 78, a clear message, no secret anywhere).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.toml");
    std::fs::write(
        &path,
        format!("[redis]\nurl = \"{}\"\n[gateway]\nlisten = \"127.0.0.1:0\"\n", server.url()),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_queuecast"))
        .args(["gateway", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("token_secret"));
    // check-config masks the secret; `queuecast token` signs with it.
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_queuecast"))
        .args(["check-config", "--config"])
        .arg(gw.config_path())
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&check.stdout);
    assert!(shown.contains("[gateway]") && shown.contains("***") && !shown.contains(common::gateway::SECRET));
    let token = std::process::Command::new(env!("CARGO_BIN_EXE_queuecast"))
        .args(["token", "--agent", "PJSIP/1001", "--queue", "sales", "--ttl", "8h", "--config"])
        .arg(gw.config_path())
        .output()
        .unwrap();
    assert!(token.status.success(), "{}", String::from_utf8_lossy(&token.stderr));
    let claims = queuecast::gateway::token::verify(
        common::gateway::SECRET.as_bytes(),
        String::from_utf8_lossy(&token.stdout).trim(),
    )
    .unwrap();
    assert_eq!(claims.agent.as_deref(), Some("PJSIP/1001"));
    assert_eq!(claims.queues, Some(vec!["sales".to_owned()]));
    assert!(claims.exp >= now_s() + 8 * 3600 - 60 && claims.exp <= now_s() + 8 * 3600 + 60);
}

/// Writes random batches until told to stop.
fn writer(
    handle: queuecast::sink::SinkHandle,
    seed: u64,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut round = seed * 100_000;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            handle.send(SinkMsg::Updates(random_batch(&mut rng, round)));
            tokio::time::sleep(Duration::from_millis(2)).await;
            round += 1;
        }
    })
}

async fn write_for(sink: &Sink, seed: u64, ms: u64) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let task = writer(sink.handle.clone(), seed, stop.clone());
    tokio::time::sleep(Duration::from_millis(ms)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    task.await.unwrap();
    sink.flushed().await;
}

/// Both followers reach the hashes' seq and hold exactly the hashes' state.
async fn converge(server: &RedisServer, settings: &RedisConfig, followers: &[&Shared]) {
    let seq = meta_seq(server, settings).await;
    for (i, f) in followers.iter().enumerate() {
        eventually(WAIT, &format!("follower {i} at seq {seq}"), || async { f.lock().unwrap().seq >= seq })
            .await;
    }
    let want = expected(server, settings).await;
    for f in followers {
        let f = f.lock().unwrap();
        assert_eq!(Value::Object(f.agents.clone()), want["agents"]);
        assert_eq!(Value::Object(f.queues.clone()), want["queues"]);
        assert_eq!(f.epoch, want["epoch"].as_str().unwrap());
    }
}

/// Messages strictly increase by seq (nothing twice, in order) between snapshots.
fn assert_ordered(f: &Follower, from: usize) {
    let seqs = f.messages_after(from);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "messages out of order or twice: {seqs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_cross_daemon_and_gateway_restarts_and_end_equal_to_the_hashes() {
    let Served { server, settings, sink, mut gw } = Served::start(PBX, initial_state(), "").await;
    let token = sign(&claims(PBX));
    let ws: Shared = Arc::default();
    let sse: Shared = Arc::default();
    let ws_task = follow_ws(gw.ws(&format!("/v1/pbx1/ws?token={token}")), ws.clone()).await;
    let sse_task = follow_sse(gw.http(&format!("/v1/pbx1/events?token={token}")), None, sse.clone()).await;
    eventually(WAIT, "first snapshots", || async {
        ws.lock().unwrap().snapshots == 1 && sse.lock().unwrap().snapshots == 1
    })
    .await;
    assert_eq!(ws.lock().unwrap().frames[0].0, "snapshot");
    write_for(&sink, 1, 400).await;
    converge(&server, &settings, &[&ws, &sse]).await;
    assert_eq!(ws.lock().unwrap().snapshots, 1, "a quiet follow needs one snapshot");
    let first_epoch = ws.lock().unwrap().epoch.clone();

    // Daemon restart: a new epoch; both followers get a new snapshot and go on.
    sink.stop().await;
    let sink = Sink::start_with_state(settings.clone(), initial_state()).await;
    write_for(&sink, 2, 300).await;
    converge(&server, &settings, &[&ws, &sse]).await;
    for f in [&ws, &sse] {
        let f = f.lock().unwrap();
        assert!(f.snapshots >= 2, "new epoch → snapshot");
        assert_ne!(f.epoch, first_epoch);
        assert_ordered(&f, f.frames.iter().rposition(|(k, _)| k == "snapshot").unwrap());
    }

    // Gateway restart (killed): messages written while it is down are delivered on resume, once each.
    gw.kill();
    eventually(WAIT, "clients see the close", || async {
        ws.lock().unwrap().closed && sse.lock().unwrap().closed
    })
    .await;
    ws_task.await.unwrap();
    sse_task.await.unwrap();
    write_for(&sink, 3, 200).await;
    gw.restart();
    let (epoch, since, ws_mark, sse_id, sse_mark, snaps) = {
        let (w, s) = (ws.lock().unwrap(), sse.lock().unwrap());
        (
            w.epoch.clone(),
            w.seq,
            w.frames.len(),
            s.last_event_id.clone(),
            s.frames.len(),
            (w.snapshots, s.snapshots),
        )
    };
    ws.lock().unwrap().closed = false;
    sse.lock().unwrap().closed = false;
    let _ws_task =
        follow_ws(gw.ws(&format!("/v1/pbx1/ws?token={token}&since={since}&epoch={epoch}")), ws.clone()).await;
    let _sse_task =
        follow_sse(gw.http(&format!("/v1/pbx1/events?token={token}")), Some(sse_id.clone()), sse.clone())
            .await;
    write_for(&sink, 4, 200).await;
    converge(&server, &settings, &[&ws, &sse]).await;
    let sse_since: u64 = sse_id.rsplit_once(':').unwrap().1.parse().unwrap();
    for (f, mark, since, snapshots) in [(&ws, ws_mark, since, snaps.0), (&sse, sse_mark, sse_since, snaps.1)]
    {
        let f = f.lock().unwrap();
        assert_eq!(f.snapshots, snapshots, "resumed without a snapshot");
        let resumed = f.messages_after(mark);
        assert_eq!(resumed.first().copied(), Some(since + 1), "nothing lost");
        assert!(resumed.windows(2).all(|w| w[1] == w[0] + 1), "nothing twice, nothing skipped");
    }
    sink.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_token_stream_sees_only_its_agent_and_queues() {
    let Served { server, settings, sink, gw } = Served::start(PBX, initial_state(), "").await;
    let mut mine = claims(PBX);
    mine.agent = Some("PJSIP/1001".into());
    let token = sign(&mine);
    // Asking for more than the token allows is refused before the upgrade.
    let refused =
        tokio_tungstenite::connect_async(gw.ws(&format!("/v1/pbx1/ws?token={token}&agent=PJSIP%2F1002")))
            .await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected 403, got {other:?}"),
    }
    let panel: Shared = Arc::default();
    let _task = follow_ws(gw.ws(&format!("/v1/pbx1/ws?token={token}")), panel.clone()).await;
    eventually(WAIT, "snapshot", || async { panel.lock().unwrap().snapshots == 1 }).await;
    sink.handle.send(SinkMsg::Updates(vec![
        member("PJSIP/1002", "ringing", &["support"], None),
        queue("support", &["7.1"], 9),
        member("PJSIP/1001", "ringing", &["sales"], Some("5559999")),
        queue("sales", &[], 4),
    ]));
    sink.flushed().await;
    let seq = meta_seq(&server, &settings).await;
    eventually(WAIT, "panel reaches seq", || async { panel.lock().unwrap().seq >= seq }).await;
    let p = panel.lock().unwrap().clone();
    assert_eq!(p.agents.keys().collect::<Vec<_>>(), ["PJSIP/1001"]);
    assert_eq!(p.queues.keys().collect::<Vec<_>>(), ["sales"]);
    assert_eq!(p.agents["PJSIP/1001"]["call"]["caller_id"], "5559999");
    assert_eq!(p.queues["sales"]["answered"], 4);
    let kinds: Vec<&str> = p.frames.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["snapshot", "agent_update", "queue_update"], "others' messages are filtered out");
    sink.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resync_reaches_the_entity_channels() {
    let server = RedisServer::start();
    let settings = server.settings(PBX);
    let client = redis::Client::open(server.url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    let keys = settings.keys();
    pubsub.subscribe(keys.agent("PJSIP/1001")).await.unwrap();
    pubsub.subscribe(keys.queue("sales")).await.unwrap();
    let sink = Sink::start_with_state(settings.clone(), initial_state()).await;
    let mut messages = pubsub.on_message();
    let mut resyncs = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while resyncs.len() < 2 {
        let msg = tokio::time::timeout_at(deadline, futures::StreamExt::next(&mut messages))
            .await
            .expect("resync on both entity channels")
            .unwrap();
        let payload: Value = serde_json::from_str(&msg.get_payload::<String>().unwrap()).unwrap();
        if payload["type"] == "resync" {
            resyncs.insert(msg.get_channel_name().to_owned());
        }
    }
    assert_eq!(resyncs, [keys.agent("PJSIP/1001"), keys.queue("sales")].into_iter().collect());
    sink.stop().await;
}
