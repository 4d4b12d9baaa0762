//! Configuration (TOML), validation and secret handling.
//!
//! `Config::load` is the only entry point: it parses (unknown keys are errors), fills derived defaults
//! (host name, rotated glob), reads secret files and validates, so a `Config` value is always usable as is.
//! Every error names the file and, when it can, the `[section] key`; none ever contains a secret.

mod actions;
mod asterisk_conf;
mod gateway;
mod log_level;
mod secret;
mod sections;
mod validate;
mod webhook;

pub use actions::*;
pub use asterisk_conf::{DEFAULT_ASTDB, path_from_asterisk_conf};
pub use gateway::*;
pub use log_level::{LevelError, parse_level};
pub use secret::{MASK, RedisUrl, Secret, mask_url};
pub use sections::*;
pub use webhook::*;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub queue_log: QueueLogConfig,
    pub ami: AmiConfig,
    pub redis: RedisConfig,
    pub log: LogConfig,
    pub engine: EngineConfig,
    pub actions: ActionsConfig,
    pub metrics: MetricsConfig,
    pub gateway: GatewayConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read { file: PathBuf, source: std::io::Error },
    /// toml's message keeps the line, the column and the offending key.
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{file}: [{section}] {key}: {reason}")]
    Invalid { file: PathBuf, section: &'static str, key: &'static str, reason: String },
    #[error("{file}: {reason}")]
    Inconsistent { file: PathBuf, reason: String },
    /// Keys the file must still be given (the packaged config leaves the AMI credentials to fill in): all of
    /// them at once, each as `[section] key is not set: what to put there`.
    #[error("{file}: {}", .missing.join("; "))]
    Missing { file: PathBuf, missing: Vec<String> },
}

impl Config {
    /// Reads, parses, resolves and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { file: path.to_owned(), source })?;
        Self::from_toml(&text, path)
    }

    /// Like [`Config::load`] for text already read; `origin` names the file in errors and anchors relative
    /// `secret_file`/`password_file`/`ca_file` paths.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|err| ConfigError::Parse {
            file: origin.to_owned(),
            message: err.to_string().trim_end().to_owned(),
        })?;
        config.resolve(origin)?;
        validate::check(&config, origin)?;
        Ok(config)
    }

    /// The effective config as TOML (all defaults filled), secrets masked: `check-config` output.
    pub fn to_masked_toml(&self) -> String {
        // Serializing plain structs of strings, numbers, bools and maps cannot fail.
        toml::to_string(self).unwrap_or_else(|err| format!("# cannot render config: {err}\n"))
    }

    fn resolve(&mut self, origin: &Path) -> Result<(), ConfigError> {
        let base = origin.parent().unwrap_or(Path::new("."));
        if self.queue_log.rotated_glob.is_empty() {
            self.queue_log.rotated_glob = format!("{}.*", self.queue_log.path.display());
        }
        if self.engine.astdb.as_os_str().is_empty() {
            self.engine.astdb = default_astdb(&self.engine.queues_conf);
        }
        if self.redis.pbx_id.is_empty() {
            self.redis.pbx_id = gethostname::gethostname().to_string_lossy().into_owned();
        }
        for file in [
            &mut self.ami.secret_file,
            &mut self.ami.ca_file,
            &mut self.redis.password_file,
            &mut self.gateway.token_secret_file,
        ]
        .into_iter()
        .flatten()
        {
            if file.is_relative() {
                *file = base.join(&*file);
            }
        }
        self.ami.resolved_secret =
            resolve_secret(origin, "ami", "secret", &self.ami.secret, &self.ami.secret_file)?;
        self.redis.resolved_password =
            resolve_secret(origin, "redis", "password", &self.redis.password, &self.redis.password_file)?;
        self.gateway.resolved_secret = resolve_secret(
            origin,
            "gateway",
            "token_secret",
            &self.gateway.token_secret,
            &self.gateway.token_secret_file,
        )?;
        for hook in &mut self.gateway.webhooks {
            for file in [&mut hook.secret_file, &mut hook.ca_file].into_iter().flatten() {
                if file.is_relative() {
                    *file = base.join(&*file);
                }
            }
            let name = hook.name.clone();
            hook.resolved_secret =
                resolve_secret(origin, "gateway.webhooks", "secret", &hook.secret, &hook.secret_file)
                    .map_err(|err| match err {
                        ConfigError::Invalid { file, section, key, reason } => ConfigError::Invalid {
                            file,
                            section,
                            key,
                            reason: format!("webhook {name:?}: {reason}"),
                        },
                        other => other,
                    })?;
        }
        Ok(())
    }
}

/// `#[serde(default = "super::millis::<DEFAULT_…_MS>")]`: one function for every default duration in
/// milliseconds instead of one per field.
fn millis<const MS: u64>() -> u64 {
    MS
}

/// The astdb file the `asterisk.conf` beside queues.conf names (Asterisk's default when there is none).
fn default_astdb(queues_conf: &Path) -> PathBuf {
    let asterisk_conf = queues_conf.with_file_name("asterisk.conf");
    let text = std::fs::read(&asterisk_conf).ok().map(|b| String::from_utf8_lossy(&b).into_owned());
    path_from_asterisk_conf(text.as_deref())
}

/// Inline value or the content of `<key>_file` (trailing newline trimmed, as `echo` writes it).
fn resolve_secret(
    origin: &Path,
    section: &'static str,
    key: &'static str,
    inline: &Option<Secret>,
    file: &Option<PathBuf>,
) -> Result<Option<Secret>, ConfigError> {
    let file_key = match key {
        "secret" => "secret_file",
        "token_secret" => "token_secret_file",
        _ => "password_file",
    };
    let invalid = |key, reason| ConfigError::Invalid { file: origin.to_owned(), section, key, reason };
    match (inline, file) {
        (Some(_), Some(_)) => Err(invalid(key, format!("give either `{key}` or `{file_key}`, not both"))),
        (Some(secret), None) => Ok(Some(secret.clone())),
        (None, None) => Ok(None),
        (None, Some(path)) => {
            // The io error names the reason only; the content is never part of any message.
            let text = std::fs::read_to_string(path)
                .map_err(|err| invalid(file_key, format!("cannot read {}: {err}", path.display())))?;
            let value = text.trim_end_matches(['\n', '\r']);
            if value.is_empty() {
                return Err(invalid(file_key, format!("{} is empty", path.display())));
            }
            Ok(Some(Secret::new(value)))
        }
    }
}

#[cfg(test)]
mod tests;
