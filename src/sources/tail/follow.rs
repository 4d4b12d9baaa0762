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
//! Each file is read by a `reader::Reader`, which frames and parses lines with the parser's streaming
//! reader: what comes out is a parsed record or a bad line, never a half line.
//!
//! No clock reads: the caller passes `now`, so tests drive time.

pub use super::reader::{BadLine, FileId, Line, LineSink, Note, read_to_end};
use super::reader::{Reader, recover_from_copy};
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Upper bound of bytes read in one poll, so a huge backlog is delivered in bounded batches (the async side
/// sends each batch, with backpressure, before asking for more).
pub const MAX_BYTES_PER_POLL: u64 = 4 * 1024 * 1024;
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

/// Result of one poll besides the lines.
#[derive(Debug, Default)]
pub struct Poll {
    pub notes: Vec<Note>,
    /// The byte budget ran out with data left: poll again without waiting.
    pub more: bool,
    /// The path is missing right now.
    pub missing: bool,
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
    pub fn with_rotated_glob(mut self, glob: &str) -> Self {
        self.rotated_glob = (!glob.is_empty()).then(|| glob.to_owned());
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
