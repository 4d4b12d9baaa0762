//! A simulated call center for the demo and for trying queuecast without a PBX: it appends real
//! queue_log lines to a file and serves a fake AMI endpoint with the same facts as events.
//!
//! `model` decides what happens (deterministic for a seed); `queue_log` and `ami` only render; `server`
//! speaks the manager protocol. This loop ties them together in real time.

pub mod ami;
pub mod ami_peer;
pub mod fact;
pub mod member_actions;
pub mod model;
pub mod queue_log;
pub mod server;

use model::{Model, Scenario};
use server::Shared;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

/// How often the model is advanced: fine enough that timestamps and AMI events look continuous.
const TICK_MS: u64 = 100;
/// Events a slow AMI session may fall behind before it is dropped (see `server`).
const EVENT_BACKLOG: usize = 4096;

#[derive(Debug, Clone)]
pub struct SimulateSettings {
    pub scenario: Scenario,
    pub queue_log: PathBuf,
    pub ami_listen: SocketAddr,
    pub ami_username: String,
    pub ami_secret: String,
    /// Stop after this long; `None` runs until cancelled.
    pub duration: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("queue_log {path}: {source}")]
    QueueLog { path: PathBuf, source: std::io::Error },
    #[error("AMI listener {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("invalid scenario: {0}")]
    Scenario(String),
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Runs the simulation until `cancel` fires or `duration` has passed. Returns the bound AMI address
/// through `ready` (useful with port 0) once both outputs are open.
pub async fn run(
    settings: SimulateSettings,
    cancel: CancellationToken,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<(), SimulateError> {
    let scenario = &settings.scenario;
    if scenario.queues.is_empty()
        || scenario.agents == 0
        || scenario.speed <= 0.0
        || scenario.calls_per_minute <= 0.0
    {
        return Err(SimulateError::Scenario(
            "need queues, agents, a positive speed and call rate".to_owned(),
        ));
    }
    let log_err = |source| SimulateError::QueueLog { path: settings.queue_log.clone(), source };
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&settings.queue_log)
        .await
        .map_err(log_err)?;
    let listener = tokio::net::TcpListener::bind(settings.ami_listen)
        .await
        .map_err(|source| SimulateError::Listen { addr: settings.ami_listen, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| SimulateError::Listen { addr: settings.ami_listen, source })?;
    let start = now_ms();
    let (events, _) = tokio::sync::broadcast::channel(EVENT_BACKLOG);
    let shared = Arc::new(Shared {
        model: Mutex::new(Model::new(settings.scenario.clone(), start)),
        events,
        username: settings.ami_username.clone(),
        secret: settings.ami_secret.clone(),
    });
    file.write_all(format!("{}\n", queue_log::queue_start(start)).as_bytes()).await.map_err(log_err)?;
    file.flush().await.map_err(log_err)?;
    tracing::info!(ami = %addr, queue_log = %settings.queue_log.display(), "simulated call center running");
    if let Some(ready) = ready {
        // The caller may have stopped waiting; the simulation runs regardless.
        let _ = ready.send(addr);
    }
    let server_cancel = cancel.child_token();
    let server = tokio::spawn(server::serve(listener, shared.clone(), server_cancel.clone()));
    let deadline = settings.duration.map(|d| tokio::time::Instant::now() + d);
    let mut tick = tokio::time::interval(Duration::from_millis(TICK_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result = loop {
        tokio::select! {
            () = cancel.cancelled() => break Ok(()),
            () = sleep_until(deadline) => break Ok(()),
            _ = tick.tick() => {
                let lines = step(&shared, now_ms());
                if lines.is_empty() {
                    continue;
                }
                if let Err(err) = write_lines(&mut file, &lines).await {
                    break Err(log_err(err));
                }
            }
        }
    };
    server_cancel.cancel();
    // The server task only ends by cancellation; a join error means it panicked, which the log shows.
    let _ = server.await;
    result
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Advances the model and broadcasts the AMI events while holding the lock (see `server` for why);
/// returns the queue_log text to append.
fn step(shared: &Shared, now: u64) -> String {
    let mut model = shared.model.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let facts = model.advance(now);
    let mut lines = String::new();
    for fact in &facts {
        for line in queue_log::lines(fact) {
            lines.push_str(&line);
            lines.push('\n');
        }
        for event in ami::events(fact) {
            // No subscriber (no AMI client yet) is fine: events are not kept for later sessions.
            let _ = shared.events.send(Arc::from(event));
        }
    }
    drop(model);
    lines
}

/// Whole lines in one write and a flush, so a tailer never sees half a line for long.
async fn write_lines(file: &mut tokio::fs::File, lines: &str) -> std::io::Result<()> {
    file.write_all(lines.as_bytes()).await?;
    file.flush().await
}

#[cfg(test)]
mod tests;
