//! The command task: one per daemon, reading `…:commands` with the consumer group, on a Redis connection
//! of its own (its reads block). A Redis outage is said once at WARN and once at recovery, as the sink does;
//! reconnects back off (capped, jittered) and cost no CPU in between.

use super::handler::{EngineAsk, Handler};
use super::policy::{FUTURE_SKEW_MS, Policy};
use super::store::Store;
use crate::config::ActionsConfig;
use crate::sink::{RedisConn, RedisSettings, SinkError, SinkHandle, redact_url};
use crate::sources::ami::ActionPort;
use crate::sources::ami::backoff::Backoff;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Longest blocking read: below the connection's response timeout (`sink::conn::RESPONSE_TIMEOUT_MS`).
const BLOCK_MS: u64 = 2_000;
/// New entries taken per read: commands are handled one after the other anyway.
const READ_COUNT: usize = 16;
/// Pending entries read per step of the start-up recovery.
const PENDING_COUNT: usize = 100;
/// Reconnect backoff (as the sink's): quick first retry, one attempt per 30 s in a long outage.
const RECONNECT_MIN_MS: u64 = 500;
const RECONNECT_MAX_MS: u64 = 30_000;
/// Claims live at least a day: a repeated id is refused as `duplicate` for that long, well past any
/// `max_age_ms` within which it could otherwise still run.
const MIN_CLAIM_TTL_MS: u64 = 86_400_000;

/// What the command task needs.
#[derive(Debug, Clone)]
pub struct TaskSettings {
    pub redis: RedisSettings,
    pub actions: ActionsConfig,
    /// This daemon's name in the consumer group.
    pub consumer: String,
}

impl TaskSettings {
    /// `[actions] consumer`, else the host name.
    pub fn new(redis: RedisSettings, actions: ActionsConfig) -> Self {
        let consumer = if actions.consumer.is_empty() {
            crate::sink::default_pbx_id()
        } else {
            actions.consumer.clone()
        };
        Self { redis, actions, consumer }
    }

    fn claim_ttl_ms(&self) -> u64 {
        let skew = FUTURE_SKEW_MS.unsigned_abs();
        self.actions.max_age_ms.saturating_mul(2).saturating_add(skew).max(MIN_CLAIM_TTL_MS)
    }
}

/// Starts the command task under `cancel`.
pub fn spawn(
    settings: TaskSettings,
    sink: SinkHandle,
    port: ActionPort,
    engine: mpsc::Sender<EngineAsk>,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) {
    tracker.spawn(run(settings, sink, port, engine, cancel));
}

async fn run(
    settings: TaskSettings,
    sink: SinkHandle,
    port: ActionPort,
    engine: mpsc::Sender<EngineAsk>,
    cancel: CancellationToken,
) {
    let store = Store::new(settings.redis.keys(), settings.consumer.clone(), settings.claim_ttl_ms());
    let mut handler = Handler::new(store, Policy::new(settings.actions.clone()), sink, port, engine);
    let mut backoff = Backoff::new(RECONNECT_MIN_MS, RECONNECT_MAX_MS);
    let mut down_since: Option<Instant> = None;
    tracing::info!(
        consumer = %settings.consumer,
        enabled = settings.actions.enabled,
        "command reader started"
    );
    loop {
        let err = match session(&settings, &mut handler, &cancel, &mut down_since, &mut backoff).await {
            Ok(()) => return,
            Err(err) => err,
        };
        let delay = backoff.next_delay();
        if down_since.is_none() {
            down_since = Some(Instant::now());
            tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "cannot read the command stream (Redis); retrying");
        } else {
            tracing::debug!(error = %err, "command stream still unreadable");
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// One connection: group, unsent answers, this consumer's pending entries, then new entries until an
/// error (returned) or cancel (`Ok`).
async fn session(
    settings: &TaskSettings,
    handler: &mut Handler,
    cancel: &CancellationToken,
    down_since: &mut Option<Instant>,
    backoff: &mut Backoff,
) -> Result<(), SinkError> {
    let mut conn = tokio::select! {
        () = cancel.cancelled() => return Ok(()),
        conn = RedisConn::connect(&settings.redis) => conn?,
    };
    handler.store.create_group(&mut conn).await?;
    handler.flush_unsent(&mut conn).await?;
    match down_since.take() {
        Some(since) => {
            tracing::info!(down_s = since.elapsed().as_secs(), "reading the command stream again")
        }
        None => tracing::debug!(url = %redact_url(&settings.redis.url), "command reader connected"),
    }
    backoff.reset();
    recover_pending(&mut conn, handler, cancel).await?;
    loop {
        let batch = tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            batch = handler.store.read(&mut conn, None, READ_COUNT, BLOCK_MS) => batch?,
        };
        for entry in batch {
            if cancel.is_cancelled() {
                return Ok(());
            }
            handler.process(&mut conn, entry, cancel).await?;
        }
    }
}

/// Entries this consumer was given before and never acknowledged: a previous run stopped (or Redis failed)
/// between reading and answering them. The claims tell which were started: those are answered as
/// interrupted, never executed again; the others are handled now (and refused if no longer fresh).
async fn recover_pending(
    conn: &mut RedisConn,
    handler: &mut Handler,
    cancel: &CancellationToken,
) -> Result<(), SinkError> {
    let mut after = "0".to_owned();
    loop {
        let batch = tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            batch = handler.store.read(conn, Some(&after), PENDING_COUNT, 0) => batch?,
        };
        let Some(last) = batch.last() else { return Ok(()) };
        after = last.id.clone();
        for entry in batch {
            if cancel.is_cancelled() {
                return Ok(());
            }
            handler.process(conn, entry, cancel).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_outlive_freshness() {
        let mut actions = ActionsConfig::default();
        let s = TaskSettings::new(RedisSettings::new("redis://127.0.0.1:1"), actions.clone());
        assert_eq!(s.claim_ttl_ms(), MIN_CLAIM_TTL_MS);
        actions.max_age_ms = MIN_CLAIM_TTL_MS;
        actions.consumer = "pbx-a".into();
        let s = TaskSettings::new(RedisSettings::new("redis://127.0.0.1:1"), actions);
        assert!(s.claim_ttl_ms() > MIN_CLAIM_TTL_MS);
        assert_eq!(s.consumer, "pbx-a");
    }
}
