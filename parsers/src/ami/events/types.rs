//! The typed event bodies. Every constructor takes the message as Asterisk wrote it, in any version.

use std::borrow::Cow;

use serde::Serialize;

use super::{EventError, Fields};
use crate::ami::message::Message;

/// Member interface: 12+ `Interface`, ≤11 `Location` (member events, QueueMember) or `Member`.
const INTERFACE_KEYS: &[&str] = &["Interface", "Location", "Member"];
/// Member name: member events `MemberName`, QueueMember `Name`, ≤11 AgentCalled `AgentName`.
const MEMBER_NAME_KEYS: &[&str] = &["MemberName", "Name", "AgentName"];

/// A member row: QueueMemberAdded/Removed/Pause(d)/Penalty/Status/Ringinuse and QueueStatus `QueueMember`.
/// Older versions send fewer fields; absent ones are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberEvent<'a> {
    pub queue: Cow<'a, str>,
    pub interface: Cow<'a, str>,
    pub name: Option<Cow<'a, str>>,
    pub state_interface: Option<Cow<'a, str>>,
    /// `dynamic`, `static` or `realtime` (QueueMember never says `realtime`).
    pub membership: Option<Cow<'a, str>>,
    pub penalty: Option<i64>,
    pub calls_taken: Option<u32>,
    /// Epoch seconds of the end of the last call (0 = none).
    pub last_call: Option<i64>,
    /// Device state code (`enum ast_device_state`).
    pub status: Option<u32>,
    pub paused: Option<bool>,
    /// 13.8+ `PausedReason` (empty = none).
    pub paused_reason: Option<Cow<'a, str>>,
    /// 12–17 QueueMemberPause `Reason`, ≤11 QueueMemberPaused `Reason`.
    pub reason: Option<Cow<'a, str>>,
    /// 13.8+ `InCall`, 11.22–11.25 `IsInCall`.
    pub in_call: Option<bool>,
    pub ringinuse: Option<bool>,
    /// Member wrap-up override in seconds (0 = the queue's).
    pub wrapup_s: Option<u32>,
    pub action_id: Option<Cow<'a, str>>,
}

impl<'a> MemberEvent<'a> {
    pub fn from_message(msg: &Message<'a>) -> Result<Self, EventError> {
        let f = Fields::new(msg);
        Ok(Self {
            queue: f.required(&["Queue"])?,
            interface: f.required(INTERFACE_KEYS)?,
            name: f.text(MEMBER_NAME_KEYS),
            state_interface: f.text(&["StateInterface"]),
            membership: f.text(&["Membership"]),
            penalty: f.number(&["Penalty"]),
            calls_taken: f.number(&["CallsTaken"]),
            last_call: f.number(&["LastCall"]),
            status: f.number(&["Status"]),
            paused: f.flag(&["Paused"]),
            paused_reason: f.text(&["PausedReason"]),
            reason: f.text(&["Reason"]),
            in_call: f.flag(&["InCall", "IsInCall"]),
            ringinuse: f.flag(&["Ringinuse"]),
            wrapup_s: f.number(&["Wrapuptime"]),
            action_id: msg.action_id(),
        })
    }
}

/// QueueCallerJoin/Leave/Abandon (and ≤11 Join/Leave).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallerEvent<'a> {
    pub queue: Cow<'a, str>,
    pub uniqueid: Cow<'a, str>,
    pub channel: Option<Cow<'a, str>>,
    /// `CallerIDNum` (1.4/1.6 Join: `CallerID`).
    pub caller_id_num: Option<Cow<'a, str>>,
    pub caller_id_name: Option<Cow<'a, str>>,
    pub position: Option<u32>,
    /// Callers waiting after this event (Join/Leave).
    pub count: Option<u32>,
    /// QueueCallerAbandon: position when the caller entered.
    pub original_position: Option<u32>,
    /// QueueCallerAbandon: seconds waited.
    pub hold_time_s: Option<u32>,
}

