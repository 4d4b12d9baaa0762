//! Lifecycle owner of `queuecast run`: one root `CancellationToken`, every task on one `TaskTracker`, a
//! graceful stop within systemd's budget, sd-notify, SIGHUP reload.
//!
//! Start-up order matters for correctness: the queue_log replay is applied first (not published), then its
//! final state is written with one `resync`, and only then does the AMI client connect, so its `QueueStatus`
//! answer reconciles a complete state and only real differences become deltas.

mod engine_task;
mod generation;
pub mod settings;
pub mod signals;
pub mod systemd;

pub use engine_task::{EngineLoop, Milestone, Stats};

use crate::config::{Config, ConfigError};
use crate::telemetry::LogHandle;
use generation::Generation;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// We promise an exit within 5 s of SIGTERM (DESIGN; the unit's TimeoutStopSec=10 is margin before SIGKILL):
/// time to write what the engine produced last …
const SHUTDOWN_FLUSH_MS: u64 = 2_500;
/// … and then for every task to end.
const SHUTDOWN_JOIN_MS: u64 = 1_500;
/// How long READY=1 waits for the first state to reach Redis. Past it the daemon declares itself ready
/// anyway (state is kept in memory and written on reconnect), so an absent Redis cannot make systemd kill it.
const READY_MAX_WAIT_MS: u64 = 60_000;
/// Cadence of the `Tick` that ends wrap-ups and rolls the day over.
const TICK_INTERVAL_MS: u64 = 1_000;
/// How often the systemd STATUS= line is refreshed.
const STATUS_INTERVAL_MS: u64 = 5_000;
/// Lookups from the command task waiting for the main loop; commands are handled one at a time, so a
/// couple suffice.
const ENGINE_ASK_DEPTH: usize = 4;
/// Time allowed for the fail-fast reachability checks at start.
const FAIL_FAST_TIMEOUT_MS: u64 = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    /// A required service is unreachable at start and `fail_fast` is set (exit 69).
    #[error("{service} is unreachable at start: {reason}")]
    Unavailable { service: &'static str, reason: String },
}

/// Runs the daemon until SIGTERM/SIGINT. `config_path` is re-read on SIGHUP.
pub async fn run(config_path: &Path, config: Config, log: Option<LogHandle>) -> Result<(), DaemonError> {
    fail_fast_checks(&config).await?;
    let root = CancellationToken::new();
    let tracker = TaskTracker::new();
    let mut requests = signals::spawn(root.clone(), &tracker).map_err(DaemonError::Signals)?;
    let sink = crate::sink::spawn(settings::redis(&config), root.clone(), &tracker);
    let port = crate::sources::ami::ActionPort::new();
    let (ask_tx, mut asks) = tokio::sync::mpsc::channel(ENGINE_ASK_DEPTH);
    let commands = crate::commands::TaskSettings::new(settings::redis(&config), config.actions.clone());
    crate::commands::spawn(commands, sink.clone(), port.clone(), ask_tx, root.clone(), &tracker);
    if let Some(addr) = config.metrics.addr() {
        let handle = crate::metrics::install()?;
        crate::metrics::serve(addr, handle, sink.connected(), root.clone(), &tracker).await?;
    }
    // Queue updates are coalesced to this interval (DESIGN: at most one per queue per interval).
    let queue_interval_ms = config.redis.queue_update_interval_ms.max(1);
    let replay_mark = std::cell::Cell::new((std::time::Instant::now(), 0));
    let mut daemon = Daemon {
        path: config_path.to_owned(),
        config,
        log,
        root: root.clone(),
        tracker,
        sink,
        port,
        replay_mark,
    };
    let mut generation = daemon.start_generation();
    let mut tick = tokio::time::interval(Duration::from_millis(TICK_INTERVAL_MS));
    let mut status = tokio::time::interval(Duration::from_millis(STATUS_INTERVAL_MS));
    let mut queue_flush = tokio::time::interval(Duration::from_millis(queue_interval_ms));
    let watchdog = systemd::watchdog_interval();
    let mut watchdog_tick = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    loop {
        tokio::select! {
            biased;
            _ = root.cancelled() => break,
            request = requests.recv() => match request {
                Some(signals::Request::Reload) => generation = daemon.reload(generation),
                Some(signals::Request::Stop) | None => break,
            },
            msg = generation.rx.recv() => match msg {
                Some(msg) => {
                    if generation.handle(msg) == Some(Milestone::ReplayDone) {
                        let (started, lines) = daemon.replay_mark.get();
                        crate::metrics::replay_done(started, lines);
                        daemon.after_replay(&mut generation);
                    }
                }
                // Every source of this generation ended (e.g. all disabled): keep ticking.
                None => generation.sources_gone(),
            },
            Some(ask) = asks.recv() => generation.answer(ask),
            _ = tick.tick() => {
                generation.engine.tick(engine_task::now_ms());
                crate::telemetry::summarise_bad_input();
            }
            _ = queue_flush.tick() => generation.engine.flush_queues(),
            _ = watchdog_tick.tick(), if watchdog.is_some() => systemd::watchdog(),
            _ = status.tick() => systemd::status(&generation.summary()),
        }
    }
    daemon.shutdown(generation).await;
    Ok(())
}

