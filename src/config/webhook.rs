//! `[[gateway.webhooks]]`: HTTP receivers the gateway delivers stream messages to (DESIGN.md "Webhooks").
//! Checked here, at load, so `check-config` rejects a hostile or broken receiver before anything runs.

use super::secret::{Secret, mask_url};
use serde::{Deserialize, Serialize, Serializer};
use std::path::PathBuf;

/// Message types a webhook may ask for: the stream's `type` values (DESIGN.md "Redis layout").
pub const WEBHOOK_EVENT_TYPES: &[&str] = &[
    "agent_update",
    "queue_update",
    "call_update",
    "agent_removed",
    "agent_event",
    "command_result",
    "resync",
];
/// One attempt (connect, TLS, request, response) gets this long by default: a receiver slower than that is
/// treated as down and retried.
pub const DEFAULT_WEBHOOK_TIMEOUT_MS: u64 = 5_000;
/// Beyond a minute an attempt is not a slow receiver any more but a hung one; waiting longer only delays
/// every later event of that webhook.
pub const MAX_WEBHOOK_TIMEOUT_MS: u64 = 60_000;
/// Retry backoff bounds (ms): first retry after about half a second, then doubling up to a minute.
pub const DEFAULT_WEBHOOK_BACKOFF_MIN_MS: u64 = 500;
pub const DEFAULT_WEBHOOK_BACKOFF_MAX_MS: u64 = 60_000;
/// A retry later than an hour would hold back every later event longer than any receiver outage a caller
/// would wait for; the bound also keeps the reclaim idle time of other gateway instances sane.
pub const MAX_WEBHOOK_BACKOFF_MS: u64 = 3_600_000;
/// Same floor as the token key: a shorter HMAC key is guessable offline from one captured request.
pub const MIN_WEBHOOK_SECRET_BYTES: usize = 16;
/// Names go into Redis consumer-group names and log lines.
const MAX_WEBHOOK_NAME_BYTES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WebhookMethod {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "POST")]
    Post,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookBody {
    /// `application/x-www-form-urlencoded` (for GET: the query string).
    Form,
    /// `application/json`: the stream message with `event_id` added.
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Unique; names the Redis consumer group `queuecast-webhook-<name>`.
    pub name: String,
    /// `http://` or `https://` receiver; printed with any password masked.
    #[serde(serialize_with = "masked")]
    pub url: String,
    #[serde(default = "default_method")]
    pub method: WebhookMethod,
    /// Default: `json` for POST, `form` for GET (the only one GET can carry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<WebhookBody>,
    /// Message types wanted (`agent_event`, `command_result`, …).
    pub events: Vec<String>,
    /// Only messages about these agents / queues (both given: about one of each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queues: Option<Vec<String>>,
    /// HMAC-SHA256 key of `X-Queuecast-Signature`; masked on output. Use [`WebhookConfig::secret`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// PEM CA(s) an `https://` receiver's certificate is checked against (a private CA); default the
    /// webpki roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(default = "super::millis::<DEFAULT_WEBHOOK_TIMEOUT_MS>")]
    pub timeout_ms: u64,
    #[serde(default = "super::millis::<DEFAULT_WEBHOOK_BACKOFF_MIN_MS>")]
    pub backoff_min_ms: u64,
    #[serde(default = "super::millis::<DEFAULT_WEBHOOK_BACKOFF_MAX_MS>")]
    pub backoff_max_ms: u64,
    #[serde(skip)]
    pub(crate) resolved_secret: Option<Secret>,
}

fn default_method() -> WebhookMethod {
    WebhookMethod::Post
}

fn masked<S: Serializer>(url: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&mask_url(url))
}

impl WebhookConfig {
    /// The signing key (inline or read from `secret_file`); `None` = requests go unsigned.
    pub fn secret(&self) -> Option<&Secret> {
        self.resolved_secret.as_ref()
    }

    pub fn body(&self) -> WebhookBody {
        self.body.unwrap_or(match self.method {
            WebhookMethod::Get => WebhookBody::Form,
            WebhookMethod::Post => WebhookBody::Json,
        })
    }
}

/// The parts of a checked `http(s)://` URL a client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// `Host` header value (`host` or `host:port` as written).
    pub authority: String,
    /// Origin-form request target: path and query as written (`/` when empty).
    pub path_and_query: String,
}

