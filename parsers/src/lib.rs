pub mod queue_log; pub mod ami;
