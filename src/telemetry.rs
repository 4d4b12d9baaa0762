//! Logging setup (journald under systemd, text on a terminal) and rate-limited logging of bad input.
//!
//! Under systemd, logs go to journald natively so that structured fields (`queue`, `agent`, `uniqueid` …)
//! stay queryable (`journalctl -u queuecast F_QUEUE=support`) instead of being flattened into text.
//! `RUST_LOG`, when set, wins over the configured level so an operator can debug without editing config.

use crate::config::LogFormat;
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// Name under which the journal files our lines (`journalctl -t queuecast`).
const SYSLOG_IDENTIFIER: &str = "queuecast";

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("log level {level:?}: {reason}")]
    BadLevel { level: String, reason: String },
    #[error("RUST_LOG: {0}")]
    BadEnv(String),
    #[error("log format journald: cannot reach the journal: {0}")]
    Journald(std::io::Error),
    #[error("logging is already initialised")]
    AlreadyInitialised,
    #[error("cannot change the log level: {0}")]
    Reload(String),
}

/// Where log lines actually go after `auto` was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Journald,
    Text,
    Json,
}

/// Keeps the filter reloadable, so SIGHUP can apply a new `[log] level`.
pub struct LogHandle {
    filter: reload::Handle<EnvFilter, Registry>,
    env_override: bool,
    output: Output,
}

impl LogHandle {
    /// Applies a new configured level; ignored while `RUST_LOG` is set (it wins, as at start).
    pub fn set_level(&self, level: &str) -> Result<(), TelemetryError> {
        if self.env_override {
            return Ok(());
        }
        let filter = parse_level(level)?;
        self.filter.reload(filter).map_err(|err| TelemetryError::Reload(err.to_string()))
    }

    pub fn output(&self) -> Output {
        self.output
    }
}

/// Installs the global subscriber. Call once, before anything logs.
pub fn init(level: &str, format: LogFormat) -> Result<LogHandle, TelemetryError> {
    let (filter, env_override) = match std::env::var("RUST_LOG") {
        Ok(env) if !env.trim().is_empty() => {
            (EnvFilter::builder().parse(&env).map_err(|err| TelemetryError::BadEnv(err.to_string()))?, true)
        }
        _ => (parse_level(level)?, false),
    };
    let (filter, handle) = reload::Layer::new(filter);
    let mut output = resolve_output(format);
    let journald = match output {
        Output::Journald => match tracing_journald::layer() {
            Ok(layer) => Some(layer.with_syslog_identifier(SYSLOG_IDENTIFIER.to_owned())),
            Err(err) if format == LogFormat::Journald => return Err(TelemetryError::Journald(err)),
            // `auto` guessed systemd but the journal socket is not there (container): fall back to text.
            Err(_) => {
                output = Output::Text;
                None
            }
        },
        _ => None,
    };
    let ansi = std::io::stderr().is_terminal();
    let text = (output == Output::Text)
        .then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi));
    let json = (output == Output::Json).then(|| {
        tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr).with_current_span(false)
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(journald)
        .with(text)
        .with(json)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInitialised)?;
    Ok(LogHandle { filter: handle, env_override, output })
}

/// Level names a directive without `=` may be; anything else there is a target name.
const LEVEL_NAMES: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// The configured `[log] level`: a level (`info`) or `RUST_LOG`-style directives (`warn,queuecast=debug`).
/// Stricter than `EnvFilter`: a bare word that is not a level name (`loud`) parses there as "only target
/// `loud`, every level", which silences the daemon entirely, fatal errors included; here it is an error.
pub fn parse_level(level: &str) -> Result<EnvFilter, TelemetryError> {
    let bad = |reason: String| TelemetryError::BadLevel { level: level.to_owned(), reason };
    if level.trim().is_empty() {
        return Err(bad("is empty: give a level (error, warn, info, debug, trace, off)".to_owned()));
    }
    for directive in level.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if !directive.contains('=') && !LEVEL_NAMES.iter().any(|name| directive.eq_ignore_ascii_case(name)) {
            return Err(bad(format!(
                "{directive:?} is not a level (error, warn, info, debug, trace, off); targets are written target=level"
            )));
        }
    }
    EnvFilter::builder().parse(level).map_err(|err| bad(format!("not a valid filter ({err})")))
}

impl TelemetryError {
    /// What is wrong, without the value (for the config error, which names `[log] level` itself).
    pub fn reason(&self) -> String {
        match self {
            TelemetryError::BadLevel { reason, .. } => reason.clone(),
            other => other.to_string(),
        }
    }
}

