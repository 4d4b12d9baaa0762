//! What app_queue does with the member actions queuecast sends (QueuePause, QueueAdd, QueueRemove,
//! QueuePenalty): which answer it gives and which members change. Pure, so the test fake AMI and the
//! simulator's server answer alike; each [`Answer`] names the recorded case of
//! tests/fixtures/asterisk-22-actions whose bytes are Asterisk's answer (that README lists them all), and the
//! rules below are the ones those recordings show.

use std::collections::BTreeMap;

/// One queue member as app_queue keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub interface: String,
    pub name: String,
    pub penalty: i64,
    pub paused: bool,
    pub reason: String,
    /// Added at runtime (AMI, CLI, dialplan); static members from queues.conf cannot be removed.
    pub dynamic: bool,
}

/// Asterisk's answer to one member action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Paused,
    Unpaused,
    Added,
    Removed,
    PenaltySet,
    /// QueuePause: not a member, no such queue, or a member of another queue — app_queue cannot tell.
    InterfaceNotFound,
    NeedInterfaceAndPaused,
    AlreadyThere,
    AddNoSuchQueue,
    QueueNotSpecified,
    NotThere,
    RemoveNoSuchQueue,
    NotDynamic,
    /// QueuePenalty: every failure.
    InvalidPenalty,
    /// The AMI user lacks `write = agent`.
    PermissionDenied,
}

impl Answer {
    /// Asterisk 22's `Response` (Success or Error) and `Message` for this answer, as recorded.
    pub fn response(self) -> (bool, &'static str) {
        match self {
            Answer::Paused => (true, "Interface paused successfully"),
            Answer::Unpaused => (true, "Interface unpaused successfully"),
            Answer::Added => (true, "Added interface to queue"),
            Answer::Removed => (true, "Removed interface from queue"),
            Answer::PenaltySet => (true, "Interface penalty set successfully"),
            Answer::InterfaceNotFound => (false, "Interface not found"),
            Answer::NeedInterfaceAndPaused => (false, "Need 'Interface' and 'Paused' parameters."),
            Answer::AlreadyThere => (false, "Unable to add interface: Already there"),
            Answer::AddNoSuchQueue => (false, "Unable to add interface to queue: No such queue"),
            Answer::QueueNotSpecified => (false, "'Queue' not specified."),
            Answer::NotThere => (false, "Unable to remove interface: Not there"),
            Answer::RemoveNoSuchQueue => (false, "Unable to remove interface from queue: No such queue"),
            Answer::NotDynamic => (false, "Member not dynamic"),
            Answer::InvalidPenalty => (false, "Invalid interface, queuename or penalty"),
            Answer::PermissionDenied => (false, "Permission denied"),
        }
    }

    /// The recorded case (file prefix and ActionID) whose answer this is.
    pub fn recorded_case(self) -> &'static str {
        match self {
            Answer::Paused => "pause-one",
            Answer::Unpaused => "unpause-one",
            Answer::Added => "add-unpaused",
            Answer::Removed => "remove-ok",
            Answer::PenaltySet => "penalty-one",
            Answer::InterfaceNotFound => "pause-notmember",
            Answer::NeedInterfaceAndPaused => "pause-nopaused",
            Answer::AlreadyThere => "add-dup",
            Answer::AddNoSuchQueue => "add-nosuchqueue",
            Answer::QueueNotSpecified => "add-noqueue",
            Answer::NotThere => "remove-notthere",
            Answer::RemoveNoSuchQueue => "remove-nosuchqueue",
            Answer::NotDynamic => "remove-static",
            Answer::InvalidPenalty => "penalty-notmember",
            Answer::PermissionDenied => "denied-pause",
        }
    }
}

/// A member that changed, and how: the event app_queue raises (one per queue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// `QueueMemberPause` (also for a repeated pause: app_queue raises it again).
    Paused { queue: String, member: Member },
    /// `QueueMemberAdded`.
    Added { queue: String, member: Member },
    /// `QueueMemberRemoved`.
    Removed { queue: String, member: Member },
    /// `QueueMemberPenalty`.
    Penalty { queue: String, member: Member },
}

/// The queues and their members.
#[derive(Debug, Clone, Default)]
pub struct MemberBook {
    /// Queue name → members in join order.
    queues: BTreeMap<String, Vec<Member>>,
}

impl MemberBook {
    pub fn add_queue(&mut self, queue: &str) {
        self.queues.entry(queue.to_owned()).or_default();
    }

    pub fn add_member(&mut self, queue: &str, member: Member) {
        let members = self.queues.entry(queue.to_owned()).or_default();
        members.retain(|m| m.interface != member.interface);
        members.push(member);
    }

    pub fn members(&self, queue: &str) -> &[Member] {
        self.queues.get(queue).map_or(&[], Vec::as_slice)
    }

