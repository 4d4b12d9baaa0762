//! One AMI connection from connect to EOF: banner, login, `QueueStatus` resync, then the event loop with
//! keep-alive. Responses are matched by ActionID, never by position: events may arrive between an action
//! and its answer (protocol/AMI.md §8.4).

use super::actions::{InFlight, MAX_IN_FLIGHT, Pending, Requests};
use super::codec::{Action, AmiCodec, Frame};
use super::{AmiError, send_health};
use crate::config::{AmiConfig, AuthMethod};
use crate::engine::TsMs;
use crate::normalize::ami::AmiNormalizer;
use crate::sources::{AmiHealth, SourceMsg};
use futures::{SinkExt, StreamExt};
use md5::{Digest, Md5};
use parsers::ami::{Message, MessageKind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

/// Bound on TCP connect + TLS handshake.
const CONNECT_TIMEOUT_MS: u64 = 10_000;
/// Bound on the banner and on each login step (Asterisk delays a failed login by 1 s).
const RESPONSE_TIMEOUT_MS: u64 = 10_000;

/// Unique across connections, so a late answer to an action of a previous connection can never be taken
/// for an answer on this one.
static NEXT_ACTION_ID: AtomicU64 = AtomicU64::new(1);

fn next_action_id() -> String {
    format!("queuecast-{}", NEXT_ACTION_ID.fetch_add(1, Ordering::Relaxed))
}

trait AsyncIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncIo for T {}

type Conn = Framed<Box<dyn AsyncIo>, AmiCodec>;

pub(super) struct Session<'a> {
    settings: &'a AmiConfig,
    normalizer: &'a mut AmiNormalizer,
    tx: &'a mpsc::Sender<SourceMsg>,
    requests: &'a mut Requests,
    /// Actions of [`Requests`] sent on this connection and not answered yet.
    in_flight: InFlight,
    cancel: &'a CancellationToken,
    connected: bool,
    /// `Event: Shutdown` was seen: the coming EOF is expected.
    shutting_down: bool,
    /// ActionID of the QueueStatus whose answer has not completed yet.
    status_pending: Option<String>,
    /// A Reload/FullyBooted arrived while a QueueStatus was pending: ask again once it completes.
    resync_again: bool,
    /// The first QueueStatus after login is still pending: the FullyBooted sent right after login is part
    /// of the login, not a reason to resync twice.
    first_status: bool,
    /// ActionID of the outstanding Ping and when its answer is overdue.
    pong_due: Option<(String, Instant)>,
}

impl<'a> Session<'a> {
    pub(super) fn new(
        settings: &'a AmiConfig,
        normalizer: &'a mut AmiNormalizer,
        tx: &'a mpsc::Sender<SourceMsg>,
        requests: &'a mut Requests,
        cancel: &'a CancellationToken,
    ) -> Self {
        Self {
            settings,
            normalizer,
            tx,
            requests,
            in_flight: InFlight::default(),
            cancel,
            connected: false,
            shutting_down: false,
            status_pending: None,
            resync_again: false,
            first_status: true,
            pong_due: None,
        }
    }

    /// True once login succeeded (and `Connected` was reported).
    pub(super) fn was_connected(&self) -> bool {
        self.connected
    }

    pub(super) async fn run(&mut self, tls: Option<&TlsConnector>) -> Result<(), AmiError> {
        let io = self.connect(tls).await?;
        let mut conn = Framed::new(io, AmiCodec::default());
        self.banner(&mut conn).await?;
        self.login(&mut conn).await?;
        tracing::info!(host = %self.settings.host, port = self.settings.port, "AMI connected");
        metrics::counter!(crate::metrics::AMI_CONNECTS).increment(1);
        metrics::gauge!(crate::metrics::AMI_UP).set(1.0);
        self.connected = true;
        send_health(self.tx, self.cancel, AmiHealth::Connected).await?;
        self.request_status(&mut conn).await?;
        self.event_loop(&mut conn).await
    }

