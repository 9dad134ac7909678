//! Reading the files the CLI is given, with the path in every error.

use std::path::Path;

use anyhow::Context as _;

/// Reads a whole file, refusing one larger than `limit` bytes before reading it.
pub fn read_capped(path: &Path, limit: u64, what: &str) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?
        .len();
    anyhow::ensure!(
        size <= limit,
        "{what} {} is {size} bytes, larger than the {limit}-byte limit",
        path.display()
    );
    std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

/// Reads a UTF-8 text file of at most 1 MiB.
pub fn read_text(path: &Path, what: &str) -> anyhow::Result<String> {
    let bytes = read_capped(path, 1 << 20, what)?;
    String::from_utf8(bytes).with_context(|| format!("{what} {} is not UTF-8", path.display()))
}
