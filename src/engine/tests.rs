//! Unit tests of the engine rules with hand-built events.

use super::*;

const T0: TsMs = 1_795_382_800_000;

fn ev(ts_s: i64, source: Source, kind: EventKind) -> Event {
    Event { ts_ms: T0 + ts_s * 1000, source, actor: None, kind }
}

fn ql(ts_s: i64, kind: EventKind) -> Event {
    ev(ts_s, Source::QueueLog, kind)
}

fn ami(ts_s: i64, kind: EventKind) -> Event {
    ev(ts_s, Source::Ami, kind)
}

fn added(queue: &str, member: MemberRef) -> EventKind {
    EventKind::member_added(queue, member, None)
}

/// Alice in support (queue_log, at 1 s) and caller c1 waiting there since 2 s.
fn alice_and_a_caller() -> Engine {
    let mut engine = Engine::new(config());
    engine.apply(&ql(1, added("support", MemberRef::interface(ALICE))));
    engine.apply(&ql(2, joined("support", "c1")));
    engine
}

fn pause(queue: &str, member: MemberRef, paused: bool, reason: &str) -> EventKind {
    EventKind::MemberPause { queue: Some(queue.into()), member, paused, reason: Some(reason.into()) }
}

fn joined(queue: &str, uid: &str) -> EventKind {
    EventKind::CallerJoined {
        queue: queue.into(),
        uniqueid: uid.into(),
        caller_id: Some("5551001".into()),
        caller_name: None,
        position: Some(1),
        linkedid: None,
    }
}

fn connected(queue: &str, uid: &str, member: MemberRef, hold_s: u32) -> EventKind {
    EventKind::CallConnected {
        queue: queue.into(),
        uniqueid: uid.into(),
        member,
        hold_s: Some(hold_s),
        ring_s: None,
    }
}

fn ended(queue: &str, uid: &str, member: MemberRef, talk_s: u32) -> EventKind {
    EventKind::CallEnded {
        queue: queue.into(),
        uniqueid: uid.into(),
        member: Some(member),
        hold_s: None,
        talk_s: Some(talk_s),
        reason: EndReason::Agent,
    }
}

fn left(queue: &str, uid: &str, reason: LeaveReason) -> EventKind {
    EventKind::CallerLeft { queue: queue.into(), uniqueid: uid.into(), reason, position: None, wait_s: None }
}

fn config() -> PbxSetup {
    let mut config = PbxSetup::default();
    config.queues.insert("support".into(), QueueSettings { wrapup_s: Some(3), service_level_s: Some(20) });
    config
}

fn field(fields: &Fields, name: &str) -> serde_json::Value {
    fields.get(name).cloned().unwrap_or(serde_json::Value::Null)
}

const ALICE: &str = "Local/1001@agents/n";

#[test]
fn the_same_event_twice_changes_nothing_the_second_time() {
    let mut engine = Engine::new(config());
    let e = ql(1, added("support", MemberRef::interface(ALICE)));
    assert!(!engine.apply(&e).is_empty());
    assert!(engine.apply(&e).is_empty());
    let p = ql(2, pause("support", MemberRef::interface(ALICE), true, "Lunch"));
    assert!(engine.apply(&p).contains(&Change::Agent(ALICE.into())));
    assert!(engine.apply(&p).is_empty());
    let agent = engine.agent_fields(ALICE).unwrap();
    assert_eq!(field(&agent, "status"), "paused");
    assert_eq!(field(&agent, "pause_reason"), "Lunch");
}

#[test]
fn a_call_reported_by_both_feeds_counts_once_and_wraps_up() {
    let mut engine = alice_and_a_caller();
    engine.apply(&ami(2, joined("support", "c1")));
    engine.apply(&ql(5, connected("support", "c1", MemberRef::name("Alice Smith"), 3)));
    // AMI names both: the provisional "Alice Smith" merges into the interface.
    let changes = engine.apply(&ami(5, connected("support", "c1", MemberRef::both(ALICE, "Alice Smith"), 3)));
    assert!(changes.contains(&Change::AgentRemoved("Alice Smith".into())), "{changes:?}");
    assert_eq!(field(&engine.agent_fields(ALICE).unwrap(), "status"), "talking");
    engine.apply(&ql(11, ended("support", "c1", MemberRef::name("Alice Smith"), 6)));
    engine.apply(&ami(11, ended("support", "c1", MemberRef::both(ALICE, "Alice Smith"), 6)));
    let agent = engine.agent_fields(ALICE).unwrap();
    assert_eq!(field(&agent, "calls_answered"), 1);
    assert_eq!(field(&agent, "talk_seconds"), 6);
    assert_eq!(field(&agent, "status"), "wrapup");
    let queue = engine.queue_fields("Support").unwrap();
    assert_eq!(field(&queue, "answered"), 1);
    assert_eq!(field(&queue, "calls_waiting"), 0);
    assert_eq!(field(&queue, "service_level"), 100.0);
    assert!(engine.agent_fields("Alice Smith").is_none());
    // Wrap-up (3 s from queues.conf) ends on the first event at or after its end.
    assert!(engine.apply(&ev(13, Source::Clock, EventKind::Tick)).is_empty());
    assert_eq!(
        engine.apply(&ev(14, Source::Clock, EventKind::Tick)),
        vec![Change::Agent(ALICE.into()), Change::Queue("support".into())]
    );
    assert_eq!(field(&engine.agent_fields(ALICE).unwrap(), "status"), "available");
    assert_eq!(field(&engine.call_fields("c1").unwrap(), "outcome"), "answered");
}

