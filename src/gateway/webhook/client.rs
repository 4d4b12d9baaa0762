//! One webhook's HTTP/1.1 client: a kept-alive connection (plain or rustls), one request at a time, the whole
//! attempt under the webhook's timeout. Redirects are never followed (a 3xx is a failed attempt), and at most
//! [`MAX_RESPONSE_BYTES`] of a response body are read: the body is ignored, a receiver cannot make the
//! gateway buffer anything.

use crate::config::WebhookTarget;
use axum::body::Bytes;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::path::Path;
use std::time::Duration;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

/// Response body read before the connection is dropped instead of reused: enough for any "ok" page.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Why an attempt failed; said once at WARN when a receiver goes down (never with the URL's query).
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("HTTP: {0}")]
    Http(String),
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("answered {0} (redirects are not followed)")]
    Redirect(StatusCode),
    #[error("answered {0}")]
    Status(StatusCode),
}

/// One request to send, rebuilt for each try (a body is a few KiB at most).
pub struct Outgoing {
    pub method: Method,
    /// Origin-form target: path and query.
    pub target: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

pub struct Client {
    target: WebhookTarget,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    timeout_ms: u64,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Client {
    /// `ca_file`: the CA(s) an https receiver is checked against, else the webpki roots (the AMI client's
    /// TLS setup: rustls with ring).
    pub fn new(target: WebhookTarget, timeout_ms: u64, ca_file: Option<&Path>) -> Result<Self, String> {
        let tls = if target.tls {
            let connector = crate::tls::connector(ca_file).map_err(|e| e.to_string())?;
            let name =
                ServerName::try_from(target.host.clone()).map_err(|e| format!("TLS server name: {e}"))?;
            Some((connector, name))
        } else {
            None
        };
        Ok(Self { target, tls, timeout_ms, sender: None })
    }

    /// Sends `out` and returns its 2xx status.
    pub async fn send(&mut self, out: &Outgoing) -> Result<StatusCode, AttemptError> {
        let timeout = Duration::from_millis(self.timeout_ms);
        match tokio::time::timeout(timeout, self.exchange(out)).await {
            Ok(result) => result,
            Err(_) => {
                self.sender = None;
                Err(AttemptError::Timeout(self.timeout_ms))
            }
        }
    }

    fn request(&self, out: &Outgoing) -> Result<Request<Full<Bytes>>, AttemptError> {
        let mut builder = Request::builder()
            .method(out.method.clone())
            .uri(out.target.as_str())
            .header(header::HOST, self.target.authority.as_str());
        for (name, value) in &out.headers {
            builder = builder.header(name, value);
        }
        builder.body(Full::new(out.body.clone())).map_err(|e| AttemptError::Http(e.to_string()))
    }

    async fn exchange(&mut self, out: &Outgoing) -> Result<StatusCode, AttemptError> {
        // A kept-alive connection the receiver closed meanwhile fails before anything is processed: one
        // fresh try then, so an idle close is not reported as an outage.
        let mut reused = self.sender.take();
        if let Some(sender) = reused.as_mut() {
            if sender.ready().await.is_err() {
                reused = None;
            }
        }
        let was_reused = reused.is_some();
        let mut sender = match reused {
            Some(sender) => sender,
            None => self.connect().await?,
        };
        let response = match sender.send_request(self.request(out)?).await {
            Ok(response) => response,
            Err(_) if was_reused => {
                sender = self.connect().await?;
                sender
                    .send_request(self.request(out)?)
                    .await
                    .map_err(|e| AttemptError::Http(e.to_string()))?
            }
            Err(err) => return Err(AttemptError::Http(err.to_string())),
        };
        let status = response.status();
        let mut body = response.into_body();
        let mut read = 0usize;
        let mut keep = true;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| AttemptError::Http(e.to_string()))?;
            read += frame.data_ref().map_or(0, Bytes::len);
            if read > MAX_RESPONSE_BYTES {
                keep = false;
                break;
            }
        }
        if keep {
            self.sender = Some(sender);
        }
        if status.is_success() {
            Ok(status)
        } else if status.is_redirection() {
            Err(AttemptError::Redirect(status))
        } else {
            Err(AttemptError::Status(status))
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, AttemptError> {
        let tcp = tokio::net::TcpStream::connect((self.target.host.as_str(), self.target.port))
            .await
            .map_err(|e| AttemptError::Connect(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => handshake(TokioIo::new(tcp)).await,
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| AttemptError::Tls(e.to_string()))?;
                handshake(TokioIo::new(stream)).await
            }
        }
    }
}

/// HTTP/1 handshake; the connection's driver runs as its own task and ends when the sender is dropped.
async fn handshake<T>(io: T) -> Result<SendRequest<Full<Bytes>>, AttemptError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) =
        hyper::client::conn::http1::handshake(io).await.map_err(|e| AttemptError::Http(e.to_string()))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}
