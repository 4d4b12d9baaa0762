//! Mode "queue_log alone": no AMI, only what the Asterisk host itself gives — the queue_log, queues.conf and
//! astdb, read through the daemon's own `pbx_files::engine_setup` (`tests/common/corpus.rs` says how the astdb of
//! each scenario's end is written and where each fact of the truth comes from). Every scenario of the real
//! Asterisk 22.10.1 corpus, one test each, against Asterisk's own final view: membership, pause, reason,
//! names and calls waiting from `final-status`; per queue answered / abandoned / timed out (the split too:
//! the queue_log tells a hang-up from a timeout) and per agent answered from the queue_log's outcome lines —
//! the re-entry scenarios included, counted per visit.

mod common;

use common::corpus::{Mode, assert_final_but, assert_identity, scenario, write_astdb};
use queuecast::config::Config;
use queuecast::daemon::pbx_files;
use queuecast::engine::{Engine, Snapshot};
use queuecast::replay;
use serde_json::{Value, json};

/// The final state of `name` in this mode checked against the truth; `name_only` as in `assert_identity`.
fn check_but(corpus: &str, name: &str, name_only: &[&str]) -> Snapshot {
    let scenario = scenario(corpus, name);
    let state = scenario.run(Mode::QueueLogAlone);
    assert_final_but(&scenario, Mode::QueueLogAlone, &state, name_only);
    assert_identity(&scenario, &state, name_only);
    state
}

fn corpus(name: &str) {
    check_but("asterisk-22", name, &[]);
}

fn flows(name: &str) {
    check_but("asterisk-22-flows", name, &[]);
}

#[test]
fn calls_answered() {
    corpus("calls-answered");
}

/// Dave Brown is added (ADDMEMBER by interface), unpaused by name, then removed (REMOVEMEMBER by interface).
/// This mode cannot know that "Dave Brown" was Local/1004: he is gone from astdb by the end, queues.conf does
/// not name him, and no queue_log line names both. (A running daemon learns it from astdb while he is a
/// member; only a start after his removal meets this.) His name-only lines stay a provisional agent, which is
/// never counted as a second member: support's agents_logged_in is Asterisk's.
#[test]
fn login_pause_unpause() {
    let state = check_but("asterisk-22", "login-pause-unpause", &["Dave Brown"]);
    assert_eq!(state.queues["support"]["agents_logged_in"], json!(2), "Alice and Carol, not Dave's name");
    // Carol was added without a name: Asterisk names her by her interface, so does queuecast.
    let carol = &state.agents["Local/1003@agents/n"];
    assert_eq!(carol["name"], json!("Local/1003@agents/n"));
    assert_eq!(carol["queues"]["support"]["pause_reason"], json!("Break (10 min)"));
}

#[test]
fn abandon_and_timeout() {
    corpus("abandon-and-timeout");
}

#[test]
fn ringnoanswer() {
    corpus("ringnoanswer");
}

#[test]
fn agent_pool() {
    corpus("agent-pool");
}

#[test]
fn ami_actions() {
    corpus("ami-actions");
}

/// Dave logs in and out from his phone (AddQueueMember/RemoveQueueMember), Erin by AMI, Frank by CLI; all three
/// end paused in support with their reasons, and Dave's one answered call is counted.
#[test]
fn agent_self_service() {
    flows("agent-self-service");
}

#[test]
fn agent_busy_direct() {
    flows("agent-busy-direct");
}

/// Re-entering calls: one uniqueid visits support, sales and billing; each visit is counted in its own queue
/// with its own outcome (truth support 0/0/2, sales 2/0/1, billing 0/1/1 as answered/abandoned/timed out).
#[test]
fn overflow_chain() {
    flows("overflow-chain");
}

/// Back into support after a timeout and after a key, then answered: support 2 answered, 2 timed out;
/// Alice 2 answers.
#[test]
fn requeue_same() {
    flows("requeue-same");
}

/// Calls answered in support, then transferred into sales and answered there by Bob (a second visit of the
/// same uniqueid); the Atxfer consultation channel (a fresh uniqueid) abandons sales.
#[test]
fn transfer_into_queue() {
    flows("transfer-into-queue");
}

/// The queue_log rotated after the members logged in and paused: the current file begins later. The pause
/// and its reason were set before the log starts, which queue_log alone cannot know — astdb can, and the
/// daemon takes it at start. overflow-chain, from the first caller on (after every ADDMEMBER and Alice's
/// "PAUSE|Meeting").
#[test]
fn pause_reason_from_before_the_log_comes_from_astdb() {
    let scenario = scenario("asterisk-22-flows", "overflow-chain");
    let tmp = tempfile::tempdir().unwrap();
    let astdb = write_astdb(tmp.path(), &scenario.truth().final_members);
    let toml = format!(
        "[engine]\nqueues_conf = \"/nonexistent/queues.conf\"\nastdb = {:?}\n",
        astdb.display().to_string()
    );
    let setup = pbx_files::engine_setup(&Config::from_toml(&toml, &tmp.path().join("q.toml")).unwrap());
    let full = scenario.queue_log_text();
    let later: String =
        full.lines().skip_while(|l| !l.contains("|ENTERQUEUE|")).map(|l| format!("{l}\n")).collect();
    assert!(!later.contains("ADDMEMBER") && !later.contains("Alice"), "the rotated-away part held them");
    let (events, _) = replay::queue_log_events(later.as_bytes());
    let mut all =
        queuecast::normalize::static_members::static_member_events(&setup.static_members, events[0].ts_ms);
    all.extend(events);
    let mut engine = Engine::new(setup.pbx.clone());
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
    let scenario = scenario("asterisk-22", "login-pause-unpause");
    let events = scenario.queue_log_events();
    let mut engine = Engine::new(queuecast::engine::PbxSetup::default());
    replay::apply_all(&mut engine, &events, None);
    let before = engine.snapshot();
    assert_eq!(before.agents["Alice Smith"]["interface"], Value::Null, "provisional");
    assert_eq!(before.agents["Local/1001@agents/n"]["queues"]["support"]["paused"], json!(false));
    assert_eq!(before.queues["support"]["agents_logged_in"], json!(2), "the name-only twin is not counted");
    assert_eq!(before.queues["sales"]["agents_logged_in"], json!(2), "Alice and Bob, not their names");

    let tmp = tempfile::tempdir().unwrap();
    let (members, bad) =
        queuecast::sources::astdb::read(&write_astdb(tmp.path(), &scenario.truth().final_members)).unwrap();
    assert_eq!(bad, 0);
    for m in members.iter().filter(|m| m.name.is_some()) {
        let kind = queuecast::engine::EventKind::MemberNamed {
            interface: m.interface.clone(),
            name: m.name.clone().unwrap(),
        };
        engine.apply(&queuecast::engine::Event {
            ts_ms: 0,
            source: queuecast::engine::Source::Clock,
            actor: None,
            kind,
        });
    }
    let after = engine.snapshot();
    assert!(!after.agents.contains_key("Alice Smith") && !after.agents.contains_key("Bob Jones"), "merged");
    let alice = &after.agents["Local/1001@agents/n"];
    assert_eq!(alice["name"], json!("Alice Smith"));
    assert_eq!(alice["queues"]["support"]["pause_reason"], json!("Lunch"));
    assert_eq!(alice["queues"]["sales"]["pause_reason"], json!("Lunch"));
    assert_eq!(after.queues["sales"]["agents_paused"], json!(2), "Alice (Lunch) and Bob (no reason)");
}
