//! One open queue_log file and how far it has been read: reads in chunks, hands out every complete line
//! through the parser's streaming reader (`parsers::queue_log::parse_next_if`, the one framer of queue_log
//! bytes), keeps the bytes after the last `\n` until the line is complete, and remembers the head of the
//! file to recognise a truncation. [`super::follow`] decides which files to read.

use parsers::queue_log::{ErrorKind, Head, NextRecord, Record, parse_next_if};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

/// Bytes of the file head remembered to recognise "truncated and rewritten past our offset" between polls.
const FINGERPRINT_BYTES: usize = 64;
/// One read syscall's buffer.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Asterisk truncates a queue_log line at 8191 bytes; a "line" 1 MiB long is not queue_log (binary junk or
/// a file without newlines), and buffering it further would only grow memory.
const MAX_PARTIAL_BYTES: usize = 1024 * 1024;

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
    pub(super) fn of(meta: &std::fs::Metadata) -> Self {
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

/// One open file and how far it has been consumed.
#[derive(Debug)]
pub(super) struct Reader {
    pub(super) file: File,
    pub(super) id: FileId,
    /// Bytes read from the start of the file (complete lines plus `partial`).
    pub(super) offset: u64,
    /// The first bytes of the file as read, up to `FINGERPRINT_BYTES`.
    pub(super) fingerprint: Vec<u8>,
    /// Bytes read but not yet handed out: after the last complete line.
    pub(super) partial: Vec<u8>,
}

impl Reader {
    pub(super) fn open(path: &Path, offset: u64) -> io::Result<Self> {
        let mut file = File::open(path)?;
        let id = FileId::of(&file.metadata()?);
        file.seek(SeekFrom::Start(offset))?;
        let mut reader = Self { file, id, offset, fingerprint: Vec::new(), partial: Vec::new() };
        reader.refresh_fingerprint()?;
        Ok(reader)
    }

    /// Grows the fingerprint to cover what we have consumed (bounded), reading with pread so the position
    /// of the stream is untouched.
    pub(super) fn refresh_fingerprint(&mut self) -> io::Result<()> {
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
    pub(super) fn was_truncated(&self, len: u64) -> io::Result<bool> {
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

    pub(super) fn restart(&mut self) -> io::Result<usize> {
        self.file.seek(SeekFrom::Start(0))?;
        self.offset = 0;
        self.fingerprint.clear();
        Ok(std::mem::take(&mut self.partial).len())
    }

    /// Reads up to `budget` bytes and hands every completed line to `line`. Returns the number of bytes
    /// read; fewer than `budget` means EOF was reached.
    pub(super) fn drain(
        &mut self,
        budget: u64,
        notes: &mut Vec<Note>,
        line: &mut dyn LineSink,
    ) -> io::Result<u64> {
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
    pub(super) fn frame(&mut self, at_eof: bool, notes: &mut Vec<Note>, line: &mut dyn LineSink) {
        let mut start = 0;
        while let Some(rest) = self.partial.get(start..).filter(|rest| !rest.is_empty()) {
            match parse_next_if(rest, at_eof, |head| line.wants(head)) {
                Ok(NextRecord::Complete { record: Some(record), consumed, .. }) => {
                    line.line(Ok(record));
                    start += consumed.max(1);
                }
                Ok(NextRecord::Complete { record: None, consumed, .. }) => {
                    line.skipped();
                    start += consumed.max(1);
                }
                Err(error) => {
                    let bytes = rest.get(..error.consumed).unwrap_or(rest);
                    line.line(Err(BadLine { kind: error.kind, bytes }));
                    start += error.consumed.max(1);
                }
                Ok(NextRecord::Incomplete) => break,
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

/// copytruncate copies the live file and then truncates it: whatever we had not read yet is only in the
/// copy. Find the rotated file that starts with the bytes we read (same fingerprint, at least as long as
/// our offset) and read the rest of it from our offset. Lines appended between the copy and the truncate
/// are in neither file — that window is logrotate's, not ours.
pub(super) fn recover_from_copy(
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
