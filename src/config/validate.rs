//! Checks serde cannot express: ranges, required-when-enabled keys, cross-key rules.

use super::{Config, ConfigError, SYSTEM_TIMEZONE};
use std::path::Path;

/// Shortest sensible AMI ping period: below this, pings add load on a busy Asterisk for no benefit.
const MIN_PING_INTERVAL_MS: u64 = 100;

pub(super) fn check(config: &Config, origin: &Path) -> Result<(), ConfigError> {
    let invalid = |section, key, reason: &str| ConfigError::Invalid {
        file: origin.to_owned(),
        section,
        key,
        reason: reason.to_owned(),
    };
    if !config.queue_log.enabled && !config.ami.enabled {
        return Err(ConfigError::Inconsistent {
            file: origin.to_owned(),
            reason: "both [queue_log] and [ami] are disabled: enable at least one source".to_owned(),
        });
    }
    let missing = missing_credentials(config);
    if !missing.is_empty() {
        return Err(ConfigError::Missing { file: origin.to_owned(), missing });
    }
    if let Some((section, key, reason)) = check_queue_log(config)
        .or_else(|| check_ami(config))
        .or_else(|| check_redis(config))
        .or_else(|| check_log(config))
        .or_else(|| check_engine(config))
        .or_else(|| check_metrics(config))
        .or_else(|| check_gateway(config))
        .or_else(|| check_actions(config))
    {
        return Err(invalid(section, key, &reason));
    }
    Ok(())
}

type Problem = Option<(&'static str, &'static str, String)>;

fn problem(section: &'static str, key: &'static str, reason: impl Into<String>) -> Problem {
    Some((section, key, reason.into()))
}

fn check_queue_log(config: &Config) -> Problem {
    let q = &config.queue_log;
    if q.enabled && q.path.as_os_str().is_empty() {
        return problem("queue_log", "path", "must not be empty");
    }
    None
}

fn check_ami(config: &Config) -> Problem {
    let a = &config.ami;
    if !a.enabled {
        return None;
    }
    if a.host.trim().is_empty() {
        return problem("ami", "host", "must not be empty");
    }
    if a.port == 0 {
        return problem("ami", "port", "must be 1–65535");
    }
    if a.ca_file.is_some() && !a.tls {
        return problem("ami", "ca_file", "only meaningful with `tls = true`");
    }
    if a.ping_interval_ms < MIN_PING_INTERVAL_MS {
        return problem("ami", "ping_interval_ms", format!("must be at least {MIN_PING_INTERVAL_MS}"));
    }
    if a.ping_timeout_ms == 0 || a.ping_timeout_ms > a.ping_interval_ms {
        return problem("ami", "ping_timeout_ms", "must be between 1 and ping_interval_ms");
    }
    if a.backoff_min_ms == 0 {
        return problem("ami", "backoff_min_ms", "must be at least 1");
    }
    if a.backoff_max_ms < a.backoff_min_ms {
        return problem("ami", "backoff_max_ms", "must not be below backoff_min_ms");
    }
    None
}

/// The AMI login an `[ami]` section needs, each missing key named with what to put there; AMI is on as soon
/// as the file has an `[ami]` section, so the way out to queue_log alone is said too.
fn missing_credentials(config: &Config) -> Vec<String> {
    let a = &config.ami;
    if !a.enabled {
        return Vec::new();
    }
    let mut missing = Vec::new();
    if a.username.trim().is_empty() {
        missing.push(
            "[ami] username is not set: the manager.conf user queuecast logs in as (README \"Connect to your \
             Asterisk\")"
                .to_owned(),
        );
    }
    if a.secret().is_none_or(|s| s.is_empty()) {
        missing.push(
            "[ami] secret is not set: `secret_file = \"/etc/queuecast/ami.secret\"` (a file holding that \
             user's manager.conf secret, readable by the queuecast group only) or `secret = \"…\"`"
                .to_owned(),
        );
    }
    if !missing.is_empty() {
        missing.push("or, to run on queue_log alone, `enabled = false` in [ami]".to_owned());
    }
    missing
}

fn check_redis(config: &Config) -> Problem {
    let r = &config.redis;
    let url = r.url.expose();
    let known = ["redis://", "rediss://", "unix://", "redis+unix://"];
    if !(known.iter().any(|scheme| url.starts_with(scheme)) || url.starts_with('/')) {
        // The URL is not echoed: it may carry a password.
        return problem(
            "redis",
            "url",
            "must start with redis://, rediss://, unix:// or be an absolute socket path",
        );
    }
    if let Some(reason) = check_redis_target(r) {
        return problem("redis", "url", reason);
    }
    if r.url.has_password() && r.password().is_some() {
        return problem("redis", "password", "the url already carries a password; give it in one place");
    }
    if r.username.as_deref().is_some_and(str::is_empty) {
        return problem("redis", "username", "must not be empty when given");
    }
    // `{` and `}` would break the `{PBX}` cluster hash tag that keeps one PBX's keys in one slot.
    for (key, value) in [("prefix", &r.prefix), ("pbx_id", &r.pbx_id)] {
        if value.is_empty() {
            return problem("redis", key, "must not be empty");
        }
        if value.contains(['{', '}']) {
            return problem("redis", key, "must not contain '{' or '}'");
        }
    }
    if r.stream_maxlen == 0 {
        return problem("redis", "stream_maxlen", "must be at least 1");
    }
    if r.call_ttl_s == 0 {
        return problem("redis", "call_ttl_s", "must be at least 1");
    }
    None
}

