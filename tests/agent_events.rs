//! `agent_event` on the real Asterisk 22 recordings: in each feed mode, the engine's login/logout/pause/
//! unpause sequence equals what the recorded queue_log lines and AMI events say happened, with the source
//! queue_log's second column names (`CLI`, `MANAGER`, `NONE`), and nothing for a repeated login or pause.
//!
//! The expectation is computed here from the recordings by a model of its own: queue_log lines are split by
//! hand (not by the parser under test) and their second column mapped to a source; AMI facts are read from
//! the normalized AMI events. The model keeps (agent, queue) → paused and writes an event only when that
//! moves. Feeds are merged as a live daemon sees them: a queue_log line is read after the AMI events of its
//! second (the tail reads what app_queue wrote a moment ago; queue_log stamps whole seconds).

mod common;

use common::agent_feed::{Fact, Row, engine_rows, events, facts, source_of_column};
use common::corpus::{self, Mode};
use queuecast::engine::{
    Actor, AgentEventKind, Event, EventKind, HOLD_MS, PbxSetup, SnapshotScope, Source, TsMs,
};
use std::collections::BTreeMap;

const SCENARIOS: [(&str, &str); 11] = [
    ("asterisk-22", "abandon-and-timeout"),
    ("asterisk-22", "agent-pool"),
    ("asterisk-22", "ami-actions"),
    ("asterisk-22", "calls-answered"),
    ("asterisk-22", "login-pause-unpause"),
    ("asterisk-22", "ringnoanswer"),
    ("asterisk-22-flows", "agent-busy-direct"),
    ("asterisk-22-flows", "agent-self-service"),
    ("asterisk-22-flows", "overflow-chain"),
    ("asterisk-22-flows", "requeue-same"),
    ("asterisk-22-flows", "transfer-into-queue"),
];

/// The model: membership and pause per (agent, queue), and the events its moves make.
#[derive(Default)]
struct Model {
    paused: BTreeMap<(String, String), bool>,
    rows: Vec<Row>,
    /// Index in `rows` and time of AMI-made changes a queue_log line may still name the source of.
    open: Vec<(usize, TsMs)>,
    names: BTreeMap<String, String>,
    /// A `QueueStatus` answer was applied; the first one is the starting state, no event.
    seen_snapshot: bool,
    quiet: bool,
    /// The fact being applied is a queue_log line: its changes are final at once (it follows AMI).
    from_queue_log: bool,
    /// Membership and pause facts that changed nothing (a repeat, or the other feed's report of a change).
    repeats: usize,
}

impl Model {
    fn agent(&self, column: &str) -> String {
        self.names.get(column).cloned().unwrap_or_else(|| column.to_owned())
    }

    fn emit(
        &mut self,
        agent: &str,
        kind: AgentEventKind,
        queue: &str,
        reason: Option<&str>,
        src: Actor,
        at: TsMs,
    ) {
        if self.quiet {
            return;
        }
        let reason = reason.filter(|r| !r.is_empty() && kind == AgentEventKind::Pause).map(str::to_owned);
        if src == Actor::Ami && !self.from_queue_log {
            self.open.push((self.rows.len(), at));
        }
        self.rows.push((agent.to_owned(), kind, queue.to_owned(), reason, src, at));
    }

    /// A queue_log line repeating an AMI-made change names its source (unless `NONE`).
    fn confirm(&mut self, agent: &str, kind: AgentEventKind, queue: &str, src: Actor, ts: TsMs) {
        let found = self.open.iter().position(|&(i, at)| {
            let r = &self.rows[i];
            r.0 == agent && r.1 == kind && r.2 == queue && ts + 999 - at < HOLD_MS
        });
        if let Some(pos) = found {
            let (i, _) = self.open.remove(pos);
            if src != Actor::Unknown {
                self.rows[i].4 = src;
            }
        }
    }

    fn login(&mut self, agent: &str, queue: &str, src: Actor, at: TsMs) -> bool {
        let key = (agent.to_owned(), queue.to_lowercase());
        if self.paused.contains_key(&key) {
            self.repeats += 1;
            return false;
        }
        self.paused.insert(key, false);
        self.emit(agent, AgentEventKind::Login, queue, None, src, at);
        true
    }

