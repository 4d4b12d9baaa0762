//! Start-up replay planning: where in queue_log (and its rotated predecessors) "today" begins.
//!
//! DESIGN: on start the state is rebuilt from queue_log — counters from the day start, found by binary
//! search on the line timestamps; the rotated file is read too when the log was rotated since the day start.
//! Everything here is synchronous and clock-free (the caller passes `now`), so it is testable on real files
//! without the daemon.
//!
//! Every file of the plan is opened once, while planning, and read through that descriptor afterwards:
//! Asterisk may rename any of them (rotation) while the replay runs, and a path read later could then name
//! another file — an empty new `queue_log`, or a rotated file read twice.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// queue_log epochs are `time()` read before the logger lock, so neighbouring lines can be out of order;
/// hand-edited files are worse. Start this many seconds before the day start and let the engine's
/// idempotence drop what is not today's.
pub const DAY_START_MARGIN_S: i64 = 60;
/// Below this many bytes between the search bounds a linear scan is cheaper than more seeks.
const LINEAR_SCAN_BYTES: u64 = 64 * 1024;
/// Lines inspected after a probe point before giving up on finding a timestamp there (junk, empty lines).
const PROBE_LINES: usize = 64;
/// Rotated files read at most, newest first: more than this many rotations in one day is a size-based
/// rotation of a huge log, and replaying all of it would delay start-up for little gain.
pub const MAX_ROTATED_FILES: usize = 8;

/// What the start-up replay restores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayMode {
    /// AMI gives membership and pause (QueueStatus): only today's lines are needed, for the counters.
    Today,
    /// queue_log-only: membership and pause exist only in the log, so read the whole current file (and the
    /// rotated files that reach back to the day start, whole too).
    Whole,
}

/// One file range to replay, in replay order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub path: PathBuf,
    pub start: u64,
}

/// The Unix second at which the counting day containing `now` started, in `tz`, with the day starting at
/// `day_starts_at` local time (DST gaps/folds resolved the "compatible" way).
pub fn day_start_epoch(
    now: jiff::Timestamp,
    tz: &jiff::tz::TimeZone,
    day_starts_at: jiff::civil::Time,
) -> i64 {
    let local = now.to_zoned(tz.clone());
    let at = |date: jiff::civil::Date| {
        jiff::civil::DateTime::from_parts(date, day_starts_at).to_zoned(tz.clone()).map(|z| z.timestamp())
    };
    match at(local.date()) {
        Ok(start) if start <= now => start.as_second(),
        Ok(_) => {
            local.date().yesterday().ok().and_then(|d| at(d).ok()).map_or(now.as_second(), |t| t.as_second())
        }
        Err(_) => now.as_second(),
    }
}

/// The leading epoch of a queue_log line, if it has one.
pub fn line_epoch(line: &[u8]) -> Option<i64> {
    let end = line.iter().position(|&b| b == b'|')?;
    let digits = line.get(..end)?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The first timestamped line of a file and its epoch.
pub fn first_epoch(path: &Path) -> io::Result<Option<i64>> {
    first_epoch_of(&File::open(path)?)
}

/// [`first_epoch`] of an open file (its position is moved).
pub fn first_epoch_of(file: &File) -> io::Result<Option<i64>> {
    let mut reader = BufReader::new(file);
    reader.seek(SeekFrom::Start(0))?;
    Ok(probe(&mut reader, u64::MAX)?.map(|(_, epoch)| epoch))
}

/// Bytes read from the end of a file to find its last timestamped line: many lines of Asterisk's 8 KiB maximum.
const LAST_LINE_WINDOW_BYTES: u64 = 64 * 1024;

/// The epoch of the last timestamped line of a file (within its last `LAST_LINE_WINDOW_BYTES`).
pub fn last_epoch(path: &Path) -> io::Result<Option<i64>> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let from = len.saturating_sub(LAST_LINE_WINDOW_BYTES);
    file.seek(SeekFrom::Start(from))?;
    let mut tail = Vec::new();
    io::Read::read_to_end(&mut file, &mut tail)?;
    // A window that starts mid-line begins with a fragment: skip it.
    let lines = tail.split(|&b| b == b'\n').skip(usize::from(from > 0));
    Ok(lines.filter_map(line_epoch).last())
}