/// `auto`: journald when systemd connected our stderr to the journal (or started us with stderr elsewhere
/// than a terminal); text otherwise. A terminal always gets text: shells inside a desktop session inherit
/// `INVOCATION_ID`/`JOURNAL_STREAM` from their own systemd unit.
pub fn resolve_output(format: LogFormat) -> Output {
    match format {
        LogFormat::Journald => Output::Journald,
        LogFormat::Text => Output::Text,
        LogFormat::Json => Output::Json,
        LogFormat::Auto => {
            let stderr_is_terminal = std::io::stderr().is_terminal();
            if !stderr_is_terminal
                && (stderr_is_journal_stream() || std::env::var_os("INVOCATION_ID").is_some())
            {
                Output::Journald
            } else {
                Output::Text
            }
        }
    }
}

/// systemd sets `JOURNAL_STREAM=<dev>:<inode>` of the stream it connected; it only means "our stderr is the
/// journal" when stderr is still that very stream (it is inherited by children whose stderr was redirected).
fn stderr_is_journal_stream() -> bool {
    let Some((dev, ino)) = std::env::var("JOURNAL_STREAM").ok().and_then(|v| parse_journal_stream(&v)) else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else { return false };
    std::fs::File::from(fd).metadata().is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}

fn parse_journal_stream(value: &str) -> Option<(u64, u64)> {
    let (dev, ino) = value.split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// Decision of [`RateLimited::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Log this one. `suppressed_before` is how many were dropped in the previous window (log it with the
    /// line so the reader knows the log is incomplete).
    Log { suppressed_before: u64 },
    /// Drop this one; it is counted.
    Suppress,
}

/// A burst limiter for logs about bad input: a corrupt queue_log or a misbehaving AMI peer can produce
/// thousands of identical warnings a second, which would flood the journal and hide everything else.
/// Logs the first `burst` per window, then counts; the count is reported with the next logged line or by
/// [`RateLimited::take_summary`]. Time is passed in, so the limiter is testable and never reads a clock.
#[derive(Debug, Clone)]
pub struct RateLimited {
    burst: u32,
    window: Duration,
    window_start: Option<Instant>,
    passed: u32,
    suppressed: u64,
}

impl RateLimited {
    /// Default for bad-input warnings: 10 lines a minute per kind of problem.
    pub const BAD_INPUT_BURST: u32 = 10;
    pub const BAD_INPUT_WINDOW: Duration = Duration::from_secs(60);

    pub const fn new(burst: u32, window: Duration) -> Self {
        Self { burst, window, window_start: None, passed: 0, suppressed: 0 }
    }

    /// 10 per minute.
    pub const fn bad_input() -> Self {
        Self::new(Self::BAD_INPUT_BURST, Self::BAD_INPUT_WINDOW)
    }

    pub fn admit(&mut self, now: Instant) -> Admit {
        let mut suppressed_before = 0;
        if self.window_start.is_none_or(|start| now.saturating_duration_since(start) >= self.window) {
            suppressed_before = std::mem::take(&mut self.suppressed);
            self.window_start = Some(now);
            self.passed = 0;
        }
        if self.passed < self.burst {
            self.passed += 1;
            Admit::Log { suppressed_before }
        } else {
            self.suppressed += 1;
            Admit::Suppress
        }
    }

    /// Once the window in which lines were dropped is over, returns their count (once), for a periodic
    /// "N similar messages suppressed" line when no new bad input arrives to carry it.
    pub fn take_summary(&mut self, now: Instant) -> Option<u64> {
        let start = self.window_start?;
        if self.suppressed == 0 || now.saturating_duration_since(start) < self.window {
            return None;
        }
        self.window_start = None;
        self.passed = 0;
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// The kinds of bad input, each rate-limited on its own (README: "at most 10 times a minute per kind, then
/// summarised"), by one limiter for both sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadInput {
    /// A queue_log line the parser rejects.
    QueueLogLine,
    /// An AMI message that cannot be classified or breaks a size limit.
    AmiMessage,
    /// A `…:commands` entry without a usable `id` (one with an id is answered `malformed` instead).
    Command,
}

impl BadInput {
    const ALL: [BadInput; 3] = [BadInput::QueueLogLine, BadInput::AmiMessage, BadInput::Command];

