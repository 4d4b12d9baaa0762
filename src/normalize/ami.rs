//! AMI message → engine events.
//!
//! Most events translate one to one (see [`AmiNormalizer::push`]). The exception is the `QueueStatus`
//! answer: its QueueParams/QueueMember/QueueEntry items are collected per ActionID and become a single
//! [`EventKind::StatusSnapshot`] at `QueueStatusComplete`, because the engine may only reconcile (remove what
//! is not listed) against a whole answer. How much of the state the answer covers depends on what was asked,
//! which only the client knows: it registers each request ([`AmiNormalizer::expect_queue_status`], or
//! [`AmiNormalizer::observe_sent`] for recorded client bytes); an answer nobody registered is `Partial`.
//!
//! Member events raised while a channel runs one of app_queue's member applications (`AddQueueMember`,
//! `PauseQueueMember`, …, announced by its `Newexten`) carry the actor `phone`: AMI's only word on who made a
//! change (see `dialplan.rs`).
//!
//! Connection control (FullyBooted → ask for QueueStatus, Shutdown/Reload → expect a disconnect or resync) is
//! not engine input: the client reads it with [`control`] from the same message.

use std::collections::HashMap;

use parsers::ami::Message;

use super::dialplan::DialplanApps;
use parsers::ami::events::{self, AgentCall, CallerEvent, EventError, MemberEvent, QueueEvent};

use crate::engine::{
    self, DeviceState, EndReason, Event, EventKind, LeaveReason, MemberRef, SnapshotScope, Source,
    StatusSnapshot,
};

/// Answers collected at once. A client has one or two QueueStatus requests in flight; anything beyond this
/// is a peer answering what nobody asked, and the oldest collection is dropped to keep memory bounded.
const MAX_PENDING_ANSWERS: usize = 64;

/// Placeholders Asterisk writes for a missing caller number/name (§1 of protocol/AMI.md).
const UNKNOWN_PLACEHOLDERS: &[&str] = &["<unknown>", "unknown", ""];

/// Stateful translator for one AMI connection (or one capture). Pure: no I/O, no clock.
#[derive(Debug, Default)]
pub struct AmiNormalizer {
    /// Scopes of the QueueStatus requests in flight, by ActionID (`""` = sent without ActionID).
    expected: HashMap<String, SnapshotScope>,
    /// Answers being collected, by ActionID, in arrival order of their first item.
    pending: Vec<(String, StatusSnapshot)>,
    /// Channels inside a member application: whose member changes came from the phone.
    dialplan: DialplanApps,
}

/// Connection-level events the AMI client acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Login done and Asterisk fully booted: send QueueStatus now.
    FullyBooted,
    /// Asterisk stops (or restarts); the connection closes next, without Goodbye.
    Shutdown { restart: bool },
    /// Configuration reloaded (`module` None = everything): queues may have changed, resync.
    Reload { module: Option<String> },
}

/// The connection-control meaning of `msg`, if any.
pub fn control(msg: &Message<'_>) -> Option<Control> {
    match events::parse_event(msg).ok()?? {
        QueueEvent::FullyBooted => Some(Control::FullyBooted),
        QueueEvent::Shutdown(s) => Some(Control::Shutdown { restart: s.restart.unwrap_or(false) }),
        QueueEvent::Reload(r) => Some(Control::Reload { module: r.module.map(|m| m.into_owned()) }),
        _ => None,
    }
}

