//! Renders facts and QueueStatus answers as AMI messages in the exact shape Asterisk 22 sends
//! (field sets and order copied from tests/fixtures/asterisk-22/*/ami.raw; CRLF line endings).

use super::fact::{CallInfo, Fact, MemberInfo, QueueInfo};
use std::fmt::Display;

/// Asterisk 22's banner (the manager protocol version, not the Asterisk version).
pub const BANNER: &str = "Asterisk Call Manager/11.0.0\r\n";

/// One AMI message under construction.
pub struct Msg(String);

impl Msg {
    pub fn event(name: &str) -> Self {
        Msg(format!("Event: {name}\r\n"))
    }

    /// A broadcast event: carries the class line a `read=agent` user is allowed to see.
    fn agent_event(name: &str) -> Self {
        Msg::event(name).field("Privilege", "agent,all")
    }

    pub fn response(ok: bool, action_id: Option<&str>) -> Self {
        let msg = Msg(format!("Response: {}\r\n", if ok { "Success" } else { "Error" }));
        msg.action_id(action_id)
    }

    /// Logoff's answer.
    pub fn goodbye(action_id: Option<&str>) -> Self {
        Msg("Response: Goodbye\r\n".to_owned()).action_id(action_id)
    }

    pub fn field(mut self, key: &str, value: impl Display) -> Self {
        self.0.push_str(&format!("{key}: {value}\r\n"));
        self
    }

    /// Asterisk omits the line when the action had no ActionID.
    pub fn action_id(self, action_id: Option<&str>) -> Self {
        match action_id {
            Some(id) => self.field("ActionID", id),
            None => self,
        }
    }

    /// The call's queue and the member it rings (`Queue`, `Interface`, `MemberName`).
    fn queue_member(self, call: &CallInfo, m: &MemberInfo) -> Self {
        self.field("Queue", &call.queue).field("Interface", &m.interface).field("MemberName", &m.name)
    }

    pub fn finish(mut self) -> String {
        self.0.push_str("\r\n");
        self.0
    }
}

/// The broadcast events for one fact, in the order Asterisk sends them.
pub fn events(fact: &Fact) -> Vec<String> {
    match fact {
        Fact::MemberAdded { queue, member, .. } => vec![member_event("QueueMemberAdded", queue, member)],
        Fact::MemberRemoved { queue, member, .. } => vec![member_event("QueueMemberRemoved", queue, member)],
        Fact::Pause { member, queue: Some(queue), .. } => {
            vec![member_event("QueueMemberPause", queue, member)]
        }
        Fact::Pause { member, queue: None, .. } => {
            member.queues.iter().map(|q| member_event("QueueMemberPause", q, member)).collect()
        }
        Fact::Penalty { queue, member, .. } => vec![member_event("QueueMemberPenalty", queue, member)],
        Fact::CallerJoin { call, count, .. } => vec![
            caller(Msg::agent_event("QueueCallerJoin"), call)
                .field("Queue", &call.queue)
                .field("Position", call.position)
                .field("Count", count)
                .finish(),
        ],
        Fact::AgentCalled { call, member, .. } => with_status(
            member,
            vec![
                agent_leg(Msg::agent_event("AgentCalled"), call, member, (0, "Down"))
                    .queue_member(call, member)
                    .finish(),
            ],
        ),
        Fact::RingNoAnswer { call, member, ring_ms, .. } => with_status(
            member,
            vec![
                agent_leg(Msg::agent_event("AgentRingNoAnswer"), call, member, (5, "Ringing"))
                    .queue_member(call, member)
                    .field("RingTime", ring_ms)
                    .finish(),
            ],
        ),
        Fact::Connect { call, count, member, hold_s, ring_s, .. } => with_status(
            member,
            vec![
                leave(call, *count),
                agent_leg(Msg::agent_event("AgentConnect"), call, member, (6, "Up"))
                    .queue_member(call, member)
                    .field("HoldTime", hold_s)
                    .field("RingTime", ring_s)
                    .finish(),
            ],
        ),
        Fact::Complete { call, member, hold_s, talk_s, by_agent, .. } => with_status(
            member,
            vec![
                caller(Msg::agent_event("AgentComplete"), call)
                    .queue_member(call, member)
                    .field("HoldTime", hold_s)
                    .field("TalkTime", talk_s)
                    .field("Reason", if *by_agent { "agent" } else { "caller" })
                    .finish(),
            ],
        ),
        Fact::CallerLeft { call, count, wait_s, abandoned, .. } => {
            let mut out = Vec::new();
            if *abandoned {
                out.push(
                    caller(Msg::agent_event("QueueCallerAbandon"), call)
                        .field("Queue", &call.queue)
                        .field("Position", call.position)
                        .field("OriginalPosition", call.original_position)
                        .field("HoldTime", wait_s)
                        .finish(),
                );
            }
            out.push(leave(call, *count));
            out
        }
    }
}

