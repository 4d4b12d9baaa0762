//! Whether a command may be executed: `[actions]` and the clock, nothing else. Pure: `now` is a parameter,
//! so every refusal is testable without waiting.

use super::wire::{Action, Code, Command};
use crate::config::{ANY_QUEUE, ActionsConfig};
use std::collections::{HashMap, VecDeque};

/// A command stamped further ahead than this is refused as `stale` too: a producer clock that far ahead
/// would otherwise stretch `max_age_ms` by its error. 5 s tolerates NTP-less VMs without opening a window.
pub const FUTURE_SKEW_MS: i64 = 5_000;
/// The rate limit's window.
pub const RATE_WINDOW_MS: i64 = 60_000;
/// Past this many agents with recent commands, agents whose window is empty are forgotten. Only commands
/// for known agents reach the limiter, so this bounds memory by the call center's size.
const PRUNE_AGENTS_ABOVE: usize = 1_024;

/// A refusal: the result code and the sentence for `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: Code,
    pub error: String,
}

impl Refusal {
    fn new(code: Code, error: impl Into<String>) -> Self {
        Self { code, error: error.into() }
    }
}

/// `[actions]` plus the per-agent sliding window of executed commands.
#[derive(Debug)]
pub struct Policy {
    settings: ActionsConfig,
    /// Agent id → times (ms) of the commands let through in the last [`RATE_WINDOW_MS`].
    recent: HashMap<String, VecDeque<i64>>,
}

impl Policy {
    pub fn new(settings: ActionsConfig) -> Self {
        Self { settings, recent: HashMap::new() }
    }

    pub fn settings(&self) -> &ActionsConfig {
        &self.settings
    }

    /// Checks that need no knowledge of the agent: enabled, action allowed, fresh, named queue allowed.
    /// Done before anything is looked up, so a disabled daemon answers without touching the engine.
    pub fn admit(&self, command: &Command, now_ms: i64) -> Result<(), Refusal> {
        let s = &self.settings;
        if !s.enabled {
            return Err(Refusal::new(Code::Disabled, "commands are disabled ([actions] enabled = false)"));
        }
        if !s.allow.contains(&command.action) {
            return Err(Refusal::new(
                Code::NotAllowed,
                format!("action {} is not allowed ([actions] allow)", command.action),
            ));
        }
        let age = now_ms.saturating_sub(command.ts);
        if age > i64::try_from(s.max_age_ms).unwrap_or(i64::MAX) {
            return Err(Refusal::new(
                Code::Stale,
                format!("command is {age} ms old, older than [actions] max_age_ms = {}", s.max_age_ms),
            ));
        }
        if age < -FUTURE_SKEW_MS {
            return Err(Refusal::new(
                Code::Stale,
                format!("command is stamped {} ms in the future (producer clock?)", -age),
            ));
        }
        if let Some(queue) = &command.queue {
            self.queue_allowed(queue)?;
        }
        Ok(())
    }

    /// For a command on every queue of the agent: each of `queues` must be allowed, or nothing is done (a
    /// partial logout would leave the agent in a state nobody asked for).
    pub fn admit_queues<'a>(&self, queues: impl IntoIterator<Item = &'a str>) -> Result<(), Refusal> {
        queues.into_iter().try_for_each(|q| self.queue_allowed(q))
    }

    fn queue_allowed(&self, queue: &str) -> Result<(), Refusal> {
        let allowed = self.settings.queues.iter().any(|q| q == ANY_QUEUE || q.eq_ignore_ascii_case(queue));
        if allowed {
            Ok(())
        } else {
            Err(Refusal::new(
                Code::QueueNotAllowed,
                format!("queue {queue:?} is not allowed ([actions] queues)"),
            ))
        }
    }

    /// Counts a command for `agent` against `max_per_minute`, refusing it when the last minute is full.
    /// Refused commands do not count, so a flood cannot lock an agent out beyond the window.
    pub fn take_rate(&mut self, agent: &str, now_ms: i64) -> Result<(), Refusal> {
        let limit = self.settings.max_per_minute as usize;
        if self.recent.len() > PRUNE_AGENTS_ABOVE {
            self.recent.retain(|_, times| times.back().is_some_and(|t| now_ms - t < RATE_WINDOW_MS));
        }
        let times = self.recent.entry(agent.to_owned()).or_default();
        while times.front().is_some_and(|t| now_ms - t >= RATE_WINDOW_MS) {
            times.pop_front();
        }
        if times.len() >= limit {
            return Err(Refusal::new(
                Code::RateLimited,
                format!(
                    "more than {limit} commands for this agent within a minute ([actions] max_per_minute)"
                ),
            ));
        }
        times.push_back(now_ms);
        Ok(())
    }
}

