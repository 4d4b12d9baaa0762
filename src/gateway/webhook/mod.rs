//! Webhooks (`[[gateway.webhooks]]`, DESIGN.md "Webhooks"): stream messages POSTed (or sent as GET) to HTTP
//! receivers, at least once, in stream order per webhook.
//!
//! Each webhook reads the PBX's stream `queuecast:{PBX}:stream` with its own Redis consumer group
//! (`queuecast-webhook-<name>`) and its own connection and task: the group remembers in Redis what was
//! delivered, so a restarted gateway goes on where it stopped, several gateway instances split the messages
//! between them (each id to one instance), and a receiver that is down holds back only its own webhook. An
//! entry is acknowledged (`XACK`) only after a 2xx answer.

mod client;
mod deliver;
pub mod payload;

use crate::config::RedisConfig;
use crate::config::{WebhookBody, WebhookConfig, WebhookMethod, webhook_target};
use crate::sink::RedisConn;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Without a `[gateway] pbx` list, PBXs are discovered by their `meta` key this often: a new PBX's events
/// reach the webhooks within a minute of its daemon's first start.
const DISCOVER_EVERY_MS: u64 = 30_000;

/// A webhook, checked, ready to run for one or more PBXs.
#[derive(Clone)]
pub struct Webhook {
    pub name: String,
    pub method: WebhookMethod,
    pub body: WebhookBody,
    pub target: crate::config::WebhookTarget,
    pub filter: payload::HookFilter,
    /// HMAC key; never printed (no `Debug`).
    pub secret: Option<Arc<[u8]>>,
    pub timeout_ms: u64,
    /// CA file for an https receiver; `None` = the webpki roots.
    pub ca_file: Option<std::path::PathBuf>,
    pub backoff_min_ms: u64,
    pub backoff_max_ms: u64,
}

impl Webhook {
    pub fn from_config(config: &WebhookConfig) -> Result<Self, String> {
        let target = webhook_target(&config.url)
            .map_err(|reason| format!("webhook {:?}: url {reason}", config.name))?;
        Ok(Self {
            name: config.name.clone(),
            method: config.method,
            body: config.body(),
            target,
            filter: payload::HookFilter {
                events: config.events.clone(),
                agents: config.agents.clone(),
                queues: config.queues.clone(),
            },
            secret: config.secret().map(|s| Arc::from(s.expose().as_bytes())),
            timeout_ms: config.timeout_ms,
            ca_file: config.ca_file.clone(),
            backoff_min_ms: config.backoff_min_ms,
            backoff_max_ms: config.backoff_max_ms,
        })
    }

    /// The Redis consumer group shared by every gateway instance delivering this webhook.
    pub fn group(&self) -> String {
        format!("queuecast-webhook-{}", self.name)
    }
}

/// Starts every webhook for every PBX served (`pbx` from `[gateway]`, else discovered and re-discovered),
/// each (webhook, PBX) as its own task until `cancel`. `consumer` names this instance in the groups: stable
/// across restarts, so a restarted instance re-sends what it had read but not delivered.
pub fn spawn(
    hooks: Vec<Webhook>,
    pbx: Vec<String>,
    redis: RedisConfig,
    consumer: String,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) {
    if hooks.is_empty() {
        return;
    }
    tracing::info!(webhooks = hooks.len(), consumer = %consumer, "webhooks starting");
    let inner = tracker.clone();
    tracker.spawn(async move {
        let mut started = BTreeSet::new();
        let mut conn = None;
        loop {
            let ids = if pbx.is_empty() { discover(&redis, &mut conn).await } else { pbx.clone() };
            for id in ids.into_iter().filter(|id| started.insert(id.clone())) {
                for hook in &hooks {
                    let mut settings = redis.clone();
                    settings.pbx_id = id.clone();
                    let job = deliver::Job::new(hook.clone(), settings, consumer.clone());
                    inner.spawn(job.run(cancel.clone()));
                }
            }
            if !pbx.is_empty() {
                return;
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(DISCOVER_EVERY_MS)) => {}
            }
        }
    });
}

/// PBX ids with a `meta` key; none while Redis is unreachable (the next round tries again, the stream
/// readers of the gateway say the outage).
async fn discover(redis: &RedisConfig, conn: &mut Option<RedisConn>) -> Vec<String> {
    if conn.is_none() {
        *conn = RedisConn::connect(redis).await.ok();
    }
    let Some(c) = conn.as_mut() else { return Vec::new() };
    match super::discover_pbx(c, &redis.prefix).await {
        Ok(ids) => ids,
        Err(err) => {
            tracing::debug!(error = %err, "webhooks: PBX discovery failed");
            *conn = None;
            Vec::new()
        }
    }
}
