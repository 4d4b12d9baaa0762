//! The simulation's Asterisk manager endpoint: the shared [`Peer`] (login, Ping, Events, Logoff) with the
//! model's QueueStatus, and the simulation's events broadcast to every logged-in session.
//!
//! QueueStatus answers are consistent with the event stream: the simulation broadcasts while holding the
//! model lock, and a session takes the same lock to flush the events it has not written yet and render the
//! snapshot, so no event is ever written after a snapshot that already contains it.

use super::ami::{BANNER, Msg, queue_status};
use super::ami_peer::{self, Answers, ChallengeText, Credentials, Peer, Reply};
use super::model::Model;
use parsers::ami::Message;
use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Bytes read from a client at a time; actions are a few hundred bytes, and the decoder's own limit
/// bounds what one action may grow to.
const READ_CHUNK_BYTES: usize = 4096;

/// State shared by the simulation loop and the AMI sessions.
pub struct Shared {
    pub model: Mutex<Model>,
    pub events: broadcast::Sender<Arc<str>>,
    pub username: String,
    pub secret: String,
}

impl Shared {
    fn model(&self) -> std::sync::MutexGuard<'_, Model> {
        // A panic while holding the lock cannot leave the model half-updated in a way that matters for a demo.
        self.model.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Accepts AMI sessions until cancelled.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::info!(%peer, "AMI session opened");
                    let (shared, cancel) = (shared.clone(), cancel.clone());
                    tokio::spawn(async move {
                        if let Err(err) = session(stream, shared, cancel).await {
                            tracing::info!(%peer, error = %err, "AMI session ended");
                        }
                    });
                }
                Err(err) => {
                    tracing::warn!(error = %err, "AMI accept failed");
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                    }
                }
            },
        }
    }
}

/// One session's answers: the model's QueueStatus, with the broadcast it follows.
struct SessionAnswers<'a> {
    shared: &'a Shared,
    events: Option<broadcast::Receiver<Arc<str>>>,
}

impl Answers for SessionAnswers<'_> {
    fn login_accepted(&mut self, id: Option<&str>, events_on: bool) -> Vec<u8> {
        self.events = Some(self.shared.events.subscribe());
        ami_peer::login_accepted(id, events_on)
    }

    fn action(&mut self, action: &Message<'_>, name: &str, events_on: bool) -> Reply {
        if name.eq_ignore_ascii_case("QueueStatus") {
            let queue = action.get("Queue");
            let member = action.get("Member");
            let id = action.action_id();
            Reply::Status(
                self.status(id.as_deref(), queue.as_deref(), member.as_deref(), events_on).into_bytes(),
            )
        } else if let Some(answer) =
            self.shared.model().member_action(name, |h| action.get(h).map(Cow::into_owned), super::now_ms())
        {
            // The member events follow with the next step of the simulation, as Asterisk raises them
            // through stasis after the action has been answered.
            let (ok, message) = answer.response();
            Reply::Send(
                Msg::response(ok, action.action_id().as_deref())
                    .field("Message", message)
                    .finish()
                    .into_bytes(),
            )
        } else {
            ami_peer::unknown_action(name, action.action_id().as_deref())
        }
    }
}

async fn session(stream: TcpStream, shared: Arc<Shared>, cancel: CancellationToken) -> std::io::Result<()> {
    let (mut read, mut write) = stream.into_split();
    write.write_all(BANNER.as_bytes()).await?;
    let credentials = Credentials { username: shared.username.clone(), secret: shared.secret.clone() };
    let mut peer = Peer::new(credentials, ChallengeText::Random);
    let mut answers = SessionAnswers { shared: &shared, events: None };
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    loop {
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            read = read.read(&mut chunk) => {
                let n = read?;
                if n == 0 {
                    return Ok(());
                }
                peer.push(&chunk[..n]);
                while let Some(reply) = peer.next_reply(&mut answers).map_err(std::io::Error::other)? {
                    match reply {
                        Reply::Send(bytes) | Reply::Status(bytes) => write.write_all(&bytes).await?,
                        Reply::Close(bytes) => {
                            write.write_all(&bytes).await?;
                            return Ok(());
                        }
                    }
                }
            }
            event = next_event(&mut answers.events) => match event {
                Ok(text) => if peer.events_on() { write.write_all(text.as_bytes()).await? },
                // A session too slow to keep up is dropped: its client reconnects and resyncs with
                // QueueStatus, which is what it must do after missing events anyway.
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    return Err(std::io::Error::other(format!("client lagged {n} events behind")));
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
        }
    }
}

async fn next_event(
    rx: &mut Option<broadcast::Receiver<Arc<str>>>,
) -> Result<Arc<str>, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl SessionAnswers<'_> {
    /// Events already broadcast but not yet written go out first, then the snapshot, all under the model
    /// lock.
    fn status(
        &mut self,
        id: Option<&str>,
        queue: Option<&str>,
        member: Option<&str>,
        events_on: bool,
    ) -> String {
        let model = self.shared.model();
        let mut out = String::new();
        if let Some(rx) = self.events.as_mut() {
            while let Ok(text) = rx.try_recv() {
                if events_on {
                    out.push_str(&text);
                }
            }
        }
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        out.push_str(&queue_status(&model.queues(), id, queue, member, now_ms));
        out
    }
}