impl<'a> CallerEvent<'a> {
    pub fn from_message(msg: &Message<'a>) -> Result<Self, EventError> {
        let f = Fields::new(msg);
        Ok(Self {
            queue: f.required(&["Queue"])?,
            uniqueid: f.required(&["Uniqueid"])?,
            channel: f.text(&["Channel"]),
            caller_id_num: f.text(&["CallerIDNum", "CallerID"]),
            caller_id_name: f.text(&["CallerIDName"]),
            position: f.number(&["Position"]),
            count: f.number(&["Count"]),
            original_position: f.number(&["OriginalPosition"]),
            hold_time_s: f.number(&["HoldTime"]),
        })
    }
}

/// AgentCalled/RingNoAnswer/Connect/Complete/Dump: a member leg of a queue call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentCall<'a> {
    pub queue: Cow<'a, str>,
    /// The caller's `Uniqueid` (the queue call's id, same as queue_log's callid).
    pub uniqueid: Cow<'a, str>,
    /// 12+ `Interface`, ≤11 `AgentCalled` (AgentCalled) or `Member`.
    pub interface: Cow<'a, str>,
    pub member_name: Option<Cow<'a, str>>,
    /// Seconds the caller waited (Connect, Complete).
    pub hold_time_s: Option<u32>,
    /// AgentRingNoAnswer: **milliseconds**; AgentConnect: seconds. Kept as sent.
    pub ring_time: Option<u32>,
    pub talk_time_s: Option<u32>,
    /// AgentComplete: `caller`, `agent` or `transfer`.
    pub reason: Option<Cow<'a, str>>,
    /// 12+: the member leg (`DestChannel`); ≤11: `DestinationChannel` or the member `Channel`.
    pub member_channel: Option<Cow<'a, str>>,
}

impl<'a> AgentCall<'a> {
    pub fn from_message(msg: &Message<'a>) -> Result<Self, EventError> {
        let f = Fields::new(msg);
        Ok(Self {
            queue: f.required(&["Queue"])?,
            uniqueid: f.required(&["Uniqueid"])?,
            interface: f.required(&["Interface", "AgentCalled", "Member", "Location"])?,
            member_name: f.text(MEMBER_NAME_KEYS),
            hold_time_s: f.number(&["HoldTime"]),
            ring_time: f.number(&["RingTime"]),
            talk_time_s: f.number(&["TalkTime"]),
            reason: f.text(&["Reason"]),
            member_channel: f.text(&["DestChannel", "DestinationChannel"]).or_else(|| {
                let old_member_leg = !msg.is_event("AgentCalled") && f.text(&["DestUniqueid"]).is_none();
                old_member_leg.then(|| f.text(&["Channel"])).flatten()
            }),
        })
    }
}

/// AgentLogin/AgentLogoff (app_agent_pool) and Agentlogin/Agentlogoff (chan_agent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentSession<'a> {
    pub agent: Cow<'a, str>,
    pub logged_in: bool,
    pub channel: Option<Cow<'a, str>>,
    pub uniqueid: Option<Cow<'a, str>>,
    /// Logoff: seconds the agent was logged in.
    pub logintime_s: Option<u32>,
}

impl<'a> AgentSession<'a> {
    pub fn from_message(msg: &Message<'a>, logged_in: bool) -> Result<Self, EventError> {
        let f = Fields::new(msg);
        Ok(Self {
            agent: f.required(&["Agent"])?,
            logged_in,
            channel: f.text(&["Channel"]),
            uniqueid: f.text(&["Uniqueid"]),
            logintime_s: f.number(&["Logintime"]),
        })
    }
}

/// QueueStatus `QueueParams` item. Holdtime/TalkTime are running averages, counters are since reset/reload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueParams<'a> {
    pub queue: Cow<'a, str>,
    pub max: Option<u32>,
    pub strategy: Option<Cow<'a, str>>,
    pub calls: Option<u32>,
    pub hold_time_s: Option<u32>,
    pub talk_time_s: Option<u32>,
    pub completed: Option<u32>,
    pub abandoned: Option<u32>,
    pub service_level_s: Option<u32>,
    pub service_level_perf: Option<Cow<'a, str>>,
    pub weight: Option<i64>,
    pub action_id: Option<Cow<'a, str>>,
}

