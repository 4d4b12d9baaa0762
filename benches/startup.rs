//! Start-up on a big queue_log: what a user waits for, next to what reading the file costs at all.
//!
//! Builds a queue_log of `STARTUP_BENCH_MIB` MiB (default 1024) from the real Asterisk 22 lines of
//! `tests/fixtures/asterisk-22/*/queue_log`: the scenarios repeated with their times shifted so the file spans
//! ~4 months ending now (so the last day is "today" for the daemon) and every copy with its own uniqueids. It
//! is written under a temp dir and deleted afterwards. Then, in one run:
//! 1. `wc -l` (GNU coreutils);
//! 2. a plain split-and-count: the bench's own Rust reads the file in 1 MiB chunks, splits lines on `\n` and
//!    fields on `|`, and counts lines per event name (the floor for "read every line once"); then the same
//!    in a plain Python loop (`python3`, skipped without it), the script a user would time first;
//! 3. `queuecast replay --json` on the file;
//! 4. `queuecast run` (queue_log only, so the whole file is replayed) against a private `redis-server`, timed
//!    until `meta.queue_log` says `following`; its RSS before (the same daemon following an empty queue_log),
//!    at the peak, when it reached `following`, and 3 s after; then, for the RSS after to be read against the
//!    state a day leaves, the same day followed live: the daemon started on the lines before today, today's
//!    lines appended once it follows, its RSS 3 s after it published the last (`startup/live.rs`).
//!
//! Each with seconds, MB/s, peak RSS (VmHWM) and RSS afterwards (VmRSS) from /proc/PID/status. The machine's
//! load averages are printed before and after: on a shared machine the times are upper bounds.
//!
//! Options (environment):
//! - `STARTUP_BENCH_MIB`: size of the generated file (default 1024);
//! - `STARTUP_BENCH_FULL_DAY=1`: the last 24 h of copies are squeezed into today so far (midnight UTC to
//!   now), so "today", whose calls the daemon and `replay` build in full, holds a whole day of calls at
//!   whatever hour the bench runs (without it, today holds the hours since midnight only);
//! - `STARTUP_BENCH_FILE=PATH`: use the queue_log at PATH if it exists, else build it there and keep it
//!   (for profiling the same file again; the options above then apply only when it is built).
//!
//! Run: `cargo bench --bench startup` (needs `redis-server` and `wc` on PATH).

#[path = "../tests/common/fixtures.rs"]
mod fixtures;
#[path = "startup/live.rs"]
mod live;
#[path = "../tests/common/redis.rs"]
mod redis_server;

use fixtures::FIXTURES;
use redis_server::RedisServer;
use std::collections::HashMap;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_queuecast");
/// The generated log spans this many days, ending now.
const SPAN_DAYS: i64 = 120;
/// How often a child's /proc status is sampled for its peak.
const SAMPLE_EVERY: Duration = Duration::from_millis(5);
/// How long the daemon may take to reach `following` before the bench gives up.
const DAEMON_DEADLINE: Duration = Duration::from_secs(600);
/// The daemon's RSS is read this long after it reached `following` (allocator trims, settled tasks).
const SETTLE: Duration = Duration::from_secs(3);
const MIB: f64 = 1024.0 * 1024.0;

