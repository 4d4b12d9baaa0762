//! `[log] level`: checked when the config is validated and turned into the filter when logging starts, by
//! one function, so `check-config` refuses exactly what `run` would.

use tracing_subscriber::EnvFilter;

/// Level names a directive without `=` may be; anything else there is a target name.
const LEVEL_NAMES: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Why a `[log] level` is refused; `reason` says what is wrong without repeating the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("log level {level:?}: {reason}")]
pub struct LevelError {
    pub level: String,
    pub reason: String,
}

/// The configured `[log] level`: a level (`info`) or `RUST_LOG`-style directives (`warn,queuecast=debug`).
/// Stricter than `EnvFilter`: a bare word that is not a level name (`loud`) parses there as "only target
/// `loud`, every level", which silences the daemon entirely, fatal errors included; here it is an error.
pub fn parse_level(level: &str) -> Result<EnvFilter, LevelError> {
    let bad = |reason: String| LevelError { level: level.to_owned(), reason };
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
