//! Writing one command and waiting for its result: the one path shared by the gateway's POST endpoints and
//! `queuecast action`, so both see the same answers and time out the same way.
//!
//! The results stream's last id is read before the command is added, so a result written at any moment after
//! the `XADD` is seen, however fast the daemon is. The wait is a blocking `XREAD`, so it holds its connection:
//! a [`Client`] owns one connection of its own and must not share it with other work.

use super::entries::{self, Entry};
use super::wire::{BadResult, Command, CommandResult, Malformed};
use crate::config::RedisConfig;
use crate::sink::{Keys, RedisConn, SinkError};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Longest single blocking read: below the connection's response timeout
/// ([`crate::sink::conn::RESPONSE_TIMEOUT_MS`]), which would otherwise end a long block as an error.
pub const BLOCK_CHUNK_MS: u64 = 2_000;
/// Cap of `…:commands` (`XADD MAXLEN ~`): commands are answered within seconds and refused after
/// `max_age_ms`, so a backlog of this many is a daemon that has been down, and older entries are stale anyway.
pub const COMMANDS_MAXLEN: u64 = 10_000;
/// Entries read per `XREAD` while waiting: other producers' results pass by in the same stream.
const READ_COUNT: usize = 100;

/// Why no result came back.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The command would be answered `malformed`; nothing was written.
    #[error(transparent)]
    Invalid(#[from] Malformed),
    #[error(transparent)]
    Redis(#[from] SinkError),
    /// Written, but no result within the timeout: the daemon is down, AMI is slow, or the command is still
    /// queued. It may still be executed later while fresh (`max_age_ms`).
    #[error("no answer from the daemon within {waited_ms} ms")]
    NoAnswer { waited_ms: u64 },
    /// A result for this id that this version cannot read.
    #[error(transparent)]
    BadResult(#[from] BadResult),
    /// The caller's cancellation token fired (shutdown).
    #[error("cancelled while waiting for the result")]
    Cancelled,
}

/// A producer of commands for one PBX, with a Redis connection of its own.
pub struct Client {
    conn: RedisConn,
    keys: Keys,
}

impl Client {
    /// Opens the client's own connection.
    pub async fn connect(settings: &RedisConfig) -> Result<Self, SinkError> {
        Ok(Self { conn: RedisConn::connect(settings).await?, keys: settings.keys() })
    }

    /// Uses `conn`, which must not be shared (the wait blocks it).
    pub fn with_connection(conn: RedisConn, keys: Keys) -> Self {
        Self { conn, keys }
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Writes `command` and waits up to `timeout` for its result. After a cancellation or an error the
    /// connection may still carry an unfinished blocking read: drop the client.
    pub async fn submit(
        &mut self,
        command: &Command,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<CommandResult, SubmitError> {
        command.validate()?;
        self.submit_until(command, Instant::now() + timeout, waited_ms(timeout), cancel).await
    }

    /// [`Client::submit`] of a validated `command` against `deadline`; `waited_ms` is what a `NoAnswer`
    /// reports (the caller's whole timeout, connect included).
    async fn submit_until(
        &mut self,
        command: &Command,
        deadline: Instant,
        waited_ms: u64,
        cancel: &CancellationToken,
    ) -> Result<CommandResult, SubmitError> {
        let bounded = async {
            let mut after = self.last_result_id().await?;
            self.add(command).await?;
            loop {
                let block = deadline.saturating_duration_since(Instant::now());
                if block.is_zero() {
                    return Err(SubmitError::NoAnswer { waited_ms });
                }
                let block_ms =
                    u64::try_from(block.as_millis()).unwrap_or(BLOCK_CHUNK_MS).clamp(1, BLOCK_CHUNK_MS);
                for entry in self.read_after(&after, block_ms).await? {
                    if CommandResult::id_of(entry.pairs()) == Some(command.id.as_bytes()) {
                        return Ok(CommandResult::from_fields(entry.pairs())?);
                    }
                    after = entry.id;
                }
            }
        };
        tokio::select! {
            () = cancel.cancelled() => Err(SubmitError::Cancelled),
            outcome = tokio::time::timeout_at(deadline, bounded) => {
                outcome.unwrap_or(Err(SubmitError::NoAnswer { waited_ms }))
            }
        }
    }

    /// Id of the newest result, `0-0` when there is none yet.
    async fn last_result_id(&mut self) -> Result<String, SinkError> {
        let reply: redis::Value = redis::cmd("XREVRANGE")
            .arg(self.keys.results())
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut self.conn)
            .await
            .map_err(|cause| SinkError::Command { what: "XREVRANGE results", cause })?;
        Ok(entries::from_range_reply(reply).pop().map_or_else(|| "0-0".to_owned(), |e| e.id))
    }

    async fn add(&mut self, command: &Command) -> Result<(), SinkError> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(self.keys.commands()).arg("MAXLEN").arg("~").arg(COMMANDS_MAXLEN).arg("*");
        for (field, value) in command.to_fields() {
            cmd.arg(field).arg(value);
        }
        cmd.query_async::<redis::Value>(&mut self.conn)
            .await
            .map(drop)
            .map_err(|cause| SinkError::Command { what: "XADD commands", cause })
    }

    async fn read_after(&mut self, after: &str, block_ms: u64) -> Result<Vec<Entry>, SinkError> {
        let reply: redis::Value = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(block_ms)
            .arg("STREAMS")
            .arg(self.keys.results())
            .arg(after)
            .query_async(&mut self.conn)
            .await
            .map_err(|cause| SinkError::Command { what: "XREAD results", cause })?;
        Ok(entries::from_read_reply(reply))
    }
}

/// Connects, writes `command` and waits for its result, all within `timeout` (a Redis that does not answer
/// the connect counts against it too).
pub async fn submit(
    settings: &RedisConfig,
    command: &Command,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<CommandResult, SubmitError> {
    command.validate()?;
    let deadline = Instant::now() + timeout;
    let waited_ms = waited_ms(timeout);
    let mut client = tokio::select! {
        () = cancel.cancelled() => return Err(SubmitError::Cancelled),
        client = tokio::time::timeout_at(deadline, Client::connect(settings)) => {
            client.map_err(|_| SubmitError::NoAnswer { waited_ms })??
        }
    };
    client.submit_until(command, deadline, waited_ms, cancel).await
}

fn waited_ms(timeout: Duration) -> u64 {
    u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)
}
