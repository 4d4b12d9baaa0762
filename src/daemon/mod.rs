//! Lifecycle owner of `queuecast run`: tasks, cancellation, systemd notify, signals.
