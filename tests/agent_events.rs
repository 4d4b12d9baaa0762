//! `agent_event` on the real Asterisk 22 recordings: in each feed mode, the engine's login/logout/pause/
//! unpause sequence equals what the recorded queue_log lines and AMI events say happened, with the source
//! queue_log's second column names (`CLI`, `MANAGER`, `NONE`), and nothing for a repeated login or pause.
//!
//! The expectation is computed here from the recordings by a model of its own: queue_log lines are split by
//! hand (not by the parser under test) and their second column mapped to a source; AMI facts are read from
//! the normalized AMI events. The model keeps (agent, queue) → paused and writes an event only when that
//! moves. Feeds are merged as a live daemon sees them: a queue_log line is read after the AMI events of its
//! second (the tail reads what app_queue wrote a moment ago; queue_log stamps whole seconds).

mod common;

use common::corpus::{self, Mode, Scenario};
use queuecast::engine::{
    Actor, AgentEventKind, Change, Engine, Event, EventKind, HOLD_MS, PbxSetup, SnapshotScope, Source, TsMs,
};
use queuecast::replay;
use queuecast::sources::queues_conf;
use std::collections::BTreeMap;

const SCENARIOS: [(&str, &str); 11] = [
    ("asterisk-22", "abandon-and-timeout"),
    ("asterisk-22", "agent-pool"),
    ("asterisk-22", "ami-actions"),
    ("asterisk-22", "calls-answered"),
    ("asterisk-22", "login-pause-unpause"),
    ("asterisk-22", "ringnoanswer"),
    ("asterisk-22-flows", "agent-busy-direct"),
    ("asterisk-22-flows", "agent-self-service"),
    ("asterisk-22-flows", "overflow-chain"),
    ("asterisk-22-flows", "requeue-same"),
    ("asterisk-22-flows", "transfer-into-queue"),
];

/// (agent, event, queue, reason, source, at): what a consumer reads in an `agent_event`.
type Row = (String, AgentEventKind, String, Option<String>, Actor, TsMs);

/// One fact of the recordings, in feed order.
enum Fact {
    /// A queue_log line: time (ms), second column, queue, agent column, verb, data.
    Line { ts: TsMs, callid: String, queue: String, agent: String, verb: String, data: String, raw: String },
    /// An AMI (or static-member) event as normalized.
    Ami(Event),
}

/// What queue_log's second column says about who made a membership change (DESIGN.md "Agent events").
fn source_of_column(callid: &str) -> Actor {
    match callid {
        "CLI" => Actor::Cli,
        "MANAGER" => Actor::Ami,
        "NONE" => Actor::Unknown,
        _ => Actor::Phone,
    }
}

fn lines(s: &Scenario) -> Vec<Fact> {
    s.queue_log_text()
        .lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.trim_end_matches('\r').split('|').collect();
            let ts: TsMs = cols.first()?.parse().ok()?;
            Some(Fact::Line {
                ts: ts * 1000,
                callid: cols.get(1)?.to_string(),
                queue: cols.get(2)?.to_string(),
                agent: cols.get(3)?.to_string(),
                verb: cols.get(4)?.to_string(),
                data: cols.get(5).unwrap_or(&"").to_string(),
                raw: format!("{line}\n"),
            })
        })
        .collect()
}

