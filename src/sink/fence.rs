//! Fencing off this sink's previous connection before a full rewrite.
//!
//! When a reply is slower than the response timeout, the sink reconnects and rewrites everything. The
//! batch it gave up on may still be in Redis's socket buffer, or on the network, and would then run
//! *after* the rewrite, putting older entity states and an older `meta.seq` back. So the new connection
//! first has Redis drop the old one (`CLIENT KILL ID`), with everything it has not run yet: Redis runs one
//! command at a time, so once the kill has answered, nothing more of that connection runs.
//!
//! Client ids restart from 1 when Redis restarts, and then the old id may belong to somebody else (or to
//! the new connection itself). Every connection is therefore named (`CLIENT SETNAME`) with a random token,
//! and the old one is killed only when `CLIENT LIST ID` still shows that name. Single node only: a cluster
//! connection is a set of node sockets the client manages itself.

use super::{RedisConn, SinkError};

/// Who one of this sink's connections is on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ClientTag {
    id: u64,
    name: String,
}

/// What fencing found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fenced {
    /// The old connection was still there and is closed now.
    Closed,
    /// Nothing of ours under that id any more (closed by the server, or Redis restarted).
    Gone,
    /// The server refused the commands (an ACL without `+client`): no fence.
    Refused,
}

impl ClientTag {
    /// Names `conn` and learns its id; `None` on a cluster, or when the server refuses (`+client` missing).
    pub async fn of(conn: &mut RedisConn) -> Result<Option<ClientTag>, SinkError> {
        if !conn.is_single_node() {
            return Ok(None);
        }
        let name = format!("queuecast-{:016x}", rand::random::<u64>());
        let named: Result<(), _> = redis::cmd("CLIENT").arg("SETNAME").arg(&name).query_async(conn).await;
        let id = match named {
            Ok(()) => redis::cmd("CLIENT").arg("ID").query_async(conn).await,
            Err(err) => Err(err),
        };
        Ok(unless_refused(id, "CLIENT SETNAME/ID")?.map(|id| ClientTag { id, name }))
    }

    /// From the new connection `conn`: closes the connection this tag names if it is still there.
    pub async fn fence(&self, conn: &mut RedisConn) -> Result<Fenced, SinkError> {
        let listed = redis::cmd("CLIENT").arg("LIST").arg("ID").arg(self.id).query_async(conn).await;
        let Some(list) = unless_refused::<String>(listed, "CLIENT LIST")? else { return Ok(Fenced::Refused) };
        if !list.lines().any(|line| client_name(line) == Some(self.name.as_str())) {
            return Ok(Fenced::Gone);
        }
        let killed = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(self.id).query_async(conn).await;
        Ok(match unless_refused::<u64>(killed, "CLIENT KILL")? {
            None => Fenced::Refused,
            Some(0) => Fenced::Gone,
            Some(_) => Fenced::Closed,
        })
    }
}

/// A reply, or `None` when the server refused the command (it answered with an error: an ACL without
/// `+client`, or an old Redis) — there is then no fence, which is worth a warning but no failure. Anything
/// else is a failed connection.
fn unless_refused<T>(reply: redis::RedisResult<T>, what: &'static str) -> Result<Option<T>, SinkError> {
    match reply {
        Ok(value) => Ok(Some(value)),
        Err(source) if source.code().is_some() => {
            tracing::warn!(error = %source, command = what, "Redis refused a command of the fence against \
                stalled batches; one in flight when a connection fails may still be applied after the \
                rewrite (grant the ACL user +client)");
            Ok(None)
        }
        Err(source) => Err(SinkError::Command { what, cause: source }),
    }
}

/// The `name=` field of one `CLIENT LIST` line (`id=7 addr=… name=queuecast-… …`).
fn client_name(line: &str) -> Option<&str> {
    line.split(' ').find_map(|field| field.strip_prefix("name="))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_name_of_a_client_list_line() {
        let line = "id=7 addr=127.0.0.1:5000 laddr=127.0.0.1:6379 fd=9 name=queuecast-00ff age=3 idle=0";
        assert_eq!(client_name(line), Some("queuecast-00ff"));
        assert_eq!(client_name("id=7 addr=127.0.0.1:5000 name= age=3"), Some(""));
        assert_eq!(client_name("id=7 addr=x"), None);
    }
}