    fn logout(&mut self, agent: &str, queue: &str, src: Actor, at: TsMs) -> bool {
        if self.paused.remove(&(agent.to_owned(), queue.to_lowercase())).is_none() {
            return false;
        }
        self.emit(agent, AgentEventKind::Logout, queue, None, src, at);
        true
    }

    fn pause(
        &mut self,
        agent: &str,
        queue: &str,
        paused: bool,
        reason: Option<&str>,
        src: Actor,
        at: TsMs,
    ) -> bool {
        let key = (agent.to_owned(), queue.to_lowercase());
        let Some(was) = self.paused.get_mut(&key) else { return false };
        if *was == paused {
            self.repeats += 1;
            return false;
        }
        *was = paused;
        let kind = if paused { AgentEventKind::Pause } else { AgentEventKind::Unpause };
        self.emit(agent, kind, queue, reason, src, at);
        true
    }

    fn line(&mut self, ts: TsMs, callid: &str, queue: &str, column: &str, verb: &str, data: &str) {
        let agent = self.agent(column);
        let src = source_of_column(callid);
        let at = ts;
        let (kind, done) = match verb {
            "ADDMEMBER" => {
                let done = self.login(&agent, queue, src, at);
                if done {
                    self.pause(&agent, queue, data == "PAUSED", None, src, at);
                } else if data == "PAUSED" {
                    // The line of an add AMI reported first (Asterisk never adds a member twice).
                    self.confirm(&agent, AgentEventKind::Pause, queue, src, ts);
                }
                (AgentEventKind::Login, done)
            }
            "REMOVEMEMBER" => (AgentEventKind::Logout, self.logout(&agent, queue, src, at)),
            "PAUSE" | "UNPAUSE" | "PENALTY" => {
                // A line naming a membership never added is a static or persistent member.
                self.login(&agent, queue, Actor::Config, at);
                if verb == "PENALTY" {
                    return;
                }
                let paused = verb == "PAUSE";
                let kind = if paused { AgentEventKind::Pause } else { AgentEventKind::Unpause };
                (kind, self.pause(&agent, queue, paused, Some(data), src, at))
            }
            _ => return,
        };
        if !done {
            self.confirm(&agent, kind, queue, src, ts);
        }
    }

    fn ami(&mut self, e: &Event) {
        let at = e.ts_ms;
        // AMI names who only for a change a channel's dialplan made (`phone`, the normalizer's word).
        let src = e.actor.unwrap_or(if e.source == Source::Clock { Actor::Config } else { Actor::Ami });
        match &e.kind {
            EventKind::MemberAdded { queue, member, paused, pause_reason, membership, .. } => {
                let agent = member.interface.clone().expect("AMI names the interface");
                let src = if matches!(membership.as_deref(), Some("static" | "realtime")) {
                    Actor::Config
                } else {
                    src
                };
                self.login(&agent, queue, src, at);
                if let Some(p) = paused {
                    self.pause(&agent, queue, *p, pause_reason.as_deref(), src, at);
                }
            }
            EventKind::MemberRemoved { queue, member } => {
                self.logout(&member.interface.clone().expect("interface"), queue, src, at);
            }
            EventKind::MemberPause { queue, member, paused, reason } => {
                let agent = member.interface.clone().expect("interface");
                let queues: Vec<String> = match queue {
                    Some(q) => {
                        self.login(&agent, q, Actor::Config, at);
                        vec![q.clone()]
                    }
                    None => self.paused.keys().filter(|(a, _)| *a == agent).map(|(_, q)| q.clone()).collect(),
                };
                for q in queues {
                    self.pause(&agent, &q, *paused, reason.as_deref(), src, at);
                }
            }
            EventKind::MemberPenalty { queue, member, .. }
            | EventKind::MemberDevice { queue: Some(queue), member, .. } => {
                self.login(&member.interface.clone().expect("interface"), queue, Actor::Config, at);
            }
            EventKind::StatusSnapshot(snap) => {
                self.quiet = !self.seen_snapshot;
                self.seen_snapshot = true;
                for row in &snap.members {
                    let src = if matches!(row.membership.as_deref(), Some("static" | "realtime")) {
                        Actor::Config
                    } else {
                        src
                    };
                    self.login(&row.interface, &row.queue, src, at);
                    self.pause(&row.interface, &row.queue, row.paused, row.pause_reason.as_deref(), src, at);
                }
                let listed = |a: &str, q: &str| {
                    snap.members.iter().any(|m| m.interface == a && m.queue.to_lowercase() == q)
                };
                let gone: Vec<(String, String)> = self
                    .paused
                    .keys()
                    .filter(|(a, q)| match &snap.scope {
                        SnapshotScope::All => !listed(a, q),
                        SnapshotScope::Queue { queue } => *q == queue.to_lowercase() && !listed(a, q),
                        SnapshotScope::Member { queue, interface } => {
                            a == interface
                                && queue.as_ref().is_none_or(|x| x.to_lowercase() == *q)
                                && !listed(a, q)
                        }
                        SnapshotScope::Partial => false,
                    })
                    .cloned()
                    .collect();
                for (a, q) in gone {
                    self.logout(&a, &q, src, at);
                }
                self.quiet = false;
            }
            _ => {}
        }
    }
}

