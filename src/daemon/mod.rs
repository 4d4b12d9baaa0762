//! Lifecycle owner of `queuecast run`: one root `CancellationToken`, every task tracked, a graceful deadline,
//! systemd notify, signals.

pub mod signals;
pub mod systemd;
