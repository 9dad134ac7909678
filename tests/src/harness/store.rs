//! The operator's hands on an enclave's sealed store: where it lives in the platform home
//! ([`Harness::store_paths`]), a snapshot of its state file and platform counter, putting a
//! snapshot back (both, or the state alone), deleting both (a reset), and the store error that
//! ended a run. The files are `<home>/store/<id>/state` and `<home>/counters/<id>`
//! (`docs/formats.md`, "Sealed store"); the id depends on the enclave's signer, product and debug
//! bit, so every svn of one product shares a store.

use std::path::Path;

use enclave_platform::store::{SealedStore, StoreError, StorePaths};
use enclave_runtime::{Enclave, GuestFault, RunError};

use super::{Harness, HarnessError};

/// A copy of one store's files at one moment: the sealed state and the platform counter, each
/// `None` when it did not exist (a store never written).
#[derive(Clone)]
pub struct StoreSnapshot {
    paths: StorePaths,
    state: Option<Vec<u8>>,
    counter: Option<Vec<u8>>,
}

impl std::fmt::Debug for StoreSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSnapshot")
            .field("state_bytes", &self.state.as_ref().map(Vec::len))
            .field("counter", &self.version())
            .finish()
    }
}

impl StoreSnapshot {
    /// The counter value it holds (the store's version), 0 for a store never written.
    pub fn version(&self) -> u64 {
        parse_counter(self.counter.as_deref())
    }

    /// The sealed state file's bytes, if there was one.
    pub fn state(&self) -> Option<&[u8]> {
        self.state.as_deref()
    }
}

fn parse_counter(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, HarnessError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn write_optional(path: &Path, bytes: Option<&[u8]>) -> Result<(), HarnessError> {
    match bytes {
        Some(bytes) => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, bytes)?;
        }
        None => remove_optional(path)?,
    }
    Ok(())
}

fn remove_optional(path: &Path) -> Result<(), HarnessError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

impl Harness {
    /// The files of `enclave`'s sealed store on this platform.
    pub fn store_paths(&self, enclave: &Enclave) -> StorePaths {
        self.store(enclave).paths().clone()
    }

    /// `enclave`'s sealed store on this platform, to read as the platform does
    /// (`store.load()?.entries`): a test's window into the state a guest left.
    pub fn store(&self, enclave: &Enclave) -> SealedStore {
        SealedStore::new(self.platform.clone(), self.platform.identity(enclave))
    }

    /// The store's version: the platform counter (0 for a store never written).
    ///
    /// # Errors
    /// [`HarnessError::Io`] when the counter cannot be read.
    pub fn store_version(&self, enclave: &Enclave) -> Result<u64, HarnessError> {
        Ok(parse_counter(
            read_optional(&self.store_paths(enclave).counter)?.as_deref(),
        ))
    }

    /// A copy of `enclave`'s store state and counter now (no run may be in progress).
    ///
    /// # Errors
    /// [`HarnessError::Io`].
    pub fn store_snapshot(&self, enclave: &Enclave) -> Result<StoreSnapshot, HarnessError> {
        let paths = self.store_paths(enclave);
        Ok(StoreSnapshot {
            state: read_optional(&paths.state)?,
            counter: read_optional(&paths.counter)?,
            paths,
        })
    }

    /// Puts `snapshot` back, state and counter: the store is as it was then, and (this being a
    /// simulator whose counter is a file the operator can write) the platform cannot tell.
    ///
    /// # Errors
    /// [`HarnessError::Io`].
    pub fn store_restore(&self, snapshot: &StoreSnapshot) -> Result<(), HarnessError> {
        write_optional(&snapshot.paths.state, snapshot.state.as_deref())?;
        write_optional(&snapshot.paths.counter, snapshot.counter.as_deref())
    }

    /// Puts back only the state of `snapshot`, keeping the current counter: the rollback the
    /// platform detects ([`StoreError::RolledBack`]).
    ///
    /// # Errors
    /// [`HarnessError::Io`].
    pub fn store_restore_state_only(&self, snapshot: &StoreSnapshot) -> Result<(), HarnessError> {
        write_optional(&snapshot.paths.state, snapshot.state.as_deref())
    }

    /// Deletes `enclave`'s sealed state and its counter: the store starts empty at version 0.
    ///
    /// # Errors
    /// [`HarnessError::Io`].
    pub fn store_reset(&self, enclave: &Enclave) -> Result<(), HarnessError> {
        let paths = self.store_paths(enclave);
        remove_optional(&paths.state)?;
        remove_optional(&paths.counter)
    }
}

/// The platform's store error inside a run's error, if the run ended on one
/// (`RunError::Fault(GuestFault::Store(_))`).
pub fn store_error(error: &RunError) -> Option<&StoreError> {
    match error {
        RunError::Fault(GuestFault::Store(fault)) => fault.downcast_ref::<StoreError>(),
        _ => None,
    }
}
