//! Connecting to Redis: single node (TCP, TLS, unix socket) or Cluster, ACL user/password from the URL or the
//! settings, timeouts so that a dead server surfaces as an error instead of a hang.

use super::SinkError;
use crate::config::RedisConfig;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use std::time::Duration;

/// Giving up on a TCP/TLS handshake after this long lets the reconnect backoff take over.
pub const CONNECT_TIMEOUT_MS: u64 = 3_000;
/// A reply slower than this means the server is gone or wedged; the sink reconnects. Generous because a
/// full rewrite after an outage is one large MULTI.
pub const RESPONSE_TIMEOUT_MS: u64 = 3_000;

/// One connection to a single node or to a cluster; both speak the same commands because every key shares
/// one hash slot.
#[derive(Clone)]
pub enum RedisConn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl RedisConn {
    /// Opens a connection as `settings` say. Errors name the URL without its password.
    pub async fn connect(settings: &RedisConfig) -> Result<Self, SinkError> {
        let info = connection_info(settings)?;
        let url = settings.url.masked();
        let connect_err = |cause| SinkError::Connect { url: url.clone(), cause };
        if settings.cluster {
            let client = redis::cluster::ClusterClient::builder(vec![info])
                .connection_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS))
                .response_timeout(Duration::from_millis(RESPONSE_TIMEOUT_MS))
                .build()
                .map_err(connect_err)?;
            Ok(RedisConn::Cluster(client.get_async_connection().await.map_err(connect_err)?))
        } else {
            let client = redis::Client::open(info).map_err(connect_err)?;
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(Duration::from_millis(CONNECT_TIMEOUT_MS)))
                .set_response_timeout(Some(Duration::from_millis(RESPONSE_TIMEOUT_MS)));
            let conn =
                client.get_multiplexed_async_connection_with_config(&config).await.map_err(connect_err)?;
            Ok(RedisConn::Single(conn))
        }
    }

    /// Whether this is one server connection (not a cluster): only there do requests reach Redis in the
    /// order they were sent and does the connection have one server-side identity, which pipelined batches
    /// and the fence against a stalled batch rely on.
    pub fn is_single_node(&self) -> bool {
        matches!(self, RedisConn::Single(_))
    }
}

/// The config's connection info, its error as the sink's (the URL masked).
pub fn connection_info(settings: &RedisConfig) -> Result<redis::ConnectionInfo, SinkError> {
    settings.connection_info().map_err(|cause| SinkError::Url { url: settings.url.masked(), cause })
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Single(c) => c.req_packed_command(cmd),
            RedisConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Single(c) => c.req_packed_commands(cmd, offset, count),
            RedisConn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(c) => c.get_db(),
            RedisConn::Cluster(c) => c.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separate_credentials_override_url() {
        let mut s = RedisConfig::new("redis://a:b@127.0.0.1:1/2");
        s.username = Some("queuecast".into());
        s.password = Some(crate::config::Secret::new("pw"));
        let info = connection_info(&s).unwrap();
        assert_eq!(info.redis_settings().username(), Some("queuecast"));
        assert_eq!(info.redis_settings().password(), Some("pw"));
        assert_eq!(info.redis_settings().db(), 2);
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("pw") && !dbg.contains(":b@"), "{dbg}");
    }
}
