//! `[gateway]`: the HTTP / WebSocket / SSE front end (DESIGN.md "Gateway"). Its own file so the other
//! sections' owners and this one never edit the same lines.

use super::secret::Secret;
use super::webhook::WebhookConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Loopback by default: exposing the gateway is a decision (a reverse proxy with TLS, or `0.0.0.0:8080`).
pub const DEFAULT_GATEWAY_LISTEN: &str = "127.0.0.1:8080";
/// WebSocket + SSE clients served at once; beyond that a new stream gets 503. Each costs a few KiB plus its
/// socket buffers, so 10 000 fit in well under 1 GiB.
pub const DEFAULT_MAX_STREAMS: usize = 10_000;
/// An HMAC key shorter than this is guessable offline from one captured token.
pub const MIN_TOKEN_SECRET_BYTES: usize = 16;
/// Pause reasons the operator panel offers when `pause_reasons` is not set.
pub const DEFAULT_PAUSE_REASONS: &[&str] = &["Break", "Lunch", "Training", "Admin"];
/// A reason is a label on a button and in Asterisk's `queue show`, not a text field.
pub const MAX_PAUSE_REASON_BYTES: usize = 64;
pub const MAX_PAUSE_REASONS: usize = 32;
/// A POST command waits this long for the daemon's result: the daemon answers within milliseconds when
/// AMI is up, and a person clicking a button should hear "no answer" within seconds.
pub const DEFAULT_COMMAND_TIMEOUT_MS: u64 = 5_000;
/// Beyond this a browser or proxy gives up on the request first.
pub const MAX_COMMAND_TIMEOUT_MS: u64 = 60_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// `host:port` the gateway listens on.
    pub listen: String,
    /// HS256 key of the tokens, as written in the file (masked on output). Use [`GatewayConfig::secret`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_secret: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_secret_file: Option<PathBuf>,
    /// Origins allowed by CORS (`https://crm.example.com`); empty = same origin only.
    pub allowed_origins: Vec<String>,
    /// PBX ids served; empty = every PBX with a `meta` key under the prefix.
    pub pbx: Vec<String>,
    /// WebSocket + SSE clients at once.
    pub max_streams: usize,
    /// Reasons the operator panel's pause button offers (sent as the command's `reason`).
    pub pause_reasons: Vec<String>,
    /// How long a POST command waits for the daemon's result before answering 504.
    pub command_timeout_ms: u64,
    /// HTTP receivers of stream messages (`[[gateway.webhooks]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<WebhookConfig>,
    /// `token_secret` or the content of `token_secret_file`, filled in at load.
    #[serde(skip)]
    pub(crate) resolved_secret: Option<Secret>,
}

impl GatewayConfig {
    /// The token key (inline or read from `token_secret_file`); `None` = the gateway refuses to start.
    pub fn secret(&self) -> Option<&Secret> {
        self.resolved_secret.as_ref()
    }

    /// The validated address (validation rejects what does not parse).
    pub fn listen_addr(&self) -> Option<std::net::SocketAddr> {
        self.listen.parse().ok()
    }
}

/// `listen`, `allowed_origins` and `max_streams`: what the gateway needs to start serving.
pub(super) fn check_serving(config: &GatewayConfig) -> Option<(&'static str, String)> {
    if config.listen_addr().is_none() {
        return Some((
            "listen",
            format!("{:?} is not an IP address and port (e.g. \"127.0.0.1:8080\")", config.listen),
        ));
    }
    if let Some(origin) = config.allowed_origins.iter().find(|origin| !is_origin(origin)) {
        return Some((
            "allowed_origins",
            format!("{origin:?} is not an origin like https://crm.example.com"),
        ));
    }
    (config.max_streams == 0).then(|| ("max_streams", "must be at least 1".to_owned()))
}

/// An http(s) origin that can be sent back as a header value (visible ASCII, spaces and tabs).
fn is_origin(origin: &str) -> bool {
    (origin.starts_with("http://") || origin.starts_with("https://"))
        && origin.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_GATEWAY_LISTEN.to_owned(),
            token_secret: None,
            token_secret_file: None,
            allowed_origins: Vec::new(),
            pbx: Vec::new(),
            max_streams: DEFAULT_MAX_STREAMS,
            pause_reasons: DEFAULT_PAUSE_REASONS.iter().map(|r| r.to_string()).collect(),
            command_timeout_ms: DEFAULT_COMMAND_TIMEOUT_MS,
            webhooks: Vec::new(),
            resolved_secret: None,
        }
    }
}

/// `pause_reasons`: a short list of short printable labels.
pub(super) fn check_pause_reasons(reasons: &[String]) -> Option<String> {
    if reasons.len() > MAX_PAUSE_REASONS {
        return Some(format!("at most {MAX_PAUSE_REASONS} reasons"));
    }
    reasons
        .iter()
        .find(|r| r.trim().is_empty() || r.len() > MAX_PAUSE_REASON_BYTES || r.chars().any(char::is_control))
        .map(|r| format!("{r:?}: 1–{MAX_PAUSE_REASON_BYTES} bytes of printable text"))
}
