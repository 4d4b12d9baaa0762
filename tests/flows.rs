//! Every real Asterisk 22 scenario (tests/fixtures/asterisk-22 and asterisk-22-flows), replayed with queue_log +
//! AMI and with AMI alone, reaches Asterisk's own final view (`tests/common/corpus.rs` says where each fact of
//! the truth comes from). The flow scenarios are also cut at every second in which a visit began or ended:
//! the callers waiting then are exactly those queue_log shows joined and not yet gone.

mod common;

use common::corpus::{Mode, Scenario, assert_final, scenario, waiting_rows};
use queuecast::engine::Engine;
use queuecast::replay;

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
}

/// The inputs cut at the end of each second `t` around every visit boundary (`replay --until`: events up
/// to then, the final tick then): waiting callers equal the queue_log's at `t`.
fn cut_at_every_boundary(scenario: &Scenario, mode: Mode) {
    let events = scenario.events(mode);
    let boundaries = scenario.visit_boundaries();
    assert!(boundaries.len() >= 4, "{}: visits to cut at", scenario.name);
    for t in boundaries.iter().flat_map(|&t| [t - 1, t]) {
        let until = t * 1000 + 999;
        let upto: Vec<_> = events.iter().filter(|e| e.ts_ms <= until).cloned().collect();
        let mut engine = Engine::new(scenario.config());
        replay::apply_all(&mut engine, &upto, Some(until));
        let got = waiting_rows(&engine, &engine.snapshot());
        assert_eq!(got, scenario.waiting_at(t), "{} ({mode:?}) waiting at {t}", scenario.name);
    }
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
    };
}

cuts! {
    overflow_chain: "overflow-chain",
    requeue_same: "requeue-same",
    transfer_into_queue: "transfer-into-queue",
    agent_busy_direct: "agent-busy-direct",
}
