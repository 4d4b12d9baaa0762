//! Man pages (`queuecast man DIR`, run by packaging/build.sh): one page per visible command, rendered by
//! clap_mangen from the same clap definitions as `--help` — so options never disagree with the binary —
//! followed by the sections clap cannot know: EXIT STATUS, ENVIRONMENT, FILES and SEE ALSO.

use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, italic, roman};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Section of every page: user commands.
const SECTION: &str = "1";

/// Writes `queuecast.1` and `queuecast-SUB[-SUBSUB].1` for every subcommand that is not hidden; returns the
/// paths written.
pub fn write_all(root: clap::Command, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut root = root.disable_help_subcommand(true);
    root.build();
    let pages = pages(&root);
    let names: Vec<String> = pages.iter().map(page_name).collect();
    let mut written = Vec::with_capacity(pages.len());
    for cmd in pages {
        let path = dir.join(format!("{}.{SECTION}", page_name(&cmd)));
        let mut file = std::fs::File::create(&path)?;
        render(&cmd, &names, &mut file)?;
        file.flush()?;
        written.push(path);
    }
    Ok(written)
}

/// The command and its visible subcommands, depth first (clap_mangen's own order).
fn pages(cmd: &clap::Command) -> Vec<clap::Command> {
    let mut out = vec![cmd.clone()];
    for sub in cmd.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        out.extend(pages(sub));
    }
    out
}

/// `queuecast`, `queuecast-replay`, `queuecast-parse-ami`: clap's display name after `build()`.
fn page_name(cmd: &clap::Command) -> String {
    cmd.get_display_name().unwrap_or_else(|| cmd.get_name()).to_string()
}

/// One page: clap_mangen's sections, then ours, then VERSION (top page only) last, where clap_mangen puts it.
fn render(cmd: &clap::Command, all_pages: &[String], w: &mut dyn Write) -> std::io::Result<()> {
    // The footer names the package and version on every page (a subcommand has no version of its own).
    let man = Man::new(cmd.clone()).source(format!("queuecast {}", env!("CARGO_PKG_VERSION")));
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    if cmd.get_arguments().any(|arg| !arg.is_hide_set()) {
        man.render_options_section(w)?;
    }
    if cmd.get_subcommands().any(|sub| !sub.is_hide_set()) {
        man.render_subcommands_section(w)?;
    }
    let name = page_name(cmd);
    let mut roff = Roff::new();
    exit_status(&mut roff, &name);
    environment(&mut roff, cmd, &name);
    files(&mut roff);
    see_also(&mut roff, &name, all_pages);
    roff.to_writer(w)?;
    if cmd.get_version().or(cmd.get_long_version()).is_some() {
        man.render_version_section(w)?;
    }
    Ok(())
}

/// Exit codes follow sysexits.h (cli::EX_*). Each command's page lists the codes that command returns;
/// a command not listed here (a newer one) gets 0 and 1 and points to queuecast(1) for the rest.
fn exit_status(roff: &mut Roff, page: &str) {
    use super::{EX_CONFIG, EX_OK, EX_UNAVAILABLE};
    let ok = (EX_OK, "success (for run: a clean stop on SIGTERM or SIGINT).");
    let error = (1, "any other error; the reason is printed on standard error or logged.");
    let config = (EX_CONFIG, "EX_CONFIG: the configuration is invalid (the message names the file and key).");
    let unavailable = (
        EX_UNAVAILABLE,
        "EX_UNAVAILABLE: a required service (Asterisk's AMI or Redis) was unreachable at start; only with fail_fast = true.",
    );
    let codes: Vec<(u8, &str)> = match page {
        "queuecast" | "queuecast-run" => vec![ok, error, unavailable, config],
        "queuecast-check-config" => vec![(EX_OK, "the configuration is valid."), error, config],
        "queuecast-parse" | "queuecast-parse-queue-log" | "queuecast-parse-ami" => vec![
            (EX_OK, "every line or message parsed."),
            (
                1,
                "some input did not parse (each bad item is reported on standard error, the rest is printed), or a file could not be read.",
            ),
        ],
        "queuecast-replay" | "queuecast-simulate" => vec![ok, error],
        "queuecast-status" => vec![
            ok,
            (
                1,
                "Redis holds no state for that PBX (the message lists the PBX ids it holds), or Redis is unreachable.",
            ),
            (2, "the tables were printed, but the heartbeat is over 10 s old: no daemon is writing."),
        ],
        "queuecast-gateway" => vec![ok, error, config],
        "queuecast-token" => vec![(EX_OK, "the token was printed."), error, config],
        // DESIGN.md "Commands from panels": done, refused or failed, no answer in time.
        action if action.starts_with("queuecast-action") => vec![
            (EX_OK, "the daemon executed the command."),
            (1, "the daemon refused it or it failed (the reason is printed)."),
            (EX_UNAVAILABLE, "EX_UNAVAILABLE: no answer from the daemon in time."),
        ],
        // A command this table does not know yet (e.g. the gateway's): the codes every command shares.
        _ => vec![
            ok,
            (
                1,
                "an error; the reason is printed on standard error or logged. Other codes (sysexits.h) are listed in queuecast(1).",
            ),
        ],
    };
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in codes {
        roff.control("TP", []);
        roff.text([bold(code.to_string())]);
        roff.text([roman(meaning)]);
    }
}

