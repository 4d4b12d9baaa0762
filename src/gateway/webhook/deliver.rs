//! One webhook for one PBX: reads its consumer group, delivers each wanted message until a 2xx, `XACK`s.
//!
//! Order of reading: first this consumer's own pending entries (read before a crash or restart but never
//! acknowledged), then new ones (`>`); every [`RECLAIM_EVERY_MS`], entries another instance read and then
//! left idle for longer than any live instance can (it died) are taken over with `XAUTOCLAIM`. While an
//! entry is being retried, each try first checks it is still this consumer's and resets its idle time, so a
//! live instance's entry is never taken over.

use super::Webhook;
use super::client::{Client, Outgoing};
use super::payload;
use crate::config::RedisConfig;
use crate::config::{WebhookBody, WebhookMethod};
use crate::sink::message::STREAM_PAYLOAD_FIELD;
use crate::sink::{Keys, RedisConn, SinkError, now_ms};
use axum::body::Bytes;
use axum::http::{HeaderName, HeaderValue, Method, header};
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use serde_json::{Map, Value};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Entries per read.
const READ_COUNT: usize = 100;
/// `XREADGROUP BLOCK`: below the connection's 3 s response timeout.
const READ_BLOCK_MS: u64 = 1_000;
/// Redis reconnect backoff of a webhook task.
const REDIS_BACKOFF_MIN_MS: u64 = 100;
const REDIS_BACKOFF_MAX_MS: u64 = 5_000;
/// How often dead instances' entries are looked for.
const RECLAIM_EVERY_MS: u64 = 30_000;
/// Added to the longest time a live owner can leave its entry untouched (a backoff with jitter plus an
/// attempt) before another instance may take it: room for a slow Redis round trip and clock-free jitter.
const RECLAIM_MARGIN_MS: u64 = 30_000;

pub struct Job {
    hook: Webhook,
    redis: RedisConfig,
    keys: Keys,
    group: String,
    consumer: String,
    /// The receiver failed and has not answered 2xx since: said once at WARN, once at INFO when back.
    failing: bool,
    redis_down: bool,
    /// The group was there (or made) once: if it is missing on a later connection, Redis lost its data and
    /// the stream started over, and all of the new stream is undelivered.
    had_group: bool,
}

impl Job {
    pub fn new(hook: Webhook, redis: RedisConfig, consumer: String) -> Self {
        let keys = redis.keys();
        let group = hook.group();
        Self { hook, redis, keys, group, consumer, failing: false, redis_down: false, had_group: false }
    }

    fn pbx(&self) -> &str {
        self.keys.pbx()
    }

