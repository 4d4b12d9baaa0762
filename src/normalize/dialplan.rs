//! Member changes made by the dialplan on a channel — the agent's own phone — as AMI shows them.
//!
//! Asterisk's member events never say who made a change, and queue_log names the channel only on
//! ADDMEMBER/REMOVEMEMBER (app_queue writes `NONE` in the second column of every PAUSE/UNPAUSE, whoever
//! asked). But a channel that runs `AddQueueMember`, `RemoveQueueMember`, `PauseQueueMember` or
//! `UnpauseQueueMember` announces it with a `Newexten` event just before the member events that application
//! raises, and afterwards moves on (another `Newexten`) or hangs up. While a channel is inside such an
//! application, member events for the interface it names were made from the phone. A manager user without the
//! `dialplan` read class sees no `Newexten`, and nothing changes.

use parsers::ami::Message;

use crate::engine::Actor;

/// Channels inside a member application at once. Each leaves at its next `Newexten` or `Hangup`; more than
/// this means those were missed (events off, a filter), and forgetting them all keeps memory bounded.
const MAX_RUNNING: usize = 256;

/// Channels running one of app_queue's member applications, with the interface each acts on.
#[derive(Debug, Default)]
pub(super) struct DialplanApps {
    running: Vec<(String, String)>,
}

impl DialplanApps {
    /// Follows a server message: `Newexten` starts (or ends) a channel's application, `Hangup` ends it.
    pub(super) fn observe(&mut self, msg: &Message<'_>) {
        let newexten = msg.is_event("Newexten");
        if !newexten && !msg.is_event("Hangup") {
            return;
        }
        let Some(channel) = msg.get("Channel") else { return };
        self.running.retain(|(c, _)| *c != channel);
        if !newexten {
            return;
        }
        let app = msg.get("Application").unwrap_or_default();
        let data = msg.get("AppData").unwrap_or_default();
        if let Some(interface) = member_app_interface(&app, &data, &channel) {
            if self.running.len() >= MAX_RUNNING {
                self.running.clear();
            }
            self.running.push((channel.into_owned(), interface));
        }
    }

    /// `phone` when a channel is inside a member application for `interface` (Asterisk compares
    /// interfaces without case).
    pub(super) fn actor_for(&self, interface: &str) -> Option<Actor> {
        self.running.iter().any(|(_, i)| i.eq_ignore_ascii_case(interface)).then_some(Actor::Phone)
    }

    pub(super) fn reset(&mut self) {
        self.running.clear();
    }
}

/// The interface a member application acts on: its second argument, or for `AddQueueMember` /
/// `RemoveQueueMember` without one the channel's own device (its name without the `-<sequence>` suffix, as
/// app_queue takes it).
fn member_app_interface(app: &str, data: &str, channel: &str) -> Option<String> {
    let own_device_by_default =
        if ["AddQueueMember", "RemoveQueueMember"].iter().any(|a| a.eq_ignore_ascii_case(app)) {
            true
        } else if ["PauseQueueMember", "UnpauseQueueMember"].iter().any(|a| a.eq_ignore_ascii_case(app)) {
            false
        } else {
            return None;
        };
    match data.split(',').nth(1).map(str::trim).filter(|i| !i.is_empty()) {
        Some(interface) => Some(interface.to_owned()),
        None if own_device_by_default => channel.rsplit_once('-').map(|(device, _)| device.to_owned()),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interface_each_member_application_acts_on() {
        let local = "Local/531004@selfservice-00000003;2";
        assert_eq!(
            member_app_interface("PauseQueueMember", ",Local/1004@agents/n,,Lunch", local).as_deref(),
            Some("Local/1004@agents/n")
        );
        assert_eq!(
            member_app_interface("AddQueueMember", "support,Local/1004@agents/n,,,Dave Brown", local)
                .as_deref(),
            Some("Local/1004@agents/n")
        );
        // Without an interface AddQueueMember/RemoveQueueMember take the calling device itself.
        assert_eq!(
            member_app_interface("AddQueueMember", "support", "PJSIP/1001-0000002a").as_deref(),
            Some("PJSIP/1001")
        );
        assert_eq!(
            member_app_interface("removequeuemember", "support,", "PJSIP/1001-0000002a").as_deref(),
            Some("PJSIP/1001")
        );
        // PauseQueueMember without an interface fails in Asterisk: it changes nothing.
        assert_eq!(member_app_interface("PauseQueueMember", "support", "PJSIP/1001-0000002a"), None);
        assert_eq!(member_app_interface("Queue", "support,tT", "PJSIP/1001-0000002a"), None);
        assert_eq!(member_app_interface("NoOp", "", "PJSIP/1001-0000002a"), None);
    }
}
