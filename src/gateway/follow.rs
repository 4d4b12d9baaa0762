//! The gap-free protocol done on the server for one client (DESIGN.md "Gateway"), whatever the transport:
//! a snapshot first (or, when resuming, the stream entries after `since`), then every message in scope in
//! `seq` order; a new snapshot whenever the follow cannot stay gap-free (new epoch, `resync`, a gap, the
//! client fell off the hub's ring, an entity entered or left a filtered view).
//!
//! Receiving ([`Follower::recv`], cancel-safe, for `select!`) and handling ([`Follower::handle`], which may
//! read a snapshot) are separate, so a ping firing in between never loses a message half-handled.

use super::hub::{Hub, HubEvent, Wire};
use super::scope::{Names, Scope};
use super::view;
use super::{GatewayError, PING_INTERVAL_MS, SEND_TIMEOUT_MS};
use crate::sink::reader::StateView;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

/// A resume whose backlog is longer than this gets a snapshot instead (cheaper to send, same result).
const RESUME_MAX_MESSAGES: usize = 10_000;

/// One frame to send: the JSON text and its SSE id (`EPOCH:SEQ`).
#[derive(Debug, Clone)]
pub struct Frame {
    pub json: Arc<str>,
    pub id: String,
}

/// Where a client says it stopped: the last `epoch` and `seq` it applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    pub epoch: String,
    pub since: u64,
}

impl Resume {
    /// `EPOCH:SEQ` (SSE `Last-Event-ID`).
    pub fn parse_event_id(text: &str) -> Option<Self> {
        let (epoch, seq) = text.rsplit_once(':')?;
        Some(Self { epoch: epoch.to_owned(), since: seq.parse().ok()? })
    }
}

pub struct Follower {
    hub: Arc<Hub>,
    rx: broadcast::Receiver<HubEvent>,
    scope: Scope,
    pbx: String,
    epoch: String,
    /// Last message handled (sent or filtered out).
    seq: u64,
    /// Epochs left behind: their messages still in the ring are stale, not a reason to re-snapshot.
    old_epochs: Vec<String>,
    /// Agents the client has (filtered views only; an open view has all).
    known: Names,
    /// Memberships of the agents the scope names, which decide the visible queues.
    tracked: BTreeMap<String, Names>,
}

impl Follower {
    /// Subscribes first, then snapshots or reads the backlog, so nothing falls between the two.
    pub async fn start(
        hub: Arc<Hub>,
        scope: Scope,
        resume: Option<Resume>,
    ) -> Result<(Self, Vec<Frame>), GatewayError> {
        let rx = hub.subscribe();
        let pbx = hub.keys.pbx().to_owned();
        let mut follower = Self {
            hub,
            rx,
            scope,
            pbx,
            epoch: String::new(),
            seq: 0,
            old_epochs: Vec::new(),
            known: Names::new(),
            tracked: BTreeMap::new(),
        };
        let frames = match resume {
            Some(resume) => follower.resume(resume).await?,
            None => vec![follower.snapshot(0, "start").await?],
        };
        Ok((follower, frames))
    }

    /// The next hub event (cancel-safe).
    pub async fn recv(&mut self) -> Result<HubEvent, RecvError> {
        self.rx.recv().await
    }

    /// The frames one received event gives (none when it is out of scope or already sent).
    pub async fn handle(&mut self, event: Result<HubEvent, RecvError>) -> Result<Vec<Frame>, GatewayError> {
        match event {
            Ok(HubEvent::Message(wire)) => self.message(&wire).await,
            Ok(HubEvent::Reset) => Ok(vec![self.snapshot(0, "reset").await?]),
            Err(RecvError::Lagged(_)) => {
                metrics::counter!("queuecast_gateway_lagged_total").increment(1);
                // Messages the ring dropped are in the stream; the snapshot covers them.
                Ok(vec![self.snapshot(0, "lagged").await?])
            }
            Err(RecvError::Closed) => Err(GatewayError::HubClosed),
        }
    }

    /// `{"type":"ping","ts","seq","epoch"}`: server time for timers, and the position a filtered client
    /// resumes from (its own last message may be far behind).
    pub fn ping(&self, now_ms: i64) -> Frame {
        let json = json!({"type": "ping", "ts": now_ms, "seq": self.seq, "epoch": self.epoch}).to_string();
        Frame { json: json.into(), id: self.event_id() }
    }

    fn event_id(&self) -> String {
        format!("{}:{}", self.epoch, self.seq)
    }

