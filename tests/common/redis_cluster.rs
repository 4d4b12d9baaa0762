//! A private three-master Redis Cluster: three `redis-server --cluster-enabled yes` on 127.0.0.1 joined
//! by `redis-cli --cluster create`, every slot covered, killed on drop.

#![allow(dead_code)]

use super::redis::{RedisServer, free_port};
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

const NODES: usize = 3;
/// Offset of a node's cluster bus port from its client port (fixed by Redis).
const BUS_PORT_OFFSET: u16 = 10_000;
/// Slot assignment has to reach every node by gossip; a loaded 2-core machine may take a while.
const STATE_OK_TIMEOUT: Duration = Duration::from_secs(30);

pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..NODES)
            .map(|_| {
                RedisServer::start_on(
                    port_with_free_bus(),
                    &["--cluster-enabled", "yes", "--cluster-node-timeout", "5000"],
                )
            })
            .collect();
        let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())).collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli must be installed (it comes with redis-server)");
        assert!(out.status.success(), "cluster create: {}", String::from_utf8_lossy(&out.stdout));
        let cluster = Self { nodes };
        cluster.wait_state_ok();
        cluster
    }

    /// The seed URL the client starts from (it discovers the other nodes).
    pub fn url(&self) -> String {
        self.nodes[0].url()
    }

    fn wait_state_ok(&self) {
        let deadline = Instant::now() + STATE_OK_TIMEOUT;
        while !self.nodes.iter().all(|n| cluster_info(n.port()).contains("cluster_state:ok")) {
            assert!(Instant::now() < deadline, "cluster never reached cluster_state:ok");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn cluster_info(port: u16) -> String {
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), "cluster", "info"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// A free port whose bus port (`+10000`) is free as well.
fn port_with_free_bus() -> u16 {
    loop {
        let port = free_port();
        if let Some(bus) = port.checked_add(BUS_PORT_OFFSET)
            && TcpListener::bind(("127.0.0.1", bus)).is_ok()
        {
            return port;
        }
    }
}