/// QueueStatus answer: Success with `EventList: start`, QueueParams/QueueMember/QueueEntry per queue,
/// then QueueStatusComplete. `queue`/`member` filter like Asterisk's `Queue:`/`Member:` headers.
pub fn queue_status(
    snapshot: &[(QueueInfo, Vec<MemberInfo>, Vec<CallInfo>)],
    action_id: Option<&str>,
    queue: Option<&str>,
    member: Option<&str>,
    now_ms: u64,
) -> String {
    let mut out = Msg::response(true, action_id)
        .field("EventList", "start")
        .field("Message", "Queue status will follow")
        .finish();
    let mut items = 0;
    for (info, members, waiting) in
        snapshot.iter().filter(|(q, _, _)| queue.is_none_or(|name| name == q.name))
    {
        out.push_str(&queue_params(info, action_id));
        items += 1;
        for m in members.iter().filter(|m| member.is_none_or(|i| i == m.interface)) {
            out.push_str(&queue_member(&info.name, m, action_id));
            items += 1;
        }
        for call in waiting {
            let wait_s = now_ms.saturating_sub(call.joined_at) / 1000;
            out.push_str(&queue_entry(call, wait_s, action_id));
            items += 1;
        }
    }
    out.push_str(
        &Msg::event("QueueStatusComplete")
            .action_id(action_id)
            .field("EventList", "Complete")
            .field("ListItems", items)
            .finish(),
    );
    out
}

fn queue_params(q: &QueueInfo, action_id: Option<&str>) -> String {
    Msg::event("QueueParams")
        .field("Queue", &q.name)
        .field("Max", 0)
        .field("Strategy", "rrmemory")
        .field("Calls", q.calls)
        .field("Holdtime", q.avg_hold_s())
        .field("TalkTime", q.avg_talk_s())
        .field("Completed", q.completed)
        .field("Abandoned", q.abandoned)
        .field("ServiceLevel", q.service_level_s)
        .field("ServicelevelPerf", "0.0")
        .field("ServicelevelPerf2", "0.0")
        .field("Weight", 0)
        .action_id(action_id)
        .finish()
}

fn queue_member(queue: &str, m: &MemberInfo, action_id: Option<&str>) -> String {
    Msg::event("QueueMember")
        .field("Queue", queue)
        .field("Name", &m.name)
        .field("Location", &m.interface)
        .member_state(m)
        .field("Wrapuptime", 0)
        .action_id(action_id)
        .finish()
}

fn queue_entry(call: &CallInfo, wait_s: u64, action_id: Option<&str>) -> String {
    Msg::event("QueueEntry")
        .field("Queue", &call.queue)
        .field("Position", call.position)
        .field("Channel", call.channel())
        .field("Uniqueid", &call.uniqueid)
        .field("CallerIDNum", &call.caller_id)
        .field("CallerIDName", format!("Caller {}", call.caller_id))
        .field("ConnectedLineNum", "unknown")
        .field("ConnectedLineName", "unknown")
        .field("Wait", wait_s)
        .field("Priority", 0)
        .action_id(action_id)
        .finish()
}

