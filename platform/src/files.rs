//! Files the runtime and CLI write: always atomically (temporary file in the same directory,
//! fsync, rename, fsync the directory), so a crash or a failed run leaves either the old file or
//! the complete new one, never a torn or partial one; secrets are created 0600 from the start.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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
    temp: tempfile::NamedTempFile,
    path: PathBuf,
    visibility: Visibility,
    overwrite: Overwrite,
}

impl AtomicFile {
    /// Starts writing `path`.
    ///
    /// # Errors
    /// `AlreadyExists` when `path` exists and `overwrite` is [`Overwrite::Refuse`]; any error
    /// creating the temporary file.
    pub fn create(path: &Path, visibility: Visibility, overwrite: Overwrite) -> io::Result<Self> {
        refuse_existing(path, overwrite)?;
        let dir = parent(path);
        // NamedTempFile creates the file 0600, so a secret is never readable by others, even
        // for an instant.
        let temp = tempfile::Builder::new()
            .prefix(".enclave-tmp-")
            .tempfile_in(dir)?;
        Ok(Self {
            temp,
            path: path.to_owned(),
            visibility,
            overwrite,
        })
    }

    /// Makes the file appear at its path, complete and durable.
    ///
    /// # Errors
    /// Any I/O error; `AlreadyExists` if another process created the path meanwhile and
    /// overwriting is refused.
    pub fn commit(mut self) -> io::Result<()> {
        self.temp.flush()?;
        if self.visibility == Visibility::Public {
            self.temp
                .as_file()
                .set_permissions(fs::Permissions::from_mode(0o644))?;
        }
        self.temp.as_file().sync_all()?;
        let file = match self.overwrite {
            Overwrite::Allow => self.temp.persist(&self.path),
            Overwrite::Refuse => self.temp.persist_noclobber(&self.path),
        };
        file.map_err(|e| match e.error.kind() {
            io::ErrorKind::AlreadyExists => already_exists(&self.path),
            _ => e.error,
        })?;
        sync_dir(parent(&self.path))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

/// Writes `bytes` to `path` atomically.
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
/// [`Overwrite::Refuse`]: for checking a destination before work that cannot be undone.
///
/// # Errors
/// `AlreadyExists`.
pub fn refuse_existing(path: &Path, overwrite: Overwrite) -> io::Result<()> {
    if overwrite == Overwrite::Refuse && path.symlink_metadata().is_ok() {
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
}
