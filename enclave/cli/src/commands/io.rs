//! The files the CLI is given and writes, with the path in every error, under one convention
//! for every command (docs/cli.md, "Files"): `-` is standard input or output; an input is opened
//! once and its length never taken from the metadata of anything but a regular file, so FIFOs,
//! `<(…)` and `/dev/stdin` work; a regular output is written atomically, a device, FIFO or
//! socket in place and never replaced.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use enclave_platform::files::{AtomicFile, Overwrite, Visibility};
use zeroize::Zeroizing;

/// A file argument: a path, or `-` for standard input (of an input) or standard output (of an
/// output). A file named `-` is `./-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FileArg {
    /// `-`.
    Stdio,
    /// Any other path.
    Path(PathBuf),
}

impl From<std::ffi::OsString> for FileArg {
    fn from(text: std::ffi::OsString) -> Self {
        if text == "-" {
            Self::Stdio
        } else {
            Self::Path(PathBuf::from(text))
        }
    }
}

impl FileArg {
    /// The path, `None` for `-`.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Stdio => None,
            Self::Path(path) => Some(path),
        }
    }

    /// How an output is named in messages.
    pub fn output_name(&self) -> String {
        self.path()
            .map_or_else(|| "standard output".into(), |p| p.display().to_string())
    }
}

/// Whether standard input was already taken by a `-` argument: it can be read once.
static STDIN_TAKEN: AtomicBool = AtomicBool::new(false);

/// An input opened exactly once.
pub struct InputFile {
    /// The file; `None` for standard input.
    file: Option<File>,
    /// The size of a regular file; `None` for standard input, a pipe, a FIFO, a device.
    pub len: Option<u64>,
    /// Its name in messages.
    pub name: String,
}

impl InputFile {
    /// Opens `arg` (`-`: standard input, at most once per command).
    ///
    /// # Errors
    /// A usage error for a second `-`; any error opening the file, naming it as `what`.
    pub fn open(arg: &FileArg, what: &str) -> anyhow::Result<Self> {
        let Some(path) = arg.path() else {
            if STDIN_TAKEN.swap(true, Ordering::SeqCst) {
                return Err(super::exit::usage(
                    "standard input (-) is given as two inputs: it can be read once",
                ));
            }
            return Ok(Self {
                file: None,
                len: None,
                name: "standard input".into(),
            });
        };
        let cannot = || format!("cannot read {what} {}", path.display());
        let file = File::open(path).with_context(cannot)?;
        let metadata = file.metadata().with_context(cannot)?;
        anyhow::ensure!(
            !metadata.is_dir(),
            "cannot read {what} {}: it is a directory",
            path.display()
        );
        Ok(Self {
            file: Some(file),
            len: metadata.is_file().then_some(metadata.len()),
            name: path.display().to_string(),
        })
    }

    /// Its bytes.
    pub fn into_reader(self) -> Box<dyn Read + Send> {
        match self.file {
            Some(file) => Box::new(file),
            None => Box::new(std::io::stdin()),
        }
    }

    /// Reads it whole, refusing it past `limit` bytes (read one byte past the limit at most).
    ///
    /// # Errors
    /// An input over the limit; any read error.
    pub fn read_capped(self, limit: u64, what: &str) -> anyhow::Result<Vec<u8>> {
        let name = self.name.clone();
        if let Some(size) = self.len {
            anyhow::ensure!(
                size <= limit,
                "{what} {name} is {size} bytes, larger than the {limit}-byte limit"
            );
        }
        let mut bytes = Vec::new();
        self.into_reader()
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {what} {name}"))?;
        anyhow::ensure!(
            bytes.len() as u64 <= limit,
            "{what} {name} is larger than the {limit}-byte limit"
        );
        Ok(bytes)
    }

    /// A regular file as it is; anything else copied into an unnamed temporary file first, so
    /// that its length is known and it can be read again (for `call`, whose sealed upload
    /// declares its length). Returns the file and its length.
    ///
    /// # Errors
    /// Any read or write error.
    pub fn into_seekable(self, what: &str) -> anyhow::Result<(File, u64)> {
        if let (Some(file), Some(len)) = (&self.file, self.len) {
            return Ok((file.try_clone()?, len));
        }
        let name = self.name.clone();
        let cannot = || format!("cannot read {what} {name}");
        let mut spool = tempfile::tempfile().with_context(cannot)?;
        let mut reader = self.into_reader();
        let len = std::io::copy(&mut reader, &mut spool).with_context(cannot)?;
        std::io::Seek::rewind(&mut spool).with_context(cannot)?;
        Ok((spool, len))
    }
}

