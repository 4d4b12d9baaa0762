//! Engine throughput and memory: 10k agents, 1k queues, 100k calls, every call fact reported by both feeds.
//!
//! Run: `cargo bench --bench engine`. Applies the whole day `RUNS` times, each to a fresh engine, and prints
//! events applied per second on one core (median and range of the runs) and the resident memory the engine
//! state adds (VmRSS / VmHWM from /proc/self/status, measured on the first run).
//!
//! The event list is built before timing; the timed loop applies every event exactly as the daemon does
//! (`Engine::apply`, collecting the returned changes).

use queuecast::engine::{EndReason, Engine, Event, EventKind, MemberRef, PbxSetup, QueueSettings, Source};
use std::hint::black_box;
use std::time::Instant;

const AGENTS: usize = 10_000;
const QUEUES: usize = 1_000;
const CALLS: usize = 100_000;
/// Start of the synthetic day (ms); one call starts every 300 ms so 100k calls fit in ~8 h.
const T0_MS: i64 = 1_795_305_600_000 + 8 * 3_600_000;
const CALL_SPACING_MS: i64 = 300;
/// Timed passes over the day; the median is the figure (the machine is shared, single runs wander).
const RUNS: usize = 5;

fn iface(agent: usize) -> String {
    format!("PJSIP/{}", 10_000 + agent)
}

fn name(agent: usize) -> String {
    format!("Agent {agent}")
}

fn ev(ts_ms: i64, source: Source, kind: EventKind) -> Event {
    Event { ts_ms, source, actor: None, kind }
}

fn membership_events() -> Vec<Event> {
    (0..AGENTS)
        .map(|a| {
            ev(
                T0_MS,
                Source::Ami,
                EventKind::dynamic_member_added(
                    format!("q{}", a % QUEUES),
                    MemberRef::both(iface(a), name(a)),
                ),
            )
        })
        .collect()
}

/// One call's life as both feeds report it (queue_log names the member, AMI gives both).
fn call_events(call: usize, out: &mut Vec<Event>) {
    let agent = (call * 7) % AGENTS;
    let queue = format!("q{}", agent % QUEUES);
    let uid = format!("1795300000.{call}");
    let t = T0_MS + call as i64 * CALL_SPACING_MS;
    let (ql, ami) = (Source::QueueLog, Source::Ami);
    let join = EventKind::CallerJoined {
        queue: queue.clone(),
        uniqueid: uid.clone(),
        caller_id: Some(format!("555{call:07}")),
        caller_name: None,
        position: Some(1),
        linkedid: None,
    };
    out.push(ev(t, ql, join.clone()));
    out.push(ev(t + 5, ami, join));
    let member = MemberRef::both(iface(agent), name(agent));
    out.push(ev(
        t + 10,
        ami,
        EventKind::AgentRinging { queue: queue.clone(), uniqueid: uid.clone(), member: member.clone() },
    ));
    let connect = |m: MemberRef| EventKind::CallConnected {
        queue: queue.clone(),
        uniqueid: uid.clone(),
        member: m,
        hold_s: Some(3),
        ring_s: Some(2),
    };
    out.push(ev(t + 3000, ql, connect(MemberRef::name(name(agent)))));
    out.push(ev(t + 3010, ami, connect(member.clone())));
    out.push(ev(t + 3011, ami, EventKind::CallerDequeued { queue: queue.clone(), uniqueid: uid.clone() }));
    let end = |m: MemberRef| EventKind::CallEnded {
        queue: queue.clone(),
        uniqueid: uid.clone(),
        member: Some(m),
        hold_s: Some(3),
        talk_s: Some(60),
        reason: EndReason::Caller,
    };
    out.push(ev(t + 63_000, ql, end(MemberRef::name(name(agent)))));
    out.push(ev(t + 63_020, ami, end(member)));
}

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[path = "support/mod.rs"]
mod support;

fn main() {
    let mut config = PbxSetup::default();
    for q in 0..QUEUES {
        config.queues.insert(format!("q{q}"), QueueSettings { wrapup_s: Some(5), service_level_s: Some(20) });
    }
    let mut events = membership_events();
    let mut calls = Vec::with_capacity(CALLS * 8);
    for call in 0..CALLS {
        call_events(call, &mut calls);
    }
    // Interleave by time as the merged feeds would arrive.
    calls.sort_by_key(|e| e.ts_ms);
    events.extend(calls);
    let ticks = (T0_MS..T0_MS + CALLS as i64 * CALL_SPACING_MS + 70_000).step_by(1000);
    events.extend(ticks.map(|t| ev(t, Source::Clock, EventKind::Tick)));
    events.sort_by_key(|e| e.ts_ms);

    // The daemon applies each event right after parsing it, its strings freshly allocated and in cache.
    // The list above was sorted after building, which scatters the strings of consecutive events all
    // over the heap; copy it once in arrival order so consecutive events sit together as in the daemon.
    let events: Vec<Event> = events.to_vec();

    let rss_before = status_kb("VmRSS:");
    let mut rates = Vec::with_capacity(RUNS);
    let (mut changes, mut rss_after, mut snapshot) = (0usize, 0u64, None);
    for run in 0..RUNS {
        let mut engine = Engine::new(config.clone());
        let mut run_changes = 0usize;
        let start = Instant::now();
        for event in &events {
            run_changes += black_box(engine.apply(black_box(event))).len();
        }
        let elapsed = start.elapsed().as_secs_f64();
        rates.push(events.len() as f64 / elapsed / 1e6);
        if run == 0 {
            rss_after = status_kb("VmRSS:");
            changes = run_changes;
            snapshot = Some(engine.snapshot());
        }
    }
    rates.sort_by(f64::total_cmp);
    let snapshot = snapshot.unwrap_or_default();

    println!("engine bench — {}", support::machine());
    println!(
        "state: {AGENTS} agents, {QUEUES} queues, {CALLS} calls (each fact from both feeds), {} events",
        events.len()
    );
    println!(
        "apply: {:.2} M events/s on one core (median of {RUNS} runs; range {:.2}–{:.2}), {:.2} changes/event",
        support::percentile(&rates, 0.5),
        rates.first().copied().unwrap_or_default(),
        rates.last().copied().unwrap_or_default(),
        changes as f64 / events.len() as f64
    );
    println!(
        "memory: engine state ≈ {:.1} MiB (VmRSS {} → {} KiB; VmHWM {} KiB incl. the pre-built event list)",
        (rss_after.saturating_sub(rss_before)) as f64 / 1024.0,
        rss_before,
        rss_after,
        status_kb("VmHWM:")
    );
    println!("check: {} agents, {} queues in the snapshot", snapshot.agents.len(), snapshot.queues.len());
}
