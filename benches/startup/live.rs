//! The same day followed live, for the start-up's "RSS after" to be read against: a daemon that ran all day
//! holds the day's calls (their records for `call_ttl`, the engine's visits), and a start-up that gave back
//! everything it took beyond that state ends at the same RSS.

use super::{RedisServer, SETTLE, epoch, memory, start_daemon};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Lines appended at a time, as a busy Asterisk writes them between the tail's reads.
const LINES_PER_APPEND: usize = 1000;
/// Pause between appends: the tail sees many small appends, not one large one.
const APPEND_EVERY: Duration = Duration::from_millis(2);
/// `meta.seq` unchanged this long after the last append = the daemon has published every line.
const QUIET: Duration = Duration::from_secs(1);
const DEADLINE: Duration = Duration::from_secs(300);

pub struct Live {
    /// Today's lines, appended after `following`.
    pub lines: usize,
    /// VmRSS `SETTLE` after the last of them was published.
    pub rss_kib: u64,
}

/// Starts the daemon on the lines of `queue_log` before today (UTC, as the bench's daemon counts days),
/// appends today's lines once it is `following`, and reads its RSS when it has published them all.
pub fn followed_live(dir: &Path, redis: &RedisServer, queue_log: &Path) -> Live {
    let midnight = jiff::Timestamp::now().as_second().div_euclid(86_400) * 86_400;
    let path = dir.join("live_queue_log");
    let today = split_at_day(queue_log, midnight, &path);
    let (mut child, _) = start_daemon(dir, redis, "live", &path);
    let mut file = std::fs::OpenOptions::new().append(true).open(&path).expect("open live queue_log");
    for piece in today.chunks(LINES_PER_APPEND) {
        file.write_all(&piece.concat()).expect("append");
        std::thread::sleep(APPEND_EVERY);
    }
    wait_until_published(redis, "live");
    std::thread::sleep(SETTLE);
    let rss_kib = memory(&child.id().to_string()).map_or(0, |(_, rss)| rss);
    let _ = child.kill();
    let _ = child.wait();
    Live { lines: today.len(), rss_kib }
}

/// Writes the lines before `day_start` to `before` and returns the rest, each with its `\n`.
fn split_at_day(queue_log: &Path, day_start: i64, before: &Path) -> Vec<Vec<u8>> {
    let input = BufReader::with_capacity(1 << 20, std::fs::File::open(queue_log).expect("open"));
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(before).expect("create"));
    let mut today = Vec::new();
    for line in input.split(b'\n') {
        let mut line = line.expect("read");
        line.push(b'\n');
        if today.is_empty() && epoch(&line) < day_start {
            out.write_all(&line).expect("write");
        } else {
            today.push(line);
        }
    }
    out.flush().expect("flush");
    today
}

fn wait_until_published(redis: &RedisServer, pbx: &str) {
    let client = redis::Client::open(redis.url()).expect("redis url");
    let mut conn = client.get_connection().expect("redis connection");
    let meta = format!("queuecast:{{{pbx}}}:meta");
    let started = Instant::now();
    let (mut last, mut since) = (None::<String>, Instant::now());
    while since.elapsed() < QUIET {
        assert!(started.elapsed() < DEADLINE, "the daemon did not publish the appended lines");
        let seq: Option<String> = redis::cmd("HGET").arg(&meta).arg("seq").query(&mut conn).ok().flatten();
        if seq != last {
            (last, since) = (seq, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
