//! Members present before the first queue_log line (queues.conf `member =>` lines, astdb's persistent
//! members), as the events that add them. The daemon and `replay` both start from these, so they build the
//! same state.

use crate::engine::{Event, EventKind, MemberRef, Source, TsMs};

/// A member present before the first queue_log line: a queues.conf `member => interface[,penalty[,name[,
/// state_interface[,ringinuse[,wrapuptime]]]]]` line, or a dynamic member Asterisk restored from astdb
/// (`sources::astdb`), which writes no queue_log line either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticMember {
    /// Lower-cased queue name.
    pub queue: String,
    pub interface: String,
    pub penalty: i64,
    pub name: Option<String>,
    /// Pause state when the source knows it (astdb does; queues.conf does not, and Asterisk does not
    /// persist a static member's pause).
    pub paused: Option<bool>,
    pub pause_reason: Option<String>,
    /// From astdb (a dynamic member) rather than queues.conf.
    pub dynamic: bool,
}

/// Members present from the start (queues.conf static members, astdb persistent members) as `MemberAdded`
/// at `ts`: they exist since Asterisk loaded them, and later queue_log lines about them win.
pub fn static_member_events(members: &[StaticMember], ts: TsMs) -> Vec<Event> {
    members
        .iter()
        .map(|m| Event {
            ts_ms: ts,
            source: Source::Clock,
            actor: None,
            kind: EventKind::MemberAdded {
                queue: m.queue.clone(),
                member: MemberRef { interface: Some(m.interface.clone()), name: m.name.clone() },
                paused: m.paused,
                pause_reason: m.pause_reason.clone(),
                penalty: Some(m.penalty),
                device: None,
                in_call: None,
                wrapup_s: None,
                membership: Some(if m.dynamic { "dynamic" } else { "static" }.into()),
            },
        })
        .collect()
}
