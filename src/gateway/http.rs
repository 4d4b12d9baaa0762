//! REST reads, the token extractor, CORS and request limits.

use super::App;
use super::follow::filtered_state;
use super::scope::{Names, Scope};
use super::token::{self, Claims};
use super::view;
use crate::sink::{SinkError, now_ms};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Query parameters repeated at most this many times (`agent`, `queue`): a filter, not a payload.
const MAX_FILTER_VALUES: usize = 256;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/time", get(time))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/pbx", get(pbx_list))
        .route("/v1/{pbx}/state", get(state))
        .route("/v1/{pbx}/agents", get(|request: PbxRequest| part(request, "agents")))
        .route("/v1/session", get(super::actions::session))
        .route(
            "/v1/{pbx}/agents/{*id}",
            get(|app, auth, path| one(app, auth, path, "agents")).post(super::actions::post),
        )
        .route("/v1/{pbx}/queues", get(|request: PbxRequest| part(request, "queues")))
        .route("/v1/{pbx}/queues/{name}", get(|app, auth, path| one(app, auth, path, "queues")))
        .route("/v1/{pbx}/calls/{uniqueid}", get(call))
}

/// An error as JSON `{"error": …}` with its status.
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.0, Json(json!({"error": self.1}))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<super::GatewayError> for ApiError {
    fn from(err: super::GatewayError) -> Self {
        tracing::warn!(error = %err, "gateway request failed");
        ApiError(StatusCode::SERVICE_UNAVAILABLE, "Redis is unavailable".into())
    }
}

impl From<SinkError> for ApiError {
    fn from(err: SinkError) -> Self {
        super::GatewayError::Redis(err).into()
    }
}

/// The query string as pairs, percent-decoded (repeatable keys kept in order).
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        percent_encoding::percent_decode_str(&s).decode_utf8_lossy().into_owned()
    };
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

/// A verified token. `Authorization: Bearer …` or `?token=` (a browser's WebSocket cannot set headers).
pub struct Auth(pub Claims);

impl FromRequestParts<Arc<App>> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let from_header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        let from_query =
            || query_pairs(parts.uri.query()).into_iter().find(|(k, _)| k == "token").map(|(_, v)| v);
        let Some(token) = from_header.or_else(from_query) else {
            return Err(ApiError(StatusCode::UNAUTHORIZED, "a token is required".into()));
        };
        match token::verify(&app.secret, token.trim()) {
            Ok(claims) => Ok(Auth(claims)),
            Err(err) => {
                metrics::counter!("queuecast_gateway_refused_tokens_total").increment(1);
                Err(ApiError(StatusCode::UNAUTHORIZED, err.to_string()))
            }
        }
    }
}

/// A request about one PBX (`/v1/{pbx}/…`): the verified token, the PBX from the path and the query.
/// Its scope and hub are looked up by [`PbxRequest::open`] in the handler, after all its extractors, so
/// that the order of rejections stays: token, the handler's own extractors, then scope and PBX.
pub struct PbxRequest {
    pub app: Arc<App>,
    pub claims: Claims,
    pub pbx: String,
    pub query: Option<String>,
}

impl FromRequestParts<Arc<App>> for PbxRequest {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        let Auth(claims) = Auth::from_request_parts(parts, app).await.map_err(IntoResponse::into_response)?;
        let Path(pbx) =
            Path::<String>::from_request_parts(parts, app).await.map_err(IntoResponse::into_response)?;
        Ok(PbxRequest { app: app.clone(), claims, pbx, query: parts.uri.query().map(str::to_owned) })
    }
}

impl PbxRequest {
    /// The client's scope ([`scope_of`]) and the PBX's hub ([`hub_of`]).
    pub async fn open(&self) -> Result<(Scope, Arc<super::hub::Hub>), ApiError> {
        let scope = scope_of(&self.claims, &self.pbx, self.query.as_deref())?;
        Ok((scope, hub_of(&self.app, &self.pbx).await?))
    }

    /// The scoped snapshot as JSON (`{pbx, seq, epoch, ts, agents, queues}`).
    async fn state(&self) -> Result<Value, ApiError> {
        let (scope, hub) = self.open().await?;
        let view = hub.snapshot(0).await?;
        Ok(filtered_state(&view, &scope, &self.pbx, now_ms()))
    }
}

/// The client's scope from its token and the query's `agent`/`queue` filters: 403 when it asks for more
/// than the token allows, or for a PBX the token does not name.
pub fn scope_of(claims: &Claims, pbx: &str, query: Option<&str>) -> Result<Scope, ApiError> {
    if !claims.pbx.allows(pbx) {
        return Err(ApiError(StatusCode::FORBIDDEN, format!("the token does not cover PBX {pbx}")));
    }
    let pairs = query_pairs(query);
    let values = |key: &str| -> Vec<String> {
        pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    };
    let (agents, queues) = (values("agent"), values("queue"));
    if agents.len() + queues.len() > MAX_FILTER_VALUES {
        return Err(ApiError(StatusCode::BAD_REQUEST, "too many agent/queue filters".into()));
    }
    Scope::new(claims, agents, queues).map_err(|err| ApiError(StatusCode::FORBIDDEN, err.to_string()))
}

