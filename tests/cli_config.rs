//! `queuecast check-config` and the man pages as an operator meets them: the built binary, real files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EX_CONFIG: i32 = 78;

fn check_config(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_queuecast"))
        .args(["check-config", "--config"])
        .arg(path)
        .env_remove("RUST_LOG")
        .output()
        .expect("run queuecast")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs `check-config` on `path`, checks its exit code, and gives its (stdout, stderr).
fn exits(path: &Path, code: i32) -> (String, String) {
    let out = check_config(path);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(code), "stdout: {stdout}\nstderr: {stderr}");
    (stdout, stderr)
}

fn assert_hidden(secrets: &[&str], stdout: &str, stderr: &str) {
    for secret in secrets {
        assert!(!stdout.contains(secret) && !stderr.contains(secret), "{secret} leaked:\n{stdout}{stderr}");
    }
}

#[test]
fn good_config_passes_and_masks_every_secret() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ami.secret", "ami-file-secret-9f3\n");
    write(dir.path(), "redis.secret", "redis-file-secret-77\n");
    let config = write(
        dir.path(),
        "queuecast.toml",
        r#"
[queue_log]
path = "/var/log/asterisk/queue_log"
day_starts_at = "06:00"

[ami]
host = "127.0.0.1"
username = "queuecast"
secret_file = "ami.secret"

[redis]
url = "redis://alice:url-secret-5d1@127.0.0.1:6390/0"
pbx_id = "pbx-test"

[engine.members]
"Alice Smith" = "PJSIP/1001"
"#,
    );
    let (stdout, stderr) = exits(&config, 0);
    assert_hidden(&["ami-file-secret-9f3", "url-secret-5d1"], &stdout, &stderr);
    assert!(stdout.contains("day_starts_at = \"06:00\""), "{stdout}");
    assert!(stdout.contains("stream_maxlen = 100000"), "defaults filled in: {stdout}");
    assert!(stdout.contains("redis://alice:***@127.0.0.1:6390/0"), "{stdout}");

    // An inline secret and a password file.
    let config = write(
        dir.path(),
        "inline.toml",
        "[ami]\nusername = \"qc\"\nsecret = \"inline-secret-31\"\n[redis]\npassword_file = \"redis.secret\"\n",
    );
    let (stdout, stderr) = exits(&config, 0);
    assert_hidden(&["inline-secret-31", "redis-file-secret-77"], &stdout, &stderr);
    assert!(stdout.contains("secret = \"***\""), "{stdout}");
}

#[test]
fn unknown_key_is_78_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "queuecast.toml", "[redis]\nurl = \"redis://h\"\nprefixx = \"q\"\n");
    let (_, stderr) = exits(&config, EX_CONFIG);
    assert!(stderr.contains("prefixx") && stderr.contains("line 3"), "{stderr}");
    assert!(stderr.contains("queuecast.toml"), "{stderr}");
}

#[test]
fn bad_value_is_78_and_never_shows_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "queuecast.toml",
        "[ami]\nusername = \"qc\"\nsecret = \"bad-value-secret-8\"\nport = 0\n",
    );
    let (stdout, stderr) = exits(&config, EX_CONFIG);
    assert!(stderr.contains("[ami] port:"), "{stderr}");
    assert_hidden(&["bad-value-secret-8"], &stdout, &stderr);

    let config = write(dir.path(), "tz.toml", "[queue_log]\nday_starts_at = \"7am\"\n");
    let out = check_config(&config);
    assert_eq!(out.status.code(), Some(EX_CONFIG));
    assert!(text(&out).1.contains("HH:MM"));
}

#[test]
fn missing_files_are_78() {
    let dir = tempfile::tempdir().unwrap();
    let out = check_config(&dir.path().join("absent.toml"));
    assert_eq!(out.status.code(), Some(EX_CONFIG));
    assert!(text(&out).1.contains("absent.toml"));

    let config =
        write(dir.path(), "queuecast.toml", "[ami]\nusername = \"qc\"\nsecret_file = \"nope.secret\"\n");
    let (_, stderr) = exits(&config, EX_CONFIG);
    assert!(stderr.contains("[ami] secret_file") && stderr.contains("nope.secret"), "{stderr}");
}