    /// Until `cancel`; Redis errors reconnect with capped exponential backoff and jitter.
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut client =
            match Client::new(self.hook.target.clone(), self.hook.timeout_ms, self.hook.ca_file.as_deref()) {
                Ok(client) => client,
                Err(reason) => {
                    tracing::error!(webhook = %self.hook.name, %reason, "webhook cannot start");
                    return;
                }
            };
        let mut backoff_ms = REDIS_BACKOFF_MIN_MS;
        loop {
            let result = tokio::select! {
                _ = cancel.cancelled() => return,
                result = self.session(&mut client, &mut backoff_ms) => result,
            };
            if let Err(err) = result {
                if !self.redis_down {
                    tracing::warn!(webhook = %self.hook.name, pbx = self.pbx(), error = %err,
                        "webhook lost Redis; retrying");
                    self.redis_down = true;
                }
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(jittered(backoff_ms)) => {}
                }
                backoff_ms = (backoff_ms * 2).min(REDIS_BACKOFF_MAX_MS);
            }
        }
    }

    async fn session(&mut self, client: &mut Client, backoff_ms: &mut u64) -> Result<(), SinkError> {
        let mut conn = RedisConn::connect(&self.redis).await?;
        // A new group starts at the stream's end: a webhook added today does not replay the stream's past.
        self.ensure_group(&mut conn, if self.had_group { "0" } else { "$" }).await?;
        self.had_group = true;
        if std::mem::take(&mut self.redis_down) {
            tracing::info!(webhook = %self.hook.name, pbx = self.pbx(), "webhook reads Redis again");
        }
        *backoff_ms = REDIS_BACKOFF_MIN_MS;
        let mut pending_after = Some("0".to_owned());
        let mut last_reclaim: Option<Instant> = None;
        loop {
            if last_reclaim.is_none_or(|t| t.elapsed() >= Duration::from_millis(RECLAIM_EVERY_MS)) {
                self.reclaim(&mut conn, client).await?;
                last_reclaim = Some(Instant::now());
            }
            let entries = match self.read(&mut conn, pending_after.as_deref()).await {
                Ok(entries) => entries,
                Err(err) if err.code() == Some("NOGROUP") => {
                    // The stream was deleted (Redis lost its data) and started over: all of it is new.
                    tracing::info!(webhook = %self.hook.name, pbx = self.pbx(), "webhook's group is gone; recreated");
                    self.ensure_group(&mut conn, "0").await?;
                    pending_after = Some("0".to_owned());
                    continue;
                }
                Err(cause) => return Err(SinkError::Command { what: "XREADGROUP", cause }),
            };
            if pending_after.is_some() {
                pending_after = entries.last().map(|e| e.id.clone());
            }
            self.handle(&mut conn, client, entries).await?;
        }
    }

    async fn ensure_group(&self, conn: &mut RedisConn, start: &str) -> Result<(), SinkError> {
        let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.keys.stream())
            .arg(&self.group)
            .arg(start)
            .arg("MKSTREAM")
            .query_async(conn)
            .await;
        match created {
            Err(err) if err.code() != Some("BUSYGROUP") => {
                Err(SinkError::Command { what: "XGROUP CREATE", cause: err })
            }
            _ => Ok(()),
        }
    }

    /// This consumer's pending entries after `pending_after`, or (`None`) new entries, waiting a while.
    async fn read(
        &self,
        conn: &mut RedisConn,
        pending_after: Option<&str>,
    ) -> redis::RedisResult<Vec<StreamId>> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(&self.group).arg(&self.consumer).arg("COUNT").arg(READ_COUNT);
        if pending_after.is_none() {
            cmd.arg("BLOCK").arg(READ_BLOCK_MS);
        }
        cmd.arg("STREAMS").arg(self.keys.stream()).arg(pending_after.unwrap_or(">"));
        let reply: Option<StreamReadReply> = cmd.query_async(conn).await?;
        Ok(reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids).collect())
    }

    /// Takes over entries idle longer than a live instance ever leaves its own, and delivers them.
    async fn reclaim(&mut self, conn: &mut RedisConn, client: &mut Client) -> Result<(), SinkError> {
        let idle_ms = 2 * (self.hook.backoff_max_ms + self.hook.timeout_ms) + RECLAIM_MARGIN_MS;
        let mut start = "0-0".to_owned();
        loop {
            let reply: Result<StreamAutoClaimReply, _> = redis::cmd("XAUTOCLAIM")
                .arg(self.keys.stream())
                .arg(&self.group)
                .arg(&self.consumer)
                .arg(idle_ms)
                .arg(&start)
                .arg("COUNT")
                .arg(READ_COUNT)
                .query_async(conn)
                .await;
            let reply = match reply {
                Ok(reply) => reply,
                Err(err) if err.code() == Some("NOGROUP") => return Ok(()),
                Err(cause) => return Err(SinkError::Command { what: "XAUTOCLAIM", cause }),
            };
            if !reply.claimed.is_empty() {
                tracing::info!(webhook = %self.hook.name, pbx = self.pbx(), entries = reply.claimed.len(),
                    "webhook took over entries another gateway instance left undelivered");
            }
            self.handle(conn, client, reply.claimed).await?;
            if reply.next_stream_id == "0-0" {
                return Ok(());
            }
            start = reply.next_stream_id;
        }
    }

    /// Delivers the wanted entries in order; the others (filtered out, not a message, trimmed from the
    /// stream while pending) are acknowledged without a request.
    async fn handle(
        &mut self,
        conn: &mut RedisConn,
        client: &mut Client,
        entries: Vec<StreamId>,
    ) -> Result<(), SinkError> {
        let mut skipped = Vec::new();
        // Entries that are not messages come in runs (a stream trimmed under a long outage): one line a run.
        let mut not_messages: Vec<String> = Vec::new();
        for entry in entries {
            let payload: Option<String> = entry.get(STREAM_PAYLOAD_FIELD);
            let message = payload.as_deref().and_then(|p| serde_json::from_str::<Map<String, Value>>(p).ok());
            match message {
                None => {
                    not_messages.push(entry.id.clone());
                    skipped.push(entry.id);
                }
                Some(message) if !self.hook.filter.wants(&message) => skipped.push(entry.id),
                Some(message) => {
                    self.ack(conn, &std::mem::take(&mut skipped)).await?;
                    self.deliver(conn, client, &entry.id, &message).await?;
                }
            }
        }
        if let Some(first) = not_messages.first() {
            tracing::warn!(webhook = %self.hook.name, pbx = self.pbx(), entries = not_messages.len(), first = %first,
                "stream entries that are not messages (or were trimmed before delivery); skipped");
            metrics::counter!("queuecast_gateway_webhook_skipped_total", "webhook" => self.hook.name.clone())
                .increment(not_messages.len() as u64);
        }
        self.ack(conn, &skipped).await
    }

    async fn ack(&self, conn: &mut RedisConn, ids: &[String]) -> Result<(), SinkError> {
        if ids.is_empty() {
            return Ok(());
        }
        redis::cmd("XACK")
            .arg(self.keys.stream())
            .arg(&self.group)
            .arg(ids)
            .query_async::<()>(conn)
            .await
            .map_err(|cause| SinkError::Command { what: "XACK", cause })
    }

    /// Tries until a 2xx (then `XACK`), with capped exponential backoff and jitter between tries; returns
    /// early only when another instance took the entry over.
    async fn deliver(
        &mut self,
        conn: &mut RedisConn,
        client: &mut Client,
        entry: &str,
        message: &Map<String, Value>,
    ) -> Result<(), SinkError> {
        let event_id = payload::event_id(message);
        let kind = message.get("type").and_then(Value::as_str).unwrap_or("").to_owned();
        let (target, signed, body) = self.request_parts(message);
        let mut backoff_ms = self.hook.backoff_min_ms;
        let mut tries: u64 = 0;
        loop {
            if tries > 0 && !self.still_mine(conn, entry).await? {
                tracing::info!(webhook = %self.hook.name, pbx = self.pbx(), %event_id,
                    "another gateway instance took this event over");
                return Ok(());
            }
            tries += 1;
            let out = self.outgoing(&target, &signed, body.clone(), &event_id, &kind);
            match client.send(&out).await {
                Ok(_) => {
                    self.ack(conn, &[entry.to_owned()]).await?;
                    metrics::counter!("queuecast_gateway_webhook_deliveries_total", "webhook" => self.hook.name.clone())
                        .increment(1);
                    if std::mem::take(&mut self.failing) {
                        tracing::info!(webhook = %self.hook.name, pbx = self.pbx(), %event_id, tries,
                            "webhook receiver is back");
                    }
                    return Ok(());
                }
                Err(err) => {
                    metrics::counter!("queuecast_gateway_webhook_failures_total", "webhook" => self.hook.name.clone())
                        .increment(1);
                    if !std::mem::replace(&mut self.failing, true) {
                        tracing::warn!(webhook = %self.hook.name, pbx = self.pbx(), host = %self.hook.target.host,
                            %event_id, error = %err, "webhook receiver failed; retrying until it answers 2xx");
                    }
                    tokio::time::sleep(jittered(backoff_ms)).await;
                    backoff_ms = (backoff_ms * 2).min(self.hook.backoff_max_ms);
                }
            }
        }
    }

    /// (request target, signed text, body): for GET the form goes after the URL's own query, and the
    /// whole query string is what is signed; for POST the body is.
    fn request_parts(&self, message: &Map<String, Value>) -> (String, String, Bytes) {
        let rendered = payload::render(message, self.hook.body);
        match self.hook.method {
            WebhookMethod::Post => {
                (self.hook.target.path_and_query.clone(), rendered.clone(), Bytes::from(rendered))
            }
            WebhookMethod::Get => {
                let (path, own) = self
                    .hook
                    .target
                    .path_and_query
                    .split_once('?')
                    .unwrap_or((&self.hook.target.path_and_query, ""));
                let query = if own.is_empty() { rendered } else { format!("{own}&{rendered}") };
                (format!("{path}?{query}"), query, Bytes::new())
            }
        }
    }

    fn outgoing(&self, target: &str, signed: &str, body: Bytes, event_id: &str, kind: &str) -> Outgoing {
        let timestamp = (now_ms() / 1000).to_string();
        let mut headers = vec![(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("queuecast/", env!("CARGO_PKG_VERSION"))),
        )];
        let mut add = |name: &'static str, value: &str| {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.push((HeaderName::from_static(name), value));
            }
        };
        add("x-queuecast-event-id", event_id);
        add("x-queuecast-event", kind);
        add("x-queuecast-timestamp", &timestamp);
        if let Some(secret) = &self.hook.secret {
            add("x-queuecast-signature", &payload::signature(secret, &timestamp, signed));
        }
        let method = match self.hook.method {
            WebhookMethod::Get => Method::GET,
            WebhookMethod::Post => {
                let kind = match self.hook.body {
                    WebhookBody::Json => "application/json",
                    WebhookBody::Form => "application/x-www-form-urlencoded",
                };
                headers.push((header::CONTENT_TYPE, HeaderValue::from_static(kind)));
                Method::POST
            }
        };
        Outgoing { method, target: target.to_owned(), headers, body }
    }

    /// Whether `entry` is still pending for this consumer; if so its idle time is reset (so no other
    /// instance takes it over while it is retried here).
    async fn still_mine(&self, conn: &mut RedisConn, entry: &str) -> Result<bool, SinkError> {
        let pending: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
            .arg(self.keys.stream())
            .arg(&self.group)
            .arg(entry)
            .arg(entry)
            .arg(1)
            .query_async(conn)
            .await
            .map_err(|cause| SinkError::Command { what: "XPENDING", cause })?;
        if pending.first().is_none_or(|(_, owner, _, _)| *owner != self.consumer) {
            return Ok(false);
        }
        redis::cmd("XCLAIM")
            .arg(self.keys.stream())
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(0)
            .arg(entry)
            .arg("JUSTID")
            .query_async::<Vec<String>>(conn)
            .await
            .map_err(|cause| SinkError::Command { what: "XCLAIM", cause })?;
        Ok(true)
    }
}

/// `ms` plus up to half of it again, so retries of many webhooks (or instances) do not fall in step.
fn jittered(ms: u64) -> Duration {
    Duration::from_millis(ms + rand::random_range(0..=ms / 2))
}
