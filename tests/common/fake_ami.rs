//! An in-process fake Asterisk Manager Interface that replays real capture bytes
//! (tests/fixtures/asterisk-22/*/ami.raw) through the project's one fake peer
//! (`queuecast::simulate::ami_peer`: login with the capture's MD5 challenge or a plain secret, Ping,
//! Events, Logoff): the captured banner and login answer, the captured QueueStatus answer rewritten to the
//! client's ActionID, then the captured asynchronous events.
//!
//! Member actions (QueuePause, QueueAdd, QueueRemove, QueuePenalty) are answered the way a real Asterisk 22
//! answered them in tests/fixtures/asterisk-22-actions: `queuecast::simulate::member_actions` decides the
//! answer and the member changes from the members of the QueueStatus answer, the answer's bytes are the
//! recorded ones (ActionID rewritten), and each change raises the recorded event with the member's fields.
//!
//! Fault injection: drop the connection in the middle of an event (once), write in 1-byte chunks, reject
//! every login. The event cursor survives reconnects, so after a drop the stream resumes with the event that
//! was cut — what the client saw is then exactly the uninterrupted stream plus one more resync.

#![allow(dead_code)]

use super::recorded_answers::{RecordedAnswers, members_of};
use parsers::ami::{AmiDecoder, Message, MessageKind, NextMessage};
use queuecast::simulate::ami_peer::with_action_id;
use queuecast::simulate::ami_peer::{self, Answers, ChallengeText, Credentials, Peer, Reply, Writes};
use queuecast::simulate::member_actions::MemberBook;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// The challenge Asterisk 22 sent in ami-actions/ami-md5.raw (the capture's key matches it and `s3cret`).
pub const CHALLENGE: &str = "66136831";
pub const USERNAME: &str = "monitor";
pub const SECRET: &str = "s3cret";

/// What one capture provides, cut into whole messages.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    pub banner: Vec<u8>,
    /// `Response: Success` … `Authentication accepted` (ActionID rewritten per login).
    pub login_ok: Vec<u8>,
    /// Events after login, up to the first list answer (FullyBooted first).
    pub events: Vec<Vec<u8>>,
    /// The captured `QueueStatus` answer: response, items, QueueStatusComplete (ActionID `final-status`).
    pub status_answer: Vec<Vec<u8>>,
}

impl Capture {
    /// Splits `dir/ami.raw` of an asterisk-22 scenario.
    pub fn load(dir: &Path) -> Capture {
        let raw = std::fs::read(dir.join("ami.raw")).expect("ami.raw is readable");
        let mut decoder = AmiDecoder::new();
        let mut rest = raw.as_slice();
        let mut capture = Capture::default();
        let mut lists_started = false;
        while let Ok(NextMessage::Complete { message, consumed }) = decoder.decode(rest) {
            let bytes = rest[..consumed].to_vec();
            let action_id = message.action_id().map(|id| id.into_owned());
            match (message.kind, action_id.as_deref()) {
                (MessageKind::Banner { .. }, _) => capture.banner = bytes,
                (MessageKind::Response { .. }, Some("login-1")) => capture.login_ok = bytes,
                (_, Some("final-status")) => capture.status_answer.push(bytes),
                (_, Some(_)) => lists_started = true,
                (MessageKind::Event { .. }, None) if !lists_started => capture.events.push(bytes),
                _ => {}
            }
            rest = &rest[consumed..];
        }
        assert!(
            !capture.banner.is_empty() && !capture.login_ok.is_empty() && !capture.status_answer.is_empty()
        );
        capture
    }
}

