//! `agent_event` changes: login, logout, pause, unpause — only when membership or pause really moves.
//!
//! Who did it (`source`) is told best by queue_log's second column (`CLI`, `MANAGER`, a channel uniqueid),
//! but AMI usually reports the change first and says nothing about who. So while queue_log is a feed (the
//! engine has seen one of its lines), a change first reported by AMI is held until queue_log reports the
//! same change, which names the source, or until [`HOLD_MS`] of event time has passed, when it goes out as
//! `ami`. Held events leave in the order they happened; time comes from events (and the daemon's ticks), so
//! the hold is bounded without the engine reading a clock.

use super::state::{AgentIx, QueueIx};
use super::{Change, Engine, Source, TsMs};
use serde::{Deserialize, Serialize};

/// How long an AMI-reported change waits for queue_log's word on its source. queue_log lines are written
/// in the same app_queue call as the AMI event and the tail reads them within a few hundred ms; 2 s covers
/// a busy disk without delaying a panel noticeably.
pub const HOLD_MS: TsMs = 2_000;

/// Who made a change, as DESIGN.md "Agent events" names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// Dialplan on a channel (queue_log's second column is the channel's uniqueid).
    Phone,
    /// An AMI client (queue_log `MANAGER`, or an AMI member event when queue_log does not say).
    Ami,
    /// The Asterisk CLI (queue_log `CLI`).
    Cli,
    /// A queuecast command (reserved for the command stream).
    Api,
    /// Static, realtime or restored members (queues.conf, astdb after a restart).
    Config,
    /// Asterisk does not say (queue_log `NONE`).
    Unknown,
}

impl Actor {
    /// queue_log's second (callid) column on a membership line.
    pub fn from_callid(callid: &str) -> Self {
        match callid {
            "CLI" => Self::Cli,
            "MANAGER" => Self::Ami,
            "NONE" | "" => Self::Unknown,
            _ => Self::Phone,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::Ami => "ami",
            Self::Cli => "cli",
            Self::Api => "api",
            Self::Config => "config",
            Self::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentEventKind {
    Login,
    Logout,
    Pause,
    Unpause,
}

impl AgentEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Logout => "logout",
            Self::Pause => "pause",
            Self::Unpause => "unpause",
        }
    }
}

/// One real change of an agent's membership or pause in one queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AgentEvent {
    /// Agent id (interface, or member name while provisional).
    pub agent: String,
    pub event: AgentEventKind,
    /// Queue display name.
    pub queue: String,
    /// Pause reason; None otherwise.
    pub reason: Option<String>,
    pub source: Actor,
    /// ms since the epoch of the event that made the change.
    pub at: TsMs,
}

/// Most expectations kept at once: commands are human-rate, so more means a producer flood, and the oldest
/// (already past their window in practice) go first.
const MAX_EXPECTED: usize = 256;

/// A change a queuecast command is about to cause (`EventKind::CommandSent`).
#[derive(Debug, Clone)]
struct Expected {
    agent: String,
    /// None = any queue (the command is for every queue of the agent: one change per queue).
    queue: Option<String>,
    event: AgentEventKind,
    /// Event time after which a matching change is no longer this command's.
    until: TsMs,
}

impl Expected {
    fn matches(&self, event: &AgentEvent) -> bool {
        self.event == event.event
            && event.at <= self.until
            && self.agent.eq_ignore_ascii_case(&event.agent)
            && self.queue.as_deref().is_none_or(|q| q.eq_ignore_ascii_case(&event.queue))
    }
}

/// A change waiting for queue_log's word on its source.
#[derive(Debug, Clone)]
struct Held {
    agent: AgentIx,
    queue: QueueIx,
    event: AgentEvent,
    /// Source settled (queue_log confirmed it, or no wait was needed).
    settled: bool,
}

/// The agent events in flight: held for their source, and the commands expected to cause some. Changed here
/// only.
#[derive(Debug, Default)]
pub(super) struct AgentEvents {
    /// In order, waiting for their source.
    held: Vec<Held>,
    /// Changes queuecast's own commands are about to cause.
    expected: Vec<Expected>,
}

impl AgentEvents {
    /// A command is about to make this change (at `at`; the engine's time is `now`).
    fn expect(&mut self, agent: &str, queue: Option<&str>, event: AgentEventKind, at: TsMs, now: TsMs) {
        self.expected.retain(|e| e.until >= now);
        if self.expected.len() >= MAX_EXPECTED {
            self.expected.remove(0);
        }
        let until = at.saturating_add(HOLD_MS);
        self.expected.push(Expected {
            agent: agent.to_owned(),
            queue: queue.map(str::to_owned),
            event,
            until,
        });
    }

