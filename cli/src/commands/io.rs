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

/// Written data is handed to the disk in steps of this size while the file is still being
/// written.
const WRITEBACK_STEP: u64 = 32 << 20;

/// A file that appears at its path only on [`DurableFile::commit`], complete and durable, like
/// `enclave_platform::files::AtomicFile` — but whose data goes to the disk while it is being
/// written: every [`WRITEBACK_STEP`] bytes a helper thread syncs what is written so far
/// (`fdatasync` on a second handle), so the final `fsync` finds little left to write and a
/// durable seal costs about the larger of the encryption and the disk time, not their sum.
/// Dropping it uncommitted removes the temporary file.
#[derive(Debug)]
pub struct DurableFile {
    temp: tempfile::NamedTempFile,
    path: std::path::PathBuf,
    overwrite: enclave_platform::files::Overwrite,
    unsynced: u64,
    writeback: Option<Writeback>,
}

/// The helper thread that syncs, and how to wake it.
#[derive(Debug)]
struct Writeback {
    wake: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
}

impl DurableFile {
    /// Starts writing `path` (mode 0644 once committed).
    ///
    /// # Errors
    /// `AlreadyExists` when `path` exists and overwriting is refused; any error creating the
    /// temporary file or starting the helper thread.
    pub fn create(
        path: &Path,
        overwrite: enclave_platform::files::Overwrite,
    ) -> std::io::Result<Self> {
        enclave_platform::files::refuse_existing(path, overwrite)?;
        let temp = tempfile::Builder::new()
            .prefix(".enclave-tmp-")
            .tempfile_in(parent(path))?;
        let handle = temp.as_file().try_clone()?;
        // One pending wake-up at most: a sync started later covers everything written before.
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("writeback".into())
            .spawn(move || {
                for () in woken {
                    handle.sync_data()?;
                }
                Ok(())
            })?;
        Ok(Self {
            temp,
            path: path.to_owned(),
            overwrite,
            unsynced: 0,
            writeback: Some(Writeback { wake, thread }),
        })
    }

    /// Waits for the helper's last sync, syncs the rest, and makes the file appear at its path.
    ///
    /// # Errors
    /// Any I/O error, including one of the helper's syncs; `AlreadyExists` if another process
    /// created the path meanwhile and overwriting is refused.
    pub fn commit(mut self) -> std::io::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::PermissionsExt as _;
        self.temp.flush()?;
        if let Some(Writeback { wake, thread }) = self.writeback.take() {
            drop(wake);
            thread
                .join()
                .map_err(|_| std::io::Error::other("writeback thread panicked"))??;
        }
        self.temp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
        self.temp.as_file().sync_all()?;
        let persisted = match self.overwrite {
            enclave_platform::files::Overwrite::Allow => self.temp.persist(&self.path),
            enclave_platform::files::Overwrite::Refuse => self.temp.persist_noclobber(&self.path),
        };
        persisted.map_err(|e| match e.error.kind() {
            // The platform's own wording, which names --force.
            std::io::ErrorKind::AlreadyExists => {
                let refuse = enclave_platform::files::Overwrite::Refuse;
                enclave_platform::files::refuse_existing(&self.path, refuse)
                    .err()
                    .unwrap_or(e.error)
            }
            _ => e.error,
        })?;
        enclave_platform::files::sync_dir(parent(&self.path))
    }
}

impl std::io::Write for DurableFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.temp.write(buf)?;
        self.unsynced = self
            .unsynced
            .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        if self.unsynced >= WRITEBACK_STEP {
            if let Some(writeback) = &self.writeback {
                // Full means a sync is already pending, which will cover these bytes too.
                let _ = writeback.wake.try_send(());
            }
            self.unsynced = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.temp.flush()
    }
}

/// The directory of `path` (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}
