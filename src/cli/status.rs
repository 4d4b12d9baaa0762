//! `queuecast status [--watch]`: the live state from Redis as terminal tables; `--watch` follows it with the
//! gap-free protocol (snapshot, then the stream from the snapshot's seq; re-snapshot on resync/epoch/gap).

use anyhow::Context;
use queuecast::config::RedisConfig;
use queuecast::sink::reader::{self, Applied, Hash, StateView};
use queuecast::sink::{Keys, RedisConn, keys::glob_escape, keys::pbx_of_meta_key};
use std::fmt::Write as _;
use std::time::Duration;
use tokio::time::Instant;

/// At most ~4 redraws per second, however fast messages arrive.
const REDRAW_MIN_INTERVAL_MS: u64 = 250;
/// Redraw at least this often so the "since"/"longest wait" timers tick without messages.
const TIMER_REDRAW_MS: u64 = 1_000;
/// Messages read per XREAD.
const XREAD_COUNT: usize = 1_000;
/// `meta.heartbeat_at` is written every second; older than this means no daemon is writing this PBX's state.
const HEARTBEAT_STALE_MS: i64 = 10_000;
/// Exit codes of `status` when it has nothing current to show (DESIGN.md CLI): no state for that PBX …
const EXIT_NO_STATE: u8 = 1;
/// … or state whose heartbeat is stale (shown, with a warning).
const EXIT_STALE: u8 = 2;
/// ANSI: cursor home + clear screen.
const CLEAR: &str = "\x1b[H\x1b[2J";

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Redis URL (redis://, rediss://, unix://…).
    #[arg(long, env = "QUEUECAST_REDIS", default_value = "redis://127.0.0.1:6379")]
    pub redis: String,
    /// Follow the state live (gap-free snapshot + stream).
    #[arg(long)]
    pub watch: bool,
    /// PBX id (default: the only PBX found in Redis, else the host name).
    #[arg(long)]
    pub pbx: Option<String>,
    /// Key prefix.
    #[arg(long, default_value = queuecast::config::DEFAULT_PREFIX)]
    pub prefix: String,
    /// Use the Redis Cluster client.
    #[arg(long)]
    pub cluster: bool,
}

pub fn run(args: StatusArgs) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(status(args))
}

async fn status(args: StatusArgs) -> anyhow::Result<u8> {
    let mut settings = RedisConfig::new(&args.redis);
    settings.prefix = args.prefix.clone();
    settings.cluster = args.cluster;
    let mut conn = RedisConn::connect(&settings).await?;
    let found = pbx_ids(&mut conn, &settings).await?;
    settings.pbx_id = match args.pbx {
        Some(pbx) => pbx,
        None if found.len() == 1 => found[0].clone(),
        None if found.len() > 1 => {
            anyhow::bail!("several PBXes in Redis ({}); choose one with --pbx", found.join(", "))
        }
        None => settings.pbx_id.clone(),
    };
    let keys = settings.keys();
    let view = reader::read_snapshot(&mut conn, &keys).await?;
    if view.meta.is_empty() {
        eprintln!("{}", no_state_hint(&settings, &keys, &found));
        return Ok(EXIT_NO_STATE);
    }
    if !args.watch {
        print!("{}", render(&keys, &view));
        if let Some(hint) = stale_hint(&view) {
            eprintln!("{hint}");
            return Ok(EXIT_STALE);
        }
        return Ok(super::EX_OK);
    }
    tokio::select! {
        result = watch(conn, keys, view) => result.map(|()| super::EX_OK),
        signal = tokio::signal::ctrl_c() => signal.context("waiting for Ctrl-C").map(|()| super::EX_OK),
    }
}

/// Why there is nothing to show: which key was looked for, and which PBX ids this Redis does hold.
fn no_state_hint(settings: &RedisConfig, keys: &Keys, found: &[String]) -> String {
    let url = settings.url.masked();
    let others = if found.is_empty() {
        format!(
            "no PBX at all under prefix {:?}: is queuecast running and writing to this Redis?",
            settings.prefix
        )
    } else {
        format!("PBX ids found: {} (choose one with --pbx)", found.join(", "))
    };
    format!(
        "queuecast status: no state for PBX {:?} in Redis at {url} (no key {}); {others}",
        keys.pbx(),
        keys.meta()
    )
}

/// A warning when `meta.heartbeat_at` is old: the tables show what was last written, not the live state.
fn stale_hint(view: &StateView) -> Option<String> {
    let at = view.meta.get("heartbeat_at").and_then(|t| t.parse::<i64>().ok());
    let age = at.map(|at| queuecast::sink::now_ms() - at);
    match age {
        Some(age) if age <= HEARTBEAT_STALE_MS => None,
        Some(age) => Some(format!(
            "queuecast status: the heartbeat is {} old: no daemon is writing this state (stopped, or cut off from Redis)",
            duration(age)
        )),
        None => {
            Some("queuecast status: meta has no heartbeat_at: no daemon has written this state".to_owned())
        }
    }
}

