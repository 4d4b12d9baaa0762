//! `GET /v1/{pbx}/ws`: the follow over a WebSocket, one JSON text frame per message. Query `since` + `epoch`
//! resume, `agent`/`queue` filter, `token` authenticates (browsers cannot set headers on a WebSocket).

use super::follow::{FollowEnd, Follower, Frame, FrameSink, Resume};
use super::http::{ApiError, PbxRequest, query_pairs};
use super::{App, MAX_CLIENT_FRAME_BYTES};
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

/// Read buffer of a client's socket: its frames are at most [`MAX_CLIENT_FRAME_BYTES`].
const READ_BUFFER_BYTES: usize = 4_096;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new().route("/v1/{pbx}/ws", get(upgrade))
}

/// `since` + `epoch` from the query, when both are there.
pub fn resume_of(query: Option<&str>) -> Option<Resume> {
    let pairs = query_pairs(query);
    let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    Some(Resume { epoch: get("epoch")?, since: get("since")?.parse().ok()? })
}

/// One stream slot, or 503 when the gateway serves `max_streams` already.
pub fn permit(app: &App) -> Result<OwnedSemaphorePermit, ApiError> {
    app.streams
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError(StatusCode::SERVICE_UNAVAILABLE, "too many streams".into()))
}

async fn upgrade(request: PbxRequest, ws: WebSocketUpgrade) -> Result<Response, ApiError> {
    let (scope, hub) = request.open().await?;
    let permit = permit(&request.app)?;
    let resume = resume_of(request.query.as_deref());
    let cancel = request.app.cancel.clone();
    // tungstenite's default 128 KiB read buffer per socket is most of a client's memory; clients send
    // only small control frames, and each outgoing frame is flushed as it is written.
    let ws = ws
        .max_message_size(MAX_CLIENT_FRAME_BYTES)
        .max_frame_size(MAX_CLIENT_FRAME_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0);
    Ok(ws.on_upgrade(move |socket| async move {
        let _permit = permit;
        metrics::gauge!("queuecast_gateway_streams", "transport" => "ws").increment(1);
        match Follower::start(hub, scope, resume).await {
            Ok((follower, frames)) => run(socket, follower, frames, cancel).await,
            Err(err) => tracing::warn!(error = %err, "cannot start a WebSocket follow"),
        }
        metrics::gauge!("queuecast_gateway_streams", "transport" => "ws").decrement(1);
    }))
}

async fn run(socket: WebSocket, follower: Follower, first: Vec<Frame>, cancel: CancellationToken) {
    let (mut tx, mut rx) = socket.split();
    // Clients have nothing to say yet; their pings are answered by the library.
    let client_gone = async {
        while let Some(Ok(message)) = rx.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    };
    // A send that failed or was stuck: close without a goodbye, freeing its socket buffers.
    if follower.run(first, &cancel, "WebSocket", client_gone, &mut tx).await == FollowEnd::Stopped {
        let _ = tx.send(Message::Close(None)).await;
    }
}

impl FrameSink for SplitSink<WebSocket, Message> {
    async fn send_frame(&mut self, frame: Frame) -> bool {
        let sent = self.send(Message::Text(frame.json.as_ref().into())).await.is_ok();
        if sent {
            metrics::counter!("queuecast_gateway_frames_total").increment(1);
        }
        sent
    }
}
