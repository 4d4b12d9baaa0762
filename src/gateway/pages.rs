//! The wallboard (`/`) and the operator panel (`/panel?agent=ID`), compiled into the binary: no build step,
//! nothing from a CDN, no file system access (so no path can reach outside them). They carry no data
//! themselves; their script follows the PBX with the token from the page's own URL (`?token=`).
//!
//! Both pages share one frame (`pages/frame.html`: head, header bar); a page file holds only what is its
//! own: optional head lines, its `<h1>` line, its `<main>`, then the body of its script.

use super::App;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::{Arc, LazyLock};

const FRAME: &str = include_str!("pages/frame.html");
static WALLBOARD: LazyLock<String> =
    LazyLock::new(|| framed("wallboard", include_str!("pages/wallboard.html")));
static PANEL: LazyLock<String> = LazyLock::new(|| framed("panel", include_str!("pages/panel.html")));
const SCRIPT: &str = include_str!("pages/queuecast.js");
const STYLE: &str = include_str!("pages/style.css");

/// Pages may load only their own script and style and talk only to this origin; never framed elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; \
                   connect-src 'self' ws: wss:; img-src 'self'; frame-ancestors 'none'";

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(|| async { page(&WALLBOARD, "text/html; charset=utf-8") }))
        .route("/panel", get(|| async { page(&PANEL, "text/html; charset=utf-8") }))
        .route("/assets/queuecast.js", get(|| async { page(SCRIPT, "text/javascript; charset=utf-8") }))
        .route("/assets/style.css", get(|| async { page(STYLE, "text/css; charset=utf-8") }))
}

/// `page` set in [`FRAME`]: the lines before its `<h1>` line go into the head, that line into the header
/// bar, its `<main>…</main>` after the bar, and what follows `</main>` is the body of its script.
fn framed(title: &str, page: &str) -> String {
    let at = page.find("  <h1").expect("a page has an <h1> line");
    let (head, rest) = page.split_at(at);
    let (h1, rest) = rest.split_once('\n').expect("a page has a body after its <h1> line");
    let end = rest.find("</main>\n").expect("a page has a </main> line") + "</main>\n".len();
    let (main, script) = rest.split_at(end);
    let mut out = String::with_capacity(FRAME.len() + page.len());
    let mut frame = FRAME;
    for (slot, value) in
        [("{title}", title), ("{head}", head), ("{h1}", h1), ("{main}", main), ("{script}", script)]
    {
        let (before, after) = frame.split_once(slot).expect("the frame has every slot, in order");
        out.push_str(before);
        out.push_str(value);
        frame = after;
    }
    out.push_str(frame);
    out
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