fn main() {
    let mib: u64 = std::env::var("STARTUP_BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    println!("startup bench: {mib} MiB queue_log; {} cores; load average {}", cores(), loadavg());
    let full_day = std::env::var("STARTUP_BENCH_FULL_DAY").is_ok_and(|v| v == "1");
    let dir = tempfile::tempdir().expect("tempdir");
    let kept = std::env::var_os("STARTUP_BENCH_FILE").map(PathBuf::from);
    let path = kept.clone().unwrap_or_else(|| dir.path().join("queue_log"));
    if kept.is_some() && path.is_file() {
        println!("using {} as it is", path.display());
    } else {
        let built = Instant::now();
        let lines = build_queue_log(&path, mib * 1024 * 1024, full_day);
        let today =
            if full_day { "a whole day of calls squeezed into today" } else { "today since midnight" };
        println!(
            "built {} lines, {:.0} MiB in {:.1} s (real Asterisk 22 lines, {SPAN_DAYS} days ending now, {today})",
            lines,
            std::fs::metadata(&path).expect("stat").len() as f64 / MIB,
            built.elapsed().as_secs_f64()
        );
    }
    let bytes = std::fs::metadata(&path).expect("stat").len();
    println!("{:<34} {:>8} {:>9} {:>12} {:>12}", "", "seconds", "MB/s", "peak RSS", "RSS after");
    let wc = run_child(Command::new("wc").arg("-l").arg(&path));
    report("wc -l", bytes, &wc);
    let count = split_and_count(&path);
    report("split-and-count (Rust loop)", bytes, &count);
    if let Some(python) = python_split_and_count(&path) {
        report("split-and-count (Python loop)", bytes, &python);
    }
    let replay = run_child(Command::new(BIN).args(["replay", "--json", "--queue-log"]).arg(&path));
    report("queuecast replay --json", bytes, &replay);
    let daemon = daemon_start_up(dir.path(), &path);
    report("queuecast run → following", bytes, &daemon.measured);
    println!(
        "daemon RSS before start-up (following an empty queue_log): {:.1} MiB; at `following`: {:.1} MiB; \
         {} s after: {:.1} MiB ({:+.1} MiB)",
        daemon.before_kib as f64 / 1024.0,
        daemon.at_following_kib as f64 / 1024.0,
        SETTLE.as_secs(),
        daemon.measured.rss_after_kib as f64 / 1024.0,
        (daemon.measured.rss_after_kib as f64 - daemon.before_kib as f64) / 1024.0
    );
    println!(
        "the same day followed live (the lines before today at start, today's {} appended after): RSS {:.1} MiB \
         {} s after the last; the start-up's RSS after is {:+.1} MiB from it",
        daemon.live.lines,
        daemon.live.rss_kib as f64 / 1024.0,
        SETTLE.as_secs(),
        (daemon.measured.rss_after_kib as f64 - daemon.live.rss_kib as f64) / 1024.0
    );
    println!("load average after: {}", loadavg());
}

/// One measured step.
struct Measured {
    seconds: f64,
    peak_kib: u64,
    rss_after_kib: u64,
}

fn report(what: &str, bytes: u64, m: &Measured) {
    println!(
        "{what:<34} {:>8.2} {:>9.0} {:>8.1} MiB {:>8.1} MiB",
        m.seconds,
        bytes as f64 / 1e6 / m.seconds,
        m.peak_kib as f64 / 1024.0,
        m.rss_after_kib as f64 / 1024.0
    );
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}

/// `VmHWM` and `VmRSS` of a process, in KiB.
fn memory(pid: &str) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// Runs a child to its end, sampling its peak RSS; its RSS "after" is the last sample before it exited.
fn run_child(command: &mut Command) -> Measured {
    let started = Instant::now();
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn");
    let pid = child.id().to_string();
    let (mut peak, mut last) = (0, 0);
    loop {
        if let Some((hwm, rss)) = memory(&pid) {
            peak = peak.max(hwm);
            last = rss;
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(SAMPLE_EVERY);
    }
    Measured { seconds: started.elapsed().as_secs_f64(), peak_kib: peak, rss_after_kib: last }
}

/// The fixture scenarios' lines (without their line ends), each scenario in file order.
fn scenarios() -> Vec<Vec<Vec<u8>>> {
    fixtures::queue_logs()
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).expect("fixture");
            bytes
                .split(|&b| b == b'\n')
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
                .filter(|l| l.iter().position(|&b| b == b'|').is_some_and(|i| i > 0))
                .collect::<Vec<_>>()
        })
        .filter(|lines| !lines.is_empty())
        .collect()
}

