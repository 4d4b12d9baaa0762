pub mod ami;
pub mod queue_log;
