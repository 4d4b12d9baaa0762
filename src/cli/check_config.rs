use std::path::Path;

pub fn run(_config: &Path) -> anyhow::Result<u8> {
    anyhow::bail!("`check-config` is being built (issue 6)")
}
