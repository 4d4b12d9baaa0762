//! `queuecast check-config`: validate and show the effective config, secrets masked.

use super::{EX_CONFIG, EX_OK};
use queuecast::config::Config;
use std::path::Path;

pub fn run(config: &Path) -> anyhow::Result<u8> {
    match Config::load(config) {
        Ok(loaded) => {
            println!("# effective config of {} (defaults filled in, secrets masked)", config.display());
            print!("{}", loaded.to_masked_toml());
            Ok(EX_OK)
        }
        Err(err) => {
            eprintln!("queuecast: {err}");
            Ok(EX_CONFIG)
        }
    }
}