fn epoch(line: &[u8]) -> i64 {
    let end = line.iter().position(|&b| b == b'|').unwrap_or(0);
    std::str::from_utf8(&line[..end]).ok().and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Where copy k of the scenarios starts, and how much its lines' offsets are squeezed: copies start at
/// `now - SPAN + k × step`; with `full_day`, the copies of the last 24 h are squeezed into midnight (UTC) to
/// now and the earlier ones end at midnight, so today holds a whole day's share of the file.
struct Timeline {
    now: i64,
    start: i64,
    step: f64,
    /// Midnight of today and today's length so far / 24 h, with `full_day`.
    squeeze: Option<(i64, f64)>,
}

impl Timeline {
    fn new(copies: u64, full_day: bool) -> Self {
        let now = jiff::Timestamp::now().as_second();
        let midnight = now - now.rem_euclid(86_400);
        Self {
            now,
            start: now - SPAN_DAYS * 86_400,
            step: ((SPAN_DAYS * 86_400) as f64 / copies as f64).max(1.0),
            squeeze: full_day.then(|| (midnight, (now - midnight) as f64 / 86_400.0)),
        }
    }

    /// Copy k: its start and the cap on its lines' offsets (below the next copy's start).
    fn copy(&self, k: u64) -> (i64, i64) {
        let nominal = self.start as f64 + k as f64 * self.step;
        let (base, scale) = match self.squeeze {
            None => (nominal, 1.0),
            Some((midnight, scale)) => {
                let last_day = (self.now - 86_400) as f64;
                if nominal < last_day {
                    (nominal - last_day + midnight as f64, 1.0)
                } else {
                    (midnight as f64 + (nominal - last_day) * scale, scale)
                }
            }
        };
        (base as i64, ((self.step * scale) as i64 - 1).max(0))
    }
}

/// Writes copies of the scenarios round-robin until `target` bytes, copy k at `Timeline::copy` (the step
/// from the copies needed, `copies_to_fill`; times past now are held at now); its lines keep their offsets
/// from the scenario's first line, capped below the step so the file stays in time order. Returns the
/// number of lines.
fn build_queue_log(path: &Path, target: u64, full_day: bool) -> u64 {
    let scenarios = scenarios();
    let timeline = Timeline::new(copies_to_fill(&scenarios, target), full_day);
    let now = timeline.now;
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).expect("create"));
    let (mut written, mut lines) = (0u64, 0u64);
    for k in 0.. {
        if written >= target {
            break;
        }
        let lines_of = &scenarios[(k % scenarios.len() as u64) as usize];
        let first = epoch(&lines_of[0]);
        let (base, cap) = timeline.copy(k);
        for line in lines_of {
            let t = (base + (epoch(line) - first).clamp(0, cap)).min(now);
            let (uniqueid, rest) = callid_and_rest(line);
            let text = if !has_uniqueid(uniqueid) {
                format!("{t}|{}|", String::from_utf8_lossy(uniqueid))
            } else {
                format!("{t}|{}-{k}|", String::from_utf8_lossy(uniqueid))
            };
            out.write_all(text.as_bytes()).expect("write");
            out.write_all(rest).expect("write");
            out.write_all(b"\n").expect("write");
            written += (text.len() + rest.len() + 1) as u64;
            lines += 1;
        }
    }
    out.flush().expect("flush");
    lines
}

/// A line's callid column and what follows it (the epoch is rewritten, so it is dropped).
fn callid_and_rest(line: &[u8]) -> (&[u8], &[u8]) {
    let mut fields = line.splitn(3, |&b| b == b'|').skip(1);
    (fields.next().unwrap_or(b""), fields.next().unwrap_or(b""))
}

fn has_uniqueid(callid: &[u8]) -> bool {
    callid != b"NONE" && !callid.is_empty()
}

/// How many copies `build_queue_log` writes to reach `target` bytes: a copy's lines as they are, each with
/// its `\n` and, where it has a uniqueid, `-k` (the epochs keep their 10 digits). Exact, so that the last
/// copy lands at the end of the timeline (now) and "today" holds what the options say.
fn copies_to_fill(scenarios: &[Vec<Vec<u8>>], target: u64) -> u64 {
    let sizes: Vec<(u64, u64)> = scenarios
        .iter()
        .map(|lines| {
            let bytes = lines.iter().map(|l| l.len() as u64 + 1).sum();
            let with_uniqueid = lines.iter().filter(|l| has_uniqueid(callid_and_rest(l).0)).count();
            (bytes, with_uniqueid as u64)
        })
        .collect();
    let (mut written, mut k) = (0u64, 0u64);
    while written < target {
        let (bytes, with_uniqueid) = sizes[(k % sizes.len() as u64) as usize];
        written += bytes + with_uniqueid * (1 + u64::from(k.checked_ilog10().unwrap_or(0)) + 1);
        k += 1;
    }
    k.max(1)
}

/// The floor: read every byte, split lines and fields, count per event name. In this process, so its peak
/// is measured from a reset of VmHWM (`/proc/self/clear_refs` 5) when the kernel allows it.
fn split_and_count(path: &Path) -> Measured {
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let started = Instant::now();
    let mut file = std::fs::File::open(path).expect("open");
    let mut buf = vec![0u8; 1 << 20];
    let mut held = 0usize;
    let mut counts: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf[held..]).expect("read");
        if n == 0 {
            break;
        }
        let filled = held + n;
        let mut start = 0;
        while let Some(nl) = buf[start..filled].iter().position(|&b| b == b'\n') {
            let line = &buf[start..start + nl];
            if let Some(event) = line.split(|&b| b == b'|').nth(4) {
                match counts.get_mut(event) {
                    Some(c) => *c += 1,
                    None => {
                        counts.insert(event.to_vec(), 1);
                    }
                }
                total += 1;
            }
            start += nl + 1;
        }
        buf.copy_within(start..filled, 0);
        held = filled - start;
    }
    let seconds = started.elapsed().as_secs_f64();
    assert!(total > 0 && !counts.is_empty(), "the generated file has events");
    let (peak, rss) = memory("self").unwrap_or((0, 0));
    Measured { seconds, peak_kib: if reset { peak } else { 0 }, rss_after_kib: rss }
}

