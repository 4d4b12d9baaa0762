//! The Asterisk 22 recordings as facts in feed order (queue_log lines split by hand, not by the parser under
//! test, and normalized AMI events), the engine input they make, and the `agent_event`s the engine writes
//! for them: shared by the check against the recordings and the delivery tests.
#![allow(dead_code)]

use super::corpus::{self, Mode, Scenario};
use queuecast::engine::{Actor, AgentEventKind, Change, Engine, Event, EventKind, PbxSetup, Source, TsMs};
use queuecast::replay;
use queuecast::sources::queues_conf;

/// (agent, event, queue, reason, source, at): what a consumer reads in an `agent_event`.
pub type Row = (String, AgentEventKind, String, Option<String>, Actor, TsMs);

/// One fact of the recordings, in feed order.
pub enum Fact {
    /// A queue_log line: time (ms), second column, queue, agent column, verb, data.
    Line { ts: TsMs, callid: String, queue: String, agent: String, verb: String, data: String, raw: String },
    /// An AMI (or static-member) event as normalized.
    Ami(Event),
}

/// What queue_log's second column says about who made a membership change (DESIGN.md "Agent events").
pub fn source_of_column(callid: &str) -> Actor {
    match callid {
        "CLI" => Actor::Cli,
        "MANAGER" => Actor::Ami,
        "NONE" => Actor::Unknown,
        _ => Actor::Phone,
    }
}

fn lines(s: &Scenario) -> Vec<Fact> {
    s.queue_log_text()
        .lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.trim_end_matches('\r').split('|').collect();
            let ts: TsMs = cols.first()?.parse().ok()?;
            Some(Fact::Line {
                ts: ts * 1000,
                callid: cols.get(1)?.to_string(),
                queue: cols.get(2)?.to_string(),
                agent: cols.get(3)?.to_string(),
                verb: cols.get(4)?.to_string(),
                data: cols.get(5).unwrap_or(&"").to_string(),
                raw: format!("{line}\n"),
            })
        })
        .collect()
}

/// Static members (queues.conf) first, then the feeds of `mode` in the order a live daemon reads them.
pub fn facts(s: &Scenario, mode: Mode) -> Vec<Fact> {
    let mut ami: Vec<Fact> = match mode {
        Mode::QueueLogAlone => Vec::new(),
        _ => s.ami_events().into_iter().map(Fact::Ami).collect(),
    };
    let mut ql = match mode {
        Mode::AmiAlone => Vec::new(),
        _ => lines(s),
    };
    let key = |f: &Fact| match f {
        Fact::Line { ts, .. } => ts + 999,
        Fact::Ami(e) => e.ts_ms,
    };
    let mut merged = Vec::new();
    let (mut a, mut q) = (ami.drain(..).peekable(), ql.drain(..).peekable());
    loop {
        let take_ami = match (a.peek(), q.peek()) {
            (Some(x), Some(y)) => key(x) <= key(y),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        merged.push(if take_ami { a.next() } else { q.next() }.expect("peeked"));
    }
    let first = merged.iter().map(key).min().unwrap_or(0);
    let statics = queuecast::normalize::static_members::static_member_events(
        &queues_conf::static_members(&s.queues_conf()),
        first,
    );
    statics.into_iter().map(Fact::Ami).chain(merged).collect()
}

/// The engine input of the facts.
pub fn events(facts: &[Fact]) -> Vec<Event> {
    let mut out = Vec::new();
    for fact in facts {
        match fact {
            Fact::Ami(e) => out.push(e.clone()),
            Fact::Line { ts, raw, .. } => {
                let (events, bad) = replay::queue_log_events(raw.as_bytes());
                assert_eq!(bad, 0, "{raw}");
                out.extend(events.into_iter().map(|mut e| {
                    e.ts_ms = *ts;
                    e
                }));
            }
        }
    }
    out
}

/// The engine's agent events over the whole recording (every fact live), then a tick past the end.
pub fn engine_rows(config: PbxSetup, events: &[Event]) -> Vec<Row> {
    let mut engine = Engine::new(config);
    let tick = settling_tick(events);
    events
        .iter()
        .chain([&tick])
        .flat_map(|e| engine.apply(e))
        .filter_map(|c| match c {
            Change::AgentEvent(e) => Some((e.agent, e.event, e.queue, e.reason, e.source, e.at)),
            _ => None,
        })
        .collect()
}

/// A tick [`corpus::SETTLE_MS`] past the last event, so wrap-ups and unexplained leaves settle.
pub fn settling_tick(events: &[Event]) -> Event {
    let end = events.iter().map(|e| e.ts_ms).max().unwrap_or(0) + corpus::SETTLE_MS;
    Event { ts_ms: end, source: Source::Clock, actor: None, kind: EventKind::Tick }
}
