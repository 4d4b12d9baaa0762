//! queue_log record → engine events, per the "wallboard effect" columns of protocol/QUEUE_LOG.md §2.
//!
//! The queue_log says *what happened to a call or member*; everything that is only informational
//! (PAUSEALL/UNPAUSEALL — the per-queue PAUSE/UNPAUSE lines follow —, RINGINUSE, CONFIGRELOAD, DID, OUTCALL,
//! custom events) becomes no event at all.

use crate::engine::{Actor, EndReason, Event, EventKind, LeaveReason, MemberRef, Source};
use parsers::queue_log::{Completed, Left, QlEvent, Record, Text, ToExten};

/// What queue_log writes in the queue, callid and agent columns when there is none.
const NONE: &str = "NONE";

/// The engine events one queue_log line stands for (usually one, often none).
pub fn events(record: &Record<'_>) -> Vec<Event> {
    event(record).into_iter().collect()
}

/// The engine event of one queue_log line, if it stands for one: a line never gives more than one, and the
/// start-up reader calls this for millions of lines, so it returns the event itself and no vector.
pub fn event(record: &Record<'_>) -> Option<Event> {
    kind(record).map(|kind| Event {
        ts_ms: record.time.saturating_mul(1000),
        source: Source::QueueLog,
        actor: actor(record, &kind),
        kind,
    })
}

/// Who made a membership or pause change: the callid column (`CLI`, `MANAGER`, a channel's uniqueid for
/// the dialplan, `NONE`). Other lines' callid is a caller, not an actor.
fn actor(record: &Record<'_>, kind: &EventKind) -> Option<Actor> {
    matches!(
        kind,
        EventKind::MemberAdded { .. } | EventKind::MemberRemoved { .. } | EventKind::MemberPause { .. }
    )
    .then(|| Actor::from_callid(&record.callid.to_cow()))
}

fn kind(record: &Record<'_>) -> Option<EventKind> {
    match &record.event {
        QlEvent::QueueStart => Some(EventKind::AsteriskStarted),
        QlEvent::AgentLogin { .. } | QlEvent::AgentCallbackLogin { .. } => agent_session(record, true),
        QlEvent::AgentLogoff { .. } | QlEvent::AgentCallbackLogoff { .. } => agent_session(record, false),
        QlEvent::AddMember { .. }
        | QlEvent::RemoveMember
        | QlEvent::Pause { .. }
        | QlEvent::Unpause { .. }
        | QlEvent::Penalty { .. } => membership(record),
        QlEvent::PauseAll { .. }
        | QlEvent::UnpauseAll { .. }
        | QlEvent::RingInUse { .. }
        | QlEvent::ConfigReload
        | QlEvent::Did { .. }
        | QlEvent::OutCall { .. }
        | QlEvent::Unknown { .. } => None,
        _ => call(record),
    }
}

