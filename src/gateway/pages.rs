//! The wallboard (`/`) and the operator panel (`/panel?agent=ID`), compiled into the binary: no build step,
//! nothing from a CDN, no file system access (so no path can reach outside them). They carry no data
//! themselves; their script follows the PBX with the token from the page's own URL (`?token=`).

use super::App;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

const WALLBOARD: &str = include_str!("pages/wallboard.html");
const PANEL: &str = include_str!("pages/panel.html");
const SCRIPT: &str = include_str!("pages/queuecast.js");
const STYLE: &str = include_str!("pages/style.css");

/// Pages may load only their own script and style and talk only to this origin; never framed elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; \
                   connect-src 'self' ws: wss:; img-src 'self'; frame-ancestors 'none'";

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(|| async { page(WALLBOARD, "text/html; charset=utf-8") }))
        .route("/panel", get(|| async { page(PANEL, "text/html; charset=utf-8") }))
        .route("/assets/queuecast.js", get(|| async { page(SCRIPT, "text/javascript; charset=utf-8") }))
        .route("/assets/style.css", get(|| async { page(STYLE, "text/css; charset=utf-8") }))
}

fn page(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The token is in the page's URL: never send it on as a referrer.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