#[test]
fn queue_log_reason_refines_ami_unspecified_in_either_order() {
    for ami_first in [true, false] {
        let mut engine = Engine::new(config());
        engine.apply(&ql(1, joined("support", "c1")));
        let a = ami(11, left("support", "c1", LeaveReason::Unspecified));
        let q = ql(11, left("support", "c1", LeaveReason::Timeout));
        let order = if ami_first { [&a, &q, &a] } else { [&q, &a, &q] };
        for e in order {
            engine.apply(e);
        }
        let queue = engine.queue_fields("support").unwrap();
        assert_eq!((field(&queue, "abandoned"), field(&queue, "timed_out")), (0.into(), 1.into()));
        assert_eq!(field(&engine.call_fields("c1").unwrap(), "outcome"), "timed_out");
    }
}

#[test]
fn missed_rings_count_once_per_ring_across_feeds() {
    let mut engine = alice_and_a_caller();
    let stop = |member| EventKind::RingStopped {
        queue: "support".into(),
        uniqueid: "c1".into(),
        member,
        missed: true,
    };
    for round in [10, 22] {
        engine.apply(&ami(
            round,
            EventKind::AgentRinging {
                queue: "support".into(),
                uniqueid: "c1".into(),
                member: MemberRef::both(ALICE, "Alice Smith"),
            },
        ));
        assert_eq!(field(&engine.agent_fields(ALICE).unwrap(), "status"), "ringing");
        engine.apply(&ql(round + 8, stop(MemberRef::name("Alice Smith"))));
        engine.apply(&ami(round + 8, stop(MemberRef::both(ALICE, "Alice Smith"))));
        engine.apply(&ql(round + 8, stop(MemberRef::name("Alice Smith"))));
    }
    let agent = engine.agent_fields(ALICE).unwrap();
    assert_eq!(field(&agent, "calls_missed"), 2);
    assert_eq!(field(&agent, "status"), "available");
}

#[test]
fn counters_reset_when_a_new_day_starts() {
    let mut engine = Engine::new(config());
    // T0 + 9200 s is midnight UTC.
    engine.apply(&ql(9190, joined("support", "c1")));
    engine.apply(&ql(9195, left("support", "c1", LeaveReason::Abandon)));
    assert_eq!(field(&engine.queue_fields("support").unwrap(), "abandoned"), 1);
    let next_day = ev(9200, Source::Clock, EventKind::Tick);
    assert_eq!(engine.apply(&next_day), vec![Change::Queue("support".into())]);
    assert_eq!(field(&engine.queue_fields("support").unwrap(), "abandoned"), 0);
    // A late duplicate of yesterday's call does not count today.
    engine.apply(&ami(9201, left("support", "c1", LeaveReason::Unspecified)));
    assert_eq!(field(&engine.queue_fields("support").unwrap(), "abandoned"), 0);
}

