//! Asterisk's own store of dynamic queue members: the astdb family `Queue/PersistentMembers`.
//!
//! With `persistentmembers = yes` (app_queue's default) Asterisk rewrites one astdb key per queue,
//! `/Queue/PersistentMembers/<queue>`, whenever a dynamic member is added, removed or (un)paused
//! (`dump_queue_members` in apps/app_queue.c), and reads it back after a restart (`reload_queue_members`).
//! It is the one place a host without AMI tells which member name belongs to which interface, and the pause
//! state and reason of members whose queue_log lines are in an older file.
//!
//! The value is `member|member|…`, each `interface;penalty;paused;membername;state_interface;reason_paused;
//! wrapuptime` (Asterisk 16 and later; 13 writes only the first five fields). An unnamed member carries its
//! interface as `membername` (`create_queue_member`). Asterisk itself splits on `,` or `|` and `;` without any
//! escaping, so a name containing one of them is already broken in Asterisk; it is read the same way here.
//!
//! Reading never takes a lock on Asterisk's file (see [`snapshot`]): the file is copied into memory and opened
//! there.

use crate::normalize::static_members::StaticMember;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};

mod watch;
pub use watch::spawn;

/// The astdb family app_queue writes its dynamic members to (`pm_family`), as a key prefix.
const FAMILY_PREFIX: &str = "/Queue/PersistentMembers/";
/// How often a copy is retried when the file changed while it was being read (Asterisk commits at most
/// once a second, so a second attempt right away nearly always sees a quiet file).
const COPY_ATTEMPTS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum AstdbError {
    #[error("{path}: not found")]
    Missing { path: PathBuf },
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// Asterisk was writing it during every attempt; the next change notification tries again.
    #[error("{path}: changed while being read ({COPY_ATTEMPTS} attempts); will read it again")]
    Changing { path: PathBuf },
    #[error("{path}: not a readable astdb: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
}

impl AstdbError {
    /// A missing file is a normal setup (persistent members off, Asterisk elsewhere), not a fault.
    pub fn is_missing(&self) -> bool {
        matches!(self, Self::Missing { .. })
    }
}

/// Every persistent member in the astdb at `path`, as a member present from the start (the form the engine's
/// start-up takes queues.conf members in too), and the number of member strings that could not be read
/// (skipped, as Asterisk skips them).
pub fn read(path: &Path) -> Result<(Vec<StaticMember>, usize), AstdbError> {
    let bytes = snapshot(path)?;
    let sqlite = |source| AstdbError::Sqlite { path: path.to_owned(), source };
    let mut db = Connection::open_in_memory_with_flags(OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(sqlite)?;
    db.deserialize_read_exact(rusqlite::MAIN_DB, bytes.as_slice(), bytes.len(), true).map_err(sqlite)?;
    let mut members = Vec::new();
    let mut bad = 0;
    // Keys of the family sort between the prefix and the prefix with its last byte ('/') raised by one.
    let mut stmt = db
        .prepare("SELECT key, value FROM astdb WHERE key > ?1 AND key < ?2 ORDER BY key")
        .map_err(sqlite)?;
    let rows = stmt
        .query_map([FAMILY_PREFIX, "/Queue/PersistentMembers0"], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
        })
        .map_err(sqlite)?;
    for row in rows {
        let (key, value) = row.map_err(sqlite)?;
        let Some(queue) = key.strip_prefix(FAMILY_PREFIX).filter(|q| !q.is_empty()) else { continue };
        let (found, skipped) = parse_value(queue, value.as_deref().unwrap_or(""));
        members.extend(found);
        bad += skipped;
    }
    Ok((members, bad))
}

/// The members of one queue's value, and how many member strings were unreadable.
pub fn parse_value(queue: &str, value: &str) -> (Vec<StaticMember>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for member in value.split([',', '|']).filter(|m| !m.is_empty()) {
        match parse_member(queue, member) {
            Some(m) => out.push(m),
            None => bad += 1,
        }
    }
    (out, bad)
}

/// `interface;penalty;paused;membername;state_interface;reason_paused;wrapuptime` (the last two from 16 on).
/// `queue` is the key's spelling; queue names compare case-insensitively, so the member's is lower-cased. A
/// name equal to the interface is no name: Asterisk stores the interface there for a member added without one.
fn parse_member(queue: &str, text: &str) -> Option<StaticMember> {
    let mut fields = text.split(';');
    let interface = fields.next().filter(|i| !i.is_empty())?;
    let penalty = fields.next()?.trim().parse().ok()?;
    let paused = match fields.next()?.trim() {
        "0" => false,
        "1" => true,
        _ => return None,
    };
    let name = fields.next().filter(|n| !n.is_empty() && *n != interface).map(str::to_owned);
    let _state_interface = fields.next();
    let pause_reason = fields.next().filter(|r| paused && !r.is_empty()).map(str::to_owned);
    Some(StaticMember {
        queue: queue.to_ascii_lowercase(),
        interface: interface.to_owned(),
        penalty,
        name,
        paused: Some(paused),
        pause_reason,
        dynamic: true,
    })
}

/// A consistent copy of the database file, taken without any lock on it.
///
/// Why not open Asterisk's file read-only: a reader holds SQLite's SHARED lock while it reads, and Asterisk's
/// astdb sets no busy handler (main/db.c), so a COMMIT that meets that lock fails at once and Asterisk rolls the
/// whole pending transaction back — queue members, PJSIP contacts, everything written in the last second
/// would be lost. A busy timeout on our side cannot prevent that. A plain `read` takes no SQLite lock at all.
///
/// Why the copy is consistent: Asterisk (rollback journal, the default) writes the file only while it commits,
/// and commits at most once a second (`db_sync_thread`). The copy is read twice between three `stat`s; it is
/// taken when the file's identity, size and mtime did not move and both reads are byte-identical. A commit
/// that wrote during the reads changes the mtime or makes the reads differ; then it is tried again.
pub fn snapshot(path: &Path) -> Result<Vec<u8>, AstdbError> {
    let read_err = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::NotFound => AstdbError::Missing { path: path.to_owned() },
        _ => AstdbError::Read { path: path.to_owned(), source },
    };
    for _ in 0..COPY_ATTEMPTS {
        let before = Stamp::of(path).map_err(read_err)?;
        let first = std::fs::read(path).map_err(read_err)?;
        let between = Stamp::of(path).map_err(read_err)?;
        let second = std::fs::read(path).map_err(read_err)?;
        let after = Stamp::of(path).map_err(read_err)?;
        if before == between && between == after && first == second && before.len == first.len() as u64 {
            return Ok(first);
        }
    }
    Err(AstdbError::Changing { path: path.to_owned() })
}

/// What tells two looks at a file apart: which file, how long, when last written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    dev_ino: (u64, u64),
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl Stamp {
    pub(crate) fn of(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path)?;
        Ok(Self { dev_ino: (meta.dev(), meta.ino()), len: meta.len(), modified: meta.modified().ok() })
    }
}

#[cfg(test)]
mod tests;
