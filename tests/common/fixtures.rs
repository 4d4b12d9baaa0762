//! The Asterisk 22 fixture scenarios (tests/fixtures/asterisk-22) as files; also included by
//! benches/startup.rs, which feeds them to the daemon at scale.

#![allow(dead_code)]

use std::path::PathBuf;

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/asterisk-22");

/// Each scenario's `queue_log`, in the order of the scenario names.
pub fn queue_logs() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(FIXTURES)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path().join("queue_log")))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}
