use super::*;
use std::io::Write;

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new("/etc/queuecast/queuecast.toml"))
}

fn err(text: &str) -> String {
    load(text).expect_err("config should be rejected").to_string()
}

#[test]
fn empty_file_is_queue_log_only_with_defaults() {
    let c = load("").unwrap();
    assert!(c.queue_log.enabled);
    assert!(!c.ami.enabled);
    assert_eq!(c.queue_log.rotated_glob, "/var/log/asterisk/queue_log.*");
    assert!(!c.redis.pbx_id.is_empty());
    assert_eq!(c.redis.stream_maxlen, DEFAULT_STREAM_MAXLEN);
    assert_eq!(c.engine.service_level_s, 20);
}

#[test]
fn ami_section_enables_ami() {
    let c = load("[ami]\nusername = \"qc\"\nsecret = \"s3cr3t\"\n").unwrap();
    assert!(c.ami.enabled);
    assert_eq!(c.ami.port, 5038);
    assert_eq!(c.ami.secret().map(Secret::expose), Some("s3cr3t"));
}

#[test]
fn dialplan_events_add_the_dialplan_class_to_the_login_mask() {
    let c = load("[ami]\nusername = \"qc\"\nsecret = \"s\"\n").unwrap();
    assert_eq!(c.ami.event_mask(), "system,call,agent");
    let c = load("[ami]\nusername = \"qc\"\nsecret = \"s\"\ndialplan_events = true\n").unwrap();
    assert_eq!(c.ami.event_mask(), "system,call,agent,dialplan");
}

#[test]
fn unknown_key_is_named_with_position() {
    let e = err("[ami]\nusername = \"qc\"\nsecert = \"x\"\n");
    assert!(e.contains("secert"), "{e}");
    assert!(e.contains("line 3"), "{e}");
    assert!(e.starts_with("/etc/queuecast/queuecast.toml: "), "{e}");
    let e = err("[redis]\nurl = \"redis://h\"\n[bogus]\n");
    assert!(e.contains("bogus"), "{e}");
}

#[test]
fn bad_values_name_section_and_key() {
    let cases = [
        ("[ami]\nusername = \"u\"\nsecret = \"s\"\nport = 0\n", "[ami] port:"),
        ("[ami]\nsecret = \"s\"\n", "[ami] username is not set:"),
        ("[ami]\nusername = \"u\"\n", "[ami] secret is not set:"),
        ("[ami]\nusername = \"u\"\nsecret = \"s\"\nsecret_file = \"/x\"\n", "[ami] secret:"),
        (
            "[ami]\nusername = \"u\"\nsecret = \"s\"\nbackoff_min_ms = 10\nbackoff_max_ms = 5\n",
            "[ami] backoff_max_ms:",
        ),
        ("[redis]\nurl = \"http://h\"\n", "[redis] url:"),
        ("[redis]\npbx_id = \"a{b}\"\n", "[redis] pbx_id:"),
        ("[redis]\nurl = \"redis://:p@h\"\npassword = \"q\"\n", "[redis] password:"),
        ("[log]\nlevel = \"info,=\"\n", "[log] level:"),
        ("[engine]\ntimezone = \"Mars/Olympus\"\n", "[engine] timezone:"),
        ("[engine.members]\nalice = \"1001\"\n", "[engine] members:"),
        ("[gateway]\nlisten = \"localhost:8080\"\n", "[gateway] listen:"),
        ("[gateway]\nallowed_origins = [\"crm.example.com\"]\n", "[gateway] allowed_origins:"),
        ("[gateway]\nallowed_origins = [\"https://crm\\n.example.com\"]\n", "[gateway] allowed_origins:"),
        ("[gateway]\nmax_streams = 0\n", "[gateway] max_streams:"),
    ];
    for (text, expected) in cases {
        let e = err(text);
        assert!(e.contains(expected), "{text:?} → {e}");
    }
}

#[test]
fn type_errors_keep_toml_position() {
    let e = err("[queue_log]\nday_starts_at = \"25:00\"\n");
    assert!(e.contains("line 2") && e.contains("HH:MM"), "{e}");
    let e = err("[ami]\nport = 70000\n");
    assert!(e.contains("port"), "{e}");
    let e = err("[log]\nformat = \"xml\"\n");
    assert!(e.contains("xml") || e.contains("format"), "{e}");
}

#[test]
fn no_source_is_an_error() {
    assert!(err("[queue_log]\nenabled = false\n").contains("enable at least one source"));
}

