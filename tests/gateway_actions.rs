//! The gateway's command endpoints (`POST /v1/{pbx}/agents/{id}/pause|unpause|login|logout`) as the real
//! binary serves them, with real HTTP clients (reqwest, and raw HTTP/1.1 over TCP where a client library
//! would normalise the hostile path). The test plays the daemon: it reads `…:commands` and writes results on
//! `…:results` with the commands wire types, as the daemon does.

mod common;

use common::gateway::{Gateway, claims, sign};
use common::redis::RedisServer;
use common::sink::Sink;
use common::updates::queue;
use queuecast::commands::{Code, Command, CommandResult};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

const PBX: &str = "pbx1";
const ORIGIN: &str = "https://crm.example.com";

type Seen = Arc<Mutex<Vec<Command>>>;

/// Answers each command as the daemon would, by its reason or queue: `not_allowed`, `stale`, `failed` give
/// those codes, queue `silent` no answer at all, anything else `done`.
async fn fake_daemon(
    mut conn: queuecast::sink::RedisConn,
    keys: queuecast::sink::Keys,
    seen: Seen,
    cancel: CancellationToken,
) {
    let mut last = "$".to_owned();
    while !cancel.is_cancelled() {
        let reply: Option<redis::streams::StreamReadReply> = redis::cmd("XREAD")
            .arg("BLOCK")
            .arg(200)
            .arg("STREAMS")
            .arg(keys.commands())
            .arg(&last)
            .query_async(&mut conn)
            .await
            .expect("XREAD commands");
        for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
            last = entry.id.clone();
            let fields: Vec<(String, Vec<u8>)> = entry
                .map
                .iter()
                .map(|(k, v)| (k.clone(), redis::from_redis_value(v.clone()).unwrap()))
                .collect();
            let command = Command::from_fields(fields.iter().map(|(k, v)| (k.as_bytes(), v.as_slice())))
                .expect("the gateway writes valid commands");
            seen.lock().unwrap().push(command.clone());
            let (code, error) = match command.reason.as_str() {
                "not_allowed" => (Code::NotAllowed, "pause is not in [actions] allow"),
                "stale" => (Code::Stale, "older than max_age_ms"),
                "failed" => (Code::Failed, "Interface not found"),
                _ => (Code::Done, ""),
            };
            if command.queue.as_deref() == Some("silent") {
                continue;
            }
            let result = CommandResult::new(command.id, code, error, queuecast::sink::now_ms());
            let mut add = redis::cmd("XADD");
            add.arg(keys.results()).arg("*");
            for (k, v) in result.to_fields() {
                add.arg(k).arg(v);
            }
            add.query_async::<String>(&mut conn).await.expect("XADD result");
        }
    }
}

struct Setup {
    _server: RedisServer,
    gw: Gateway,
    seen: Seen,
    cancel: CancellationToken,
    _sink: Sink,
}

impl Setup {
    async fn start() -> Self {
        let server = RedisServer::start();
        let sink = Sink::start_with_state(server.settings(PBX), vec![queue("sales", &[], 0)]).await;
        let extra = format!(
            "allowed_origins = [\"{ORIGIN}\"]\ncommand_timeout_ms = 700\npause_reasons = [\"Break\", \"Lunch\"]\n"
        );
        let gw = Gateway::start_with(&server, PBX, &extra);
        let seen = Seen::default();
        let cancel = CancellationToken::new();
        let conn = server.conn().await;
        tokio::spawn(fake_daemon(conn, server.settings(PBX).keys(), seen.clone(), cancel.clone()));
        Self { _server: server, gw, seen, cancel, _sink: sink }
    }

    fn url(&self, agent_path: &str) -> String {
        self.gw.http(&format!("/v1/{PBX}/agents/{agent_path}"))
    }

