//! A fake Asterisk manager endpoint: banner, Login (plain and MD5 challenge), Ping, QueueStatus, Events,
//! Logoff, and the simulation's events broadcast to every logged-in session.
//!
//! QueueStatus answers are consistent with the event stream: the simulation broadcasts while holding the
//! model lock, and a session takes the same lock to flush the events it has not written yet and render the
//! snapshot, so no event is ever written after a snapshot that already contains it.

use super::ami::{BANNER, Msg, queue_status};
use super::model::Model;
use futures::StreamExt;
use md5::{Digest, Md5};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_util::codec::{FramedRead, LinesCodec};
use tokio_util::sync::CancellationToken;

/// Longest action line accepted; Asterisk's own limit is about 1 KiB per header.
const MAX_LINE_BYTES: usize = 8192;

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

#[derive(Default)]
struct Session {
    logged_in: bool,
    events_on: bool,
    challenge: Option<String>,
    headers: Vec<(String, String)>,
    events: Option<broadcast::Receiver<Arc<str>>>,
}

/// What to do after answering an action.
enum After {
    Continue,
    Close,
}

async fn session(stream: TcpStream, shared: Arc<Shared>, cancel: CancellationToken) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = FramedRead::new(read, LinesCodec::new_with_max_length(MAX_LINE_BYTES));
    write.write_all(BANNER.as_bytes()).await?;
    let mut s = Session { events_on: true, ..Session::default() };
    loop {
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            line = lines.next() => {
                let line = match line {
                    None => return Ok(()),
                    Some(Ok(line)) => line,
                    Some(Err(err)) => return Err(std::io::Error::other(err.to_string())),
                };
                if !line.is_empty() {
                    if let Some((key, value)) = line.split_once(':') {
                        s.headers.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
                    }
                    continue;
                }
                if s.headers.is_empty() {
                    continue;
                }
                let (reply, after) = answer(&mut s, &shared);
                s.headers.clear();
                write.write_all(reply.as_bytes()).await?;
                if let After::Close = after {
                    return Ok(());
                }
            }
            event = next_event(&mut s.events) => match event {
                Ok(text) => if s.events_on { write.write_all(text.as_bytes()).await? },
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

fn header<'a>(s: &'a Session, key: &str) -> Option<&'a str> {
    s.headers.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn answer(s: &mut Session, shared: &Shared) -> (String, After) {
    let action = header(s, "action").unwrap_or_default().to_ascii_lowercase();
    let id = header(s, "actionid").map(str::to_owned);
    let id = id.as_deref();
    match action.as_str() {
        "login" => login(s, shared, id),
        "challenge" => {
            let challenge = format!("{}", rand::random_range(10_000_000u32..100_000_000));
            s.challenge = Some(challenge.clone());
            (Msg::response(true, id).field("Challenge", challenge).finish(), After::Continue)
        }
        "logoff" => (Msg::goodbye(id).field("Message", "Thanks for all the fish.").finish(), After::Close),
        _ if !s.logged_in => {
            (Msg::response(false, id).field("Message", "Permission denied").finish(), After::Continue)
        }
        "ping" => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            let stamp = format!("{}.{:06}", now.as_secs(), now.subsec_micros());
            (
                Msg::response(true, id).field("Ping", "Pong").field("Timestamp", stamp).finish(),
                After::Continue,
            )
        }
        "queuestatus" => (status(s, shared, id), After::Continue),
        "events" => {
            s.events_on = !header(s, "eventmask").is_some_and(|m| m.eq_ignore_ascii_case("off"));
            let shown = if s.events_on { "On" } else { "Off" };
            (Msg::response(true, id).field("Events", shown).finish(), After::Continue)
        }
        _ => {
            let name = header(s, "action").unwrap_or_default();
            let message = format!(
                "Invalid/unknown command: {name}. Use Action: ListCommands to show available commands."
            );
            (Msg::response(false, id).field("Message", message).finish(), After::Continue)
        }
    }
}

fn login(s: &mut Session, shared: &Shared, id: Option<&str>) -> (String, After) {
    let user_ok = header(s, "username") == Some(shared.username.as_str());
    let md5 = header(s, "authtype").is_some_and(|t| t.eq_ignore_ascii_case("md5"));
    let secret_ok = if md5 {
        let expected = s.challenge.as_ref().map(|c| md5_hex(&format!("{c}{}", shared.secret)));
        expected.is_some() && header(s, "key").map(str::to_ascii_lowercase) == expected
    } else {
        header(s, "secret") == Some(shared.secret.as_str())
    };
    if !(user_ok && secret_ok) {
        // Asterisk closes the socket after a failed login.
        return (Msg::response(false, id).field("Message", "Authentication failed").finish(), After::Close);
    }
    s.logged_in = true;
    s.events_on = !header(s, "events").is_some_and(|e| e.eq_ignore_ascii_case("off"));
    s.events = Some(shared.events.subscribe());
    let mut reply = Msg::response(true, id).field("Message", "Authentication accepted").finish();
    if s.events_on {
        reply.push_str(
            &Msg::event("FullyBooted")
                .field("Privilege", "system,all")
                .field("Uptime", 0)
                .field("LastReload", 0)
                .field("Status", "Fully Booted")
                .finish(),
        );
    }
    (reply, After::Continue)
}

/// Events already broadcast but not yet written go out first, then the snapshot, all under the model lock.
fn status(s: &mut Session, shared: &Shared, id: Option<&str>) -> String {
    let model = shared.model();
    let mut out = String::new();
    if let Some(rx) = s.events.as_mut() {
        while let Ok(text) = rx.try_recv() {
            if s.events_on {
                out.push_str(&text);
            }
        }
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    out.push_str(&queue_status(&model.queues(), id, header(s, "queue"), header(s, "member"), now_ms));
    out
}

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}
