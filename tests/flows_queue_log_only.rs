//! Mode "queue_log alone": no AMI, only what the Asterisk host itself gives — the queue_log, queues.conf
//! (settings, static members and their names) and astdb (`Queue/PersistentMembers`: dynamic members with
//! their names and pause state). Every scenario of the real Asterisk 22.10.1 corpus, one test each, against
//! Asterisk's own final view:
//!
//! - membership, `paused`, `pause_reason`, `name` and calls waiting from the `final-status` QueueStatus answer
//!   at the end of the scenario's `ami.raw` (decoded here; never retyped);
//! - per queue answered / abandoned / timed out and per agent answered from the queue_log's outcome lines
//!   (CONNECT; ABANDON; EXITWITHTIMEOUT, EXITEMPTY, EXITWITHKEY, WITHDRAW — queuecast's `timed_out` covers
//!   every exit without an answer that is not a hang-up).
//!
//! The astdb: the corpus recorded a fresh Asterisk per scenario but not its astdb file. Each test writes the
//! astdb that Asterisk 22.10.1 holds at the end of the scenario — its dynamic members as `final-status`
//! lists them, serialized exactly as `dump_queue_members` does (apps/app_queue.c of 22.10.1:
//! `interface;penalty;paused;membername;state_interface;reason_paused;wrapuptime`, members joined by `|`, key
//! `/Queue/PersistentMembers/<queue>`) into a table made by main/db.c's own `CREATE TABLE` and `INSERT OR
//! REPLACE` statements. The daemon reads it at start, as it would on that host; the engine is set up through
//! the daemon's own `settings::engine`.

use parsers::ami::{AmiDecoder, Message, Parsed};
use queuecast::config::Config;
use queuecast::daemon::settings;
use queuecast::engine::{Engine, Snapshot, TsMs};
use queuecast::replay;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The final tick comes this long after the last line, so the wrap-ups of the last calls are over.
const SETTLE_MS: TsMs = 60_000;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// One member as Asterisk's final QueueStatus shows it.
#[derive(Debug, Clone)]
struct Member {
    queue: String,
    interface: String,
    name: String,
    state_interface: String,
    dynamic: bool,
    penalty: i64,
    paused: bool,
    reason: Option<String>,
    wrapup: u32,
}

/// Asterisk's final view: the members and, per queue, the callers still waiting (QueueParams `Calls`).
#[derive(Debug, Default)]
struct FinalStatus {
    members: Vec<Member>,
    waiting: BTreeMap<String, u64>,
}

fn messages(raw: &[u8]) -> Vec<Message<'_>> {
    let mut out = Vec::new();
    let mut decoder = AmiDecoder::new();
    let mut at = 0;
    while at < raw.len() {
        match decoder.decode(&raw[at..]) {
            Ok(Parsed::Complete { message, consumed }) => {
                at += consumed.max(1);
                out.push(message);
            }
            Ok(Parsed::Incomplete) => break,
            Err(err) => at += err.skip().max(1),
        }
    }
    out
}

fn final_status(raw: &[u8]) -> FinalStatus {
    let mut status = FinalStatus::default();
    let text = |m: &Message<'_>, key: &str| m.get(key).map(|v| v.into_owned()).unwrap_or_default();
    for m in messages(raw).iter().filter(|m| m.action_id().as_deref() == Some("final-status")) {
        if m.is_event("QueueParams") {
            status.waiting.insert(text(m, "Queue"), text(m, "Calls").parse().expect("Calls"));
        } else if m.is_event("QueueMember") {
            let reason = text(m, "PausedReason");
            status.members.push(Member {
                queue: text(m, "Queue"),
                interface: text(m, "Location"),
                name: text(m, "Name"),
                state_interface: text(m, "StateInterface"),
                dynamic: text(m, "Membership") == "dynamic",
                penalty: text(m, "Penalty").parse().expect("Penalty"),
                paused: text(m, "Paused") == "1",
                reason: (!reason.is_empty()).then_some(reason),
                wrapup: text(m, "Wrapuptime").parse().unwrap_or(0),
            });
        }
    }
    assert!(!status.waiting.is_empty(), "the capture ends with a final-status answer");
    status
}