    /// `api` when an expected command explains the change: AMI and queue_log report a command's change as
    /// `MANAGER`/AMI or `NONE` (pauses), never as queuecast.
    fn credit_command(&mut self, event: &mut AgentEvent) {
        if !matches!(event.source, Actor::Ami | Actor::Unknown) {
            return;
        }
        let Some(i) = self.expected.iter().position(|e| e.matches(event)) else { return };
        event.source = Actor::Api;
        if self.expected[i].queue.is_some() {
            self.expected.remove(i);
        }
    }

    /// `wait`: its source is to come from queue_log.
    fn hold(&mut self, agent: AgentIx, queue: QueueIx, mut event: AgentEvent, wait: bool) {
        self.credit_command(&mut event);
        self.held.push(Held { agent, queue, event, settled: !wait });
    }

    fn confirm(&mut self, a: AgentIx, q: QueueIx, event: AgentEventKind, actor: Actor) {
        if let Some(held) = self
            .held
            .iter_mut()
            .find(|h| !h.settled && h.agent == a && h.queue == q && h.event.event == event)
        {
            // `NONE` tells nothing better than "an AMI event said so", and `MANAGER` nothing better than
            // "queuecast's command did it".
            if actor != Actor::Unknown && !(held.event.source == Actor::Api && actor == Actor::Ami) {
                held.event.source = actor;
            }
            held.settled = true;
        }
    }

    /// Appends the settled or expired head of the held list to `out`, in order.
    fn release(&mut self, now: TsMs, out: &mut Vec<Change>) {
        let ready =
            self.held.iter().take_while(|h| h.settled || now.saturating_sub(h.event.at) >= HOLD_MS).count();
        out.extend(self.held.drain(..ready).map(|held| Change::AgentEvent(held.event)));
    }
}

impl Engine {
    /// A command is about to make this change: credit it to `api` when it is reported within [`HOLD_MS`].
    pub(super) fn expect_command(
        &mut self,
        agent: &str,
        queue: Option<&str>,
        event: AgentEventKind,
        at: TsMs,
    ) {
        self.agent_events.expect(agent, queue, event, at, self.now);
    }

    /// Records a real change made by the event being applied.
    pub(super) fn agent_event(
        &mut self,
        a: AgentIx,
        q: QueueIx,
        event: AgentEventKind,
        reason: Option<&str>,
        source: Actor,
    ) {
        if self.turn.quiet {
            return;
        }
        let Some(agent) = self.agent(a) else { return };
        let wait = self.turn.source == Source::Ami && self.saw_queue_log && source == Actor::Ami;
        let event = AgentEvent {
            agent: agent.id.clone(),
            event,
            queue: self.queues[q as usize].name.clone(),
            reason: reason.filter(|r| !r.is_empty()).map(str::to_owned),
            source,
            at: self.turn.cause,
        };
        self.agent_events.hold(a, q, event, wait);
    }

    /// queue_log repeats a change AMI already made: its second column names the source of a held event.
    pub(super) fn confirm_agent_event(
        &mut self,
        a: AgentIx,
        q: QueueIx,
        event: AgentEventKind,
        actor: Actor,
    ) {
        if self.turn.source == Source::QueueLog {
            self.agent_events.confirm(a, q, event, actor);
        }
    }

