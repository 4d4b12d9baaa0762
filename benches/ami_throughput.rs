//! AMI decoder throughput on real traffic.
//!
//! Builds at least `TARGET_BYTES` of server → client AMI bytes by repeating the real Asterisk 22 captures
//! (tests/fixtures/asterisk-22/*/ami.raw, banners removed so the stream is one long session), then times,
//! best of `RUNS`, on one thread (so rates are per core):
//! * framing: `AmiDecoder::decode` over the whole buffer, touching every field of every message;
//! * framing + typed events: the same plus `events::parse_event` on every message;
//! * streaming: the same framing fed in `READ_CHUNK_BYTES` reads with the codec's Incomplete/retry loop.
//!
//! Each rate is printed as wall time and as the CPU time the thread got (the per-core rate, judged against
//! `GOAL_MB_PER_S`: the machine is shared), with the load average before and after.
//! Run: `cargo bench --bench ami_throughput`.

use parsers::ami::events::parse_event;
use parsers::ami::{AmiDecoder, Message, NextMessage};
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

/// Size of the generated stream: large enough that timings are not dominated by start-up (≥ 100 MB).
const TARGET_BYTES: usize = 128 * 1024 * 1024;
/// Timed runs per measurement; the best is reported (least disturbed by other processes).
const RUNS: usize = 3;
/// AMI decoding throughput the daemon is budgeted on (issue 15), per core.
const GOAL_MB_PER_S: f64 = 300.0;
/// Socket read size simulated by the streaming run (what a TCP read typically returns under load).
const READ_CHUNK_BYTES: usize = 64 * 1024;
const SCENARIOS: [&str; 5] =
    ["abandon-and-timeout", "agent-pool", "ami-actions", "calls-answered", "ringnoanswer"];

#[path = "support/mod.rs"]
mod support;

fn main() {
    let stream = build_stream();
    println!(
        "AMI decoder throughput, {} MB of real Asterisk 22 traffic, best of {RUNS}",
        stream.len() / 1_000_000
    );
    println!("machine: {} CPUs ({}), 1 thread used", support::nproc(), support::cpu_model());
    println!("load average before: {}", support::load());
    report("framing, fields touched", stream.len(), || frame_all(&stream, false));
    report("framing + typed events", stream.len(), || frame_all(&stream, true));
    report("streaming 64 KiB reads", stream.len(), || frame_streamed(&stream));
    println!("load average after: {}", support::load());
}

fn build_stream() -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asterisk-22");
    let mut one_round = Vec::new();
    for scenario in SCENARIOS {
        let path = root.join(scenario).join("ami.raw");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let body = match bytes.iter().position(|&b| b == b'\n') {
            Some(nl) if bytes.starts_with(b"Asterisk Call Manager/") => &bytes[nl + 1..],
            _ => &bytes[..],
        };
        one_round.extend_from_slice(body);
    }
    let mut stream = Vec::with_capacity(TARGET_BYTES + one_round.len());
    while stream.len() < TARGET_BYTES {
        stream.extend_from_slice(&one_round);
    }
    stream
}

/// Sum of field lengths: forces every field to be produced and read.
fn touch(message: &Message<'_>) -> usize {
    message.fields.iter().map(|f| f.key.len() + f.value.len()).sum()
}

fn frame_all(stream: &[u8], typed: bool) -> (usize, usize) {
    let mut decoder = AmiDecoder::new().without_banner();
    let (mut at, mut messages, mut checksum) = (0, 0, 0);
    while let Ok(NextMessage::Complete { message, consumed }) = decoder.decode(&stream[at..]) {
        checksum += touch(&message);
        if typed && let Ok(Some(event)) = parse_event(&message) {
            black_box(&event);
            checksum += 1;
        }
        messages += 1;
        at += consumed;
    }
    assert_eq!(at, stream.len(), "the whole stream decodes");
    (messages, black_box(checksum))
}

fn frame_streamed(stream: &[u8]) -> (usize, usize) {
    let mut decoder = AmiDecoder::new().without_banner();
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES * 4);
    let (mut messages, mut checksum) = (0, 0);
    for chunk in stream.chunks(READ_CHUNK_BYTES) {
        buf.extend_from_slice(chunk);
        let mut at = 0;
        while let Ok(NextMessage::Complete { message, consumed }) = decoder.decode(&buf[at..]) {
            checksum += touch(&message);
            messages += 1;
            at += consumed;
        }
        buf.drain(..at);
    }
    (messages, black_box(checksum))
}

fn report(name: &str, bytes: usize, mut run: impl FnMut() -> (usize, usize)) {
    let (mut wall, mut cpu) = (Duration::MAX, Duration::MAX);
    let mut messages = 0;
    for _ in 0..RUNS {
        let (start, cpu_start) = (Instant::now(), thread_cpu());
        messages = run().0;
        wall = wall.min(start.elapsed());
        cpu = cpu.min(thread_cpu().saturating_sub(cpu_start));
    }
    let rate = |time: Duration| bytes as f64 / time.as_secs_f64() / 1e6;
    let verdict = if rate(cpu) >= GOAL_MB_PER_S { "met" } else { "NOT met" };
    println!(
        "{name:<26} wall {:>7.1} MB/s | CPU {:>7.1} MB/s per core {:>10.0} messages/s ({messages} messages, {:.3} s)  goal {GOAL_MB_PER_S} MB/s per core: {verdict}",
        rate(wall),
        rate(cpu),
        messages as f64 / cpu.as_secs_f64(),
        cpu.as_secs_f64()
    );
}

/// CPU time this thread has run, from the scheduler (`/proc/thread-self/schedstat`, nanoseconds): on a
/// shared machine the wall time includes waiting for a core, so the per-core rate is bytes per CPU second.
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(stat.split_whitespace().next().and_then(|ns| ns.parse().ok()).unwrap_or(0))
}