impl Capture {
    /// Every asynchronous event of `dir/ami.raw` (also those between the answers to the recorder's own
    /// actions), each stamped with a `Timestamp:` header (manager.conf `timestampevents=yes`): its recorded
    /// receive time (`ami.chunks.tsv`) plus `shift_ms`. The daemon then stamps each event with the time
    /// `replay` gives the same bytes, so the two can be compared.
    pub fn load_timestamped(dir: &Path, shift_ms: i64) -> Capture {
        let mut capture = Capture::load(dir);
        let raw = std::fs::read(dir.join("ami.raw")).expect("ami.raw is readable");
        let chunks = std::fs::read_to_string(dir.join("ami.chunks.tsv")).expect("ami.chunks.tsv");
        let times = queuecast::replay::receive_times(&chunks);
        let mut decoder = AmiDecoder::new();
        let mut at = 0;
        capture.events.clear();
        while let Ok(NextMessage::Complete { message, consumed }) = decoder.decode(&raw[at..]) {
            let bytes = &raw[at..at + consumed];
            at += consumed;
            let after_login = capture.events.is_empty() && !message.is_event("FullyBooted");
            if !matches!(message.kind, MessageKind::Event { .. })
                || message.action_id().is_some()
                || after_login
            {
                continue;
            }
            let ms = queuecast::replay::time_at(&times, at).expect("chunk time") + shift_ms;
            capture.events.push(with_timestamp(bytes, ms));
        }
        capture
    }
}

/// The message with `Timestamp: <seconds>.<micros>` before its closing blank line.
pub fn with_timestamp(message: &[u8], ms: i64) -> Vec<u8> {
    let body = message.strip_suffix(b"\r\n").unwrap_or(message);
    let mut out = body.to_vec();
    out.extend_from_slice(format!("Timestamp: {}.{:03}000\r\n\r\n", ms / 1000, ms % 1000).as_bytes());
    out
}

/// How the server misbehaves.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Cut the connection after this many bytes of event number `.0` (once).
    pub drop_in_event: Option<(usize, usize)>,
    /// Write every byte separately (flushed), so the client sees messages split at every boundary.
    pub one_byte_chunks: bool,
    /// Answer every Login with `Authentication failed` and close, like Asterisk.
    pub reject_auth: bool,
    /// After the last event send `Event: Reload` (once): the client answers with a QueueStatus, which tells
    /// the test that every earlier message has been handled.
    pub end_with_reload: bool,
    /// Never answer `Ping` and say nothing more: a wedged Asterisk or a half-open TCP connection.
    pub ignore_pings: bool,
    /// Stream the events before answering QueueStatus, with the capture's final answer: a slow answer that
    /// tells the state after those events, as the recording's closing `final-status` does.
    pub status_after_events: bool,
    /// The AMI user lacks `write = agent` (the recordings' `readonly` user): member actions are refused.
    pub no_write_agent: bool,
    /// Send a member action's events before its answer (the recordings have the answer first, but the
    /// events go through stasis, so a client must not rely on the order).
    pub events_before_answer: bool,
}

/// Asterisk's Reload event (manager.c `manager_event(EVENT_FLAG_SYSTEM, "Reload", …)`, 22 layout).
const RELOAD_EVENT: &[u8] =
    b"Event: Reload\r\nPrivilege: system,all\r\nModule: app_queue.so\r\nStatus: 0\r\nMessage: Reload Requested\r\n\r\n";

/// What happened, for assertions.
#[derive(Debug, Default)]
pub struct Seen {
    pub connections: usize,
    /// Completed TLS handshakes (TLS servers only).
    pub tls_handshakes: usize,
    /// Action names in arrival order, across connections.
    pub actions: Vec<String>,
    pub logins_ok: usize,
    pub dropped: bool,
    pub reload_sent: bool,
    /// Next event to stream (survives reconnects).
    pub next_event: usize,
    /// Member actions received: name and fields (ActionID left out), in arrival order.
    pub member_actions: Vec<(String, Vec<(String, String)>)>,
}

pub struct FakeAmi {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    stop: CancellationToken,
}

impl Drop for FakeAmi {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl FakeAmi {
    pub async fn start(capture: Capture, faults: Faults) -> FakeAmi {
        Self::serve_on(capture, faults, None).await
    }

    /// Like [`FakeAmi::start`], but every connection must first complete a TLS handshake with `tls`
    /// (manager.conf `tlsenable=yes`).
    pub async fn start_tls(capture: Capture, faults: Faults, tls: TlsAcceptor) -> FakeAmi {
        Self::serve_on(capture, faults, Some(tls)).await
    }

