//! The AMI client: connect (optionally TLS), log in, resync with `QueueStatus`, stream events, keep the
//! connection alive with `Ping`, and reconnect with capped, jittered backoff for as long as the daemon runs.
//!
//! One task owns one connection at a time (`session`); this module owns the reconnect policy. Health goes
//! to the engine task as `SourceMsg::Ami(Connected/Disconnected)`; events as `SourceMsg::Events`.

pub mod actions;
pub mod backoff;
pub mod codec;
mod session;

pub use actions::{ActionError, ActionPort, ActionReply, ActionRequest};

use crate::config::AmiConfig;
use crate::normalize::ami::AmiNormalizer;
use crate::sources::{AmiHealth, SourceMsg};
use backoff::Backoff;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why a connection ended or could not be made. Never contains the secret.
#[derive(Debug, thiserror::Error)]
pub enum AmiError {
    #[error("cannot connect to AMI at {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("AMI connection to {addr} timed out")]
    ConnectTimeout { addr: String },
    #[error("TLS: {0}")]
    Tls(String),
    #[error(
        "AMI authentication failed for user {username:?} (check username/secret and manager.conf permit/deny)"
    )]
    AuthFailed { username: String },
    #[error("AMI login rejected: {0}")]
    LoginRejected(String),
    #[error("AMI server did not answer {what} within {ms} ms")]
    Timeout { what: &'static str, ms: u64 },
    #[error("AMI connection closed by the server{}", if *.after_shutdown { " (Asterisk is shutting down)" } else { "" })]
    Closed { after_shutdown: bool },
    #[error("AMI I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("the engine task is gone")]
    EngineGone,
    #[error("cancelled")]
    Cancelled,
}

/// Starts the client task; `port` carries actions from the command task to its sessions.
pub fn spawn(
    settings: AmiConfig,
    normalizer: AmiNormalizer,
    tx: mpsc::Sender<SourceMsg>,
    port: &ActionPort,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) {
    tracker.spawn(run_with_actions(settings, normalizer, tx, port.open(), cancel));
}

/// A connection that stayed up this long was a success: later failures start the backoff from the minimum.
const STABLE_CONNECTION: Duration = Duration::from_secs(30);

/// Connects, runs sessions and reconnects until cancelled or the engine task is gone (no actions sent).
pub async fn run(
    settings: AmiConfig,
    normalizer: AmiNormalizer,
    tx: mpsc::Sender<SourceMsg>,
    cancel: CancellationToken,
) {
    run_with_actions(settings, normalizer, tx, ActionPort::new().open(), cancel).await
}

async fn run_with_actions(
    settings: AmiConfig,
    mut normalizer: AmiNormalizer,
    tx: mpsc::Sender<SourceMsg>,
    mut requests: actions::Requests,
    cancel: CancellationToken,
) {
    let mut backoff = Backoff::new(settings.backoff_min_ms, settings.backoff_max_ms);
    let tls = match settings.tls.then(|| crate::tls::connector(settings.ca_file.as_deref())).transpose() {
        Ok(tls) => tls,
        Err(e) => {
            tracing::error!(error = %e, "AMI disabled: TLS cannot be set up");
            let _ = tx.send(SourceMsg::Ami(AmiHealth::Disconnected)).await;
            return;
        }
    };
    let mut reported = None;
    // Since when AMI has been down, once that was said (WARN once per outage; the session's "AMI connected"
    // INFO ends it).
    let mut down_since: Option<Instant> = None;
    loop {
        let started = Instant::now();
        let mut session = session::Session::new(&settings, &mut normalizer, &tx, &mut requests, &cancel);
        let result = session.run(tls.as_ref()).await;
        let was_connected = session.was_connected();
        drop(session);
        requests.set_up(false);
        requests.refuse_waiting();
        if matches!(result, Err(AmiError::Cancelled | AmiError::EngineGone)) {
            return;
        }
        if was_connected {
            metrics::counter!(crate::metrics::AMI_DISCONNECTS).increment(1);
            metrics::gauge!(crate::metrics::AMI_UP).set(0.0);
            down_since = None;
        }
        let first_failure = down_since.is_none();
        if first_failure {
            down_since = Some(Instant::now());
        }
        if was_connected || reported != Some(AmiHealth::Disconnected) {
            reported = Some(AmiHealth::Disconnected);
            if send_health(&tx, &cancel, AmiHealth::Disconnected).await.is_err() {
                return;
            }
        }
        let delay = match result {
            Err(AmiError::Cancelled | AmiError::EngineGone) | Ok(()) => return,
            Err(e @ AmiError::AuthFailed { .. }) => {
                let delay = backoff.auth_failure_delay();
                if first_failure {
                    tracing::error!(error = %e, "AMI login failed; retrying at the maximum backoff");
                } else {
                    tracing::debug!(error = %e, retry_in_ms = delay.as_millis() as u64, "AMI login failed again");
                }
                delay
            }
            Err(e) => {
                if was_connected && started.elapsed() >= STABLE_CONNECTION {
                    backoff.reset();
                }
                let delay = backoff.next_delay();
                let retry_in_ms = delay.as_millis() as u64;
                match (first_failure, was_connected) {
                    (true, true) => tracing::warn!(error = %e, retry_in_ms, "AMI disconnected; reconnecting"),
                    (true, false) => tracing::warn!(error = %e, retry_in_ms, "AMI is unreachable; retrying"),
                    (false, _) => tracing::debug!(error = %e, retry_in_ms, "AMI still unreachable"),
                }
                delay
            }
        };
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = &mut sleep => break,
                // Commands while AMI is down are refused at once, not kept for a later connection.
                Some(pending) = requests.recv() => {
                    let _ = pending.reply.send(Err(ActionError::Unavailable(String::new())));
                }
            }
        }
    }
}

async fn send_health(
    tx: &mpsc::Sender<SourceMsg>,
    cancel: &CancellationToken,
    health: AmiHealth,
) -> Result<(), AmiError> {
    crate::sources::send(tx, cancel, SourceMsg::Ami(health)).await.map_err(|stopped| match stopped {
        crate::sources::Stopped::Cancelled => AmiError::Cancelled,
        crate::sources::Stopped::EngineGone => AmiError::EngineGone,
    })
}
