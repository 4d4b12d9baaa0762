//! The synchronous core of the queue_log tail: follows one path across every way a log file gets replaced.
//!
//! It never trusts a single signal. On every poll it compares the path's (device, inode) with the open
//! handle's, the path's size with how far we have read, and the first bytes of the file with what they were
//! when we read them. That catches:
//! - rename + create (Asterisk `logger rotate`, logrotate without copytruncate): the old handle is read to
//!   EOF before switching, and kept readable for a grace period because a writer that has not reopened yet
//!   still appends to it;
//! - copytruncate / truncation: restart at offset 0 (lines written between logrotate's copy and its
//!   truncate never reach the live file — that is logrotate's loss, not ours);
//! - deletion: the path is missing, the last handle is still read, and a re-created file is picked up from 0;
//! - partial lines: bytes after the last `\n` wait in a buffer until the line is complete.
//!
//! Lines are framed and parsed by the parser's streaming reader (`parsers::queue_log::parse_next`), the one
//! framer of queue_log bytes: what comes out is a parsed record or a bad line, never a half line.
//!
//! No clock reads: the caller passes `now`, so tests drive time.

use parsers::queue_log::{ErrorKind, Head, Parsed, Record, parse_next_if};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Bytes of the file head remembered to recognise "truncated and rewritten past our offset" between polls.
const FINGERPRINT_BYTES: usize = 64;
/// One read syscall's buffer.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Upper bound of bytes read in one poll, so a huge backlog is delivered in bounded batches (the async side
/// sends each batch, with backpressure, before asking for more).
pub const MAX_BYTES_PER_POLL: u64 = 4 * 1024 * 1024;
/// Asterisk truncates a queue_log line at 8191 bytes; a "line" 1 MiB long is not queue_log (binary junk or
/// a file without newlines), and buffering it further would only grow memory.
const MAX_PARTIAL_BYTES: usize = 1024 * 1024;
/// Identities of files read kept for recognising a rotated file as already read; one per rotation, so
/// this covers weeks of daily rotations.
const KNOWN_FILES_KEPT: usize = 64;
/// After a rename rotation a writer that has not reopened the path yet (external logrotate whose
/// postrotate `logger reload` runs a moment later) still appends to the old file: keep reading it this long.
pub const RETIRED_GRACE: Duration = Duration::from_secs(30);
/// Modification times come from the kernel's coarse clock (up to a tick behind `SystemTime::now`), and some
/// filesystems keep whole or even two seconds: a file rotated in after a moment may carry an earlier time.
/// Compared with this slack; files already read are excluded by identity, so the slack can only add a
/// file nobody read.
const MTIME_SLACK: Duration = Duration::from_secs(2);

/// What the follower hands out for each line: the parsed record, or a line the parser rejected.
pub type Line<'a> = Result<Record<'a>, BadLine<'a>>;

/// A line the parser rejected, with its bytes for the log.
#[derive(Debug, Clone)]
pub struct BadLine<'a> {
    pub kind: ErrorKind,
    pub bytes: &'a [u8],
}

/// Where lines go. A sink may refuse lines on their head (time and event name): the start-up replay wants
/// only membership and pause of days before today, so their call lines are skipped without parsing their
/// data. A closure takes every line.
pub trait LineSink {
    /// Whether the line with this head is wanted.
    fn wants(&mut self, _head: &Head<'_>) -> bool {
        true
    }

    fn line(&mut self, line: Line<'_>);

    /// A line was refused on its head.
    fn skipped(&mut self) {}
}

impl<F: FnMut(Line<'_>)> LineSink for F {
    fn line(&mut self, line: Line<'_>) {
        self(line)
    }
}

/// Identity of an open file: the same path can name another file after a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self { dev: meta.dev(), ino: meta.ino() }
    }

    pub fn of_file(file: &File) -> io::Result<Self> {
        Ok(Self::of(&file.metadata()?))
    }
}

