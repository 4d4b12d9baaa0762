//! Typed queue_log lines. Text borrows from the input buffer (`Text`: valid UTF-8 is never copied; Latin-1
//! is converted when read), so parsing a line allocates nothing and a record has nothing to drop.
//!
//! Numbers are `i64` because Asterisk prints them with `%d`/`%ld` from C arithmetic (a hold time computed
//! across a clock step can be negative); normalizers decide what a negative value means. Statistics that
//! the event means without (hold, talk, wait, ring times, positions) are `Option`: an empty field — which a
//! `QueueLog()` dialplan call with an empty variable writes — gives `None` instead of losing the whole
//! line. Numbers the event *is* (PENALTY, RINGINUSE) are required.

use crate::text::Text;
use serde::Serialize;
use std::borrow::Cow;

/// One queue_log line: `<epoch>|<callid>|<queue>|<agent>|<EVENT>|<data...>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record<'a> {
    /// Write time of the line, seconds since the Unix epoch (UTC).
    pub time: i64,
    /// Caller's uniqueid, or `NONE`/`MANAGER`/`CLI`/`REALTIME`/the agent channel's uniqueid (QUEUE_LOG.md §1.2).
    pub callid: Text<'a>,
    /// Queue name, or `NONE`.
    pub queue: Text<'a>,
    /// Member name, interface, agent id or `NONE`, depending on the event (QUEUE_LOG.md §1.4).
    pub agent: Text<'a>,
    #[serde(flatten)]
    pub event: QlEvent<'a>,
}

