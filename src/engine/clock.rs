//! Time in the engine: event time only. Day rollover of the daily counters, wrap-up ends, and the derived
//! agent status (which depends on "now" through wrap-up).

use super::state::{Agent, AgentIx, MemberCounts, QueueCounters, Status};
use super::{Change, Engine, TsMs};
use jiff::{Timestamp, civil, tz::TimeZone};

/// Ended calls are kept this long past the start of a new day, so a feed's late report of a call that
/// ended just before the rollover is recognised as a duplicate instead of counting as a new call.
const DEDUPE_GRACE_MS: TsMs = 10 * 60 * 1000;

/// One counting day: `[start, end)` in ms; `index` orders days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    pub index: i64,
    pub start: TsMs,
    pub end: TsMs,
}

/// The counting day that contains `ts` in `tz`, days starting at local `starts_at`.
pub fn day_of(ts: TsMs, tz: &TimeZone, starts_at: civil::Time) -> Day {
    let instant = Timestamp::from_millisecond(ts).unwrap_or(Timestamp::UNIX_EPOCH);
    let local = instant.to_zoned(tz.clone()).datetime();
    let mut date = local.date();
    if local.time() < starts_at {
        date = date.yesterday().unwrap_or(date);
    }
    let start_of = |d: civil::Date| {
        d.to_datetime(starts_at).to_zoned(tz.clone()).map(|z| z.timestamp().as_millisecond()).ok()
    };
    let start = start_of(date).unwrap_or(ts);
    let end = date.tomorrow().ok().and_then(start_of).filter(|e| *e > ts).unwrap_or(ts.saturating_add(1));
    // Only order and equality matter: year and day of year identify a civil date.
    let index = i64::from(date.year()) * 1000 + i64::from(date.day_of_year());
    Day { index, start, end }
}

impl Engine {
    /// Moves "now" forward (never back), rolls the day over and ends expired wrap-ups.
    pub(super) fn advance_clock(&mut self, ts: TsMs) {
        if ts > self.now {
            self.now = ts;
        }
        let now = self.now;
        match self.day {
            None => self.day = Some(day_of(now, &self.config.tz, self.config.day_starts_at)),
            Some(day) if now >= day.end => {
                let next = day_of(now, &self.config.tz, self.config.day_starts_at);
                self.day = Some(next);
                self.roll_over(next);
            }
            Some(_) => {}
        }
        // A wrap-up that ended before this event is settled as of its own end time, exactly as a per-second
        // tick would have settled it: the live daemon (ticking) and `replay` (one tick at the end) must agree
        // on `status_since`. Nothing else happened to the agent in between, so its state is that of `until`.
        while let Some((until, a)) = self.timers.wrapup_due(now) {
            if let Some(agent) = self.agent_mut(a)
                && agent.wrapup_scheduled == Some(until)
            {
                agent.wrapup_scheduled = None;
            }
            self.refresh_agent(a, until);
        }
        self.settle_unexplained_leaves(now);
    }

    pub(super) fn today(&self) -> i64 {
        self.day.map(|d| d.index).unwrap_or(0)
    }

    /// New day: today's counters restart at zero; ended calls are forgotten after a grace period.
    fn roll_over(&mut self, day: Day) {
        for agent in self.agents.iter_mut().flatten() {
            if agent.calls_answered != 0 || agent.calls_missed != 0 || agent.talk_seconds != 0 {
                agent.calls_answered = 0;
                agent.calls_missed = 0;
                agent.talk_seconds = 0;
                self.turn.out.push(Change::Agent(agent.id.clone()));
            }
        }
        for queue in self.queues.iter_mut() {
            if queue.counters != QueueCounters::default() {
                queue.counters = QueueCounters::default();
                self.turn.out.push(Change::Queue(queue.name.clone()));
            }
        }
        let keep_after = day.start.saturating_sub(DEDUPE_GRACE_MS);
        self.calls.retain(|call| match call.ended_at() {
            Some(ended) => ended >= keep_after,
            None => true,
        });
    }