/// PBX ids with a `meta` key under the prefix (single node: SCAN; a cluster client cannot scan all nodes
/// here, so there the list is empty and `--pbx` or the host name decides).
async fn pbx_ids(conn: &mut RedisConn, settings: &RedisConfig) -> anyhow::Result<Vec<String>> {
    let mut found: Vec<String> = Vec::new();
    if let RedisConn::Single(single) = conn {
        let pattern = format!("{}:{{*}}:meta", glob_escape(&settings.prefix));
        let mut iter: redis::AsyncIter<String> = redis::AsyncCommands::scan_match(single, &pattern)
            .await
            .with_context(|| format!("SCAN {pattern} on {}", settings.url.masked()))?;
        while let Some(key) = futures::StreamExt::next(&mut iter).await {
            let key = key.context("SCAN")?;
            if let Some(pbx) = pbx_of_meta_key(&settings.prefix, &key) {
                found.push(pbx.to_owned());
            }
        }
    }
    found.sort();
    Ok(found)
}

async fn watch(mut conn: RedisConn, keys: Keys, mut view: StateView) -> anyhow::Result<()> {
    let mut last_draw = Instant::now();
    print!("{CLEAR}{}", render(&keys, &view));
    let mut dirty = false;
    loop {
        let block = if dirty { REDRAW_MIN_INTERVAL_MS } else { TIMER_REDRAW_MS };
        let messages = reader::read_stream(&mut conn, &keys, view.seq, XREAD_COUNT, block).await?;
        for msg in &messages {
            match view.apply(msg) {
                Applied::Applied => dirty = true,
                Applied::Skipped => {}
                Applied::NeedSnapshot => {
                    view = reader::read_snapshot(&mut conn, &keys).await?;
                    dirty = true;
                    break;
                }
            }
        }
        let since = last_draw.elapsed();
        if (dirty && since >= Duration::from_millis(REDRAW_MIN_INTERVAL_MS))
            || since >= Duration::from_millis(TIMER_REDRAW_MS)
        {
            view.meta = reader::read_meta(&mut conn, &keys).await?;
            print!("{CLEAR}{}", render(&keys, &view));
            last_draw = Instant::now();
            dirty = false;
        }
    }
}

/// Both tables and a header line.
fn render(keys: &Keys, view: &StateView) -> String {
    let now = queuecast::sink::now_ms();
    let meta = |f: &str| view.meta.get(f).map(String::as_str).unwrap_or("-");
    let heartbeat = view.meta.get("heartbeat_at").and_then(|t| t.parse::<i64>().ok());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "PBX {}  seq {}  epoch {}  ami {}  queue_log {}  heartbeat {} ago  version {}\n",
        keys.pbx(),
        view.seq,
        meta("epoch"),
        meta("ami"),
        meta("queue_log"),
        heartbeat.map_or_else(|| "-".into(), |t| duration(now - t)),
        meta("version"),
    );
    let agent_rows = view.agents.iter().map(|(id, h)| {
        vec![
            id.clone(),
            field(h, "name"),
            field(h, "status"),
            since(h, "status_since", now),
            field(h, "pause_reason"),
            field(h, "calls_answered"),
            field(h, "calls_missed"),
        ]
    });
    table(&mut out, &["AGENT", "NAME", "STATUS", "SINCE", "PAUSE REASON", "ANSWERED", "MISSED"], agent_rows);
    out.push('\n');
    let queue_rows = view.queues.iter().map(|(name, h)| {
        vec![
            name.clone(),
            field(h, "agents_logged_in"),
            field(h, "agents_available"),
            field(h, "agents_paused"),
            field(h, "agents_talking"),
            field(h, "calls_waiting"),
            since(h, "longest_wait_since", now),
            field(h, "answered"),
            field(h, "abandoned"),
            field(h, "timed_out"),
            service_level(h),
        ]
    });
    let headers = [
        "QUEUE",
        "LOGGED IN",
        "AVAIL",
        "PAUSED",
        "TALKING",
        "WAITING",
        "LONGEST",
        "ANSWERED",
        "ABANDONED",
        "TIMED OUT",
        "SL",
    ];
    table(&mut out, &headers, queue_rows);
    out
}

fn field(h: &Hash, name: &str) -> String {
    h.get(name).filter(|v| !v.is_empty()).cloned().unwrap_or_else(|| "-".into())
}

/// Elapsed time since a ms timestamp field.
fn since(h: &Hash, name: &str, now: i64) -> String {
    h.get(name).and_then(|v| v.parse::<i64>().ok()).map_or_else(|| "-".into(), |t| duration(now - t))
}

/// `service_level` is a share (0..1); shown as a percentage.
fn service_level(h: &Hash) -> String {
    match h.get("service_level").and_then(|v| v.parse::<f64>().ok()) {
        Some(share) if share <= 1.0 => format!("{:.0}%", share * 100.0),
        Some(percent) => format!("{percent:.0}%"),
        None => "-".into(),
    }
}

fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn table(out: &mut String, headers: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let rows: Vec<Vec<String>> = rows.collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (cell, w) in cells.zip(&widths) {
            let _ = write!(text, "{cell:<w$}  ");
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(out, &mut headers.iter().copied());
    if rows.is_empty() {
        let _ = writeln!(out, "(none)");
    }
    for row in &rows {
        line(out, &mut row.iter().map(String::as_str));
    }
}
