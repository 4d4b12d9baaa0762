//! The config file's sections as typed values, with their defaults.
//!
//! A section that is absent takes its `Default`; a key that is absent takes the per-field default. The two
//! differ only for `[ami] enabled`: writing an `[ami]` section means "use AMI" unless it says otherwise,
//! while a file without `[ami]` runs on queue_log alone.

use super::secret::{RedisUrl, Secret};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Where Asterisk writes queue_log on every distribution we know of.
pub const DEFAULT_QUEUE_LOG: &str = "/var/log/asterisk/queue_log";
/// Asterisk's `manager.conf` default port.
pub const DEFAULT_AMI_PORT: u16 = 5038;
/// Keep-alive period (the PBX or a NAT box in between may silently drop an idle TCP connection).
pub const DEFAULT_PING_INTERVAL_MS: u64 = 10_000;
/// A Pong later than this means the connection is dead even though TCP has not noticed.
pub const DEFAULT_PING_TIMEOUT_MS: u64 = 5_000;
/// Reconnect backoff: a quick first retry (an Asterisk restart takes seconds), capped so a long outage costs
/// one attempt per 30 s.
pub const DEFAULT_BACKOFF_MIN_MS: u64 = 500;
pub const DEFAULT_BACKOFF_MAX_MS: u64 = 30_000;
/// `agent` carries every queue/member/caller event, `system` FullyBooted/Shutdown/Reload, `call` the
/// ≤11 Join/Leave (protocol/AMI.md §2.1).
pub const DEFAULT_EVENT_MASK: &str = "system,call,agent";
/// DESIGN.md defaults: the key prefix …
pub const DEFAULT_PREFIX: &str = "queuecast";
/// … about a day of a busy call center's messages, so consumers can catch up after an outage …
pub const DEFAULT_STREAM_MAXLEN: u64 = 100_000;
/// … call hashes outlive the day's reporting …
pub const DEFAULT_CALL_TTL_S: u64 = 86_400;
/// … and wallboards need no more than 4 updates a second per queue.
pub const DEFAULT_QUEUE_UPDATE_INTERVAL_MS: u64 = 250;
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
pub const DEFAULT_QUEUES_CONF: &str = "/etc/asterisk/queues.conf";
/// Asterisk's own `servicelevel` default is 0 (off); 20 s is the industry's usual target (80/20).
pub const DEFAULT_SERVICE_LEVEL_S: u32 = 20;
/// `timezone` value meaning "the host's time zone".
pub const SYSTEM_TIMEZONE: &str = "system";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueLogConfig {
    pub enabled: bool,
    pub path: PathBuf,
    /// Glob of rotated files, read when the log was rotated since the start of the day. Empty in the file
    /// means `<path>.*`; the loaded config always holds the resolved glob.
    pub rotated_glob: String,
    /// Local time the reporting day starts (counters reset).
    pub day_starts_at: ClockTime,
}

impl Default for QueueLogConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            path: PathBuf::from(DEFAULT_QUEUE_LOG),
            rotated_glob: String::new(),
            day_starts_at: ClockTime::MIDNIGHT,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmiConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_ami_host")]
    pub host: String,
    #[serde(default = "default_ami_port")]
    pub port: u16,
    #[serde(default)]
    pub username: String,
    /// As written in the file (masked on output). Use [`AmiConfig::secret`] for the effective value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    #[serde(default)]
    pub tls: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(default = "super::millis::<DEFAULT_PING_INTERVAL_MS>")]
    pub ping_interval_ms: u64,
    #[serde(default = "super::millis::<DEFAULT_PING_TIMEOUT_MS>")]
    pub ping_timeout_ms: u64,
    #[serde(default = "super::millis::<DEFAULT_BACKOFF_MIN_MS>")]
    pub backoff_min_ms: u64,
    #[serde(default = "super::millis::<DEFAULT_BACKOFF_MAX_MS>")]
    pub backoff_max_ms: u64,
    /// Exit 69 when AMI is unreachable at start instead of retrying forever.
    #[serde(default)]
    pub fail_fast: bool,
    /// Also follow the `dialplan` event class, so that a pause, login or logout made by dialplan on an
    /// agent's phone (PauseQueueMember, AddQueueMember…) is published with source `phone` instead of `ami`.
    /// Off by default: `Newexten` for every dialplan step about doubles the AMI traffic (measured on the
    /// recorded scenarios), and the AMI user then needs `read = dialplan` too.
    #[serde(default)]
    pub dialplan_events: bool,
    /// Not a key of the file: MD5 challenge always, plain only for tests of a proxy that drops Challenge.
    #[serde(skip)]
    pub auth: AuthMethod,
    /// `Events:` value of the Login action; not a key of the file (the engine needs exactly these classes,
    /// plus `dialplan` with [`AmiConfig::dialplan_events`]: see [`AmiConfig::event_mask`]).
    #[serde(skip, default = "default_event_mask")]
    pub events: String,
    /// `secret` or the content of `secret_file`, filled in at load.
    #[serde(skip)]
    pub(crate) resolved_secret: Option<Secret>,
}

