//! The astdb watcher on a real file: Asterisk's own statements (main/db.c) change it, the watcher re-reads
//! it and sends the engine the new name ↔ interface pairs — and only those.

use queuecast::engine::EventKind;
use queuecast::sources::SourceMsg;
use queuecast::sources::astdb;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const PUT: &str = "INSERT OR REPLACE INTO astdb (key, value) VALUES (?, ?)";
/// Generous: notify plus the watcher's settle time is well under a second on an idle machine.
const WAIT: Duration = Duration::from_secs(20);

fn put(path: &std::path::Path, key: &str, value: &str) {
    let db = rusqlite::Connection::open(path).unwrap();
    db.execute("CREATE TABLE IF NOT EXISTS astdb(key TEXT, value TEXT, PRIMARY KEY(key))", []).unwrap();
    db.execute(PUT, [key, value]).unwrap();
}

async fn next_names(rx: &mut mpsc::Receiver<SourceMsg>) -> Vec<(String, String)> {
    let msg = tokio::time::timeout(WAIT, rx.recv()).await.expect("a message in time").expect("open");
    let SourceMsg::Events(events) = msg else { panic!("events expected, got {msg:?}") };
    events
        .into_iter()
        .map(|e| match e.kind {
            EventKind::MemberNamed { interface, name } => (name, interface),
            other => panic!("only names, got {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn a_member_added_later_is_named_to_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("astdb.sqlite3");
    put(&path, "/Queue/PersistentMembers/support", "PJSIP/1;0;0;Ann;PJSIP/1;;0");
    let (known, _) = astdb::read(&path).unwrap();
    let (tx, mut rx) = mpsc::channel(8);
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    astdb::spawn(path.clone(), &known, tx, cancel.clone(), &tracker);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Asterisk rewrites the queue's key with a second, named member (and an unnamed third).
    put(
        &path,
        "/Queue/PersistentMembers/support",
        "PJSIP/1;0;0;Ann;PJSIP/1;;0|PJSIP/2;0;1;Ben;PJSIP/2;Lunch;0|PJSIP/3;0;0;PJSIP/3;PJSIP/3;;0",
    );
    assert_eq!(next_names(&mut rx).await, [("Ben".to_owned(), "PJSIP/2".to_owned())], "only the new pair");

    // A rename of a member is a new pair too.
    put(&path, "/Queue/PersistentMembers/sales", "PJSIP/1;0;0;Ann Lee;PJSIP/1;;0");
    let names = next_names(&mut rx).await;
    assert!(names.contains(&("Ann Lee".to_owned(), "PJSIP/1".to_owned())), "{names:?}");

    cancel.cancel();
    tracker.close();
    tokio::time::timeout(WAIT, tracker.wait()).await.expect("the watcher ends on cancel");
}
