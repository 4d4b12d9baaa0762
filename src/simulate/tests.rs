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
        let read = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await;
        let n = read.unwrap_or_else(|_| panic!("no {needle:?} in time: {text}")).unwrap();
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
    // A panel's pause of a member QueueStatus listed, as the daemon sends it: answered like Asterisk, then
    // in both feeds.
    let member = text.split("StateInterface: ").nth(1).and_then(|rest| rest.split("\r\n").next()).unwrap();
    let pause = format!(
        "Action: QueuePause\r\nActionID: p1\r\nInterface: {member}\r\nPaused: true\r\nReason: Panel test\r\n\r\n"
    );
    ami.write_all(pause.as_bytes()).await.unwrap();
    read_until(
        &mut ami,
        "Response: Success\r\nActionID: p1\r\nMessage: Interface paused successfully\r\n\r\n",
    )
    .await;
    read_until(&mut ami, "Paused: 1\r\nPausedReason: Panel test\r\n").await;
    ami.write_all(b"Action: QueuePause\r\nActionID: p2\r\nInterface: PJSIP/0000\r\nPaused: true\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut ami, "Response: Error\r\nActionID: p2\r\nMessage: Interface not found\r\n\r\n").await;
    ami.write_all(b"Action: Logoff\r\nActionID: bye\r\n\r\n").await.unwrap();
    read_until(&mut ami, "Response: Goodbye").await;
    cancel.cancel();
    sim.await.unwrap().unwrap();
    let log = std::fs::read_to_string(dir.path().join("queue_log")).unwrap();
    assert!(log.lines().next().is_some_and(|l| l.ends_with("|NONE|NONE|NONE|QUEUESTART|")), "{log}");
    assert!(log.contains("|ADDMEMBER|"), "{log}");
    assert!(log.contains("|PAUSEALL|Panel test\n"), "{log}");
}

/// A model a minute in, with every agent logged in (speed 50: the logins are spread over 160 ms).
fn staffed_model() -> (Model, u64) {
    let t0 = 1_795_000_000_000;
    let mut model = Model::new(Scenario { speed: 50.0, ..scenario(11) }, t0);
    let now = t0 + 60_000;
    model.advance(now);
    (model, now)
}

fn pause(model: &mut Model, headers: &[(&str, &str)], now: u64) -> Option<member_actions::Answer> {
    let get = |k: &str| headers.iter().find(|(h, _)| h.eq_ignore_ascii_case(k)).map(|(_, v)| (*v).to_owned());
    model.member_action("QueuePause", get, now)
}

#[test]
fn a_panel_pause_holds_until_the_panel_unpauses() {
    use member_actions::Answer;
    let (mut model, now) = staffed_model();
    let alice = [("Interface", "PJSIP/1001"), ("Paused", "true"), ("Reason", "Coaching")];
    assert_eq!(pause(&mut model, &alice, now), Some(Answer::Paused));
    let lines: Vec<String> = model.advance(now).iter().flat_map(queue_log::lines).collect();
    let s = now / 1000;
    // PJSIP/1001 (Alice Smith) works support and backs up sales.
    assert_eq!(
        lines[..3],
        [
            format!("{s}|NONE|NONE|Alice Smith|PAUSEALL|Coaching"),
            format!("{s}|NONE|support|Alice Smith|PAUSE|Coaching"),
            format!("{s}|NONE|sales|Alice Smith|PAUSE|Coaching"),
        ]
    );
    // An hour of calls later she is still paused and was never rung.
    let hour: Vec<Fact> = (1..=36_000).flat_map(|k| model.advance(now + k * 100)).collect();
    assert!(
        !hour.iter().any(|f| matches!(f, Fact::AgentCalled { member, .. } if member.name == "Alice Smith"))
    );
    let status = model.queues();
    let alice_now = status[0].1.iter().find(|m| m.name == "Alice Smith").expect("still a member");
    assert!(alice_now.paused && alice_now.paused_reason == "Coaching", "{alice_now:?}");
    let later = now + 3_600_000;
    let back = [("Interface", "PJSIP/1001"), ("Queue", "support"), ("Paused", "false")];
    assert_eq!(pause(&mut model, &back, later), Some(Answer::Unpaused));
    let lines: Vec<String> = model.advance(later).iter().flat_map(queue_log::lines).collect();
    assert_eq!(lines[0], format!("{}|NONE|support|Alice Smith|UNPAUSE|", later / 1000));
    let events: Vec<String> = model.advance(later).iter().flat_map(ami::events).collect();
    assert!(events.is_empty(), "each fact is handed out once: {events:?}");
}

