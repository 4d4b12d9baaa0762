use anyhow::Context as _;
use queuecast::config::Config;
use queuecast::engine::PbxSetup;
use queuecast::replay::{self, Inputs};
use queuecast::sources::queues_conf;
use std::io::Write as _;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// queue_log files to apply, in this order (rotated ones first, then the current one).
    #[arg(long, num_args = 1.., required_unless_present = "ami_capture")]
    pub queue_log: Vec<PathBuf>,
    /// Raw bytes Asterisk sent on one AMI connection; several for several connections, in order.
    #[arg(long, num_args = 1..)]
    pub ami_capture: Vec<PathBuf>,
    /// The daemon's config file: its `[engine]` section (members, queues.conf, time zone) and
    /// `[queue_log] day_starts_at` are taken as the daemon takes them.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print the final state as JSON (default).
    #[arg(long, conflicts_with = "redis")]
    pub json: bool,
    /// Write the final state to this Redis instead.
    #[arg(long)]
    pub redis: Option<String>,
    /// Asterisk queues.conf: wrap-up and service-level seconds per queue, and static members (on top of
    /// what `--config` gives).
    #[arg(long)]
    pub queues_conf: Option<PathBuf>,
    /// The state at this moment (epoch seconds, fractions allowed): later input is not applied, and the
    /// final tick is at this time (wrap-ups end by then); default the last input time. Use it to see the
    /// state as it was, or to compare with a live daemon at the same moment.
    #[arg(long, value_name = "EPOCH")]
    pub until: Option<f64>,
    /// With --redis: the PBX id of the keys (default: the host name, as the daemon).
    #[arg(long, requires = "redis")]
    pub pbx: Option<String>,
    /// With --redis: the key prefix.
    #[arg(long, requires = "redis", default_value = queuecast::config::DEFAULT_PREFIX)]
    pub prefix: String,
    /// Time zone that defines "today" for the counters: an IANA name or `system` (default: the one of
    /// `--config`, else UTC, so the result does not depend on the machine).
    #[arg(long)]
    pub timezone: Option<String>,
}

/// The engine settings and static members: `--config` as the daemon reads it, then `--queues-conf` and
/// `--timezone` on top.
fn engine_setup(
    args: &ReplayArgs,
) -> anyhow::Result<(PbxSetup, Vec<queuecast::normalize::static_members::StaticMember>)> {
    let (mut config, mut static_members) = match &args.config {
        Some(path) => {
            let config = Config::load(path).with_context(|| format!("--config {}", path.display()))?;
            let setup = queuecast::daemon::pbx_files::engine_setup(&config);
            (setup.pbx, setup.static_members)
        }
        None => (PbxSetup { tz: jiff::tz::TimeZone::UTC, ..PbxSetup::default() }, Vec::new()),
    };
    if let Some(name) = &args.timezone {
        config.tz = match name.as_str() {
            "system" => jiff::tz::TimeZone::system(),
            name => jiff::tz::TimeZone::get(name).with_context(|| format!("--timezone {name}"))?,
        };
    }
    if let Some(path) = &args.queues_conf {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
        static_members.extend(queues_conf::apply(&text, &mut config));
    }
    Ok((config, static_members))
}

pub fn run(args: ReplayArgs) -> anyhow::Result<u8> {
    let (config, static_members) = engine_setup(&args)?;
    let inputs = Inputs {
        queue_logs: args.queue_log,
        ami_captures: args.ami_capture,
        static_members,
        until_ms: args.until.map(|s| (s * 1000.0).round() as i64),
    };
    let replayed = replay::replay(config, &inputs)?;
    if replayed.bad_lines > 0 || replayed.bad_messages > 0 {
        eprintln!(
            "queuecast: skipped {} bad queue_log line(s) and {} bad AMI message(s)",
            replayed.bad_lines, replayed.bad_messages
        );
    }
    if let Some(url) = &args.redis {
        let mut settings = queuecast::config::RedisConfig::new(url.as_str());
        settings.prefix = args.prefix;
        if let Some(pbx) = args.pbx {
            settings.pbx_id = pbx;
        }
        return write_redis(&settings, &replayed.engine);
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer(&mut out, &replayed.engine.snapshot()).context("writing JSON")?;
    writeln!(out).context("writing JSON")?;
    out.flush().context("writing JSON")?;
    Ok(crate::cli::EX_OK)
}

/// `--redis`: the final state with the daemon's layout and messages (PBX id = host name), then a `resync`.
fn write_redis(
    settings: &queuecast::config::RedisConfig,
    engine: &queuecast::engine::Engine,
) -> anyhow::Result<u8> {
    use queuecast::sink;
    let updates = sink::render(engine.all_views());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let seq = runtime.block_on(sink::write_snapshot(settings, &updates, sink::Health::default()))?;
    eprintln!(
        "queuecast: wrote {} entities to {} (PBX {}, seq {seq})",
        updates.len(),
        settings.url.masked(),
        settings.pbx_id
    );
    Ok(crate::cli::EX_OK)
}