    async fn connect(&self, tls: Option<&TlsConnector>) -> Result<Box<dyn AsyncIo>, AmiError> {
        let addr = format!("{}:{}", self.settings.host, self.settings.port);
        let connecting = async {
            let tcp = TcpStream::connect((self.settings.host.as_str(), self.settings.port))
                .await
                .map_err(|source| AmiError::Connect { addr: addr.clone(), source })?;
            tcp.set_nodelay(true)?;
            match tls {
                None => Ok(Box::new(tcp) as Box<dyn AsyncIo>),
                Some(tls) => {
                    let name = crate::tls::server_name(&self.settings.host)
                        .map_err(|e| AmiError::Tls(e.to_string()))?;
                    let stream =
                        tls.connect(name, tcp).await.map_err(|e| AmiError::Tls(format!("handshake: {e}")))?;
                    Ok(Box::new(stream) as Box<dyn AsyncIo>)
                }
            }
        };
        tokio::select! {
            _ = self.cancel.cancelled() => Err(AmiError::Cancelled),
            result = tokio::time::timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), connecting) => {
                result.map_err(|_| AmiError::ConnectTimeout { addr: addr.clone() })?
            }
        }
    }

    /// Next frame, or an error on EOF, I/O failure, cancel or `deadline`.
    async fn next_frame(
        &self,
        conn: &mut Conn,
        deadline: Instant,
        what: &'static str,
    ) -> Result<Frame, AmiError> {
        tokio::select! {
            _ = self.cancel.cancelled() => Err(AmiError::Cancelled),
            _ = tokio::time::sleep_until(deadline) => Err(AmiError::Timeout { what, ms: RESPONSE_TIMEOUT_MS }),
            frame = conn.next() => match frame {
                Some(Ok(frame)) => {
                    crate::metrics::ami_messages().increment(1);
                    Ok(frame)
                }
                Some(Err(e)) => Err(AmiError::Io(e)),
                None => Err(AmiError::Closed { after_shutdown: self.shutting_down }),
            },
        }
    }

    async fn send(&self, conn: &mut Conn, action: Action) -> Result<(), AmiError> {
        tokio::select! {
            _ = self.cancel.cancelled() => Err(AmiError::Cancelled),
            sent = conn.send(action) => sent.map_err(AmiError::Io),
        }
    }

    async fn banner(&self, conn: &mut Conn) -> Result<(), AmiError> {
        let deadline = Instant::now() + Duration::from_millis(RESPONSE_TIMEOUT_MS);
        let frame = self.next_frame(conn, deadline, "the banner").await?;
        match frame.message().map(|m| m.kind) {
            Some(MessageKind::Banner { version }) => {
                tracing::debug!(version = %parsers::text::decode(version), "AMI banner");
            }
            _ => tracing::warn!("AMI server sent no banner; continuing"),
        }
        Ok(())
    }

    /// Waits for the response carrying `action_id`; anything else before it (pre-login noise) is dropped.
    async fn response(
        &self,
        conn: &mut Conn,
        action_id: &str,
        what: &'static str,
    ) -> Result<Frame, AmiError> {
        let deadline = Instant::now() + Duration::from_millis(RESPONSE_TIMEOUT_MS);
        loop {
            let frame = self.next_frame(conn, deadline, what).await?;
            let matches = frame.message().is_some_and(|m| {
                matches!(m.kind, MessageKind::Response { .. })
                    && m.action_id().is_some_and(|id| id == action_id)
            });
            if matches {
                return Ok(frame);
            }
        }
    }

    async fn login(&self, conn: &mut Conn) -> Result<(), AmiError> {
        let settings = self.settings;
        let login = Action::new("Login", next_action_id()).field("Username", settings.username.clone());
        let login = match settings.auth {
            AuthMethod::Plain => login.field("Secret", settings.login_secret()),
            AuthMethod::Md5 => {
                let challenge = self.challenge(conn).await?;
                let key = md5_key(&challenge, settings.login_secret());
                login.field("AuthType", "MD5").field("Key", key)
            }
        };
        let login = login.field("Events", settings.event_mask());
        let id = login.action_id.clone();
        self.send(conn, login).await?;
        let frame = self.response(conn, &id, "Login").await?;
        let message = frame.message();
        match message.as_ref().map(|m| (response_status(m), m.get("Message"))) {
            Some((Some(true), _)) => Ok(()),
            Some((_, Some(text))) if text.to_ascii_lowercase().contains("authentication failed") => {
                Err(AmiError::AuthFailed { username: settings.username.clone() })
            }
            Some((_, text)) => Err(AmiError::LoginRejected(text.map(|t| t.into_owned()).unwrap_or_default())),
            None => Err(AmiError::LoginRejected("unreadable answer".into())),
        }
    }

    async fn challenge(&self, conn: &mut Conn) -> Result<String, AmiError> {
        let action = Action::new("Challenge", next_action_id()).field("AuthType", "MD5");
        let id = action.action_id.clone();
        self.send(conn, action).await?;
        let frame = self.response(conn, &id, "Challenge").await?;
        let message = frame.message();
        match message.as_ref().and_then(|m| m.get("Challenge")) {
            Some(challenge) if !challenge.is_empty() => Ok(challenge.into_owned()),
            _ => {
                let text = message.as_ref().and_then(|m| m.get("Message")).map(|t| t.into_owned());
                Err(AmiError::LoginRejected(format!("no MD5 challenge: {}", text.unwrap_or_default())))
            }
        }
    }

    /// Asks for the whole truth; the normalizer turns the answer into one `StatusSnapshot` (scope All).
    async fn request_status(&mut self, conn: &mut Conn) -> Result<(), AmiError> {
        let action = Action::new("QueueStatus", next_action_id());
        self.normalizer.expect_queue_status(&action.action_id, None, None);
        self.status_pending = Some(action.action_id.clone());
        self.send(conn, action).await
    }

    async fn event_loop(&mut self, conn: &mut Conn) -> Result<(), AmiError> {
        let interval = Duration::from_millis(self.settings.ping_interval_ms.max(1));
        let mut next_ping = Instant::now() + interval;
        loop {
            let wake = self.pong_due.as_ref().map_or(next_ping, |(_, due)| (*due).min(next_ping));
            let wake = self.in_flight.next_due().map_or(wake, |due| due.min(wake));
            let room = self.in_flight.len() < MAX_IN_FLIGHT;
            let frame = tokio::select! {
                _ = self.cancel.cancelled() => return Err(AmiError::Cancelled),
                _ = tokio::time::sleep_until(wake) => None,
                frame = conn.next() => Some(frame),
                Some(pending) = self.requests.recv(), if room => {
                    self.send_request(conn, pending).await?;
                    continue;
                }
            };
            match frame {
                None => {
                    let now = Instant::now();
                    self.in_flight.expire(now);
                    if self.pong_due.as_ref().is_some_and(|(_, due)| *due <= now) {
                        return Err(AmiError::Timeout { what: "Ping", ms: self.settings.ping_timeout_ms });
                    }
                    if now >= next_ping {
                        next_ping = now + interval;
                        self.ping(conn).await?;
                    }
                }
                Some(None) => return Err(AmiError::Closed { after_shutdown: self.shutting_down }),
                Some(Some(Err(e))) => return Err(AmiError::Io(e)),
                Some(Some(Ok(frame))) => {
                    crate::metrics::ami_messages().increment(1);
                    self.handle(conn, &frame).await?
                }
            }
        }
    }

    async fn ping(&mut self, conn: &mut Conn) -> Result<(), AmiError> {
        if self.pong_due.is_some() {
            return Ok(());
        }
        let action = Action::new("Ping", next_action_id());
        let due = Instant::now() + Duration::from_millis(self.settings.ping_timeout_ms.max(1));
        self.pong_due = Some((action.action_id.clone(), due));
        self.send(conn, action).await
    }

    /// Sends an action another task asked for; its answer is matched by ActionID in [`Self::handle`].
    async fn send_request(&mut self, conn: &mut Conn, pending: Pending) -> Result<(), AmiError> {
        let Pending { request, reply } = pending;
        let mut action = Action::new(request.name, next_action_id());
        action.fields = request.fields;
        tracing::debug!(action = request.name, action_id = %action.action_id, "sending AMI action");
        self.in_flight.insert(action.action_id.clone(), request.name, reply);
        self.send(conn, action).await
    }

    async fn handle(&mut self, conn: &mut Conn, frame: &Frame) -> Result<(), AmiError> {
        let Some(message) = frame.message() else { return Ok(()) };
        if let Some(id) = message.action_id() {
            if self.pong_due.as_ref().is_some_and(|(ping_id, _)| *ping_id == id) {
                self.pong_due = None;
                return Ok(());
            }
            if let Some(success) = response_status(&message) {
                let text = message.get("Message").unwrap_or_default();
                if self.in_flight.answer(&id, success, &text) {
                    return Ok(());
                }
            }
        }
        let resync = self.control(&message);
        let events = self.normalizer.push(&message, event_time_ms(&message));
        if !events.is_empty() {
            tokio::select! {
                _ = self.cancel.cancelled() => return Err(AmiError::Cancelled),
                sent = self.tx.send(SourceMsg::Events(events)) => sent.map_err(|_| AmiError::EngineGone)?,
            }
        }
        if resync {
            self.request_status(conn).await?;
        }
        Ok(())
    }

    /// Connection-level meaning of a message; true when a fresh QueueStatus must be requested now.
    fn control(&mut self, message: &Message<'_>) -> bool {
        let pending = self.status_pending.clone();
        let is_ours =
            |m: &Message<'_>| pending.as_deref().is_some_and(|p| m.action_id().is_some_and(|id| id == p));
        match message.kind {
            MessageKind::Event { .. } if message.is_event("Shutdown") => {
                tracing::info!(restart = %message.get("Restart").unwrap_or_default(), "Asterisk is shutting down");
                self.shutting_down = true;
                false
            }
            MessageKind::Event { .. } if message.is_event("FullyBooted") || message.is_event("Reload") => {
                if self.first_status && message.is_event("FullyBooted") && self.status_pending.is_some() {
                    return false;
                }
                tracing::info!(event = %message.event_name().unwrap_or_default(), "Asterisk (re)loaded: resyncing");
                if self.status_pending.is_some() {
                    self.resync_again = true;
                    return false;
                }
                true
            }
            MessageKind::Event { .. } if message.is_event("QueueStatusComplete") && is_ours(message) => {
                self.status_pending = None;
                self.first_status = false;
                // Commands are taken once the engine has the state they are checked against.
                self.requests.set_up(true);
                std::mem::take(&mut self.resync_again)
            }
            MessageKind::Response { .. } if is_ours(message) && response_status(message) == Some(false) => {
                tracing::warn!(message = %message.get("Message").unwrap_or_default(), "QueueStatus refused");
                self.status_pending = None;
                self.first_status = false;
                // Commands are taken once the engine has the state they are checked against.
                self.requests.set_up(true);
                std::mem::take(&mut self.resync_again)
            }
            _ => false,
        }
    }
}