    /// Recomputes the derived status of every touched agent and the member counts of its queues.
    pub(super) fn refresh_touched(&mut self) {
        let mut touched = std::mem::take(&mut self.turn.touched);
        let cause = self.turn.cause;
        for &a in &touched {
            self.refresh_screen(a);
            self.refresh_agent(a, cause);
        }
        touched.clear();
        self.turn.touched = touched;
    }

    /// Re-derives the agent's status as of `stamp`: when the cause happened (the event's own time, or the
    /// moment a wrap-up ended), which also becomes `status_since`. Not the latest time seen: the live
    /// daemon's per-second ticks run ahead of queue_log lines stamped a moment earlier, and `replay` has no
    /// such ticks, yet both must build the same state. A wrap-up that is still running as of `stamp` is
    /// (re)scheduled, so a late line's wrap-up ends at its own end time on the next event or tick, exactly as
    /// in `replay`.
    fn refresh_agent(&mut self, a: AgentIx, stamp: TsMs) {
        let uncounted = self.uncounted_queues(a);
        let Some(agent) = self.agents.get_mut(a as usize).and_then(Option::as_mut) else { return };
        let activity = Activity::of(agent, stamp);
        if activity.wrapup
            && let Some(until) = agent.wrapup_until
            && agent.wrapup_scheduled != Some(until)
        {
            agent.wrapup_scheduled = Some(until);
            self.timers.wrapup_ends(until, a);
        }
        let all_paused = !agent.queues.is_empty() && agent.queues.iter().all(|m| m.paused);
        let status = activity.status(agent.queues.is_empty(), all_paused);
        if status != agent.status {
            agent.status = status;
            agent.status_since = stamp.max(agent.status_since);
            self.turn.out.push(Change::Agent(agent.id.clone()));
        }
        for membership in &mut agent.queues {
            let counted = (!uncounted.contains(&membership.queue))
                .then(|| (activity.status(false, membership.paused), membership.paused));
            if membership.counted == counted {
                continue;
            }
            if let Some(queue) = self.queues.get_mut(membership.queue as usize) {
                let before: MemberCounts = queue.counts;
                if let Some(old) = membership.counted {
                    queue.counts.adjust(old, -1);
                }
                if let Some(counted) = counted {
                    queue.counts.adjust(counted, 1);
                }
                if queue.counts != before {
                    self.turn.out.push(Change::Queue(queue.name.clone()));
                }
            }
            membership.counted = counted;
        }
    }
}

/// What the agent is doing, independent of queue membership and pause.
#[derive(Debug, Clone, Copy)]
struct Activity {
    talking: bool,
    ringing: bool,
    unavailable: bool,
    wrapup: bool,
}

impl Activity {
    fn of(agent: &Agent, now: TsMs) -> Self {
        use super::DeviceState as D;
        let ringing = !agent.ringing.is_empty() || agent.device == D::Ringing;
        // A `Local/` member's device reads "in use" while the queue is only ringing it: a busy reading that
        // came after the ring began is the ring. One from before the ring (a direct call, a member rung
        // with ringinuse=yes) is another call, and a bridged queue call is talking too.
        let device_busy = super::visits::device_busy(agent.device);
        let talking =
            !agent.talking.is_empty() || (device_busy && (agent.ringing.is_empty() || agent.busy_when_rung));
        Self {
            talking,
            ringing,
            unavailable: matches!(agent.device, D::Unavailable | D::Invalid),
            wrapup: agent.wrapup_until.is_some_and(|until| until > now),
        }
    }

    /// DESIGN.md status table, highest rule first.
    fn status(self, no_queues: bool, paused: bool) -> Status {
        if no_queues {
            Status::LoggedOut
        } else if self.talking {
            Status::Talking
        } else if self.ringing {
            Status::Ringing
        } else if paused {
            Status::Paused
        } else if self.unavailable {
            Status::Unavailable
        } else if self.wrapup {
            Status::Wrapup
        } else {
            Status::Available
        }
    }
}
