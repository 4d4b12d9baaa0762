//! Renders facts as queue_log lines exactly as Asterisk 22's app_queue writes them
//! (`epoch|callid|queue|agent|EVENT|data…`; member name in the agent column except for ADDMEMBER).

use super::fact::Fact;

/// The line Asterisk writes when app_queue loads; starts the file like a freshly started PBX.
pub fn queue_start(at_ms: u64) -> String {
    format!("{}|NONE|NONE|NONE|QUEUESTART|", at_ms / 1000)
}

/// The lines for one fact (none for facts queue_log does not record, such as ringing).
pub fn lines(fact: &Fact) -> Vec<String> {
    let s = fact.at() / 1000;
    match fact {
        Fact::MemberAdded { queue, member, .. } => {
            let paused = if member.paused { "PAUSED" } else { "" };
            vec![format!("{s}|MANAGER|{queue}|{}|ADDMEMBER|{paused}", member.interface)]
        }
        Fact::MemberRemoved { queue, member, .. } => {
            vec![format!("{s}|MANAGER|{queue}|{}|REMOVEMEMBER|", member.interface)]
        }
        Fact::Pause { member, queue, .. } => {
            let (all, one, reason) = if member.paused {
                ("PAUSEALL", "PAUSE", member.paused_reason.as_str())
            } else {
                ("UNPAUSEALL", "UNPAUSE", "")
            };
            let line = |q: &str, event: &str| format!("{s}|NONE|{q}|{}|{event}|{reason}", member.name);
            match queue {
                Some(queue) => vec![line(queue, one)],
                None => std::iter::once(line("NONE", all))
                    .chain(member.queues.iter().map(|q| line(q, one)))
                    .collect(),
            }
        }
        Fact::Penalty { queue, member, .. } => {
            vec![format!("{s}|NONE|{queue}|{}|PENALTY|{}", member.interface, member.penalty)]
        }
        Fact::CallerJoin { call, .. } => vec![format!(
            "{s}|{}|{}|NONE|ENTERQUEUE||{}|{}",
            call.uniqueid, call.queue, call.caller_id, call.position
        )],
        Fact::AgentCalled { .. } => Vec::new(),
        Fact::RingNoAnswer { call, member, ring_ms, .. } => {
            vec![format!("{s}|{}|{}|{}|RINGNOANSWER|{ring_ms}", call.uniqueid, call.queue, member.name)]
        }
        Fact::Connect { call, member, hold_s, ring_s, .. } => vec![format!(
            "{s}|{}|{}|{}|CONNECT|{hold_s}|{}|{ring_s}",
            call.uniqueid,
            call.queue,
            member.name,
            call.dest_uniqueid()
        )],
        Fact::Complete { call, member, hold_s, talk_s, by_agent, .. } => {
            let event = if *by_agent { "COMPLETEAGENT" } else { "COMPLETECALLER" };
            vec![format!(
                "{s}|{}|{}|{}|{event}|{hold_s}|{talk_s}|{}",
                call.uniqueid, call.queue, member.name, call.original_position
            )]
        }
        Fact::CallerLeft { call, wait_s, abandoned, .. } => {
            let event = if *abandoned { "ABANDON" } else { "EXITWITHTIMEOUT" };
            vec![format!(
                "{s}|{}|{}|NONE|{event}|{}|{}|{wait_s}",
                call.uniqueid, call.queue, call.position, call.original_position
            )]
        }
    }
}