/// True when the action changes nothing for a missing queue: `login` always names one (the wire format
/// insists), the others may mean every queue.
pub fn needs_agent_queues(command: &Command) -> bool {
    command.queue.is_none() && command.action != Action::Login
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn settings() -> ActionsConfig {
        ActionsConfig {
            enabled: true,
            allow: vec![Action::Pause, Action::Unpause, Action::Logout],
            queues: vec!["Sales".into(), "support".into()],
            max_age_ms: 10_000,
            max_per_minute: 3,
            consumer: String::new(),
        }
    }

    fn cmd(action: Action, queue: Option<&str>, ts: i64) -> Command {
        let mut c = Command::new("c1", action, "PJSIP/1001", ts);
        c.queue = queue.map(str::to_owned);
        c
    }

    fn code(r: Result<(), Refusal>) -> Option<Code> {
        r.err().map(|r| r.code)
    }

    #[test]
    fn closed_by_default() {
        let p = Policy::new(ActionsConfig::default());
        assert_eq!(code(p.admit(&cmd(Action::Pause, Some("sales"), 0), 0)), Some(Code::Disabled));
        let mut open = ActionsConfig { enabled: true, ..ActionsConfig::default() };
        assert_eq!(
            code(Policy::new(open.clone()).admit(&cmd(Action::Pause, None, 0), 0)),
            Some(Code::NotAllowed)
        );
        open.allow = vec![Action::Pause];
        let p = Policy::new(open);
        assert_eq!(code(p.admit(&cmd(Action::Pause, Some("sales"), 0), 0)), Some(Code::QueueNotAllowed));
        assert_eq!(code(p.admit_queues(["sales"])), Some(Code::QueueNotAllowed));
    }

    #[test]
    fn allow_lists_and_queue_names() {
        let p = Policy::new(settings());
        assert_eq!(code(p.admit(&cmd(Action::Pause, Some("sales"), 0), 0)), None, "case-insensitive");
        assert_eq!(code(p.admit(&cmd(Action::Login, Some("sales"), 0), 0)), Some(Code::NotAllowed));
        assert_eq!(code(p.admit(&cmd(Action::Pause, Some("billing"), 0), 0)), Some(Code::QueueNotAllowed));
        assert_eq!(code(p.admit(&cmd(Action::Logout, None, 0), 0)), None);
        assert_eq!(code(p.admit_queues(["sales", "billing"])), Some(Code::QueueNotAllowed), "all or nothing");
        let any = Policy::new(ActionsConfig { queues: vec![ANY_QUEUE.into()], ..settings() });
        assert_eq!(code(any.admit_queues(["billing"])), None);
    }

    #[test]
    fn stale_and_future_commands() {
        let p = Policy::new(settings());
        let at = 1_000_000;
        assert_eq!(code(p.admit(&cmd(Action::Pause, None, at - 10_000), at)), None, "exactly max_age");
        assert_eq!(code(p.admit(&cmd(Action::Pause, None, at - 10_001), at)), Some(Code::Stale));
        assert_eq!(code(p.admit(&cmd(Action::Pause, None, at + FUTURE_SKEW_MS), at)), None);
        assert_eq!(code(p.admit(&cmd(Action::Pause, None, at + FUTURE_SKEW_MS + 1), at)), Some(Code::Stale));
        assert_eq!(code(p.admit(&cmd(Action::Pause, None, 0), i64::MAX)), Some(Code::Stale), "no overflow");
    }

    #[test]
    fn sliding_minute_per_agent() {
        let mut p = Policy::new(settings());
        for t in [0, 10, 20] {
            assert_eq!(code(p.take_rate("PJSIP/1", t)), None);
        }
        assert_eq!(code(p.take_rate("PJSIP/1", 59_999)), Some(Code::RateLimited));
        assert_eq!(code(p.take_rate("PJSIP/2", 59_999)), None, "per agent");
        assert_eq!(code(p.take_rate("PJSIP/1", 60_000)), None, "the first one left the window");
        assert_eq!(code(p.take_rate("PJSIP/1", 60_001)), Some(Code::RateLimited));
    }

    proptest! {
        /// However commands arrive, no agent ever gets more than `max_per_minute` through in any 60 s.
        #[test]
        fn never_more_than_the_limit_in_any_window(gaps in proptest::collection::vec(0i64..30_000, 1..200)) {
            let mut p = Policy::new(settings());
            let mut now = 0;
            let mut passed = Vec::new();
            for gap in gaps {
                now += gap;
                if p.take_rate("a", now).is_ok() {
                    passed.push(now);
                }
            }
            for (i, t) in passed.iter().enumerate() {
                let in_window = passed[i..].iter().take_while(|u| **u - t < RATE_WINDOW_MS).count();
                prop_assert!(in_window <= 3);
            }
        }
    }
}
