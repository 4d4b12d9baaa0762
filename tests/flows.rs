//! Every real Asterisk 22 scenario (tests/fixtures/asterisk-22 and asterisk-22-flows), replayed with queue_log +
//! AMI and with AMI alone, reaches Asterisk's own final view (`tests/common/corpus.rs` says where each fact of
//! the truth comes from; queue_log alone has its matrix in tests/flows_queue_log_only.rs). The flow scenarios
//! are also cut at every second in which a visit began or ended, in all three modes: the callers waiting then
//! are exactly those queue_log shows joined and not yet gone, and the agents bridged are talking on that call.

mod common;

use common::corpus::{Mode, Scenario, assert_final, scenario, waiting_rows};
use queuecast::engine::{Engine, EventKind};
use queuecast::replay;
use serde_json::json;

fn check(corpus: &str, name: &str, mode: Mode) {
    let scenario = scenario(corpus, name);
    assert_final(&scenario, mode, &scenario.run(mode));
}

macro_rules! matrix {
    ($($test:ident: $corpus:literal / $name:literal,)*) => {
        mod queue_log_and_ami {
            $( #[test] fn $test() { super::check($corpus, $name, super::Mode::QueueLogAndAmi) } )*
        }
        mod ami_alone {
            $( #[test] fn $test() { super::check($corpus, $name, super::Mode::AmiAlone) } )*
        }
    };
}

matrix! {
    calls_answered: "asterisk-22" / "calls-answered",
    login_pause_unpause: "asterisk-22" / "login-pause-unpause",
    abandon_and_timeout: "asterisk-22" / "abandon-and-timeout",
    ringnoanswer: "asterisk-22" / "ringnoanswer",
    agent_pool: "asterisk-22" / "agent-pool",
    ami_actions: "asterisk-22" / "ami-actions",
    overflow_chain: "asterisk-22-flows" / "overflow-chain",
    requeue_same: "asterisk-22-flows" / "requeue-same",
    transfer_into_queue: "asterisk-22-flows" / "transfer-into-queue",
    agent_busy_direct: "asterisk-22-flows" / "agent-busy-direct",
    agent_self_service: "asterisk-22-flows" / "agent-self-service",
}

/// The inputs cut at the end of each second `t` around every visit boundary (`replay --until`: events up
/// to then, the final tick then): waiting callers equal the queue_log's at `t`.
fn cut_at_every_boundary(scenario: &Scenario, mode: Mode) {
    let events = scenario.events(mode);
    let config = scenario.config_of(mode);
    let boundaries = scenario.visit_boundaries();
    assert!(boundaries.len() >= 4, "{}: visits to cut at", scenario.name);
    for t in boundaries.iter().flat_map(|&t| [t - 1, t]) {
        let until = t * 1000 + 999;
        let upto: Vec<_> = events.iter().filter(|e| e.ts_ms <= until).cloned().collect();
        let mut engine = Engine::new(config.clone());
        replay::apply_all(&mut engine, &upto, Some(until));
        let snapshot = engine.snapshot();
        let got = waiting_rows(&engine, &snapshot);
        assert_eq!(got, scenario.waiting_at(t), "{} ({mode:?}) waiting at {t}", scenario.name);
        for (agent, uid) in scenario.connected_at(t) {
            let fields = &snapshot.agents[&agent];
            assert_eq!(fields["status"], "talking", "{} ({mode:?}) {agent} at {t}", scenario.name);
            assert_eq!(
                fields["call"]["uniqueid"],
                json!(uid),
                "{} ({mode:?}) {agent}'s call at {t}",
                scenario.name
            );
        }
    }
}

/// The call hashes: every uniqueid's visits, in order, with the outcome queue_log gives each.
fn visits_per_call(name: &str, mode: Mode) {
    let scenario = scenario("asterisk-22-flows", name);
    let events = scenario.events(mode);
    let mut engine = Engine::new(scenario.config_of(mode));
    replay::apply_all(&mut engine, &events, Some(scenario.end(&events)));
    for (uid, want) in scenario.visits() {
        let got: Vec<(String, String)> =
            engine.call_visits(&uid).into_iter().map(|(q, o)| (q, o.to_owned())).collect();
        assert_eq!(got, want, "{name} ({mode:?}) {uid}: visits");
        let fields = engine.call_fields(&uid).expect("call hash");
        assert_eq!(fields["visits"].as_array().map(Vec::len), Some(want.len()), "{name} {uid}");
        let latest = fields["visits"].as_array().and_then(|v| v.last()).cloned().unwrap_or_default();
        assert_eq!(fields["queue"], latest["queue"], "{name} {uid}: the top level is the latest visit");
        assert_eq!(fields["outcome"], latest["outcome"], "{name} {uid}: the top level is the latest visit");
    }
}

#[test]
fn visits_per_call_queue_log_and_ami() {
    for name in ["overflow-chain", "requeue-same", "transfer-into-queue", "agent-busy-direct"] {
        visits_per_call(name, Mode::QueueLogAndAmi);
    }
}

#[test]
fn visits_per_call_queue_log_alone() {
    for name in ["overflow-chain", "requeue-same", "transfer-into-queue", "agent-busy-direct"] {
        visits_per_call(name, Mode::QueueLogAlone);
    }
}

/// AMI cannot tell a timeout from a hang-up (both are QueueCallerAbandon): per visit it knows answered or
/// not, and the exit key (a bare QueueCallerLeave) as timed out.
#[test]
fn visits_per_call_ami_alone() {
    for name in ["overflow-chain", "requeue-same", "transfer-into-queue", "agent-busy-direct"] {
        let scenario = scenario("asterisk-22-flows", name);
        let events = scenario.events(Mode::AmiAlone);
        let mut engine = Engine::new(scenario.config());
        replay::apply_all(&mut engine, &events, Some(scenario.end(&events)));
        for (uid, want) in scenario.visits() {
            let unanswered = |o: &str| matches!(o, "abandoned" | "timed_out");
            let got: Vec<(String, bool)> =
                engine.call_visits(&uid).into_iter().map(|(q, o)| (q, unanswered(o))).collect();
            let want: Vec<(String, bool)> = want.into_iter().map(|(q, o)| (q, unanswered(&o))).collect();
            assert_eq!(got, want, "{name} (AMI alone) {uid}: visits answered or not");
        }
    }
}

/// The attended transfer's consultation channel is its own call, tied to the caller by AMI's Linkedid.
#[test]
fn consultation_channel_keeps_linkedid() {
    let scenario = scenario("asterisk-22-flows", "transfer-into-queue");
    let events = scenario.events(Mode::QueueLogAndAmi);
    let mut engine = Engine::new(scenario.config());
    replay::apply_all(&mut engine, &events, Some(scenario.end(&events)));
    let consultation = engine.call_fields("1796156672.17").expect("consultation call");
    assert_eq!(consultation["linkedid"], "1796156667.12");
    assert_eq!(consultation["caller_id"], "5557303");
    assert_eq!(engine.call_visits("1796156667.12"), vec![("support".to_owned(), "transferred")]);
}

/// The state at a moment the recording's README describes (`replay --until`).
/// `replay --until t` on the whole recording (the streaming path the CLI takes, inputs not cut beforehand)
/// leaves out what came later: the waiting callers of second `t` around every visit boundary.
#[test]
fn replay_until_is_the_state_at_that_moment() {
    for name in ["overflow-chain", "requeue-same", "transfer-into-queue", "agent-busy-direct"] {
        let scenario = scenario("asterisk-22-flows", name);
        for t in scenario.visit_boundaries().iter().flat_map(|&t| [t - 1, t]) {
            let inputs = replay::Inputs {
                until_ms: Some(t * 1000 + 999),
                ..replay::Inputs::queue_log(scenario.dir.join("queue_log"))
                    .with_ami_capture(scenario.dir.join("ami.raw"))
            };
            let replayed = replay::replay(scenario.config(), &inputs).expect("replay");
            let snapshot = replayed.engine.snapshot();
            let got = waiting_rows(&replayed.engine, &snapshot);
            assert_eq!(got, scenario.waiting_at(t), "{name}: replay --until {t}");
        }
    }
}

fn at(name: &str, mode: Mode, t: i64) -> queuecast::engine::Snapshot {
    let scenario = scenario("asterisk-22-flows", name);
    let until = t * 1000 + 999;
    let upto: Vec<_> = scenario.events(mode).into_iter().filter(|e| e.ts_ms <= until).collect();
    let mut engine = Engine::new(scenario.config_of(mode));
    replay::apply_all(&mut engine, &upto, Some(until));
    engine.snapshot()
}

/// overflow-chain README at 534: Carol rings for the caller who moved on to sales; her Local device reads
/// In use from the moment it rings, which is the ring, not a call.
#[test]
fn local_member_being_rung_is_ringing() {
    for mode in [Mode::QueueLogAndAmi, Mode::AmiAlone] {
        let s = at("overflow-chain", mode, 1_796_156_534);
        let carol = &s.agents["Local/1003@agents/n"];
        assert_eq!(carol["status"], "ringing", "{mode:?}");
        assert_eq!(carol["call"]["uniqueid"], "1796156524.2", "{mode:?}");
        assert_eq!(carol["call"]["queue"], "sales", "{mode:?}");
        assert_eq!(carol["call"]["caller_id"], "5557102", "{mode:?}");
        let bob = &s.agents["Local/1002@agents/n"];
        assert_eq!(
            (bob["status"].clone(), bob["call"]["uniqueid"].clone()),
            (json!("talking"), json!("1796156520.0"))
        );
    }
}

/// agent-busy-direct README at 720: Alice and Bob are on direct calls (device In use before any queue
/// ring), Bob (ringinuse=yes) is also rung for the sales caller: both are talking; Bob's `call` is the queue
/// call ringing him, Alice has none. At 745 Alice is still on her direct call.
#[test]
fn member_on_a_direct_call_is_talking() {
    let s = at("agent-busy-direct", Mode::QueueLogAndAmi, 1_796_156_720);
    let (alice, bob, carol) = (
        &s.agents["Local/1001@agents/n"],
        &s.agents["Local/1002@agents/n"],
        &s.agents["Local/1003@agents/n"],
    );
    assert_eq!(alice["status"], "talking");
    assert_eq!(alice["call"], json!(null));
    assert_eq!(bob["status"], "talking");
    assert_eq!(bob["call"]["uniqueid"], "1796156718.4");
    assert_eq!(carol["status"], "ringing");
    assert_eq!(carol["call"]["uniqueid"], "1796156718.4");
    let s = at("agent-busy-direct", Mode::AmiAlone, 1_796_156_745);
    assert_eq!(s.agents["Local/1001@agents/n"]["status"], "talking");
    assert_eq!(s.agents["Local/1001@agents/n"]["call"], json!(null));
}

macro_rules! cuts {
    ($($test:ident: $name:literal,)*) => {
        mod cut_queue_log_and_ami {
            $( #[test] fn $test() {
                super::cut_at_every_boundary(&super::scenario("asterisk-22-flows", $name), super::Mode::QueueLogAndAmi)
            } )*
        }
        mod cut_ami_alone {
            $( #[test] fn $test() {
                super::cut_at_every_boundary(&super::scenario("asterisk-22-flows", $name), super::Mode::AmiAlone)
            } )*
        }
        mod cut_queue_log_alone {
            $( #[test] fn $test() {
                super::cut_at_every_boundary(&super::scenario("asterisk-22-flows", $name), super::Mode::QueueLogAlone)
            } )*
        }
    };
}

