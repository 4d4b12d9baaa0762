use std::path::PathBuf;

pub fn ami(_files: &[PathBuf]) -> anyhow::Result<u8> {
    anyhow::bail!("`parse ami` is being built (issue 2)")
}
