//! One generation of state: an engine, the sources feeding it, and their channel. A reload that changes the
//! sources or the engine settings ends the generation and starts a new one, so events of the old sources can
//! never reach the new engine.

use super::pbx_files::{self, EngineSetup};
use super::publisher::{Milestone, Publisher, Stats};
use crate::config::Config;
use crate::engine::Engine;
use crate::normalize::ami::AmiNormalizer;
use crate::normalize::static_members::{StaticMember, static_member_events};
use crate::sink::{Health, SinkHandle, now_ms};
use crate::sources::tail::ReplayMode;
use crate::sources::{AmiHealth, QueueLogHealth, SourceMsg};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Source → engine channel depth, in batches. Sources wait when it is full, which is the back-pressure we
/// want: the file stays on disk and AMI stays in the socket buffer. The tail cuts its batches at
/// `MAX_EVENTS_PER_BATCH` events, so at most this × that many decoded queue_log events (16 Ki, a few MiB)
/// wait here; an AMI batch is one socket read's worth.
const SOURCE_CHANNEL_DEPTH: usize = 16;

pub struct Generation {
    pub publisher: Publisher,
    pub rx: mpsc::Receiver<SourceMsg>,
    /// Kept until AMI is started, so that it can be given a sender; dropped afterwards so that `rx` ends
    /// when every source has ended.
    tx: Option<mpsc::Sender<SourceMsg>>,
    cancel: CancellationToken,
    /// queues.conf static members, applied before the first event (as `replay` does) so both build the
    /// same state.
    statics: Option<Vec<StaticMember>>,
    /// True when there is no queue_log to replay: the caller publishes at once.
    pub replay_skipped: bool,
}

impl Generation {
    pub fn start(config: &Config, sink: SinkHandle, root: &CancellationToken, tracker: &TaskTracker) -> Self {
        let EngineSetup { pbx, static_members, persistent } = pbx_files::engine_setup(config);
        let tail = tail_mode(config);
        let health = Health {
            ami: if config.ami.enabled { AmiHealth::Disconnected } else { AmiHealth::Off },
            queue_log: if tail.is_some() { QueueLogHealth::Replaying } else { QueueLogHealth::Off },
        };
        let (tx, rx) = mpsc::channel(SOURCE_CHANNEL_DEPTH);
        let cancel = root.child_token();
        let replay_skipped = tail.is_none();
        if let Some(mode) = tail {
            let section = config.queue_log.clone();
            crate::sources::tail::spawn(section, mode, &pbx, tx.clone(), cancel.clone(), tracker);
        }
        // With AMI, names arrive with every member event; without it, astdb is the place Asterisk says them.
        if !config.ami.enabled {
            let path = config.engine.astdb.clone();
            crate::sources::astdb::spawn(path, &persistent, tx.clone(), cancel.clone(), tracker);
        }
        let publisher = Publisher::new(Engine::new(pbx), sink, health);
        let statics = (!static_members.is_empty()).then_some(static_members);
        Self { publisher, rx, tx: Some(tx), cancel, statics, replay_skipped }
    }

    pub fn handle(&mut self, msg: SourceMsg) -> Option<Milestone> {
        match msg {
            SourceMsg::Events(events) => {
                let events = match (self.statics.take(), events.first()) {
                    // Timeless events (astdb names) do not place the start: the first feed event does.
                    (Some(statics), Some(first)) if first.source != crate::engine::Source::Clock => {
                        let mut all = static_member_events(&statics, first.ts_ms);
                        all.extend(events);
                        all
                    }
                    (statics, _) => {
                        self.statics = statics;
                        events
                    }
                };
                self.publisher.handle(SourceMsg::Events(events))
            }
            SourceMsg::ReplayDone => {
                self.apply_pending_statics();
                self.publisher.handle(SourceMsg::ReplayDone)
            }
            other => self.publisher.handle(other),
        }
    }

    /// No queue_log to replay: the (empty or static-only) state is published at once.
    pub fn publish_initial(&mut self) {
        self.apply_pending_statics();
        self.publisher.resync();
    }

    fn apply_pending_statics(&mut self) {
        if let Some(statics) = self.statics.take() {
            let events = static_member_events(&statics, now_ms());
            self.publisher.handle(SourceMsg::Events(events));
        }
    }

    /// Connects AMI (after the replay, see the module doc of `daemon`).
    pub fn start_ami(
        &mut self,
        config: &Config,
        port: &crate::sources::ami::ActionPort,
        tracker: &TaskTracker,
    ) {
        let Some(tx) = self.tx.take() else { return };
        if config.ami.enabled {
            crate::sources::ami::spawn(
                config.ami.clone(),
                AmiNormalizer::new(),
                tx,
                port,
                self.cancel.clone(),
                tracker,
            );
        }
    }

    /// Answers the command task from the current state (lookups), or applies its `CommandSent` event.
    pub fn answer(&mut self, ask: crate::commands::EngineAsk) {
        use crate::commands::EngineAsk;
        match ask {
            EngineAsk::Target { agent, reply } => {
                let _ = reply.send(self.publisher.engine().agent_target(&agent));
            }
            EngineAsk::Expect { event, done } => {
                self.publisher.handle(SourceMsg::Events(vec![event]));
                let _ = done.send(());
            }
        }
    }

    pub fn sources_gone(&mut self) {
        // Nothing more will arrive on this channel; replace it with one that never yields so the select
        // loop does not spin on a closed receiver.
        let (tx, rx) = mpsc::channel(1);
        self.rx = rx;
        self.tx.get_or_insert(tx);
    }

    /// One line for `systemctl status`.
    pub fn summary(&self) -> String {
        let engine: &Engine = self.publisher.engine();
        let (agents, queues, calls) = engine.counts();
        let (mut talking, mut waiting) = (0, 0);
        for queue in engine.queue_views() {
            talking += queue.agents_talking;
            waiting += queue.calls_waiting;
        }
        let stats = self.publisher.stats();
        format!(
            "{} agents, {} queues, {} calls ({} waiting, {} talking); {} events, {} updates",
            agents, queues, calls, waiting, talking, stats.events, stats.updates
        )
    }

    /// Ends the sources and applies what they had already sent, so nothing read is dropped on a stop.
    pub fn finish(mut self) -> Stats {
        self.cancel.cancel();
        self.tx = None;
        while let Ok(msg) = self.rx.try_recv() {
            self.handle(msg);
        }
        self.publisher.flush_queues();
        self.publisher.stats()
    }

    /// Ends the sources without keeping anything (a reload rebuilds from scratch).
    pub fn stop(self) {
        self.cancel.cancel();
    }
}

/// The replay mode of the queue_log tail, or none when `[queue_log]` is off.
fn tail_mode(config: &Config) -> Option<ReplayMode> {
    // With AMI, membership and pause come from QueueStatus: today's lines suffice for the counters.
    config.queue_log.enabled.then_some(if config.ami.enabled { ReplayMode::Today } else { ReplayMode::Whole })
}