fn expected(facts: &[Fact], names: BTreeMap<String, String>) -> (Vec<Row>, usize) {
    let mut model = Model { names, ..Model::default() };
    for fact in facts {
        match fact {
            Fact::Line { ts, callid, queue, agent, verb, data, .. } => {
                model.line(*ts, callid, queue, agent, verb, data)
            }
            Fact::Ami(e) => model.ami(e),
        }
    }
    (model.rows, model.repeats)
}

fn check(mode: Mode) {
    let (mut total, mut repeats) = (0, 0);
    for (corpus_name, name) in SCENARIOS {
        let s = corpus::scenario(corpus_name, name);
        let facts = facts(&s, mode);
        let (config, names) = match mode {
            // The names the host gives a queue_log-only daemon (queues.conf, astdb), and no astdb members:
            // the daemon was running before the scenario began.
            Mode::QueueLogAlone => {
                let config = s.host_setup().pbx;
                let names = config.members.clone();
                (config, names)
            }
            Mode::QueueLogAndAmi => {
                let config = PbxSetup { queue_log_feed: true, ..s.config() };
                (config, corpus::member_names(&s.read("ami.raw")))
            }
            Mode::AmiAlone => (s.config(), corpus::member_names(&s.read("ami.raw"))),
        };
        let (want, repeated) = expected(&facts, names);
        repeats += repeated;
        let got = engine_rows(config, &events(&facts));
        assert_eq!(got, want, "{name} in {mode:?}");
        if std::env::var_os("SHOW_AGENT_EVENTS").is_some() {
            println!("{name} {mode:?}: {got:#?}");
        }
        total += got.len();
    }
    assert!(total > 0, "the corpus logs agents in");
    assert!(repeats > 0, "the corpus repeats logins or pauses, which publish nothing");
    let seen = sources(mode);
    for source in [Actor::Cli, Actor::Config] {
        assert!(seen.contains(&source) || mode == Mode::AmiAlone, "{source:?} in {mode:?}");
    }
    // Logins from the agent's phone (agent-self-service): queue_log names the channel, AMI its Newexten.
    assert!(seen.contains(&Actor::Phone), "phone in {mode:?}");
}

/// The sources seen over the corpus in `mode`.
fn sources(mode: Mode) -> std::collections::BTreeSet<Actor> {
    let mut seen = std::collections::BTreeSet::new();
    for (corpus_name, name) in SCENARIOS {
        let s = corpus::scenario(corpus_name, name);
        let config = match mode {
            Mode::QueueLogAlone => s.host_setup().pbx,
            Mode::QueueLogAndAmi => PbxSetup { queue_log_feed: true, ..s.config() },
            Mode::AmiAlone => s.config(),
        };
        seen.extend(engine_rows(config, &events(&facts(&s, mode))).into_iter().map(|r| r.4));
    }
    seen
}