impl AmiNormalizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forget requests and half-collected answers: call on every (re)connect, since answers to requests of a
    /// dead connection never complete.
    pub fn reset(&mut self) {
        self.expected.clear();
        self.pending.clear();
        self.dialplan.reset();
    }

    /// The client sent `Action: QueueStatus` with this ActionID and these filters (`Queue:`, `Member:`).
    pub fn expect_queue_status(&mut self, action_id: &str, queue: Option<&str>, member: Option<&str>) {
        let queue = queue.filter(|q| !q.is_empty()).map(str::to_owned);
        let scope = match member.filter(|m| !m.is_empty()) {
            Some(interface) => SnapshotScope::Member { queue, interface: interface.to_owned() },
            None => match queue {
                Some(queue) => SnapshotScope::Queue { queue },
                None => SnapshotScope::All,
            },
        };
        if self.expected.len() >= MAX_PENDING_ANSWERS {
            self.expected.clear();
        }
        self.expected.insert(action_id.to_owned(), scope);
    }

    /// Register a client-side message (e.g. read back from an `ami.sent` capture); only
    /// `Action: QueueStatus` matters.
    pub fn observe_sent(&mut self, msg: &Message<'_>) {
        if let parsers::ami::MessageKind::Action { name } = msg.kind
            && name.eq_ignore_ascii_case(b"QueueStatus")
        {
            let action_id = msg.action_id().unwrap_or_default();
            self.expect_queue_status(&action_id, msg.get("Queue").as_deref(), msg.get("Member").as_deref());
        }
    }

    /// Engine events for one server message stamped `ts_ms` (receive time). A `Timestamp:` header
    /// (manager.conf `timestampevents=yes`) takes precedence. Malformed known events are dropped; use
    /// [`Self::push_checked`] to see why.
    pub fn push(&mut self, msg: &Message<'_>, ts_ms: engine::TsMs) -> Vec<Event> {
        self.push_checked(msg, ts_ms).unwrap_or_default()
    }

    /// Like [`Self::push`], but a known event missing a required field is an error (for logging).
    pub fn push_checked(&mut self, msg: &Message<'_>, ts_ms: engine::TsMs) -> Result<Vec<Event>, EventError> {
        let ts_ms = header_timestamp_ms(msg).unwrap_or(ts_ms);
        self.dialplan.observe(msg);
        let event = match events::parse_event(msg) {
            Ok(Some(event)) => event,
            Ok(None) => return Ok(Vec::new()),
            Err(err) => {
                let kind = member_call_ended(msg).ok_or(err)?;
                return Ok(vec![Event { ts_ms, source: Source::Ami, actor: None, kind }]);
            }
        };
        let status_pause = status_pause(&event);
        let kind = match event {
            QueueEvent::QueueParams(_) | QueueEvent::QueueMember(_) | QueueEvent::QueueEntry(_) => {
                self.collect(&event);
                None
            }
            QueueEvent::QueueStatusComplete { action_id } => {
                Some(self.complete(action_id.as_deref().unwrap_or("")))
            }
            other => translate(other, msg),
        };
        let kinds = kind.into_iter().chain(status_pause);
        Ok(kinds
            .map(|kind| {
                let actor = changed_member(&kind).and_then(|i| self.dialplan.actor_for(i));
                Event { ts_ms, source: Source::Ami, actor, kind }
            })
            .collect())
    }

    fn collect(&mut self, event: &QueueEvent<'_>) {
        let action_id = match event {
            QueueEvent::QueueParams(p) => p.action_id.as_deref(),
            QueueEvent::QueueMember(m) => m.action_id.as_deref(),
            QueueEvent::QueueEntry(e) => e.action_id.as_deref(),
            _ => return,
        }
        .unwrap_or("");
        let snapshot = self.pending_for(action_id);
        match event {
            QueueEvent::QueueParams(p) => snapshot.queues.push(engine::QueueParams {
                queue: p.queue.to_string(),
                strategy: p.strategy.as_deref().map(str::to_owned),
                service_level_s: p.service_level_s,
                calls: p.calls,
            }),
            QueueEvent::QueueMember(m) => snapshot.members.push(member_status(m)),
            QueueEvent::QueueEntry(e) => snapshot.entries.push(engine::QueueEntry {
                queue: e.queue.to_string(),
                uniqueid: e.uniqueid.to_string(),
                caller_id: known(e.caller_id_num.as_deref()),
                caller_name: known(e.caller_id_name.as_deref()),
                position: e.position,
                wait_s: e.wait_s,
            }),
            _ => {}
        }
    }

    fn pending_for(&mut self, action_id: &str) -> &mut StatusSnapshot {
        let index = match self.pending.iter().position(|(id, _)| id == action_id) {
            Some(index) => index,
            None => {
                if self.pending.len() >= MAX_PENDING_ANSWERS {
                    self.pending.remove(0);
                }
                self.pending.push((action_id.to_owned(), StatusSnapshot::default()));
                self.pending.len() - 1
            }
        };
        &mut self.pending[index].1
    }

    /// The whole answer: scope from the registered request, `Partial` if nobody registered it.
    fn complete(&mut self, action_id: &str) -> EventKind {
        let mut snapshot = match self.pending.iter().position(|(id, _)| id == action_id) {
            Some(index) => self.pending.remove(index).1,
            None => StatusSnapshot::default(),
        };
        snapshot.scope = self.expected.remove(action_id).unwrap_or(SnapshotScope::Partial);
        EventKind::StatusSnapshot(snapshot)
    }
}

