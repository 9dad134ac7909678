//! Files the runtime and CLI write: always atomically (temporary file in the same directory,
//! fsync, rename, fsync the directory), so a crash or a failed run leaves either the old file or
//! the complete new one, never a torn or partial one; secrets are created 0600 from the start.
//!
//! A destination that exists and is not a regular file (a character device such as `/dev/null`,
//! a FIFO, a socket), directly or through a symbolic link, is never replaced: it is opened and
//! written in place, with or without [`Overwrite::Allow`].
//!
//! A temporary file is named `.enclave-tmp-` followed by random characters and is held under an
//! exclusive advisory lock (`flock`) by the process writing it; the kernel releases the lock when
//! that process dies, even of `kill -9`. Before creating a temporary file in a directory, stale
//! ones are removed there: a regular file with that prefix, modified more than
//! [`STALE_AFTER`] ago, whose lock can be taken (so no live process is writing it).

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The prefix of every temporary file, by which stale ones are recognised.
pub const TEMP_PREFIX: &str = ".enclave-tmp-";

/// How old an unlocked temporary file must be before it is removed as stale: a margin for the
/// instant between a writer creating its temporary file and locking it.
pub const STALE_AFTER: Duration = Duration::from_secs(60);

/// Who may read a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// 0644.
    Public,
    /// 0600: keys, secrets, client contexts.
    Secret,
}

/// Whether an existing file may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Fail with `AlreadyExists`.
    Refuse,
    /// Replace it atomically.
    Allow,
}

/// A file being written; it appears at its path only on [`AtomicFile::commit`]. Dropping it
/// uncommitted removes the temporary file.
#[derive(Debug)]
pub struct AtomicFile {
    target: Target,
    path: PathBuf,
    visibility: Visibility,
    overwrite: Overwrite,
}

/// Where the bytes of an [`AtomicFile`] go.
#[derive(Debug)]
enum Target {
    /// A temporary file renamed over the path on commit.
    Temp(tempfile::NamedTempFile),
    /// An existing device, FIFO or socket, written in place and never replaced.
    InPlace(File),
}

impl AtomicFile {
    /// Starts writing `path`.
    ///
    /// # Errors
    /// `AlreadyExists` when `path` exists and `overwrite` is [`Overwrite::Refuse`]; any error
    /// creating the temporary file.
    pub fn create(path: &Path, visibility: Visibility, overwrite: Overwrite) -> io::Result<Self> {
        let target = match open_in_place(path)? {
            Some(file) => Target::InPlace(file),
            None => {
                refuse_existing(path, overwrite)?;
                Target::Temp(temp_file_in(parent(path))?)
            }
        };
        Ok(Self {
            target,
            path: path.to_owned(),
            visibility,
            overwrite,
        })
    }

    /// Whether the destination is a device, FIFO or socket written in place.
    pub fn is_in_place(&self) -> bool {
        matches!(self.target, Target::InPlace(_))
    }

    /// Makes the file appear at its path, complete and durable.
    ///
    /// # Errors
    /// Any I/O error; `AlreadyExists` if another process created the path meanwhile and
    /// overwriting is refused.
    pub fn commit(self) -> io::Result<()> {
        match self.target {
            Target::InPlace(mut file) => file.flush(),
            Target::Temp(mut temp) => {
                temp.flush()?;
                if self.visibility == Visibility::Public {
                    temp.as_file()
                        .set_permissions(fs::Permissions::from_mode(0o644))?;
                }
                temp.as_file().sync_all()?;
                persist(temp, &self.path, self.overwrite)
            }
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.target {
            Target::Temp(temp) => temp.write(buf),
            Target::InPlace(file) => file.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.target {
            Target::Temp(temp) => temp.flush(),
            Target::InPlace(file) => file.flush(),
        }
    }
}

/// Renames a complete, synced temporary file over `path` and syncs the directory, after
/// checking again that `path` has not become a device, FIFO or socket meanwhile (such a path is
/// never replaced).
///
/// # Errors
/// Any I/O error; `AlreadyExists` (naming `--force`) when `path` exists and `overwrite` is
/// [`Overwrite::Refuse`]; `InvalidInput` when `path` is now a device, FIFO or socket.
pub fn persist(temp: tempfile::NamedTempFile, path: &Path, overwrite: Overwrite) -> io::Result<()> {
    if is_special(path) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} became a device, FIFO or socket while it was written: not replaced",
                path.display()
            ),
        ));
    }
    let file = match overwrite {
        Overwrite::Allow => temp.persist(path),
        Overwrite::Refuse => temp.persist_noclobber(path),
    };
    file.map_err(|e| match e.error.kind() {
        io::ErrorKind::AlreadyExists => already_exists(path),
        _ => e.error,
    })?;
    sync_dir(parent(path))
}

/// Opens `path` for writing in place when it exists and is, directly or through symbolic links,
/// a character or block device, a FIFO or a socket; `None` when it is anything else (absent, a
/// regular file, a directory, a dangling link), which is written atomically instead.
///
/// # Errors
/// Any error opening the device, FIFO or socket.
pub fn open_in_place(path: &Path) -> io::Result<Option<File>> {
    if !is_special(path) {
        return Ok(None);
    }
    // No O_CREAT and no O_TRUNC: the file exists and is not a regular file.
    fs::OpenOptions::new().write(true).open(path).map(Some)
}

/// Whether `path` exists and is, following links, neither a regular file nor a directory.
fn is_special(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// A temporary file in `dir`, 0600 (so a secret is never readable by others, even for an
/// instant), exclusively locked while this process lives; stale ones in `dir` are removed first
/// (see the module's documentation).
///
/// # Errors
/// Any error creating or locking the file.
pub fn temp_file_in(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    remove_stale_temp_files(dir, SystemTime::now());
    let temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)?;
    temp.as_file().try_lock().map_err(io::Error::from)?;
    Ok(temp)
}

