//! Reconnect delays: capped exponential with jitter, so a PBX restart does not see every queuecast (and
//! every other AMI client) reconnect in lock-step, and never below the configured minimum (the packaged
//! config promises delays "between these bounds": a retry 67 ms after a refusal with `backoff_min_ms = 500`
//! would break that promise and load a PBX that is just starting).

use rand::Rng;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    min_ms: u64,
    max_ms: u64,
    attempt: u32,
}

impl Backoff {
    pub fn new(min_ms: u64, max_ms: u64) -> Self {
        let min_ms = min_ms.max(1);
        Self { min_ms, max_ms: max_ms.max(min_ms), attempt: 0 }
    }

    /// The connection proved stable: the next failure starts from the minimum again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The cap for the current attempt: `min · 2^attempt`, at most `max`.
    fn cap_ms(&self) -> u64 {
        self.min_ms.saturating_mul(1u64 << self.attempt.min(32)).min(self.max_ms)
    }

    /// Delay before the next attempt: uniform in the upper half of the cap (`[cap / 2, cap]`, never below
    /// `min`), and the cap doubles. Half the cap keeps enough spread to de-synchronise clients.
    pub fn next_delay(&mut self) -> Duration {
        let cap = self.cap_ms();
        self.attempt = self.attempt.saturating_add(1);
        let low = (cap / 2).max(self.min_ms);
        Duration::from_millis(rand::rng().random_range(low..=cap))
    }

    /// After a rejected login: retrying sooner cannot succeed (the secret is wrong until someone fixes the
    /// config) and Asterisk counts failed logins, so wait the maximum, jittered in its upper half.
    pub fn auth_failure_delay(&mut self) -> Duration {
        self.attempt = self.attempt.saturating_add(1);
        let half = self.max_ms / 2;
        Duration::from_millis(half + rand::rng().random_range(0..=self.max_ms - half))
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;
    use std::time::Duration;

    #[test]
    fn delays_stay_between_min_and_a_doubling_cap() {
        for _ in 0..100 {
            let mut backoff = Backoff::new(500, 30_000);
            for cap in [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000] {
                let delay = backoff.next_delay();
                let low = Duration::from_millis((cap / 2).max(500));
                assert!(delay >= low && delay <= Duration::from_millis(cap), "{delay:?} for cap {cap}");
            }
            backoff.reset();
            assert_eq!(backoff.next_delay(), Duration::from_millis(500));
        }
    }

    #[test]
    fn auth_failure_waits_at_least_half_the_maximum() {
        let mut backoff = Backoff::new(500, 30_000);
        for _ in 0..100 {
            let delay = backoff.auth_failure_delay();
            assert!(delay >= Duration::from_millis(15_000) && delay <= Duration::from_millis(30_000));
        }
    }
}
