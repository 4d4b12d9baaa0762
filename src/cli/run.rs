//! `queuecast run`: load the config (exit 78 when bad), set up logging, run the daemon until stopped.

use super::{EX_CONFIG, EX_FAILURE, EX_OK, EX_UNAVAILABLE};
use queuecast::config::Config;
use queuecast::daemon::{self, DaemonError};
use std::path::Path;

/// Worker threads of the runtime: the engine is one task and the I/O is light; two threads keep the sink's
/// Redis round-trips from delaying the engine without competing with Asterisk for the PBX's cores.
const WORKER_THREADS: usize = 2;

pub fn run(config_path: &Path) -> anyhow::Result<u8> {
    let config = match Config::load(config_path) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("queuecast: {err}");
            return Ok(EX_CONFIG);
        }
    };
    let log = match super::init_logging(&config) {
        Ok(handle) => Some(handle),
        Err(code) => return Ok(code),
    };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        config = %config_path.display(),
        pbx = %config.redis.pbx_id,
        redis = %config.redis.url.masked(),
        ami = config.ami.enabled,
        queue_log = config.queue_log.enabled,
        "starting"
    );
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(WORKER_THREADS).enable_all().build()?;
    match runtime.block_on(daemon::run(config_path, config, log)) {
        Ok(()) => Ok(EX_OK),
        Err(err @ DaemonError::Unavailable { .. }) => {
            fatal(&err, "giving up (fail_fast)");
            Ok(EX_UNAVAILABLE)
        }
        Err(err @ DaemonError::Config(_)) => {
            fatal(&err, "bad configuration");
            Ok(EX_CONFIG)
        }
        Err(err) => {
            fatal(&err, "cannot run");
            Ok(EX_FAILURE)
        }
    }
}

/// A fatal error reaches the operator whatever the log filter says: through the log when it shows errors,
/// else on stderr (which systemd sends to the journal too).
fn fatal(err: &DaemonError, what: &str) {
    if tracing::enabled!(tracing::Level::ERROR) {
        tracing::error!(error = %err, "{what}");
    } else {
        eprintln!("queuecast: {what}: {err}");
    }
}
