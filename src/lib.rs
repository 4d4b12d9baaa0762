//! queuecast: live Asterisk queue state from queue_log and AMI, published to Redis.
//!
//! Layout follows the data flow: `sources` (queue_log tail, AMI client) → `normalize` → `engine` (pure
//! state) → `sink` (Redis). `daemon` owns the lifecycle, `config` the settings.

pub mod commands;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod gateway;
pub mod metrics;
pub mod normalize;
pub mod replay;
pub mod simulate;
pub mod sink;
pub mod sources;
pub mod telemetry;