/// How to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMethod {
    /// `Action: Challenge` then `Key: md5(challenge + secret)`: the secret never crosses the wire.
    #[default]
    Md5,
    /// `Secret:` in clear (needed only if a proxy in front of Asterisk does not pass Challenge through).
    Plain,
}

impl AmiConfig {
    /// The `Events:` of the Login action.
    pub fn event_mask(&self) -> String {
        if self.dialplan_events && !self.events.split(',').any(|c| c.trim() == "dialplan") {
            format!("{},dialplan", self.events)
        } else {
            self.events.clone()
        }
    }

    /// An enabled `[ami]` with the defaults of the file for everything else (tools and tests).
    pub fn new(host: impl Into<String>, port: u16, username: impl Into<String>, secret: Secret) -> Self {
        Self {
            enabled: true,
            host: host.into(),
            port,
            username: username.into(),
            secret: Some(secret.clone()),
            resolved_secret: Some(secret),
            ..Self::default()
        }
    }

    /// The secret to log in with (inline or read from `secret_file`).
    pub fn secret(&self) -> Option<&Secret> {
        self.resolved_secret.as_ref()
    }

    /// What the Login action sends. Validation guarantees a secret when AMI is enabled; an empty one just
    /// fails to log in, loudly.
    pub fn login_secret(&self) -> &str {
        self.secret().map_or("", Secret::expose)
    }
}

impl Default for AmiConfig {
    /// A file without `[ami]` does not use AMI.
    fn default() -> Self {
        Self {
            enabled: false,
            host: default_ami_host(),
            port: DEFAULT_AMI_PORT,
            username: String::new(),
            secret: None,
            secret_file: None,
            tls: false,
            ca_file: None,
            ping_interval_ms: DEFAULT_PING_INTERVAL_MS,
            ping_timeout_ms: DEFAULT_PING_TIMEOUT_MS,
            backoff_min_ms: DEFAULT_BACKOFF_MIN_MS,
            backoff_max_ms: DEFAULT_BACKOFF_MAX_MS,
            fail_fast: false,
            dialplan_events: false,
            auth: AuthMethod::default(),
            events: default_event_mask(),
            resolved_secret: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://`, `rediss://` (TLS), `unix:///path` or a bare socket path `/run/redis/redis.sock`.
    pub url: RedisUrl,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    pub prefix: String,
    /// Empty in the file means the host name; the loaded config always holds the resolved id.
    pub pbx_id: String,
    pub stream_maxlen: u64,
    pub call_ttl_s: u64,
    pub queue_update_interval_ms: u64,
    pub cluster: bool,
    /// Exit 69 when Redis is unreachable at start instead of retrying forever.
    pub fail_fast: bool,
    #[serde(skip)]
    pub(crate) resolved_password: Option<Secret>,
}

impl RedisConfig {
    /// The defaults of the file for `url`, PBX id = host name (tools and tests).
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: RedisUrl::new(url), pbx_id: default_pbx_id(), ..Self::default() }
    }

    /// The ACL password (inline or read from `password_file`; set in code, `password`); a password inside
    /// `url` is not repeated here.
    pub fn password(&self) -> Option<&Secret> {
        self.resolved_password.as_ref().or(self.password.as_ref())
    }

    /// The URL parsed, with the separate ACL user/password fields applied (they win over the URL's).
    pub fn connection_info(&self) -> Result<redis::ConnectionInfo, redis::RedisError> {
        use redis::IntoConnectionInfo as _;
        let info = self.url.expose().into_connection_info()?;
        let mut redis_info = info.redis_settings().clone();
        if let Some(user) = &self.username {
            redis_info = redis_info.set_username(user);
        }
        if let Some(password) = self.password() {
            redis_info = redis_info.set_password(password.expose());
        }
        Ok(info.set_redis_settings(redis_info))
    }
}

