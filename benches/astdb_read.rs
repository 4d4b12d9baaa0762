//! Cost of one astdb re-read (`sources::astdb::read`): the lock-free double copy into memory, SQLite's
//! deserialize and the `Queue/PersistentMembers` query, on a large host's file — 10k dynamic members in 1k
//! queues (the engine bench's call center) beside 20k PJSIP contacts, which Asterisk also keeps in astdb.
//!
//! Run: `cargo bench --bench astdb_read`. Prints the file size, the time of one read (median and range of
//! `RUNS` reads) and the members read per second on one core. The daemon reads once per change Asterisk
//! commits (at most once a second), so this is the ceiling of its astdb cost.

use queuecast::sources::astdb;
use std::time::Instant;

const QUEUES: usize = 1_000;
const MEMBERS_PER_QUEUE: usize = 10;
/// Other astdb users: res_pjsip's registrar keeps one JSON contact per registration.
const CONTACTS: usize = 20_000;
/// Timed reads; the median is the figure (the machine is shared, single runs wander).
const RUNS: usize = 21;

fn build(path: &std::path::Path) {
    let mut db = rusqlite::Connection::open(path).expect("astdb");
    // main/db.c (22.10.1) schema and write statement.
    db.execute("CREATE TABLE IF NOT EXISTS astdb(key TEXT, value TEXT, PRIMARY KEY(key))", []).unwrap();
    let tx = db.transaction().unwrap();
    {
        let mut put = tx.prepare("INSERT OR REPLACE INTO astdb (key, value) VALUES (?, ?)").unwrap();
        for q in 0..QUEUES {
            let members: Vec<String> = (0..MEMBERS_PER_QUEUE)
                .map(|m| {
                    let agent = q * MEMBERS_PER_QUEUE + m;
                    let iface = format!("PJSIP/{}", 10_000 + agent);
                    format!(
                        "{iface};0;{};Agent {agent};{iface};{};0",
                        agent % 2,
                        if agent % 2 == 1 { "Lunch" } else { "" }
                    )
                })
                .collect();
            put.execute([format!("/Queue/PersistentMembers/q{q}"), members.join("|")]).unwrap();
        }
        for c in 0..CONTACTS {
            let value = format!(
                "{{\"uri\":\"sip:{c}@10.0.{}.{}:5060;transport=udp\",\"expiration_time\":\"1796156771\",\"qualify_frequency\":\"60\",\"user_agent\":\"Yealink SIP-T46S 66.86.0.15\",\"via_addr\":\"10.0.0.1\"}}",
                c / 250,
                c % 250
            );
            put.execute([format!("/registrar/contact/{c};@{c:08x}"), value]).unwrap();
        }
    }
    tx.commit().unwrap();
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("astdb.sqlite3");
    build(&path);
    let size = std::fs::metadata(&path).unwrap().len();
    let mut times = Vec::with_capacity(RUNS);
    let mut members = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        let (read, bad) = astdb::read(&path).expect("read");
        times.push(start.elapsed().as_secs_f64());
        assert_eq!(bad, 0);
        members = read.len();
    }
    assert_eq!(members, QUEUES * MEMBERS_PER_QUEUE);
    times.sort_by(f64::total_cmp);
    let median = times[RUNS / 2];
    println!(
        "astdb read: {:.1} MiB file, {members} members: {:.2} ms per read (median of {RUNS}, range {:.2}–{:.2} ms), {:.0} members/s on one core",
        size as f64 / (1024.0 * 1024.0),
        median * 1e3,
        times[0] * 1e3,
        times[RUNS - 1] * 1e3,
        members as f64 / median
    );
}
