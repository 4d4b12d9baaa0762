//! Actions that other tasks (the command task) ask the AMI session to send, and Asterisk's answers.
//!
//! The session owns the socket, so requests reach it through a bounded channel and are selected in its event
//! loop; each carries a oneshot for the answer, which is matched by ActionID (events may arrive in between).
//! The channel outlives sessions: while AMI is down a request is refused at once, never queued for a
//! connection that may not come back within the command's freshness.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Asterisk answers member actions within milliseconds (they take the queue lock only); 5 s means the
/// connection is wedged, which the ping timeout then finds too.
pub const ANSWER_TIMEOUT_MS: u64 = 5_000;
/// Requests waiting for the session; commands are human-rate, so a full channel means AMI is stuck.
const REQUEST_DEPTH: usize = 16;
/// Actions sent and not yet answered on one connection; beyond it the session stops taking requests until
/// answers come back (back-pressure instead of an unbounded map).
pub(super) const MAX_IN_FLIGHT: usize = 32;
/// What Asterisk answers when the manager.conf user lacks the `write` class an action needs.
const PERMISSION_DENIED: &str = "Permission denied";

/// One action to send: name and fields (the session adds the ActionID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRequest {
    pub name: &'static str,
    pub fields: Vec<(&'static str, String)>,
}

