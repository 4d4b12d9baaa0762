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
pub fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0u64;
    if sd_notify::watchdog_enabled(false, &mut usec) && usec > 0 {
        Some(Duration::from_micros(usec / 2))
    } else {
        None
    }
}

fn send(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(err) = sd_notify::notify(false, states) {
        tracing::warn!(error = %err, "sd_notify failed");
    }
}
