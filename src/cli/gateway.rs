//! `queuecast gateway` (the HTTP / WebSocket / SSE front end) and `queuecast token` (prints a gateway token).

use super::{EX_CONFIG, EX_OK};
use anyhow::Context;
use queuecast::config::Config;
use queuecast::gateway::token::{self, Claims, PbxClaim};
use queuecast::gateway::{self, GatewayError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Worker threads: fan-out is light per message; two keep one slow snapshot from delaying the others.
const WORKER_THREADS: usize = 2;

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    #[arg(long, short, default_value = super::DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Only this agent and its queues are visible (an operator panel's token).
    #[arg(long)]
    pub agent: Option<String>,
    /// Only these queues (repeatable).
    #[arg(long = "queue")]
    pub queues: Vec<String>,
    /// May send commands (pause, unpause, login, logout).
    #[arg(long)]
    pub actions: bool,
    /// Lifetime: `8h`, `30m`, `7d`, `90s`.
    #[arg(long, default_value = "8h", value_parser = parse_ttl)]
    pub ttl: u64,
    /// PBX ids the token covers (repeatable; default `[gateway] pbx`, else `[redis] pbx_id`).
    #[arg(long = "pbx")]
    pub pbx: Vec<String>,
    /// Who the token is for (the `sub` claim).
    #[arg(long, default_value = "queuecast-token")]
    pub sub: String,
}

/// `8h` → seconds.
fn parse_ttl(text: &str) -> Result<u64, String> {
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = digits.parse().map_err(|_| format!("{text:?}: expected a number and s, m, h or d"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: unit must be s, m, h or d")),
    };
    n.checked_mul(scale).filter(|s| *s > 0).ok_or_else(|| format!("{text:?}: must be positive"))
}

/// The config, and the token key without which the gateway does not start.
fn load(config_path: &Path) -> Result<(Config, Arc<[u8]>), u8> {
    let config = Config::load(config_path).map_err(|err| {
        eprintln!("queuecast: {err}");
        EX_CONFIG
    })?;
    let secret = gateway::token_secret(&config.gateway).map_err(|err| {
        eprintln!("queuecast: {}: {err}", config_path.display());
        EX_CONFIG
    })?;
    Ok((config, secret))
}

pub fn token(args: TokenArgs) -> anyhow::Result<u8> {
    let (config, secret) = match load(&args.config) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let mut pbx = if args.pbx.is_empty() { config.gateway.pbx.clone() } else { args.pbx };
    if pbx.is_empty() {
        pbx.push(config.redis.pbx_id.clone());
    }
    let exp = (queuecast::sink::now_ms() / 1000) as u64 + args.ttl;
    let claims = Claims {
        sub: args.sub,
        exp,
        pbx: if pbx.len() == 1 { PbxClaim::One(pbx.remove(0)) } else { PbxClaim::Many(pbx) },
        agent: args.agent,
        queues: (!args.queues.is_empty()).then_some(args.queues),
        actions: args.actions,
    };
    println!("{}", token::issue(&secret, &claims)?);
    Ok(EX_OK)
}

pub fn run(config_path: &Path) -> anyhow::Result<u8> {
    let (config, _secret) = match load(config_path) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    if let Err(code) = super::init_logging(&config) {
        return Ok(code);
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        config = %config_path.display(),
        listen = %config.gateway.listen,
        redis = %config.redis.url.masked(),
        "starting gateway"
    );
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(WORKER_THREADS).enable_all().build()?;
    runtime.block_on(serve(&config))?;
    Ok(EX_OK)
}

async fn serve(config: &Config) -> anyhow::Result<()> {
    let addr = config.gateway.listen_addr().context("[gateway] listen was validated at load")?;
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|source| GatewayError::Listen { addr, source })?;
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
        tracing::info!("stopping gateway");
        stop.cancel();
    });
    gateway::serve(config, listener, cancel).await.context("gateway")
}