/// Asterisk's astdb at the end of the scenario (see the module doc), in a temp dir.
fn write_astdb(dir: &Path, members: &[Member]) -> PathBuf {
    let path = dir.join("astdb.sqlite3");
    let db = rusqlite::Connection::open(&path).expect("astdb");
    db.execute("CREATE TABLE IF NOT EXISTS astdb(key TEXT, value TEXT, PRIMARY KEY(key))", []).unwrap();
    let mut per_queue: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for m in members.iter().filter(|m| m.dynamic) {
        per_queue.entry(&m.queue).or_default().push(format!(
            "{};{};{};{};{};{};{}",
            m.interface,
            m.penalty,
            u8::from(m.paused),
            m.name,
            m.state_interface,
            m.reason.as_deref().unwrap_or(""),
            m.wrapup
        ));
    }
    for (queue, entries) in per_queue {
        let key = format!("/Queue/PersistentMembers/{queue}");
        db.execute("INSERT OR REPLACE INTO astdb (key, value) VALUES (?, ?)", [key, entries.join("|")])
            .unwrap();
    }
    path
}

/// Today's outcome lines of the queue_log: per queue (answered, abandoned, timed out), per agent column
/// the CONNECTs.
#[derive(Debug, Default)]
struct Outcomes {
    queues: BTreeMap<String, (u64, u64, u64)>,
    connects: BTreeMap<String, u64>,
}

fn outcomes(queue_log: &str) -> Outcomes {
    let mut out = Outcomes::default();
    for line in queue_log.lines() {
        let cols: Vec<&str> = line.split('|').collect();
        let (Some(queue), Some(agent), Some(event)) = (cols.get(2), cols.get(3), cols.get(4)) else {
            continue;
        };
        let counts = out.queues.entry((*queue).to_owned()).or_default();
        match *event {
            "CONNECT" => {
                counts.0 += 1;
                *out.connects.entry((*agent).to_owned()).or_default() += 1;
            }
            "ABANDON" => counts.1 += 1,
            "EXITWITHTIMEOUT" | "EXITEMPTY" | "EXITWITHKEY" | "WITHDRAW" => counts.2 += 1,
            _ => {}
        }
    }
    out
}

/// A scenario replayed in this mode, with its truth.
struct Run {
    state: Snapshot,
    truth: FinalStatus,
    outcomes: Outcomes,
    /// Member name → interface as Asterisk knows them (final-status names, queues.conf static names).
    interfaces: BTreeMap<String, String>,
}

fn run(corpus: &str, conf_dir: &str, scenario: &str) -> Run {
    let dir = fixtures().join(corpus).join(scenario);
    let raw = std::fs::read(dir.join("ami.raw")).expect("ami.raw");
    let truth = final_status(&raw);
    let tmp = tempfile::tempdir().unwrap();
    let astdb = write_astdb(tmp.path(), &truth.members);
    let queues_conf = fixtures().join(corpus).join(conf_dir).join("queues.conf");
    let toml = format!(
        "[engine]\nqueues_conf = {:?}\nastdb = {:?}\n",
        queues_conf.display().to_string(),
        astdb.display().to_string()
    );
    let config = Config::from_toml(&toml, &tmp.path().join("queuecast.toml")).expect("config");
    assert!(!config.ami.enabled, "queue_log alone");
    let setup = settings::engine(&config);

    let queue_log = std::fs::read(dir.join("queue_log")).expect("queue_log");
    let (events, bad) = replay::queue_log_events(&queue_log);
    assert_eq!(bad, 0, "{scenario}: the corpus is clean");
    let first = events.first().map(|e| e.ts_ms).expect("lines");
    let last = events.iter().map(|e| e.ts_ms).max().unwrap_or(first);
    let mut all = replay::static_member_events(&setup.static_members, first);
    all.extend(events);
    let mut engine = Engine::new(setup.config.clone());
    replay::apply_all(&mut engine, &all, Some(last + SETTLE_MS));

    let mut interfaces: BTreeMap<String, String> =
        truth.members.iter().map(|m| (m.name.clone(), m.interface.clone())).collect();
    for (name, interface) in &setup.config.members {
        interfaces.entry(name.clone()).or_insert_with(|| interface.clone());
    }
    let outcomes = outcomes(&String::from_utf8_lossy(&queue_log));
    Run { state: engine.snapshot(), truth, outcomes, interfaces }
}

impl Run {
    /// Each member once, under its interface, with Asterisk's name, pause and reason; no agent known only by
    /// a name (a provisional twin); per queue the member counts and the callers waiting.
    fn assert_members(&self, scenario: &str) {
        self.assert_members_but(scenario, &[]);
    }

