//! Config → the settings each component takes. This is the edge that reads Asterisk's queues.conf and astdb,
//! so the engine itself stays free of I/O.

use crate::config::queues_conf::{self, StaticMember};
use crate::config::{AmiConfig, Config, RedisConfig};
use crate::engine::EngineConfig;
use crate::sink::RedisSettings;
use crate::sources::ami::AmiSettings;
use crate::sources::astdb::{self, PersistentMember};
use crate::sources::tail::{ReplayMode, TailSettings};

/// What the engine needs from the config and from queues.conf.
#[derive(Debug, Clone)]
pub struct EngineSetup {
    pub config: EngineConfig,
    /// queues.conf `member =>` lines and astdb's persistent members: queue_log never mentions static
    /// members, nor dynamic ones added before the current file began, so a queue_log-only daemon learns
    /// them here.
    pub static_members: Vec<StaticMember>,
    /// The persistent members read from astdb at start (the watcher sends only what changes after).
    pub persistent: Vec<PersistentMember>,
}

pub fn engine(config: &Config) -> EngineSetup {
    let day = config.queue_log.day_starts_at;
    let mut engine = EngineConfig {
        tz: config.engine.time_zone(),
        day_starts_at: jiff::civil::Time::constant(day.hour as i8, day.minute as i8, 0, 0),
        default_service_level_s: config.engine.service_level_s,
        queues: Default::default(),
        members: config.engine.members.clone(),
        queue_log_feed: config.queue_log.enabled,
    };
    let mut static_members =
        read_queues_conf(config).map(|text| queues_conf::apply(&text, &mut engine)).unwrap_or_default();
    let persistent = read_astdb(&config.engine.astdb);
    apply_persistent(&persistent, &mut engine, &mut static_members);
    EngineSetup { config: engine, static_members, persistent }
}

/// astdb's members join the members present from the start, and their names the known pairs (names in the
/// queuecast config win, as they do over queues.conf).
pub fn apply_persistent(
    persistent: &[PersistentMember],
    engine: &mut EngineConfig,
    members: &mut Vec<StaticMember>,
) {
    for member in persistent {
        if let Some(name) = &member.name {
            engine.members.entry(name.clone()).or_insert_with(|| member.interface.clone());
        }
        members.push(member.to_start_member());
    }
}

/// astdb is optional (persistent members off, Asterisk on another host): a missing or unreadable file is
/// logged once and names come from the other sources.
fn read_astdb(path: &std::path::Path) -> Vec<PersistentMember> {
    match astdb::read(path) {
        Ok((members, bad)) => {
            if bad > 0 {
                tracing::warn!(path = %path.display(), bad, "astdb: unreadable persistent member entries skipped");
            }
            tracing::info!(path = %path.display(), members = members.len(), "astdb persistent members read");
            members
        }
        Err(err) if err.is_missing() => {
            tracing::info!(path = %path.display(), "astdb not found; member names come from queues.conf and [engine.members]");
            Vec::new()
        }
        Err(err) => {
            tracing::warn!(error = %err, "astdb not read; member names come from queues.conf and [engine.members]");
            Vec::new()
        }
    }
}

/// queues.conf is optional (Asterisk may live elsewhere, or realtime queues are used): a missing file is
/// logged once and the defaults apply.
fn read_queues_conf(config: &Config) -> Option<String> {
    let path = &config.engine.queues_conf;
    match std::fs::read(path) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(err) => {
            tracing::info!(path = %path.display(), error = %err, "queues.conf not read; wrap-up and service level use defaults");
            None
        }
    }
}

pub fn tail(config: &Config) -> Option<TailSettings> {
    let section = &config.queue_log;
    if !section.enabled {
        return None;
    }
    // With AMI, membership and pause come from QueueStatus: today's lines suffice for the counters.
    let mode = if ami(config).is_some() { ReplayMode::Today } else { ReplayMode::Whole };
    let mut settings = TailSettings::new(&section.path, mode);
    settings.rotated_glob = (!section.rotated_glob.is_empty()).then(|| section.rotated_glob.clone());
    Some(settings)
}

pub fn ami(config: &Config) -> Option<AmiSettings> {
    let section: &AmiConfig = &config.ami;
    if !section.enabled {
        return None;
    }
    // Validation guarantees a secret when AMI is enabled; an empty one just fails to log in, loudly.
    let secret = section.secret().cloned().unwrap_or_else(|| crate::config::Secret::new(""));
    let mut settings = AmiSettings::new(&section.host, section.port, &section.username, secret);
    settings.tls = section.tls;
    settings.ca_file = section.ca_file.clone();
    settings.ping_interval_ms = section.ping_interval_ms;
    settings.ping_timeout_ms = section.ping_timeout_ms;
    settings.backoff_min_ms = section.backoff_min_ms;
    settings.backoff_max_ms = section.backoff_max_ms;
    Some(settings)
}

pub fn redis(config: &Config) -> RedisSettings {
    let section: &RedisConfig = &config.redis;
    let mut settings = RedisSettings::new(section.url.expose());
    settings.username = section.username.clone();
    settings.password = section.password().map(|secret| secret.expose().to_owned());
    settings.prefix = section.prefix.clone();
    settings.pbx_id = section.pbx_id.clone();
    settings.stream_maxlen = section.stream_maxlen;
    settings.call_ttl_s = section.call_ttl_s;
    settings.queue_update_interval_ms = section.queue_update_interval_ms;
    settings.cluster = section.cluster;
    settings
}
