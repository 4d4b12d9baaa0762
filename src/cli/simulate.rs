//! `queuecast simulate`: the demo call center (queue_log file + fake AMI endpoint).

use queuecast::simulate::model::Scenario;
use queuecast::simulate::{SimulateSettings, run as simulate};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// queue_log file to append to (created if missing).
    #[arg(long, default_value = "queue_log")]
    pub queue_log: PathBuf,
    /// Address of the fake AMI endpoint (5038 is left to a real Asterisk).
    #[arg(long, default_value = "127.0.0.1:15038")]
    pub ami_listen: SocketAddr,
    /// AMI user the endpoint accepts.
    #[arg(long, default_value = "queuecast")]
    pub ami_username: String,
    /// AMI secret the endpoint accepts (plain or MD5 login). A demo value, not a real credential.
    #[arg(long, env = "QUEUECAST_SIM_SECRET", default_value = "demo")]
    pub ami_secret: String,
    /// Queue names, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "support,sales,billing")]
    pub queues: Vec<String>,
    /// Number of agents.
    #[arg(long, default_value_t = 12)]
    pub agents: usize,
    /// Mean incoming calls per minute over all queues (Poisson arrivals), before --speed.
    #[arg(long, default_value_t = 4.0)]
    pub calls_per_minute: f64,
    /// Time compression: 10 plays ten minutes of call center in one (durations shrink, timestamps stay real).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// RNG seed: the same seed plays the same call center.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Stop after this many seconds (default: run until Ctrl-C / SIGTERM).
    #[arg(long)]
    pub duration: Option<u64>,
}

pub fn run(args: SimulateArgs) -> anyhow::Result<u8> {
    // A demo tool: plain text logs on stderr, RUST_LOG honoured.
    queuecast::telemetry::init("info", queuecast::config::LogFormat::Text)?;
    let settings = SimulateSettings {
        scenario: Scenario {
            queues: args.queues.into_iter().filter(|q| !q.trim().is_empty()).collect(),
            agents: args.agents,
            calls_per_minute: args.calls_per_minute,
            speed: args.speed,
            seed: args.seed,
        },
        queue_log: args.queue_log,
        ami_listen: args.ami_listen,
        ami_username: args.ami_username,
        ami_secret: args.ami_secret,
        duration: args.duration.map(Duration::from_secs),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        tokio::spawn(async move {
            wait_for_stop_signal().await;
            stop.cancel();
        });
        simulate(settings, cancel, None).await
    })?;
    Ok(super::EX_OK)
}

/// Ctrl-C or SIGTERM (the demo script stops its children with SIGTERM).
async fn wait_for_stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
