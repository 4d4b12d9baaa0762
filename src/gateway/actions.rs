//! `POST /v1/{pbx}/agents/{id}/pause|unpause|login|logout` (DESIGN.md "Gateway"): a panel's command, checked
//! against the token, written to the PBX's command stream, answered with the daemon's result.
//!
//! Closed by default and hostile-input safe: the token must come in the `Authorization` header (never a
//! cookie, never the URL: a cross-site form cannot send it, and a URL lands in proxy logs), carry `actions`,
//! name the PBX, and cover the agent (an agent token: only itself) and the queue (a `queues` token: only
//! those, and it must name one). The body is JSON (`Content-Type: application/json`, which a cross-site form
//! cannot send without a CORS preflight), at most [`MAX_BODY_BYTES`], with no unknown field.

use super::App;
use super::http::ApiError;
use super::token::{self, Claims};
use crate::commands::{Action, Code, Command, SubmitError, wire};
use crate::sink::now_ms;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// A command body is a few short fields; anything bigger is not one.
pub const MAX_BODY_BYTES: usize = 4_096;
/// Commands waiting for their result at once, across all clients: each holds a Redis connection for up to
/// the command timeout. Beyond that a command gets 503 at once instead of piling up connections.
pub const MAX_COMMANDS_IN_FLIGHT: usize = 64;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PauseBody {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    queue: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueBody {
    #[serde(default)]
    queue: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    queue: String,
    #[serde(default)]
    penalty: Option<u32>,
    #[serde(default)]
    member_name: Option<String>,
}

fn err(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError(status, message.into())
}

/// The route shares `/v1/{pbx}/agents/{*id}` with the agent read: the last segment is the action, the rest
/// (slashes and all, percent-decoded by the router) is the agent id.
pub(super) async fn post(
    State(app): State<Arc<App>>,
    Path((pbx, rest)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let claims = bearer(&app, &headers)?;
    if !claims.pbx.allows(&pbx) {
        return Err(err(StatusCode::FORBIDDEN, format!("the token does not cover PBX {pbx}")));
    }
    if !claims.actions {
        return Err(err(StatusCode::FORBIDDEN, "the token may not send commands (no `actions` claim)"));
    }
    let (agent, action) = rest.rsplit_once('/').ok_or_else(|| err(StatusCode::NOT_FOUND, "not found"))?;
    let action = match action {
        "pause" => Action::Pause,
        "unpause" => Action::Unpause,
        "login" => Action::Login,
        "logout" => Action::Logout,
        _ => return Err(err(StatusCode::NOT_FOUND, "not found")),
    };
    check_agent_id(agent)?;
    if claims.agent.as_deref().is_some_and(|own| own != agent) {
        return Err(err(
            StatusCode::FORBIDDEN,
            format!("the token may act only on agent {}", claims.agent.as_deref().unwrap_or("")),
        ));
    }
    let mut command = Command::new(wire::new_id(), action, agent, now_ms());
    read_body(&headers, body, action, &mut command).await?;
    if let Some(allowed) = &claims.queues {
        match &command.queue {
            Some(q) if allowed.contains(q) => {}
            Some(q) => {
                return Err(err(StatusCode::FORBIDDEN, format!("queue {q} is outside the token's scope")));
            }
            None => {
                return Err(err(StatusCode::FORBIDDEN, "this token covers some queues only: name the queue"));
            }
        }
    }
    if !app.serves(&pbx).await? {
        return Err(err(StatusCode::NOT_FOUND, format!("no PBX {pbx}")));
    }
    command.requested_by = format!("gateway:{}", claims.sub);
    submit(&app, &pbx, command).await
}

/// `GET /v1/session`: what the token allows, and the pause reasons to offer, for a page to show the buttons
/// that will work (the token's claims are no secret to its holder; the signature is still checked).
pub(super) async fn session(
    State(app): State<Arc<App>>,
    super::http::Auth(claims): super::http::Auth,
) -> Json<serde_json::Value> {
    Json(json!({
        "sub": claims.sub, "pbx": claims.pbx, "agent": claims.agent, "queues": claims.queues,
        "actions": claims.actions, "exp": claims.exp,
        "pause_reasons": app.gateway.pause_reasons, "command_timeout_ms": app.gateway.command_timeout_ms,
    }))
}

/// The token from `Authorization: Bearer` only.
fn bearer(app: &App, headers: &HeaderMap) -> Result<Claims, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| err(StatusCode::UNAUTHORIZED, "a token is required (Authorization: Bearer …)"))?;
    token::verify(&app.secret, token.trim()).map_err(|e| {
        metrics::counter!("queuecast_gateway_refused_tokens_total").increment(1);
        err(StatusCode::UNAUTHORIZED, e.to_string())
    })
}