/// Static members (queues.conf) first, then the feeds of `mode` in the order a live daemon reads them.
fn facts(s: &Scenario, mode: Mode) -> Vec<Fact> {
    let mut ami: Vec<Fact> = match mode {
        Mode::QueueLogAlone => Vec::new(),
        _ => s.ami_events().into_iter().map(Fact::Ami).collect(),
    };
    let mut ql = match mode {
        Mode::AmiAlone => Vec::new(),
        _ => lines(s),
    };
    let key = |f: &Fact| match f {
        Fact::Line { ts, .. } => ts + 999,
        Fact::Ami(e) => e.ts_ms,
    };
    let mut merged = Vec::new();
    let (mut a, mut q) = (ami.drain(..).peekable(), ql.drain(..).peekable());
    loop {
        let take_ami = match (a.peek(), q.peek()) {
            (Some(x), Some(y)) => key(x) <= key(y),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        merged.push(if take_ami { a.next() } else { q.next() }.expect("peeked"));
    }
    let first = merged.iter().map(key).min().unwrap_or(0);
    let statics = queuecast::normalize::static_members::static_member_events(
        &queues_conf::static_members(&s.queues_conf()),
        first,
    );
    statics.into_iter().map(Fact::Ami).chain(merged).collect()
}

/// The engine input of the facts.
fn events(facts: &[Fact]) -> Vec<Event> {
    let mut out = Vec::new();
    for fact in facts {
        match fact {
            Fact::Ami(e) => out.push(e.clone()),
            Fact::Line { ts, raw, .. } => {
                let (events, bad) = replay::queue_log_events(raw.as_bytes());
                assert_eq!(bad, 0, "{raw}");
                out.extend(events.into_iter().map(|mut e| {
                    e.ts_ms = *ts;
                    e
                }));
            }
        }
    }
    out
}

/// The engine's agent events over the whole recording (every fact live), then a tick past the end.
fn engine_rows(config: PbxSetup, events: &[Event]) -> Vec<Row> {
    let mut engine = Engine::new(config);
    let end = events.iter().map(|e| e.ts_ms).max().unwrap_or(0) + corpus::SETTLE_MS;
    let tick = Event { ts_ms: end, source: Source::Clock, actor: None, kind: EventKind::Tick };
    events
        .iter()
        .chain([&tick])
        .flat_map(|e| engine.apply(e))
        .filter_map(|c| match c {
            Change::AgentEvent(e) => Some((e.agent, e.event, e.queue, e.reason, e.source, e.at)),
            _ => None,
        })
        .collect()
}

/// The model: membership and pause per (agent, queue), and the events its moves make.
#[derive(Default)]
struct Model {
    paused: BTreeMap<(String, String), bool>,
    rows: Vec<Row>,
    /// Index in `rows` and time of AMI-made changes a queue_log line may still name the source of.
    open: Vec<(usize, TsMs)>,
    names: BTreeMap<String, String>,
    /// A `QueueStatus` answer was applied; the first one is the starting state, no event.
    seen_snapshot: bool,
    quiet: bool,
    /// The fact being applied is a queue_log line: its changes are final at once (it follows AMI).
    from_queue_log: bool,
    /// Membership and pause facts that changed nothing (a repeat, or the other feed's report of a change).
    repeats: usize,
}

impl Model {
    fn agent(&self, column: &str) -> String {
        self.names.get(column).cloned().unwrap_or_else(|| column.to_owned())
    }

    fn emit(
        &mut self,
        agent: &str,
        kind: AgentEventKind,
        queue: &str,
        reason: Option<&str>,
        src: Actor,
        at: TsMs,
    ) {
        if self.quiet {
            return;
        }
        let reason = reason.filter(|r| !r.is_empty() && kind == AgentEventKind::Pause).map(str::to_owned);
        if src == Actor::Ami && !self.from_queue_log {
            self.open.push((self.rows.len(), at));
        }
        self.rows.push((agent.to_owned(), kind, queue.to_owned(), reason, src, at));
    }

    /// A queue_log line repeating an AMI-made change names its source (unless `NONE`).
    fn confirm(&mut self, agent: &str, kind: AgentEventKind, queue: &str, src: Actor, ts: TsMs) {
        let found = self.open.iter().position(|&(i, at)| {
            let r = &self.rows[i];
            r.0 == agent && r.1 == kind && r.2 == queue && ts + 999 - at < HOLD_MS
        });
        if let Some(pos) = found {
            let (i, _) = self.open.remove(pos);
            if src != Actor::Unknown {
                self.rows[i].4 = src;
            }
        }
    }

    fn login(&mut self, agent: &str, queue: &str, src: Actor, at: TsMs) -> bool {
        let key = (agent.to_owned(), queue.to_lowercase());
        if self.paused.contains_key(&key) {
            self.repeats += 1;
            return false;
        }
        self.paused.insert(key, false);
        self.emit(agent, AgentEventKind::Login, queue, None, src, at);
        true
    }

    fn logout(&mut self, agent: &str, queue: &str, src: Actor, at: TsMs) -> bool {
        if self.paused.remove(&(agent.to_owned(), queue.to_lowercase())).is_none() {
            return false;
        }
        self.emit(agent, AgentEventKind::Logout, queue, None, src, at);
        true
    }

    fn pause(
        &mut self,
        agent: &str,
        queue: &str,
        paused: bool,
        reason: Option<&str>,
        src: Actor,
        at: TsMs,
    ) -> bool {
        let key = (agent.to_owned(), queue.to_lowercase());
        let Some(was) = self.paused.get_mut(&key) else { return false };
        if *was == paused {
            self.repeats += 1;
            return false;
        }
        *was = paused;
        let kind = if paused { AgentEventKind::Pause } else { AgentEventKind::Unpause };
        self.emit(agent, kind, queue, reason, src, at);
        true
    }

    fn line(&mut self, ts: TsMs, callid: &str, queue: &str, column: &str, verb: &str, data: &str) {
        let agent = self.agent(column);
        let src = source_of_column(callid);
        let at = ts;
        let (kind, done) = match verb {
            "ADDMEMBER" => {
                let done = self.login(&agent, queue, src, at);
                if done {
                    self.pause(&agent, queue, data == "PAUSED", None, src, at);
                } else if data == "PAUSED" {
                    // The line of an add AMI reported first (Asterisk never adds a member twice).
                    self.confirm(&agent, AgentEventKind::Pause, queue, src, ts);
                }
                (AgentEventKind::Login, done)
            }
            "REMOVEMEMBER" => (AgentEventKind::Logout, self.logout(&agent, queue, src, at)),
            "PAUSE" | "UNPAUSE" | "PENALTY" => {
                // A line naming a membership never added is a static or persistent member.
                self.login(&agent, queue, Actor::Config, at);
                if verb == "PENALTY" {
                    return;
                }
                let paused = verb == "PAUSE";
                let kind = if paused { AgentEventKind::Pause } else { AgentEventKind::Unpause };
                (kind, self.pause(&agent, queue, paused, Some(data), src, at))
            }
            _ => return,
        };
        if !done {
            self.confirm(&agent, kind, queue, src, ts);
        }
    }

    fn ami(&mut self, e: &Event) {
        let at = e.ts_ms;
        // AMI names who only for a change a channel's dialplan made (`phone`, the normalizer's word).
        let src = e.actor.unwrap_or(if e.source == Source::Clock { Actor::Config } else { Actor::Ami });
        match &e.kind {
            EventKind::MemberAdded { queue, member, paused, pause_reason, membership, .. } => {
                let agent = member.interface.clone().expect("AMI names the interface");
                let src = if matches!(membership.as_deref(), Some("static" | "realtime")) {
                    Actor::Config
                } else {
                    src
                };
                self.login(&agent, queue, src, at);
                if let Some(p) = paused {
                    self.pause(&agent, queue, *p, pause_reason.as_deref(), src, at);
                }
            }
            EventKind::MemberRemoved { queue, member } => {
                self.logout(&member.interface.clone().expect("interface"), queue, src, at);
            }
            EventKind::MemberPause { queue, member, paused, reason } => {
                let agent = member.interface.clone().expect("interface");
                let queues: Vec<String> = match queue {
                    Some(q) => {
                        self.login(&agent, q, Actor::Config, at);
                        vec![q.clone()]
                    }
                    None => self.paused.keys().filter(|(a, _)| *a == agent).map(|(_, q)| q.clone()).collect(),
                };
                for q in queues {
                    self.pause(&agent, &q, *paused, reason.as_deref(), src, at);
                }
            }
            EventKind::MemberPenalty { queue, member, .. }
            | EventKind::MemberDevice { queue: Some(queue), member, .. } => {
                self.login(&member.interface.clone().expect("interface"), queue, Actor::Config, at);
            }
            EventKind::StatusSnapshot(snap) => {
                self.quiet = !self.seen_snapshot;
                self.seen_snapshot = true;
                for row in &snap.members {
                    let src = if matches!(row.membership.as_deref(), Some("static" | "realtime")) {
                        Actor::Config
                    } else {
                        src
                    };
                    self.login(&row.interface, &row.queue, src, at);
                    self.pause(&row.interface, &row.queue, row.paused, row.pause_reason.as_deref(), src, at);
                }
                let listed = |a: &str, q: &str| {
                    snap.members.iter().any(|m| m.interface == a && m.queue.to_lowercase() == q)
                };
                let gone: Vec<(String, String)> = self
                    .paused
                    .keys()
                    .filter(|(a, q)| match &snap.scope {
                        SnapshotScope::All => !listed(a, q),
                        SnapshotScope::Queue { queue } => *q == queue.to_lowercase() && !listed(a, q),
                        SnapshotScope::Member { queue, interface } => {
                            a == interface
                                && queue.as_ref().is_none_or(|x| x.to_lowercase() == *q)
                                && !listed(a, q)
                        }
                        SnapshotScope::Partial => false,
                    })
                    .cloned()
                    .collect();
                for (a, q) in gone {
                    self.logout(&a, &q, src, at);
                }
                self.quiet = false;
            }
            _ => {}
        }
    }
}

fn expected(facts: &[Fact], names: BTreeMap<String, String>) -> (Vec<Row>, usize) {
    let mut model = Model { names, ..Model::default() };
    for fact in facts {
        match fact {
            Fact::Line { ts, callid, queue, agent, verb, data, .. } => {
                model.line(*ts, callid, queue, agent, verb, data)
            }
            Fact::Ami(e) => model.ami(e),
        }
    }
    (model.rows, model.repeats)
}

fn check(mode: Mode) {
    let (mut total, mut repeats) = (0, 0);
    for (corpus_name, name) in SCENARIOS {
        let s = corpus::scenario(corpus_name, name);
        let facts = facts(&s, mode);
        let (config, names) = match mode {
            // The names the host gives a queue_log-only daemon (queues.conf, astdb), and no astdb members:
            // the daemon was running before the scenario began.
            Mode::QueueLogAlone => {
                let config = s.host_setup().pbx;
                let names = config.members.clone();
                (config, names)
            }
            Mode::QueueLogAndAmi => {
                let config = PbxSetup { queue_log_feed: true, ..s.config() };
                (config, corpus::member_names(&s.read("ami.raw")))
            }
            Mode::AmiAlone => (s.config(), corpus::member_names(&s.read("ami.raw"))),
        };
        let (want, repeated) = expected(&facts, names);
        repeats += repeated;
        let got = engine_rows(config, &events(&facts));
        assert_eq!(got, want, "{name} in {mode:?}");
        if std::env::var_os("SHOW_AGENT_EVENTS").is_some() {
            println!("{name} {mode:?}: {got:#?}");
        }
        total += got.len();
    }
    assert!(total > 0, "the corpus logs agents in");
    assert!(repeats > 0, "the corpus repeats logins or pauses, which publish nothing");
    let seen = sources(mode);
    for source in [Actor::Cli, Actor::Config] {
        assert!(seen.contains(&source) || mode == Mode::AmiAlone, "{source:?} in {mode:?}");
    }
    // Logins from the agent's phone (agent-self-service): queue_log names the channel, AMI its Newexten.
    assert!(seen.contains(&Actor::Phone), "phone in {mode:?}");
}

/// The sources seen over the corpus in `mode`.
fn sources(mode: Mode) -> std::collections::BTreeSet<Actor> {
    let mut seen = std::collections::BTreeSet::new();
    for (corpus_name, name) in SCENARIOS {
        let s = corpus::scenario(corpus_name, name);
        let config = match mode {
            Mode::QueueLogAlone => s.host_setup().pbx,
            Mode::QueueLogAndAmi => PbxSetup { queue_log_feed: true, ..s.config() },
            Mode::AmiAlone => s.config(),
        };
        seen.extend(engine_rows(config, &events(&facts(&s, mode))).into_iter().map(|r| r.4));
    }
    seen
}

#[test]
fn agent_events_match_the_recordings_with_both_feeds() {
    check(Mode::QueueLogAndAmi);
}

#[test]
fn agent_events_match_the_recordings_with_ami_alone() {
    check(Mode::AmiAlone);
}

#[test]
fn agent_events_match_the_recordings_with_queue_log_alone() {
    check(Mode::QueueLogAlone);
}

/// agent-self-service against its README, typed here from what the scenario did (not derived from the
/// recording): Dave logs in to support and sales, pauses (Lunch) and unpauses everywhere, logs out of sales
/// and pauses in support (Break), all from his phone's dialplan, and logs in to support a second time
/// (already a member); Erin is added and paused (Training) by AMI, Frank by the CLI (Coaching); both pauses
/// are then sent again. Repeats publish nothing.
///
/// What each mode can know: queue_log names the source of ADDMEMBER/REMOVEMEMBER only (a channel uniqueid,
/// `MANAGER`, `CLI`) and writes `NONE` on every pause; AMI tells the phone by the `Newexten` of the channel
/// running the member application, and nothing else — a pause by the CLI or another AMI client is an AMI
/// member event without a word on who, reported as `ami` (the engine's fallback; Frank's is really the CLI).
#[test]
fn agent_self_service_sources_are_the_recorded_truth() {
    use Actor::{Ami, Cli, Config, Phone, Unknown};
    use AgentEventKind::{Login, Logout, Pause, Unpause};
    let s = corpus::scenario("asterisk-22-flows", "agent-self-service");
    let (dave, erin, frank) = ("Local/1004@agents/n", "Local/1005@agents/n", "Local/1006@agents/n");
    for mode in [Mode::QueueLogAndAmi, Mode::AmiAlone, Mode::QueueLogAlone] {
        let config = match mode {
            Mode::QueueLogAlone => s.host_setup().pbx,
            Mode::QueueLogAndAmi => PbxSetup { queue_log_feed: true, ..s.config() },
            Mode::AmiAlone => s.config(),
        };
        let rows = engine_rows(config, &events(&facts(&s, mode)));
        let ql_alone = mode == Mode::QueueLogAlone;
        // A pause: queue_log alone cannot say; with AMI the phone's is known, any other is the fallback.
        let paused_by = |phone: bool| match (ql_alone, phone) {
            (true, _) => Unknown,
            (false, true) => Phone,
            (false, false) => Ami,
        };
        let frank_login = if mode == Mode::AmiAlone { Ami } else { Cli };
        let want: Vec<(&str, AgentEventKind, &str, Option<&str>, Actor)> = vec![
            ("Local/1009@agents/n", Login, "billing", None, Config),
            (dave, Login, "support", None, Phone),
            (dave, Login, "sales", None, Phone),
            (dave, Pause, "support", Some("Lunch"), paused_by(true)),
            (dave, Pause, "sales", Some("Lunch"), paused_by(true)),
            (dave, Unpause, "support", None, paused_by(true)),
            (dave, Unpause, "sales", None, paused_by(true)),
            (erin, Login, "support", None, Ami),
            (erin, Pause, "support", Some("Training"), paused_by(false)),
            (frank, Login, "support", None, frank_login),
            (frank, Pause, "support", Some("Coaching"), paused_by(false)),
            (dave, Logout, "sales", None, Phone),
            (dave, Pause, "support", Some("Break"), paused_by(true)),
        ];
        let got: Vec<(&str, AgentEventKind, &str, Option<&str>, Actor)> =
            rows.iter().map(|r| (r.0.as_str(), r.1, r.2.as_str(), r.3.as_deref(), r.4)).collect();
        assert_eq!(got, want, "agent-self-service in {mode:?}");
        // The repeats (Dave's second login at 316, Erin's pause at 327, Frank's at 328) publish nothing.
        for second in [1_796_170_316, 1_796_170_327, 1_796_170_328] {
            let at_second = |r: &&Row| r.5 / 1000 == second;
            assert_eq!(rows.iter().find(at_second), None, "{mode:?}: nothing at {second}");
        }
    }
}

/// Applies `events` and a settling tick, and hands every batch of changes to the sink, waiting for each
/// to be written: the live path, one event at a time.
async fn feed_sink(engine: &mut Engine, sink: &common::sink::Sink, events: &[Event]) {
    use queuecast::sink::{self, SinkMsg};
    let end = events.iter().map(|e| e.ts_ms).max().unwrap_or(0) + corpus::SETTLE_MS;
    let tick = Event { ts_ms: end, source: Source::Clock, actor: None, kind: EventKind::Tick };
    for event in events.iter().chain([&tick]) {
        let changes = engine.apply(event);
        if !changes.is_empty() {
            sink.handle.send(SinkMsg::Updates(sink::render(engine.views(&changes))));
            sink.flushed().await;
        }
    }
}

/// The real sink and a real `redis-server`: the engine's agent events of a recording, live after a start-up
/// resync, are on the stream and on pub/sub (`events` and the agent's channel) as `agent_event` messages with
/// consecutive seq among the state messages, and no hash holds them.
#[tokio::test]
async fn agent_events_reach_the_stream_and_pub_sub_but_no_hash() {
    use common::redis::RedisServer;
    use common::sink::Sink;
    use queuecast::sink::message::{Message, MessageType};
    use queuecast::sink::{self, reader};
    use redis::AsyncCommands;

    let wait = std::time::Duration::from_secs(30);
    let s = corpus::scenario("asterisk-22", "login-pause-unpause");
    let config = PbxSetup { queue_log_feed: true, ..s.config() };
    let facts = facts(&s, Mode::QueueLogAndAmi);
    let events = events(&facts);
    let want = engine_rows(config.clone(), &events);

    let server = RedisServer::start();
    let settings = server.settings("pbx1");
    let keys = settings.keys();
    let mut conn = server.conn().await;
    let client = redis::Client::open(server.url()).expect("client");
    let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
    pubsub.psubscribe(format!("{}:*", keys.base())).await.expect("psubscribe");

    let mut engine = Engine::new(config);
    let sink = Sink::start_with_state(settings, sink::render(engine.all_views())).await;
    feed_sink(&mut engine, &sink, &events).await;

    let msgs = reader::read_stream(&mut conn, &keys, 0, 100_000, 0).await.expect("XREAD");
    let first = msgs[0].seq;
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(m.seq, first + i as u64, "consecutive seq");
    }
    let published: Vec<&Message> = msgs.iter().filter(|m| m.kind == MessageType::AgentEvent).collect();
    let rows: Vec<Row> = published
        .iter()
        .map(|m| {
            let text = |k: &str| m.data[k].as_str().map(str::to_owned);
            let event = serde_json::from_value(m.data["event"].clone()).expect("event");
            let source = serde_json::from_value(m.data["source"].clone()).expect("source");
            assert!(m.data["at"].is_i64(), "at is ms since the epoch");
            let at = m.data["at"].as_i64().expect("at");
            (m.id.clone(), event, text("queue").expect("queue"), text("reason"), source, at)
        })
        .collect();
    assert_eq!(rows, want, "every agent event, in order, on the stream");
    assert!(!want.is_empty());

    // Pub/sub: each agent_event on `events` and on its agent's channel, the same JSON as the stream entry.
    let mut stream = pubsub.on_message();
    let (mut on_events, mut on_agent) = (Vec::new(), 0);
    while on_events.len() < published.len() || on_agent < published.len() {
        let msg = tokio::time::timeout(wait, futures::StreamExt::next(&mut stream)).await.unwrap().unwrap();
        let m: Message = serde_json::from_str(&msg.get_payload::<String>().unwrap()).unwrap();
        if m.kind != MessageType::AgentEvent {
            continue;
        }
        if msg.get_channel_name() == keys.events() {
            on_events.push(m);
        } else {
            assert_eq!(msg.get_channel_name(), keys.agent(&m.id));
            on_agent += 1;
        }
    }
    assert_eq!(on_events.iter().collect::<Vec<_>>(), published);

    // No hash: the keys are the layout's state keys only, and no agent hash carries an event field.
    let all: Vec<String> = conn.keys(format!("{}:*", keys.base())).await.unwrap();
    for key in &all {
        let kind: String = redis::cmd("TYPE").arg(key).query_async(&mut conn).await.unwrap();
        if kind == "hash" {
            let fields: BTreeMap<String, String> = conn.hgetall(key).await.unwrap();
            for f in ["event", "source"] {
                assert!(!fields.contains_key(f), "{key} holds no agent_event field {f}");
            }
        }
    }
    let agents: Vec<String> = conn.smembers(keys.agents()).await.unwrap();
    let mut expected_keys: Vec<String> = agents.iter().map(|a| keys.agent(a)).collect();
    let queues: Vec<String> = conn.smembers(keys.queues()).await.unwrap();
    expected_keys.extend(queues.iter().map(|q| keys.queue(q)));
    expected_keys.extend([keys.meta(), keys.agents(), keys.queues(), keys.stream()]);
    let mut all = all;
    all.sort();
    expected_keys.sort();
    assert_eq!(all, expected_keys, "agent events add no key");
    sink.stop().await;
}