    /// On a chosen port of 127.0.0.1: a client configured for it finds no server until this starts.
    pub async fn start_on(port: u16, capture: Capture, faults: Faults) -> FakeAmi {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind the chosen port");
        Self::serve(listener, capture, faults, None)
    }

    async fn serve_on(capture: Capture, faults: Faults, tls: Option<TlsAcceptor>) -> FakeAmi {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        Self::serve(listener, capture, faults, tls)
    }

    fn serve(listener: TcpListener, capture: Capture, faults: Faults, tls: Option<TlsAcceptor>) -> FakeAmi {
        let addr = listener.local_addr().expect("local addr");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = CancellationToken::new();
        let book = Arc::new(Mutex::new(members_of(&capture.status_answer)));
        let answers = Arc::new(RecordedAnswers::load());
        let server = Server { capture: Arc::new(capture), faults, seen: seen.clone(), tls, book, answers };
        tokio::spawn(server.accept_loop(listener, stop.clone()));
        FakeAmi { addr, seen, stop }
    }

    pub fn seen(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock().expect("fake AMI state")
    }
}

/// The test server certificate of tests/fixtures/tls (for `localhost` and `127.0.0.1`, issued by its
/// `ca.pem`).
pub fn tls_acceptor() -> TlsAcceptor {
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    use tokio_rustls::rustls::{ServerConfig, crypto::ring};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let certs: Vec<_> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .expect("server.pem is readable")
        .collect::<Result<_, _>>()
        .expect("server.pem holds certificates");
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).expect("server.key holds a key");
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("certificate and key match");
    TlsAcceptor::from(Arc::new(config))
}

#[derive(Clone)]
struct Server {
    capture: Arc<Capture>,
    faults: Faults,
    seen: Arc<Mutex<Seen>>,
    tls: Option<TlsAcceptor>,
    /// The members as app_queue holds them, changed by member actions (shared by all connections).
    book: Arc<Mutex<MemberBook>>,
    answers: Arc<RecordedAnswers>,
}

/// A plain or TLS connection.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

