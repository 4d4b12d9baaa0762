//! Command-line surface (DESIGN.md "CLI"). Each subcommand lives in its own file.

mod action;
mod check_config;
mod gateway;
mod man;
mod parse;
mod replay;
mod run;
mod simulate;
mod status;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Logging as the config sets it up. No log exists yet to report a bad filter or format to, so stderr says
/// it, and the caller exits with this code (78, a config error).
fn init_logging(config: &queuecast::config::Config) -> Result<queuecast::telemetry::LogHandle, u8> {
    queuecast::telemetry::init(&config.log.level, config.log.format).map_err(|err| {
        eprintln!("queuecast: logging: {err}");
        EX_CONFIG
    })
}

/// Default config location of the packaged daemon.
pub const DEFAULT_CONFIG: &str = "/etc/queuecast/queuecast.toml";

/// sysexits.h: successful termination.
pub const EX_OK: u8 = 0;
/// sysexits.h EX_UNAVAILABLE: a required service is unreachable (only with fail-fast).
pub const EX_UNAVAILABLE: u8 = 69;
/// Any other error (README "Exit codes"), e.g. the metrics port cannot be bound.
pub const EX_FAILURE: u8 = 1;
/// sysexits.h EX_CONFIG: bad configuration.
pub const EX_CONFIG: u8 = 78;

#[derive(Debug, Parser)]
#[command(
    name = "queuecast",
    version,
    about = "Live Asterisk queue state (queue_log + AMI) published to Redis",
    long_about = "Live Asterisk queue state (queue_log + AMI) published to Redis.\n\n\
        queuecast runs on the Asterisk host: it follows Asterisk's queue_log file and the AMI event \
        stream, keeps one consistent live state of queue agents, queues and calls, and writes it to Redis \
        hashes, publishing every change on Redis pub/sub and a replayable stream, so that wallboards and \
        CRM panels show live queue figures without polling the PBX. `queuecast run` is the daemon \
        (systemd unit queuecast.service)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon.
    Run {
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Validate the config and print the effective config with secrets masked (exit 0 or 78).
    CheckConfig {
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Parse queue_log or AMI capture files and print one JSON object per item.
    Parse {
        #[command(subcommand)]
        what: ParseWhat,
    },
    /// Apply inputs to the end and print the final state (or write it to Redis).
    Replay(replay::ReplayArgs),
    /// Show the live state from Redis as terminal tables.
    Status(status::StatusArgs),
    /// Play a simulated call center into a queue_log file and a fake AMI endpoint (demo).
    Simulate(simulate::SimulateArgs),
    /// Serve the live state over HTTP, WebSocket and SSE, with a wallboard and an operator panel.
    Gateway {
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Print a gateway token (JWT HS256 signed with `[gateway] token_secret`).
    Token(gateway::TokenArgs),
    /// Ask the daemon to pause, unpause, log in or out, or set the penalty of an agent, and wait for the
    /// result (exit 0 done, 1 refused or failed, 69 no answer in time).
    Action(action::ActionArgs),
    /// Write the man pages (queuecast.1 and one per subcommand) into DIR; used by packaging/build.sh.
    #[command(hide = true)]
    Man { dir: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum ParseWhat {
    /// queue_log files: one JSON object per line.
    QueueLog {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Raw AMI captures (bytes Asterisk sent): one JSON object per message.
    Ami {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config } => run::run(&config),
        Command::CheckConfig { config } => check_config::run(&config),
        Command::Parse { what: ParseWhat::QueueLog { files } } => parse::queue_log(&files),
        Command::Parse { what: ParseWhat::Ami { files } } => parse::ami(&files),
        Command::Replay(args) => replay::run(args),
        Command::Status(args) => status::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Gateway { config } => gateway::run(&config),
        Command::Token(args) => gateway::token(args),
        Command::Action(args) => action::run(args),
        Command::Man { dir } => man(&dir),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("queuecast: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The man pages are generated from the same clap definitions as `--help`, so the two never disagree.
fn man(dir: &std::path::Path) -> anyhow::Result<u8> {
    use anyhow::Context;
    use clap::CommandFactory;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    man::write_all(Cli::command(), dir).with_context(|| format!("writing man pages to {}", dir.display()))?;
    Ok(EX_OK)
}