/// `Some(true)` for `Response: Success`, `Some(false)` for other responses, None for non-responses.
fn response_status(message: &Message<'_>) -> Option<bool> {
    match message.kind {
        MessageKind::Response { status } => Some(status.eq_ignore_ascii_case(b"Success")),
        _ => None,
    }
}

/// `Key:` of an MD5 login: lowercase hex of md5(challenge followed by the secret).
pub fn md5_key(challenge: &str, secret: &str) -> String {
    let mut hasher = Md5::new();
    hasher.update(challenge.as_bytes());
    hasher.update(secret.as_bytes());
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The event's own `Timestamp:` (manager.conf `timestampevents=yes`) or the receive time: this edge is
/// where wall-clock time enters the system.
fn event_time_ms(message: &Message<'_>) -> TsMs {
    let stamped = message
        .get("Timestamp")
        .and_then(|t| t.trim().parse::<f64>().ok())
        .filter(|t| t.is_finite() && *t > 0.0);
    match stamped {
        Some(seconds) => (seconds * 1000.0).round() as TsMs,
        None => jiff::Timestamp::now().as_millisecond(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn md5_key_matches_the_real_capture() {
        // tests/fixtures/asterisk-22/ami-actions/ami-md5.*: challenge 66136831, secret s3cret.
        assert_eq!(super::md5_key("66136831", "s3cret"), "6a97fd95dec9ccb40224a64c05d28cf1");
    }
}
