//! [`StoreError`], and the small file helpers that produce it, below every module of the store.

use std::fs::File;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

/// Why the store refused an operation. Every variant but [`StoreError::TooLarge`] ends the run
/// of a guest that meets it.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A key, a value or the whole state exceeds its cap; nothing changed.
    #[error("{what} is {len} bytes, more than the {max} allowed")]
    TooLarge {
        /// `"key"`, `"value"` or `"state"`.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The state is older than the counter: an old copy was put back.
    #[error(
        "sealed state version {state} is older than the platform counter {counter}: rolled back"
    )]
    RolledBack {
        /// The state's version.
        state: u64,
        /// The counter.
        counter: u64,
    },
    /// The state is more than one version ahead of the counter: the counter was rolled back,
    /// or the state was copied from elsewhere.
    #[error("sealed state version {state} is ahead of the platform counter {counter}: the counter was rolled back or replaced")]
    AheadOfCounter {
        /// The state's version.
        state: u64,
        /// The counter.
        counter: u64,
    },
    /// There is no state but the counter says there was one.
    #[error(
        "sealed state is missing but the platform counter is {counter}: deleted or rolled back"
    )]
    Missing {
        /// The counter.
        counter: u64,
    },
    /// The state file does not open for this enclave: altered, from another platform or store,
    /// or sealed by a newer version of the enclave.
    #[error("{}: sealed state refused: {reason}", .path.display())]
    Refused {
        /// The state file.
        path: PathBuf,
        /// Why (the sealed-blob error).
        reason: String,
    },
    /// A file has the wrong content.
    #[error("{} is malformed: {reason}", .path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {message}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
}

impl StoreError {
    /// The same error with every file named by its path inside the platform `home`
    /// (`store/<id>/state`), or by its file name alone when it is not under `home`: the form a
    /// guest's failure takes when it leaves the platform (a receipt, a failure report, an HTTP
    /// problem), which must not reveal where the platform keeps its files
    /// (`docs/threat-model.md`).
    pub fn relative_to(self, home: &Path) -> Self {
        let relative = |path: PathBuf| -> PathBuf {
            match path.strip_prefix(home) {
                Ok(inside) => inside.to_owned(),
                Err(_) => path.file_name().map(PathBuf::from).unwrap_or_default(),
            }
        };
        match self {
            Self::Refused { path, reason } => Self::Refused {
                path: relative(path),
                reason,
            },
            Self::Malformed { path, reason } => Self::Malformed {
                path: relative(path),
                reason,
            },
            Self::Io { path, message } => Self::Io {
                path: relative(path),
                message,
            },
            other => other,
        }
    }
}

pub(super) fn read_capped(path: &Path, cap: usize) -> Result<Vec<u8>, StoreError> {
    let file = File::open(path).map_err(|e| io_error(path, &e))?;
    let mut bytes = Vec::new();
    file.take(cap as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, &e))?;
    if bytes.len() > cap {
        return Err(StoreError::Malformed {
            path: path.to_owned(),
            reason: format!("larger than {cap} bytes"),
        });
    }
    Ok(bytes)
}

pub(super) fn check_len(what: &'static str, len: usize, max: usize) -> Result<(), StoreError> {
    if len > max {
        return Err(StoreError::TooLarge { what, len, max });
    }
    Ok(())
}

pub(super) fn io_error(path: &Path, error: &io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        message: error.to_string(),
    }
}