    /// Applies action `name` with header lookup `get`; None when it is not a member action. `may_write`:
    /// the AMI user has the `agent` write class.
    pub fn apply(
        &mut self,
        name: &str,
        get: impl Fn(&str) -> Option<String>,
        may_write: bool,
    ) -> Option<(Answer, Vec<Effect>)> {
        let name = name.to_ascii_lowercase();
        if !matches!(name.as_str(), "queuepause" | "queueadd" | "queueremove" | "queuepenalty") {
            return None;
        }
        if !may_write {
            return Some((Answer::PermissionDenied, Vec::new()));
        }
        let queue = get("Queue").filter(|q| !q.is_empty());
        let interface = get("Interface").unwrap_or_default();
        Some(match name.as_str() {
            "queuepause" => match get("Paused") {
                Some(paused) if !interface.is_empty() => {
                    let paused = ast_true(&paused);
                    let reason = if paused { get("Reason").unwrap_or_default() } else { String::new() };
                    self.pause(queue.as_deref(), &interface, paused, &reason)
                }
                _ => (Answer::NeedInterfaceAndPaused, Vec::new()),
            },
            "queueadd" => match queue {
                None => (Answer::QueueNotSpecified, Vec::new()),
                Some(queue) => self.add(&queue, &interface, &get),
            },
            "queueremove" => self.remove(queue.as_deref().unwrap_or_default(), &interface),
            _ => {
                // app_queue reads the penalty with atoi: junk is 0, a negative value is refused.
                let penalty = get("Penalty").map_or(0, |p| atoi(&p));
                if penalty < 0 {
                    return Some((Answer::InvalidPenalty, Vec::new()));
                }
                self.penalty(queue.as_deref(), &interface, penalty)
            }
        })
    }

