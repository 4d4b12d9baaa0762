//! Helpers shared by the integration tests; each file is one concern.

pub mod agent_feed;
pub mod browser;
pub mod commands;
pub mod consumer;
pub mod corpus;
pub mod daemon;
pub mod fake_ami;
pub mod fixtures;
pub mod gateway;
pub mod proxy;
pub mod receiver;
pub mod recorded_answers;
pub mod redis;
pub mod redis_cluster;
pub mod sink;
pub mod updates;
