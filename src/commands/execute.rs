//! A command as AMI actions (DESIGN.md "Commands from panels"). Pure: the agent's interface and queues come
//! from the engine, the actions go to the AMI session.
//!
//! Field spellings are the ones a real Asterisk 22 accepted in tests/fixtures/asterisk-22-actions (its
//! README lists every answer): QueuePause takes `Paused: true/false` and pauses in every queue without
//! `Queue:`; QueuePenalty without `Queue:` sets every queue; QueueRemove always needs the queue, so a logout
//! from every queue is one QueueRemove per queue the engine knows the agent in.

use super::wire::{Action, Command};
use crate::engine::AgentEventKind;
use crate::sources::ami::ActionRequest;

/// What the engine should expect from a command: the agent event each action causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    pub queue: Option<String>,
    pub change: AgentEventKind,
}

/// The AMI actions of `command` for the member `interface` currently in `queues`, and the agent events they
/// are expected to cause.
pub fn plan(command: &Command, interface: &str, queues: &[String]) -> (Vec<ActionRequest>, Vec<Expectation>) {
    let queue = command.queue.clone();
    let iface = || ("Interface", interface.to_owned());
    match command.action {
        Action::Pause | Action::Unpause => {
            let paused = command.action == Action::Pause;
            let mut fields = vec![iface()];
            fields.extend(queue.clone().map(|q| ("Queue", q)));
            fields.push(("Paused", paused.to_string()));
            if paused && !command.reason.is_empty() {
                fields.push(("Reason", command.reason.clone()));
            }
            let change = if paused { AgentEventKind::Pause } else { AgentEventKind::Unpause };
            (vec![ActionRequest { name: "QueuePause", fields }], vec![Expectation { queue, change }])
        }
        Action::Login => {
            let mut fields = vec![("Queue", queue.clone().unwrap_or_default()), iface()];
            if !command.member_name.is_empty() {
                fields.push(("MemberName", command.member_name.clone()));
            }
            fields.push(("Penalty", command.penalty.unwrap_or(0).to_string()));
            fields.push(("Paused", "false".to_owned()));
            (
                vec![ActionRequest { name: "QueueAdd", fields }],
                vec![Expectation { queue, change: AgentEventKind::Login }],
            )
        }
        Action::Logout => {
            let targets: Vec<String> = match queue {
                Some(q) => vec![q],
                None => queues.to_vec(),
            };
            let actions = targets
                .iter()
                .map(|q| ActionRequest { name: "QueueRemove", fields: vec![("Queue", q.clone()), iface()] })
                .collect();
            let expect = targets
                .into_iter()
                .map(|q| Expectation { queue: Some(q), change: AgentEventKind::Logout })
                .collect();
            (actions, expect)
        }
        Action::Penalty => {
            let mut fields = vec![iface(), ("Penalty", command.penalty.unwrap_or(0).to_string())];
            fields.extend(queue.map(|q| ("Queue", q)));
            (vec![ActionRequest { name: "QueuePenalty", fields }], Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(action: Action, queue: Option<&str>) -> Command {
        let mut c = Command::new("c1", action, "Local/1001@agents/n", 0);
        c.queue = queue.map(str::to_owned);
        c
    }

    fn fields(a: &ActionRequest) -> Vec<(&str, &str)> {
        a.fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    /// A command, the queues the engine knows its agent in, and the one action it is to become (name and
    /// fields) with the agent events that action is to cause.
    type Case<'a> = (Command, &'a [String], &'a str, Vec<(&'a str, &'a str)>, Vec<Expectation>);

    /// The same fields, in the same order, as the recorded cases `pause-one`, `unpause-all`, `add-unpaused`,
    /// `penalty-one` of tests/fixtures/asterisk-22-actions, and the agent event each is to cause.
    #[test]
    fn actions_match_what_asterisk_accepted() {
        let iface = "Local/1001@agents/n";
        let mut pause = cmd(Action::Pause, Some("support"));
        pause.reason = "Lunch".into();
        let mut login = cmd(Action::Login, Some("sales"));
        login.member_name = "Dave Brown".into();
        let mut penalty = cmd(Action::Penalty, Some("support"));
        penalty.penalty = Some(3);
        let expect = |queue: Option<&str>, change| vec![Expectation { queue: queue.map(Into::into), change }];
        let in_support = ["support".to_owned()];
        let cases: [Case<'_>; 4] = [
            (
                pause,
                &[],
                "QueuePause",
                vec![("Interface", iface), ("Queue", "support"), ("Paused", "true"), ("Reason", "Lunch")],
                expect(Some("support"), AgentEventKind::Pause),
            ),
            (
                cmd(Action::Unpause, None),
                &in_support,
                "QueuePause",
                vec![("Interface", iface), ("Paused", "false")],
                expect(None, AgentEventKind::Unpause),
            ),
            (
                login,
                &[],
                "QueueAdd",
                vec![
                    ("Queue", "sales"),
                    ("Interface", iface),
                    ("MemberName", "Dave Brown"),
                    ("Penalty", "0"),
                    ("Paused", "false"),
                ],
                expect(Some("sales"), AgentEventKind::Login),
            ),
            (
                penalty,
                &[],
                "QueuePenalty",
                vec![("Interface", iface), ("Penalty", "3"), ("Queue", "support")],
                Vec::new(),
            ),
        ];
        for (command, queues, name, want_fields, want_expected) in cases {
            let (a, e) = plan(&command, iface, queues);
            assert_eq!(a.len(), 1, "{:?}", command.action);
            assert_eq!(a[0].name, name, "{:?}", command.action);
            assert_eq!(fields(&a[0]), want_fields, "{:?}", command.action);
            assert_eq!(e, want_expected, "{:?}", command.action);
        }
    }

    /// Each with the fields of the recorded case `remove-ok`, in its order.
    #[test]
    fn logout_from_every_queue_is_one_remove_per_queue() {
        let (a, e) = plan(&cmd(Action::Logout, None), "PJSIP/1", &["support".into(), "sales".into()]);
        assert_eq!(a.len(), 2);
        assert_eq!(fields(&a[1]), [("Queue", "sales"), ("Interface", "PJSIP/1")]);
        assert_eq!(e.len(), 2);
        let (a, _) =
            plan(&cmd(Action::Logout, Some("support")), "PJSIP/1", &["support".into(), "sales".into()]);
        assert_eq!(a.len(), 1);
    }
}
