//! `queuecast parse queue-log|ami FILE…`: one JSON object per parsed item on stdout; bad input → one line on
//! stderr with file:line and the reason, keep going, exit 1 if anything was bad.

mod ami;
mod queue_log;

pub use ami::ami;
pub use queue_log::queue_log;
