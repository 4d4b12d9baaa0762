#[derive(Debug, clap::Args)]
pub struct SimulateArgs {}

pub fn run(_args: SimulateArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`simulate` is being built (issue 6)")
}