#[test]
fn agent_events_match_the_recordings_with_both_feeds() {
    check(Mode::QueueLogAndAmi);
}

#[test]
fn agent_events_match_the_recordings_with_ami_alone() {
    check(Mode::AmiAlone);
}

#[test]
fn agent_events_match_the_recordings_with_queue_log_alone() {
    check(Mode::QueueLogAlone);
}

/// agent-self-service against its README, typed here from what the scenario did (not derived from the
/// recording): Dave logs in to support and sales, pauses (Lunch) and unpauses everywhere, logs out of sales
/// and pauses in support (Break), all from his phone's dialplan, and logs in to support a second time
/// (already a member); Erin is added and paused (Training) by AMI, Frank by the CLI (Coaching); both pauses
/// are then sent again. Repeats publish nothing.
///
/// What each mode can know: queue_log names the source of ADDMEMBER/REMOVEMEMBER only (a channel uniqueid,
/// `MANAGER`, `CLI`) and writes `NONE` on every pause; AMI tells the phone by the `Newexten` of the channel
/// running the member application, and nothing else — a pause by the CLI or another AMI client is an AMI
/// member event without a word on who, reported as `ami` (the engine's fallback; Frank's is really the CLI).
#[test]
fn agent_self_service_sources_are_the_recorded_truth() {
    use Actor::{Ami, Cli, Config, Phone, Unknown};
    use AgentEventKind::{Login, Logout, Pause, Unpause};
    let s = corpus::scenario("asterisk-22-flows", "agent-self-service");
    let (dave, erin, frank) = ("Local/1004@agents/n", "Local/1005@agents/n", "Local/1006@agents/n");
    for mode in [Mode::QueueLogAndAmi, Mode::AmiAlone, Mode::QueueLogAlone] {
        let config = match mode {
            Mode::QueueLogAlone => s.host_setup().pbx,
            Mode::QueueLogAndAmi => PbxSetup { queue_log_feed: true, ..s.config() },
            Mode::AmiAlone => s.config(),
        };
        let rows = engine_rows(config, &events(&facts(&s, mode)));
        let ql_alone = mode == Mode::QueueLogAlone;
        // A pause: queue_log alone cannot say; with AMI the phone's is known, any other is the fallback.
        let paused_by = |phone: bool| match (ql_alone, phone) {
            (true, _) => Unknown,
            (false, true) => Phone,
            (false, false) => Ami,
        };
        let frank_login = if mode == Mode::AmiAlone { Ami } else { Cli };
        let want: Vec<(&str, AgentEventKind, &str, Option<&str>, Actor)> = vec![
            ("Local/1009@agents/n", Login, "billing", None, Config),
            (dave, Login, "support", None, Phone),
            (dave, Login, "sales", None, Phone),
            (dave, Pause, "support", Some("Lunch"), paused_by(true)),
            (dave, Pause, "sales", Some("Lunch"), paused_by(true)),
            (dave, Unpause, "support", None, paused_by(true)),
            (dave, Unpause, "sales", None, paused_by(true)),
            (erin, Login, "support", None, Ami),
            (erin, Pause, "support", Some("Training"), paused_by(false)),
            (frank, Login, "support", None, frank_login),
            (frank, Pause, "support", Some("Coaching"), paused_by(false)),
            (dave, Logout, "sales", None, Phone),
            (dave, Pause, "support", Some("Break"), paused_by(true)),
        ];
        let got: Vec<(&str, AgentEventKind, &str, Option<&str>, Actor)> =
            rows.iter().map(|r| (r.0.as_str(), r.1, r.2.as_str(), r.3.as_deref(), r.4)).collect();
        assert_eq!(got, want, "agent-self-service in {mode:?}");
        // The repeats (Dave's second login at 316, Erin's pause at 327, Frank's at 328) publish nothing.
        for second in [1_796_170_316, 1_796_170_327, 1_796_170_328] {
            let at_second = |r: &&Row| r.5 / 1000 == second;
            assert_eq!(rows.iter().find(at_second), None, "{mode:?}: nothing at {second}");
        }
    }
}