/// The interface whose membership or pause `kind` changes.
fn changed_member(kind: &EventKind) -> Option<&str> {
    match kind {
        EventKind::MemberAdded { member, .. }
        | EventKind::MemberRemoved { member, .. }
        | EventKind::MemberPause { member, .. } => member.interface.as_deref(),
        _ => None,
    }
}

/// QueueMemberStatus carries the member's whole state, pause included: a client that missed the
/// QueueMemberPause (events off for a while, a reconnect) learns the pause from the next status change.
fn status_pause(event: &QueueEvent<'_>) -> Option<EventKind> {
    let QueueEvent::MemberStatus(m) = event else { return None };
    let paused = m.paused?;
    Some(EventKind::MemberPause {
        queue: Some(m.queue.to_string()),
        member: member_ref(m),
        paused,
        reason: pause_reason(m).filter(|_| paused),
    })
}

/// `AgentComplete` as Asterisk sends it when the caller's channel is already gone: no Uniqueid, no Channel,
/// only Queue, Interface, MemberName, HoldTime, TalkTime and Reason. It still ends the member's call.
fn member_call_ended(msg: &Message<'_>) -> Option<EventKind> {
    if !msg.is_event("AgentComplete") {
        return None;
    }
    let queue = msg.get("Queue").filter(|q| !q.is_empty())?.into_owned();
    let interface = msg.get("Interface").filter(|i| !i.is_empty())?.into_owned();
    let name = msg.get("MemberName").filter(|n| !n.is_empty()).map(|n| n.into_owned());
    let number = |key: &str| msg.get(key).and_then(|v| v.trim().parse::<u32>().ok());
    Some(EventKind::MemberCallEnded {
        queue,
        member: MemberRef { interface: Some(interface), name },
        hold_s: number("HoldTime"),
        talk_s: number("TalkTime"),
        reason: end_reason(msg.get("Reason").as_deref()),
    })
}

fn translate(event: QueueEvent<'_>, msg: &Message<'_>) -> Option<EventKind> {
    Some(match event {
        QueueEvent::MemberAdded(m) => EventKind::MemberAdded {
            queue: m.queue.to_string(),
            member: member_ref(&m),
            paused: m.paused,
            pause_reason: pause_reason(&m),
            penalty: m.penalty,
            device: m.status.map(DeviceState::from_code),
            in_call: m.in_call,
            wrapup_s: m.wrapup_s,
            membership: m.membership.as_deref().map(str::to_owned),
        },
        QueueEvent::MemberRemoved(m) => {
            EventKind::MemberRemoved { queue: m.queue.to_string(), member: member_ref(&m) }
        }
        QueueEvent::MemberPause(m) => EventKind::MemberPause {
            queue: Some(m.queue.to_string()),
            member: member_ref(&m),
            paused: m.paused?,
            reason: pause_reason(&m),
        },
        QueueEvent::MemberPenalty(m) => EventKind::MemberPenalty {
            queue: m.queue.to_string(),
            member: member_ref(&m),
            penalty: m.penalty?,
        },
        QueueEvent::MemberStatus(m) => EventKind::MemberDevice {
            queue: Some(m.queue.to_string()),
            member: member_ref(&m),
            device: DeviceState::from_code(m.status?),
            in_call: m.in_call,
        },
        QueueEvent::CallerJoin(c) => caller_joined(&c, msg.get("Linkedid").as_deref()),
        QueueEvent::CallerLeave(c) => {
            EventKind::CallerDequeued { queue: c.queue.to_string(), uniqueid: c.uniqueid.to_string() }
        }
        QueueEvent::CallerAbandon(c) => EventKind::CallerLeft {
            queue: c.queue.to_string(),
            uniqueid: c.uniqueid.to_string(),
            reason: LeaveReason::Unspecified,
            position: c.position,
            wait_s: c.hold_time_s,
        },
        QueueEvent::AgentCalled(a) => EventKind::AgentRinging {
            queue: a.queue.to_string(),
            uniqueid: a.uniqueid.to_string(),
            member: agent_ref(&a),
        },
        QueueEvent::AgentRingNoAnswer(a) => EventKind::RingStopped {
            queue: a.queue.to_string(),
            uniqueid: a.uniqueid.to_string(),
            member: agent_ref(&a),
            missed: true,
        },
        QueueEvent::AgentConnect(a) => EventKind::CallConnected {
            queue: a.queue.to_string(),
            uniqueid: a.uniqueid.to_string(),
            member: agent_ref(&a),
            hold_s: a.hold_time_s,
            // AgentConnect RingTime is seconds (AgentRingNoAnswer's is milliseconds).
            ring_s: a.ring_time,
        },
        QueueEvent::AgentComplete(a) => EventKind::CallEnded {
            queue: a.queue.to_string(),
            uniqueid: a.uniqueid.to_string(),
            member: Some(agent_ref(&a)),
            hold_s: a.hold_time_s,
            talk_s: a.talk_time_s,
            reason: end_reason(a.reason.as_deref()),
        },
        QueueEvent::AgentDump(a) => EventKind::AgentDump {
            queue: a.queue.to_string(),
            uniqueid: a.uniqueid.to_string(),
            member: agent_ref(&a),
        },
        QueueEvent::AgentSession(s) => {
            EventKind::AgentSession { agent: s.agent.to_string(), logged_in: s.logged_in }
        }
        _ => return None,
    })
}

