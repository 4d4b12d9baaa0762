//! `queuecast check-config`: validate and show the effective config, secrets masked.

use super::{EX_CONFIG, EX_OK};
use queuecast::config::{Config, ConfigError};
use std::path::Path;

pub fn run(config: &Path) -> anyhow::Result<u8> {
    match Config::load(config) {
        Ok(loaded) => {
            println!("# effective config of {} (defaults filled in, secrets masked)", config.display());
            print!("{}", loaded.to_masked_toml());
            Ok(EX_OK)
        }
        // What is still to fill in, one key a line, so the list reads as a to-do.
        Err(ConfigError::Missing { file, missing }) => {
            eprintln!("queuecast: {}: not complete yet:", file.display());
            for item in missing {
                eprintln!("  {item}");
            }
            Ok(EX_CONFIG)
        }
        Err(err) => {
            eprintln!("queuecast: {err}");
            Ok(EX_CONFIG)
        }
    }
}
