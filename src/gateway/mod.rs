//! `queuecast gateway`: the front end for browsers (DESIGN.md "Gateway"). A Redis consumer only: it needs
//! nothing but Redis, any number of instances share nothing else, and it never writes the state.
//!
//! - [`hub`]: one stream reader per PBX, fanned out in-process through a bounded ring;
//! - [`follow`]: the gap-free protocol per client (snapshot, resume, re-snapshot), transport-agnostic;
//! - [`ws`], [`sse`]: the two streaming transports; [`http`]: the REST reads; [`pages`]: wallboard, panel;
//! - [`token`], [`scope`]: JWT HS256 and what a token (and the query's filters) lets a client see;
//! - [`actions`]: the command endpoints (POST …/pause) and `/v1/session`; [`webhook`]: stream messages to
//!   HTTP receivers, each webhook its own task.
//!
//! Routes live in one [`router`].

mod actions;
pub mod follow;
mod http;
pub mod hub;
mod pages;
pub mod scope;
mod sse;
pub mod token;
pub mod view;
pub mod webhook;
mod ws;

use crate::config::{Config, GatewayConfig, MIN_TOKEN_SECRET_BYTES, RedisConfig};
use crate::sink::{RedisConn, SinkError};
use axum::Router;
use hub::Hub;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use tokio::sync::{Mutex, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Pings (server time) on every stream: often enough for proxies' idle timeouts (commonly 30–60 s) and for
/// a page to notice a dead connection within a ping or two.
pub const PING_INTERVAL_MS: u64 = 15_000;
/// A frame the client has not taken within this long means it is stuck: it is closed, freeing its socket.
pub const SEND_TIMEOUT_MS: u64 = 10_000;
/// Clients send nothing but control frames; anything bigger than this is refused (the connection closes).
pub const MAX_CLIENT_FRAME_BYTES: usize = 4_096;
/// A URI longer than this (query filters included) is refused with 414.
pub const MAX_URI_BYTES: usize = 8_192;
/// Distinct PBX hubs one gateway keeps; each is one Redis reader.
pub const MAX_HUBS: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Bad or missing `[gateway]` settings: exit 78.
    #[error("[gateway] {0}")]
    Config(String),
    #[error(transparent)]
    Redis(#[from] SinkError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("the stream reader of this PBX stopped")]
    HubClosed,
}

/// The token key of `[gateway]`: without one (or with a short one) the gateway does not start, so it is
/// closed by default. The rest of `[gateway]` is checked when the config is loaded.
pub fn token_secret(config: &GatewayConfig) -> Result<Arc<[u8]>, GatewayError> {
    let secret = config.secret().ok_or_else(|| {
        GatewayError::Config(
            "no token_secret or token_secret_file: the gateway serves nobody without one \
             (generate one with `head -c 32 /dev/urandom | base64`)"
                .into(),
        )
    })?;
    if secret.expose().len() < MIN_TOKEN_SECRET_BYTES {
        return Err(GatewayError::Config(format!(
            "token_secret must be at least {MIN_TOKEN_SECRET_BYTES} bytes"
        )));
    }
    Ok(Arc::from(secret.expose().as_bytes()))
}

/// Shared by every request.
pub(crate) struct App {
    gateway: GatewayConfig,
    redis: RedisConfig,
    /// HS256 key of the tokens. Never printed (App has no `Debug`).
    secret: Arc<[u8]>,
    conn: RedisConn,
    hubs: Mutex<HashMap<String, Arc<Hub>>>,
    streams: Arc<Semaphore>,
    /// POST commands waiting for their result.
    commands: Semaphore,
    cancel: CancellationToken,
    tracker: TaskTracker,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
}

impl App {
    /// The hub of `pbx`, started on first use. Only configured PBX ids (or, without a list, ids with a
    /// `meta` key) get one, so a client cannot make the gateway start readers for made-up names.
    async fn hub(&self, pbx: &str) -> Result<Option<Arc<Hub>>, GatewayError> {
        let mut hubs = self.hubs.lock().await;
        if let Some(hub) = hubs.get(pbx) {
            return Ok(Some(hub.clone()));
        }
        if !self.serves(pbx).await? || hubs.len() >= MAX_HUBS {
            return Ok(None);
        }
        let mut settings = self.redis.clone();
        settings.pbx_id = pbx.to_owned();
        let hub = Hub::start(&settings, settings.keys(), self.cancel.clone(), &self.tracker).await?;
        hubs.insert(pbx.to_owned(), hub.clone());
        Ok(Some(hub))
    }

    async fn serves(&self, pbx: &str) -> Result<bool, GatewayError> {
        if !self.gateway.pbx.is_empty() {
            return Ok(self.gateway.pbx.iter().any(|p| p == pbx));
        }
        let mut settings = self.redis.clone();
        settings.pbx_id = pbx.to_owned();
        let exists: bool = redis::cmd("EXISTS")
            .arg(settings.keys().meta())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|cause| SinkError::Command { what: "EXISTS meta", cause })?;
        Ok(exists)
    }
}

