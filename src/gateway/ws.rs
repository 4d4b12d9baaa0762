//! `GET /v1/{pbx}/ws`: the follow over a WebSocket, one JSON text frame per message. Query `since` + `epoch`
//! resume, `agent`/`queue` filter, `token` authenticates (browsers cannot set headers on a WebSocket).

use super::follow::{Follower, Frame, Resume};
use super::http::{ApiError, Auth, hub_of, query_pairs, scope_of};
use super::{App, MAX_CLIENT_FRAME_BYTES, PING_INTERVAL_MS, SEND_TIMEOUT_MS};
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

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

async fn upgrade(
    State(app): State<Arc<App>>,
    Auth(claims): Auth,
    Path(pbx): Path<String>,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let scope = scope_of(&claims, &pbx, uri.query())?;
    let hub = hub_of(&app, &pbx).await?;
    let permit = permit(&app)?;
    let resume = resume_of(uri.query());
    let cancel = app.cancel.clone();
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

async fn run(
    socket: WebSocket,
    mut follower: Follower,
    first: Vec<Frame>,
    cancel: tokio_util::sync::CancellationToken,
) {
    let (mut tx, mut rx) = socket.split();
    let send_timeout = Duration::from_millis(SEND_TIMEOUT_MS);
    let mut send = async |frames: Vec<Frame>| -> bool {
        for frame in frames {
            let message = Message::Text(frame.json.as_ref().into());
            match tokio::time::timeout(send_timeout, tx.send(message)).await {
                Ok(Ok(())) => metrics::counter!("queuecast_gateway_frames_total").increment(1),
                // Gone, or stuck for SEND_TIMEOUT_MS: close, freeing its socket buffers.
                _ => return false,
            }
        }
        true
    };
    if !send(first).await {
        return;
    }
    let mut ping = tokio::time::interval(Duration::from_millis(PING_INTERVAL_MS));
    ping.reset();
    loop {
        let frames = tokio::select! {
            _ = cancel.cancelled() => break,
            event = follower.recv() => match follower.handle(event).await {
                Ok(frames) => frames,
                Err(err) => {
                    tracing::warn!(error = %err, "WebSocket follow stopped");
                    break;
                }
            },
            _ = ping.tick() => vec![follower.ping(crate::sink::now_ms())],
            incoming = rx.next() => match incoming {
                // Clients have nothing to say yet; their pings are answered by the library.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => continue,
            },
        };
        if !send(frames).await {
            return;
        }
    }
    let _ = tx.send(Message::Close(None)).await;
}
