use super::*;
use rusqlite::Connection;

/// Asterisk's own schema and write statement (main/db.c, 22.10.1: `create_astdb_stmt`, `put_stmt`).
const CREATE: &str = "CREATE TABLE IF NOT EXISTS astdb(key TEXT, value TEXT, PRIMARY KEY(key))";
const PUT: &str = "INSERT OR REPLACE INTO astdb (key, value) VALUES (?, ?)";

fn astdb(dir: &Path, rows: &[(&str, &str)]) -> PathBuf {
    let path = dir.join("astdb.sqlite3");
    let db = Connection::open(&path).unwrap();
    db.execute(CREATE, []).unwrap();
    for (key, value) in rows {
        db.execute(PUT, [key, value]).unwrap();
    }
    path
}

/// (queue, interface), penalty, paused, name, pause reason: the fields in the order astdb writes them; the
/// queue as the engine takes it (lower-cased), and always a dynamic member.
fn member(
    (queue, interface): (&str, &str),
    penalty: i64,
    paused: bool,
    name: Option<&str>,
    pause_reason: Option<&str>,
) -> StaticMember {
    StaticMember {
        queue: queue.into(),
        interface: interface.into(),
        penalty,
        name: name.map(Into::into),
        paused: Some(paused),
        pause_reason: pause_reason.map(Into::into),
        dynamic: true,
    }
}

#[test]
fn reads_the_format_dump_queue_members_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = astdb(
        dir.path(),
        &[
            // 22.10.1 app_queue.c dump_queue_members: "%s%s;%d;%d;%s;%s;%s;%d", members joined by '|'.
            (
                "/Queue/PersistentMembers/Support",
                "Local/1001@agents/n;0;1;Alice Smith;Local/1001@agents/n;Lunch;0|Local/1003@agents/n;5;0;Local/1003@agents/n;Local/1003@agents/n;;0",
            ),
            // Asterisk 13 writes five fields (no reason, no wrap-up).
            ("/Queue/PersistentMembers/sales", "PJSIP/2001;2;0;Bob Jones;PJSIP/2001"),
            // Other families are not read.
            ("/Queue/PersistentMembersX/sales", "PJSIP/9;0;0;X;PJSIP/9"),
            ("/registrar/contact/2001", "{}"),
        ],
    );
    let (members, bad) = read(&path).unwrap();
    assert_eq!(bad, 0);
    // The key's `Support` is the engine's `support`.
    let alice = member(("support", "Local/1001@agents/n"), 0, true, Some("Alice Smith"), Some("Lunch"));
    let carol = member(("support", "Local/1003@agents/n"), 5, false, None, None);
    let bob = member(("sales", "PJSIP/2001"), 2, false, Some("Bob Jones"), None);
    assert_eq!(members, vec![alice, carol, bob]);
}

#[test]
fn unreadable_member_strings_are_skipped_and_counted() {
    let (members, bad) =
        parse_value("q", "PJSIP/1;x;0;A;PJSIP/1|PJSIP/2;0;7;B;PJSIP/2|;|PJSIP/3;1;0;C;PJSIP/3");
    assert_eq!(members.iter().map(|m| m.interface.as_str()).collect::<Vec<_>>(), ["PJSIP/3"]);
    assert_eq!(bad, 3, "bad penalty, bad paused, empty interface");
}

#[test]
fn a_missing_file_is_missing_not_a_fault() {
    let dir = tempfile::tempdir().unwrap();
    let err = read(&dir.path().join("astdb.sqlite3")).unwrap_err();
    assert!(err.is_missing(), "{err}");
    assert!(err.to_string().contains("astdb.sqlite3: not found"), "{err}");
}

#[test]
fn a_file_that_is_not_sqlite_is_an_error_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("astdb.sqlite3");
    std::fs::write(&path, b"not a database, just text that is long enough to have a header").unwrap();
    let err = read(&path).unwrap_err();
    assert!(matches!(err, AstdbError::Sqlite { .. }), "{err}");
    assert!(err.to_string().contains("astdb.sqlite3: not a readable astdb"), "{err}");
}

/// Asterisk keeps a write transaction open for up to a second (db_sync_thread) and sets no busy handler: our
/// read must neither wait for it nor make its commit fail. A writer holding the EXCLUSIVE lock (which no
/// SQLite reader could get past) is read through, showing the last committed state, and commits afterwards.
#[test]
fn a_locked_database_is_read_without_blocking_asterisk() {
    let dir = tempfile::tempdir().unwrap();
    let path = astdb(dir.path(), &[("/Queue/PersistentMembers/support", "PJSIP/1;0;0;Ann;PJSIP/1;;0")]);
    let asterisk = Connection::open(&path).unwrap();
    asterisk.busy_timeout(std::time::Duration::ZERO).unwrap();
    asterisk.execute_batch("BEGIN EXCLUSIVE").unwrap();
    asterisk.execute(PUT, ["/Queue/PersistentMembers/support", "PJSIP/1;0;1;Ann;PJSIP/1;Lunch;0"]).unwrap();

    // What any SQLite reader meets now: the lock.
    let blocked = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    blocked.busy_timeout(std::time::Duration::ZERO).unwrap();
    let err = blocked.query_row("SELECT count(*) FROM astdb", [], |r| r.get::<_, i64>(0)).unwrap_err();
    assert!(err.to_string().contains("locked"), "{err}");
    drop(blocked);

    let (members, _) = read(&path).unwrap();
    assert_eq!(
        (members[0].name.as_deref(), members[0].paused),
        (Some("Ann"), Some(false)),
        "last committed state"
    );
    asterisk.execute_batch("COMMIT").expect("Asterisk's commit is not hindered by the read");
    let (members, _) = read(&path).unwrap();
    assert_eq!(members[0].pause_reason.as_deref(), Some("Lunch"), "the committed change is seen next time");
}