    /// As `assert_members`, where the names in `unresolvable` are known to this mode by name only (see the
    /// caller): shown as their own agent, never among a queue's counted members.
    fn assert_members_but(&self, scenario: &str, unresolvable: &[&str]) {
        let agents = &self.state.agents;
        for (id, agent) in agents.iter().filter(|(id, _)| !unresolvable.contains(&id.as_str())) {
            assert_eq!(
                agent["interface"],
                json!(id),
                "{scenario}: {id} is not a member twin known by name only"
            );
        }
        for name in unresolvable {
            assert_eq!(agents[*name]["interface"], Value::Null, "{scenario}: {name} is known by name only");
        }
        let agents: BTreeMap<&String, &serde_json::Map<String, Value>> =
            agents.iter().filter(|(id, _)| !unresolvable.contains(&id.as_str())).collect();
        let mut want: BTreeMap<&str, BTreeMap<&str, &Member>> = BTreeMap::new();
        for m in &self.truth.members {
            want.entry(m.interface.as_str()).or_default().insert(m.queue.as_str(), m);
        }
        let members: Vec<&str> = agents
            .iter()
            .filter(|(_, a)| a["queues"].as_object().is_some_and(|q| !q.is_empty()))
            .map(|(id, _)| id.as_str())
            .collect();
        assert_eq!(members, want.keys().copied().collect::<Vec<_>>(), "{scenario}: the members, each once");
        for (interface, queues) in &want {
            let agent = agents[&interface.to_string()];
            let got = agent["queues"].as_object().expect("queues");
            assert_eq!(
                got.keys().map(String::as_str).collect::<Vec<_>>(),
                queues.keys().copied().collect::<Vec<_>>(),
                "{scenario}: {interface}'s queues"
            );
            for (queue, m) in queues {
                let detail = &got[*queue];
                assert_eq!(detail["paused"], json!(m.paused), "{scenario}: {interface} paused in {queue}");
                assert_eq!(
                    detail["pause_reason"],
                    json!(m.reason),
                    "{scenario}: {interface} reason in {queue}"
                );
            }
            let name = &queues.values().next().expect("a queue").name;
            assert_eq!(agent["name"], json!(name), "{scenario}: {interface}'s name as Asterisk reports it");
            let all_paused = queues.values().all(|m| m.paused);
            assert_eq!(agent["paused"], json!(all_paused), "{scenario}: {interface} paused everywhere");
        }
        for (queue, waiting) in &self.truth.waiting {
            let q = &self.state.queues[&queue.to_ascii_lowercase()];
            let members: Vec<&Member> = self.truth.members.iter().filter(|m| &m.queue == queue).collect();
            let paused = members.iter().filter(|m| m.paused).count();
            assert_eq!(q["agents_logged_in"], json!(members.len()), "{scenario}: {queue} agents_logged_in");
            assert_eq!(q["agents_paused"], json!(paused), "{scenario}: {queue} agents_paused");
            assert_eq!(q["calls_waiting"], json!(waiting), "{scenario}: {queue} calls_waiting");
        }
    }

    /// Per queue answered / abandoned / timed out, per agent answered, as the outcome lines say.
    fn assert_counters(&self, scenario: &str) {
        let queues: Vec<&str> = self.state.queues.keys().map(String::as_str).collect();
        self.assert_queue_counters(scenario, &queues);
        self.assert_agents_answered(scenario, &[]);
    }

    /// (answered, abandoned, timed out) of these queues.
    fn assert_queue_counters(&self, scenario: &str, queues: &[&str]) {
        for queue in queues {
            let fields = &self.state.queues[*queue];
            let (answered, abandoned, timed_out) =
                self.outcomes.queues.get(*queue).copied().unwrap_or_default();
            let got = (n(fields, "answered"), n(fields, "abandoned"), n(fields, "timed_out"));
            assert_eq!(
                got,
                (answered, abandoned, timed_out),
                "{scenario}: {queue} (answered, abandoned, timed_out)"
            );
        }
    }

    /// `calls_answered` of every agent but `except` = its CONNECT lines.
    fn assert_agents_answered(&self, scenario: &str, except: &[&str]) {
        let mut want: BTreeMap<String, u64> = BTreeMap::new();
        for (agent, count) in &self.outcomes.connects {
            let interface = self.interfaces.get(agent).cloned().unwrap_or_else(|| agent.clone());
            *want.entry(interface).or_default() += count;
        }
        for (id, agent) in self.state.agents.iter().filter(|(id, _)| !except.contains(&id.as_str())) {
            let expected = want.get(id).copied().unwrap_or(0);
            assert_eq!(n(agent, "calls_answered"), expected, "{scenario}: {id} calls_answered");
        }
        for id in want.keys() {
            assert!(self.state.agents.contains_key(id), "{scenario}: {id} answered calls but is not shown");
        }
    }
}

