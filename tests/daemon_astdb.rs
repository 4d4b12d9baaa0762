//! The daemon on queue_log alone with Asterisk's astdb, as a process against a real redis-server and real
//! files: members persisted before the log (with their pause reason) come from astdb at start; a member
//! added while it runs — astdb rewritten by Asterisk's own statements, ADDMEMBER by interface and PAUSE by
//! name appended to queue_log, as Asterisk 22 writes them — appears once, under its interface, paused.

mod common;

use common::redis::{RedisServer, eventually};
use queuecast::sink::{Keys, RedisConn};
use redis::AsyncCommands;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Generous: CI has two loaded cores.
const WAIT: Duration = Duration::from_secs(60);
const ALICE: &str = "Local/1001@agents/n";
const BOB: &str = "Local/1002@agents/n";

/// main/db.c (22.10.1) `create_astdb_stmt` and `put_stmt`; values as apps/app_queue.c `dump_queue_members`.
fn asterisk_puts(astdb: &Path, rows: &[(&str, &str)]) {
    let db = rusqlite::Connection::open(astdb).unwrap();
    db.execute("CREATE TABLE IF NOT EXISTS astdb(key TEXT, value TEXT, PRIMARY KEY(key))", []).unwrap();
    for (key, value) in rows {
        db.execute("INSERT OR REPLACE INTO astdb (key, value) VALUES (?, ?)", [key, value]).unwrap();
    }
}

/// Lines of the corpus's login-pause-unpause queue_log (Asterisk 22.10.1), restamped to now.
fn lines(wanted: &[&str]) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asterisk-22/login-pause-unpause");
    let text = std::fs::read_to_string(dir.join("queue_log")).unwrap();
    let now = jiff::Timestamp::now().as_second();
    wanted
        .iter()
        .map(|w| {
            let line = text.lines().find(|l| l.contains(w)).unwrap_or_else(|| panic!("{w} in the corpus"));
            format!("{now}|{}", line.split_once('|').unwrap().1)
        })
        .collect()
}

fn append(path: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    for line in lines {
        writeln!(f, "{line}").unwrap();
    }
    f.sync_all().unwrap();
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn agent(redis: &RedisServer, id: &str) -> BTreeMap<String, String> {
    let mut conn = redis.conn().await;
    let RedisConn::Single(c) = &mut conn else { panic!("single node") };
    c.hgetall(Keys::new("queuecast", "pbx").agent(id)).await.unwrap()
}

async fn queue(redis: &RedisServer, name: &str) -> BTreeMap<String, String> {
    let mut conn = redis.conn().await;
    let RedisConn::Single(c) = &mut conn else { panic!("single node") };
    c.hgetall(Keys::new("queuecast", "pbx").queue(name)).await.unwrap()
}

async fn agent_ids(redis: &RedisServer) -> Vec<String> {
    let mut conn = redis.conn().await;
    let RedisConn::Single(c) = &mut conn else { panic!("single node") };
    let mut ids: Vec<String> = c.smembers(Keys::new("queuecast", "pbx").agents()).await.unwrap();
    ids.sort();
    ids
}

fn membership(fields: &BTreeMap<String, String>, queue: &str) -> serde_json::Value {
    let queues: serde_json::Value =
        fields.get("queues").and_then(|q| serde_json::from_str(q).ok()).unwrap_or_default();
    queues[queue].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn astdb_names_and_start_state_reach_redis() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let (queue_log, astdb) = (dir.path().join("queue_log"), dir.path().join("astdb.sqlite3"));
    // Before the daemon starts: Bob is a persistent member of support and sales, paused "Coaching" in
    // sales, and the current queue_log (rotated since) says nothing about him.
    asterisk_puts(
        &astdb,
        &[
            ("/Queue/PersistentMembers/support", "Local/1002@agents/n;0;0;Bob Jones;Local/1002@agents/n;;0"),
            (
                "/Queue/PersistentMembers/sales",
                "Local/1002@agents/n;0;1;Bob Jones;Local/1002@agents/n;Coaching;0",
            ),
        ],
    );
    append(&queue_log, &lines(&["QUEUESTART"]));
    let config = dir.path().join("queuecast.toml");
    std::fs::write(
        &config,
        format!(
            "[queue_log]\npath = {ql:?}\n[redis]\nurl = {url:?}\npbx_id = \"pbx\"\nqueue_update_interval_ms = 20\n\
             [log]\nformat = \"text\"\n[engine]\nqueues_conf = \"/nonexistent/queues.conf\"\nastdb = {db:?}\ntimezone = \"UTC\"\n",
            ql = queue_log.display().to_string(),
            url = redis.url(),
            db = astdb.display().to_string(),
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_queuecast"))
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("NOTIFY_SOCKET")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _daemon = Daemon(child);

    eventually(WAIT, "Bob from astdb, paused Coaching in sales", || async {
        let bob = agent(&redis, BOB).await;
        membership(&bob, "sales")["pause_reason"] == "Coaching"
            && membership(&bob, "support")["paused"] == false
    })
    .await;

    // Asterisk adds Alice by name: it rewrites astdb (dump_queue_members) and logs ADDMEMBER with the
    // interface; her PAUSE comes by name.
    asterisk_puts(
        &astdb,
        &[(
            "/Queue/PersistentMembers/support",
            "Local/1002@agents/n;0;0;Bob Jones;Local/1002@agents/n;;0|Local/1001@agents/n;0;0;Alice Smith;Local/1001@agents/n;;0",
        )],
    );
    append(
        &queue_log,
        &lines(&["|support|Local/1001@agents/n|ADDMEMBER|", "|support|Alice Smith|PAUSE|Lunch"]),
    );

    eventually(WAIT, "Alice once, under her interface, paused Lunch", || async {
        let alice = agent(&redis, ALICE).await;
        alice.get("name").map(String::as_str) == Some("Alice Smith")
            && membership(&alice, "support")["pause_reason"] == "Lunch"
            && agent_ids(&redis).await == [ALICE, BOB]
    })
    .await;
    // Queue updates are coalesced (queue_update_interval_ms): they may trail the agent's.
    eventually(WAIT, "support counts Alice and Bob once, Alice paused", || async {
        let support = queue(&redis, "support").await;
        support.get("agents_logged_in").map(String::as_str) == Some("2")
            && support.get("agents_paused").map(String::as_str) == Some("1")
    })
    .await;
}
