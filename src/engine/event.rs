//! The engine's input: one normalized vocabulary for both feeds.
//!
//! queue_log lines and AMI messages are translated into these values by `crate::normalize`; the engine never
//! sees a raw line or message. Every event carries its own time because the engine must not read a clock:
//! that keeps replay and the live daemon byte-for-byte comparable.

use serde::Serialize;

/// Milliseconds since the Unix epoch (UTC).
pub type TsMs = i64;

/// One fact about the call center, stamped with when it happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// When the fact happened. queue_log gives whole seconds (×1000); AMI events are stamped on receipt
    /// (or from their `Timestamp:` header when manager.conf has `timestampevents=yes`).
    pub ts_ms: TsMs,
    /// Which feed said it. When both feeds report the same fact differently, queue_log wins for call
    /// outcomes (it tells timeout from abandon) and AMI wins for device state and pause reasons.
    pub source: Source,
    /// Who made the change, when the feed says (queue_log's second column on membership lines; AMI only for
    /// member changes a channel's dialplan made, `phone`); None = the feed does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<super::Actor>,
    pub kind: EventKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    QueueLog,
    Ami,
    /// Time passing with nothing else happening (wrap-up ends, day rollover).
    Clock,
}

/// A queue member as a feed names it. queue_log writes the member name for some events and the interface
/// for others; AMI usually gives both. The engine resolves either to one agent (keyed by interface).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize)]
pub struct MemberRef {
    pub interface: Option<String>,
    pub name: Option<String>,
}

impl MemberRef {
    pub fn interface(interface: impl Into<String>) -> Self {
        Self { interface: Some(interface.into()), name: None }
    }
    pub fn name(name: impl Into<String>) -> Self {
        Self { interface: None, name: Some(name.into()) }
    }
    pub fn both(interface: impl Into<String>, name: impl Into<String>) -> Self {
        Self { interface: Some(interface.into()), name: Some(name.into()) }
    }
    /// A queue_log agent column: an interface when it looks like one (`TECH/…`), a member name otherwise.
    pub fn from_agent_column(value: &str) -> Self {
        if looks_like_interface(value) { Self::interface(value) } else { Self::name(value) }
    }
}

/// `PJSIP/1001`, `Local/1001@agents/n`, `SIP/100`, `Agent/1001`, `DAHDI/1`: a technology, a slash, something.
/// Member names may contain spaces but never start with a channel technology followed by `/`.
pub fn looks_like_interface(value: &str) -> bool {
    match value.split_once('/') {
        Some((tech, rest)) => {
            !tech.is_empty()
                && !rest.is_empty()
                && tech.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }
        None => false,
    }
}

/// Asterisk device state (`enum ast_device_state`, identical numbers from 1.4 to 23).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    Unknown,
    NotInUse,
    InUse,
    Busy,
    Invalid,
    Unavailable,
    Ringing,
    RingInUse,
    OnHold,
}

impl DeviceState {
    /// AMI `Status:` code. Unknown codes map to `Unknown`, which app_queue treats as available.
    pub fn from_code(code: u32) -> Self {
        match code {
            1 => Self::NotInUse,
            2 => Self::InUse,
            3 => Self::Busy,
            4 => Self::Invalid,
            5 => Self::Unavailable,
            6 => Self::Ringing,
            7 => Self::RingInUse,
            8 => Self::OnHold,
            _ => Self::Unknown,
        }
    }
}

/// Why a caller left a queue without being answered (queue_log tells them apart; AMI does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// Caller hung up (ABANDON).
    Abandon,
    /// Queue() timeout (EXITWITHTIMEOUT).
    Timeout,
    /// No usable members / leavewhenempty (EXITEMPTY).
    Empty,
    /// Caller pressed an exit digit (EXITWITHKEY).
    Key,
    /// AMI QueueWithdrawCaller (WITHDRAW).
    Withdraw,
    /// Could not be bridged (SYSCOMPAT); Asterisk counts it as abandoned.
    SysCompat,
    /// AMI QueueCallerAbandon: left unanswered for one of the reasons above, which AMI does not say.
    /// queue_log's precise reason replaces it when both feeds report the call.
    Unspecified,
}

