//! queue_log record → engine events.