#[test]
fn status_snapshot_removes_unlisted_members_and_repeats_are_silent() {
    let mut engine = Engine::new(config());
    engine.apply(&ql(1, added("support", MemberRef::interface(ALICE))));
    engine.apply(&ql(1, added("support", MemberRef::interface("Local/1002@agents/n"))));
    let snapshot = StatusSnapshot {
        scope: SnapshotScope::All,
        queues: vec![QueueParams { queue: "support".into(), ..Default::default() }],
        members: vec![MemberStatus {
            queue: "support".into(),
            interface: ALICE.into(),
            name: Some("Alice Smith".into()),
            paused: true,
            pause_reason: Some("Lunch".into()),
            device: Some(DeviceState::NotInUse),
            ..Default::default()
        }],
        entries: vec![],
    };
    let first = engine.apply(&ami(5, EventKind::StatusSnapshot(snapshot.clone())));
    assert!(first.contains(&Change::Agent("Local/1002@agents/n".into())));
    assert!(engine.apply(&ami(6, EventKind::StatusSnapshot(snapshot))).is_empty());
    let bob = engine.agent_fields("Local/1002@agents/n").unwrap();
    assert_eq!(field(&bob, "status"), "logged_out");
    let alice = engine.agent_fields(ALICE).unwrap();
    assert_eq!(
        (field(&alice, "name"), field(&alice, "pause_reason")),
        ("Alice Smith".into(), "Lunch".into())
    );
    let queue = engine.queue_fields("support").unwrap();
    assert_eq!((field(&queue, "agents_logged_in"), field(&queue, "agents_paused")), (1.into(), 1.into()));
}

#[test]
fn names_resolve_through_config_members() {
    let mut config = config();
    config.members.insert("Alice Smith".into(), ALICE.into());
    let mut engine = Engine::new(config);
    engine.apply(&ql(1, added("support", MemberRef::interface(ALICE))));
    engine.apply(&ql(2, pause("support", MemberRef::name("Alice Smith"), true, "Lunch")));
    assert_eq!(engine.snapshot().agents.len(), 1);
    assert_eq!(field(&engine.agent_fields(ALICE).unwrap(), "paused"), true);
}

#[test]
fn asterisk_restart_ends_calls_and_keeps_membership() {
    let mut engine = alice_and_a_caller();
    engine.apply(&ql(3, joined("support", "c2")));
    engine.apply(&ql(4, connected("support", "c2", MemberRef::interface(ALICE), 1)));
    engine.apply(&ql(9, EventKind::AsteriskStarted));
    let queue = engine.queue_fields("support").unwrap();
    assert_eq!((field(&queue, "calls_waiting"), field(&queue, "abandoned")), (0.into(), 1.into()));
    assert_eq!((field(&queue, "agents_logged_in"), field(&queue, "answered")), (1.into(), 1.into()));
    assert_eq!(field(&engine.agent_fields(ALICE).unwrap(), "status"), "available");
}

#[test]
fn a_wrapup_noticed_late_ends_at_its_own_end_time() {
    // The daemon ticks every second, replay once at the end: both must give the same `status_since`.
    let mut engine = alice_and_a_caller();
    engine.apply(&ql(5, connected("support", "c1", MemberRef::interface(ALICE), 3)));
    engine.apply(&ql(11, ended("support", "c1", MemberRef::interface(ALICE), 6)));
    assert_eq!(field(&engine.agent_fields(ALICE).unwrap(), "status"), "wrapup");
    // Wrap-up is 3 s (queues.conf): it ended at 14 s; the first tick after it comes 5 s late.
    let changes = engine.apply(&ev(19, Source::Clock, EventKind::Tick));
    assert!(changes.contains(&Change::Agent(ALICE.into())), "{changes:?}");
    let agent = engine.agent_fields(ALICE).unwrap();
    assert_eq!(field(&agent, "status"), "available");
    assert_eq!(field(&agent, "status_since"), T0 + 14_000);
    // A later event that changes the status again starts from its own time.
    engine.apply(&ql(25, pause("support", MemberRef::interface(ALICE), true, "Lunch")));
    assert_eq!(field(&engine.agent_fields(ALICE).unwrap(), "status_since"), T0 + 25_000);
}

#[test]
fn a_restart_ends_what_a_call_settled_by_an_earlier_restart_opened_again() {
    // A restart looks only at the calls that may still have an open visit: c1, settled by the first restart,
    // enters the queue again and must be ended by the second like the caller who is new.
    let mut engine = alice_and_a_caller();
    engine.apply(&ql(3, left("support", "c1", LeaveReason::Abandon)));
    engine.apply(&ql(4, EventKind::AsteriskStarted));
    engine.apply(&ql(5, joined("support", "c2")));
    engine.apply(&ql(6, joined("support", "c1")));
    let queue = engine.queue_fields("support").unwrap();
    assert_eq!((field(&queue, "calls_waiting"), field(&queue, "abandoned")), (2.into(), 1.into()));
    engine.apply(&ql(9, EventKind::AsteriskStarted));
    let queue = engine.queue_fields("support").unwrap();
    assert_eq!((field(&queue, "calls_waiting"), field(&queue, "abandoned")), (0.into(), 3.into()));
}