/// Events about one caller: they need a queue and the caller's uniqueid.
fn call(record: &Record<'_>) -> Option<EventKind> {
    let queue = column(&record.queue)?;
    let uniqueid = column(&record.callid)?;
    let left = |reason, left: &Left| EventKind::CallerLeft {
        queue: queue.clone(),
        uniqueid: uniqueid.clone(),
        reason,
        position: non_negative(&left.position),
        wait_s: non_negative(&left.wait_s),
    };
    let ended = |reason, times: &Completed| EventKind::CallEnded {
        queue: queue.clone(),
        uniqueid: uniqueid.clone(),
        member: member(record),
        hold_s: non_negative(&times.hold_s),
        talk_s: non_negative(&times.talk_s),
        reason,
    };
    Some(match &record.event {
        QlEvent::EnterQueue { caller_id, position, caller_name, .. } => EventKind::CallerJoined {
            queue,
            uniqueid,
            caller_id: non_empty(caller_id),
            caller_name: caller_name.as_ref().and_then(non_empty),
            position: non_negative(position),
            linkedid: None,
        },
        QlEvent::Abandon(l) => left(LeaveReason::Abandon, l),
        QlEvent::ExitEmpty(l) => left(LeaveReason::Empty, l),
        QlEvent::ExitWithTimeout(l) => left(LeaveReason::Timeout, l),
        QlEvent::ExitWithKey { left: l, .. } => left(LeaveReason::Key, l),
        QlEvent::Withdraw { left: l, .. } => left(LeaveReason::Withdraw, l),
        QlEvent::SysCompat => left(LeaveReason::SysCompat, &Left::default()),
        QlEvent::Connect { hold_s, ring_s, .. } => EventKind::CallConnected {
            queue,
            uniqueid,
            member: member(record)?,
            hold_s: non_negative(hold_s),
            ring_s: non_negative(ring_s),
        },
        QlEvent::CompleteCaller(times) => ended(EndReason::Caller, times),
        QlEvent::CompleteAgent(times) => ended(EndReason::Agent, times),
        QlEvent::BlindTransfer(ToExten { times, .. })
        | QlEvent::AttendedTransfer { times, .. }
        | QlEvent::Transfer(ToExten { times, .. }) => ended(EndReason::Transfer, times),
        QlEvent::AgentDump => EventKind::AgentDump { queue, uniqueid, member: member(record)? },
        QlEvent::RingNoAnswer { .. } => {
            EventKind::RingStopped { queue, uniqueid, member: member(record)?, missed: true }
        }
        QlEvent::RingCanceled { .. } => {
            EventKind::RingStopped { queue, uniqueid, member: member(record)?, missed: false }
        }
        _ => return None,
    })
}

/// ADDMEMBER, REMOVEMEMBER, PAUSE, UNPAUSE, PENALTY: one member in one queue.
fn membership(record: &Record<'_>) -> Option<EventKind> {
    let queue = column(&record.queue)?;
    let member = member(record)?;
    Some(match &record.event {
        QlEvent::AddMember { paused } => EventKind::member_added(queue, member, Some(*paused)),
        QlEvent::RemoveMember => EventKind::MemberRemoved { queue, member },
        QlEvent::Pause { reason } => {
            EventKind::MemberPause { queue: Some(queue), member, paused: true, reason: non_empty(reason) }
        }
        QlEvent::Unpause { reason } => {
            EventKind::MemberPause { queue: Some(queue), member, paused: false, reason: non_empty(reason) }
        }
        QlEvent::Penalty { penalty } => EventKind::MemberPenalty { queue, member, penalty: *penalty },
        _ => return None,
    })
}

/// AGENTLOGIN/AGENTLOGOFF: the agent column is `Agent/<id>` (≤11) or the bare id (12+).
fn agent_session(record: &Record<'_>, logged_in: bool) -> Option<EventKind> {
    Some(EventKind::AgentSession { agent: column(&record.agent)?, logged_in })
}

/// The member named by the agent column: interface or member name (QUEUE_LOG.md §1.4).
fn member(record: &Record<'_>) -> Option<MemberRef> {
    let agent = &record.agent;
    (!agent.is_empty() && *agent != NONE).then(|| MemberRef::from_agent_column(&agent.to_cow()))
}

/// A column's value, or `None` for `NONE`/empty.
fn column(value: &Text<'_>) -> Option<String> {
    (!value.is_empty() && *value != NONE).then(|| value.to_cow().into_owned())
}

fn non_empty(value: &Text<'_>) -> Option<String> {
    (!value.is_empty()).then(|| value.to_cow().into_owned())
}