/// The packaged config runs both sources and leaves the AMI login to fill in: until it is there,
/// check-config names every missing key, which file, and what to put there, and exits 78.
#[test]
fn shipped_config_names_the_missing_ami_login_until_filled_in() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/queuecast.toml");
    let (stdout, stderr) = exits(&shipped, EX_CONFIG);
    // One missing key a line, after the file it is missing from.
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines[0].ends_with("packaging/queuecast.toml: not complete yet:"), "{stderr}");
    assert!(lines[1].starts_with("  [ami] username is not set: the manager.conf user"), "{stderr}");
    let secret = "  [ami] secret is not set: `secret_file = \"/etc/queuecast/ami.secret\"`";
    assert!(lines[2].starts_with(secret), "{stderr}");
    assert_eq!(lines[3], "  or, to run on queue_log alone, `enabled = false` in [ami]", "{stderr}");
    assert_eq!(lines.len(), 4, "{stderr}");
    assert!(stdout.is_empty(), "nothing printed as effective config: {stdout}");

    // Filled in as its comments say: username and a secret file.
    let dir = tempfile::tempdir().unwrap();
    let secret = write(dir.path(), "ami.secret", "shipped-secret-4e1\n");
    let filled = std::fs::read_to_string(&shipped).unwrap().replace(
        "username = \"\"\n",
        &format!("username = \"queuecast\"\nsecret_file = {:?}\n", secret.display().to_string()),
    );
    let config = write(dir.path(), "queuecast.toml", &filled);
    let (stdout, stderr) = exits(&config, 0);
    assert_hidden(&["shipped-secret-4e1"], &stdout, &stderr);
    assert!(
        stdout.contains("[ami]\nenabled = true") && stdout.contains("username = \"queuecast\""),
        "{stdout}"
    );
    assert!(stdout.contains("astdb = \"/var/lib/asterisk/astdb.sqlite3\""), "resolved astdb path: {stdout}");

    // Only the secret missing: only the secret is named.
    let config = write(dir.path(), "user-only.toml", "[ami]\nusername = \"queuecast\"\n");
    let stderr = text(&check_config(&config)).1;
    assert!(
        stderr.contains("[ami] secret is not set") && !stderr.contains("username is not set"),
        "{stderr}"
    );
}

/// The packages ship these pages (packaging/build.sh): one for the binary and one per visible subcommand.
#[test]
fn man_pages_cover_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_queuecast")).arg("man").arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    for page in
        ["queuecast", "queuecast-run", "queuecast-check-config", "queuecast-replay", "queuecast-status"]
    {
        let roff = std::fs::read_to_string(dir.path().join(format!("{page}.1"))).expect(page);
        assert!(roff.contains(".TH ") && roff.contains(".SH SYNOPSIS"), "{page}.1 is not a man page");
    }
    assert!(!dir.path().join("queuecast-man.1").exists(), "the hidden `man` command has no page");
}

/// A log filter that parses as "only target `loud`" would silence the daemon, fatal errors included; a Redis
/// URL without a usable host, or a `[metrics] listen` that is no address, could never work: each is exit 78
/// naming its key, and the URL's password never shows.
#[test]
fn unusable_log_filter_redis_url_and_metrics_address_are_78() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[log]\nlevel = \"loud\"\n", "[log] level", "\"loud\" is not a level"),
        ("[log]\nlevel = \"\"\n", "[log] level", "is empty"),
        ("[log]\nlevel = \"info,queuecast=noisy\"\n", "[log] level", "not a valid filter"),
        ("[redis]\nurl = \"redis://user:pw-7c2e@local host:notaport\"\n", "[redis] url", "Redis URL"),
        ("[redis]\nurl = \"redis://:pw-7c2e@bad!host:6379\"\n", "[redis] url", "no usable host"),
        ("[redis]\nurl = \"unix://relative/redis.sock\"\n", "[redis] url", "Redis URL"),
        ("[metrics]\nlisten = \"localhost\"\n", "[metrics] listen", "not an IP address and port"),
    ];
    for (i, (section, key, reason)) in cases.into_iter().enumerate() {
        let toml = format!("[queue_log]\npath = \"/var/log/asterisk/queue_log\"\n{section}");
        let config = write(dir.path(), &format!("case{i}.toml"), &toml);
        let out = check_config(&config);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(EX_CONFIG), "{section}: stdout {stdout} stderr {stderr}");
        assert!(stderr.contains(key) && stderr.contains(reason), "{section}: {stderr}");
        assert_hidden(&["pw-7c2e"], &stdout, &stderr);
    }
    let good = "[queue_log]\npath = \"/q\"\n[log]\nlevel = \"warn,queuecast=debug\"\n[metrics]\nlisten = \"127.0.0.1:9464\"\n[redis]\nurl = \"redis://cache-1.example:6380/0\"\n";
    let out = check_config(&write(dir.path(), "good.toml", good));
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(text(&out).0.contains("listen = \"127.0.0.1:9464\""), "{:?}", text(&out));
}