impl Msg {
    /// The member state block QueueStatus's QueueMember item and the QueueMember* events share
    /// (app_queue writes it once, after the name/interface pair that the two spell differently).
    fn member_state(self, m: &MemberInfo) -> Self {
        self.field("StateInterface", &m.interface)
            .field("Membership", "dynamic")
            .field("Penalty", m.penalty)
            .field("CallsTaken", m.calls_taken)
            .field("LastCall", m.last_call)
            .field("LastPause", m.last_pause)
            .field("LoginTime", m.login_time)
            .field("InCall", u8::from(m.in_call))
            .field("Status", m.status)
            .field("Paused", u8::from(m.paused))
            .field("PausedReason", &m.paused_reason)
    }
}

/// QueueMemberAdded/Pause/Status share app_queue's member block.
fn member_event(name: &str, queue: &str, m: &MemberInfo) -> String {
    Msg::agent_event(name)
        .field("Queue", queue)
        .field("MemberName", &m.name)
        .field("Interface", &m.interface)
        .member_state(m)
        .field("Ringinuse", 0)
        .field("Wrapuptime", 0)
        .finish()
}

/// Device state changes reach every queue the member is in.
fn status_events(m: &MemberInfo) -> Vec<String> {
    m.queues.iter().map(|q| member_event("QueueMemberStatus", q, m)).collect()
}

/// `events` of a call's leg to `m`, then the device state changes that leg causes.
fn with_status(m: &MemberInfo, mut events: Vec<String>) -> Vec<String> {
    events.extend(status_events(m));
    events
}

fn leave(call: &CallInfo, count: usize) -> String {
    caller(Msg::agent_event("QueueCallerLeave"), call)
        .field("Queue", &call.queue)
        .field("Position", call.position)
        .field("Count", count)
        .finish()
}

/// One channel's snapshot block as app_queue writes it (`Channel` … `Linkedid`), each key after `prefix`
/// (`Dest` for the agent leg).
struct Snapshot<'a> {
    prefix: &'a str,
    channel: String,
    state: (u8, &'a str),
    caller_id: (&'a str, String),
    connected_line: (String, String),
    context: String,
    priority: u8,
    uniqueid: String,
    linkedid: &'a str,
}

impl Msg {
    fn snapshot(self, s: Snapshot<'_>) -> Self {
        let key = |name: &str| format!("{}{name}", s.prefix);
        self.field(&key("Channel"), s.channel)
            .field(&key("ChannelState"), s.state.0)
            .field(&key("ChannelStateDesc"), s.state.1)
            .field(&key("CallerIDNum"), s.caller_id.0)
            .field(&key("CallerIDName"), s.caller_id.1)
            .field(&key("ConnectedLineNum"), s.connected_line.0)
            .field(&key("ConnectedLineName"), s.connected_line.1)
            .field(&key("Language"), "en")
            .field(&key("AccountCode"), "")
            .field(&key("Context"), s.context)
            .field(&key("Exten"), s.caller_id.0)
            .field(&key("Priority"), s.priority)
            .field(&key("Uniqueid"), s.uniqueid)
            .field(&key("Linkedid"), s.linkedid)
    }
}

/// The caller's channel snapshot.
fn caller(msg: Msg, call: &CallInfo) -> Msg {
    msg.snapshot(Snapshot {
        prefix: "",
        channel: call.channel(),
        state: (6, "Up"),
        caller_id: (&call.caller_id, format!("Caller {}", call.caller_id)),
        connected_line: ("<unknown>".into(), "<unknown>".into()),
        context: format!("in-{}", call.queue),
        priority: 3,
        uniqueid: call.uniqueid.clone(),
        linkedid: &call.uniqueid,
    })
}

/// Caller snapshot plus the agent leg's `Dest*` snapshot.
fn agent_leg(msg: Msg, call: &CallInfo, m: &MemberInfo, state: (u8, &str)) -> Msg {
    caller(msg, call).snapshot(Snapshot {
        prefix: "Dest",
        channel: call.dest_channel(m),
        state,
        caller_id: (&call.caller_id, "<unknown>".into()),
        connected_line: (call.caller_id.clone(), format!("Caller {}", call.caller_id)),
        context: "agents".into(),
        priority: 1,
        uniqueid: call.dest_uniqueid(),
        linkedid: &call.uniqueid,
    })
}
