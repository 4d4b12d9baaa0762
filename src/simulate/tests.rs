use super::fact::Fact;
use super::model::{Model, Scenario};
use super::*;
use std::collections::BTreeMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn scenario(seed: u64) -> Scenario {
    Scenario {
        queues: vec!["support".into(), "sales".into()],
        agents: 6,
        calls_per_minute: 3.0,
        speed: 1.0,
        seed,
    }
}

/// Two simulated hours in 100 ms steps.
fn play(seed: u64) -> Vec<Fact> {
    let t0 = 1_795_000_000_000;
    let mut model = Model::new(scenario(seed), t0);
    (1..=72_000).flat_map(|step| model.advance(t0 + step * 100)).collect()
}

#[test]
fn same_seed_same_call_center() {
    assert_eq!(play(7), play(7));
    assert_ne!(play(7), play(8));
}

#[test]
fn plays_every_kind_of_event_with_consistent_calls() {
    let facts = play(3);
    let lines: Vec<String> = facts.iter().flat_map(queue_log::lines).collect();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for line in &lines {
        *kinds.entry(line.split('|').nth(4).unwrap_or("?")).or_default() += 1;
    }
    for kind in [
        "ADDMEMBER",
        "REMOVEMEMBER",
        "PAUSEALL",
        "PAUSE",
        "UNPAUSE",
        "ENTERQUEUE",
        "CONNECT",
        "COMPLETEAGENT",
        "COMPLETECALLER",
        "ABANDON",
        "RINGNOANSWER",
    ] {
        assert!(kinds.get(kind).is_some_and(|&n| n > 0), "no {kind} in {kinds:?}");
    }
    // Each caller ends at most once, and only after joining; answered calls complete only after CONNECT.
    let mut state: BTreeMap<&str, &str> = BTreeMap::new();
    for line in &lines {
        let fields: Vec<&str> = line.split('|').collect();
        let (uid, event) = (fields[1], fields[4]);
        let before = state.get(uid).copied();
        match event {
            "ENTERQUEUE" => assert_eq!(before, None, "{line}"),
            "CONNECT" | "ABANDON" | "EXITWITHTIMEOUT" => assert_eq!(before, Some("ENTERQUEUE"), "{line}"),
            "COMPLETEAGENT" | "COMPLETECALLER" => assert_eq!(before, Some("CONNECT"), "{line}"),
            _ => continue,
        }
        state.insert(uid, event);
    }
    // Timestamps never go backwards: a tailer reads the file in order.
    let stamps: Vec<u64> = lines.iter().filter_map(|l| l.split('|').next()?.parse().ok()).collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn only_logged_in_members_pause_or_take_calls() {
    let mut member_of: BTreeMap<(String, String), bool> = BTreeMap::new();
    let mut logins = 0;
    for fact in play(3) {
        let (name, queue) = match &fact {
            Fact::MemberAdded { queue, member, .. } | Fact::MemberRemoved { queue, member, .. } => {
                let added = matches!(fact, Fact::MemberAdded { .. });
                let was = member_of.insert((member.name.clone(), queue.clone()), added).unwrap_or(false);
                assert_ne!(was, added, "{fact:?}");
                logins += usize::from(added);
                continue;
            }
            Fact::Pause { member, .. } => (&member.name, &member.queues[0]),
            Fact::AgentCalled { member, call, .. } | Fact::Connect { member, call, .. } => {
                (&member.name, &call.queue)
            }
            _ => continue,
        };
        assert_eq!(member_of.get(&(name.clone(), queue.clone())), Some(&true), "{fact:?}");
    }
    assert!(logins > member_of.len(), "some agent logged in again after a shift");
}

#[test]
fn ami_events_have_asterisk_shape() {
    let facts = play(5);
    let events: Vec<String> = facts.iter().flat_map(ami::events).collect();
    assert!(events.iter().all(|e| e.starts_with("Event: ") && e.ends_with("\r\n\r\n")));
    let connect = events.iter().find(|e| e.starts_with("Event: AgentConnect")).expect("an AgentConnect");
    let keys: Vec<&str> = connect.lines().filter_map(|l| l.split_once(": ").map(|(k, _)| k)).collect();
    // Field set of Asterisk 22's AgentConnect (tests/fixtures/asterisk-22/calls-answered/ami.raw).
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/asterisk-22/calls-answered/ami.raw"
    ))
    .unwrap();
    let real = fixture.split("\r\n\r\n").find(|m| m.starts_with("Event: AgentConnect")).unwrap();
    let real_keys: Vec<&str> = real.lines().filter_map(|l| l.split_once(':').map(|(k, _)| k)).collect();
    assert_eq!(keys, real_keys);
}

async fn read_until(stream: &mut tokio::net::TcpStream, needle: &str) -> String {
    let mut text = String::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !text.contains(needle) {
        let n =
            tokio::time::timeout_at(deadline, stream.read(&mut buf)).await.expect("timely answer").unwrap();
        assert!(n > 0, "closed before {needle:?}: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    text
}

#[tokio::test]
async fn serves_login_ping_and_queue_status() {
    let dir = tempfile::tempdir().unwrap();
    let settings = SimulateSettings {
        scenario: Scenario { speed: 50.0, calls_per_minute: 20.0, ..scenario(1) },
        queue_log: dir.path().join("queue_log"),
        ami_listen: "127.0.0.1:0".parse().unwrap(),
        ami_username: "qc".into(),
        ami_secret: "pw".into(),
        duration: None,
    };
    let cancel = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let sim = tokio::spawn(run(settings, cancel.clone(), Some(tx)));
    let addr = rx.await.unwrap();
    let mut ami = tokio::net::TcpStream::connect(addr).await.unwrap();
    read_until(&mut ami, "Asterisk Call Manager/11.0.0\r\n").await;
    ami.write_all(b"Action: QueueStatus\r\nActionID: early\r\n\r\n").await.unwrap();
    read_until(&mut ami, "Message: Permission denied").await;
    ami.write_all(b"Action: Login\r\nActionID: l\r\nUsername: qc\r\nSecret: pw\r\n\r\nAction: Ping\r\nActionID: p\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut ami, "Ping: Pong").await;
    // Let agents log in, then ask for the truth.
    read_until(&mut ami, "Event: QueueMemberAdded").await;
    ami.write_all(b"Action: QueueStatus\r\nActionID: qs\r\n\r\n").await.unwrap();
    let text =
        read_until(&mut ami, "Event: QueueStatusComplete\r\nActionID: qs\r\nEventList: Complete").await;
    assert!(text.contains("Event: QueueMember\r\nQueue: "), "{text}");
    ami.write_all(b"Action: Logoff\r\nActionID: bye\r\n\r\n").await.unwrap();
    read_until(&mut ami, "Response: Goodbye").await;
    cancel.cancel();
    sim.await.unwrap().unwrap();
    let log = std::fs::read_to_string(dir.path().join("queue_log")).unwrap();
    assert!(log.lines().next().is_some_and(|l| l.ends_with("|NONE|NONE|NONE|QUEUESTART|")), "{log}");
    assert!(log.contains("|ADDMEMBER|"), "{log}");
}