/// Parses `url`; the error says what is wrong without echoing the URL (it may carry a key in its query).
pub fn webhook_target(url: &str) -> Result<WebhookTarget, String> {
    let tls = match url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase()).as_deref() {
        Some("http") => false,
        Some("https") => true,
        Some(other) if other.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) => {
            return Err(format!("scheme {other}:// is not allowed: use http:// or https://"));
        }
        _ => return Err("must start with http:// or https://".to_owned()),
    };
    let uri: axum::http::Uri =
        url.parse().map_err(|_| "is not a valid URL (is the host missing?)".to_owned())?;
    let authority = uri.authority().ok_or("has no host")?;
    if authority.as_str().contains('@') {
        return Err("must not carry credentials (user@): the receiver checks the signature instead".into());
    }
    let host = authority.host().trim_start_matches('[').trim_end_matches(']');
    let usable = !host.is_empty()
        && (host.parse::<std::net::IpAddr>().is_ok()
            || host
                .split('.')
                .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')));
    if !usable {
        return Err("has no usable host name".to_owned());
    }
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    if port == 0 {
        return Err("has port 0".to_owned());
    }
    let path_and_query = uri.path_and_query().map_or("/".to_owned(), |p| p.as_str().to_owned());
    let path_and_query = if path_and_query.is_empty() { "/".to_owned() } else { path_and_query };
    Ok(WebhookTarget {
        tls,
        host: host.to_owned(),
        port,
        authority: authority.as_str().to_owned(),
        path_and_query,
    })
}

/// The first problem of the webhook list as (key, reason); reasons name the webhook, never its secret.
pub(super) fn check_webhooks(hooks: &[WebhookConfig]) -> Option<(&'static str, String)> {
    let mut names = std::collections::BTreeSet::new();
    for hook in hooks {
        let n = &hook.name;
        let valid_name = !n.is_empty()
            && n.len() <= MAX_WEBHOOK_NAME_BYTES
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !valid_name {
            return Some((
                "name",
                format!("{n:?}: 1–{MAX_WEBHOOK_NAME_BYTES} letters, digits, '-', '_' or '.'"),
            ));
        }
        if !names.insert(n.as_str()) {
            return Some(("name", format!("{n:?} is used by two webhooks")));
        }
        if let Some(problem) = check_one(hook) {
            return Some((problem.0, format!("webhook {n:?}: {}", problem.1)));
        }
    }
    None
}

fn check_one(hook: &WebhookConfig) -> Option<(&'static str, String)> {
    let target = match webhook_target(&hook.url) {
        Ok(target) => target,
        Err(reason) => return Some(("url", reason)),
    };
    if let Some(ca) = &hook.ca_file {
        if !target.tls {
            return Some(("ca_file", "only meaningful with an https:// url".into()));
        }
        if let Err(err) = std::fs::metadata(ca) {
            return Some(("ca_file", format!("cannot read {}: {err}", ca.display())));
        }
    }
    if hook.method == WebhookMethod::Get && hook.body == Some(WebhookBody::Json) {
        return Some(("body", "GET sends the event as a query string: use body = \"form\" or POST".into()));
    }
    if hook.events.is_empty() {
        return Some(("events", format!("must list at least one of {}", WEBHOOK_EVENT_TYPES.join(", "))));
    }
    if let Some(bad) = hook.events.iter().find(|e| !WEBHOOK_EVENT_TYPES.contains(&e.as_str())) {
        return Some(("events", format!("{bad:?} is not one of {}", WEBHOOK_EVENT_TYPES.join(", "))));
    }
    for (key, list) in [("agents", &hook.agents), ("queues", &hook.queues)] {
        if list.as_ref().is_some_and(|l| l.is_empty() || l.iter().any(String::is_empty)) {
            return Some((key, "when given, a list of non-empty names".into()));
        }
    }
    if hook.secret().is_some_and(|s| s.expose().len() < MIN_WEBHOOK_SECRET_BYTES) {
        return Some(("secret", format!("must be at least {MIN_WEBHOOK_SECRET_BYTES} bytes")));
    }
    if hook.timeout_ms == 0 || hook.timeout_ms > MAX_WEBHOOK_TIMEOUT_MS {
        return Some(("timeout_ms", format!("must be between 1 and {MAX_WEBHOOK_TIMEOUT_MS}")));
    }
    if hook.backoff_min_ms == 0 {
        return Some(("backoff_min_ms", "must be at least 1".into()));
    }
    if hook.backoff_max_ms < hook.backoff_min_ms || hook.backoff_max_ms > MAX_WEBHOOK_BACKOFF_MS {
        return Some((
            "backoff_max_ms",
            format!("must be between backoff_min_ms and {MAX_WEBHOOK_BACKOFF_MS}"),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = webhook_target("https://crm.example.com/hook?k=1").unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.path_and_query.as_str()),
            (true, "crm.example.com", 443, "/hook?k=1")
        );
        let t = webhook_target("http://127.0.0.1:8099").unwrap();
        assert_eq!((t.port, t.path_and_query.as_str(), t.authority.as_str()), (8099, "/", "127.0.0.1:8099"));
        assert!(webhook_target("http://[::1]:80/x").is_ok());
        for bad in [
            "file:///etc/passwd",
            "http://",
            "http:///x",
            "ftp://h/",
            "h/x",
            "http://u:p@h/",
            "http://h:0/",
            "http://a..b/",
        ] {
            assert!(webhook_target(bad).is_err(), "{bad}");
        }
    }
}