    /// Appends the agent events released by now to `out`, after the entity changes.
    pub(super) fn release_agent_events(&mut self) {
        self.agent_events.release(self.now, &mut self.turn.out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Event, EventKind, MemberRef, PbxSetup};

    const T0: TsMs = 1_795_000_000_000;

    /// The agent events of `inputs` applied in order: (event, source, ms after T0).
    fn events_of(engine: &mut Engine, inputs: Vec<Event>) -> Vec<(AgentEventKind, Actor, TsMs)> {
        inputs
            .iter()
            .flat_map(|e| engine.apply(e))
            .filter_map(|c| match c {
                Change::AgentEvent(e) => Some((e.event, e.source, e.at - T0)),
                _ => None,
            })
            .collect()
    }

    fn line(text: &str) -> Vec<Event> {
        crate::replay::queue_log_events(text.as_bytes()).0
    }

    fn ami_pause(ms: TsMs, paused: bool) -> Event {
        Event {
            ts_ms: T0 + ms,
            source: Source::Ami,
            actor: None,
            kind: EventKind::MemberPause {
                queue: Some("support".into()),
                member: MemberRef::interface("PJSIP/1001"),
                paused,
                reason: Some("Lunch".into()),
            },
        }
    }

    fn ami_added(ms: TsMs) -> Event {
        Event {
            ts_ms: T0 + ms,
            source: Source::Ami,
            actor: None,
            kind: EventKind::dynamic_member_added("support", MemberRef::interface("PJSIP/1001")),
        }
    }

    fn tick(ms: TsMs) -> Event {
        Event { ts_ms: T0 + ms, source: Source::Clock, actor: None, kind: EventKind::Tick }
    }

    #[test]
    fn dialplan_login_is_the_phone_and_a_repeat_says_nothing() {
        // AddQueueMember() logs the channel's uniqueid in the second column (app_queue aqm_exec).
        let mut engine = Engine::new(PbxSetup::default());
        let got = events_of(
            &mut engine,
            [
                line("1795000000|1795000000.42|support|PJSIP/1001|ADDMEMBER|\n"),
                line("1795000001|1795000001.43|support|PJSIP/1001|ADDMEMBER|\n"),
                line("1795000002|NONE|support|PJSIP/1001|PAUSE|Lunch\n"),
                line("1795000003|NONE|support|PJSIP/1001|PAUSE|Lunch\n"),
                line("1795000004|CLI|support|PJSIP/1001|REMOVEMEMBER|\n"),
            ]
            .concat(),
        );
        assert_eq!(
            got,
            [
                (AgentEventKind::Login, Actor::Phone, 0),
                (AgentEventKind::Pause, Actor::Unknown, 2_000),
                (AgentEventKind::Logout, Actor::Cli, 4_000),
            ]
        );
    }

    #[test]
    fn an_ami_first_change_waits_for_queue_log_but_never_past_the_hold() {
        let config = PbxSetup { queue_log_feed: true, ..PbxSetup::default() };
        let mut engine = Engine::new(config);
        // AMI reports the add; queue_log's CLI line follows 300 ms later and names the source.
        assert_eq!(events_of(&mut engine, vec![ami_added(0)]), [], "held");
        let confirmed = events_of(&mut engine, line("1795000000|CLI|support|PJSIP/1001|ADDMEMBER|\n"));
        assert_eq!(confirmed, [(AgentEventKind::Login, Actor::Cli, 0)]);
        // A pause queue_log never repeats goes out as `ami` once the hold has passed in event time.
        assert_eq!(events_of(&mut engine, vec![ami_pause(10_000, true)]), []);
        assert_eq!(events_of(&mut engine, vec![tick(10_000 + HOLD_MS - 1)]), []);
        let released = events_of(&mut engine, vec![tick(10_000 + HOLD_MS)]);
        assert_eq!(released, [(AgentEventKind::Pause, Actor::Ami, 10_000)]);
        // Without a queue_log feed nothing waits.
        let mut ami_only = Engine::new(PbxSetup::default());
        let got = events_of(&mut ami_only, vec![ami_added(0), ami_pause(5, true), ami_pause(6, true)]);
        assert_eq!(
            got,
            [(AgentEventKind::Login, Actor::Ami, 0), (AgentEventKind::Pause, Actor::Ami, 5)],
            "the repeated pause says nothing"
        );
    }

    #[test]
    fn events_leave_in_order_behind_a_held_one() {
        let config = PbxSetup { queue_log_feed: true, ..PbxSetup::default() };
        let mut engine = Engine::new(config);
        assert_eq!(events_of(&mut engine, vec![ami_added(0)]), []);
        // queue_log's own pause line (second 1) is settled at once but may not overtake the held login.
        assert_eq!(events_of(&mut engine, line("1795000001|NONE|support|PJSIP/1001|PAUSE|x\n")), []);
        let got = events_of(&mut engine, vec![tick(HOLD_MS)]);
        assert_eq!(
            got,
            [(AgentEventKind::Login, Actor::Ami, 0), (AgentEventKind::Pause, Actor::Unknown, 1_000)]
        );
    }

    #[test]
    fn the_first_queue_status_is_the_start_and_later_ones_find_missed_changes() {
        use crate::engine::{MemberStatus, SnapshotScope, StatusSnapshot};
        let snapshot = |ms: TsMs, members: Vec<MemberStatus>| Event {
            ts_ms: T0 + ms,
            source: Source::Ami,
            actor: None,
            kind: EventKind::StatusSnapshot(StatusSnapshot {
                scope: SnapshotScope::All,
                members,
                ..StatusSnapshot::default()
            }),
        };
        let row = |paused: bool| MemberStatus {
            queue: "support".into(),
            interface: "PJSIP/1001".into(),
            membership: Some("dynamic".into()),
            paused,
            ..MemberStatus::default()
        };
        let mut engine = Engine::new(PbxSetup::default());
        assert_eq!(events_of(&mut engine, vec![snapshot(0, vec![row(false)])]), [], "the starting state");
        assert_eq!(engine.agent_fields("PJSIP/1001").map(|f| f["status"].clone()), Some("available".into()));
        let missed = events_of(&mut engine, vec![snapshot(1_000, vec![]), snapshot(2_000, vec![row(true)])]);
        assert_eq!(
            missed,
            [
                (AgentEventKind::Logout, Actor::Ami, 1_000),
                (AgentEventKind::Login, Actor::Ami, 2_000),
                (AgentEventKind::Pause, Actor::Ami, 2_000),
            ]
        );
        assert_eq!(
            events_of(&mut engine, vec![snapshot(3_000, vec![row(true)])]),
            [],
            "a repeat says nothing"
        );
    }

    fn command_sent(ms: TsMs, queue: Option<&str>, change: AgentEventKind) -> Event {
        Event {
            ts_ms: T0 + ms,
            source: Source::Clock,
            actor: None,
            kind: EventKind::CommandSent {
                agent: "PJSIP/1001".into(),
                queue: queue.map(str::to_owned),
                change,
            },
        }
    }

    #[test]
    fn a_change_queuecast_asked_for_is_credited_to_api_within_the_hold() {
        let mut engine = Engine::new(PbxSetup::default());
        assert_eq!(events_of(&mut engine, vec![ami_added(0)]), [(AgentEventKind::Login, Actor::Ami, 0)]);
        // Expected for this queue: credited once; the same change later is someone else's.
        let got = events_of(
            &mut engine,
            vec![command_sent(1_000, Some("Support"), AgentEventKind::Pause), ami_pause(1_050, true)],
        );
        assert_eq!(got, [(AgentEventKind::Pause, Actor::Api, 1_050)]);
        let got = events_of(&mut engine, vec![ami_pause(1_100, false), ami_pause(1_200, true)]);
        assert_eq!(
            got,
            [(AgentEventKind::Unpause, Actor::Ami, 1_100), (AgentEventKind::Pause, Actor::Ami, 1_200)]
        );
        // An expectation whose window passed credits nothing.
        let got = events_of(
            &mut engine,
            vec![command_sent(5_000, None, AgentEventKind::Unpause), ami_pause(5_000 + HOLD_MS + 1, false)],
        );
        assert_eq!(got, [(AgentEventKind::Unpause, Actor::Ami, 5_000 + HOLD_MS + 1)]);
        // Another kind of change is not the command's.
        let got = events_of(
            &mut engine,
            vec![command_sent(9_000, None, AgentEventKind::Logout), ami_pause(9_001, true)],
        );
        assert_eq!(got, [(AgentEventKind::Pause, Actor::Ami, 9_001)]);
    }

    #[test]
    fn queue_log_manager_and_none_do_not_take_the_credit_away() {
        let config = PbxSetup { queue_log_feed: true, ..PbxSetup::default() };
        let mut engine = Engine::new(config);
        // The recorded QueueAdd: the AMI event first, then `MANAGER|…|ADDMEMBER` (asterisk-22-actions add-*).
        assert_eq!(
            events_of(
                &mut engine,
                vec![command_sent(0, Some("support"), AgentEventKind::Login), ami_added(10)]
            ),
            []
        );
        let got = events_of(&mut engine, line("1795000000|MANAGER|support|PJSIP/1001|ADDMEMBER|\n"));
        assert_eq!(got, [(AgentEventKind::Login, Actor::Api, 10)]);
        // A pause line is always `NONE`; when queue_log is first, the expectation credits it directly.
        let got = events_of(
            &mut engine,
            [
                vec![command_sent(2_000, Some("support"), AgentEventKind::Pause)],
                line("1795000002|NONE|support|PJSIP/1001|PAUSE|Lunch\n"),
            ]
            .concat(),
        );
        assert_eq!(got, [(AgentEventKind::Pause, Actor::Api, 2_000)]);
        assert_eq!(events_of(&mut engine, vec![ami_pause(2_100, true)]), [], "AMI repeats it: nothing new");
    }
}
