//! One command entry from reading to answer: decode, claim its id, check `[actions]`, look the agent up in
//! the engine, execute on AMI, answer (results stream, `command_result` message, audit line).

use super::entries::Entry;
use super::execute::plan;
use super::policy::{Policy, Refusal, needs_agent_queues};
use super::store::{Claim, Store};
use super::wire::{Code, Command, CommandResult, Malformed};
use crate::engine::{AgentEventKind, AgentTarget, Event, EventKind, Source, looks_like_interface};
use crate::sink::{RedisConn, SinkError, SinkHandle, SinkMsg, Update, now_ms};
use crate::sources::ami::{ActionError, ActionPort};
use serde_json::Value;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// How long the engine may take to answer a lookup. The engine task answers between batches; only a
/// start-up replay keeps it busy longer, and a command then is better refused than left waiting.
const ENGINE_ANSWER_MS: u64 = 2_000;
/// Results kept in memory while Redis cannot take them (each is written on reconnect, before anything new
/// is read). Commands are human-rate; past this, older answers are dropped and their entries are answered
/// as interrupted after the outage.
const MAX_UNSENT: usize = 1_000;

/// What the command task asks of the engine task (the engine stays pure; the daemon's loop answers).
#[derive(Debug)]
pub enum EngineAsk {
    /// The agent a command names and its queues.
    Target { agent: String, reply: oneshot::Sender<Option<AgentTarget>> },
    /// Apply this `CommandSent` event before the action goes out (`done` when applied), so the change it
    /// causes is published with source `api`.
    Expect { event: Event, done: oneshot::Sender<()> },
}

/// An answer not yet written to Redis.
struct Unsent {
    entry: String,
    result: CommandResult,
}

pub struct Handler {
    pub(super) store: Store,
    policy: Policy,
    sink: SinkHandle,
    port: ActionPort,
    engine: mpsc::Sender<EngineAsk>,
    unsent: Vec<Unsent>,
}

/// How a command ended, before it becomes a result.
enum Outcome {
    Done,
    Refused(Refusal),
    /// Shutting down mid-command: no answer now; after a restart the entry is answered as interrupted.
    Cancelled,
}

impl Handler {
    pub fn new(
        store: Store,
        policy: Policy,
        sink: SinkHandle,
        port: ActionPort,
        engine: mpsc::Sender<EngineAsk>,
    ) -> Self {
        Self { store, policy, sink, port, engine, unsent: Vec::new() }
    }

    /// Writes the answers an outage kept back.
    pub async fn flush_unsent(&mut self, conn: &mut RedisConn) -> Result<(), SinkError> {
        while let Some(first) = self.unsent.first() {
            self.store.answer(conn, &first.entry, &first.result).await?;
            self.unsent.remove(0);
        }
        Ok(())
    }

    /// Handles one entry, fresh or left pending by an earlier run. An error is Redis failing; the entry is
    /// then either unanswered and still pending (read again after reconnecting) or its answer is kept.
    pub async fn process(
        &mut self,
        conn: &mut RedisConn,
        entry: Entry,
        cancel: &CancellationToken,
    ) -> Result<(), SinkError> {
        if self.unsent.iter().any(|u| u.entry == entry.id) {
            return Ok(());
        }
        if entry.fields.is_empty() {
            // Trimmed away while pending: nothing to answer.
            return self.store.ack(conn, &entry.id).await;
        }
        let (command, problem) = match Command::from_fields(entry.pairs()) {
            Ok(command) => (command, None),
            Err(Malformed { id: Some(id), problem }) => {
                (Command::new(id, super::Action::Pause, "", 0), Some(problem))
            }
            Err(Malformed { id: None, problem }) => {
                let shown: Vec<u8> = entry.pairs().flat_map(|(k, v)| [k, b"=", v, b" "].concat()).collect();
                crate::telemetry::bad_input(crate::telemetry::BadInput::Command, &problem, &shown);
                return self.store.ack(conn, &entry.id).await;
            }
        };
        let result = match self.store.claim(conn, &command.id, &entry.id).await? {
            Claim::Held { entry: holder, answered: true } if holder == entry.id => {
                return self.store.ack(conn, &entry.id).await;
            }
            Claim::Held { entry: holder, answered: false } if holder == entry.id => self.result(
                &command,
                Code::Failed,
                "interrupted by a restart of the daemon before Asterisk's answer was recorded; not executed again",
            ),
            Claim::Held { .. } => self.result(&command, Code::Duplicate, "this id was already taken by another command"),
            Claim::Taken => match problem {
                Some(ref problem) => self.result(&command, Code::Malformed, problem.to_string()),
                None => match self.run(&command, cancel).await {
                    Outcome::Done => self.result(&command, Code::Done, ""),
                    Outcome::Refused(r) => self.result(&command, r.code, r.error),
                    Outcome::Cancelled => return Ok(()),
                },
            },
        };
        let malformed = problem.is_some();
        self.publish(&command, &result, malformed);
        match self.store.answer(conn, &entry.id, &result).await {
            Ok(()) => Ok(()),
            Err(err) => {
                if self.unsent.len() >= MAX_UNSENT {
                    self.unsent.remove(0);
                }
                self.unsent.push(Unsent { entry: entry.id, result });
                Err(err)
            }
        }
    }

    fn result(&self, command: &Command, code: Code, error: impl Into<String>) -> CommandResult {
        CommandResult::new(command.id.clone(), code, error, now_ms())
    }

