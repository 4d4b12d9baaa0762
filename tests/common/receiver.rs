//! A local HTTP receiver for the webhook tests: an axum server on a fixed port that accepts, refuses (503),
//! hangs, redirects or answers huge bodies, can go down (connection refused) and come back on the same port.

#![allow(dead_code)]

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Accept,
    /// 503 to everything.
    Reject,
    /// Never answers (the gateway's timeout ends each try).
    Hang,
    /// 302 to the given URL.
    Redirect(&'static str),
    /// 200 with a 1 MiB body.
    Big,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
    }
}

#[derive(Default)]
struct Log {
    accepted: Vec<Received>,
    refused: usize,
}

struct State {
    mode: Mode,
    log: Log,
}

/// A local HTTP receiver on a fixed port that can be stopped (down: connection refused) and started again.
/// TLS accept loop: rustls, then hyper's HTTP/1 connection serving the same router.
async fn serve_tls(listener: tokio::net::TcpListener, app: axum::Router, stop: CancellationToken) {
    let acceptor = super::fake_ami::tls_acceptor();
    loop {
        let (tcp, _) = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => return },
        };
        let (acceptor, app, stop) = (acceptor.clone(), app.clone(), stop.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else { return };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service);
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = connection => {}
            }
        });
    }
}

pub struct Receiver {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Option<(CancellationToken, tokio::task::JoinHandle<()>)>,
    tls: bool,
}

async fn respond(state: Arc<Mutex<State>>, request: Received) -> axum::response::Response {
    let mode = state.lock().unwrap().mode;
    let log = |accepted: bool| {
        let mut state = state.lock().unwrap();
        if accepted {
            state.log.accepted.push(request.clone());
        } else {
            state.log.refused += 1;
        }
    };
    match mode {
        Mode::Accept => {
            log(true);
            StatusCode::NO_CONTENT.into_response()
        }
        Mode::Reject => {
            log(false);
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Mode::Hang => {
            log(false);
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
        Mode::Redirect(to) => {
            log(false);
            (StatusCode::FOUND, [("location", to)]).into_response()
        }
        Mode::Big => {
            log(true);
            (StatusCode::OK, "x".repeat(1 << 20)).into_response()
        }
    }
}

impl Receiver {
    pub async fn start(mode: Mode) -> Self {
        Self::start_with(mode, false).await
    }

    /// HTTPS with the test certificate (tests/fixtures/tls: `localhost` and 127.0.0.1, signed by `ca.pem`).
    pub async fn start_tls(mode: Mode) -> Self {
        Self::start_with(mode, true).await
    }

    async fn start_with(mode: Mode, tls: bool) -> Self {
        let state = Arc::new(Mutex::new(State { mode, log: Log::default() }));
        let mut receiver = Self { port: super::redis::free_port(), state, stop: None, tls };
        receiver.up().await;
        receiver
    }

    pub async fn up(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await.expect("bind receiver");
        let state = self.state.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: String| {
                respond(
                    state.clone(),
                    Received {
                        method,
                        path: uri.path().to_owned(),
                        query: uri.query().unwrap_or("").to_owned(),
                        headers,
                        body,
                    },
                )
            },
        );
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let task = if self.tls {
            tokio::spawn(serve_tls(listener, app, stop))
        } else {
            tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await;
            })
        };
        self.stop = Some((cancel, task));
    }

    /// Stops listening and closes every connection.
    pub async fn down(&mut self) {
        if let Some((cancel, task)) = self.stop.take() {
            cancel.cancel();
            task.abort();
            let _ = task.await;
        }
    }

    pub fn set(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    pub fn accepted(&self) -> Vec<Received> {
        self.state.lock().unwrap().log.accepted.clone()
    }

    /// How many requests were accepted (without copying them).
    pub fn accepted_count(&self) -> usize {
        self.state.lock().unwrap().log.accepted.len()
    }

    pub fn refused(&self) -> usize {
        self.state.lock().unwrap().log.refused
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }
}

/// One `[[gateway.webhooks]]` table for `agent_event`s to `url`, then `extra` (its own `key = value` lines).
pub fn agent_event_hook(name: &str, url: &str, extra: &str) -> String {
    format!("\n[[gateway.webhooks]]\nname = \"{name}\"\nurl = \"{url}\"\nevents = [\"agent_event\"]\n{extra}")
}
