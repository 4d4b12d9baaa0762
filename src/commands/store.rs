//! The consumer's Redis operations on `…:commands`, `…:results` and the per-id claims. Each id is executed at
//! most once because its claim is taken with `SET NX` before anything is done, and answered once because the
//! result, the `XACK` and the claim's "answered" mark are one MULTI: after a crash an entry that is still
//! pending has no result yet, and its claim tells whether it had started.

use super::entries::{self, Entry};
use super::wire::CommandResult;
use crate::sink::{Keys, RedisConn, SinkError};

/// The consumer group every daemon of one PBX reads with (DESIGN.md).
pub const GROUP: &str = "queuecast";
/// Cap of `…:results` (`XADD MAXLEN ~`): producers read their result within seconds; a day of a busy
/// call center's commands is far fewer.
pub const RESULTS_MAXLEN: u64 = 10_000;

/// What a claim says about an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Taken now by this entry: execute it.
    Taken,
    /// Taken before by `entry`; `answered` once its result was written.
    Held { entry: String, answered: bool },
}

pub struct Store {
    keys: Keys,
    consumer: String,
    /// How long a claim lives: longer than any command stays fresh, so a repeated id is always caught.
    claim_ttl_ms: u64,
}

fn cmd_err(what: &'static str) -> impl FnOnce(redis::RedisError) -> SinkError {
    move |cause| SinkError::Command { what, cause }
}

impl Store {
    pub fn new(keys: Keys, consumer: String, claim_ttl_ms: u64) -> Self {
        Self { keys, consumer, claim_ttl_ms }
    }

    /// Creates the group (and the stream) if missing. From id 0: commands written before the first daemon
    /// ever started are read too, and refused as stale when they are.
    pub async fn create_group(&self, conn: &mut RedisConn) -> Result<(), SinkError> {
        let created: Result<redis::Value, _> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.keys.commands())
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(conn)
            .await;
        match created {
            Err(err) if err.code() == Some("BUSYGROUP") => Ok(()),
            other => other.map(drop).map_err(cmd_err("XGROUP CREATE")),
        }
    }

    /// Entries after `after` that this consumer was given and has not acknowledged (`Some("0")` from the
    /// start), or new entries (`None`, waiting up to `block_ms`).
    pub async fn read(
        &self,
        conn: &mut RedisConn,
        pending_after: Option<&str>,
        count: usize,
        block_ms: u64,
    ) -> Result<Vec<Entry>, SinkError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(GROUP).arg(&self.consumer).arg("COUNT").arg(count);
        if pending_after.is_none() && block_ms > 0 {
            cmd.arg("BLOCK").arg(block_ms);
        }
        cmd.arg("STREAMS").arg(self.keys.commands()).arg(pending_after.unwrap_or(">"));
        let reply: redis::Value = cmd.query_async(conn).await.map_err(cmd_err("XREADGROUP"))?;
        Ok(entries::from_read_reply(reply))
    }

    /// Takes the claim of command `id` for stream entry `entry`, or says who has it.
    pub async fn claim(&self, conn: &mut RedisConn, id: &str, entry: &str) -> Result<Claim, SinkError> {
        let key = self.keys.command_claim(id);
        let set: redis::Value = redis::cmd("SET")
            .arg(&key)
            .arg(format!("{entry} running"))
            .arg("NX")
            .arg("PX")
            .arg(self.claim_ttl_ms)
            .query_async(conn)
            .await
            .map_err(cmd_err("SET NX claim"))?;
        if !matches!(set, redis::Value::Nil) {
            return Ok(Claim::Taken);
        }
        let value: Option<String> =
            redis::cmd("GET").arg(&key).query_async(conn).await.map_err(cmd_err("GET claim"))?;
        // Gone between the two calls (expired): someone held it; treat it as a repeat, never run twice.
        let value = value.unwrap_or_default();
        let (entry, state) = value.split_once(' ').unwrap_or((value.as_str(), ""));
        Ok(Claim::Held { entry: entry.to_owned(), answered: state == "answered" })
    }

    /// Writes the result, acknowledges the entry and marks the claim answered, atomically.
    pub async fn answer(
        &self,
        conn: &mut RedisConn,
        entry: &str,
        result: &CommandResult,
    ) -> Result<(), SinkError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut xadd = redis::cmd("XADD");
        xadd.arg(self.keys.results()).arg("MAXLEN").arg("~").arg(RESULTS_MAXLEN).arg("*");
        for (field, value) in result.to_fields() {
            xadd.arg(field).arg(value);
        }
        pipe.add_command(xadd).ignore();
        pipe.cmd("XACK").arg(self.keys.commands()).arg(GROUP).arg(entry).ignore();
        // XX: only a claim this entry took (a malformed entry without a claim leaves none behind).
        pipe.cmd("SET")
            .arg(self.keys.command_claim(&result.id))
            .arg(format!("{entry} answered"))
            .arg("XX")
            .arg("KEEPTTL")
            .ignore();
        pipe.query_async::<()>(conn).await.map_err(cmd_err("MULTI result"))
    }

    /// Acknowledges an entry that needs no answer (no usable id, trimmed away, already answered).
    pub async fn ack(&self, conn: &mut RedisConn, entry: &str) -> Result<(), SinkError> {
        redis::cmd("XACK")
            .arg(self.keys.commands())
            .arg(GROUP)
            .arg(entry)
            .query_async::<redis::Value>(conn)
            .await
            .map(drop)
            .map_err(cmd_err("XACK"))
    }
}
