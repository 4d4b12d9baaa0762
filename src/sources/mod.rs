//! The edges that read Asterisk: the queue_log tail, the AMI client and the astdb reader. They translate what they read into
//! `engine::Event`s (through `crate::normalize`) and send them, with their own health, to the engine task.

use crate::engine::Event;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Why a source stopped sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    Cancelled,
    /// The engine task dropped its receiver.
    EngineGone,
}

/// Sends `msg` to the engine task, waiting for room (back-pressure) unless cancelled first.
pub async fn send(
    tx: &mpsc::Sender<SourceMsg>,
    cancel: &CancellationToken,
    msg: SourceMsg,
) -> Result<(), Stopped> {
    tokio::select! {
        _ = cancel.cancelled() => Err(Stopped::Cancelled),
        sent = tx.send(msg) => sent.map_err(|_| Stopped::EngineGone),
    }
}

/// What a source tells the engine task.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceMsg {
    /// Events in the order they were read.
    Events(Vec<Event>),
    /// The start-up replay of queue_log is complete: publish one `resync` instead of the replayed deltas.
    ReplayDone,
    QueueLog(QueueLogHealth),
    Ami(AmiHealth),
}

/// `meta.queue_log` (the sink writes it as the source said it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueLogHealth {
    /// The start-up replay is running: the state is not complete yet.
    Replaying,
    Following,
    Missing,
    #[default]
    Off,
}

/// `meta.ami` (the sink writes it as the source said it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AmiHealth {
    Connected,
    Disconnected,
    #[default]
    Off,
}

impl QueueLogHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replaying => "replaying",
            Self::Following => "following",
            Self::Missing => "missing",
            Self::Off => "off",
        }
    }
}

impl AmiHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
            Self::Off => "off",
        }
    }
}

pub mod ami;
pub mod astdb;
pub mod queues_conf;
pub mod tail;