/// What a user would write first to count a queue_log's events: each line split on `|`, counted by name.
const PYTHON_SPLIT_AND_COUNT: &str = "\
import collections, sys
counts = collections.Counter()
with open(sys.argv[1], 'rb') as lines:
    for line in lines:
        fields = line.split(b'|', 5)
        if len(fields) > 4:
            counts[fields[4]] += 1
assert counts
";

/// The Python split-and-count as a child (its own peak RSS); `None` without a working `python3`.
fn python_split_and_count(path: &Path) -> Option<Measured> {
    let works = Command::new("python3").arg("-c").arg("pass").status().is_ok_and(|s| s.success());
    works.then(|| run_child(Command::new("python3").arg("-c").arg(PYTHON_SPLIT_AND_COUNT).arg(path)))
}

struct DaemonRun {
    measured: Measured,
    before_kib: u64,
    /// VmRSS when `following` was seen.
    at_following_kib: u64,
    live: live::Live,
}

/// The daemon following an empty queue_log (its RSS "before"), then the same daemon starting on the file.
fn daemon_start_up(dir: &Path, queue_log: &Path) -> DaemonRun {
    let redis = RedisServer::start();
    let empty = dir.join("empty_queue_log");
    std::fs::write(&empty, b"").expect("empty queue_log");
    let (mut child, baseline) = start_daemon(dir, &redis, "empty", &empty);
    std::thread::sleep(SETTLE);
    let before_kib = memory(&child.id().to_string()).map_or(0, |(_, rss)| rss);
    let _ = child.kill();
    let _ = child.wait();
    let _ = baseline;
    let (mut child, measured) = start_daemon(dir, &redis, "big", queue_log);
    let at_following_kib = measured.rss_after_kib;
    std::thread::sleep(SETTLE);
    let (peak, after) = memory(&child.id().to_string()).unwrap_or((measured.peak_kib, 0));
    let _ = child.kill();
    let _ = child.wait();
    DaemonRun {
        measured: Measured {
            seconds: measured.seconds,
            peak_kib: peak.max(measured.peak_kib),
            rss_after_kib: after,
        },
        before_kib,
        at_following_kib,
        live: live::followed_live(dir, &redis, queue_log),
    }
}

/// Starts `queuecast run` on `queue_log` (AMI off) and waits for `meta.queue_log = following`.
fn start_daemon(dir: &Path, redis: &RedisServer, pbx: &str, queue_log: &Path) -> (Child, Measured) {
    let config = dir.join(format!("{pbx}.toml"));
    let text = format!(
        "[queue_log]\npath = \"{}\"\n\n[ami]\nenabled = false\n\n[redis]\nurl = \"{}\"\npbx_id = \"{pbx}\"\n\n[log]\nlevel = \"warn\"\nformat = \"text\"\n\n[engine]\nqueues_conf = \"{FIXTURES}/asterisk-conf/queues.conf\"\ntimezone = \"UTC\"\n",
        queue_log.display(),
        redis.url()
    );
    std::fs::write(&config, text).expect("config");
    let client = redis::Client::open(redis.url()).expect("redis url");
    let mut conn = client.get_connection().expect("redis connection");
    let meta = format!("queuecast:{{{pbx}}}:meta");
    let started = Instant::now();
    let child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start queuecast run");
    let pid = child.id().to_string();
    let (mut peak, mut rss) = (0, 0);
    loop {
        if let Some((hwm, now)) = memory(&pid) {
            (peak, rss) = (peak.max(hwm), now);
        }
        let state: Option<String> =
            redis::cmd("HGET").arg(&meta).arg("queue_log").query(&mut conn).ok().flatten();
        if state.as_deref() == Some("following") {
            break;
        }
        assert!(started.elapsed() < DAEMON_DEADLINE, "the daemon did not reach following");
        std::thread::sleep(SAMPLE_EVERY * 4);
    }
    let seconds = started.elapsed().as_secs_f64();
    (child, Measured { seconds, peak_kib: peak, rss_after_kib: rss })
}