/// How a connected call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    Caller,
    Agent,
    Transfer,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// Asterisk (re)started (QUEUESTART): calls in progress are gone; membership is kept (static and
    /// persistent members come back without ADDMEMBER lines).
    AsteriskStarted,
    /// Member joined a queue (ADDMEMBER, QueueMemberAdded). Optional fields are only known from AMI.
    MemberAdded {
        queue: String,
        member: MemberRef,
        paused: Option<bool>,
        pause_reason: Option<String>,
        penalty: Option<i64>,
        device: Option<DeviceState>,
        in_call: Option<bool>,
        /// Member-level wrap-up override in seconds (0 = the queue's).
        wrapup_s: Option<u32>,
        /// `dynamic`, `static` or `realtime`.
        membership: Option<String>,
    },
    /// The member name of an interface, learned from a host file (astdb `Queue/PersistentMembers`) and not
    /// from a feed: it carries no time and changes no membership, only which agent a name means.
    MemberNamed {
        interface: String,
        name: String,
    },
    /// queuecast itself is about to send an AMI action that makes this change (a command from a panel): the
    /// matching change reported within `agent_events::HOLD_MS` of this event's time is credited to `api`.
    /// Changes no state. `agent` is the member interface; `queue` None = any queue of the agent.
    CommandSent {
        agent: String,
        queue: Option<String>,
        change: super::AgentEventKind,
    },
    /// Member left a queue (REMOVEMEMBER, QueueMemberRemoved).
    MemberRemoved {
        queue: String,
        member: MemberRef,
    },
    /// Pause state in one queue, or in every queue of the member when `queue` is None.
    MemberPause {
        queue: Option<String>,
        member: MemberRef,
        paused: bool,
        reason: Option<String>,
    },
    MemberPenalty {
        queue: String,
        member: MemberRef,
        penalty: i64,
    },
    /// Device state of the member (QueueMemberStatus). `queue` None = applies to the device everywhere.
    MemberDevice {
        queue: Option<String>,
        member: MemberRef,
        device: DeviceState,
        in_call: Option<bool>,
    },
    /// Caller entered a queue (ENTERQUEUE, QueueCallerJoin / Join).
    CallerJoined {
        queue: String,
        uniqueid: String,
        caller_id: Option<String>,
        caller_name: Option<String>,
        position: Option<u32>,
        /// AMI `Linkedid`: the channel this one was created for (an attended transfer's consultation
        /// channel names the original caller). None from queue_log.
        linkedid: Option<String>,
    },
    /// A member starts ringing for a caller (AgentCalled).
    AgentRinging {
        queue: String,
        uniqueid: String,
        member: MemberRef,
    },
    /// A member stopped ringing without answering: `missed` for RINGNOANSWER/AgentRingNoAnswer (counts in
    /// `calls_missed`), not missed for RINGCANCELED (the caller went away).
    RingStopped {
        queue: String,
        uniqueid: String,
        member: MemberRef,
        missed: bool,
    },
    /// Member answered and is bridged (CONNECT, AgentConnect).
    CallConnected {
        queue: String,
        uniqueid: String,
        member: MemberRef,
        hold_s: Option<u32>,
        ring_s: Option<u32>,
    },
    /// Connected call ended (COMPLETECALLER/COMPLETEAGENT/TRANSFER/BLINDTRANSFER/ATTENDEDTRANSFER, AgentComplete).
    CallEnded {
        queue: String,
        uniqueid: String,
        member: Option<MemberRef>,
        hold_s: Option<u32>,
        talk_s: Option<u32>,
        reason: EndReason,
    },
    /// AgentComplete without the caller's channel fields (Asterisk sends it so when the caller's channel is
    /// already gone): the member's connected call in that queue ended.
    MemberCallEnded {
        queue: String,
        member: MemberRef,
        hold_s: Option<u32>,
        talk_s: Option<u32>,
        reason: EndReason,
    },
    /// Caller left unanswered (ABANDON, EXITWITH*, EXITEMPTY, WITHDRAW, SYSCOMPAT, QueueCallerAbandon).
    CallerLeft {
        queue: String,
        uniqueid: String,
        reason: LeaveReason,
        position: Option<u32>,
        wait_s: Option<u32>,
    },
    /// Caller left the waiting list for any reason, including being connected (QueueCallerLeave / Leave).
    /// Says nothing about the outcome; only removes the caller from `waiting`.
    CallerDequeued {
        queue: String,
        uniqueid: String,
    },
    /// Member hung up during the announcement (AGENTDUMP, AgentDump); the caller keeps waiting.
    AgentDump {
        queue: String,
        uniqueid: String,
        member: MemberRef,
    },
    /// app_agent_pool / chan_agent session (AGENTLOGIN/AGENTLOGOFF, AgentLogin/AgentLogoff). Informational:
    /// queue membership does not change.
    AgentSession {
        agent: String,
        logged_in: bool,
    },
    /// The authoritative answer to AMI `QueueStatus`: reconcile membership, pause and waiting callers with it.
    StatusSnapshot(StatusSnapshot),
    /// Time passed (wrap-up ends, day rollover); the daemon sends one every second, replay one at the end.
    Tick,
}