/// Removes the stale temporary files in `dir`: named with [`TEMP_PREFIX`], regular, modified
/// more than [`STALE_AFTER`] before `now`, and not locked by any process. Best effort: a file
/// that cannot be examined is left alone. Returns how many were removed.
pub fn remove_stale_temp_files(dir: &Path, now: SystemTime) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let named = entry
            .file_name()
            .as_encoded_bytes()
            .starts_with(TEMP_PREFIX.as_bytes());
        // The lock is held while the file is removed.
        if let Some(_locked) = named.then(|| lock_if_stale(&path, now)).flatten() {
            removed += usize::from(fs::remove_file(&path).is_ok());
        }
    }
    removed
}

/// The file at `path`, locked, when it is regular (not followed through a link), old enough,
/// and no process holds its lock.
fn lock_if_stale(path: &Path, now: SystemTime) -> Option<File> {
    let metadata = fs::symlink_metadata(path).ok()?;
    let age = now.duration_since(metadata.modified().ok()?).ok()?;
    if !metadata.file_type().is_file() || age <= STALE_AFTER {
        return None;
    }
    // Read-only is enough to take the lock; the file is regular, so opening it does not block.
    let file = File::open(path).ok()?;
    file.try_lock().ok()?;
    Some(file)
}

/// Writes `bytes` to `path` atomically (a device, FIFO or socket in place).
///
/// # Errors
/// As [`AtomicFile::create`] and [`AtomicFile::commit`].
pub fn write_atomic(
    path: &Path,
    bytes: &[u8],
    visibility: Visibility,
    overwrite: Overwrite,
) -> io::Result<()> {
    let mut file = AtomicFile::create(path, visibility, overwrite)?;
    file.write_all(bytes)?;
    file.commit()
}

/// Fails with `AlreadyExists` (naming `--force`) when `path` exists and `overwrite` is
/// [`Overwrite::Refuse`], unless it is a device, FIFO or socket (written in place): for checking
/// a destination before work that cannot be undone.
///
/// # Errors
/// `AlreadyExists`.
pub fn refuse_existing(path: &Path, overwrite: Overwrite) -> io::Result<()> {
    if overwrite == Overwrite::Refuse && path.symlink_metadata().is_ok() && !is_special(path) {
        return Err(already_exists(path));
    }
    Ok(())
}

/// Flushes a directory so a rename inside it survives a crash.
///
/// # Errors
/// Any I/O error opening or syncing it.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn already_exists(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{} already exists (use --force to replace it)",
            path.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_files_are_0600_and_public_0644() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("k");
        write_atomic(&secret, b"s", Visibility::Secret, Overwrite::Refuse).unwrap();
        assert_eq!(
            fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let public = dir.path().join("p");
        write_atomic(&public, b"p", Visibility::Public, Overwrite::Refuse).unwrap();
        assert_eq!(
            fs::metadata(&public).unwrap().permissions().mode() & 0o777,
            0o644
        );
    }

    #[test]
    fn refuses_to_overwrite_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_atomic(&path, b"one", Visibility::Public, Overwrite::Refuse).unwrap();
        let err = write_atomic(&path, b"two", Visibility::Public, Overwrite::Refuse).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"one");
        write_atomic(&path, b"two", Visibility::Public, Overwrite::Allow).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
    }

    #[test]
    fn uncommitted_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut file = AtomicFile::create(&path, Visibility::Public, Overwrite::Refuse).unwrap();
        file.write_all(b"partial").unwrap();
        drop(file);
        assert!(!path.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// A symbolic link to `/dev/null` in a temporary directory: writing "to" it must write
    /// through it, never replace it (nor, through it, the device).
    #[test]
    fn a_device_is_written_in_place_never_replaced() {
        use std::os::unix::fs::FileTypeExt as _;
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("null");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        for overwrite in [Overwrite::Refuse, Overwrite::Allow] {
            write_atomic(&link, b"gone", Visibility::Secret, overwrite).unwrap();
            assert!(fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink());
            assert!(fs::metadata(&link).unwrap().file_type().is_char_device());
        }
        assert!(fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_fifo_is_written_in_place() {
        use std::os::unix::fs::FileTypeExt as _;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("out.fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(fifo).unwrap())
        };
        write_atomic(&fifo, b"through", Visibility::Public, Overwrite::Allow).unwrap();
        assert_eq!(reader.join().unwrap(), b"through");
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
    }

    /// Stale: named so, old, unlocked. A fresh one, a locked one (a live writer) and a file of
    /// another name stay.
    #[test]
    fn stale_temporary_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let old = SystemTime::now() - STALE_AFTER - Duration::from_secs(1);
        let make = |name: &str, modified: SystemTime| {
            let file = File::create(dir.path().join(name)).unwrap();
            file.set_modified(modified).unwrap();
            file
        };
        drop(make(".enclave-tmp-stale", old));
        drop(make(".enclave-tmp-fresh", SystemTime::now()));
        drop(make("other", old));
        let live = make(".enclave-tmp-live", old);
        live.lock().unwrap();
        // The lock is per open file: the cleaner's own open sees it held.
        assert_eq!(remove_stale_temp_files(dir.path(), SystemTime::now()), 1);
        let mut left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [".enclave-tmp-fresh", ".enclave-tmp-live", "other"]);
        // Writing a file into the directory cleans it the same way.
        drop(live);
        write_atomic(
            &dir.path().join("new"),
            b"n",
            Visibility::Public,
            Overwrite::Refuse,
        )
        .unwrap();
        assert!(!dir.path().join(".enclave-tmp-live").exists());
    }
}