#[test]
fn secret_file_is_read_trimmed_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let secret_path = dir.path().join("ami.secret");
    std::fs::File::create(&secret_path).unwrap().write_all(b"topsecret-42\n").unwrap();
    let cfg_path = dir.path().join("queuecast.toml");
    let text =
        "[ami]\nusername = \"qc\"\nsecret_file = \"ami.secret\"\n[redis]\nurl = \"redis://u:urlpass-7@h\"\n";
    let c = Config::from_toml(text, &cfg_path).unwrap();
    assert_eq!(c.ami.secret().unwrap().expose(), "topsecret-42");
    assert_eq!(c.ami.secret_file.as_deref(), Some(secret_path.as_path()));
    let shown = format!("{}{:?}", c.to_masked_toml(), c);
    assert!(!shown.contains("topsecret-42") && !shown.contains("urlpass-7"), "{shown}");
}

#[test]
fn unreadable_secret_file_names_the_file() {
    let e = err("[ami]\nusername = \"qc\"\nsecret_file = \"/nonexistent/ami.secret\"\n");
    assert!(e.contains("[ami] secret_file: cannot read /nonexistent/ami.secret"), "{e}");
}

#[test]
fn masked_output_round_trips() {
    let text = "[ami]\nusername = \"qc\"\nsecret = \"pw\"\n[engine.members]\nalice = \"PJSIP/1001\"\n";
    let c = load(text).unwrap();
    let again = load(&c.to_masked_toml()).unwrap();
    // Same config except the secret, which the output only shows as the mask.
    assert_eq!(again.ami.secret().unwrap().expose(), MASK);
    assert_eq!(again.engine.members, c.engine.members);
    assert_eq!(again.queue_log, c.queue_log);
    assert_eq!(again.redis.pbx_id, c.redis.pbx_id);
}

/// The packaged config is the normal case, both sources, and names the AMI login still to fill in.
#[test]
fn shipped_config_uses_both_sources_and_names_the_missing_login() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/queuecast.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let e = Config::from_toml(&text, &path).expect_err("credentials are left to fill in").to_string();
    assert!(e.contains("[ami] username is not set: the manager.conf user"), "{e}");
    assert!(e.contains("[ami] secret is not set: `secret_file = \"/etc/queuecast/ami.secret\"`"), "{e}");
    assert!(e.contains("`enabled = false` in [ami]"), "{e}");
    let filled = text.replace("username = \"\"", "username = \"queuecast\"\nsecret = \"pw-1\"");
    let c = Config::from_toml(&filled, &path).unwrap();
    assert!(c.queue_log.enabled && c.ami.enabled);
    assert_eq!(c.ami.username, "queuecast");
    assert!(c.engine.astdb.ends_with("astdb.sqlite3"), "{:?}", c.engine.astdb);
}

#[test]
fn astdb_path_defaults_from_asterisk_conf_beside_queues_conf() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("asterisk.conf"), "[directories](!)\nastdbdir => /srv/db\n").unwrap();
    let queues_conf = dir.path().join("queues.conf");
    let text = format!("[engine]\nqueues_conf = {:?}\n", queues_conf.display().to_string());
    assert_eq!(load(&text).unwrap().engine.astdb, Path::new("/srv/db/astdb.sqlite3"));
    let c = load("[engine]\nqueues_conf = \"/nonexistent/queues.conf\"\n").unwrap();
    assert_eq!(c.engine.astdb, Path::new("/var/lib/asterisk/astdb.sqlite3"));
    let c = load("[engine]\nastdb = \"/x/astdb.sqlite3\"\n").unwrap();
    assert_eq!(c.engine.astdb, Path::new("/x/astdb.sqlite3"));
}

#[test]
fn actions_are_closed_by_default_and_checked_when_enabled() {
    let c = load("").unwrap();
    assert!(!c.actions.enabled);
    assert!(c.actions.allow.is_empty() && c.actions.queues.is_empty());
    assert_eq!(c.actions.max_age_ms, DEFAULT_MAX_AGE_MS);
    let ami = "[ami]\nusername = \"u\"\nsecret = \"s\"\n";
    let ok = load(&format!(
        "{ami}[actions]\nenabled = true\nallow = [\"pause\", \"unpause\"]\nqueues = [\"*\"]\n"
    ))
    .unwrap();
    assert_eq!(ok.actions.allow, [crate::commands::Action::Pause, crate::commands::Action::Unpause]);
    assert!(ok.to_masked_toml().contains("[actions]"), "check-config shows it");
    let cases = [
        (format!("{ami}[actions]\nenabled = true\nqueues = [\"*\"]\n"), "[actions] allow:"),
        (format!("{ami}[actions]\nenabled = true\nallow = [\"pause\"]\n"), "[actions] queues:"),
        (format!("{ami}[actions]\nallow = [\"reboot\"]\n"), "reboot"),
        (format!("{ami}[actions]\nmax_per_minute = 0\n"), "[actions] max_per_minute:"),
        (format!("{ami}[actions]\nmax_age = 5\n"), "max_age"),
        ("[actions]\nenabled = true\nallow = [\"pause\"]\nqueues = [\"*\"]\n".to_owned(), "enable [ami]"),
    ];
    for (text, want) in cases {
        let e = err(&text);
        assert!(e.contains(want), "{text:?}: {e}");
    }
}