    /// The queues `queue` names (one, or every queue with `interface`) where `interface` is a member.
    fn targets(&self, queue: Option<&str>, interface: &str) -> Vec<String> {
        self.queues
            .iter()
            .filter(|(name, members)| {
                queue.is_none_or(|q| q.eq_ignore_ascii_case(name))
                    && members.iter().any(|m| m.interface == interface)
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    fn member_mut(&mut self, queue: &str, interface: &str) -> Option<&mut Member> {
        self.queues.get_mut(queue)?.iter_mut().find(|m| m.interface == interface)
    }

    fn pause(
        &mut self,
        queue: Option<&str>,
        interface: &str,
        paused: bool,
        reason: &str,
    ) -> (Answer, Vec<Effect>) {
        let answer = if paused { Answer::Paused } else { Answer::Unpaused };
        self.change_member(queue, interface, (answer, Answer::InterfaceNotFound), |queue, m| {
            m.paused = paused;
            m.reason = reason.to_owned();
            Effect::Paused { queue, member: m.clone() }
        })
    }

    fn add(
        &mut self,
        queue: &str,
        interface: &str,
        get: &impl Fn(&str) -> Option<String>,
    ) -> (Answer, Vec<Effect>) {
        let Some(name) = self.queues.keys().find(|q| q.eq_ignore_ascii_case(queue)).cloned() else {
            return (Answer::AddNoSuchQueue, Vec::new());
        };
        if self.member_mut(&name, interface).is_some() {
            return (Answer::AlreadyThere, Vec::new());
        }
        let paused = get("Paused").is_some_and(|p| ast_true(&p));
        let member = Member {
            interface: interface.to_owned(),
            name: get("MemberName").filter(|n| !n.is_empty()).unwrap_or_else(|| interface.to_owned()),
            penalty: get("Penalty").map_or(0, |p| atoi(&p)).max(0),
            paused,
            reason: if paused { get("Reason").unwrap_or_default() } else { String::new() },
            dynamic: true,
        };
        self.add_member(&name, member.clone());
        (Answer::Added, vec![Effect::Added { queue: name, member }])
    }

    fn remove(&mut self, queue: &str, interface: &str) -> (Answer, Vec<Effect>) {
        let Some(name) = self.queues.keys().find(|q| q.eq_ignore_ascii_case(queue)).cloned() else {
            return (Answer::RemoveNoSuchQueue, Vec::new());
        };
        let members = self.queues.get_mut(&name).expect("queue found above");
        let Some(at) = members.iter().position(|m| m.interface == interface) else {
            return (Answer::NotThere, Vec::new());
        };
        if !members[at].dynamic {
            return (Answer::NotDynamic, Vec::new());
        }
        let member = members.remove(at);
        (Answer::Removed, vec![Effect::Removed { queue: name, member }])
    }

    fn penalty(&mut self, queue: Option<&str>, interface: &str, penalty: i64) -> (Answer, Vec<Effect>) {
        self.change_member(queue, interface, (Answer::PenaltySet, Answer::InvalidPenalty), |queue, m| {
            m.penalty = penalty;
            Effect::Penalty { queue, member: m.clone() }
        })
    }

    /// `change` on `interface` in `queue` (or, without one, in every queue it is in): answered `done` with
    /// one effect per queue, or `not_found` with none when it is in none of them.
    fn change_member(
        &mut self,
        queue: Option<&str>,
        interface: &str,
        (done, not_found): (Answer, Answer),
        mut change: impl FnMut(String, &mut Member) -> Effect,
    ) -> (Answer, Vec<Effect>) {
        let targets = self.targets(queue, interface);
        if targets.is_empty() {
            return (not_found, Vec::new());
        }
        let mut effects = Vec::new();
        for q in targets {
            if let Some(m) = self.member_mut(&q, interface) {
                effects.push(change(q, m));
            }
        }
        (done, effects)
    }
}

/// Asterisk's `ast_true`: yes, true, y, t, 1, on (any case).
fn ast_true(value: &str) -> bool {
    matches!(value.trim().to_ascii_lowercase().as_str(), "yes" | "true" | "y" | "t" | "1" | "on")
}

/// C `atoi`: leading digits with an optional sign, anything else 0.
fn atoi(value: &str) -> i64 {
    let v = value.trim();
    let (sign, digits) = match v.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, v.strip_prefix('+').unwrap_or(v)),
    };
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    digits[..end].parse::<i64>().map_or(0, |n| sign * n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> MemberBook {
        let member = |i: &str, n: &str, dynamic| Member {
            interface: i.into(),
            name: n.into(),
            penalty: 0,
            paused: false,
            reason: String::new(),
            dynamic,
        };
        let mut b = MemberBook::default();
        b.add_member("support", member("Local/1001@agents/n", "Alice Smith", true));
        b.add_member("sales", member("Local/1001@agents/n", "Alice Smith", true));
        b.add_member("billing", member("Local/1009@agents/n", "Static Sally", false));
        b
    }

    fn run(b: &mut MemberBook, name: &str, fields: &[(&str, &str)]) -> (Answer, usize) {
        let get = |k: &str| fields.iter().find(|(f, _)| *f == k).map(|(_, v)| v.to_string());
        let (answer, effects) = b.apply(name, get, true).unwrap();
        (answer, effects.len())
    }

    /// The answers of tests/fixtures/asterisk-22-actions/README.md, case by case.
    #[test]
    fn answers_as_recorded() {
        let mut b = book();
        let alice = ("Interface", "Local/1001@agents/n");
        assert_eq!(
            run(&mut b, "QueuePause", &[alice, ("Queue", "support"), ("Paused", "true")]),
            (Answer::Paused, 1)
        );
        assert_eq!(
            run(&mut b, "QueuePause", &[alice, ("Queue", "support"), ("Paused", "true")]),
            (Answer::Paused, 1),
            "again"
        );
        assert_eq!(
            run(&mut b, "QueuePause", &[alice, ("Paused", "false")]),
            (Answer::Unpaused, 2),
            "every queue"
        );
        assert_eq!(
            run(&mut b, "QueuePause", &[alice, ("Queue", "billing"), ("Paused", "1")]),
            (Answer::InterfaceNotFound, 0)
        );
        assert_eq!(
            run(&mut b, "QueuePause", &[alice, ("Queue", "support")]),
            (Answer::NeedInterfaceAndPaused, 0)
        );
        assert_eq!(run(&mut b, "QueueAdd", &[alice, ("Queue", "support")]), (Answer::AlreadyThere, 0));
        assert_eq!(run(&mut b, "QueueAdd", &[alice, ("Queue", "nosuchqueue")]), (Answer::AddNoSuchQueue, 0));
        assert_eq!(run(&mut b, "QueueAdd", &[alice]), (Answer::QueueNotSpecified, 0));
        assert_eq!(
            run(
                &mut b,
                "QueueAdd",
                &[("Interface", "Local/1004@agents/n"), ("Queue", "billing"), ("Penalty", "abc")]
            ),
            (Answer::Added, 1)
        );
        assert_eq!(b.members("billing")[1].penalty, 0);
        assert_eq!(
            run(&mut b, "QueueRemove", &[("Interface", "Local/1009@agents/n"), ("Queue", "billing")]),
            (Answer::NotDynamic, 0)
        );
        assert_eq!(run(&mut b, "QueueRemove", &[alice, ("Queue", "billing")]), (Answer::NotThere, 0));
        assert_eq!(
            run(&mut b, "QueueRemove", &[alice, ("Queue", "nosuchqueue")]),
            (Answer::RemoveNoSuchQueue, 0)
        );
        assert_eq!(run(&mut b, "QueueRemove", &[alice, ("Queue", "sales")]), (Answer::Removed, 1));
        assert_eq!(
            run(&mut b, "QueuePenalty", &[alice, ("Penalty", "-1"), ("Queue", "support")]),
            (Answer::InvalidPenalty, 0)
        );
        assert_eq!(run(&mut b, "QueuePenalty", &[alice, ("Penalty", "3")]), (Answer::PenaltySet, 1));
        assert_eq!(
            run(&mut b, "QueuePenalty", &[("Interface", "Local/9999@agents/n"), ("Penalty", "1")]),
            (Answer::InvalidPenalty, 0)
        );
        let get = |_: &str| None;
        assert_eq!(b.apply("QueueRemove", get, false).map(|(a, _)| a), Some(Answer::PermissionDenied));
        assert_eq!(b.apply("Ping", get, true), None);
    }
}