#[test]
fn member_actions_answer_like_app_queue_and_change_membership() {
    use member_actions::Answer;
    let (mut model, now) = staffed_model();
    let nobody = [("Interface", "PJSIP/9999"), ("Paused", "true")];
    assert_eq!(pause(&mut model, &nobody, now), Some(Answer::InterfaceNotFound));
    assert_eq!(pause(&mut model, &[("Interface", "PJSIP/1001")], now), Some(Answer::NeedInterfaceAndPaused));
    assert!(
        model.advance(now).iter().all(|f| !matches!(f, Fact::Pause { .. })),
        "a refused action changes nothing"
    );
    assert_eq!(model.member_action("Ping", |_| None, now), None, "not a member action");
    // Logout from both queues, then a login into one: Alice is in sales only.
    for queue in ["support", "sales"] {
        let get = |k: &str| match k {
            "Queue" => Some(queue.to_owned()),
            "Interface" => Some("PJSIP/1001".to_owned()),
            _ => None,
        };
        assert_eq!(model.member_action("QueueRemove", get, now), Some(Answer::Removed));
    }
    let removed = model.advance(now);
    assert_eq!(removed.iter().filter(|f| matches!(f, Fact::MemberRemoved { .. })).count(), 2, "{removed:?}");
    let members = |model: &Model, q: usize| -> Vec<String> {
        model.queues()[q].1.iter().map(|m| m.name.clone()).collect()
    };
    assert!(!members(&model, 0).contains(&"Alice Smith".to_owned()));
    let login = |k: &str| match k {
        "Queue" => Some("sales".to_owned()),
        "Interface" => Some("PJSIP/1001".to_owned()),
        "Penalty" => Some("2".to_owned()),
        _ => None,
    };
    assert_eq!(model.member_action("QueueAdd", login, now), Some(Answer::Added));
    assert_eq!(model.member_action("QueueAdd", login, now), Some(Answer::AlreadyThere));
    let lines: Vec<String> = model.advance(now).iter().flat_map(queue_log::lines).collect();
    assert_eq!(lines, [format!("{}|MANAGER|sales|PJSIP/1001|ADDMEMBER|", now / 1000)]);
    assert!(members(&model, 1).contains(&"Alice Smith".to_owned()));
    assert!(!members(&model, 0).contains(&"Alice Smith".to_owned()), "support stays without her");
    // Her simulated shift is long over by then: a panel's login is the panel's, and holds.
    let hour: Vec<Fact> = (1..=36_000).flat_map(|k| model.advance(now + k * 100)).collect();
    let logged_off =
        |f: &Fact| matches!(f, Fact::MemberRemoved { member, .. } if member.name == "Alice Smith");
    assert!(!hour.iter().any(logged_off), "the simulation logged her off again");
    assert!(members(&model, 1).contains(&"Alice Smith".to_owned()));
    let penalty = |k: &str| match k {
        "Interface" => Some("PJSIP/1001".to_owned()),
        "Penalty" => Some("4".to_owned()),
        _ => None,
    };
    assert_eq!(model.member_action("QueuePenalty", penalty, now), Some(Answer::PenaltySet));
    let events: Vec<String> = model.advance(now).iter().flat_map(ami::events).collect();
    assert!(
        events[0].starts_with("Event: QueueMemberPenalty\r\n") && events[0].contains("\r\nPenalty: 4\r\n")
    );
}

#[test]
fn a_member_the_simulation_never_had_takes_calls_once_logged_in() {
    let (mut model, now) = staffed_model();
    let get = |k: &str| match k {
        "Queue" => Some("support".to_owned()),
        "Interface" => Some("PJSIP/2001".to_owned()),
        "MemberName" => Some("Zed Temp".to_owned()),
        _ => None,
    };
    assert_eq!(model.member_action("QueueAdd", get, now), Some(member_actions::Answer::Added));
    let day: Vec<Fact> = (1..=72_000).flat_map(|k| model.advance(now + k * 100)).collect();
    assert!(day.iter().any(|f| matches!(f, Fact::Connect { member, .. } if member.name == "Zed Temp")));
}
