//! The typed event bodies. Every constructor takes the message as Asterisk wrote it, in any version.

use std::borrow::Cow;

use serde::Serialize;

use super::{EventError, Fields};
use crate::ami::message::Message;

/// Member interface: 12+ `Interface`, ≤11 `Location` (member events, QueueMember) or `Member`.
const INTERFACE_KEYS: &[&str] = &["Interface", "Location", "Member"];
/// Member name: member events `MemberName`, QueueMember `Name`, ≤11 AgentCalled `AgentName`.
const MEMBER_NAME_KEYS: &[&str] = &["MemberName", "Name", "AgentName"];

/// A typed event body and its `from_message`, from one table: each field, its type and how it is read
/// (`required`, `text`, `number` or `flag` of the first of its keys the message has, or its `ActionID`).
macro_rules! event_body {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* $field:ident: $ty:ty = $read:ident $( ($keys:expr) )? ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        pub struct $name<'a> {
            $( $(#[$field_meta])* pub $field: $ty, )*
        }

        impl<'a> $name<'a> {
            pub fn from_message(msg: &Message<'a>) -> Result<Self, EventError> {
                let f = Fields::new(msg);
                Ok(Self { $( $field: read_field!(f, msg, $read $(, $keys)?), )* })
            }
        }
    };
}

/// One field of [`event_body!`].
macro_rules! read_field {
    ($f:ident, $msg:ident, required, $keys:expr) => {
        $f.required($keys)?
    };
    ($f:ident, $msg:ident, $read:ident, $keys:expr) => {
        $f.$read($keys)
    };
    ($f:ident, $msg:ident, action_id) => {
        $msg.action_id()
    };
}

event_body! {
    /// A member row: QueueMemberAdded/Removed/Pause(d)/Penalty/Status/Ringinuse and QueueStatus `QueueMember`.
    /// Older versions send fewer fields; absent ones are `None`.
    pub struct MemberEvent {
        queue: Cow<'a, str> = required(&["Queue"]),
        interface: Cow<'a, str> = required(INTERFACE_KEYS),
        name: Option<Cow<'a, str>> = text(MEMBER_NAME_KEYS),
        state_interface: Option<Cow<'a, str>> = text(&["StateInterface"]),
        /// `dynamic`, `static` or `realtime` (QueueMember never says `realtime`).
        membership: Option<Cow<'a, str>> = text(&["Membership"]),
        penalty: Option<i64> = number(&["Penalty"]),
        calls_taken: Option<u32> = number(&["CallsTaken"]),
        /// Epoch seconds of the end of the last call (0 = none).
        last_call: Option<i64> = number(&["LastCall"]),
        /// Device state code (`enum ast_device_state`).
        status: Option<u32> = number(&["Status"]),
        paused: Option<bool> = flag(&["Paused"]),
        /// 13.8+ `PausedReason` (empty = none).
        paused_reason: Option<Cow<'a, str>> = text(&["PausedReason"]),
        /// 12–17 QueueMemberPause `Reason`, ≤11 QueueMemberPaused `Reason`.
        reason: Option<Cow<'a, str>> = text(&["Reason"]),
        /// 13.8+ `InCall`, 11.22–11.25 `IsInCall`.
        in_call: Option<bool> = flag(&["InCall", "IsInCall"]),
        ringinuse: Option<bool> = flag(&["Ringinuse"]),
        /// Member wrap-up override in seconds (0 = the queue's).
        wrapup_s: Option<u32> = number(&["Wrapuptime"]),
        action_id: Option<Cow<'a, str>> = action_id,
    }
}

event_body! {
    /// QueueCallerJoin/Leave/Abandon (and ≤11 Join/Leave).
    pub struct CallerEvent {
        queue: Cow<'a, str> = required(&["Queue"]),
        uniqueid: Cow<'a, str> = required(&["Uniqueid"]),
        channel: Option<Cow<'a, str>> = text(&["Channel"]),
        /// `CallerIDNum` (1.4/1.6 Join: `CallerID`).
        caller_id_num: Option<Cow<'a, str>> = text(&["CallerIDNum", "CallerID"]),
        caller_id_name: Option<Cow<'a, str>> = text(&["CallerIDName"]),
        position: Option<u32> = number(&["Position"]),
        /// Callers waiting after this event (Join/Leave).
        count: Option<u32> = number(&["Count"]),
        /// QueueCallerAbandon: position when the caller entered.
        original_position: Option<u32> = number(&["OriginalPosition"]),
        /// QueueCallerAbandon: seconds waited.
        hold_time_s: Option<u32> = number(&["HoldTime"]),
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

event_body! {
    /// QueueStatus `QueueParams` item. Holdtime/TalkTime are running averages, counters are since reset/reload.
    pub struct QueueParams {
        queue: Cow<'a, str> = required(&["Queue"]),
        max: Option<u32> = number(&["Max"]),
        strategy: Option<Cow<'a, str>> = text(&["Strategy"]),
        calls: Option<u32> = number(&["Calls"]),
        hold_time_s: Option<u32> = number(&["Holdtime"]),
        talk_time_s: Option<u32> = number(&["TalkTime"]),
        completed: Option<u32> = number(&["Completed"]),
        abandoned: Option<u32> = number(&["Abandoned"]),
        service_level_s: Option<u32> = number(&["ServiceLevel"]),
        service_level_perf: Option<Cow<'a, str>> = text(&["ServicelevelPerf"]),
        weight: Option<i64> = number(&["Weight"]),
        action_id: Option<Cow<'a, str>> = action_id,
    }
}

event_body! {
    /// QueueStatus `QueueEntry` item: a waiting caller.
    pub struct QueueEntry {
        queue: Cow<'a, str> = required(&["Queue"]),
        uniqueid: Cow<'a, str> = required(&["Uniqueid"]),
        position: Option<u32> = number(&["Position"]),
        channel: Option<Cow<'a, str>> = text(&["Channel"]),
        caller_id_num: Option<Cow<'a, str>> = text(&["CallerIDNum", "CallerID"]),
        caller_id_name: Option<Cow<'a, str>> = text(&["CallerIDName"]),
        /// Seconds waited so far.
        wait_s: Option<u32> = number(&["Wait"]),
        priority: Option<i64> = number(&["Priority"]),
        action_id: Option<Cow<'a, str>> = action_id,
    }
}

event_body! {
    /// `QueueSummary` item.
    pub struct QueueSummary {
        queue: Cow<'a, str> = required(&["Queue"]),
        logged_in: Option<u32> = number(&["LoggedIn"]),
        available: Option<u32> = number(&["Available"]),
        callers: Option<u32> = number(&["Callers"]),
        hold_time_s: Option<u32> = number(&["HoldTime"]),
        talk_time_s: Option<u32> = number(&["TalkTime"]),
        longest_hold_time_s: Option<u32> = number(&["LongestHoldTime"]),
        action_id: Option<Cow<'a, str>> = action_id,
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