/// RUST_LOG, the variables systemd sets for the daemon, and every option that reads one (from clap, so a
/// new `env = "…"` option shows up here without an edit).
fn environment(roff: &mut Roff, cmd: &clap::Command, page: &str) {
    roff.control("SH", ["ENVIRONMENT"]);
    roff.control("TP", []);
    roff.text([bold("RUST_LOG")]);
    roff.text([roman(
        "A tracing filter (e.g. queuecast=debug,info). When set it wins over [log] level in the \
         configuration, at start and on reload.",
    )]);
    if matches!(page, "queuecast" | "queuecast-run") {
        roff.control("TP", []);
        roff.text([
            bold("NOTIFY_SOCKET"),
            roman(", "),
            bold("WATCHDOG_USEC"),
            roman(", "),
            bold("WATCHDOG_PID"),
        ]);
        roff.text([roman(
            "Set by systemd for Type=notify and WatchdogSec=: the daemon reports READY, STATUS and \
             WATCHDOG on them. Unset outside systemd: nothing is sent.",
        )]);
        roff.control("TP", []);
        roff.text([bold("JOURNAL_STREAM"), roman(", "), bold("INVOCATION_ID")]);
        roff.text([roman(
            "Set by systemd: with [log] format = \"auto\" the daemon then logs to journald with \
             structured fields instead of plain text.",
        )]);
    }
    for arg in cmd.get_arguments().filter(|arg| !arg.is_hide_set()) {
        let Some(var) = arg.get_env() else { continue };
        roff.control("TP", []);
        roff.text([bold(var.to_string_lossy().into_owned())]);
        roff.text([
            roman("Default for "),
            bold(format!("--{}", arg.get_long().unwrap_or(arg.get_id().as_str()))),
            roman("."),
        ]);
    }
}

/// The packaged paths (Cargo.toml [package.metadata.deb] / [package.metadata.generate-rpm] assets).
fn files(roff: &mut Roff) {
    roff.control("SH", ["FILES"]);
    let entries: [(&str, &str); 8] = [
        (
            super::DEFAULT_CONFIG,
            "The configuration (every key with its default in the packaged file); see queuecast check-config.",
        ),
        (
            "/usr/lib/systemd/system/queuecast.service",
            "The daemon's unit (queuecast run). Change it with systemctl edit queuecast, not in place.",
        ),
        (
            "/usr/lib/systemd/system/queuecast-gateway.service",
            "The gateway's unit (queuecast gateway), the HTTP/WebSocket front end reading Redis.",
        ),
        (
            "/var/lib/queuecast",
            "State directory: the queuecast user's home and the services' working directory (mode 0750).",
        ),
        (
            "/usr/lib/sysusers.d/queuecast.conf",
            "The system users queuecast (the daemon; added to the asterisk group when it exists) and queuecast-gateway (the gateway; group queuecast, no Asterisk access). The package scripts use useradd where systemd-sysusers is missing.",
        ),
        (
            "/usr/lib/tmpfiles.d/queuecast.conf",
            "Creates /var/lib/queuecast where systemd lacks StateDirectory= (before 235).",
        ),
        (
            "/var/log/asterisk/queue_log",
            "Asterisk's queue log, followed by default ([queue_log] path); readable through the asterisk group.",
        ),
        (
            "/usr/share/doc/queuecast/",
            "README.md, docs/DESIGN.md (Redis keys and messages), docs/consumers.md, docs/protocol/.",
        ),
    ];
    for (path, what) in entries {
        roff.control("TP", []);
        roff.text([italic(path)]);
        roff.text([roman(what)]);
    }
}

/// The other pages of this set plus the system tools an operator uses with them.
fn see_also(roff: &mut Roff, page: &str, all_pages: &[String]) {
    roff.control("SH", ["SEE ALSO"]);
    let mut refs: Vec<(String, &str)> = all_pages
        .iter()
        .filter(|other| other.as_str() != page)
        .map(|other| (other.clone(), SECTION))
        .collect();
    refs.extend(
        [("systemctl", "1"), ("journalctl", "1"), ("systemd.exec", "5"), ("redis-cli", "1")]
            .map(|(name, section)| (name.to_string(), section)),
    );
    let mut inlines = Vec::with_capacity(refs.len() * 2);
    for (i, (name, section)) in refs.into_iter().enumerate() {
        if i > 0 {
            inlines.push(roman(", "));
        }
        inlines.push(bold(name));
        inlines.push(roman(format!("({section})")));
    }
    roff.text(inlines);
}