/// The event name and its data fields. Variants carrying several Asterisk versions' layouts make the
/// fields a version lacks `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event")]
pub enum QlEvent<'a> {
    /// `url|callerid[|origpos[|callerid_name]]` (2 fields ≤1.6, 3 fields 1.8+, 4 with `log-caller-id-name`).
    #[serde(rename = "ENTERQUEUE")]
    EnterQueue { url: Text<'a>, caller_id: Text<'a>, position: Option<i64>, caller_name: Option<Text<'a>> },
    #[serde(rename = "ABANDON")]
    Abandon(Left),
    #[serde(rename = "EXITEMPTY")]
    ExitEmpty(Left),
    /// Or only `pos` (some code paths before 11.18 / 13.4).
    #[serde(rename = "EXITWITHTIMEOUT")]
    ExitWithTimeout(Left),
    /// `key|pos|origpos|waittime`, or `key|pos` (≤1.6).
    #[serde(rename = "EXITWITHKEY")]
    ExitWithKey {
        key: Text<'a>,
        #[serde(flatten)]
        left: Left,
    },
    /// `pos|origpos|waittime|withdraw_info` (info is free text).
    #[serde(rename = "WITHDRAW")]
    Withdraw {
        #[serde(flatten)]
        left: Left,
        info: Text<'a>,
    },
    /// `holdtime|agent_leg_uniqueid|ringtime` (1 field in 1.2, 2 in 1.4).
    #[serde(rename = "CONNECT")]
    Connect { hold_s: Option<i64>, agent_uniqueid: Option<Text<'a>>, ring_s: Option<i64> },
    #[serde(rename = "COMPLETECALLER")]
    CompleteCaller(Completed),
    #[serde(rename = "COMPLETEAGENT")]
    CompleteAgent(Completed),
    /// 12+.
    #[serde(rename = "BLINDTRANSFER")]
    BlindTransfer(ToExten<'a>),
    /// `method|target[|peer]|holdtime|calltime|origpos` (12+): method `BRIDGE` (target = bridge id), `APP`
    /// (target = application) or `LINK` (target and peer = the two channel names).
    #[serde(rename = "ATTENDEDTRANSFER")]
    AttendedTransfer {
        method: Text<'a>,
        target: Text<'a>,
        peer: Option<Text<'a>>,
        #[serde(flatten)]
        times: Completed,
    },
    /// ≤11: as BLINDTRANSFER (1.6.1+), without origpos (1.4–1.6.0), `exten|context` (1.2).
    #[serde(rename = "TRANSFER")]
    Transfer(ToExten<'a>),
    /// Member hung up during the announcement; no data.
    #[serde(rename = "AGENTDUMP")]
    AgentDump,
    /// Caller and member could not be bridged; no data.
    #[serde(rename = "SYSCOMPAT")]
    SysCompat,
    /// `ringtime_ms`.
    #[serde(rename = "RINGNOANSWER")]
    RingNoAnswer { ring_ms: Option<i64> },
    /// `ms_since_ring_start` (15+).
    #[serde(rename = "RINGCANCELED")]
    RingCanceled { ring_ms: Option<i64> },
    /// `` or `PAUSED`.
    #[serde(rename = "ADDMEMBER")]
    AddMember { paused: bool },
    #[serde(rename = "REMOVEMEMBER")]
    RemoveMember,
    /// `reason` (free text, may be empty).
    #[serde(rename = "PAUSE")]
    Pause { reason: Text<'a> },
    #[serde(rename = "UNPAUSE")]
    Unpause { reason: Text<'a> },
    /// Informational: one PAUSE line per queue follows.
    #[serde(rename = "PAUSEALL")]
    PauseAll { reason: Text<'a> },
    /// Informational: one UNPAUSE line per queue follows.
    #[serde(rename = "UNPAUSEALL")]
    UnpauseAll { reason: Text<'a> },
    /// `new_penalty`.
    #[serde(rename = "PENALTY")]
    Penalty { penalty: i64 },
    /// `0` or `1`.
    #[serde(rename = "RINGINUSE")]
    RingInUse { enabled: bool },
    /// `channel_name`.
    #[serde(rename = "AGENTLOGIN")]
    AgentLogin { channel: Text<'a> },
    /// `channel_name|logintime[|reason]`.
    #[serde(rename = "AGENTLOGOFF")]
    AgentLogoff { channel: Text<'a>, login_s: Option<i64>, reason: Option<Text<'a>> },
    /// `exten@context` (1.4 and add-on dialplans).
    #[serde(rename = "AGENTCALLBACKLOGIN")]
    AgentCallbackLogin { location: Text<'a> },
    /// `exten@context|logintime|reason` (1.4–1.6 and add-on dialplans; later fields optional).
    #[serde(rename = "AGENTCALLBACKLOGOFF")]
    AgentCallbackLogoff { location: Text<'a>, login_s: Option<i64>, reason: Option<Text<'a>> },
    /// `status|talktime|params` (15+ `QueueUpdate()`; params free text).
    #[serde(rename = "OUTCALL")]
    OutCall { status: Text<'a>, talk_s: Option<i64>, params: Text<'a> },
    #[serde(rename = "QUEUESTART")]
    QueueStart,
    #[serde(rename = "CONFIGRELOAD")]
    ConfigReload,
    /// FreePBX custom event: the dialled DID.
    #[serde(rename = "DID")]
    Did { did: Text<'a> },
    /// Any other event (`QueueLog()` application/AMI action, add-ons, vendor patches): kept, never rejected.
    #[serde(rename = "UNKNOWN")]
    Unknown { name: Text<'a>, data: Vec<Text<'a>> },
}

/// `pos|origpos|waittime`: a caller who left the queue unanswered (ABANDON, EXITEMPTY, EXITWITHTIMEOUT, and
/// inside EXITWITHKEY and WITHDRAW).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Left {
    pub position: Option<i64>,
    pub orig_position: Option<i64>,
    pub wait_s: Option<i64>,
}

/// `holdtime|calltime|origpos`: an answered call that ended (COMPLETECALLER, COMPLETEAGENT, and at the end
/// of every transfer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Completed {
    pub hold_s: Option<i64>,
    pub talk_s: Option<i64>,
    pub orig_position: Option<i64>,
}

/// `exten|context|holdtime|calltime|origpos`: an answered call sent on to an extension (BLINDTRANSFER,
/// TRANSFER).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToExten<'a> {
    pub exten: Text<'a>,
    pub context: Text<'a>,
    #[serde(flatten)]
    pub times: Completed,
}

impl QlEvent<'_> {
    /// The event name as written in the log (decoded from Latin-1 for an unknown event so written).
    pub fn name(&self) -> Cow<'_, str> {
        Cow::Borrowed(match self {
            Self::EnterQueue { .. } => "ENTERQUEUE",
            Self::Abandon { .. } => "ABANDON",
            Self::ExitEmpty { .. } => "EXITEMPTY",
            Self::ExitWithTimeout { .. } => "EXITWITHTIMEOUT",
            Self::ExitWithKey { .. } => "EXITWITHKEY",
            Self::Withdraw { .. } => "WITHDRAW",
            Self::Connect { .. } => "CONNECT",
            Self::CompleteCaller { .. } => "COMPLETECALLER",
            Self::CompleteAgent { .. } => "COMPLETEAGENT",
            Self::BlindTransfer { .. } => "BLINDTRANSFER",
            Self::AttendedTransfer { .. } => "ATTENDEDTRANSFER",
            Self::Transfer { .. } => "TRANSFER",
            Self::AgentDump => "AGENTDUMP",
            Self::SysCompat => "SYSCOMPAT",
            Self::RingNoAnswer { .. } => "RINGNOANSWER",
            Self::RingCanceled { .. } => "RINGCANCELED",
            Self::AddMember { .. } => "ADDMEMBER",
            Self::RemoveMember => "REMOVEMEMBER",
            Self::Pause { .. } => "PAUSE",
            Self::Unpause { .. } => "UNPAUSE",
            Self::PauseAll { .. } => "PAUSEALL",
            Self::UnpauseAll { .. } => "UNPAUSEALL",
            Self::Penalty { .. } => "PENALTY",
            Self::RingInUse { .. } => "RINGINUSE",
            Self::AgentLogin { .. } => "AGENTLOGIN",
            Self::AgentLogoff { .. } => "AGENTLOGOFF",
            Self::AgentCallbackLogin { .. } => "AGENTCALLBACKLOGIN",
            Self::AgentCallbackLogoff { .. } => "AGENTCALLBACKLOGOFF",
            Self::OutCall { .. } => "OUTCALL",
            Self::QueueStart => "QUEUESTART",
            Self::ConfigReload => "CONFIGRELOAD",
            Self::Did { .. } => "DID",
            Self::Unknown { name, .. } => return name.to_cow(),
        })
    }
}
