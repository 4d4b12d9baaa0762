//! How queue_log-only identity counts a member name whose interface is unknown (hand-written lines in
//! Asterisk 22's queue_log format; the real-bytes scenarios are in `flows_queue_log_only.rs`).

use queuecast::engine::Engine;
use queuecast::replay;
use serde_json::{Value, json};

/// `log_membername_as_agent = yes` (hand-written lines in that format: the corpus was recorded with the
/// default): every line names the member, none its interface. With no pair known, each name an ADDMEMBER
/// gave is a member of its own and is counted once; REMOVEMEMBER by name removes it.
#[test]
fn names_only_log_counts_each_name_once() {
    let log = "1795382785|NONE|NONE|NONE|QUEUESTART|\n\
               1795382785|CLI|support|Alice Smith|ADDMEMBER|\n\
               1795382786|CLI|support|Bob Jones|ADDMEMBER|\n\
               1795382789|NONE|support|Alice Smith|PAUSE|Lunch\n";
    let (events, bad) = replay::queue_log_events(log.as_bytes());
    assert_eq!(bad, 0);
    let mut engine = Engine::new(queuecast::engine::PbxSetup::default());
    replay::apply_all(&mut engine, &events, None);
    let state = engine.snapshot();
    assert_eq!(state.queues["support"]["agents_logged_in"], json!(2));
    assert_eq!(state.queues["support"]["agents_paused"], json!(1));
    assert_eq!(state.agents["Alice Smith"]["queues"]["support"]["pause_reason"], json!("Lunch"));

    let remove = "1795382790|CLI|support|Bob Jones|REMOVEMEMBER|\n";
    replay::apply_all(&mut engine, &replay::queue_log_events(remove.as_bytes()).0, None);
    assert_eq!(engine.snapshot().queues["support"]["agents_logged_in"], json!(1));
}

/// The default `log_membername_as_agent = no`, no pair known: a name from a PAUSE line is never counted,
/// also after the member it belongs to (known by interface) has left — the phantom is shown, not counted.
#[test]
fn a_name_from_a_pause_line_is_never_counted() {
    let log = "1795382785|CLI|support|PJSIP/1001|ADDMEMBER|\n\
               1795382789|NONE|support|Alice Smith|PAUSE|Lunch\n";
    let mut engine = Engine::new(queuecast::engine::PbxSetup::default());
    replay::apply_all(&mut engine, &replay::queue_log_events(log.as_bytes()).0, None);
    let support = |e: &Engine| e.snapshot().queues["support"].clone();
    assert_eq!(support(&engine)["agents_logged_in"], json!(1), "PJSIP/1001, not also her name");
    assert_eq!(support(&engine)["agents_paused"], json!(0), "the pause is on the name, not counted");
    let remove = "1795382797|CLI|support|PJSIP/1001|REMOVEMEMBER|\n";
    replay::apply_all(&mut engine, &replay::queue_log_events(remove.as_bytes()).0, None);
    assert_eq!(support(&engine)["agents_logged_in"], json!(0));
    assert_eq!(engine.snapshot().agents["Alice Smith"]["interface"], Value::Null, "shown, by name");
}
