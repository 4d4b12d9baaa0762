//! systemd `Type=notify` glue. Every call is a no-op when not started by systemd (`NOTIFY_SOCKET` unset), so
//! the daemon behaves the same on a terminal.

use sd_notify::NotifyState;
use std::time::Duration;

/// Tells systemd the first state is written and the service is usable.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// One-line summary shown by `systemctl status`.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// Proof of life from the main loop: only sent while the loop really runs, so a wedged engine is restarted.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

pub fn reloading() {
    send(&[NotifyState::Reloading, NotifyState::Status("reloading configuration")]);
}

pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// How often to pet the watchdog: half of `WatchdogSec` (systemd's recommendation), None when disabled.
///
/// Read as libsystemd's `sd_watchdog_enabled` does: `WATCHDOG_USEC` turns it on and `WATCHDOG_PID`, when set,
/// must name this process (it is unset when a wrapper execs us). `sd_notify::watchdog_enabled` insists on
/// `WATCHDOG_PID`, which would leave a watchdog-enabled unit without pets and get it killed.
pub fn watchdog_interval() -> Option<Duration> {
    let var = |name| std::env::var(name).ok();
    watchdog_interval_from(
        var("WATCHDOG_USEC").as_deref(),
        var("WATCHDOG_PID").as_deref(),
        std::process::id(),
    )
}

fn watchdog_interval_from(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|&usec| usec > 0)?;
    if pid.is_some_and(|pid| pid.trim().parse::<u32>().ok() != Some(own_pid)) {
        return None;
    }
    Some(Duration::from_micros(usec / 2))
}

fn send(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(err) = sd_notify::notify(false, states) {
        tracing::warn!(error = %err, "sd_notify failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_follows_libsystemd_rules() {
        let half = Some(Duration::from_millis(200));
        assert_eq!(watchdog_interval_from(Some("400000"), None, 7), half);
        assert_eq!(watchdog_interval_from(Some("400000"), Some("7"), 7), half);
        assert_eq!(watchdog_interval_from(Some("400000"), Some("8"), 7), None, "another process's watchdog");
        assert_eq!(watchdog_interval_from(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval_from(Some("soon"), None, 7), None);
        assert_eq!(watchdog_interval_from(None, Some("7"), 7), None);
    }
}