cuts! {
    overflow_chain: "overflow-chain",
    requeue_same: "requeue-same",
    transfer_into_queue: "transfer-into-queue",
    agent_busy_direct: "agent-busy-direct",
}

/// The AgentComplete Asterisk sends when the caller's channel is already gone: only Queue, Interface,
/// MemberName, HoldTime, TalkTime and Reason (seen on 13–22). Every AgentComplete of the real captures is cut
/// down to those lines (same length kept, so the chunk times still apply): AMI alone still ends every call.
fn without_caller_fields(raw: &[u8]) -> Vec<u8> {
    const KEPT: [&str; 8] =
        ["Event", "Privilege", "Queue", "Interface", "MemberName", "HoldTime", "TalkTime", "Reason"];
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    for message in text.split_inclusive("\r\n\r\n") {
        if !message.starts_with("Event: AgentComplete\r\n") {
            out.push_str(message);
            continue;
        }
        let kept: String = message
            .split_inclusive("\r\n")
            .filter(|line| line == &"\r\n" || KEPT.iter().any(|k| line.starts_with(&format!("{k}: "))))
            .collect();
        // Pad inside a header value Asterisk ignores, so byte offsets (chunk times) stay those recorded.
        let pad = message.len() - kept.len();
        let (head, tail) = kept.split_at(kept.len() - 2);
        out.push_str(head);
        if pad >= "X-Pad: \r\n".len() {
            out.push_str(&format!("X-Pad: {}\r\n", " ".repeat(pad - "X-Pad: \r\n".len())));
        }
        out.push_str(tail);
    }
    out.into_bytes()
}

#[test]
fn agent_complete_without_caller_fields_ends_the_call() {
    for (corpus, name) in [
        ("asterisk-22", "calls-answered"),
        ("asterisk-22-flows", "requeue-same"),
        ("asterisk-22-flows", "transfer-into-queue"),
        ("asterisk-22-flows", "agent-busy-direct"),
    ] {
        let scenario = scenario(corpus, name);
        let raw = without_caller_fields(&scenario.ami_before_final());
        assert!(!String::from_utf8_lossy(&raw).contains("AgentComplete\r\nPrivilege: agent,all\r\nChannel"));
        let events = scenario.events_with(Mode::AmiAlone, scenario.ami_events_of(&raw));
        let ended = events.iter().filter(|e| matches!(e.kind, EventKind::MemberCallEnded { .. })).count();
        assert!(ended > 0, "{name}: AgentComplete without Uniqueid is an event, not a bad message");
        let mut engine = Engine::new(scenario.config());
        replay::apply_all(&mut engine, &events, Some(scenario.end(&events)));
        assert_final(&scenario, Mode::AmiAlone, &engine.snapshot());
    }
}
