//! Hostile `[[gateway.webhooks]]` configs through the real `queuecast check-config`: refused with a clear
//! message naming the webhook and key, exit 78; the signing secret never printed.

const SECRET: &str = "webhook-secret-0123456789";

fn check_config(text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queuecast.toml");
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_queuecast"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), all)
}

#[test]
fn hostile_webhook_configs_are_refused_and_the_secret_never_printed() {
    let hook = |extra: &str| {
        format!(
            "[gateway]\ntoken_secret = \"token-secret-0123456789\"\n\n[[gateway.webhooks]]\nname = \"crm\"\n\
             events = [\"agent_event\"]\nsecret = \"{SECRET}\"\n{extra}\n"
        )
    };
    let cases = [
        ("url = \"file:///etc/passwd\"", "scheme file:// is not allowed"),
        ("url = \"http:///hook\"", "url"),
        ("url = \"https://\"", "url"),
        ("url = \"gopher://h/\"", "use http:// or https://"),
        ("url = \"http://user:pw@crm.example.com/\"", "must not carry credentials"),
        ("url = \"http://crm.example.com/\"\ntimeout_ms = 86400000", "timeout_ms"),
        ("url = \"http://crm.example.com/\"\nbackoff_max_ms = 99999999999", "backoff_max_ms"),
        ("url = \"http://crm.example.com/\"\nmethod = \"GET\"\nbody = \"json\"", "query string"),
        ("url = \"http://crm.example.com/\"\nmethod = \"DELETE\"", "DELETE"),
        ("url = \"http://crm.example.com/\"\nevents = [\"everything\"]", "is not one of"),
        ("url = \"http://crm.example.com/\"\nagents = []", "agents"),
        ("url = \"http://crm.example.com/\"\nsecret_file = \"/nonexistent/secret\"", "not both"),
        ("url = \"http://crm.example.com/\"\nfollow_redirects = true", "follow_redirects"),
        ("url = \"http://crm.example.com/\"\nca_file = \"/etc/hostname\"", "only meaningful with an https"),
        (
            "url = \"https://crm.example.com/\"\nca_file = \"/nonexistent/ca.pem\"",
            "cannot read /nonexistent/ca.pem",
        ),
    ];
    for (extra, expected) in cases {
        // `events` given twice is a TOML error: drop the default line when the case sets its own.
        let text = if extra.contains("events") {
            hook(extra).replacen("events = [\"agent_event\"]\n", "", 1)
        } else {
            hook(extra)
        };
        let (code, out) = check_config(&text);
        assert_eq!(code, 78, "{extra}: {out}");
        assert!(out.contains(expected), "{extra}: expected {expected:?} in:\n{out}");
        assert!(
            out.contains("crm") || out.contains("line"),
            "{extra}: names the webhook or the line:\n{out}"
        );
        assert!(!out.contains(SECRET), "{extra}: secret printed:\n{out}");
    }
    let (code, out) =
        check_config(&hook("url = \"http://crm.example.com/\"\nname2 = 1").replace("name2 = 1", ""));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[[gateway.webhooks]]") && out.contains("secret = \"***\""), "{out}");
    assert!(!out.contains(SECRET), "secret printed:\n{out}");
    let dup = hook("url = \"http://a.example/\"")
        + "\n[[gateway.webhooks]]\nname = \"crm\"\nurl = \"http://b.example/\"\nevents = [\"agent_event\"]\n";
    let (code, out) = check_config(&dup);
    assert_eq!(code, 78);
    assert!(out.contains("used by two webhooks"), "{out}");
}