/// The host name, as DESIGN.md's default PBX id.
pub fn default_pbx_id() -> String {
    let name = gethostname::gethostname().to_string_lossy().into_owned();
    if name.is_empty() { "localhost".to_owned() } else { name }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: RedisUrl::new(DEFAULT_REDIS_URL),
            username: None,
            password: None,
            password_file: None,
            prefix: DEFAULT_PREFIX.to_owned(),
            pbx_id: String::new(),
            stream_maxlen: DEFAULT_STREAM_MAXLEN,
            call_ttl_s: DEFAULT_CALL_TTL_S,
            queue_update_interval_ms: DEFAULT_QUEUE_UPDATE_INTERVAL_MS,
            cluster: false,
            fail_fast: false,
            resolved_password: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter: `info`, `debug`, or directives such as `info,queuecast::sources=debug`.
    /// `RUST_LOG`, when set, wins.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".to_owned(), format: LogFormat::Auto }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// journald under systemd, text otherwise.
    #[default]
    Auto,
    Journald,
    Text,
    Json,
}

/// What Asterisk does not report but the engine needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Asterisk's queues.conf, read for `wrapuptime` and `servicelevel`; a missing file is not an error.
    pub queues_conf: PathBuf,
    /// Service-level threshold for queues whose queues.conf gives none.
    pub service_level_s: u32,
    /// IANA name (`Europe/Berlin`) or `system`: the zone queue_log days are counted in.
    pub timezone: String,
    /// Asterisk's astdb (`astdb.sqlite3`), read-only for the dynamic members Asterisk persists (their names
    /// and pause state). Empty in the file means: `astdbdir` (else `astvarlibdir`) of the `asterisk.conf`
    /// beside `queues_conf`, else Asterisk's default; the loaded config always holds the resolved path.
    pub astdb: PathBuf,
    /// Member name → interface, for queue_log lines that carry only the name.
    pub members: BTreeMap<String, String>,
}

impl EngineConfig {
    /// The zone days are counted in. Validation already checked the name; `system` and a zone that vanished
    /// from the tz database since then fall back to the host's zone.
    pub fn time_zone(&self) -> jiff::tz::TimeZone {
        if self.timezone == SYSTEM_TIMEZONE {
            return jiff::tz::TimeZone::system();
        }
        jiff::tz::TimeZone::get(&self.timezone).unwrap_or_else(|_| jiff::tz::TimeZone::system())
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            queues_conf: PathBuf::from(DEFAULT_QUEUES_CONF),
            service_level_s: DEFAULT_SERVICE_LEVEL_S,
            timezone: SYSTEM_TIMEZONE.to_owned(),
            astdb: PathBuf::new(),
            members: BTreeMap::new(),
        }
    }
}

/// `[metrics]`: where `/metrics` and `/healthz` are served; absent = off (DESIGN.md "Metrics").
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// `host:port` to listen on, e.g. `"127.0.0.1:9464"` (Prometheus' conventional port range); the address
    /// is validated as an IP socket address (a host name would make the bind depend on DNS at start).
    pub listen: Option<String>,
}

impl MetricsConfig {
    /// The validated address (validation rejects what does not parse, so `None` here means off).
    pub fn addr(&self) -> Option<std::net::SocketAddr> {
        self.listen.as_deref()?.parse().ok()
    }
}

/// A local wall-clock time of day, written `"HH:MM"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockTime {
    pub hour: u8,
    pub minute: u8,
}

impl ClockTime {
    pub const MIDNIGHT: ClockTime = ClockTime { hour: 0, minute: 0 };

    pub fn parse(text: &str) -> Option<Self> {
        let (h, m) = text.split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let hour: u8 = h.parse().ok()?;
        let minute: u8 = m.parse().ok()?;
        (hour < 24 && minute < 60).then_some(Self { hour, minute })
    }

    /// Seconds after local midnight.
    pub fn seconds_of_day(self) -> u32 {
        u32::from(self.hour) * 3600 + u32::from(self.minute) * 60
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

impl Serialize for ClockTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ClockTime::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("expected \"HH:MM\" (00:00–23:59), got {text:?}"))
        })
    }
}

fn yes() -> bool {
    true
}
fn default_ami_host() -> String {
    "127.0.0.1".to_owned()
}
fn default_ami_port() -> u16 {
    DEFAULT_AMI_PORT
}
fn default_event_mask() -> String {
    DEFAULT_EVENT_MASK.to_owned()
}
