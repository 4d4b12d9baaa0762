//! The real Asterisk 22 recordings as test inputs, and their truth as Asterisk itself reported it.
//!
//! Inputs: a scenario's `queue_log` and `ami.raw` (with `ami.sent` and `ami.chunks.tsv`) as engine events, in
//! one of the feed modes. The AMI feed stops before the driver's closing `QueueSummary`/`QueueStatus` (ActionIDs
//! `final-summary`/`final-status`): that answer is the truth the state is checked against, so it must not be
//! an input that reconciles the state into it.
//!
//! Truth, never typed in: members, pause and reason, waiting callers and Completed/Abandoned from the
//! `final-status` answer; answered visits and exits per queue and answers per agent from the queue_log's
//! outcome lines (split here by hand, not by the parser under test).
//!
//! queue_log alone has no AMI: only what the Asterisk host itself gives — the queue_log, queues.conf
//! (settings, static members and their names) and astdb (`Queue/PersistentMembers`: dynamic members with
//! their names and pause state). The corpus recorded a fresh Asterisk per scenario but not its astdb file, so
//! [`write_astdb`] writes the astdb that Asterisk 22.10.1 holds at the end of the scenario — its dynamic
//! members as `final-status` lists them, serialized exactly as `dump_queue_members` does (apps/app_queue.c of
//! 22.10.1: `interface;penalty;paused;membername;state_interface;reason_paused;wrapuptime`, members joined by
//! `|`, key `/Queue/PersistentMembers/<queue>`) into a table made by main/db.c's own `CREATE TABLE` and
//! `INSERT OR REPLACE` statements. The engine is then set up through the daemon's own `pbx_files::engine_setup`, as
//! a daemon on that host would be.

#![allow(dead_code)]

use parsers::ami::{AmiDecoder, Message, NextMessage};
use queuecast::config::Config;
use queuecast::daemon::pbx_files::{self, EngineSetup};
use queuecast::engine::{Event, PbxSetup, Snapshot, TsMs};
use queuecast::replay;
use queuecast::sources::queues_conf;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod checks;
// Not every test binary calls every check.
#[allow(unused_imports)]
pub use checks::{assert_final, assert_final_but, assert_identity, member_rows, waiting_rows};

/// Which feeds a deployment has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    QueueLogAndAmi,
    AmiAlone,
    /// The queue_log with queues.conf and astdb (see the module doc).
    QueueLogAlone,
}

/// The final tick comes this long after the last input, so wrap-ups and AMI's unexplained leaves settle.
pub const SETTLE_MS: TsMs = 60_000;

/// queue_log lines that end a visit without an answer, and how DESIGN.md files them.
pub const UNANSWERED_EXITS: [(&str, &str); 6] = [
    ("ABANDON", "abandoned"),
    ("SYSCOMPAT", "abandoned"),
    ("EXITWITHTIMEOUT", "timed_out"),
    ("EXITEMPTY", "timed_out"),
    ("EXITWITHKEY", "timed_out"),
    ("WITHDRAW", "timed_out"),
];

pub struct Scenario {
    pub name: String,
    pub dir: PathBuf,
    /// The Asterisk config the scenario ran with (queues.conf).
    pub conf: PathBuf,
}

/// `corpus` is a folder under tests/fixtures (`asterisk-22`, `asterisk-22-flows`).
pub fn scenario(corpus: &str, name: &str) -> Scenario {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(corpus);
    let conf = if root.join("conf").is_dir() { root.join("conf") } else { root.join("asterisk-conf") };
    Scenario { name: name.to_owned(), dir: root.join(name), conf }
}

/// One row of `final-status`: (queue, interface, paused, pause reason).
pub type MemberRow = (String, String, bool, Option<String>);

/// One `QueueMember` of `final-status`, every field astdb keeps.
#[derive(Debug, Clone)]
pub struct Member {
    pub queue: String,
    pub interface: String,
    pub name: String,
    pub state_interface: String,
    pub dynamic: bool,
    pub penalty: i64,
    pub paused: bool,
    pub reason: Option<String>,
    pub wrapup: u32,
}

#[derive(Debug, Default)]
pub struct QueueTruth {
    /// QueueParams `Calls`.
    pub waiting: u64,
    /// QueueParams `Completed` / `Abandoned` (Asterisk's own counts, per visit).
    pub completed: u64,
    pub asterisk_abandoned: u64,
    /// queue_log CONNECT lines.
    pub answered: u64,
    /// queue_log unanswered exit lines by DESIGN.md category (`abandoned`, `timed_out`).
    pub abandoned: u64,
    pub timed_out: u64,
    /// EXITWITHKEY lines (Asterisk does not count them as abandoned).
    pub key_exits: u64,
}