fn n(fields: &serde_json::Map<String, Value>, key: &str) -> u64 {
    fields[key].as_u64().unwrap_or(u64::MAX)
}

fn corpus(scenario: &str) -> Run {
    run("asterisk-22", "asterisk-conf", scenario)
}

fn flows(scenario: &str) -> Run {
    run("asterisk-22-flows", "conf", scenario)
}

#[test]
fn calls_answered() {
    let run = corpus("calls-answered");
    run.assert_members("calls-answered");
    run.assert_counters("calls-answered");
}

/// Dave Brown is added (ADDMEMBER by interface), unpaused by name, then removed (REMOVEMEMBER by interface).
/// This mode cannot know that "Dave Brown" was Local/1004: he is gone from astdb by the end, queues.conf does
/// not name him, and no queue_log line names both. (A running daemon learns it from astdb while he is a
/// member; only a start after his removal meets this.) His name-only lines stay a provisional agent, which is
/// never counted as a second member: support's agents_logged_in is Asterisk's.
#[test]
fn login_pause_unpause() {
    let run = corpus("login-pause-unpause");
    run.assert_members_but("login-pause-unpause", &["Dave Brown"]);
    assert_eq!(run.state.queues["support"]["agents_logged_in"], json!(2), "Alice and Carol, not Dave's name");
    run.assert_counters("login-pause-unpause");
    // Carol was added without a name: Asterisk names her by her interface, so does queuecast.
    let carol = &run.state.agents["Local/1003@agents/n"];
    assert_eq!(carol["name"], json!("Local/1003@agents/n"));
    assert_eq!(carol["queues"]["support"]["pause_reason"], json!("Break (10 min)"));
}

#[test]
fn abandon_and_timeout() {
    let run = corpus("abandon-and-timeout");
    run.assert_members("abandon-and-timeout");
    run.assert_counters("abandon-and-timeout");
}

#[test]
fn ringnoanswer() {
    let run = corpus("ringnoanswer");
    run.assert_members("ringnoanswer");
    run.assert_counters("ringnoanswer");
}

#[test]
fn agent_pool() {
    let run = corpus("agent-pool");
    run.assert_members("agent-pool");
    run.assert_counters("agent-pool");
}

#[test]
fn ami_actions() {
    let run = corpus("ami-actions");
    run.assert_members("ami-actions");
    run.assert_counters("ami-actions");
}

#[test]
fn agent_busy_direct() {
    let run = flows("agent-busy-direct");
    run.assert_members("agent-busy-direct");
    run.assert_counters("agent-busy-direct");
}

/// Re-entering calls: one uniqueid visits support, sales and billing. Membership, pause, identity and Bob's
/// two answers are checked. Not the per-queue counters (truth support 0/0/2, sales 2/0/1, billing 0/1/1 as
/// answered/abandoned/timed out): queuecast keys a call by uniqueid and books it to its first queue with its
/// last outcome until visits are counted (branch "visits", issue 14 item 1).
#[test]
fn overflow_chain() {
    let run = flows("overflow-chain");
    run.assert_members("overflow-chain");
    run.assert_agents_answered("overflow-chain", &[]);
}

/// Back into support after a timeout and after a key, then answered: the answers (support 2, Alice 2) are
/// checked; support's 2 timed-out first visits wait for visits (branch "visits").
#[test]
fn requeue_same() {
    let run = flows("requeue-same");
    run.assert_members("requeue-same");
    run.assert_agents_answered("requeue-same", &[]);
    assert_eq!(run.state.queues["support"]["answered"], json!(2));
}

/// Calls answered in support, then transferred into sales: support's counters and Alice's answers are
/// checked; sales' two answers and Bob's (the second visit of the same uniqueid) wait for visits (branch
/// "visits"). The Atxfer consultation channel (a fresh uniqueid) abandoning sales is counted today.
#[test]
fn transfer_into_queue() {
    let run = flows("transfer-into-queue");
    run.assert_members("transfer-into-queue");
    run.assert_queue_counters("transfer-into-queue", &["support", "billing", "overflow"]);
    run.assert_agents_answered("transfer-into-queue", &["Local/1002@agents/n"]);
    assert_eq!(run.state.queues["sales"]["abandoned"], json!(1));
}

