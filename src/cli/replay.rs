use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// queue_log file to apply.
    #[arg(long)]
    pub queue_log: PathBuf,
    /// Raw bytes Asterisk sent on one AMI connection.
    #[arg(long)]
    pub ami_capture: Option<PathBuf>,
    /// Print the final state as JSON (default).
    #[arg(long, conflicts_with = "redis")]
    pub json: bool,
    /// Write the final state to this Redis instead.
    #[arg(long)]
    pub redis: Option<String>,
}

pub fn run(_args: ReplayArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`replay` is being built (issue 3)")
}
