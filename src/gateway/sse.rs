//! `GET /v1/{pbx}/events`: the follow as Server-Sent Events. Every event's `id:` is `EPOCH:SEQ`, so a
//! browser's `EventSource` resumes by itself through `Last-Event-ID` after a dropped connection.

use super::App;
use super::follow::{Follower, Frame, FrameSink, Resume};
use super::http::{ApiError, PbxRequest};
use super::ws::{permit, resume_of};
use axum::Router;
use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use axum::routing::get;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Frames buffered between the follow task and the HTTP body: small, the ring behind it is the real queue.
const SSE_BUFFER_FRAMES: usize = 16;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new().route("/v1/{pbx}/events", get(events))
}

async fn events(
    request: PbxRequest,
    headers: HeaderMap,
) -> Result<Sse<impl futures::Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let (scope, hub) = request.open().await?;
    let app = request.app;
    let permit = permit(&app)?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(Resume::parse_event_id)
        .or_else(|| resume_of(request.query.as_deref()));
    let (follower, first) = Follower::start(hub, scope, resume).await?;
    let (tx, rx) = mpsc::channel::<Frame>(SSE_BUFFER_FRAMES);
    let cancel = app.cancel.clone();
    app.tracker.spawn(async move {
        let _permit = permit;
        metrics::gauge!("queuecast_gateway_streams", "transport" => "sse").increment(1);
        pump(follower, first, tx, cancel).await;
        metrics::gauge!("queuecast_gateway_streams", "transport" => "sse").decrement(1);
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let frame = rx.recv().await?;
        metrics::counter!("queuecast_gateway_frames_total").increment(1);
        Some((Ok(Event::default().id(frame.id).data(frame.json.as_ref())), rx))
    });
    Ok(Sse::new(stream))
}

/// Feeds frames to the body until the client goes (the receiver is dropped), is stuck for
/// `SEND_TIMEOUT_MS`, or the gateway stops.
async fn pump(follower: Follower, first: Vec<Frame>, tx: mpsc::Sender<Frame>, cancel: CancellationToken) {
    follower.run(first, &cancel, "SSE", tx.closed(), &mut &tx).await;
}

impl FrameSink for &mpsc::Sender<Frame> {
    async fn send_frame(&mut self, frame: Frame) -> bool {
        self.send(frame).await.is_ok()
    }
}
