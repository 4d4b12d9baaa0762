//! The documented example consumer (`examples/consumer.py`) as a child process, for the tests that run it.

#![allow(dead_code)]

use super::redis::RedisServer;
use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};

/// The consumer following `pbx1` (exiting after `idle_exit` quiet seconds), its first stdout line once
/// printed (`None`: it printed nothing), and the lines after it.
pub async fn start(
    server: &RedisServer,
    idle_exit: &str,
) -> (Child, Option<std::io::Result<String>>, Lines<BufReader<ChildStdout>>) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/consumer.py");
    let mut consumer = Command::new("python3")
        .arg(script)
        .args(["--redis", &server.url(), "--pbx", "pbx1", "--idle-exit", idle_exit])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 must be installed");
    let mut lines = BufReader::new(consumer.stdout.take().expect("stdout")).lines();
    let (first, lines) = tokio::task::spawn_blocking(move || (lines.next(), lines)).await.unwrap();
    (consumer, first, lines)
}
