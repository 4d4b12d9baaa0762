//! Typed queue/agent events on top of [`Message`]: one vocabulary for Asterisk 1.4 → 23.
//!
//! Old and new spellings are folded here so the layers above never see them: `Join`/`Leave` (≤11) are
//! caller join/leave, `QueueMemberPaused` (≤11) is a pause, `Agentlogin`/`Agentlogoff` (chan_agent) are agent
//! sessions; `Location`/`Member`/`AgentCalled` (≤11) and `Interface` (12+) are the member interface,
//! `AgentName`/`Name`/`MemberName` its name. Key lookup is case-insensitive, which also folds
//! `Holdtime`/`HoldTime` and `Ringtime`/`RingTime`. Units stay as Asterisk sends them (see field docs).
//!
//! Unknown events (and non-event messages) give `Ok(None)`; a known event missing a field without which it
//! means nothing (`Queue`, caller `Uniqueid`, member interface, `Agent`) is an [`EventError`].

mod types;

pub use types::{
    AgentCall, AgentSession, CallerEvent, MemberEvent, QueueEntry, QueueParams, QueueSummary, Reload,
    Shutdown,
};

use std::borrow::Cow;

use serde::Serialize;

use super::message::Message;

/// A queue-relevant AMI event (asynchronous, or an item of a `QueueStatus`/`QueueSummary` answer).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum QueueEvent<'a> {
    MemberAdded(MemberEvent<'a>),
    MemberRemoved(MemberEvent<'a>),
    /// 12+ `QueueMemberPause`, ≤11 `QueueMemberPaused`.
    MemberPause(MemberEvent<'a>),
    MemberPenalty(MemberEvent<'a>),
    /// Device state change (`QueueMemberStatus`).
    MemberStatus(MemberEvent<'a>),
    MemberRinginuse(MemberEvent<'a>),
    /// 12+ `QueueCallerJoin`, ≤11 `Join`.
    CallerJoin(CallerEvent<'a>),
    /// 12+ `QueueCallerLeave`, ≤11 `Leave`: left the waiting list for any reason, answered included.
    CallerLeave(CallerEvent<'a>),
    CallerAbandon(CallerEvent<'a>),
    AgentCalled(AgentCall<'a>),
    AgentRingNoAnswer(AgentCall<'a>),
    AgentConnect(AgentCall<'a>),
    AgentComplete(AgentCall<'a>),
    AgentDump(AgentCall<'a>),
    /// 12+ `AgentLogin`/`AgentLogoff`, chan_agent `Agentlogin`/`Agentlogoff`.
    AgentSession(AgentSession<'a>),
    /// `QueueStatus` answer items.
    QueueParams(QueueParams<'a>),
    QueueMember(MemberEvent<'a>),
    QueueEntry(QueueEntry<'a>),
    QueueStatusComplete {
        action_id: Option<Cow<'a, str>>,
    },
    /// `QueueSummary` answer items.
    QueueSummary(QueueSummary<'a>),
    QueueSummaryComplete {
        action_id: Option<Cow<'a, str>>,
    },
    /// Login finished and Asterisk is fully booted: the moment to ask for `QueueStatus`.
    FullyBooted,
    /// Asterisk is going down; the connection closes right after, without Goodbye.
    Shutdown(Shutdown<'a>),
    /// A module (or everything) was reloaded: queue configuration may have changed, resync.
    Reload(Reload<'a>),
}

/// A known event lacking a field it cannot mean anything without.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AMI event {event} has no {field} field")]
pub struct EventError {
    pub event: String,
    pub field: &'static str,
}

/// Read a typed queue/agent event from `msg`; `Ok(None)` for anything else.
pub fn parse_event<'a>(msg: &Message<'a>) -> Result<Option<QueueEvent<'a>>, EventError> {
    let Some(name) = msg.event_name() else { return Ok(None) };
    let lower = name.to_ascii_lowercase();
    let event = match lower.as_str() {
        "queuememberadded" => QueueEvent::MemberAdded(MemberEvent::from_message(msg)?),
        "queuememberremoved" => QueueEvent::MemberRemoved(MemberEvent::from_message(msg)?),
        "queuememberpause" | "queuememberpaused" => QueueEvent::MemberPause(MemberEvent::from_message(msg)?),
        "queuememberpenalty" => QueueEvent::MemberPenalty(MemberEvent::from_message(msg)?),
        "queuememberstatus" => QueueEvent::MemberStatus(MemberEvent::from_message(msg)?),
        "queuememberringinuse" => QueueEvent::MemberRinginuse(MemberEvent::from_message(msg)?),
        "queuecallerjoin" | "join" => QueueEvent::CallerJoin(CallerEvent::from_message(msg)?),
        "queuecallerleave" | "leave" => QueueEvent::CallerLeave(CallerEvent::from_message(msg)?),
        "queuecallerabandon" => QueueEvent::CallerAbandon(CallerEvent::from_message(msg)?),
        "agentcalled" => QueueEvent::AgentCalled(AgentCall::from_message(msg)?),
        "agentringnoanswer" => QueueEvent::AgentRingNoAnswer(AgentCall::from_message(msg)?),
        "agentconnect" => QueueEvent::AgentConnect(AgentCall::from_message(msg)?),
        "agentcomplete" => QueueEvent::AgentComplete(AgentCall::from_message(msg)?),
        "agentdump" => QueueEvent::AgentDump(AgentCall::from_message(msg)?),
        "agentlogin" => QueueEvent::AgentSession(AgentSession::from_message(msg, true)?),
        "agentlogoff" => QueueEvent::AgentSession(AgentSession::from_message(msg, false)?),
        "queueparams" => QueueEvent::QueueParams(QueueParams::from_message(msg)?),
        "queuemember" => QueueEvent::QueueMember(MemberEvent::from_message(msg)?),
        "queueentry" => QueueEvent::QueueEntry(QueueEntry::from_message(msg)?),
        "queuestatuscomplete" => QueueEvent::QueueStatusComplete { action_id: msg.action_id() },
        "queuesummary" => QueueEvent::QueueSummary(QueueSummary::from_message(msg)?),
        "queuesummarycomplete" => QueueEvent::QueueSummaryComplete { action_id: msg.action_id() },
        "fullybooted" => QueueEvent::FullyBooted,
        "shutdown" => QueueEvent::Shutdown(Shutdown::from_message(msg)),
        "reload" => QueueEvent::Reload(Reload::from_message(msg)),
        _ => return Ok(None),
    };
    Ok(Some(event))
}

/// Field access shared by the typed constructors.
pub(crate) struct Fields<'m, 'a> {
    msg: &'m Message<'a>,
}

impl<'m, 'a> Fields<'m, 'a> {
    pub(crate) fn new(msg: &'m Message<'a>) -> Self {
        Self { msg }
    }

    /// First present key among `keys` (old and new spellings).
    pub(crate) fn text(&self, keys: &[&str]) -> Option<Cow<'a, str>> {
        keys.iter().find_map(|k| self.msg.get(k))
    }

    pub(crate) fn required(&self, keys: &[&'static str]) -> Result<Cow<'a, str>, EventError> {
        self.text(keys).filter(|v| !v.is_empty()).ok_or_else(|| EventError {
            event: self.msg.event_name().map(Cow::into_owned).unwrap_or_default(),
            field: keys.first().copied().unwrap_or("?"),
        })
    }

    pub(crate) fn number<T: std::str::FromStr>(&self, keys: &[&str]) -> Option<T> {
        self.text(keys).and_then(|v| v.trim().parse().ok())
    }

    /// `1`/`0`, `true`/`false`, `yes`/`no` (Asterisk uses all of them across versions).
    pub(crate) fn flag(&self, keys: &[&str]) -> Option<bool> {
        let value = self.text(keys)?;
        match value.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Some(true),
            "0" | "false" | "no" | "off" => Some(false),
            _ => None,
        }
    }
}
