//! queuecast: live Asterisk queue state from queue_log and AMI, published to Redis.
//!
//! Layout follows the data flow: `sources` (queue_log tail, AMI client) → `normalize` → `engine` (pure
//! state) → `sink` (Redis). `daemon` owns the lifecycle, `gateway` reads Redis beside it, and `config` (every
//! component's settings) and `telemetry` are leaves. Imports go down a fixed order of layers (docs/DESIGN.md
//! "Layers", checked by `tests/layers.rs`).

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
pub mod tls;