/// The gateway forwards `agent_event`s in order: an open WebSocket client gets every one, an SSE client with
/// an agent-scoped token exactly its agent's (after that agent's `agent_update`, which the engine emits first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_forwards_agent_events_in_scope() {
    use common::gateway::{Follower, Gateway, Shared, claims, follow_sse, follow_ws, sign};
    use common::redis::{RedisServer, eventually};
    use common::sink::Sink;
    use queuecast::sink::message::{Message, MessageType};
    use queuecast::sink::{self, reader};
    use std::sync::{Arc, Mutex};

    let s = corpus::scenario("asterisk-22", "login-pause-unpause");
    let config = PbxSetup { queue_log_feed: true, ..s.config() };
    let events = events(&facts(&s, Mode::QueueLogAndAmi));
    let server = RedisServer::start();
    let settings = server.settings("pbx1");
    let keys = settings.keys();
    let mut engine = Engine::new(config);
    let sink = Sink::start_with_state(settings, sink::render(engine.all_views())).await;
    let gw = Gateway::start(&server, "pbx1");
    let open: Shared = Arc::new(Mutex::new(Follower::default()));
    let scoped: Shared = Arc::new(Mutex::new(Follower::default()));
    let agent = "Local/1001@agents/n";
    let mut mine = claims("pbx1");
    mine.agent = Some(agent.into());
    let ws = follow_ws(gw.ws(&format!("/v1/pbx1/ws?token={}", sign(&claims("pbx1")))), open.clone()).await;
    let sse =
        follow_sse(gw.http(&format!("/v1/pbx1/events?token={}", sign(&mine))), None, scoped.clone()).await;
    let wait = std::time::Duration::from_secs(30);
    eventually(wait, "both clients have their snapshot", || {
        let ready = open.lock().unwrap().snapshots > 0 && scoped.lock().unwrap().snapshots > 0;
        async move { ready }
    })
    .await;

    feed_sink(&mut engine, &sink, &events).await;
    let mut conn = server.conn().await;
    let msgs: Vec<Message> = reader::read_stream(&mut conn, &keys, 0, 100_000, 0).await.expect("XREAD");
    let last = msgs.last().expect("messages").seq;
    let seqs = |pred: &dyn Fn(&Message) -> bool| -> Vec<u64> {
        msgs.iter().filter(|m| m.kind == MessageType::AgentEvent && pred(m)).map(|m| m.seq).collect()
    };
    let (all, of_agent) = (seqs(&|_| true), seqs(&|m| m.id == agent));
    assert!(!of_agent.is_empty() && of_agent.len() < all.len());
    let got = |f: &Shared| -> Vec<u64> {
        f.lock().unwrap().frames.iter().filter(|(k, _)| k == "agent_event").map(|(_, s)| *s).collect()
    };
    eventually(wait, "the open client reached the last message", || {
        let seq = open.lock().unwrap().seq;
        async move { seq >= last }
    })
    .await;
    assert_eq!(got(&open), all, "every agent_event, in order");
    // A login changes the scoped agent's queues, so that client re-snapshots (DESIGN.md "Gateway"); an event
    // inside such a snapshot is not sent again. Every other one of its agent's events reaches it, in order.
    eventually(wait, "the scoped client reached its agent's last event", || {
        let reached = scoped.lock().unwrap().frames.iter().any(|(_, s)| *s >= *of_agent.last().unwrap());
        async move { reached }
    })
    .await;
    let frames = scoped.lock().unwrap().frames.clone();
    let received = got(&scoped);
    let covered = |seq: u64| frames.iter().any(|(k, s)| k == "snapshot" && *s >= seq);
    let want: Vec<u64> =
        of_agent.iter().copied().filter(|&seq| !covered(seq) || received.contains(&seq)).collect();
    assert_eq!(received, want, "its agent's events, in order, none of another agent: {frames:?}");
    assert!(received.len() >= 2, "the pause and unpause of its agent arrive: {frames:?}");
    assert_eq!(open.lock().unwrap().snapshots, 1, "no re-snapshot for an unknown-to-the-follower type");
    ws.abort();
    sse.abort();
    drop(gw);
    sink.stop().await;
}
