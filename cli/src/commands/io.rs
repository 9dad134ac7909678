//! Reading the files the CLI is given, with the path in every error.

use std::fs::File;
use std::io::Read as _;
use std::path::Path;

use anyhow::Context as _;
use zeroize::Zeroizing;

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

/// Reads a signed bundle (at most the bundle size cap), refusing a plain wasm module with what
/// to do instead.
pub fn read_bundle_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = read_capped(path, attest::bundle::MAX_BUNDLE_BYTES as u64, "bundle")?;
    if bytes.starts_with(b"\0asm") {
        return Err(super::exit::Explained {
            message: format!(
                "{path} is a wasm module, not a signed bundle: sign it first \
                 (enclave sign {path} --key author.key --manifest enclave.toml -o app.enclave)",
                path = path.display()
            ),
            code: super::exit::BUNDLE_REFUSED,
        }
        .into());
    }
    Ok(bytes)
}

/// Reads a UTF-8 text file of at most 1 MiB.
pub fn read_text(path: &Path, what: &str) -> anyhow::Result<String> {
    let bytes = read_capped(path, 1 << 20, what)?;
    String::from_utf8(bytes).with_context(|| format!("{what} {} is not UTF-8", path.display()))
}

/// Reads a private key file (PEM, at most 1 MiB, zeroized on drop), refusing it, as ssh does,
/// when group or others have any access to it. The mode is read from the opened file, so the
/// file checked is the file read.
pub fn read_private_key(path: &Path, what: &str) -> anyhow::Result<Zeroizing<String>> {
    use std::os::unix::fs::PermissionsExt as _;
    const LIMIT: u64 = 1 << 20;
    let cannot_read = || format!("cannot read {what} {}", path.display());
    let file = File::open(path).with_context(cannot_read)?;
    let metadata = file.metadata().with_context(cannot_read)?;
    let mode = metadata.permissions().mode() & 0o7777;
    anyhow::ensure!(
        mode & 0o077 == 0,
        "{what} {path} has mode {mode:04o}: a private key must not be accessible by group or \
         others (chmod 600 {path})",
        path = path.display()
    );
    anyhow::ensure!(
        metadata.len() <= LIMIT,
        "{what} {} is {} bytes, larger than the {LIMIT}-byte limit",
        path.display(),
        metadata.len()
    );
    // Capacity for the whole file, so that no unzeroized copy is left behind by a reallocation.
    let mut text = Zeroizing::new(String::with_capacity(
        usize::try_from(metadata.len()).unwrap_or(0),
    ));
    file.take(LIMIT)
        .read_to_string(&mut text)
        .with_context(cannot_read)?;
    Ok(text)
}

/// Payloads above this size get a progress bar (on a terminal).
const PROGRESS_THRESHOLD: u64 = 8 << 20;

/// `reader`, counting towards a progress bar on standard error when that is a terminal and
/// `len` is large; otherwise `reader` unchanged.
pub fn with_progress<R: std::io::Read + Send + 'static>(
    reader: R,
    len: u64,
    what: &str,
) -> Box<dyn std::io::Read + Send> {
    use std::io::IsTerminal as _;
    if len < PROGRESS_THRESHOLD || !std::io::stderr().is_terminal() {
        return Box::new(reader);
    }
    let bar = indicatif::ProgressBar::new(len).with_message(what.to_owned());
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg:>8} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    Box::new(bar.wrap_read(reader))
}
