//! A TCP proxy in front of a real server that can hold back what clients send: the bytes of a connection
//! that was open when [`Proxy::hold`] was called are kept (as a stalled network or a frozen server would),
//! until [`Proxy::release`] forwards them, even after the client has given the connection up. It can also
//! turn new connections away ([`Proxy::reject_new`]), to keep a client off the server for a while.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    pub port: u16,
    /// Connections numbered below this are held (0: none).
    held_below: watch::Sender<u64>,
    next_conn: Arc<AtomicU64>,
    /// Connections that have been held and are not over yet.
    held_open: watch::Receiver<u64>,
    /// New connections are closed at once (the server looks down to clients, though it is up).
    reject_new: Arc<AtomicBool>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let (held_below, held_rx) = watch::channel(0);
        let (held_tx, held_open) = watch::channel(0);
        let held_tx = Arc::new(held_tx);
        let next_conn = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&next_conn);
        let reject_new = Arc::new(AtomicBool::new(false));
        let rejecting = Arc::clone(&reject_new);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if rejecting.load(Ordering::SeqCst) {
                    continue;
                }
                let number = counter.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream_port)).await else { continue };
                tokio::spawn(relay(client, server, number, held_rx.clone(), Arc::clone(&held_tx)));
            }
        });
        Self { port, held_below, next_conn, held_open, reject_new, accept }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// While set, new connections are closed as soon as they are accepted.
    pub fn reject_new(&self, reject: bool) {
        self.reject_new.store(reject, Ordering::SeqCst);
    }

    /// From now on, what clients of the connections open now send stays in the proxy.
    pub fn hold(&self) {
        self.held_below.send_replace(self.next_conn.load(Ordering::SeqCst));
    }

    /// Forwards everything held and waits until the held connections are over: their bytes forwarded, the
    /// client gone, and the server closed them (so it ran whatever it accepted of them).
    pub async fn release(&mut self) {
        self.held_below.send_replace(0);
        self.held_open.wait_for(|open| *open == 0).await.expect("proxy alive");
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Client → server with holding; server → client copied as is.
async fn relay(
    client: TcpStream,
    server: TcpStream,
    number: u64,
    mut held_below: watch::Receiver<u64>,
    held_open: Arc<watch::Sender<u64>>,
) {
    let (mut client_rd, mut client_wr) = client.into_split();
    let (mut server_rd, mut server_wr) = server.into_split();
    // Until the server closes: a client that went away does not end it, so that the end of this task
    // means the server has read (and run) everything it was sent.
    let mut downstream = tokio::spawn(async move {
        let mut buf = vec![0; 64 * 1024];
        while let Ok(n @ 1..) = server_rd.read(&mut buf).await {
            let _ = client_wr.write_all(&buf[..n]).await;
        }
    });
    let (mut pending, mut buf, mut client_open, mut was_held) = (Vec::new(), vec![0; 64 * 1024], true, false);
    let mut server_closed = false;
    loop {
        let held = number < *held_below.borrow_and_update();
        if held && !was_held {
            was_held = true;
            held_open.send_modify(|open| *open += 1);
        }
        if !held && !pending.is_empty() {
            // The server may have closed this connection meanwhile (that is what a fence does).
            let _ = server_wr.write_all(&pending).await;
            pending.clear();
        }
        if !client_open && pending.is_empty() {
            break;
        }
        tokio::select! {
            read = client_rd.read(&mut buf), if client_open => match read {
                Ok(0) | Err(_) => client_open = false,
                Ok(n) if held => pending.extend_from_slice(&buf[..n]),
                Ok(n) => if server_wr.write_all(&buf[..n]).await.is_err() { break },
            },
            changed = held_below.changed() => if changed.is_err() { break },
            // Nothing held can reach a server that closed the connection (as a fence does): it is over.
            _ = &mut downstream => {
                server_closed = true;
                break;
            }
        }
    }
    if !server_closed {
        let _ = server_wr.shutdown().await;
        let _ = downstream.await;
    }
    if was_held {
        held_open.send_modify(|open| *open -= 1);
    }
}