/// Why an action did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// No AMI session now; nothing was sent.
    #[error("AMI is not connected{}", if .0.is_empty() { String::new() } else { format!(" ({})", .0) })]
    Unavailable(String),
    /// The AMI user may not send it.
    #[error(
        "Asterisk refused {action}: Permission denied — the AMI user needs `write = agent` in manager.conf"
    )]
    PermissionDenied { action: &'static str },
    /// `Response: Error`, with Asterisk's `Message:`.
    #[error("Asterisk refused {action}: {message}")]
    Refused { action: &'static str, message: String },
    #[error("Asterisk did not answer {action} within {ANSWER_TIMEOUT_MS} ms")]
    NoAnswer { action: &'static str },
    /// Sent, then the connection ended: Asterisk may or may not have executed it.
    #[error("the AMI connection ended before Asterisk answered {action} (it may have been executed)")]
    Lost { action: &'static str },
    #[error("cancelled")]
    Cancelled,
}

/// `Response: Success` → its `Message:`; `Error` → [`ActionError`].
pub type ActionReply = Result<String, ActionError>;

pub(super) struct Pending {
    pub request: ActionRequest,
    pub reply: oneshot::Sender<ActionReply>,
}

/// The sending side, shared by the command task; cheap to clone. One per daemon: each AMI client task
/// [`opens`](ActionPort::open) it for its life.
#[derive(Clone, Default)]
pub struct ActionPort {
    inner: Arc<PortInner>,
}

#[derive(Default)]
struct PortInner {
    tx: Mutex<Option<mpsc::Sender<Pending>>>,
    /// Number of the newest [`Requests`] (one per AMI client task).
    newest: AtomicU64,
    /// Number of the [`Requests`] whose session is logged in and takes requests; 0 = none. An older
    /// client task ending after a reload cannot mark the new one down.
    up: AtomicU64,
}

impl ActionPort {
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh request channel for an AMI client task; the previous task's channel (a reload) is replaced.
    pub(super) fn open(&self) -> Requests {
        let (tx, rx) = mpsc::channel(REQUEST_DEPTH);
        *self.inner.tx.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        let id = self.inner.newest.fetch_add(1, Ordering::AcqRel) + 1;
        self.inner.up.store(0, Ordering::Release);
        Requests { rx, port: self.clone(), id }
    }

    pub fn is_up(&self) -> bool {
        let up = self.inner.up.load(Ordering::Acquire);
        up != 0 && up == self.inner.newest.load(Ordering::Acquire)
    }

    /// Sends `request` through the current session and waits for Asterisk's answer.
    pub async fn execute(&self, request: ActionRequest, cancel: &CancellationToken) -> ActionReply {
        let action = request.name;
        let tx = self.inner.tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(tx) = tx.filter(|_| self.is_up()) else {
            return Err(ActionError::Unavailable(String::new()));
        };
        let (reply, answer) = oneshot::channel();
        if tx.try_send(Pending { request, reply }).is_err() {
            return Err(ActionError::Unavailable("too many actions waiting".into()));
        }
        // The session times the answer out itself; this bound only covers a session that vanished.
        let bound = Duration::from_millis(ANSWER_TIMEOUT_MS * 2);
        tokio::select! {
            () = cancel.cancelled() => Err(ActionError::Cancelled),
            answer = tokio::time::timeout(bound, answer) => match answer {
                Ok(Ok(reply)) => reply,
                Ok(Err(_)) => Err(ActionError::Lost { action }),
                Err(_) => Err(ActionError::NoAnswer { action }),
            },
        }
    }
}

/// The receiving side, owned by one AMI client task across its reconnects.
pub(super) struct Requests {
    rx: mpsc::Receiver<Pending>,
    port: ActionPort,
    id: u64,
}

impl Requests {
    pub(super) fn set_up(&self, up: bool) {
        let flag = &self.port.inner.up;
        if up {
            flag.store(self.id, Ordering::Release);
        } else {
            let _ = flag.compare_exchange(self.id, 0, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    pub(super) async fn recv(&mut self) -> Option<Pending> {
        self.rx.recv().await
    }

    /// Refuses what arrived while no session could take it.
    pub(super) fn refuse_waiting(&mut self) {
        while let Ok(pending) = self.rx.try_recv() {
            let _ = pending.reply.send(Err(ActionError::Unavailable(String::new())));
        }
    }
}

impl Drop for Requests {
    fn drop(&mut self) {
        self.set_up(false);
    }
}

/// Actions sent on one connection, by ActionID, with their answer deadline.
#[derive(Default)]
pub(super) struct InFlight {
    waiting: HashMap<String, (Instant, &'static str, oneshot::Sender<ActionReply>)>,
}

impl InFlight {
    pub(super) fn len(&self) -> usize {
        self.waiting.len()
    }

    pub(super) fn insert(
        &mut self,
        action_id: String,
        name: &'static str,
        reply: oneshot::Sender<ActionReply>,
    ) {
        let due = Instant::now() + Duration::from_millis(ANSWER_TIMEOUT_MS);
        self.waiting.insert(action_id, (due, name, reply));
    }

    pub(super) fn next_due(&self) -> Option<Instant> {
        self.waiting.values().map(|(due, _, _)| *due).min()
    }

    /// Answers the action `action_id` names, if it is one of these; true when it was.
    pub(super) fn answer(&mut self, action_id: &str, success: bool, message: &str) -> bool {
        let Some((_, name, reply)) = self.waiting.remove(action_id) else {
            return false;
        };
        let _ = reply.send(interpret(name, success, message));
        true
    }

    /// Gives up on the actions whose answer is overdue.
    pub(super) fn expire(&mut self, now: Instant) {
        let overdue: Vec<String> =
            self.waiting.iter().filter(|(_, (due, _, _))| *due <= now).map(|(id, _)| id.clone()).collect();
        for id in overdue {
            if let Some((_, name, reply)) = self.waiting.remove(&id) {
                let _ = reply.send(Err(ActionError::NoAnswer { action: name }));
            }
        }
    }
}

/// Asterisk's answer as the caller sees it. `Permission denied` gets its own error because its fix is in
/// manager.conf, not in the command.
pub fn interpret(action: &'static str, success: bool, message: &str) -> ActionReply {
    if success {
        Ok(message.to_owned())
    } else if message.trim().eq_ignore_ascii_case(PERMISSION_DENIED) {
        Err(ActionError::PermissionDenied { action })
    } else {
        Err(ActionError::Refused { action, message: message.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_typed_errors() {
        assert_eq!(
            interpret("QueuePause", true, "Interface paused successfully"),
            Ok("Interface paused successfully".into())
        );
        let denied = interpret("QueueAdd", false, "Permission denied").unwrap_err();
        assert!(denied.to_string().contains("write = agent"), "{denied}");
        assert_eq!(
            interpret("QueueRemove", false, "Unable to remove interface: Not there"),
            Err(ActionError::Refused {
                action: "QueueRemove",
                message: "Unable to remove interface: Not there".into()
            })
        );
    }

    #[tokio::test]
    async fn refused_at_once_while_no_session_is_up() {
        let port = ActionPort::new();
        let cancel = CancellationToken::new();
        let req = ActionRequest { name: "QueuePause", fields: vec![] };
        assert!(matches!(port.execute(req.clone(), &cancel).await, Err(ActionError::Unavailable(_))));
        let requests = port.open();
        assert!(
            matches!(port.execute(req.clone(), &cancel).await, Err(ActionError::Unavailable(_))),
            "not logged in"
        );
        requests.set_up(true);
        drop(requests);
        assert!(!port.is_up());
        assert!(matches!(port.execute(req, &cancel).await, Err(ActionError::Unavailable(_))));
    }
}
