//! `/metrics` and `/healthz` (DESIGN.md "Metrics", `[metrics] listen`, off by default).
//!
//! Code everywhere counts through the `metrics` facade under the names below; only when `[metrics] listen`
//! is set does the daemon install the Prometheus recorder and serve its text with axum. Without it every
//! count is a no-op (the facade's default recorder), so the hot paths cost nothing when metrics are off.
//! The hottest counters (a line or AMI message read) are registered once and kept as handles
//! ([`queue_log_line`], [`ami_messages`]): an increment is then one atomic add, not a registry lookup.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use metrics::Counter;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Lines read from queue_log (replay and live), label-free.
pub const QUEUE_LOG_LINES: &str = "queuecast_queue_log_lines_read_total";
/// Whole AMI messages read (events, responses, banner).
pub const AMI_MESSAGES: &str = "queuecast_ami_messages_read_total";
/// Bad input skipped, label `kind` (`queue_log_line`, `ami_message`).
pub const BAD_INPUT: &str = "queuecast_bad_input_total";
/// AMI logins that succeeded, and connections that ended after one.
pub const AMI_CONNECTS: &str = "queuecast_ami_connects_total";
pub const AMI_DISCONNECTS: &str = "queuecast_ami_disconnects_total";
/// 1 while AMI is logged in; 1 while Redis accepts writes.
pub const AMI_UP: &str = "queuecast_ami_up";
pub const REDIS_UP: &str = "queuecast_redis_up";
/// MULTI/EXEC batches confirmed (deltas and full rewrites), the entity changes they carried, failed
/// Redis operations, and connections re-established after a failure.
pub const REDIS_BATCHES: &str = "queuecast_redis_batches_total";
pub const REDIS_CHANGES: &str = "queuecast_redis_changes_total";
pub const REDIS_ERRORS: &str = "queuecast_redis_errors_total";
pub const REDIS_RECONNECTS: &str = "queuecast_redis_reconnects_total";
/// Entities changed and not yet in Redis (the sink's dirty set; the whole state while a rewrite is due).
pub const DIRTY_ENTITIES: &str = "queuecast_dirty_entities";
/// Seconds from a change reaching the sink to its `EXEC` being confirmed (the oldest change of each write).
pub const PUBLISH_LATENCY: &str = "queuecast_publish_latency_seconds";
/// Wake-ups of the sink task's loop: during an outage one per reconnect attempt (an outage must not spin).
pub const SINK_WAKEUPS: &str = "queuecast_sink_wakeups_total";
/// Last `seq` written.
pub const SEQ: &str = "queuecast_seq";
/// Commands from panels answered, per result `code` (DESIGN.md "Commands from panels").
pub const COMMANDS: &str = "queuecast_commands_total";
/// Start-up replay: seconds it took and queue_log lines it read.
pub const STARTUP_REPLAY_SECONDS: &str = "queuecast_startup_replay_seconds";
pub const STARTUP_REPLAY_LINES: &str = "queuecast_startup_replay_lines";

/// Latency buckets (s): a healthy sink confirms within a few ms; an outage shows in the top buckets.
const LATENCY_BUCKETS_S: [f64; 14] =
    [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0];

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("[metrics] listen {addr}: cannot listen: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot install the metrics recorder: {0}")]
    Install(String),
}

/// Installs the Prometheus recorder (once per process; later calls return the first handle).
pub fn install() -> Result<PrometheusHandle, MetricsError> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(PUBLISH_LATENCY.to_owned()), &LATENCY_BUCKETS_S)
        .map_err(|err| MetricsError::Install(err.to_string()))?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|err| MetricsError::Install(err.to_string()))?;
    describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

