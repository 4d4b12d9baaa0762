//! A feed running behind the clock (issue 16's chaos test found it): AMI's QueueCallerLeave is read, then a
//! per-second tick far past it, and only then the connect (AMI AgentConnect or queue_log CONNECT). The
//! settle time for an unexplained leave has run out by then, so the engine first guesses an exit by key;
//! the connect must withdraw that guess, or the answered call keeps `ended_at` = the time it was connected.
//! On the real bytes of overflow-chain, the AMI stream is cut at every event and the rest of queue_log put
//! there, with ticks ahead of all event times, as a daemon reading late sees them.

mod common;

use common::corpus::{Mode, scenario};
use queuecast::engine::{Engine, Event, EventKind, Fields, Source};
use queuecast::replay;

/// The call that overflows billing → sales and is answered there.
const CALL: &str = "1796156555.14";

fn tick(ts_ms: i64) -> Event {
    Event { ts_ms, source: Source::Clock, kind: EventKind::Tick, actor: None }
}

#[test]
fn a_connect_read_after_the_settle_time_withdraws_the_guessed_exit() {
    let s = scenario("asterisk-22-flows", "overflow-chain");
    let (ql, ami) = (s.queue_log_events(), s.ami_events());
    let merged = s.events(Mode::QueueLogAndAmi);
    let statics = merged[..merged.len() - ql.len() - ami.len()].to_vec();
    let end = s.end(&merged);
    let run = |events: &[Event]| -> Fields {
        let mut engine = Engine::new(s.config_of(Mode::QueueLogAndAmi));
        replay::apply_all(&mut engine, events, Some(end));
        engine.call_fields(CALL).expect("the call")
    };
    let reference = run(&merged);
    assert_eq!(reference.get("outcome").and_then(|o| o.as_str()), Some("answered"));
    // queue_log up to the call's first join, AMI cut at k, the rest of queue_log but the last line (its
    // COMPLETEAGENT), the rest of AMI, the last line; the clock ticks ahead of everything in between.
    let (head, tail) = ql.split_at(19);
    let (middle, last) = tail.split_at(tail.len() - 1);
    for k in 0..=ami.len() {
        let mut events = statics.clone();
        events.extend_from_slice(head);
        events.push(tick(end + 1_000));
        events.extend_from_slice(&ami[..k]);
        events.push(tick(end + 2_000));
        events.extend_from_slice(middle);
        events.push(tick(end + 3_000));
        events.extend_from_slice(&ami[k..]);
        events.push(tick(end + 60_000));
        events.extend_from_slice(last);
        assert_eq!(run(&events), reference, "AMI cut before event {k} of {}", ami.len());
    }
}