/// Durations and positions as the engine counts them; a negative value (clock stepped back while the
/// caller waited) is unknown, not a huge number.
fn non_negative(value: &Option<i64>) -> Option<u32> {
    value.and_then(|value| u32::try_from(value).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EventKind as K;

    fn one(line: &str) -> EventKind {
        let record =
            parsers::queue_log::parse_record(line.as_bytes()).unwrap_or_else(|error| panic!("{error}"));
        let mut events = events(&record);
        assert_eq!(events.len(), 1, "{line}: {events:?}");
        let event = events.remove(0);
        assert_eq!((event.ts_ms, event.source), (record.time * 1000, Source::QueueLog));
        event.kind
    }

    fn none(line: &str) {
        let record =
            parsers::queue_log::parse_record(line.as_bytes()).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(events(&record), vec![], "{line}");
    }

    fn s(value: &str) -> String {
        value.to_owned()
    }

    #[test]
    fn caller_lifecycle() {
        assert_eq!(
            one("1546015415|1546015415.757927|201|NONE|ENTERQUEUE||+13238679471|1"),
            K::CallerJoined {
                queue: s("201"),
                uniqueid: s("1546015415.757927"),
                caller_id: Some(s("+13238679471")),
                caller_name: None,
                position: Some(1),
                linkedid: None,
            }
        );
        let joined = one("1|u.1|q|NONE|ENTERQUEUE|||2|Jane_Doe");
        assert!(
            matches!(joined, K::CallerJoined { caller_id: None, caller_name: Some(ref n), .. } if n == "Jane_Doe")
        );
        assert_eq!(
            one("1546015425|1546015415.757927|201|Paty Marin|CONNECT|10|1546015415.757936|9"),
            K::CallConnected {
                queue: s("201"),
                uniqueid: s("1546015415.757927"),
                member: MemberRef::name("Paty Marin"),
                hold_s: Some(10),
                ring_s: Some(9),
            }
        );
        assert_eq!(
            one("1546015547|1546015415.757927|201|PJSIP/100|COMPLETECALLER|10|122|1"),
            K::CallEnded {
                queue: s("201"),
                uniqueid: s("1546015415.757927"),
                member: Some(MemberRef::interface("PJSIP/100")),
                hold_s: Some(10),
                talk_s: Some(122),
                reason: EndReason::Caller,
            }
        );
        assert!(matches!(
            one("1|u|q|Bob|COMPLETEAGENT|1|2|1"),
            K::CallEnded { reason: EndReason::Agent, .. }
        ));
        for line in [
            "1|u|q|Bob|BLINDTRANSFER|200|ctx|4|30|1",
            "1|u|q|Bob|ATTENDEDTRANSFER|BRIDGE|b1|4|30|1",
            "1|u|q|Bob|TRANSFER|200|ctx|4|30|1",
        ] {
            let kind = one(line);
            assert!(
                matches!(
                    kind,
                    K::CallEnded { reason: EndReason::Transfer, hold_s: Some(4), talk_s: Some(30), .. }
                ),
                "{line}: {kind:?}"
            );
        }
    }

    #[test]
    fn leave_reasons() {
        let cases = [
            ("1|u|q|NONE|ABANDON|1|2|6", LeaveReason::Abandon, Some(1), Some(6)),
            ("1|u|q|Bob|ABANDON|1|2|6", LeaveReason::Abandon, Some(1), Some(6)),
            ("1|u|q|NONE|EXITEMPTY|1|1|0", LeaveReason::Empty, Some(1), Some(0)),
            ("1|u|q|NONE|EXITWITHTIMEOUT|1|2|10", LeaveReason::Timeout, Some(1), Some(10)),
            ("1|u|q|NONE|EXITWITHTIMEOUT|3", LeaveReason::Timeout, Some(3), None),
            ("1|u|q|NONE|EXITWITHKEY|1|1|1|5", LeaveReason::Key, Some(1), Some(5)),
            ("1|u|q|NONE|WITHDRAW|3|3|5|moved", LeaveReason::Withdraw, Some(3), Some(5)),
            ("1|u|q|Bob|SYSCOMPAT|", LeaveReason::SysCompat, None, None),
            ("1|u|q|NONE|ABANDON|1|2|-4", LeaveReason::Abandon, Some(1), None),
        ];
        for (line, reason, position, wait_s) in cases {
            let expected = K::CallerLeft { queue: s("q"), uniqueid: s("u"), reason, position, wait_s };
            assert_eq!(one(line), expected, "{line}");
        }
    }

    #[test]
    fn ringing() {
        let missed = one("1795382910|1795382902.0|support|Alice Smith|RINGNOANSWER|8000");
        assert!(
            matches!(missed, K::RingStopped { missed: true, ref member, .. } if *member == MemberRef::name("Alice Smith"))
        );
        assert!(matches!(one("1|u|q|Bob|RINGCANCELED|1017"), K::RingStopped { missed: false, .. }));
        assert_eq!(
            one("1|u|q|Local/1@a/n|AGENTDUMP|"),
            K::AgentDump { queue: s("q"), uniqueid: s("u"), member: MemberRef::interface("Local/1@a/n") }
        );
    }

    #[test]
    fn membership_and_pause() {
        let added = one("1795382990|MANAGER|support|Local/1004@agents/n|ADDMEMBER|PAUSED");
        let K::MemberAdded { queue, member, paused, pause_reason, .. } = added else { panic!("{added:?}") };
        assert_eq!(
            (queue, member, paused, pause_reason),
            (s("support"), MemberRef::interface("Local/1004@agents/n"), Some(true), None)
        );
        assert!(matches!(one("1|CLI|q|PJSIP/1|ADDMEMBER|"), K::MemberAdded { paused: Some(false), .. }));
        assert_eq!(
            one("1|CLI|q|PJSIP/1|REMOVEMEMBER|"),
            K::MemberRemoved { queue: s("q"), member: MemberRef::interface("PJSIP/1") }
        );
        assert_eq!(
            one("1|NONE|support|Alice Smith|PAUSE|Lunch|long"),
            K::MemberPause {
                queue: Some(s("support")),
                member: MemberRef::name("Alice Smith"),
                paused: true,
                reason: Some(s("Lunch|long"))
            }
        );
        assert_eq!(
            one("1|NONE|support|Alice Smith|UNPAUSE|"),
            K::MemberPause {
                queue: Some(s("support")),
                member: MemberRef::name("Alice Smith"),
                paused: false,
                reason: None
            }
        );
        assert_eq!(
            one("1|NONE|support|Local/1003@agents/n|PENALTY|5"),
            K::MemberPenalty {
                queue: s("support"),
                member: MemberRef::interface("Local/1003@agents/n"),
                penalty: 5
            }
        );
    }

    #[test]
    fn sessions_and_system() {
        assert_eq!(one("1|NONE|NONE|NONE|QUEUESTART|"), K::AsteriskStarted);
        assert_eq!(
            one("1|1.1|NONE|7001|AGENTLOGIN|Local/7001@agent-login-00000000;2"),
            K::AgentSession { agent: s("7001"), logged_in: true }
        );
        assert_eq!(
            one("1|1.1|NONE|Agent/7001|AGENTLOGOFF|SIP/7001-01|20"),
            K::AgentSession { agent: s("Agent/7001"), logged_in: false }
        );
    }

    #[test]
    fn informational_lines_give_nothing() {
        for line in [
            "1|NONE|NONE|Alice Smith|PAUSEALL|Lunch",
            "1|NONE|NONE|Alice Smith|UNPAUSEALL|",
            "1|NONE|q|PJSIP/1|RINGINUSE|1",
            "1|NONE|NONE|NONE|CONFIGRELOAD|",
            "1|u|201|NONE|DID|+15556667775",
            "1|u|q|Bob|OUTCALL|ANSWER|42|50|555",
            "1|NONE|support|Local/1004@agents/n|CUSTOMNOTE|hello from AMI|with a pipe",
            // A call event without its queue or a member event without its member cannot be placed.
            "1|u|NONE|NONE|ENTERQUEUE||555|1",
            "1|NONE|q|NONE|PAUSE|x",
            "1|u|q|NONE|CONNECT|1|2|3",
        ] {
            none(line);
        }
    }
}
