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
        if matches!(conn, RedisConn::Cluster(_)) {
            return Ok(None);
        }
        let name = format!("queuecast-{:016x}", rand::random::<u64>());
        let named: Result<(), _> = redis::cmd("CLIENT").arg("SETNAME").arg(&name).query_async(conn).await;
        let id: Result<u64, _> = match named {
            Ok(()) => redis::cmd("CLIENT").arg("ID").query_async(conn).await,
            Err(err) => Err(err),
        };
        match id {
            Ok(id) => Ok(Some(ClientTag { id, name })),
            Err(source) if source.code().is_some() => {
                tracing::warn!(error = %source, "cannot name this Redis connection; a batch in flight when it \
                    fails may still be applied after the rewrite (grant the ACL user +client)");
                Ok(None)
            }
            Err(source) => Err(SinkError::Command { what: "CLIENT SETNAME/ID", source }),
        }
    }

    /// From the new connection `conn`: closes the connection this tag names if it is still there.
    pub async fn fence(&self, conn: &mut RedisConn) -> Result<Fenced, SinkError> {
        let listed: Result<String, _> =
            redis::cmd("CLIENT").arg("LIST").arg("ID").arg(self.id).query_async(conn).await;
        let still_ours = match listed {
            Ok(list) => list.lines().any(|line| client_name(line) == Some(self.name.as_str())),
            Err(source) => return refused_or(source, "CLIENT LIST"),
        };
        if !still_ours {
            return Ok(Fenced::Gone);
        }
        let killed: Result<u64, _> =
            redis::cmd("CLIENT").arg("KILL").arg("ID").arg(self.id).query_async(conn).await;
        match killed {
            Ok(0) => Ok(Fenced::Gone),
            Ok(_) => Ok(Fenced::Closed),
            Err(source) => refused_or(source, "CLIENT KILL"),
        }
    }
}

/// A server error (the server answered: a permission or an old Redis) means no fence; anything else is a
/// failed connection.
fn refused_or(source: redis::RedisError, what: &'static str) -> Result<Fenced, SinkError> {
    if source.code().is_some() {
        tracing::warn!(error = %source, "cannot close the previous Redis connection server-side; a batch it \
            had in flight may still be applied after the rewrite (grant the ACL user +client)");
        return Ok(Fenced::Refused);
    }
    Err(SinkError::Command { what, source })
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