#[derive(Debug, Default)]
pub struct Truth {
    pub queues: BTreeMap<String, QueueTruth>,
    pub members: BTreeSet<MemberRow>,
    /// The same members with every field.
    pub final_members: Vec<Member>,
    /// Interfaces Asterisk said are in a call at the end (QueueMember `InCall: 1`).
    pub in_call: BTreeSet<String>,
    /// Interface → CONNECT lines naming it (by interface or member name).
    pub answered_by: BTreeMap<String, u64>,
}

impl Scenario {
    pub fn read(&self, file: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(file)).unwrap_or_else(|e| panic!("{}/{file}: {e}", self.dir.display()))
    }

    pub fn queue_log_text(&self) -> String {
        String::from_utf8_lossy(&self.read("queue_log")).into_owned()
    }

    /// The scenario's `ami.raw` up to the first byte of the closing QueueSummary/QueueStatus answer.
    pub fn ami_before_final(&self) -> Vec<u8> {
        let raw = self.read("ami.raw");
        let mut decoder = AmiDecoder::new();
        let mut at = 0;
        while let Ok(NextMessage::Complete { message, consumed }) = decoder.decode(&raw[at..]) {
            if message.action_id().is_some_and(|id| id.starts_with("final-")) {
                return raw[..at].to_vec();
            }
            at += consumed;
        }
        panic!("{}: no final-status answer", self.name)
    }

    pub fn config(&self) -> PbxSetup {
        PbxSetup { queues: queues_conf::parse(&self.queues_conf()), ..PbxSetup::default() }
    }

    pub fn queues_conf(&self) -> String {
        std::fs::read_to_string(self.conf.join("queues.conf")).expect("queues.conf")
    }

    pub fn queue_log_events(&self) -> Vec<Event> {
        let (events, bad) = replay::queue_log_events(&self.read("queue_log"));
        assert_eq!(bad, 0, "{}: queue_log is clean", self.name);
        events
    }

    pub fn ami_events(&self) -> Vec<Event> {
        self.ami_events_of(&self.ami_before_final())
    }

    /// Events of `raw`, this scenario's AMI bytes (possibly edited), stamped with its chunk times.
    pub fn ami_events_of(&self, raw: &[u8]) -> Vec<Event> {
        let sent = self.read("ami.sent");
        let chunks = String::from_utf8_lossy(&self.read("ami.chunks.tsv")).into_owned();
        let (events, bad) = replay::ami_events(raw, Some(&sent), Some(&chunks));
        assert_eq!(bad, 0, "{}: ami.raw is clean", self.name);
        events
    }

    /// The feeds of `mode`, merged as `replay` merges them, static members first.
    pub fn events(&self, mode: Mode) -> Vec<Event> {
        self.events_with(mode, self.ami_events())
    }

    /// Like [`Self::events`] with these AMI events (unused in queue_log alone).
    pub fn events_with(&self, mode: Mode, ami: Vec<Event>) -> Vec<Event> {
        let merged = match mode {
            Mode::QueueLogAndAmi => replay::merge(self.queue_log_events(), ami),
            Mode::AmiAlone => ami,
            Mode::QueueLogAlone => self.queue_log_events(),
        };
        let first = merged.first().map_or(0, |e| e.ts_ms);
        let static_members = match mode {
            Mode::QueueLogAlone => self.host_setup().static_members,
            _ => queues_conf::static_members(&self.queues_conf()),
        };
        let mut all = queuecast::normalize::static_members::static_member_events(&static_members, first);
        all.extend(merged);
        all
    }

    /// The engine config of `mode`: queues.conf's in the modes with AMI, the daemon's own set-up from
    /// queues.conf and astdb in queue_log alone.
    pub fn config_of(&self, mode: Mode) -> PbxSetup {
        match mode {
            Mode::QueueLogAlone => self.host_setup().pbx,
            _ => self.config(),
        }
    }

    /// What a queue_log-alone daemon on the scenario's host sets up at start: `pbx_files::engine_setup` reading
    /// this scenario's queues.conf and the astdb of its end.
    pub fn host_setup(&self) -> EngineSetup {
        let tmp = tempfile::tempdir().expect("tempdir");
        let astdb = write_astdb(tmp.path(), &self.truth().final_members);
        let toml = format!(
            "[engine]\nqueues_conf = {:?}\nastdb = {:?}\n",
            self.conf.join("queues.conf").display().to_string(),
            astdb.display().to_string()
        );
        let config = Config::from_toml(&toml, &tmp.path().join("queuecast.toml")).expect("config");
        assert!(!config.ami.enabled, "queue_log alone");
        pbx_files::engine_setup(&config)
    }

    /// The end of the inputs plus the settle time.
    pub fn end(&self, events: &[Event]) -> TsMs {
        events.iter().map(|e| e.ts_ms).max().unwrap_or(0) + SETTLE_MS
    }

    /// The final state in `mode`.
    pub fn run(&self, mode: Mode) -> Snapshot {
        let events = self.events(mode);
        let mut engine = queuecast::engine::Engine::new(self.config_of(mode));
        replay::apply_all(&mut engine, &events, Some(self.end(&events)));
        engine.snapshot()
    }

    pub fn truth(&self) -> Truth {
        let mut truth = Truth::default();
        let raw = self.read("ami.raw");
        let names = member_names(&raw);
        each_message(&raw, |msg| {
            if msg.action_id().as_deref() != Some("final-status") {
                return;
            }
            let get = |k: &str| msg.get(k).map(|v| v.into_owned()).unwrap_or_default();
            let num = |k: &str| get(k).trim().parse::<u64>().unwrap_or(0);
            if msg.is_event("QueueParams") {
                let q = truth.queues.entry(get("Queue")).or_default();
                (q.waiting, q.completed, q.asterisk_abandoned) =
                    (num("Calls"), num("Completed"), num("Abandoned"));
            } else if msg.is_event("QueueMember") {
                let reason = Some(get("PausedReason")).filter(|r| !r.is_empty());
                let paused = get("Paused") == "1";
                truth.members.insert((
                    get("Queue"),
                    get("Location"),
                    paused,
                    reason.clone().filter(|_| paused),
                ));
                truth.final_members.push(Member {
                    queue: get("Queue"),
                    interface: get("Location"),
                    name: get("Name"),
                    state_interface: get("StateInterface"),
                    dynamic: get("Membership") == "dynamic",
                    penalty: get("Penalty").parse().expect("Penalty"),
                    paused,
                    reason,
                    wrapup: num("Wrapuptime") as u32,
                });
                if get("InCall") == "1" {
                    truth.in_call.insert(get("Location"));
                }
            }
        });
        assert!(!truth.queues.is_empty(), "{}: the capture ends with a final-status answer", self.name);
        for line in self.queue_log_text().lines() {
            let cols: Vec<&str> = line.split('|').collect();
            let (Some(queue), Some(agent), Some(event)) = (cols.get(2), cols.get(3), cols.get(4)) else {
                continue;
            };
            let Some(q) = truth.queues.get_mut(*queue) else { continue };
            if *event == "CONNECT" {
                q.answered += 1;
                let interface = names.get(*agent).cloned().unwrap_or_else(|| (*agent).to_owned());
                *truth.answered_by.entry(interface).or_default() += 1;
            }
            match UNANSWERED_EXITS.iter().find(|(e, _)| e == event).map(|(_, c)| *c) {
                Some("abandoned") => q.abandoned += 1,
                Some(_) => q.timed_out += 1,
                None => {}
            }
            if *event == "EXITWITHKEY" {
                q.key_exits += 1;
            }
        }
        truth
    }

    /// Waiting callers as queue_log tells at the end of second `t`: joined and not yet exited (answered or
    /// left), as (queue, uniqueid).
    pub fn waiting_at(&self, t: i64) -> BTreeSet<(String, String)> {
        let mut waiting = BTreeSet::new();
        for row in rows_until(&self.queue_log_text(), t) {
            let key = (row.queue.to_owned(), row.uid.to_owned());
            if row.event == "ENTERQUEUE" {
                waiting.insert(key);
            } else if row.event == "CONNECT" || UNANSWERED_EXITS.iter().any(|(e, _)| *e == row.event) {
                waiting.remove(&key);
            }
        }
        waiting
    }

    /// Each uniqueid's visits in order as queue_log tells them: (queue, outcome in DESIGN.md words). A
    /// line about a call belongs to its latest visit of that queue.
    pub fn visits(&self) -> BTreeMap<String, Vec<(String, String)>> {
        let mut calls: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for line in self.queue_log_text().lines() {
            let cols: Vec<&str> = line.split('|').collect();
            let (Some(uid), Some(queue), Some(event)) = (cols.get(1), cols.get(2), cols.get(4)) else {
                continue;
            };
            let visits = calls.entry((*uid).to_owned()).or_default();
            if *event == "ENTERQUEUE" {
                visits.push(((*queue).to_owned(), "waiting".to_owned()));
                continue;
            }
            let outcome = match *event {
                "CONNECT" => "answered",
                "BLINDTRANSFER" | "ATTENDEDTRANSFER" | "TRANSFER" => "transferred",
                e => match UNANSWERED_EXITS.iter().find(|(x, _)| *x == e) {
                    Some((_, category)) => category,
                    None => continue,
                },
            };
            if let Some(visit) = visits.iter_mut().rev().find(|(q, _)| q == queue) {
                visit.1 = outcome.to_owned();
            }
        }
        calls.retain(|_, visits| !visits.is_empty());
        calls
    }

    /// Agents bridged to a queue caller at the end of second `t` as queue_log tells: CONNECT until the
    /// visit's COMPLETE*/TRANSFER line, or until the caller enters a queue again (a Redirect takes it out of
    /// the bridge; queue_log closes that visit only when the caller hangs up). Interface → uniqueid.
    pub fn connected_at(&self, t: i64) -> BTreeMap<String, String> {
        let names = member_names(&self.read("ami.raw"));
        let mut bridged: BTreeMap<String, String> = BTreeMap::new();
        for row in rows_until(&self.queue_log_text(), t) {
            let interface = names.get(row.agent).cloned().unwrap_or_else(|| row.agent.to_owned());
            match row.event {
                "CONNECT" => {
                    bridged.insert(interface, row.uid.to_owned());
                }
                "ENTERQUEUE" => bridged.retain(|_, u| *u != row.uid),
                "COMPLETECALLER" | "COMPLETEAGENT" | "BLINDTRANSFER" | "ATTENDEDTRANSFER" | "TRANSFER"
                    if bridged.get(&interface).is_some_and(|u| u == row.uid) =>
                {
                    bridged.remove(&interface);
                }
                _ => {}
            }
        }
        bridged
    }

    /// Every second at which a visit began or ended (queue_log ENTERQUEUE, CONNECT, exit lines).
    pub fn visit_boundaries(&self) -> BTreeSet<i64> {
        self.queue_log_text()
            .lines()
            .filter_map(|line| {
                let cols: Vec<&str> = line.split('|').collect();
                let event = *cols.get(4)?;
                let boundary = event == "ENTERQUEUE"
                    || event == "CONNECT"
                    || UNANSWERED_EXITS.iter().any(|(e, _)| *e == event);
                boundary.then(|| cols[0].parse().ok()).flatten()
            })
            .collect()
    }
}

