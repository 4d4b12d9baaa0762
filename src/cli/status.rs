#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Redis URL (redis://, rediss://, unix://…).
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis: String,
    /// Follow the state live (gap-free snapshot + stream).
    #[arg(long)]
    pub watch: bool,
}

pub fn run(_args: StatusArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`status` is being built (issue 5)")
}