impl Server {
    async fn accept_loop(self, listener: TcpListener, stop: CancellationToken) {
        loop {
            let socket = tokio::select! {
                _ = stop.cancelled() => return,
                accepted = listener.accept() => match accepted { Ok((s, _)) => s, Err(_) => return },
            };
            self.seen.lock().unwrap().connections += 1;
            let server = self.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = server.handshake_and_serve(socket) => {}
                }
            });
        }
    }

    async fn handshake_and_serve(self, socket: tokio::net::TcpStream) -> std::io::Result<()> {
        socket.set_nodelay(true)?;
        match self.tls.clone() {
            None => self.serve(Box::new(socket)).await,
            Some(tls) => {
                let stream = tls.accept(socket).await?;
                self.seen.lock().unwrap().tls_handshakes += 1;
                self.serve(Box::new(stream)).await
            }
        }
    }

    async fn write(&self, socket: &mut Box<dyn Io>, bytes: &[u8]) -> std::io::Result<()> {
        let writes = if self.faults.one_byte_chunks { Writes::EveryByte } else { Writes::Whole };
        ami_peer::write(socket, bytes, writes).await
    }

    /// One connection. Returns when the client goes away or a fault ends it.
    async fn serve(self, mut socket: Box<dyn Io>) -> std::io::Result<()> {
        self.write(&mut socket, &self.capture.banner).await?;
        let credentials = Credentials { username: USERNAME.to_owned(), secret: SECRET.to_owned() };
        let mut peer = Peer::new(credentials, ChallengeText::Fixed(CHALLENGE.to_owned()));
        let mut answers = &self;
        loop {
            let mut chunk = [0u8; 4096];
            let n = socket.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            peer.push(&chunk[..n]);
            // An action too long to read is left unanswered, as the client would see from a stuck peer.
            while let Ok(Some(reply)) = peer.next_reply(&mut answers) {
                match reply {
                    Reply::Send(bytes) => self.write(&mut socket, &bytes).await?,
                    Reply::Close(bytes) => {
                        self.write(&mut socket, &bytes).await?;
                        return Ok(());
                    }
                    Reply::Status(bytes) if self.faults.status_after_events => {
                        if !self.stream_events(&mut socket).await? {
                            return Ok(());
                        }
                        self.write(&mut socket, &bytes).await?;
                    }
                    Reply::Status(bytes) => {
                        self.write(&mut socket, &bytes).await?;
                        if !self.stream_events(&mut socket).await? {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    /// A member action: the recorded answer, then one recorded event per changed member.
    fn member_action(&self, action: &Message<'_>, name: &str, id: &str) -> Option<Vec<u8>> {
        let get = |key: &str| action.get(key).map(|v| v.into_owned());
        let (answer, effects) = self.book.lock().unwrap().apply(name, get, !self.faults.no_write_agent)?;
        let fields = action
            .fields
            .iter()
            .filter(|f| !f.key.eq_ignore_ascii_case(b"Action") && !f.key.eq_ignore_ascii_case(b"ActionID"))
            .map(|f| (f.key_str().into_owned(), f.value_str().into_owned()))
            .collect();
        self.seen.lock().unwrap().member_actions.push((name.to_owned(), fields));
        let answer = self.answers.answer(answer, id);
        let events: Vec<u8> = effects.iter().flat_map(|e| self.answers.event(e)).collect();
        Some(if self.faults.events_before_answer {
            [events, answer].concat()
        } else {
            [answer, events].concat()
        })
    }

    /// Streams the remaining events; false when a drop fault ended the connection.
    async fn stream_events(&self, socket: &mut Box<dyn Io>) -> std::io::Result<bool> {
        loop {
            let (index, drop_now) = {
                let seen = self.seen.lock().unwrap();
                let drop_now = !seen.dropped
                    && self.faults.drop_in_event.is_some_and(|(event, _)| event == seen.next_event);
                (seen.next_event, drop_now)
            };
            // Event 0 (FullyBooted) was sent with the login answer.
            let Some(event) = self.capture.events.get(index.max(1)) else {
                let reload = self.faults.end_with_reload
                    && !std::mem::replace(&mut self.seen.lock().unwrap().reload_sent, true);
                if reload {
                    self.write(socket, RELOAD_EVENT).await?;
                }
                return Ok(true);
            };
            if drop_now {
                let cut = self.faults.drop_in_event.map_or(0, |(_, bytes)| bytes).min(event.len() - 1);
                self.write(socket, &event[..cut]).await?;
                self.seen.lock().unwrap().dropped = true;
                return Ok(false);
            }
            self.write(socket, event).await?;
            self.seen.lock().unwrap().next_event = index.max(1) + 1;
        }
    }
}

/// The capture's bytes where it has them; member actions as Asterisk 22 answered them.
impl Answers for &Server {
    fn received(&mut self, name: &str) {
        self.seen.lock().unwrap().actions.push(name.to_owned());
    }

    fn refuses_logins(&self) -> bool {
        self.faults.reject_auth
    }

    fn login_accepted(&mut self, id: Option<&str>, _events_on: bool) -> Vec<u8> {
        self.seen.lock().unwrap().logins_ok += 1;
        let mut bytes = with_action_id(&self.capture.login_ok, "login-1", id.unwrap_or_default());
        bytes.extend(self.capture.events.first().cloned().unwrap_or_default()); // FullyBooted
        bytes
    }

    fn ping(&mut self, id: Option<&str>) -> Reply {
        if self.faults.ignore_pings {
            return Reply::Send(Vec::new());
        }
        Reply::Send(ami_peer::pong(id, "1795383001.369318"))
    }

    fn action(&mut self, action: &Message<'_>, name: &str, _events_on: bool) -> Reply {
        let id = action.action_id().map(|id| id.into_owned()).unwrap_or_default();
        if name.eq_ignore_ascii_case("QueueStatus") {
            let answer =
                self.capture.status_answer.iter().flat_map(|m| with_action_id(m, "final-status", &id));
            return Reply::Status(answer.collect());
        }
        match self.member_action(action, name, &id) {
            Some(bytes) => Reply::Send(bytes),
            None => ami_peer::unknown_action(name, action.action_id().as_deref()),
        }
    }
}