/// Something the follower noticed, for logs, health and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// The path now names another file (rename rotation, delete + re-create).
    Rotated,
    /// The same file became shorter than our offset, or its head changed (copytruncate, `> queue_log`).
    Truncated,
    /// The path does not exist (deleted, or not created yet).
    Missing,
    /// The path exists again after being missing.
    Appeared,
    /// Bytes without a final `\n` were dropped: a file was truncated or retired mid-line, or a line grew
    /// beyond any sane length.
    DroppedPartial { bytes: usize },
}

/// Result of one poll besides the lines.
#[derive(Debug, Default)]
pub struct Poll {
    pub notes: Vec<Note>,
    /// The byte budget ran out with data left: poll again without waiting.
    pub more: bool,
    /// The path is missing right now.
    pub missing: bool,
}

/// One open file and how far it has been consumed.
#[derive(Debug)]
struct Reader {
    file: File,
    id: FileId,
    /// Bytes read from the start of the file (complete lines plus `partial`).
    offset: u64,
    /// The first bytes of the file as read, up to `FINGERPRINT_BYTES`.
    fingerprint: Vec<u8>,
    /// Bytes read but not yet handed out: after the last complete line.
    partial: Vec<u8>,
}

impl Reader {
    fn open(path: &Path, offset: u64) -> io::Result<Self> {
        let mut file = File::open(path)?;
        let id = FileId::of(&file.metadata()?);
        file.seek(SeekFrom::Start(offset))?;
        let mut reader = Self { file, id, offset, fingerprint: Vec::new(), partial: Vec::new() };
        reader.refresh_fingerprint()?;
        Ok(reader)
    }

    /// Grows the fingerprint to cover what we have consumed (bounded), reading with pread so the position
    /// of the stream is untouched.
    fn refresh_fingerprint(&mut self) -> io::Result<()> {
        let want = usize::try_from(self.offset).unwrap_or(usize::MAX).min(FINGERPRINT_BYTES);
        if self.fingerprint.len() < want {
            let mut head = vec![0; want];
            let got = read_at_most(&self.file, &mut head, 0)?;
            head.truncate(got);
            self.fingerprint = head;
        }
        Ok(())
    }

    /// True when the file no longer holds what we read: shorter than our offset, or a different head.
    fn was_truncated(&self, len: u64) -> io::Result<bool> {
        if len < self.offset {
            return Ok(true);
        }
        if self.fingerprint.is_empty() {
            return Ok(false);
        }
        let mut head = vec![0; self.fingerprint.len()];
        let got = read_at_most(&self.file, &mut head, 0)?;
        Ok(got < head.len() || head != self.fingerprint)
    }

    fn restart(&mut self) -> io::Result<usize> {
        self.file.seek(SeekFrom::Start(0))?;
        self.offset = 0;
        self.fingerprint.clear();
        Ok(std::mem::take(&mut self.partial).len())
    }