/// An output: standard output, or a file written atomically (a device, FIFO or socket in place).
pub enum OutputFile {
    /// `-`.
    Stdout(File),
    /// A path.
    File(AtomicFile),
}

impl OutputFile {
    /// Starts writing `arg`.
    ///
    /// # Errors
    /// `AlreadyExists` (naming `--force`) for an existing regular file without it; any error
    /// creating the file or duplicating standard output.
    pub fn create(
        arg: &FileArg,
        visibility: Visibility,
        overwrite: Overwrite,
    ) -> anyhow::Result<Self> {
        let name = arg.output_name();
        match arg.path() {
            None => Ok(Self::Stdout(
                stdout_file().with_context(|| format!("cannot write {name}"))?,
            )),
            Some(path) => Ok(Self::File(
                AtomicFile::create(path, visibility, overwrite)
                    .with_context(|| format!("cannot write {name}"))?,
            )),
        }
    }

    /// Whether what is written cannot be taken back: standard output, or a FIFO, device or
    /// socket written in place (no temporary file to discard).
    pub fn is_in_place(&self) -> bool {
        match self {
            Self::Stdout(_) => true,
            Self::File(file) => file.is_in_place(),
        }
    }

    /// Finishes: flushes standard output, or makes the file appear at its path.
    ///
    /// # Errors
    /// Any I/O error.
    pub fn commit(self) -> std::io::Result<()> {
        match self {
            Self::Stdout(mut out) => out.flush(),
            Self::File(file) => file.commit(),
        }
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Stdout(out) => out.write(buf),
            Self::File(file) => file.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Stdout(out) => out.flush(),
            Self::File(file) => file.flush(),
        }
    }
}

/// Plaintext being opened, which reaches its destination only once authenticated: standard
/// output gets it from memory at the end, a file is committed (renamed into place) at the end.
pub enum Unauthenticated {
    /// Standard output: held until authenticated.
    Held(zeroize::Zeroizing<Vec<u8>>),
    /// A file, committed only once authenticated.
    File(OutputFile),
}

impl Unauthenticated {
    /// Releases the plaintext: prints it, or commits the file.
    ///
    /// # Errors
    /// Any I/O error.
    pub fn finish(self) -> std::io::Result<()> {
        use std::io::Write as _;
        match self {
            Self::Held(bytes) => {
                let mut stdout = stdout_file()?;
                stdout.write_all(&bytes)?;
                stdout.flush()
            }
            Self::File(file) => file.commit(),
        }
    }
}

impl std::io::Write for Unauthenticated {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Held(bytes) => bytes.write(buf),
            Self::File(file) => file.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Held(_) => Ok(()),
            Self::File(file) => file.flush(),
        }
    }
}

/// Writes `bytes` to `arg` as [`OutputFile`] does.
///
/// # Errors
/// As [`OutputFile::create`] and [`OutputFile::commit`].
pub fn write_output(
    arg: &FileArg,
    bytes: &[u8],
    visibility: Visibility,
    overwrite: Overwrite,
) -> anyhow::Result<()> {
    let mut out = OutputFile::create(arg, visibility, overwrite)?;
    out.write_all(bytes)
        .and_then(|()| out.commit())
        .with_context(|| format!("cannot write {}", arg.output_name()))
}

/// Checks before work that cannot be undone that `arg` may be written: `AlreadyExists` for an
/// existing regular file without `--force`.
///
/// # Errors
/// `AlreadyExists`.
pub fn refuse_existing(arg: &FileArg, overwrite: Overwrite) -> std::io::Result<()> {
    match arg.path() {
        Some(path) => enclave_platform::files::refuse_existing(path, overwrite),
        None => Ok(()),
    }
}

