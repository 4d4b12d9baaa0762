//! The one fake Asterisk manager peer: the part of an AMI server that every fake shares — cutting actions
//! out of the received bytes, the login handshake (`Challenge` + MD5 key, or plain secret; `Events: off`),
//! `Ping`, `Events`, `Logoff`, refusing actions before login, and Asterisk's answer to an unknown action.
//!
//! It does no I/O: `queuecast simulate` (live events from its model), the tests (replayed capture bytes)
//! and the benches (paced synthetic events) each own their socket and their event source, and hand every
//! received chunk to a [`Peer`]. What differs between them — the bytes of an accepted login, `Ping`'s
//! timestamp, `QueueStatus` and member actions — is asked of their [`Answers`].

use super::ami::Msg;
use md5::{Digest, Md5};
use parsers::ami::{AmiDecoder, FrameError, Message, NextMessage};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// The AMI user the peer accepts (manager.conf `[username]` with `secret =`).
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub secret: String,
}

/// What `Action: Challenge` answers.
#[derive(Debug, Clone)]
pub enum ChallengeText {
    /// The same text every time: a recording's challenge, so its recorded MD5 key matches.
    Fixed(String),
    /// Eight random digits per request, as Asterisk does.
    Random,
}

/// What to do with one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Write these bytes (nothing, for an action the peer pretends not to have heard).
    Send(Vec<u8>),
    /// Write these bytes, then close the connection (failed login, `Logoff`).
    Close(Vec<u8>),
    /// A `QueueStatus` answer: the snapshot a client resyncs from, after which a replayed or paced event
    /// source starts.
    Status(Vec<u8>),
}

/// The parts of an Asterisk that differ between the fakes.
pub trait Answers {
    /// Every action as it arrives, before it is answered (for the tests' assertions).
    fn received(&mut self, _name: &str) {}

    /// Whether this Asterisk refuses every login (a wrong secret on the daemon's side).
    fn refuses_logins(&self) -> bool {
        false
    }

    /// The bytes of an accepted login; `events_on` unless the login said `Events: off`.
    fn login_accepted(&mut self, id: Option<&str>, events_on: bool) -> Vec<u8> {
        login_accepted(id, events_on)
    }

    /// `Ping`'s answer (`Reply::Send(vec![])` plays a wedged Asterisk).
    fn ping(&mut self, id: Option<&str>) -> Reply {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Reply::Send(pong(id, &format!("{}.{:06}", now.as_secs(), now.subsec_micros())))
    }

    /// Any other action of a logged-in client, `name` as sent (`QueueStatus`, member actions, …).
    fn action(&mut self, action: &Message<'_>, name: &str, events_on: bool) -> Reply;
}

/// One client connection's side of the protocol.
pub struct Peer {
    credentials: Credentials,
    challenge_text: ChallengeText,
    decoder: AmiDecoder,
    received: Vec<u8>,
    logged_in: bool,
    events_on: bool,
    challenge: Option<String>,
}

impl Peer {
    pub fn new(credentials: Credentials, challenge_text: ChallengeText) -> Self {
        Self {
            credentials,
            challenge_text,
            decoder: AmiDecoder::new().without_banner(),
            received: Vec::new(),
            logged_in: false,
            events_on: true,
            challenge: None,
        }
    }

    /// Bytes read from the client.
    pub fn push(&mut self, bytes: &[u8]) {
        self.received.extend_from_slice(bytes);
    }

    /// Whether events should reach this client (login without `Events: off`, or `Events` since).
    pub fn events_on(&self) -> bool {
        self.events_on
    }

    /// The answer to the next whole action received, or `None` until more bytes arrive. An action no
    /// Asterisk would read (too long) is an error: the connection should end.
    pub fn next_reply(&mut self, answers: &mut impl Answers) -> Result<Option<Reply>, FrameError> {
        let (reply, consumed) = match self.decoder.decode(&self.received)? {
            NextMessage::Incomplete => return Ok(None),
            NextMessage::Complete { message, consumed } => {
                let mut session = Session {
                    credentials: &self.credentials,
                    challenge_text: &self.challenge_text,
                    logged_in: &mut self.logged_in,
                    events_on: &mut self.events_on,
                    challenge: &mut self.challenge,
                };
                (session.answer(&message, answers), consumed)
            }
        };
        self.received.drain(..consumed);
        Ok(Some(reply))
    }
}

/// The state an answer may change, borrowed apart from the buffer the action is read from.
struct Session<'p> {
    credentials: &'p Credentials,
    challenge_text: &'p ChallengeText,
    logged_in: &'p mut bool,
    events_on: &'p mut bool,
    challenge: &'p mut Option<String>,
}