    /// Reads up to `budget` bytes and hands every completed line to `line`. Returns the number of bytes
    /// read; fewer than `budget` means EOF was reached.
    fn drain(&mut self, budget: u64, notes: &mut Vec<Note>, line: &mut dyn LineSink) -> io::Result<u64> {
        let mut total = 0u64;
        while total < budget {
            let held = self.partial.len();
            self.partial.resize(held + READ_CHUNK_BYTES, 0);
            let read = self.file.read(self.partial.get_mut(held..).unwrap_or_default());
            let n = *read.as_ref().unwrap_or(&0);
            self.partial.truncate(held + n);
            match read {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            total += n as u64;
            self.offset += n as u64;
            self.frame(false, notes, line);
        }
        self.refresh_fingerprint()?;
        Ok(total)
    }

    /// Hands out every complete line held; `at_eof` = nothing will follow (a complete file), so a last line
    /// without `\n` is a line too.
    fn frame(&mut self, at_eof: bool, notes: &mut Vec<Note>, line: &mut dyn LineSink) {
        let mut start = 0;
        while let Some(rest) = self.partial.get(start..).filter(|rest| !rest.is_empty()) {
            match parse_next_if(rest, at_eof, |head| line.wants(head)) {
                Ok(Parsed::Complete { record: Some(record), consumed, .. }) => {
                    line.line(Ok(record));
                    start += consumed.max(1);
                }
                Ok(Parsed::Complete { record: None, consumed, .. }) => {
                    line.skipped();
                    start += consumed.max(1);
                }
                Err(error) => {
                    let bytes = rest.get(..error.consumed).unwrap_or(rest);
                    line.line(Err(BadLine { kind: error.kind, bytes }));
                    start += error.consumed.max(1);
                }
                Ok(Parsed::Incomplete) => break,
            }
        }
        self.partial.drain(..start.min(self.partial.len()));
        if at_eof {
            // Only blank lines were left.
            self.partial.clear();
        } else if self.partial.len() > MAX_PARTIAL_BYTES {
            notes.push(Note::DroppedPartial { bytes: self.partial.len() });
            self.partial.clear();
        }
    }
}

fn read_at_most(file: &File, buf: &mut [u8], mut pos: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        let Some(rest) = buf.get_mut(got..) else { break };
        match file.read_at(rest, pos) {
            Ok(0) => break,
            Ok(n) => {
                got += n;
                pos += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Reads an open file from `start` to its end as a complete file (a rotated file of the start-up replay,
/// held open since it was planned; a file given to `replay`): every line goes to `line`, a last line without
/// `\n` included.
pub fn read_to_end(file: File, start: u64, line: &mut dyn LineSink) -> io::Result<()> {
    let id = FileId::of(&file.metadata()?);
    let mut reader = Reader { file, id, offset: start, fingerprint: Vec::new(), partial: Vec::new() };
    reader.file.seek(SeekFrom::Start(start))?;
    let mut notes = Vec::new();
    reader.drain(u64::MAX, &mut notes, line)?;
    reader.frame(true, &mut notes, line);
    Ok(())
}

/// A rotated-away file still being read until its grace period ends.
#[derive(Debug)]
struct Retired {
    reader: Reader,
    until: Instant,
}

/// Follows one path. Feed it polls; it hands out complete lines exactly once.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    /// Where copytruncate puts the copy (`queue_log.*`): lines we had not read yet when the live file was
    /// truncated are recovered from it.
    rotated_glob: Option<String>,
    current: Option<Reader>,
    retired: Vec<Retired>,
    was_missing: bool,
    /// Files already read (the start-up plan's, every file followed since): never read again.
    known: Vec<FileId>,
    /// When a follower was started on a missing path: files rotated in since then are new.
    missing_since: Option<SystemTime>,
}

impl Follower {
    /// Follows `path` from `offset` of the file it names now; a missing path is followed from 0 once it
    /// appears (a file created after we started is read from its beginning).
    pub fn new(path: impl Into<PathBuf>, offset: u64) -> Self {
        let path = path.into();
        match Reader::open(&path, offset) {
            Ok(reader) => Self::following(path, reader),
            Err(_) => Self::missing_since(path, SystemTime::now()),
        }
    }

    /// Follows a path that was missing at `since` (the start-up plan found no live file): whatever was the
    /// live file from then on is read from 0, also the files rotated in and out before the first poll.
    pub fn missing_since(path: impl Into<PathBuf>, since: SystemTime) -> Self {
        Self {
            path: path.into(),
            rotated_glob: None,
            current: None,
            retired: Vec::new(),
            was_missing: true,
            known: Vec::new(),
            missing_since: Some(since),
        }
    }

    fn following(path: PathBuf, reader: Reader) -> Self {
        Self {
            path,
            rotated_glob: None,
            known: vec![reader.id],
            current: Some(reader),
            retired: Vec::new(),
            was_missing: false,
            missing_since: None,
        }
    }

    /// Continues with a file the caller already opened and read up to `offset` (the start-up replay), so
    /// nothing between the replay and the follow is lost even if the path is rotated in between.
    pub fn from_open(path: impl Into<PathBuf>, file: File, offset: u64) -> io::Result<Self> {
        let id = FileId::of(&file.metadata()?);
        let mut reader = Reader { file, id, offset, fingerprint: Vec::new(), partial: Vec::new() };
        reader.file.seek(SeekFrom::Start(offset))?;
        reader.refresh_fingerprint()?;
        Ok(Self::following(path.into(), reader))
    }

    /// Reads a rotated file of the start-up plan from `start` and keeps it readable for `RETIRED_GRACE`,
    /// as a file rotated away during the follow: it was renamed so recently that its writer may not have
    /// reopened the path yet, and what it still appends must not be lost.
    pub fn adopt_rotated(
        &mut self,
        file: File,
        start: u64,
        now: Instant,
        line: &mut dyn LineSink,
    ) -> io::Result<Vec<Note>> {
        let id = FileId::of(&file.metadata()?);
        let mut reader = Reader { file, id, offset: start, fingerprint: Vec::new(), partial: Vec::new() };
        reader.file.seek(SeekFrom::Start(start))?;
        let mut notes = Vec::new();
        reader.drain(u64::MAX, &mut notes, line)?;
        self.remember(id);
        self.retired.push(Retired { reader, until: now + RETIRED_GRACE });
        Ok(notes)
    }

    /// Enables recovery of unread lines from the copy after a copytruncate rotation.
    pub fn with_rotated_glob(mut self, glob: Option<String>) -> Self {
        self.rotated_glob = glob.filter(|g| !g.is_empty());
        self
    }

    /// Files already read elsewhere (the start-up plan's rotated files): a rotated file among them is never
    /// taken for one missed between two looks.
    pub fn with_known(mut self, files: impl IntoIterator<Item = FileId>) -> Self {
        self.known.extend(files);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Identity and offset of the file being followed (for tests and diagnostics).
    pub fn position(&self) -> Option<(FileId, u64)> {
        self.current.as_ref().map(|r| (r.id, r.offset))
    }

    /// Checks the path, reads what is new, and calls `line` for each complete line (ending in `\n`)
    /// in file order.
    pub fn poll(&mut self, now: Instant, line: &mut dyn LineSink) -> io::Result<Poll> {
        let mut poll = Poll::default();
        let mut budget = MAX_BYTES_PER_POLL;
        match std::fs::metadata(&self.path) {
            Ok(meta) => self.check_path(&meta, now, &mut poll.notes, line)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                poll.missing = true;
                if !self.was_missing {
                    poll.notes.push(Note::Missing);
                }
            }
            Err(e) => return Err(e),
        }
        self.was_missing = poll.missing;
        if let Some(reader) = self.current.as_mut() {
            let read = reader.drain(budget, &mut poll.notes, line)?;
            budget = budget.saturating_sub(read);
            poll.more = budget == 0;
        }
        self.drain_retired(now, &mut poll.notes, line)?;
        Ok(poll)
    }

    fn check_path(
        &mut self,
        meta: &std::fs::Metadata,
        now: Instant,
        notes: &mut Vec<Note>,
        line: &mut dyn LineSink,
    ) -> io::Result<()> {
        if self.was_missing {
            notes.push(Note::Appeared);
        }
        let id = FileId::of(meta);
        match self.current.as_mut() {
            Some(reader) if reader.id == id => {
                if reader.was_truncated(meta.len())? {
                    notes.push(Note::Truncated);
                    if let Some(glob) = self.rotated_glob.as_deref() {
                        recover_from_copy(reader, glob, &self.path, notes, line)?;
                    }
                    let dropped = reader.restart()?;
                    if dropped > 0 {
                        notes.push(Note::DroppedPartial { bytes: dropped });
                    }
                }
            }
            _ => self.switch_to_new_file(now, notes, line)?,
        }
        Ok(())
    }

    /// The path names another file: finish the old one (and keep it readable for a while), then any file
    /// that was the live one in between, then start the new one at 0.
    fn switch_to_new_file(
        &mut self,
        now: Instant,
        notes: &mut Vec<Note>,
        line: &mut dyn LineSink,
    ) -> io::Result<()> {
        let fresh = match Reader::open(&self.path, 0) {
            Ok(reader) => reader,
            // Vanished between stat and open: the next poll sees it missing.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let since = match self.current.take() {
            Some(mut old) => {
                notes.push(Note::Rotated);
                old.drain(u64::MAX, notes, line)?;
                let modified = old.file.metadata().and_then(|m| m.modified()).ok();
                self.retired.push(Retired { reader: old, until: now + RETIRED_GRACE });
                modified
            }
            None => self.missing_since.take(),
        };
        if let Some(since) = since {
            for mut missed in self.missed_between(since, fresh.id) {
                notes.push(Note::Rotated);
                missed.drain(u64::MAX, notes, line)?;
                self.remember(missed.id);
                self.retired.push(Retired { reader: missed, until: now + RETIRED_GRACE });
            }
        }
        self.remember(fresh.id);
        self.current = Some(fresh);
        Ok(())
    }

    /// Files that were the live file between the one we followed and the one the path names now: two or
    /// more rotations between two looks (a long start-up replay, a stalled poll). Rotated files never read,
    /// last written no earlier than `since` (the old file's last write), oldest first.
    fn missed_between(&self, since: SystemTime, fresh: FileId) -> Vec<Reader> {
        let Some(glob) = self.rotated_glob.as_deref() else { return Vec::new() };
        let candidates = crate::sources::tail::startup::rotated_files(glob, &self.path).unwrap_or_default();
        candidates
            .iter()
            .rev()
            .filter_map(|path| Reader::open(path, 0).ok())
            .filter(|reader| reader.id != fresh && !self.known.contains(&reader.id))
            .filter(|reader| {
                reader.file.metadata().and_then(|m| m.modified()).is_ok_and(|m| m + MTIME_SLACK >= since)
            })
            .collect()
    }

    fn remember(&mut self, id: FileId) {
        if !self.known.contains(&id) {
            self.known.push(id);
        }
        if self.known.len() > KNOWN_FILES_KEPT {
            self.known.remove(0);
        }
    }

    fn drain_retired(
        &mut self,
        now: Instant,
        notes: &mut Vec<Note>,
        line: &mut dyn LineSink,
    ) -> io::Result<()> {
        for retired in &mut self.retired {
            retired.reader.drain(u64::MAX, notes, line)?;
        }
        self.retired.retain(|retired| {
            let keep = retired.until > now;
            if !keep && !retired.reader.partial.is_empty() {
                notes.push(Note::DroppedPartial { bytes: retired.reader.partial.len() });
            }
            keep
        });
        Ok(())
    }
}

/// copytruncate copies the live file and then truncates it: whatever we had not read yet is only in the
/// copy. Find the rotated file that starts with the bytes we read (same fingerprint, at least as long as
/// our offset) and read the rest of it from our offset. Lines appended between the copy and the truncate
/// are in neither file — that window is logrotate's, not ours.
fn recover_from_copy(
    reader: &mut Reader,
    glob: &str,
    live: &Path,
    notes: &mut Vec<Note>,
    line: &mut dyn LineSink,
) -> io::Result<()> {
    if reader.fingerprint.is_empty() {
        return Ok(());
    }
    let candidates = crate::sources::tail::startup::rotated_files(glob, live).unwrap_or_default();
    for path in candidates.iter().take(crate::sources::tail::startup::MAX_ROTATED_FILES) {
        let Ok(file) = File::open(path) else { continue };
        let len = file.metadata()?.len();
        let mut head = vec![0; reader.fingerprint.len()];
        if len < reader.offset
            || read_at_most(&file, &mut head, 0)? < head.len()
            || head != reader.fingerprint
        {
            continue;
        }
        let mut copy = Reader {
            file,
            id: reader.id,
            offset: reader.offset,
            fingerprint: Vec::new(),
            partial: std::mem::take(&mut reader.partial),
        };
        copy.file.seek(SeekFrom::Start(reader.offset))?;
        copy.drain(u64::MAX, notes, line)?;
        if !copy.partial.is_empty() {
            notes.push(Note::DroppedPartial { bytes: copy.partial.len() });
        }
        return Ok(());
    }
    Ok(())
}
