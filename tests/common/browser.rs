//! Headless Chromium (Debian's `chromium`) driven over WebDriver by `chromedriver` on a private port: the
//! browser the page tests use.

#![allow(dead_code)]

use super::redis::free_port;
use base64::Engine as _;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Start-up and reconnects on a loaded 2-core machine.
pub const SLOW_DEADLINE: Duration = Duration::from_secs(30);

/// chromedriver on a private port, killed on drop.
pub struct Driver {
    child: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Driver {
    pub async fn start() -> Self {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver must be installed (apt-get install chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + SLOW_DEADLINE;
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1600,900",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}}});
        let reply: Value =
            http.post(format!("{base}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let session =
            reply["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {reply}")).to_owned();
        Self { child, base, session, http, _profile: profile }
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method.clone(), url);
        if method != reqwest::Method::GET {
            request = request.json(&body);
        }
        let reply: Value = request.send().await.unwrap().json().await.unwrap();
        reply["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", json!({"url": url})).await;
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub async fn js(&self, script: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", json!({"script": script, "args": []})).await
    }

    /// Polls `script` until it returns `want` or `deadline` passes; returns how long it took.
    pub async fn until(&self, script: &str, want: Value, deadline: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let got = self.js(script).await;
            if got == want {
                return start.elapsed();
            }
            assert!(start.elapsed() < deadline, "page never showed {want} for `{script}` (last: {got})");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A real click (WebDriver element click: scrolled into view, hit-tested) on the first match of `css`.
    pub async fn click(&self, css: &str) {
        let found = self
            .call(reqwest::Method::POST, "/element", json!({"using": "css selector", "value": css}))
            .await;
        let id = found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned();
        let clicked = self.call(reqwest::Method::POST, &format!("/element/{id}/click"), json!({})).await;
        assert!(clicked.is_null(), "click on {css}: {clicked}");
    }

    /// Opens the operator panel at `url` and waits until it shows an available agent with its buttons.
    pub async fn open_panel(&self, url: &str) {
        self.goto(url).await;
        self.until("return document.getElementById('actions').hidden", json!(false), SLOW_DEADLINE).await;
        self.until("return document.getElementById('status').textContent", json!("available"), SLOW_DEADLINE)
            .await;
    }

    /// Picks `reason`, clicks Pause and waits for the panel's "paused (reason)": when it clicked, and how
    /// long the answer took.
    pub async fn pause_in_panel(&self, reason: &str) -> (Instant, Duration) {
        self.click(&format!("#pause-reason option[value=\"{reason}\"]")).await;
        let clicked = Instant::now();
        self.click("#do-pause").await;
        let result = "return document.getElementById('action-result').textContent";
        self.until(result, json!(format!("paused ({reason})")), SLOW_DEADLINE).await;
        (clicked, clicked.elapsed())
    }

    pub async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let data = self.call(reqwest::Method::GET, "/screenshot", Value::Null).await;
        let png = base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap()).unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