struct Daemon {
    path: PathBuf,
    config: Config,
    log: Option<LogHandle>,
    root: CancellationToken,
    tracker: TaskTracker,
    sink: crate::sink::SinkHandle,
    /// Actions from the command task to whichever AMI session is current.
    port: crate::sources::ami::ActionPort,
    /// When the current generation's start-up replay began, and the queue_log lines read before it.
    replay_mark: std::cell::Cell<(std::time::Instant, u64)>,
}

impl Daemon {
    fn start_generation(&self) -> Generation {
        self.replay_mark.set((std::time::Instant::now(), crate::metrics::queue_log_lines_so_far()));
        let mut generation = Generation::start(&self.config, self.sink.clone(), &self.root, &self.tracker);
        if generation.replay_skipped {
            generation.publish_initial();
            self.after_replay(&mut generation);
        }
        generation
    }

    /// The replayed state is handed to the sink; now AMI may connect, and READY follows the first write.
    fn after_replay(&self, generation: &mut Generation) {
        generation.start_ami(&self.config, &self.port, &self.tracker);
        let sink = self.sink.clone();
        let cancel = self.root.clone();
        self.tracker.spawn(async move {
            let written = tokio::select! {
                _ = cancel.cancelled() => return,
                written = sink.flushed(Duration::from_millis(READY_MAX_WAIT_MS)) => written,
            };
            if written {
                systemd::ready("state written to Redis");
            } else {
                tracing::warn!("Redis has not accepted the first state yet; running, state kept in memory");
                systemd::ready("Redis unreachable: state kept in memory, written on reconnect");
            }
        });
    }

    /// SIGHUP: re-read the file. The log level applies at once; a change to the sources or the engine
    /// settings rebuilds the state (new engine, sources restarted, `resync`); `[redis]` needs a restart.
    fn reload(&mut self, generation: Generation) -> Generation {
        systemd::reloading();
        let fresh = match Config::load(&self.path) {
            Ok(fresh) => fresh,
            Err(err) => {
                tracing::error!(error = %err, "reload failed; keeping the running configuration");
                systemd::ready("reload failed; running configuration kept");
                return generation;
            }
        };
        if let Some(log) = &self.log
            && let Err(err) = log.set_level(&fresh.log.level)
        {
            tracing::error!(error = %err, "cannot apply [log] level");
        }
        if fresh.redis != self.config.redis {
            tracing::warn!("[redis] changed: takes effect after a restart");
        }
        if fresh.actions != self.config.actions {
            tracing::warn!("[actions] changed: takes effect after a restart");
        }
        let rebuild = fresh.queue_log != self.config.queue_log
            || fresh.ami != self.config.ami
            || fresh.engine != self.config.engine;
        self.config = fresh;
        let generation = if rebuild {
            tracing::info!("sources or engine settings changed: rebuilding state");
            generation.stop();
            self.start_generation()
        } else {
            generation
        };
        systemd::ready("configuration reloaded");
        tracing::info!("configuration reloaded");
        generation
    }

    async fn shutdown(self, generation: Generation) {
        systemd::stopping();
        tracing::info!("stopping");
        let stats = generation.finish();
        if !self.sink.flushed(Duration::from_millis(SHUTDOWN_FLUSH_MS)).await {
            tracing::warn!("Redis did not take the last updates before the stop deadline");
        }
        self.root.cancel();
        self.tracker.close();
        if tokio::time::timeout(Duration::from_millis(SHUTDOWN_JOIN_MS), self.tracker.wait()).await.is_err() {
            tracing::warn!("some tasks did not end before the stop deadline");
        }
        tracing::info!(events = stats.events, updates = stats.updates, "stopped");
    }
}

/// With `fail_fast`, a service unreachable at start ends the process (exit 69) instead of retrying forever.
async fn fail_fast_checks(config: &Config) -> Result<(), DaemonError> {
    let timeout = Duration::from_millis(FAIL_FAST_TIMEOUT_MS);
    if config.redis.fail_fast {
        let settings = settings::redis(config);
        match tokio::time::timeout(timeout, crate::sink::RedisConn::connect(&settings)).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                return Err(DaemonError::Unavailable { service: "Redis", reason: err.to_string() });
            }
            Err(_) => return Err(unreachable_timeout("Redis")),
        }
    }
    if config.ami.enabled && config.ami.fail_fast {
        let addr = format!("{}:{}", config.ami.host, config.ami.port);
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr)).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                return Err(DaemonError::Unavailable { service: "AMI", reason: format!("{addr}: {err}") });
            }
            Err(_) => return Err(unreachable_timeout("AMI")),
        }
    }
    Ok(())
}

fn unreachable_timeout(service: &'static str) -> DaemonError {
    DaemonError::Unavailable { service, reason: format!("no answer within {FAIL_FAST_TIMEOUT_MS} ms") }
}