/// Offset of the first line whose epoch is `>= target` (or the file length when there is none), found by
/// binary search over byte offsets, then a linear scan of the last window. Lines without a timestamp are
/// skipped. Out-of-order lines can make the answer earlier than the exact first one, never later in a
/// file that is ordered up to `DAY_START_MARGIN_S` when the caller subtracts that margin.
pub fn offset_at_or_after(path: &Path, target: i64) -> io::Result<u64> {
    offset_at_or_after_in(&File::open(path)?, target)
}

/// [`offset_at_or_after`] in an open file (its position is moved).
pub fn offset_at_or_after_in(file: &File, target: i64) -> io::Result<u64> {
    let len = file.metadata()?.len();
    let mut reader = BufReader::new(file);
    let (mut lo, mut hi) = (0u64, len);
    while hi - lo > LINEAR_SCAN_BYTES {
        let mid = lo + (hi - lo) / 2;
        let start = next_line_start(&mut reader, mid)?;
        match probe_within(&mut reader, start, hi)? {
            Some((pos, epoch)) if epoch < target => lo = pos,
            _ => hi = mid,
        }
    }
    scan_forward(&mut reader, lo, target, len)
}

/// First line start at or after `pos` (`pos` itself when a line starts there).
fn next_line_start(reader: &mut BufReader<&File>, pos: u64) -> io::Result<u64> {
    if pos == 0 {
        return Ok(0);
    }
    reader.seek(SeekFrom::Start(pos - 1))?;
    let mut skipped = Vec::new();
    let n = reader.read_until(b'\n', &mut skipped)?;
    Ok(pos - 1 + n as u64)
}

/// First timestamped line starting in `[start, hi)`: its offset and epoch.
fn probe_within(reader: &mut BufReader<&File>, start: u64, hi: u64) -> io::Result<Option<(u64, i64)>> {
    reader.seek(SeekFrom::Start(start))?;
    Ok(probe(reader, hi - start.min(hi))?.map(|(rel, epoch)| (start + rel, epoch)))
}

/// From the reader's position: the first timestamped line among the next `PROBE_LINES`, starting within
/// `limit` bytes. Returns its offset relative to the position.
fn probe(reader: &mut BufReader<&File>, limit: u64) -> io::Result<Option<(u64, i64)>> {
    let mut rel = 0u64;
    let mut line = Vec::new();
    for _ in 0..PROBE_LINES {
        if rel >= limit {
            return Ok(None);
        }
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(None);
        }
        if let Some(epoch) = line_epoch(&line) {
            return Ok(Some((rel, epoch)));
        }
        rel += n as u64;
    }
    Ok(None)
}

fn scan_forward(reader: &mut BufReader<&File>, from: u64, target: i64, len: u64) -> io::Result<u64> {
    reader.seek(SeekFrom::Start(from))?;
    let mut pos = from;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(len.max(pos));
        }
        if line_epoch(&line).is_some_and(|epoch| epoch >= target) {
            return Ok(pos);
        }
        pos += n as u64;
    }
}

/// Rotated files matching `glob` (a `*`/`?` pattern on the file name; the directory part is literal),
/// newest first by modification time. The live file itself and compressed files are left out.
pub fn rotated_files(glob: &str, live: &Path) -> io::Result<Vec<PathBuf>> {
    let pattern = Path::new(glob);
    let (Some(dir), Some(name)) = (pattern.parent(), pattern.file_name().and_then(|n| n.to_str())) else {
        return Ok(Vec::new());
    };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else { continue };
        let path = entry.path();
        if !wildcard_match(name.as_bytes(), file_name.as_bytes()) || is_compressed(file_name) || path == live
        {
            continue;
        }
        let meta = entry.metadata()?;
        if meta.is_file() {
            found.push((meta.modified()?, path));
        }
    }
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Ok(found.into_iter().map(|(_, path)| path).collect())
}

