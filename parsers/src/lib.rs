//! Pure, synchronous parsers for what Asterisk writes about call queues: `queue_log` lines and AMI messages.
//! No I/O and no async: callers feed bytes and get typed values, `Incomplete` when more bytes are needed, or
//! an error for input that can never become valid.

pub mod ami;
pub mod queue_log;
pub mod text;
