//! Unit tests of visits with hand-built events: duplicates against re-entries, feeds out of step, AMI's
//! bare QueueCallerLeave, the screen pop. The real recordings are in tests/flows.rs.

use super::*;

const T0: TsMs = 1_795_382_800_000;
const ALICE: &str = "Local/1001@agents/n";

fn at(ms: i64, source: Source, kind: EventKind) -> Event {
    Event { ts_ms: T0 + ms, source, actor: None, kind }
}

fn joined(queue: &str) -> EventKind {
    EventKind::CallerJoined {
        queue: queue.into(),
        uniqueid: "c1".into(),
        caller_id: Some("5551001".into()),
        caller_name: None,
        position: Some(1),
        linkedid: None,
    }
}

fn left(queue: &str, reason: LeaveReason) -> EventKind {
    EventKind::CallerLeft { queue: queue.into(), uniqueid: "c1".into(), reason, position: None, wait_s: None }
}

fn dequeued(queue: &str) -> EventKind {
    EventKind::CallerDequeued { queue: queue.into(), uniqueid: "c1".into() }
}

fn connected(queue: &str) -> EventKind {
    EventKind::CallConnected {
        queue: queue.into(),
        uniqueid: "c1".into(),
        member: MemberRef::interface(ALICE),
        hold_s: Some(2),
        ring_s: None,
    }
}

fn ringing(queue: &str) -> EventKind {
    EventKind::AgentRinging {
        queue: queue.into(),
        uniqueid: "c1".into(),
        member: MemberRef::interface(ALICE),
    }
}

fn counts(engine: &Engine, queue: &str) -> (u64, u64, u64, usize) {
    let q = engine.queue_fields(queue).expect("queue");
    let n = |f: &str| q[f].as_u64().unwrap_or(u64::MAX);
    (n("answered"), n("abandoned"), n("timed_out"), engine.queue_waiting(queue).len())
}

fn run(events: &[Event]) -> Engine {
    let mut engine = Engine::new(PbxSetup::default());
    for event in events {
        engine.apply(event);
    }
    engine
}

/// Events of one feed, each at its offset in ms.
fn from(source: Source, steps: impl IntoIterator<Item = (i64, EventKind)>) -> Vec<Event> {
    steps.into_iter().map(|(ms, kind)| at(ms, source, kind)).collect()
}

/// requeue-same's first call as queue_log writes it: the exit and the next ENTERQUEUE in the same second.
fn queue_log_requeue() -> Vec<Event> {
    let timeout = left("support", LeaveReason::Timeout);
    from(Source::QueueLog, [(0, joined("support")), (6000, timeout), (6000, joined("support"))])
}

/// The same as AMI sends it: QueueCallerAbandon, QueueCallerLeave, then QueueCallerJoin within 1 ms.
fn ami_requeue() -> Vec<Event> {
    let (leave, dequeue) = (left("support", LeaveReason::Unspecified), dequeued("support"));
    from(Source::Ami, [(10, joined("support")), (6010, leave), (6010, dequeue), (6011, joined("support"))])
}

#[test]
fn a_rejoin_after_an_exit_is_a_new_visit_a_repeated_join_is_not() {
    let mut events = queue_log_requeue();
    events.insert(1, events[0].clone());
    events.push(events[3].clone());
    let engine = run(&events);
    assert_eq!(counts(&engine, "support"), (0, 0, 1, 1), "the timeout counts, the caller waits again");
    assert_eq!(
        engine.call_visits("c1"),
        vec![("support".into(), "timed_out"), ("support".into(), "waiting")]
    );
    let call = engine.call_fields("c1").expect("call");
    assert_eq!(call["joined_at"], T0 + 6000, "the top level is the second visit");
}

#[test]
fn each_feed_reports_the_visits_in_order_whichever_runs_ahead() {
    for (first, second) in [(queue_log_requeue(), ami_requeue()), (ami_requeue(), queue_log_requeue())] {
        let mut events = first.clone();
        events.extend(second.clone());
        events.push(at(8000, Source::QueueLog, connected("support")));
        events.push(at(8000, Source::Ami, dequeued("support")));
        events.push(at(8001, Source::Ami, connected("support")));
        let engine = run(&events);
        assert_eq!(
            counts(&engine, "support"),
            (1, 0, 1, 0),
            "queue_log's Timeout wins over AMI's Unspecified"
        );
        assert_eq!(
            engine.call_visits("c1"),
            vec![("support".into(), "timed_out"), ("support".into(), "answered")]
        );
        assert_eq!(engine.agent_fields(ALICE).expect("agent")["calls_answered"], 1);
    }
}

#[test]
fn ami_alone_a_bare_leave_is_an_exit_by_key() {
    let ami = |ms, kind| at(ms, Source::Ami, kind);
    // Then back into the queue at once (requeue-same's second call): the first visit is settled then.
    let engine =
        run(&[ami(0, joined("support")), ami(5000, dequeued("support")), ami(5001, joined("support"))]);
    assert_eq!(counts(&engine, "support"), (0, 0, 1, 1));
    // Or nothing follows: settled once the settle time has passed.
    let mut engine = run(&[ami(0, joined("support")), ami(5000, dequeued("support"))]);
    assert_eq!(counts(&engine, "support"), (0, 0, 0, 0), "not yet: an AgentConnect may follow");
    engine.apply(&at(5000 + calls::UNEXPLAINED_LEAVE_SETTLE_MS, Source::Clock, EventKind::Tick));
    assert_eq!(counts(&engine, "support"), (0, 0, 1, 0));
    // An answered caller's leave is followed by AgentConnect: answered, nothing unanswered.
    let mut engine =
        run(&[ami(0, joined("support")), ami(5000, dequeued("support")), ami(5001, connected("support"))]);
    engine.apply(&at(60_000, Source::Clock, EventKind::Tick));
    assert_eq!(counts(&engine, "support"), (1, 0, 0, 0));
}

#[test]
fn the_agent_call_field_follows_the_ring_and_the_connect() {
    let ami = |ms, kind| at(ms, Source::Ami, kind);
    let mut engine = run(&[ami(0, joined("sales")), ami(1000, ringing("sales"))]);
    let call = |engine: &Engine| engine.agent_fields(ALICE).expect("agent")["call"].clone();
    assert_eq!(
        call(&engine),
        serde_json::json!({"uniqueid": "c1", "queue": "sales", "caller_id": "5551001", "since": T0 + 1000})
    );
    assert_eq!(engine.agent_fields(ALICE).expect("agent")["status"], "ringing");
    let changes = engine.apply(&ami(3000, connected("sales")));
    assert!(changes.contains(&Change::Agent(ALICE.into())));
    assert_eq!(call(&engine)["since"], T0 + 3000);
    engine.apply(&ami(
        9000,
        EventKind::MemberCallEnded {
            queue: "sales".into(),
            member: MemberRef::interface(ALICE),
            hold_s: Some(3),
            talk_s: Some(6),
            reason: EndReason::Agent,
        },
    ));
    assert_eq!(call(&engine), serde_json::Value::Null, "AgentComplete without Uniqueid ended it");
    assert_eq!(engine.agent_fields(ALICE).expect("agent")["talk_seconds"], 6);
}

#[test]
fn a_join_from_no_feed_waits_once() {
    let clock = |ms, kind| at(ms, Source::Clock, kind);
    let engine = run(&[clock(0, joined("support")), clock(1, joined("support"))]);
    assert_eq!(counts(&engine, "support"), (0, 0, 0, 1));
    assert_eq!(engine.call_visits("c1").len(), 1);
}
