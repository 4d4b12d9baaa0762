//! The PBX's own files read at start: Asterisk's queues.conf and astdb, into what the engine is told before
//! the first event. This edge does the reading so the engine itself stays free of I/O; the daemon, `replay
//! --config` and the tests set the engine up through it alike.

use crate::config::Config;
use crate::engine::PbxSetup;
use crate::normalize::static_members::StaticMember;
use crate::sources::astdb;
use crate::sources::queues_conf;

/// What the engine needs from the config and from queues.conf.
#[derive(Debug, Clone)]
pub struct EngineSetup {
    pub pbx: PbxSetup,
    /// queues.conf `member =>` lines and astdb's persistent members: queue_log never mentions static
    /// members, nor dynamic ones added before the current file began, so a queue_log-only daemon learns
    /// them here.
    pub static_members: Vec<StaticMember>,
    /// The persistent members read from astdb at start (the watcher sends only what changes after).
    pub persistent: Vec<StaticMember>,
}

pub fn engine_setup(config: &Config) -> EngineSetup {
    let day = config.queue_log.day_starts_at;
    let mut engine = PbxSetup {
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
    EngineSetup { pbx: engine, static_members, persistent }
}

/// astdb's members join the members present from the start, and their names the known pairs (names in the
/// queuecast config win, as they do over queues.conf).
pub fn apply_persistent(persistent: &[StaticMember], engine: &mut PbxSetup, members: &mut Vec<StaticMember>) {
    for member in persistent {
        if let Some(name) = &member.name {
            engine.members.entry(name.clone()).or_insert_with(|| member.interface.clone());
        }
    }
    members.extend_from_slice(persistent);
}

/// astdb is optional (persistent members off, Asterisk on another host): a missing or unreadable file is
/// logged once and names come from the other sources.
fn read_astdb(path: &std::path::Path) -> Vec<StaticMember> {
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