/// An agent id is a member interface (`PJSIP/1001`, `Local/1003@agents/n`): no empty, `.` or `..` segment,
/// no control character, not longer than the command stream takes.
fn check_agent_id(id: &str) -> Result<(), ApiError> {
    let bad = id.is_empty()
        || id.len() > wire::MAX_NAME_BYTES
        || id.chars().any(char::is_control)
        || id.split('/').any(|s| s.is_empty() || s == "." || s == "..");
    if bad {
        return Err(err(StatusCode::BAD_REQUEST, "not an agent id (a member interface like PJSIP/1001)"));
    }
    Ok(())
}

async fn read_body(
    headers: &HeaderMap,
    body: Body,
    action: Action,
    command: &mut Command,
) -> Result<(), ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(err(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON (Content-Type: application/json)",
        ));
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        err(StatusCode::PAYLOAD_TOO_LARGE, format!("the body must be at most {MAX_BODY_BYTES} bytes"))
    })?;
    let parse_error = |e: serde_json::Error| err(StatusCode::BAD_REQUEST, format!("bad body: {e}"));
    let empty = |q: Option<String>| q.filter(|q| !q.is_empty());
    match action {
        Action::Pause => {
            let b: PauseBody = serde_json::from_slice(&bytes).map_err(parse_error)?;
            command.queue = empty(b.queue);
            command.reason = b.reason.unwrap_or_default();
        }
        Action::Login => {
            let b: LoginBody = serde_json::from_slice(&bytes).map_err(parse_error)?;
            command.queue = empty(Some(b.queue));
            command.penalty = b.penalty;
            command.member_name = b.member_name.unwrap_or_default();
        }
        _ => {
            let b: QueueBody = serde_json::from_slice(&bytes).map_err(parse_error)?;
            command.queue = empty(b.queue);
        }
    }
    command.validate().map_err(|m| err(StatusCode::BAD_REQUEST, m.problem.to_string()))
}

async fn submit(app: &App, pbx: &str, command: Command) -> Result<Response, ApiError> {
    let Ok(_permit) = app.commands.try_acquire() else {
        return Err(err(StatusCode::SERVICE_UNAVAILABLE, "too many commands in flight; try again"));
    };
    let mut settings = app.redis.clone();
    settings.pbx_id = pbx.to_owned();
    let timeout = Duration::from_millis(app.gateway.command_timeout_ms);
    let outcome = crate::commands::submit(&settings, &command, timeout, &app.cancel).await;
    let (status, code, error) = match &outcome {
        Ok(result) => (status_of(result.code), result.code.as_str(), result.error.clone()),
        Err(SubmitError::NoAnswer { .. }) => {
            (StatusCode::GATEWAY_TIMEOUT, "no_answer", outcome_text(&outcome))
        }
        Err(SubmitError::Invalid(m)) => (StatusCode::BAD_REQUEST, "malformed", m.problem.to_string()),
        Err(SubmitError::Cancelled) => {
            (StatusCode::SERVICE_UNAVAILABLE, "shutting_down", outcome_text(&outcome))
        }
        Err(SubmitError::Redis(_)) | Err(SubmitError::BadResult(_)) => {
            tracing::warn!(error = %outcome_text(&outcome), "command not submitted");
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Redis is unavailable".to_owned())
        }
    };
    metrics::counter!("queuecast_gateway_commands_total", "code" => code).increment(1);
    tracing::info!(pbx, id = %command.id, action = %command.action, agent = %command.agent,
        queue = command.queue.as_deref().unwrap_or(""), requested_by = %command.requested_by, code, "command");
    let body = json!({"id": command.id, "ok": code == Code::Done.as_str(), "code": code, "error": error});
    Ok((status, Json(body)).into_response())
}

fn outcome_text(outcome: &Result<crate::commands::CommandResult, SubmitError>) -> String {
    outcome.as_ref().err().map(ToString::to_string).unwrap_or_default()
}

/// DESIGN.md's table: done 200, refused by `[actions]` 403, refused or failed for this request 409.
fn status_of(code: Code) -> StatusCode {
    if code == Code::Done {
        StatusCode::OK
    } else if code.is_forbidden() {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::CONFLICT
    }
}