    async fn resume(&mut self, resume: Resume) -> Result<Vec<Frame>, GatewayError> {
        let backlog = self.hub.read_after(resume.since, RESUME_MAX_MESSAGES + 1).await?;
        let contiguous = backlog.first().is_none_or(|first| first.seq == resume.since + 1);
        let current = self.hub.snapshot(0).await?;
        // Nothing after `since` is only a resume when `since` is the present, in the same epoch.
        let present = !backlog.is_empty() || (current.seq == resume.since && current.epoch == resume.epoch);
        if !contiguous || !present || backlog.len() > RESUME_MAX_MESSAGES {
            return Ok(vec![self.snapshot(0, "resume impossible").await?]);
        }
        self.baseline(&current);
        self.epoch = resume.epoch;
        self.seq = resume.since;
        let mut frames = Vec::new();
        // A snapshot on the way (a resync in the backlog) moves `seq` past the entries that follow it.
        for wire in backlog {
            frames.extend(self.message(&wire).await?);
        }
        metrics::counter!("queuecast_gateway_resumes_total").increment(1);
        Ok(frames)
    }

    async fn message(&mut self, wire: &Wire) -> Result<Vec<Frame>, GatewayError> {
        if wire.epoch != self.epoch {
            if self.old_epochs.contains(&wire.epoch) {
                return Ok(Vec::new());
            }
            return Ok(vec![self.snapshot(wire.seq, "new epoch").await?]);
        }
        if wire.seq <= self.seq {
            return Ok(Vec::new());
        }
        if wire.seq != self.seq + 1 {
            return Ok(vec![self.snapshot(wire.seq, "gap").await?]);
        }
        if wire.kind == "resync" {
            return Ok(vec![self.snapshot(wire.seq, "resync").await?]);
        }
        self.seq = wire.seq;
        match self.visible(wire) {
            Visible::Yes => Ok(vec![Frame { json: wire.json.as_str().into(), id: self.event_id() }]),
            Visible::No => Ok(Vec::new()),
            Visible::ScopeChanged => Ok(vec![self.snapshot(wire.seq, "scope changed").await?]),
        }
    }

    fn visible(&mut self, wire: &Wire) -> Visible {
        let open = self.scope.is_open();
        match wire.kind.as_str() {
            _ if open => Visible::Yes,
            "agent_update" => {
                if let Some(had) = self.tracked.get(&wire.id) {
                    let now: Names = view::agent_queues(&wire.data).map(str::to_owned).collect();
                    if *had != now {
                        return Visible::ScopeChanged;
                    }
                }
                let visible = self.scope.agent_visible(&wire.id, &wire.data);
                match (visible, self.known.contains(&wire.id)) {
                    (true, _) => {
                        self.known.insert(wire.id.clone());
                        Visible::Yes
                    }
                    (false, true) => Visible::ScopeChanged,
                    (false, false) => Visible::No,
                }
            }
            "agent_removed" if self.tracked.contains_key(&wire.id) => Visible::ScopeChanged,
            // An agent event follows its agent's `agent_update` (the engine emits the state change first):
            // visible exactly when that agent is, and it must not make the follower forget the agent.
            "agent_event" => yes_if(self.known.contains(&wire.id)),
            // Removing an agent the client may not have is harmless; the id alone says nothing of its queues.
            "agent_removed" => {
                if self.known.remove(&wire.id) {
                    Visible::Yes
                } else {
                    Visible::No
                }
            }
            "queue_update" => yes_if(self.scope.queue_visible(&wire.id, &self.agent_queues())),
            "call_update" => yes_if(self.scope.call_visible(&wire.data, &self.agent_queues())),
            _ => Visible::No,
        }
    }

    fn agent_queues(&self) -> Names {
        self.tracked.values().flatten().cloned().collect()
    }

    /// Which agents the client has and the memberships of the tracked ones, as of `view`.
    fn baseline(&mut self, view: &StateView) {
        self.known.clear();
        self.tracked.clear();
        let tracked = self.scope.tracked_agents();
        for (id, hash) in &view.agents {
            let fields = view::hash_to_json(hash);
            if tracked.contains(id) {
                self.tracked.insert(id.clone(), view::agent_queues(&fields).map(str::to_owned).collect());
            }
            if self.scope.agent_visible(id, &fields) {
                self.known.insert(id.clone());
            }
        }
        for id in tracked {
            self.tracked.entry(id).or_default();
        }
    }