fn is_compressed(name: &str) -> bool {
    [".gz", ".bz2", ".xz", ".zst", ".lz4", ".Z"].iter().any(|ext| name.ends_with(ext))
}

/// `*` matches any run of bytes, `?` one byte; everything else literally.
pub fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || Some(&c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern.get(p..).unwrap_or_default().iter().all(|&c| c == b'*')
}

/// What to replay at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Rotated files to read to their end first, oldest first.
    pub rotated: Vec<Segment>,
    /// Where to start reading the live file (then keep following it); None when it does not exist.
    pub live_start: Option<u64>,
}

/// A rotated file of the plan, held open.
#[derive(Debug)]
pub struct OpenSegment {
    pub segment: Segment,
    pub file: File,
}

/// The plan with every file it names held open, so renames after planning change nothing.
#[derive(Debug)]
pub struct OpenPlan {
    /// Oldest first.
    pub rotated: Vec<OpenSegment>,
    /// The live file as it was when planning began, and where to start reading it.
    pub live: Option<(File, u64)>,
}

impl OpenPlan {
    /// What will be read, without the descriptors.
    pub fn describe(&self) -> Plan {
        Plan {
            rotated: self.rotated.iter().map(|s| s.segment.clone()).collect(),
            live_start: self.live.as_ref().map(|(_, start)| *start),
        }
    }
}

fn open_if_exists(path: &Path) -> io::Result<Option<File>> {
    match File::open(path) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn file_key(file: &File) -> io::Result<(u64, u64)> {
    let meta = file.metadata()?;
    Ok((meta.dev(), meta.ino()))
}

/// Path-based [`open_plan`] without the descriptors (tests, diagnostics).
pub fn plan(live: &Path, rotated: &[PathBuf], day_start: i64, mode: ReplayMode) -> io::Result<Plan> {
    Ok(open_plan(live, || Ok(rotated.to_vec()), day_start, mode)?.describe())
}

/// Opens the live file first, then lists (`list_rotated`, newest first) and opens the rotated ones. A
/// rotation between the two steps makes the file we hold as live show up among the rotated: it is
/// recognised by its inode and not read twice. Rotated files are added while the file after them starts
/// after the day start; an empty or missing live file says nothing about when it started, so rotated
/// files are read then.
pub fn open_plan(
    live: &Path,
    list_rotated: impl FnOnce() -> io::Result<Vec<PathBuf>>,
    day_start: i64,
    mode: ReplayMode,
) -> io::Result<OpenPlan> {
    let target = day_start - DAY_START_MARGIN_S;
    let live_file = open_if_exists(live)?;
    let rotated = list_rotated()?;
    let mut seen = Vec::new();
    let live = match live_file {
        Some(file) => {
            seen.push(file_key(&file)?);
            let start = match mode {
                ReplayMode::Whole => 0,
                ReplayMode::Today => offset_at_or_after_in(&file, target)?,
            };
            let first = first_epoch_of(&file)?;
            Some((file, start, first))
        }
        None => None,
    };
    let mut reaches_day_start = live.as_ref().is_some_and(|(_, _, first)| first.is_some_and(|e| e <= target));
    let mut segments = Vec::new();
    for path in rotated.iter().take(MAX_ROTATED_FILES) {
        if reaches_day_start {
            break;
        }
        let Some(file) = open_if_exists(path)? else { continue };
        let key = file_key(&file)?;
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let first = first_epoch_of(&file)?;
        let start = match mode {
            ReplayMode::Whole => 0,
            ReplayMode::Today => offset_at_or_after_in(&file, target)?,
        };
        segments.push(OpenSegment { segment: Segment { path: path.clone(), start }, file });
        reaches_day_start = first.is_some_and(|epoch| epoch <= target);
    }
    segments.reverse();
    Ok(OpenPlan { rotated: segments, live: live.map(|(file, start, _)| (file, start)) })
}