fn caller_joined(c: &CallerEvent<'_>, linkedid: Option<&str>) -> EventKind {
    EventKind::CallerJoined {
        queue: c.queue.to_string(),
        uniqueid: c.uniqueid.to_string(),
        caller_id: known(c.caller_id_num.as_deref()),
        caller_name: known(c.caller_id_name.as_deref()),
        position: c.position,
        linkedid: linkedid.filter(|l| !l.is_empty()).map(str::to_owned),
    }
}

fn member_ref(m: &MemberEvent<'_>) -> MemberRef {
    MemberRef { interface: Some(m.interface.to_string()), name: m.name.as_deref().map(str::to_owned) }
}

fn agent_ref(a: &AgentCall<'_>) -> MemberRef {
    MemberRef { interface: Some(a.interface.to_string()), name: a.member_name.as_deref().map(str::to_owned) }
}

/// 13.8+ `PausedReason`, else the 12–17 / ≤11 `Reason`; empty means none.
fn pause_reason(m: &MemberEvent<'_>) -> Option<String> {
    [m.paused_reason.as_deref(), m.reason.as_deref()]
        .into_iter()
        .flatten()
        .find(|r| !r.is_empty())
        .map(str::to_owned)
}

fn member_status(m: &MemberEvent<'_>) -> engine::MemberStatus {
    engine::MemberStatus {
        queue: m.queue.to_string(),
        interface: m.interface.to_string(),
        name: m.name.as_deref().map(str::to_owned),
        state_interface: m.state_interface.as_deref().map(str::to_owned),
        membership: m.membership.as_deref().map(str::to_owned),
        penalty: m.penalty,
        calls_taken: m.calls_taken,
        paused: m.paused.unwrap_or(false),
        pause_reason: pause_reason(m),
        device: m.status.map(DeviceState::from_code),
        in_call: m.in_call,
        wrapup_s: m.wrapup_s,
    }
}

/// Asterisk writes only `caller`, `agent` or `transfer`; anything else is read as the caller hanging up.
fn end_reason(reason: Option<&str>) -> EndReason {
    match reason.map(str::to_ascii_lowercase).as_deref() {
        Some("agent") => EndReason::Agent,
        Some("transfer") => EndReason::Transfer,
        _ => EndReason::Caller,
    }
}

fn known(value: Option<&str>) -> Option<String> {
    value.filter(|v| !UNKNOWN_PLACEHOLDERS.contains(v)).map(str::to_owned)
}

/// `Timestamp: 1795382851.269373` (seconds.microseconds) → milliseconds.
fn header_timestamp_ms(msg: &Message<'_>) -> Option<engine::TsMs> {
    if !matches!(msg.kind, parsers::ami::MessageKind::Event { .. }) {
        return None;
    }
    let value = msg.get("Timestamp")?;
    let (secs, frac) = value.trim().split_once('.').unwrap_or((value.trim(), "0"));
    let secs: i64 = secs.parse().ok()?;
    let millis: i64 = format!("{:0<3}", frac.get(..3).unwrap_or(frac)).parse().ok()?;
    secs.checked_mul(1000)?.checked_add(millis)
}

#[cfg(test)]
#[path = "ami_tests.rs"]
mod tests;