    /// A snapshot at least at `min_seq`, filtered to the scope; the follow continues from its `seq`.
    async fn snapshot(&mut self, min_seq: u64, reason: &'static str) -> Result<Frame, GatewayError> {
        let view = self.hub.snapshot(min_seq).await?;
        metrics::counter!("queuecast_gateway_snapshots_total", "reason" => reason).increment(1);
        if !self.epoch.is_empty() && self.epoch != view.epoch && !self.old_epochs.contains(&self.epoch) {
            self.old_epochs.push(std::mem::take(&mut self.epoch));
        }
        self.baseline(&view);
        self.epoch = view.epoch.clone();
        self.seq = view.seq;
        let body = filtered_state(&view, &self.scope, &self.pbx, crate::sink::now_ms());
        let mut object = Map::new();
        object.insert("type".into(), "snapshot".into());
        if let Value::Object(fields) = body {
            object.extend(fields);
        }
        Ok(Frame { json: Value::Object(object).to_string().into(), id: self.event_id() })
    }
}

/// How a client's follow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowEnd {
    /// The gateway stops, the client left, or the follow failed (logged): the transport may say goodbye.
    Stopped,
    /// A frame could not be sent, or was stuck for [`SEND_TIMEOUT_MS`]: nothing more is sent.
    SendFailed,
}

/// Where a follow's frames go: the SSE body's channel or a WebSocket.
pub trait FrameSink {
    /// Hands over one frame; false when the client is gone.
    fn send_frame(&mut self, frame: Frame) -> impl Future<Output = bool> + Send;
}

impl Follower {
    /// The follow both transports run: `first`, then what the hub releases and a `ping` every
    /// [`PING_INTERVAL_MS`], until the gateway stops (`cancel`), `client_gone` completes or a send fails.
    /// `transport` names it in logs.
    pub async fn run(
        mut self,
        first: Vec<Frame>,
        cancel: &CancellationToken,
        transport: &'static str,
        client_gone: impl Future<Output = ()>,
        sink: &mut (impl FrameSink + Send),
    ) -> FollowEnd {
        if !send_all(sink, first).await {
            return FollowEnd::SendFailed;
        }
        let mut ping = tokio::time::interval(Duration::from_millis(PING_INTERVAL_MS));
        ping.reset();
        let mut client_gone = std::pin::pin!(client_gone);
        loop {
            let frames = tokio::select! {
                _ = cancel.cancelled() => return FollowEnd::Stopped,
                () = &mut client_gone => return FollowEnd::Stopped,
                event = self.recv() => match self.handle(event).await {
                    Ok(frames) => frames,
                    Err(err) => {
                        tracing::warn!(error = %err, "{transport} follow stopped");
                        return FollowEnd::Stopped;
                    }
                },
                _ = ping.tick() => vec![self.ping(crate::sink::now_ms())],
            };
            if !send_all(sink, frames).await {
                return FollowEnd::SendFailed;
            }
        }
    }
}

/// Each frame must be taken within [`SEND_TIMEOUT_MS`]: a client that stopped reading is let go.
async fn send_all(sink: &mut impl FrameSink, frames: Vec<Frame>) -> bool {
    let send_timeout = Duration::from_millis(SEND_TIMEOUT_MS);
    for frame in frames {
        if !tokio::time::timeout(send_timeout, sink.send_frame(frame)).await.unwrap_or(false) {
            return false;
        }
    }
    true
}

enum Visible {
    Yes,
    No,
    /// An entity entered or left a filtered view in a way a single message cannot say: send a snapshot.
    ScopeChanged,
}

fn yes_if(visible: bool) -> Visible {
    if visible { Visible::Yes } else { Visible::No }
}

/// `{pbx, seq, epoch, ts, agents, queues}` with only what `scope` shows.
pub fn filtered_state(view: &StateView, scope: &Scope, pbx: &str, ts: i64) -> Value {
    let mut agents = Map::new();
    let mut agent_queues = Names::new();
    let tracked = scope.tracked_agents();
    for (id, hash) in &view.agents {
        let fields = view::hash_to_json(hash);
        if tracked.contains(id) {
            agent_queues.extend(view::agent_queues(&fields).map(str::to_owned));
        }
        if scope.agent_visible(id, &fields) {
            agents.insert(id.clone(), Value::Object(fields));
        }
    }
    let queues: Map<String, Value> = view
        .queues
        .iter()
        .filter(|(name, _)| scope.queue_visible(name, &agent_queues))
        .map(|(name, hash)| (name.clone(), Value::Object(view::queue_json(hash, view.waiting.get(name)))))
        .collect();
    view::state_json(view, pbx, ts, agents, queues)
}