/// The queue_log rotated after the members logged in and paused: the current file begins later. The pause
/// and its reason were set before the log starts, which queue_log alone cannot know — astdb can, and the
/// daemon takes it at start. overflow-chain, from the first caller on (after every ADDMEMBER and Alice's
/// "PAUSE|Meeting").
#[test]
fn pause_reason_from_before_the_log_comes_from_astdb() {
    let dir = fixtures().join("asterisk-22-flows/overflow-chain");
    let truth = final_status(&std::fs::read(dir.join("ami.raw")).unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let astdb = write_astdb(tmp.path(), &truth.members);
    let toml = format!(
        "[engine]\nqueues_conf = \"/nonexistent/queues.conf\"\nastdb = {:?}\n",
        astdb.display().to_string()
    );
    let setup = settings::engine(&Config::from_toml(&toml, &tmp.path().join("q.toml")).unwrap());
    let full = std::fs::read_to_string(dir.join("queue_log")).unwrap();
    let later: String =
        full.lines().skip_while(|l| !l.contains("|ENTERQUEUE|")).map(|l| format!("{l}\n")).collect();
    assert!(!later.contains("ADDMEMBER") && !later.contains("Alice"), "the rotated-away part held them");
    let (events, _) = replay::queue_log_events(later.as_bytes());
    let mut all = replay::static_member_events(&setup.static_members, events[0].ts_ms);
    all.extend(events);
    let mut engine = Engine::new(setup.config.clone());
    replay::apply_all(&mut engine, &all, None);
    let state = engine.snapshot();
    let alice = &state.agents["Local/1001@agents/n"];
    assert_eq!(alice["name"], json!("Alice Smith"));
    assert_eq!(alice["queues"]["support"], json!({"paused": true, "pause_reason": "Meeting", "penalty": 0}));
    assert_eq!(state.queues["sales"]["agents_logged_in"], json!(2), "Bob and Carol, from astdb");
    assert_eq!(
        state.agents["Local/1002@agents/n"]["calls_answered"],
        json!(2),
        "Bob's CONNECTs by name resolve"
    );
}

/// Without astdb at start (say, Asterisk wrote it only later), the names in PAUSE lines are unknown: they
/// are provisional agents, never counted, until the pairs arrive (`MemberNamed`, as the astdb watcher sends
/// them) — then they merge into the member and the pause lands on it.
#[test]
fn names_learned_later_merge_the_provisional_agents() {
    let dir = fixtures().join("asterisk-22/login-pause-unpause");
    let truth = final_status(&std::fs::read(dir.join("ami.raw")).unwrap());
    let (events, _) = replay::queue_log_events(&std::fs::read(dir.join("queue_log")).unwrap());
    let mut engine = Engine::new(queuecast::engine::EngineConfig::default());
    replay::apply_all(&mut engine, &events, None);
    let before = engine.snapshot();
    assert_eq!(before.agents["Alice Smith"]["interface"], Value::Null, "provisional");
    assert_eq!(before.agents["Local/1001@agents/n"]["queues"]["support"]["paused"], json!(false));
    assert_eq!(before.queues["support"]["agents_logged_in"], json!(2), "the name-only twin is not counted");
    assert_eq!(before.queues["sales"]["agents_logged_in"], json!(2), "Alice and Bob, not their names");

    let tmp = tempfile::tempdir().unwrap();
    let (members, bad) = queuecast::sources::astdb::read(&write_astdb(tmp.path(), &truth.members)).unwrap();
    assert_eq!(bad, 0);
    for m in members.iter().filter(|m| m.name.is_some()) {
        let kind = queuecast::engine::EventKind::MemberNamed {
            interface: m.interface.clone(),
            name: m.name.clone().unwrap(),
        };
        engine.apply(&queuecast::engine::Event { ts_ms: 0, source: queuecast::engine::Source::Clock, kind });
    }
    let after = engine.snapshot();
    assert!(!after.agents.contains_key("Alice Smith") && !after.agents.contains_key("Bob Jones"), "merged");
    let alice = &after.agents["Local/1001@agents/n"];
    assert_eq!(alice["name"], json!("Alice Smith"));
    assert_eq!(alice["queues"]["support"]["pause_reason"], json!("Lunch"));
    assert_eq!(alice["queues"]["sales"]["pause_reason"], json!("Lunch"));
    assert_eq!(after.queues["sales"]["agents_paused"], json!(2), "Alice (Lunch) and Bob (no reason)");
}
