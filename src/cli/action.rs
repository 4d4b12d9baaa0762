//! `queuecast action pause|unpause|login|logout|penalty --agent ID …`: writes one command to the daemon's
//! command stream and waits for its result (DESIGN.md "Commands from panels"), with the same client the
//! gateway uses.

use super::{EX_CONFIG, EX_OK, EX_UNAVAILABLE};
use queuecast::commands::{self, Action, Command, SubmitError, wire::new_id};
use queuecast::config::Config;
use queuecast::sink::RedisSettings;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Refused by the daemon or failed on the PBX.
const EXIT_REFUSED: u8 = 1;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ActionArg {
    Pause,
    Unpause,
    Login,
    Logout,
    Penalty,
}

impl From<ActionArg> for Action {
    fn from(a: ActionArg) -> Self {
        match a {
            ActionArg::Pause => Action::Pause,
            ActionArg::Unpause => Action::Unpause,
            ActionArg::Login => Action::Login,
            ActionArg::Logout => Action::Logout,
            ActionArg::Penalty => Action::Penalty,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ActionArgs {
    /// What to do.
    #[arg(value_enum)]
    pub action: ActionArg,
    /// The agent: its id as in Redis (the member interface, e.g. PJSIP/1001); login takes an interface.
    #[arg(long)]
    pub agent: String,
    /// The queue; without it pause, unpause, logout and penalty apply to every queue of the agent.
    #[arg(long)]
    pub queue: Option<String>,
    /// Pause reason.
    #[arg(long)]
    pub reason: Option<String>,
    /// Penalty (penalty: required; login: optional).
    #[arg(long)]
    pub penalty: Option<u32>,
    /// login: the member name Asterisk shows.
    #[arg(long)]
    pub member_name: Option<String>,
    /// Config to take `[redis]` from (URL, credentials, prefix, PBX id).
    #[arg(long, short, default_value = super::DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Redis URL instead of the config's `[redis]` (prefix default, PBX id from --pbx or the host name).
    #[arg(long, env = "QUEUECAST_REDIS")]
    pub redis: Option<String>,
    /// PBX id with --redis (default: the host name).
    #[arg(long, requires = "redis")]
    pub pbx: Option<String>,
    /// How long to wait for the daemon's answer.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
}

pub fn run(args: ActionArgs) -> anyhow::Result<u8> {
    let settings = match redis_settings(&args) {
        Ok(settings) => settings,
        Err(code) => return Ok(code),
    };
    let command = command(&args);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let timeout = Duration::from_millis(args.timeout_ms);
    let outcome = runtime.block_on(commands::submit(&settings, &command, timeout, &CancellationToken::new()));
    Ok(match outcome {
        Ok(result) if result.ok() => {
            println!("{} {}: done", command.action, command.agent);
            EX_OK
        }
        Ok(result) => {
            eprintln!("queuecast: {} {}: {}: {}", command.action, command.agent, result.code, result.error);
            EXIT_REFUSED
        }
        Err(err @ SubmitError::Invalid(_)) => {
            eprintln!("queuecast: {err}");
            EXIT_REFUSED
        }
        Err(err @ (SubmitError::NoAnswer { .. } | SubmitError::Redis(_) | SubmitError::Cancelled)) => {
            eprintln!("queuecast: {err} (is `queuecast run` running for this PBX, with [actions] and AMI?)");
            EX_UNAVAILABLE
        }
        Err(err @ SubmitError::BadResult(_)) => {
            eprintln!("queuecast: {err}");
            EXIT_REFUSED
        }
    })
}

fn redis_settings(args: &ActionArgs) -> Result<RedisSettings, u8> {
    if let Some(url) = &args.redis {
        let mut settings = RedisSettings::new(url);
        if let Some(pbx) = &args.pbx {
            settings.pbx_id = pbx.clone();
        }
        return Ok(settings);
    }
    match Config::load(&args.config) {
        Ok(config) => Ok(queuecast::daemon::settings::redis(&config)),
        Err(err) => {
            eprintln!("queuecast: {err}");
            Err(EX_CONFIG)
        }
    }
}

fn command(args: &ActionArgs) -> Command {
    let ts = jiff::Timestamp::now().as_millisecond();
    let mut command = Command::new(new_id(), args.action.into(), args.agent.clone(), ts);
    command.queue = args.queue.clone().filter(|q| !q.is_empty());
    command.reason = args.reason.clone().unwrap_or_default();
    command.penalty = args.penalty;
    command.member_name = args.member_name.clone().unwrap_or_default();
    command.requested_by = format!("cli:{}", user());
    command
}

/// Who runs the command, for the daemon's audit line.
fn user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}