    /// The `kind` label of logs and of `queuecast_bad_input_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            BadInput::QueueLogLine => "queue_log_line",
            BadInput::AmiMessage => "ami_message",
            BadInput::Command => "command",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Longest piece of offending input quoted in a log line.
const BAD_INPUT_QUOTE_BYTES: usize = 120;

/// One limiter per kind, shared by every task that reads input (the queue_log tail, each AMI connection).
static BAD_INPUT: Mutex<[RateLimited; BadInput::ALL.len()]> =
    Mutex::new([RateLimited::bad_input(), RateLimited::bad_input(), RateLimited::bad_input()]);

/// Reports one piece of bad input that was skipped: counted in `/metrics`, logged at WARN within the
/// kind's budget (control bytes escaped, so a crafted line can neither forge log lines nor send terminal
/// escapes), the rest counted and summarised by the next logged line or [`summarise_bad_input`].
pub fn bad_input(kind: BadInput, error: &dyn std::fmt::Display, input: &[u8]) {
    metrics::counter!(crate::metrics::BAD_INPUT, "kind" => kind.as_str()).increment(1);
    let admit = BAD_INPUT.lock().unwrap_or_else(PoisonError::into_inner)[kind.index()].admit(Instant::now());
    let Admit::Log { suppressed_before } = admit else { return };
    let quoted = input.get(..BAD_INPUT_QUOTE_BYTES).unwrap_or(input);
    let error = error.to_string();
    let text = parsers::text::decode(quoted);
    let (error, input) = (escape_controls(&error), escape_controls(&text));
    match kind {
        BadInput::QueueLogLine => tracing::warn!(
            kind = kind.as_str(), error = %error, line = %input, suppressed_before, "skipping a bad queue_log line"
        ),
        BadInput::AmiMessage => tracing::warn!(
            kind = kind.as_str(), error = %error, message = %input, suppressed_before, "skipping an unparsable AMI message"
        ),
        BadInput::Command => tracing::warn!(
            kind = kind.as_str(), error = %error, entry = %input, suppressed_before, "skipping a command entry without a usable id"
        ),
    }
}

/// Logs, once per kind whose window ended with input left unlogged, how many were skipped silently. The
/// daemon calls it from its once-a-second tick, so a burst that stops is still accounted for.
pub fn summarise_bad_input() {
    let now = Instant::now();
    let counts: Vec<(BadInput, u64)> = {
        let mut limiters = BAD_INPUT.lock().unwrap_or_else(PoisonError::into_inner);
        BadInput::ALL.iter().filter_map(|&k| Some((k, limiters[k.index()].take_summary(now)?))).collect()
    };
    for (kind, suppressed) in counts {
        tracing::warn!(kind = kind.as_str(), suppressed, "more bad input skipped without a log line each");
    }
}

/// `text` with every control character (C0, DEL, C1) written as a Rust escape (`\0`, `\u{7}`, `\u{1b}`).
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            // Writing into a String cannot fail.
            let _ = write!(out, "{}", c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_bytes_are_escaped() {
        assert_eq!(escape_controls("plain Müller"), "plain Müller");
        assert_eq!(escape_controls("a\0b\x07c\x1b[31md\ne\u{9b}"), "a\\0b\\u{7}c\\u{1b}[31md\\ne\\u{9b}");
    }

    #[test]
    fn first_burst_passes_then_counts() {
        let t0 = Instant::now();
        let mut rl = RateLimited::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(rl.admit(t0), Admit::Log { suppressed_before: 0 });
        }
        for _ in 0..5 {
            assert_eq!(rl.admit(t0 + Duration::from_secs(10)), Admit::Suppress);
        }
        assert_eq!(rl.take_summary(t0 + Duration::from_secs(59)), None);
        assert_eq!(rl.admit(t0 + Duration::from_secs(61)), Admit::Log { suppressed_before: 5 });
        assert_eq!(rl.admit(t0 + Duration::from_secs(62)), Admit::Log { suppressed_before: 0 });
    }

    #[test]
    fn summary_reported_once_when_quiet() {
        let t0 = Instant::now();
        let mut rl = RateLimited::new(1, Duration::from_secs(60));
        assert_eq!(rl.admit(t0), Admit::Log { suppressed_before: 0 });
        assert_eq!(rl.admit(t0), Admit::Suppress);
        assert_eq!(rl.admit(t0), Admit::Suppress);
        assert_eq!(rl.take_summary(t0 + Duration::from_secs(60)), Some(2));
        assert_eq!(rl.take_summary(t0 + Duration::from_secs(120)), None);
        assert_eq!(rl.admit(t0 + Duration::from_secs(121)), Admit::Log { suppressed_before: 0 });
    }

    #[test]
    fn journal_stream_value() {
        assert_eq!(parse_journal_stream("8:12345"), Some((8, 12345)));
        assert_eq!(parse_journal_stream("garbage"), None);
        assert_eq!(resolve_output(LogFormat::Json), Output::Json);
    }
}