impl Session<'_> {
    fn answer(&mut self, action: &Message<'_>, answers: &mut impl Answers) -> Reply {
        let name = action.get("Action").map(|n| n.into_owned()).unwrap_or_default();
        let id = action.action_id().map(|id| id.into_owned());
        let id = id.as_deref();
        answers.received(&name);
        match name.to_ascii_lowercase().as_str() {
            "challenge" => {
                let text = match self.challenge_text {
                    ChallengeText::Fixed(text) => text.clone(),
                    ChallengeText::Random => rand::random_range(10_000_000u32..100_000_000).to_string(),
                };
                *self.challenge = Some(text.clone());
                Reply::Send(Msg::response(true, id).field("Challenge", text).finish().into_bytes())
            }
            "login" if !answers.refuses_logins() && self.login_valid(action) => {
                *self.logged_in = true;
                *self.events_on = !action.value_is("Events", "off");
                Reply::Send(answers.login_accepted(id, *self.events_on))
            }
            // Asterisk closes the socket after a failed login.
            "login" => Reply::Close(error(id, "Authentication failed")),
            "logoff" => Reply::Close(
                Msg::goodbye(id).field("Message", "Thanks for all the fish.").finish().into_bytes(),
            ),
            _ if !*self.logged_in => Reply::Send(error(id, "Permission denied")),
            "ping" => answers.ping(id),
            "events" => {
                *self.events_on = !action.value_is("EventMask", "off");
                let shown = if *self.events_on { "On" } else { "Off" };
                Reply::Send(Msg::response(true, id).field("Events", shown).finish().into_bytes())
            }
            _ => answers.action(action, &name, *self.events_on),
        }
    }

    /// MD5 when the client says so (or sends a key): the key must be md5(challenge + secret) of the last
    /// challenge this connection was given; otherwise the plain secret.
    fn login_valid(&self, action: &Message<'_>) -> bool {
        let user_ok = action.get("Username").is_some_and(|u| u == self.credentials.username);
        let key = action.get("Key");
        let secret_ok = if action.value_is("AuthType", "md5") || key.is_some() {
            let expected =
                self.challenge.as_ref().map(|c| md5_hex(&format!("{c}{}", self.credentials.secret)));
            expected.is_some() && key.map(|k| k.to_ascii_lowercase()) == expected
        } else {
            action.get("Secret").is_some_and(|s| s == self.credentials.secret)
        };
        user_ok && secret_ok
    }
}

/// Asterisk 22's answer to an accepted login, with `FullyBooted` when events are on.
pub fn login_accepted(id: Option<&str>, events_on: bool) -> Vec<u8> {
    let mut reply = Msg::response(true, id).field("Message", "Authentication accepted").finish();
    if events_on {
        reply.push_str(
            &Msg::event("FullyBooted")
                .field("Privilege", "system,all")
                .field("Uptime", 0)
                .field("LastReload", 0)
                .field("Status", "Fully Booted")
                .finish(),
        );
    }
    reply.into_bytes()
}

/// `Ping`'s answer with `stamp` (`<seconds>.<micros>`) as the peer's clock.
pub fn pong(id: Option<&str>, stamp: &str) -> Vec<u8> {
    Msg::response(true, id).field("Ping", "Pong").field("Timestamp", stamp).finish().into_bytes()
}

/// `Response: Error` with Asterisk's `Message`.
pub fn error(id: Option<&str>, message: &str) -> Vec<u8> {
    Msg::response(false, id).field("Message", message).finish().into_bytes()
}

/// Asterisk's answer to an action it does not know.
pub fn unknown_action(name: &str, id: Option<&str>) -> Reply {
    let message =
        format!("Invalid/unknown command: {name}. Use Action: ListCommands to show available commands.");
    Reply::Send(error(id, &message))
}

/// The recorded message with its `ActionID: from` line naming `to` instead (a recording answered the
/// recorder's ActionIDs; a replay answers the client's).
pub fn with_action_id(message: &[u8], from: &str, to: &str) -> Vec<u8> {
    let needle = format!("ActionID: {from}\r\n").into_bytes();
    match message.windows(needle.len()).position(|w| w == needle.as_slice()) {
        Some(at) => {
            [&message[..at], format!("ActionID: {to}\r\n").as_bytes(), &message[at + needle.len()..]].concat()
        }
        None => message.to_vec(),
    }
}

/// How the peer's bytes are cut into writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Writes {
    /// One write (flushed: TLS buffers records until then).
    #[default]
    Whole,
    /// Every byte its own flushed write, so the client meets a message split at every boundary.
    EveryByte,
}

/// Writes `bytes` to the client as `writes` says.
pub async fn write(
    socket: &mut (impl AsyncWrite + Unpin),
    bytes: &[u8],
    writes: Writes,
) -> std::io::Result<()> {
    match writes {
        Writes::Whole => socket.write_all(bytes).await?,
        Writes::EveryByte => {
            for byte in bytes {
                socket.write_all(std::slice::from_ref(byte)).await?;
                socket.flush().await?;
            }
        }
    }
    socket.flush().await
}

/// Lower-case hex MD5, as Asterisk compares login keys.
pub fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}