/// PBX ids with a `meta` key under `prefix` (`SCAN`), sorted.
pub(crate) async fn discover_pbx(conn: &mut RedisConn, prefix: &str) -> Result<Vec<String>, SinkError> {
    use crate::sink::keys::{glob_escape, pbx_of_meta_key};
    let pattern = format!("{}:{{*}}:meta", glob_escape(prefix));
    let mut found = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .map_err(|cause| SinkError::Command { what: "SCAN", cause })?;
        found.extend(keys.iter().filter_map(|k| pbx_of_meta_key(prefix, k)).map(str::to_owned));
        if next == 0 {
            break;
        }
        cursor = next;
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// The process-wide Prometheus recorder: installed once (tests run several gateways in one process).
fn metrics_handle() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: OnceLock<metrics_exporter_prometheus::PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = metrics_exporter_prometheus::PrometheusBuilder::new();
            builder.install_recorder().unwrap_or_else(|_| {
                // Another recorder is installed (a host program's): render this one's (empty) registry.
                metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder().handle()
            })
        })
        .clone()
}

/// Serves on `listener` until `cancel`; streams are closed and the tasks awaited before it returns.
pub async fn serve(
    config: &Config,
    listener: tokio::net::TcpListener,
    cancel: CancellationToken,
) -> Result<(), GatewayError> {
    let secret = token_secret(&config.gateway)?;
    let webhooks = config
        .gateway
        .webhooks
        .iter()
        .map(webhook::Webhook::from_config)
        .collect::<Result<_, _>>()
        .map_err(GatewayError::Config)?;
    let conn = RedisConn::connect(&config.redis).await?;
    let tracker = TaskTracker::new();
    // Named by host and port: stable across restarts (a restarted instance re-sends what it had read but
    // not delivered), distinct between instances.
    let port = listener.local_addr().map_or(0, |addr| addr.port());
    let consumer = format!("{}:{port}", gethostname::gethostname().to_string_lossy());
    webhook::spawn(
        webhooks,
        config.gateway.pbx.clone(),
        config.redis.clone(),
        consumer,
        cancel.clone(),
        &tracker,
    );
    let app = Arc::new(App {
        streams: Arc::new(Semaphore::new(config.gateway.max_streams.max(1))),
        commands: Semaphore::new(actions::MAX_COMMANDS_IN_FLIGHT),
        gateway: config.gateway.clone(),
        redis: config.redis.clone(),
        secret,
        conn,
        hubs: Mutex::new(HashMap::new()),
        cancel: cancel.clone(),
        tracker: tracker.clone(),
        metrics: metrics_handle(),
    });
    let router = router(app);
    let addr = listener.local_addr().ok();
    tracing::info!(listen = ?addr, "gateway listening");
    let shutdown = cancel.clone();
    let result = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    tracker.close();
    tracker.wait().await;
    result.map_err(|source| GatewayError::Listen { addr: addr.unwrap_or(([0, 0, 0, 0], 0).into()), source })
}

/// Every route. Streams and reads share the token extractor; `/`, `/panel`, `/v1/time` and `/healthz` are
/// open (the pages carry no data: they fetch it with the token from their URL).
fn router(app: Arc<App>) -> Router {
    let cors = http::cors(&app.gateway.allowed_origins);
    Router::new()
        .merge(pages::routes())
        .merge(http::routes())
        .merge(ws::routes())
        .merge(sse::routes())
        .fallback(http::not_found)
        .layer(axum::middleware::from_fn(http::limit_uri))
        .layer(cors)
        .with_state(app)
}