impl<'a> QueueParams<'a> {
    pub fn from_message(msg: &Message<'a>) -> Result<Self, EventError> {
        let f = Fields::new(msg);
        Ok(Self {
            queue: f.required(&["Queue"])?,
            max: f.number(&["Max"]),
            strategy: f.text(&["Strategy"]),
            calls: f.number(&["Calls"]),
            hold_time_s: f.number(&["Holdtime"]),
            talk_time_s: f.number(&["TalkTime"]),
            completed: f.number(&["Completed"]),
            abandoned: f.number(&["Abandoned"]),
            service_level_s: f.number(&["ServiceLevel"]),
            service_level_perf: f.text(&["ServicelevelPerf"]),
            weight: f.number(&["Weight"]),
            action_id: msg.action_id(),
        })
    }
}

/// QueueStatus `QueueEntry` item: a waiting caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueEntry<'a> {
    pub queue: Cow<'a, str>,
    pub uniqueid: Cow<'a, str>,
    pub position: Option<u32>,
    pub channel: Option<Cow<'a, str>>,
    pub caller_id_num: Option<Cow<'a, str>>,
    pub caller_id_name: Option<Cow<'a, str>>,
    /// Seconds waited so far.
    pub wait_s: Option<u32>,
    pub priority: Option<i64>,
    pub action_id: Option<Cow<'a, str>>,
}

impl<'a> QueueEntry<'a> {
    pub fn from_message(msg: &Message<'a>) -> Result<Self, EventError> {
        let f = Fields::new(msg);
        Ok(Self {
            queue: f.required(&["Queue"])?,
            uniqueid: f.required(&["Uniqueid"])?,
            position: f.number(&["Position"]),
            channel: f.text(&["Channel"]),
            caller_id_num: f.text(&["CallerIDNum", "CallerID"]),
            caller_id_name: f.text(&["CallerIDName"]),
            wait_s: f.number(&["Wait"]),
            priority: f.number(&["Priority"]),
            action_id: msg.action_id(),
        })
    }
}

/// `QueueSummary` item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueSummary<'a> {
    pub queue: Cow<'a, str>,
    pub logged_in: Option<u32>,
    pub available: Option<u32>,
    pub callers: Option<u32>,
    pub hold_time_s: Option<u32>,
    pub talk_time_s: Option<u32>,
    pub longest_hold_time_s: Option<u32>,
    pub action_id: Option<Cow<'a, str>>,
}

impl<'a> QueueSummary<'a> {
    pub fn from_message(msg: &Message<'a>) -> Result<Self, EventError> {
        let f = Fields::new(msg);
        Ok(Self {
            queue: f.required(&["Queue"])?,
            logged_in: f.number(&["LoggedIn"]),
            available: f.number(&["Available"]),
            callers: f.number(&["Callers"]),
            hold_time_s: f.number(&["HoldTime"]),
            talk_time_s: f.number(&["TalkTime"]),
            longest_hold_time_s: f.number(&["LongestHoldTime"]),
            action_id: msg.action_id(),
        })
    }
}

/// `Event: Shutdown`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shutdown<'a> {
    /// `Cleanly` or `Uncleanly`.
    pub shutdown: Option<Cow<'a, str>>,
    pub restart: Option<bool>,
}

impl<'a> Shutdown<'a> {
    pub fn from_message(msg: &Message<'a>) -> Self {
        let f = Fields::new(msg);
        Self { shutdown: f.text(&["Shutdown"]), restart: f.flag(&["Restart"]) }
    }
}

/// `Event: Reload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reload<'a> {
    pub module: Option<Cow<'a, str>>,
    pub status: Option<Cow<'a, str>>,
}

impl<'a> Reload<'a> {
    pub fn from_message(msg: &Message<'a>) -> Self {
        let f = Fields::new(msg);
        Self { module: f.text(&["Module"]), status: f.text(&["Status"]) }
    }
}