fn check_log(config: &Config) -> Problem {
    match super::parse_level(&config.log.level) {
        Ok(_) => None,
        Err(err) => problem("log", "level", err.reason),
    }
}

fn check_gateway(config: &Config) -> Problem {
    if let Some((key, reason)) = super::gateway::check_serving(&config.gateway) {
        return problem("gateway", key, reason);
    }
    if let Some(reason) = super::gateway::check_pause_reasons(&config.gateway.pause_reasons) {
        return problem("gateway", "pause_reasons", reason);
    }
    let timeout = config.gateway.command_timeout_ms;
    if timeout == 0 || timeout > super::MAX_COMMAND_TIMEOUT_MS {
        return problem(
            "gateway",
            "command_timeout_ms",
            format!("must be between 1 and {}", super::MAX_COMMAND_TIMEOUT_MS),
        );
    }
    let (key, reason) = super::webhook::check_webhooks(&config.gateway.webhooks)?;
    problem("gateway.webhooks", key, reason)
}

fn check_metrics(config: &Config) -> Problem {
    let listen = config.metrics.listen.as_deref()?;
    match listen.parse::<std::net::SocketAddr>() {
        Ok(_) => None,
        Err(_) => problem(
            "metrics",
            "listen",
            format!("{listen:?} is not an IP address and port (e.g. \"127.0.0.1:9464\")"),
        ),
    }
}

/// The URL names a host (TCP/TLS) or a socket path (unix) that a connection can be opened to. Only the
/// kind of problem is said, never the URL: it may carry a password.
fn check_redis_target(settings: &super::RedisConfig) -> Option<String> {
    use redis::ConnectionAddr;
    let info = match settings.connection_info() {
        Ok(info) => info,
        Err(_) => return Some("cannot be parsed as a Redis URL (check host, port and escaping)".to_owned()),
    };
    match info.addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let usable = !host.is_empty()
                && (host.parse::<std::net::IpAddr>().is_ok()
                    || host.split('.').all(|label| {
                        !label.is_empty()
                            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    }));
            if !usable {
                return Some(
                    "has no usable host name (a host name has letters, digits, '-' and '.' only)".to_owned(),
                );
            }
            (*port == 0).then(|| "has port 0".to_owned())
        }
        ConnectionAddr::Unix(path) => {
            (!path.is_absolute()).then(|| "unix socket path must be absolute".to_owned())
        }
        _ => None,
    }
}

fn check_engine(config: &Config) -> Problem {
    let e = &config.engine;
    if e.timezone != SYSTEM_TIMEZONE {
        if let Err(err) = jiff::tz::TimeZone::get(&e.timezone) {
            return problem("engine", "timezone", format!("unknown time zone {:?}: {err}", e.timezone));
        }
    }
    for (name, interface) in &e.members {
        if name.is_empty() || !interface.contains('/') {
            return problem(
                "engine",
                "members",
                format!("{name:?} = {interface:?}: expected name = \"TECH/resource\""),
            );
        }
    }
    None
}

/// An enabled `[actions]` that allows nothing would refuse every command with a reason the operator only sees
/// in results; say it at load instead. The lists themselves stay closed by default.
fn check_actions(config: &Config) -> Problem {
    let a = &config.actions;
    if a.max_age_ms == 0 {
        return problem("actions", "max_age_ms", "must be at least 1");
    }
    if a.max_per_minute == 0 {
        return problem("actions", "max_per_minute", "must be at least 1");
    }
    if a.queues.iter().any(|q| q.trim().is_empty()) {
        return problem("actions", "queues", "a queue name must not be empty (\"*\" = every queue)");
    }
    if a.consumer.contains(|c: char| c.is_control() || c.is_whitespace()) {
        return problem("actions", "consumer", "must not contain spaces or control characters");
    }
    if !a.enabled {
        return None;
    }
    if a.allow.is_empty() {
        return problem(
            "actions",
            "allow",
            "enabled but empty: list the actions to execute, e.g. [\"pause\", \"unpause\"]",
        );
    }
    if a.queues.is_empty() {
        return problem(
            "actions",
            "queues",
            "enabled but empty: list the queues commands may touch, or [\"*\"] for every queue",
        );
    }
    if !config.ami.enabled {
        return problem("actions", "enabled", "commands are executed over AMI: enable [ami] too");
    }
    None
}