impl EventKind {
    /// A `MemberAdded` saying no more than the queue, the member and maybe the pause, as queue_log's
    /// ADDMEMBER does.
    pub fn member_added(queue: impl Into<String>, member: MemberRef, paused: Option<bool>) -> Self {
        Self::MemberAdded {
            queue: queue.into(),
            member,
            paused,
            pause_reason: None,
            penalty: None,
            device: None,
            in_call: None,
            wrapup_s: None,
            membership: None,
        }
    }

    /// The QueueMemberAdded of a member just logged in through AMI: unpaused, penalty 0, dynamic, its
    /// device not said.
    pub fn dynamic_member_added(queue: impl Into<String>, member: MemberRef) -> Self {
        let mut kind = Self::member_added(queue, member, Some(false));
        if let Self::MemberAdded { penalty, membership, .. } = &mut kind {
            *penalty = Some(0);
            *membership = Some("dynamic".into());
        }
        kind
    }
}

/// A complete `QueueStatus` answer (QueueParams + QueueMember + QueueEntry items up to QueueStatusComplete).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct StatusSnapshot {
    /// What the answer is authoritative for: what the client asked (`Queue:`/`Member:` filters).
    pub scope: SnapshotScope,
    pub queues: Vec<QueueParams>,
    pub members: Vec<MemberStatus>,
    pub entries: Vec<QueueEntry>,
}

/// Which part of the state a `QueueStatus` answer covers. Members and callers inside the scope that the
/// answer does not list are gone; outside the scope nothing may be removed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum SnapshotScope {
    /// `Action: QueueStatus` without filters: the whole truth.
    All,
    /// `Queue: X`.
    Queue { queue: String },
    /// `Member: IFACE` (optionally with `Queue: X`): only that member's rows (and no callers).
    Member { queue: Option<String>, interface: String },
    /// The request is unknown (e.g. a capture without the client's bytes): add and update what is listed,
    /// remove nothing.
    #[default]
    Partial,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct QueueParams {
    pub queue: String,
    pub strategy: Option<String>,
    /// Service-level threshold in seconds (`servicelevel` in queues.conf).
    pub service_level_s: Option<u32>,
    /// Callers waiting now.
    pub calls: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct MemberStatus {
    pub queue: String,
    /// `Location` in QueueMember.
    pub interface: String,
    /// `Name` in QueueMember.
    pub name: Option<String>,
    pub state_interface: Option<String>,
    pub membership: Option<String>,
    pub penalty: Option<i64>,
    pub calls_taken: Option<u32>,
    pub paused: bool,
    pub pause_reason: Option<String>,
    pub device: Option<DeviceState>,
    pub in_call: Option<bool>,
    pub wrapup_s: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct QueueEntry {
    pub queue: String,
    pub uniqueid: String,
    pub caller_id: Option<String>,
    pub caller_name: Option<String>,
    pub position: Option<u32>,
    /// Seconds the caller has waited so far.
    pub wait_s: Option<u32>,
}