    fn commands(&self) -> Vec<Command> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn post(url: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    let mut request =
        reqwest::Client::new().post(url).header("content-type", "application/json").body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("POST");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// One raw HTTP/1.1 request, the path sent byte for byte; returns the status code.
fn raw(port: u16, request_line: &str, headers: &str, body: &str) -> u16 {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let text = format!(
        "{request_line} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(text.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn token(agent: Option<&str>, queues: Option<&[&str]>, actions: bool) -> String {
    let mut c = claims(PBX);
    c.sub = "panel-alice".into();
    c.agent = agent.map(Into::into);
    c.queues = queues.map(|q| q.iter().map(|s| s.to_string()).collect());
    c.actions = actions;
    sign(&c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_action_reaches_the_stream_and_the_result_maps_to_a_status() {
    let s = Setup::start().await;
    let agent = token(Some("PJSIP/1001"), None, true);
    let before = queuecast::sink::now_ms();
    let (status, body) =
        post(&s.url("PJSIP/1001/pause"), Some(&agent), r#"{"reason":"Lunch","queue":"sales"}"#).await;
    assert_eq!((status, &body["code"], &body["ok"]), (200, &json!("done"), &json!(true)), "{body}");
    let c = s.commands().pop().expect("the command is on the stream");
    assert_eq!(body["id"], c.id.as_str());
    assert_eq!(c.action.as_str(), "pause");
    assert_eq!(
        (c.agent.as_str(), c.queue.as_deref(), c.reason.as_str()),
        ("PJSIP/1001", Some("sales"), "Lunch")
    );
    assert_eq!(c.requested_by, "gateway:panel-alice");
    assert!(c.ts >= before && c.ts <= queuecast::sink::now_ms());

    // The id URL-encoded is the same agent; every action; an empty queue is every queue.
    let (status, _) = post(&s.url("PJSIP%2F1001/unpause"), Some(&agent), r#"{"queue":""}"#).await;
    assert_eq!(status, 200);
    let c = s.commands().pop().unwrap();
    assert_eq!((c.action.as_str(), c.agent.as_str(), c.queue.as_deref()), ("unpause", "PJSIP/1001", None));
    let (status, _) =
        post(&s.url("PJSIP/1001/login"), Some(&agent), r#"{"queue":"support","penalty":2}"#).await;
    assert_eq!(status, 200);
    let c = s.commands().pop().unwrap();
    assert_eq!((c.action.as_str(), c.queue.as_deref(), c.penalty), ("login", Some("support"), Some(2)));
    let (status, _) = post(&s.url("PJSIP/1001/logout"), Some(&agent), r#"{}"#).await;
    assert_eq!(status, 200);
    assert_eq!(s.commands().pop().unwrap().action.as_str(), "logout");
    let ids: std::collections::BTreeSet<_> = s.commands().iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids.len(), 4, "every command has its own id");

    // The daemon's answers: refused by [actions] → 403; refused or failed → 409 with the reason; none → 504.
    let open = token(None, None, true);
    for (reason, status, code) in
        [("not_allowed", 403, "not_allowed"), ("stale", 409, "stale"), ("failed", 409, "failed")]
    {
        let (got, body) =
            post(&s.url("PJSIP/1002/pause"), Some(&open), &json!({"reason": reason}).to_string()).await;
        assert_eq!((got, body["code"].as_str().unwrap()), (status, code), "{reason}: {body}");
        assert_eq!(body["ok"], false);
        assert!(!body["error"].as_str().unwrap().is_empty());
    }
    let (status, body) = post(&s.url("PJSIP/1002/pause"), Some(&open), r#"{"queue":"silent"}"#).await;
    assert_eq!((status, body["code"].as_str().unwrap()), (504, "no_answer"), "{body}");

    // Login needs a queue.
    let (status, body) = post(&s.url("PJSIP/1002/login"), Some(&open), r#"{}"#).await;
    assert_eq!(status, 400, "{body}");

    // /v1/session tells a page what its token may do.
    let session: Value = reqwest::Client::new()
        .get(s.gw.http("/v1/session"))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["agent"], "PJSIP/1001");
    assert_eq!(session["actions"], true);
    assert_eq!(session["pause_reasons"], json!(["Break", "Lunch"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_scopes_and_hostile_input_are_refused_before_anything_is_written() {
    let s = Setup::start().await;
    let pause = s.url("PJSIP/1001/pause");
    let body = r#"{"reason":"Break"}"#;
    // No token, a bad one, one only in the URL: 401.
    assert_eq!(post(&pause, None, body).await.0, 401);
    assert_eq!(post(&pause, Some("not.a.token"), body).await.0, 401);
    let in_url = format!("{pause}?token={}", token(None, None, true));
    assert_eq!(post(&in_url, None, body).await.0, 401, "a command's token comes in the header only");
    // Out of scope: 403.
    assert_eq!(post(&pause, Some(&token(None, None, false)), body).await.0, 403, "no actions claim");
    assert_eq!(
        post(&pause, Some(&token(Some("PJSIP/1002"), None, true)), body).await.0,
        403,
        "another agent"
    );
    let sales = token(None, Some(&["sales"]), true);
    assert_eq!(post(&pause, Some(&sales), r#"{"queue":"support"}"#).await.0, 403, "another queue");
    assert_eq!(post(&pause, Some(&sales), body).await.0, 403, "a queues token must name the queue");
    let mut other = claims("pbx2");
    other.actions = true;
    assert_eq!(post(&pause, Some(&sign(&other)), body).await.0, 403, "token for another PBX");
    let open = token(None, None, true);
    assert_eq!(
        post(
            &s.gw.http("/v1/nopbx/agents/PJSIP/1001/pause"),
            Some(&sign(&{
                let mut c = claims("nopbx");
                c.actions = true;
                c
            })),
            body
        )
        .await
        .0,
        404,
        "a PBX the gateway does not serve"
    );
    // Bad bodies.
    assert_eq!(post(&pause, Some(&open), "{not json").await.0, 400);
    assert_eq!(post(&pause, Some(&open), r#"{"reason":"x","sudo":true}"#).await.0, 400, "unknown field");
    assert_eq!(
        post(&pause, Some(&open), r#"{"reason":"a\r\nAction: Originate"}"#).await.0,
        400,
        "CR LF in a value"
    );
    assert_eq!(post(&pause, Some(&open), r#"{"reason":5}"#).await.0, 400);
    let huge = json!({"reason": "x".repeat(100_000)}).to_string();
    assert_eq!(post(&pause, Some(&open), &huge).await.0, 413);
    let plain = reqwest::Client::new().post(&pause).bearer_auth(&open).body(body).send().await.unwrap();
    assert_eq!(plain.status(), 415, "JSON only");
    let form = reqwest::Client::new()
        .post(&pause)
        .bearer_auth(&open)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("reason=x")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
    // Hostile ids and paths, byte for byte.
    let port = s.gw.port;
    let auth = format!("Authorization: Bearer {open}\r\nContent-Type: application/json\r\n");
    for path in [
        "/v1/pbx1/agents/../pause",
        "/v1/pbx1/agents/PJSIP/../../pause",
        "/v1/pbx1/agents/PJSIP/./1001/pause",
        "/v1/pbx1/agents/PJSIP//1001/pause",
        "/v1/pbx1/agents/%2E%2E/pause",
        "/v1/pbx1/agents/PJSIP%2F1001%0D%0AAction:%20Originate/pause",
        "/v1/pbx1/agents/PJSIP%2F1001%00/pause",
        "/v1/pbx1/agents/pause",
    ] {
        let status = raw(port, &format!("POST {path}"), &auth, body);
        assert!(status == 400 || status == 404, "{path}: {status}");
    }
    assert_eq!(raw(port, "POST /v1/pbx1/agents/PJSIP/1001/frobnicate", &auth, body), 404);
    assert_eq!(raw(port, "PUT /v1/pbx1/agents/PJSIP/1001/pause", &auth, body), 405);
    assert_eq!(raw(port, "DELETE /v1/pbx1/agents/PJSIP/1001/pause", &auth, body), 405);
    let long_id = format!("POST /v1/pbx1/agents/PJSIP/{}/pause", "9".repeat(300));
    assert_eq!(raw(port, &long_id, &auth, body), 400);
    assert!(s.commands().is_empty(), "nothing refused reached the stream: {:?}", s.commands());

    // CORS: the configured origin may send commands, another gets no grant.
    let preflight = |origin: &'static str| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, pause.clone())
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
    };
    let ok = preflight(ORIGIN).await.unwrap();
    assert_eq!(ok.headers().get("access-control-allow-origin").unwrap(), ORIGIN);
    assert!(ok.headers()["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    let evil = preflight("https://evil.example").await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
}