/// Asterisk's astdb holding these members' dynamic ones (see the module doc), as `dir/astdb.sqlite3`.
pub fn write_astdb(dir: &Path, members: &[Member]) -> PathBuf {
    let path = dir.join("astdb.sqlite3");
    let db = rusqlite::Connection::open(&path).expect("astdb");
    db.execute("CREATE TABLE IF NOT EXISTS astdb(key TEXT, value TEXT, PRIMARY KEY(key))", []).unwrap();
    let mut per_queue: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for m in members.iter().filter(|m| m.dynamic) {
        per_queue.entry(&m.queue).or_default().push(format!(
            "{};{};{};{};{};{};{}",
            m.interface,
            m.penalty,
            u8::from(m.paused),
            m.name,
            m.state_interface,
            m.reason.as_deref().unwrap_or(""),
            m.wrapup
        ));
    }
    for (queue, entries) in per_queue {
        let key = format!("/Queue/PersistentMembers/{queue}");
        db.execute("INSERT OR REPLACE INTO astdb (key, value) VALUES (?, ?)", [key, entries.join("|")])
            .unwrap();
    }
    path
}

/// Member name → interface, from every member event of a capture that names both.
pub fn member_names(raw: &[u8]) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    each_message(raw, |msg| {
        let name = msg.get("MemberName").or_else(|| msg.get("Name"));
        let interface = msg.get("Interface").or_else(|| msg.get("Location"));
        if let (Some(name), Some(interface)) = (name, interface)
            && interface.contains('/')
        {
            names.insert(name.into_owned(), interface.into_owned());
        }
    });
    names
}

pub fn each_message(raw: &[u8], mut f: impl FnMut(&Message<'_>)) {
    for (message, _) in AmiDecoder::new().complete_messages(raw) {
        f(&message);
    }
}

/// One queue_log line's fixed fields (`time|callid|queue|agent|event|…`).
struct Row<'a> {
    time: &'a str,
    uid: &'a str,
    queue: &'a str,
    agent: &'a str,
    event: &'a str,
}

/// The lines of `text` that have all the fixed fields, up to the first one after second `t`.
fn rows_until(text: &str, t: i64) -> impl Iterator<Item = Row<'_>> {
    text.lines()
        .filter_map(|line| {
            let mut cols = line.split('|');
            let (time, uid, queue, agent) = (cols.next()?, cols.next()?, cols.next()?, cols.next()?);
            Some(Row { time, uid, queue, agent, event: cols.next()? })
        })
        .take_while(move |row| !row.time.parse::<i64>().is_ok_and(|time| time > t))
}