fn describe() {
    metrics::describe_counter!(QUEUE_LOG_LINES, "queue_log lines read");
    metrics::describe_counter!(AMI_MESSAGES, "AMI messages read");
    metrics::describe_counter!(BAD_INPUT, "bad input skipped, per kind");
    metrics::describe_counter!(AMI_CONNECTS, "AMI logins");
    metrics::describe_counter!(AMI_DISCONNECTS, "AMI connections lost after a login");
    metrics::describe_gauge!(AMI_UP, "1 while logged in to AMI");
    metrics::describe_gauge!(REDIS_UP, "1 while Redis accepts writes");
    metrics::describe_counter!(REDIS_BATCHES, "MULTI/EXEC batches written");
    metrics::describe_counter!(REDIS_CHANGES, "entity changes written");
    metrics::describe_counter!(REDIS_ERRORS, "failed Redis operations");
    metrics::describe_counter!(REDIS_RECONNECTS, "Redis connections re-established after a failure");
    metrics::describe_gauge!(DIRTY_ENTITIES, "changed entities not yet in Redis");
    metrics::describe_histogram!(PUBLISH_LATENCY, "seconds from a change reaching the sink to EXEC");
    metrics::describe_gauge!(SEQ, "last seq written");
    metrics::describe_counter!(SINK_WAKEUPS, "wake-ups of the Redis sink task");
    metrics::describe_counter!(COMMANDS, "commands from panels answered, per result code");
    metrics::describe_gauge!(STARTUP_REPLAY_SECONDS, "duration of the start-up queue_log replay");
    metrics::describe_gauge!(STARTUP_REPLAY_LINES, "queue_log lines read by the start-up replay");
}

/// queue_log lines read since start, also without a recorder (the start-up replay's line count).
static QUEUE_LOG_LINES_SO_FAR: AtomicU64 = AtomicU64::new(0);

/// Counts one queue_log line read.
pub fn queue_log_line() {
    queue_log_lines_read(1);
}

/// Counts `lines` queue_log lines read: a reader that decodes a whole buffer counts it once, not with two
/// atomic additions per line.
pub fn queue_log_lines_read(lines: u64) {
    QUEUE_LOG_LINES_SO_FAR.fetch_add(lines, Ordering::Relaxed);
    queue_log_lines().increment(lines);
}

pub fn queue_log_lines_so_far() -> u64 {
    QUEUE_LOG_LINES_SO_FAR.load(Ordering::Relaxed)
}

/// Handle for [`QUEUE_LOG_LINES`], registered on first use (after [`install`] when metrics are on).
fn queue_log_lines() -> &'static Counter {
    static COUNTER: OnceLock<Counter> = OnceLock::new();
    COUNTER.get_or_init(|| metrics::counter!(QUEUE_LOG_LINES))
}

/// A start-up replay (from `started`, when `lines_before` lines had been read) has just finished.
pub fn replay_done(started: std::time::Instant, lines_before: u64) {
    metrics::gauge!(STARTUP_REPLAY_SECONDS).set(started.elapsed().as_secs_f64());
    metrics::gauge!(STARTUP_REPLAY_LINES).set(queue_log_lines_so_far().saturating_sub(lines_before) as f64);
}

/// Handle for [`AMI_MESSAGES`].
pub fn ami_messages() -> &'static Counter {
    static COUNTER: OnceLock<Counter> = OnceLock::new();
    COUNTER.get_or_init(|| metrics::counter!(AMI_MESSAGES))
}

/// Serves `GET /metrics` (Prometheus text) and `GET /healthz` on `addr` until `cancel`. `/healthz` answers
/// 200 `ok` while Redis accepts writes and 503 with the reason otherwise (the daemon keeps running without
/// Redis, but its consumers see stale state). Binding happens before this returns, so a taken port is a
/// start-up error, not a silent absence.
pub async fn serve(
    addr: SocketAddr,
    handle: PrometheusHandle,
    redis_up: watch::Receiver<bool>,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) -> Result<SocketAddr, MetricsError> {
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|source| MetricsError::Bind { addr, source })?;
    let local = listener.local_addr().map_err(|source| MetricsError::Bind { addr, source })?;
    let app = Router::new().route("/metrics", get(move || std::future::ready(handle.render()))).route(
        "/healthz",
        get(move || {
            let up = *redis_up.borrow();
            std::future::ready(if up {
                (StatusCode::OK, "ok\n")
            } else {
                (StatusCode::SERVICE_UNAVAILABLE, "Redis unreachable\n")
            })
        }),
    );
    tracing::info!(listen = %local, "serving /metrics and /healthz");
    tracker.spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(cancel.cancelled_owned()).await;
        if let Err(err) = served {
            tracing::error!(error = %err, "the metrics endpoint stopped");
        }
    });
    Ok(local)
}