    async fn run(&mut self, command: &Command, cancel: &CancellationToken) -> Outcome {
        let now = now_ms();
        if let Err(refusal) = self.policy.admit(command, now) {
            return Outcome::Refused(refusal);
        }
        // Before the lookup: with AMI down the engine may not know the agent yet, and "unknown agent" would
        // hide the real reason.
        if !self.port.is_up() {
            return Outcome::Refused(unavailable(&ActionError::Unavailable(String::new())));
        }
        let target = match self.ask_target(&command.agent, cancel).await {
            Ok(target) => target,
            Err(outcome) => return outcome,
        };
        let (id, interface, queues) = match target {
            Some(AgentTarget { id, interface: Some(interface), queues }) => (id, interface, queues),
            Some(AgentTarget { id, interface: None, .. }) => {
                return failed(format!(
                    "agent {id:?} is known only by its member name; its interface is not known yet"
                ));
            }
            // A new member can be logged in by interface; anything else needs an agent the PBX reported.
            None if command.action == super::Action::Login && looks_like_interface(&command.agent) => {
                (command.agent.clone(), command.agent.clone(), Vec::new())
            }
            None => return failed(format!("unknown agent {:?}", command.agent)),
        };
        if needs_agent_queues(command) {
            if queues.is_empty() {
                return failed(format!("agent {id:?} is in no queue"));
            }
            if let Err(refusal) = self.policy.admit_queues(queues.iter().map(String::as_str)) {
                return Outcome::Refused(refusal);
            }
        }
        if let Err(refusal) = self.policy.take_rate(&id, now) {
            return Outcome::Refused(refusal);
        }
        let (actions, expectations) = plan(command, &interface, &queues);
        for expectation in expectations {
            self.expect(&interface, expectation.queue, expectation.change, now, cancel).await;
        }
        let mut errors = Vec::new();
        let mut code = Code::Failed;
        for action in actions {
            match self.port.execute(action, cancel).await {
                Ok(_) => {}
                Err(ActionError::Cancelled) => return Outcome::Cancelled,
                Err(err @ ActionError::Unavailable(_)) => {
                    code = Code::AmiUnavailable;
                    errors.push(err.to_string());
                }
                Err(err) => errors.push(err.to_string()),
            }
        }
        if errors.is_empty() {
            Outcome::Done
        } else {
            Outcome::Refused(Refusal { code, error: errors.join("; ") })
        }
    }

    async fn ask_target(
        &self,
        agent: &str,
        cancel: &CancellationToken,
    ) -> Result<Option<AgentTarget>, Outcome> {
        let (reply, answer) = oneshot::channel();
        let ask = EngineAsk::Target { agent: agent.to_owned(), reply };
        let bound = Duration::from_millis(ENGINE_ANSWER_MS);
        tokio::select! {
            () = cancel.cancelled() => Err(Outcome::Cancelled),
            answered = tokio::time::timeout(bound, async {
                self.engine.send(ask).await.ok()?;
                answer.await.ok()
            }) => match answered {
                Ok(Some(target)) => Ok(target),
                _ => Err(failed("the engine did not answer in time (start-up replay still running?)".to_owned())),
            },
        }
    }

    /// Tells the engine what change to credit to `api`; a busy engine only costs the credit, not the command.
    async fn expect(
        &self,
        interface: &str,
        queue: Option<String>,
        change: AgentEventKind,
        now: i64,
        cancel: &CancellationToken,
    ) {
        let (done, applied) = oneshot::channel();
        let event = Event {
            ts_ms: now,
            source: Source::Clock,
            actor: None,
            kind: EventKind::CommandSent { agent: interface.to_owned(), queue, change },
        };
        let bound = Duration::from_millis(ENGINE_ANSWER_MS);
        tokio::select! {
            () = cancel.cancelled() => {}
            _ = tokio::time::timeout(bound, async {
                if self.engine.send(EngineAsk::Expect { event, done }).await.is_ok() {
                    let _ = applied.await;
                }
            }) => {}
        }
    }

    /// The audit line and the `command_result` message (through the sink, like every message).
    fn publish(&self, command: &Command, result: &CommandResult, malformed: bool) {
        let (action, agent, queue) = if malformed {
            ("", "", "")
        } else {
            (command.action.as_str(), command.agent.as_str(), command.queue.as_deref().unwrap_or(""))
        };
        metrics::counter!(crate::metrics::COMMANDS, "code" => result.code.as_str()).increment(1);
        tracing::info!(
            target: "queuecast::audit",
            id = %command.id,
            action,
            agent,
            queue,
            requested_by = %command.requested_by,
            outcome = result.code.as_str(),
            error = %result.error,
            "command"
        );
        let mut data = serde_json::Map::new();
        data.insert("id".into(), command.id.clone().into());
        data.insert("ok".into(), result.ok().into());
        data.insert("code".into(), result.code.as_str().into());
        data.insert("error".into(), result.error.clone().into());
        data.insert("action".into(), action.into());
        data.insert("agent".into(), agent.into());
        data.insert("queue".into(), queue.into());
        data.insert(
            "requested_by".into(),
            if malformed { Value::from("") } else { command.requested_by.clone().into() },
        );
        let agent = (!agent.is_empty()).then(|| agent.to_owned());
        self.sink.send(SinkMsg::Updates(vec![Update::CommandResult { id: command.id.clone(), agent, data }]));
    }
}

fn failed(error: String) -> Outcome {
    Outcome::Refused(Refusal { code: Code::Failed, error })
}

fn unavailable(err: &ActionError) -> Refusal {
    Refusal { code: Code::AmiUnavailable, error: err.to_string() }
}
