use std::path::Path;

pub fn run(_config: &Path) -> anyhow::Result<u8> {
    anyhow::bail!("`run` is being built (issue 4/6)")
}