/// Standard output as a file, unbuffered: `Stdout` is line-buffered, which scans binary data
/// for newlines and splits its writes at them.
pub fn stdout_file() -> std::io::Result<File> {
    use std::os::fd::AsFd as _;
    Ok(File::from(std::io::stdout().as_fd().try_clone_to_owned()?))
}

/// Reads a whole file (`-`: standard input), refusing one larger than `limit` bytes: before
/// reading it when it is a regular file, else at the first byte past the limit.
pub fn read_capped(path: &Path, limit: u64, what: &str) -> anyhow::Result<Vec<u8>> {
    InputFile::open(&FileArg::from(path.as_os_str().to_owned()), what)?.read_capped(limit, what)
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
    // Evidence or a receipt: a tagged COSE_Sign1 whose claims name their profile.
    let names = |profile: &str| {
        bytes
            .windows(profile.len())
            .any(|w| w == profile.as_bytes())
    };
    if bytes.starts_with(&[0xd2, 0x84])
        && (names(attest::evidence::EVIDENCE_PROFILE) || names(attest::receipt::RECEIPT_PROFILE))
    {
        return Err(super::exit::Explained {
            message: format!(
                "{path} is attestation evidence or an execution receipt, not a bundle: check \
                 evidence with enclave verify, a receipt with enclave verify-receipt {path} \
                 --root root.pem",
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
/// Dropping it uncommitted removes the temporary file. A device, FIFO or socket is written in
/// place, as `AtomicFile` does (docs/cli.md, "Files").
#[derive(Debug)]
pub struct DurableFile {
    target: DurableTarget,
    path: std::path::PathBuf,
    overwrite: Overwrite,
}

#[derive(Debug)]
enum DurableTarget {
    Temp {
        temp: tempfile::NamedTempFile,
        unsynced: u64,
        writeback: Option<Writeback>,
    },
    /// A device, FIFO or socket, written in place (opened once: a FIFO's reader sees the end
    /// when it is closed).
    InPlace(File),
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
    pub fn create(path: &Path, overwrite: Overwrite) -> std::io::Result<Self> {
        let target = if let Some(file) = enclave_platform::files::open_in_place(path)? {
            DurableTarget::InPlace(file)
        } else {
            enclave_platform::files::refuse_existing(path, overwrite)?;
            let temp = enclave_platform::files::temp_file_in(parent(path))?;
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
            DurableTarget::Temp {
                temp,
                unsynced: 0,
                writeback: Some(Writeback { wake, thread }),
            }
        };
        Ok(Self {
            target,
            path: path.to_owned(),
            overwrite,
        })
    }

    /// Waits for the helper's last sync, syncs the rest, and makes the file appear at its path.
    ///
    /// # Errors
    /// Any I/O error, including one of the helper's syncs; `AlreadyExists` if another process
    /// created the path meanwhile and overwriting is refused.
    pub fn commit(self) -> std::io::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::PermissionsExt as _;
        let (mut temp, writeback) = match self.target {
            DurableTarget::InPlace(mut file) => return file.flush(),
            DurableTarget::Temp {
                temp, writeback, ..
            } => (temp, writeback),
        };
        temp.flush()?;
        if let Some(Writeback { wake, thread }) = writeback {
            drop(wake);
            thread
                .join()
                .map_err(|_| std::io::Error::other("writeback thread panicked"))??;
        }
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
        temp.as_file().sync_all()?;
        enclave_platform::files::persist(temp, &self.path, self.overwrite)
    }
}

impl std::io::Write for DurableFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (temp, unsynced, writeback) = match &mut self.target {
            DurableTarget::InPlace(file) => return file.write(buf),
            DurableTarget::Temp {
                temp,
                unsynced,
                writeback,
            } => (temp, unsynced, writeback),
        };
        let n = temp.write(buf)?;
        *unsynced = unsynced.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        if *unsynced >= WRITEBACK_STEP {
            if let Some(writeback) = writeback {
                // Full means a sync is already pending, which will cover these bytes too.
                let _ = writeback.wake.try_send(());
            }
            *unsynced = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.target {
            DurableTarget::InPlace(file) => file.flush(),
            DurableTarget::Temp { temp, .. } => temp.flush(),
        }
    }
}

/// The directory of `path` (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}