/// The hub of `pbx`, or 404.
pub async fn hub_of(app: &App, pbx: &str) -> Result<Arc<super::hub::Hub>, ApiError> {
    app.hub(pbx).await?.ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no PBX {pbx}")))
}

async fn time() -> Json<Value> {
    Json(json!({"ts": now_ms()}))
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    let pong: Result<String, _> = redis::cmd("PING").query_async(&mut app.conn.clone()).await;
    match pong {
        Ok(_) => Json(json!({"redis": "ok"})).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"redis": "unreachable"}))).into_response(),
    }
}

async fn metrics(State(app): State<Arc<App>>, _auth: Auth) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    (headers, app.metrics.render()).into_response()
}

/// The PBX ids served (configured, else discovered by `SCAN`), as far as the token covers them.
async fn pbx_list(State(app): State<Arc<App>>, Auth(claims): Auth) -> Result<Json<Value>, ApiError> {
    let ids = if app.gateway.pbx.is_empty() { discover(&app).await? } else { app.gateway.pbx.clone() };
    let mut out = Vec::new();
    for pbx in ids.into_iter().filter(|p| claims.pbx.allows(p)) {
        let mut settings = app.redis.clone();
        settings.pbx_id = pbx.clone();
        let meta = crate::sink::reader::read_meta(&mut app.conn.clone(), &settings.keys()).await?;
        let field = |k: &str| view::field_value(k, meta.get(k).map(String::as_str).unwrap_or(""));
        out.push(json!({"pbx": pbx, "epoch": field("epoch"), "seq": field("seq"),
            "heartbeat_at": field("heartbeat_at"), "ami": field("ami"), "queue_log": field("queue_log")}));
    }
    Ok(Json(Value::Array(out)))
}

async fn discover(app: &App) -> Result<Vec<String>, ApiError> {
    Ok(super::discover_pbx(&mut app.conn.clone(), &app.redis.prefix).await?)
}

async fn state(request: PbxRequest) -> Result<Json<Value>, ApiError> {
    Ok(Json(request.state().await?))
}

/// One part (`agents`, `queues`) of the scoped snapshot.
async fn part(request: PbxRequest, key: &'static str) -> Result<Json<Value>, ApiError> {
    Ok(Json(request.state().await?[key].take()))
}

/// One entity (of `kind` `agents` or `queues`) of the token's view: 404 when it does not exist, 403 when
/// the token does not show it.
async fn one(
    State(app): State<Arc<App>>,
    Auth(claims): Auth,
    Path((pbx, id)): Path<(String, String)>,
    kind: &'static str,
) -> Result<Json<Value>, ApiError> {
    // One snapshot, seen twice: whole (does it exist?) and through the token's scope (may it be shown?).
    let everything = Claims { agent: None, queues: None, ..claims.clone() };
    let open = scope_of(&everything, &pbx, None)?;
    let view = hub_of(&app, &pbx).await?.snapshot(0).await?;
    let ts = now_ms();
    if filtered_state(&view, &open, &pbx, ts)[kind].get(&id).is_none() {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no {} {id}", &kind[..kind.len() - 1])));
    }
    let mut mine = filtered_state(&view, &scope_of(&claims, &pbx, None)?, &pbx, ts);
    match mine[kind].get_mut(&id) {
        Some(value) => Ok(Json(value.take())),
        None => Err(ApiError(StatusCode::FORBIDDEN, format!("{id} is outside the token's scope"))),
    }
}

async fn call(
    State(app): State<Arc<App>>,
    Auth(claims): Auth,
    Path((pbx, uniqueid)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let scope = scope_of(&claims, &pbx, None)?;
    let hub = hub_of(&app, &pbx).await?;
    let hash: BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg(hub.keys.call(&uniqueid))
        .query_async(&mut hub.conn())
        .await
        .map_err(|cause| SinkError::Command { what: "HGETALL call", cause })?;
    if hash.is_empty() {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no call {uniqueid}")));
    }
    let fields = view::hash_to_json(&hash);
    if !scope.is_open() {
        let view = hub.snapshot(0).await?;
        let tracked = scope.tracked_agents();
        let agent_queues: Names = view
            .agents
            .iter()
            .filter(|(id, _)| tracked.contains(*id))
            .flat_map(|(_, h)| {
                let f = view::hash_to_json(h);
                view::agent_queues(&f).map(str::to_owned).collect::<Vec<_>>()
            })
            .collect();
        if !scope.call_visible(&fields, &agent_queues) {
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                format!("call {uniqueid} is outside the token's scope"),
            ));
        }
    }
    Ok(Json(Value::Object(fields)))
}

pub(super) async fn not_found() -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "not found".into())
}

/// 414 for a URI longer than [`super::MAX_URI_BYTES`], before any routing or parsing of it.
pub(super) async fn limit_uri(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<Response, ApiError> {
    if request.uri().to_string().len() > super::MAX_URI_BYTES {
        return Err(ApiError(StatusCode::URI_TOO_LONG, "URI too long".into()));
    }
    Ok(next.run(request).await)
}

/// CORS for the configured origins only (none = same origin only); GET with a bearer token.
pub(super) fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let list: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(list))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            axum::http::HeaderName::from_static("last-event-id"),
        ])
}
