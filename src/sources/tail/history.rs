//! Which events of days before today reach the engine.
//!
//! DESIGN: counters and call records are today's; older lines matter only for membership and pause, which
//! no line of today may restate (static members, `persistentmembers`, a pause set last week). So before the
//! day start (less `DAY_START_MARGIN_S`, as the plan) only the events that shape membership are kept. The
//! filter runs before the engine, in the start-up reader and in `replay`, so both build the same state and
//! months of history cost parsing only, not call records that would be dropped at the next day rollover.

use super::startup::DAY_START_MARGIN_S;
use crate::engine::{Event, EventKind, TsMs};
use parsers::queue_log::Head;

/// Events before `calls_from_ms` keep only membership and pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    calls_from_ms: TsMs,
}

impl History {
    /// Calls from the counting day starting at `day_start` (Unix seconds), less the plan's margin.
    pub fn from_day_start(day_start: i64) -> Self {
        Self { calls_from_ms: (day_start - DAY_START_MARGIN_S).saturating_mul(1000) }
    }

    /// Everything is kept (the live follow, or inputs without a known day).
    pub fn everything() -> Self {
        Self { calls_from_ms: TsMs::MIN }
    }

    pub fn keeps(&self, event: &Event) -> bool {
        event.ts_ms >= self.calls_from_ms || shapes_membership(&event.kind)
    }

    /// The same decision on a line's head (its time and event name), before its data is read: a call line
    /// of an earlier day then costs its framing and its five fixed fields only.
    pub fn keeps_head(&self, head: &Head<'_>) -> bool {
        head.time.saturating_mul(1000) >= self.calls_from_ms || verb_shapes_membership(head.name)
    }
}

/// The queue_log verbs that can give a membership event (see `normalize::queue_log`), by name.
fn verb_shapes_membership(name: &[u8]) -> bool {
    matches!(
        name,
        b"QUEUESTART"
            | b"AGENTLOGIN"
            | b"AGENTCALLBACKLOGIN"
            | b"AGENTLOGOFF"
            | b"AGENTCALLBACKLOGOFF"
            | b"ADDMEMBER"
            | b"REMOVEMEMBER"
            | b"PAUSE"
            | b"UNPAUSE"
            | b"PENALTY"
    )
}

/// Membership, pause, penalty, device state and member names (and Asterisk restarts, which end calls but
/// keep members).
pub fn shapes_membership(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::AsteriskStarted
            | EventKind::MemberAdded { .. }
            | EventKind::MemberNamed { .. }
            | EventKind::MemberRemoved { .. }
            | EventKind::MemberPause { .. }
            | EventKind::MemberPenalty { .. }
            | EventKind::MemberDevice { .. }
            | EventKind::AgentSession { .. }
            | EventKind::StatusSnapshot(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{MemberRef, Source};

    fn at(ts_s: i64, kind: EventKind) -> Event {
        Event { ts_ms: ts_s * 1000, source: Source::QueueLog, actor: None, kind }
    }

    #[test]
    fn before_the_day_only_membership_and_pause_pass() {
        let history = History::from_day_start(100_000);
        let pause = EventKind::MemberPause {
            queue: None,
            member: MemberRef::interface("PJSIP/1"),
            paused: true,
            reason: Some("lunch".into()),
        };
        let join = EventKind::CallerJoined {
            queue: "q".into(),
            uniqueid: "1.1".into(),
            caller_id: None,
            caller_name: None,
            position: Some(1),
            linkedid: None,
        };
        assert!(history.keeps(&at(1_000, pause.clone())));
        assert!(!history.keeps(&at(1_000, join.clone())));
        // The margin: a minute before the day start calls are kept, as the plan reads them.
        assert!(history.keeps(&at(100_000 - DAY_START_MARGIN_S, join.clone())));
        assert!(!history.keeps(&at(100_000 - DAY_START_MARGIN_S - 1, join.clone())));
        assert!(History::everything().keeps(&at(0, join)));
        assert!(History::everything().keeps(&at(0, pause)));
    }

    #[test]
    fn heads_and_records_are_kept_alike() {
        let history = History::from_day_start(100_000);
        let verbs = [
            "ENTERQUEUE|||1",
            "ABANDON|1|1|1",
            "EXITEMPTY|1|1|1",
            "EXITWITHTIMEOUT|1",
            "EXITWITHKEY|1|1",
            "WITHDRAW|1|1|1|x",
            "CONNECT|1|u|1",
            "COMPLETECALLER|1|1|1",
            "COMPLETEAGENT|1|1|1",
            "BLINDTRANSFER|1|c|1|1|1",
            "ATTENDEDTRANSFER|APP|x|1|1|1",
            "TRANSFER|1|c",
            "AGENTDUMP|",
            "SYSCOMPAT|",
            "RINGNOANSWER|1",
            "RINGCANCELED|1",
            "ADDMEMBER|",
            "REMOVEMEMBER|",
            "PAUSE|x",
            "UNPAUSE|",
            "PAUSEALL|",
            "UNPAUSEALL|",
            "PENALTY|1",
            "RINGINUSE|1",
            "AGENTLOGIN|c",
            "AGENTLOGOFF|c|1",
            "AGENTCALLBACKLOGIN|1@c",
            "AGENTCALLBACKLOGOFF|1@c|1|r",
            "OUTCALL|s|1|p",
            "QUEUESTART|",
            "CONFIGRELOAD|",
            "DID|1",
            "CUSTOM|x",
        ];
        let mut kept = 0;
        for verb in verbs {
            for time in [1_000, 100_000] {
                let line = format!("{time}|u|q|PJSIP/1|{verb}");
                let parsed = parsers::queue_log::parse_record(line.as_bytes());
                let record = parsed.unwrap_or_else(|error| panic!("{line}: {error}"));
                let name = line.split('|').nth(4).unwrap_or_default();
                let head = Head { time: record.time, name: name.as_bytes() };
                // Refusing on the head loses nothing that normalizing would have kept.
                let event = crate::normalize::queue_log::event(&record);
                if !history.keeps_head(&head) {
                    assert!(event.is_none_or(|e| !history.keeps(&e)), "{line}");
                }
                kept += usize::from(time == 1_000 && history.keeps_head(&head));
            }
        }
        assert_eq!(kept, 10, "membership verbs before the day");
    }
}
