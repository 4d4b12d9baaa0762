//! The checks of an engine state against the recordings' truth (see the parent module's doc).

use super::Member;
use super::{MemberRow, Mode, Scenario};
use queuecast::engine::Snapshot;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Members of the state as `final-status` rows.
pub fn member_rows(s: &Snapshot) -> BTreeSet<MemberRow> {
    let mut rows = BTreeSet::new();
    for (id, agent) in &s.agents {
        let Some(queues) = agent.get("queues").and_then(Value::as_object) else { continue };
        for (queue, m) in queues {
            let paused = m["paused"] == json!(true);
            let reason = m["pause_reason"].as_str().map(str::to_owned).filter(|_| paused);
            rows.insert((queue.clone(), id.clone(), paused, reason));
        }
    }
    rows
}

/// Waiting callers of the state as (queue, uniqueid).
pub fn waiting_rows(engine: &queuecast::engine::Engine, s: &Snapshot) -> BTreeSet<(String, String)> {
    s.queues
        .keys()
        .flat_map(|q| engine.queue_waiting(q).into_iter().map(move |(uid, _)| (q.clone(), uid)))
        .collect()
}

/// Checks the final state against Asterisk's view: members, pause, reason, waiting, per-queue answered and
/// unanswered, answers per agent, and nobody left talking or ringing who Asterisk says is not in a call.
pub fn assert_final(scenario: &Scenario, mode: Mode, s: &Snapshot) {
    assert_final_but(scenario, mode, s, &[]);
}

/// As [`assert_final`], where the agents in `name_only` are known to `mode` by name only (the caller says
/// why): they are not among the members; their answers are still checked.
pub fn assert_final_but(scenario: &Scenario, mode: Mode, s: &Snapshot, name_only: &[&str]) {
    let truth = scenario.truth();
    let ctx = format!("{} ({mode:?})", scenario.name);
    let mut rows = member_rows(s);
    rows.retain(|(_, id, _, _)| !name_only.contains(&id.as_str()));
    assert_eq!(rows, truth.members, "{ctx}: members, paused, pause_reason");
    for (name, q) in &truth.queues {
        let got = s.queues.get(name).unwrap_or_else(|| panic!("{ctx}: queue {name} missing"));
        let n = |f: &str| got[f].as_u64().unwrap_or(u64::MAX);
        assert_eq!(n("calls_waiting"), q.waiting, "{ctx} {name}: calls_waiting");
        assert_eq!(n("answered"), q.answered, "{ctx} {name}: answered = CONNECT lines");
        assert_eq!(q.answered, q.completed, "{ctx} {name}: the truth agrees with itself (Completed)");
        assert_eq!(
            q.abandoned + q.timed_out - q.key_exits,
            q.asterisk_abandoned,
            "{ctx} {name}: the truth agrees with itself (Abandoned = exits but EXITWITHKEY)"
        );
        assert_eq!(n("abandoned") + n("timed_out"), q.abandoned + q.timed_out, "{ctx} {name}: unanswered");
        // AMI alone cannot tell a caller's hang-up from a timeout (DESIGN.md); the queue_log can.
        if mode != Mode::AmiAlone {
            assert_eq!((n("abandoned"), n("timed_out")), (q.abandoned, q.timed_out), "{ctx} {name}: split");
        }
    }
    for id in truth.answered_by.keys() {
        assert!(s.agents.contains_key(id), "{ctx}: agent {id} who answered calls is missing");
    }
    for (id, agent) in &s.agents {
        let answered = agent["calls_answered"].as_u64().unwrap_or(u64::MAX);
        assert_eq!(answered, truth.answered_by.get(id).copied().unwrap_or(0), "{ctx} {id}: calls_answered");
        if !truth.in_call.contains(id) {
            let status = agent["status"].as_str().unwrap_or_default();
            assert!(!["talking", "ringing"].contains(&status), "{ctx} {id}: {status} after every call ended");
            assert_eq!(agent["call"], Value::Null, "{ctx} {id}: no call");
        }
    }
}

/// Identity as Asterisk reports it: each member once, under its interface (no agent known by a name only,
/// a provisional twin, but those in `name_only`, which stay their own agent and are never among a queue's
/// counted members), with Asterisk's name, and `paused` when paused everywhere; per queue the members
/// counted and paused.
pub fn assert_identity(scenario: &Scenario, s: &Snapshot, name_only: &[&str]) {
    let truth = scenario.truth();
    let ctx = &scenario.name;
    for (id, agent) in s.agents.iter().filter(|(id, _)| !name_only.contains(&id.as_str())) {
        assert_eq!(agent["interface"], json!(id), "{ctx}: {id} is not a member twin known by name only");
    }
    for name in name_only {
        assert_eq!(s.agents[*name]["interface"], Value::Null, "{ctx}: {name} is known by name only");
    }
    let mut want: BTreeMap<&str, BTreeMap<&str, &Member>> = BTreeMap::new();
    for m in &truth.final_members {
        want.entry(m.interface.as_str()).or_default().insert(m.queue.as_str(), m);
    }
    let members: Vec<&str> = s
        .agents
        .iter()
        .filter(|(id, a)| {
            !name_only.contains(&id.as_str()) && a["queues"].as_object().is_some_and(|q| !q.is_empty())
        })
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(members, want.keys().copied().collect::<Vec<_>>(), "{ctx}: the members, each once");
    for (interface, queues) in &want {
        let agent = &s.agents[*interface];
        let name = &queues.values().next().expect("a queue").name;
        assert_eq!(agent["name"], json!(name), "{ctx}: {interface}'s name as Asterisk reports it");
        let all_paused = queues.values().all(|m| m.paused);
        assert_eq!(agent["paused"], json!(all_paused), "{ctx}: {interface} paused everywhere");
    }
    for queue in truth.queues.keys() {
        let q = &s.queues[queue];
        let members: Vec<&Member> = truth.final_members.iter().filter(|m| &m.queue == queue).collect();
        let paused = members.iter().filter(|m| m.paused).count();
        assert_eq!(q["agents_logged_in"], json!(members.len()), "{ctx}: {queue} agents_logged_in");
        assert_eq!(q["agents_paused"], json!(paused), "{ctx}: {queue} agents_paused");
    }
}
