//! `enclave platform counters`: every store's counter and the version its state claims, read
//! without any key.

use std::fs;
use std::io;
use std::path::Path;

use sealer::blob;

use super::*;

/// The state of one counter, as `enclave platform counters` shows it. Read without any key:
/// the state's version comes from its AAD, in clear, and is not authenticated here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterStatus {
    /// The store.
    pub id: StoreId,
    /// The counter's value, or why it could not be read.
    pub counter: Result<u64, String>,
    /// The version the state file claims, `None` without a state file, or why it could not be
    /// read.
    pub state_version: Result<Option<u64>, String>,
}

impl CounterStatus {
    /// `ok`, `pending` (a bump to finish at the next load), `rolled back`, `ahead`, `missing`,
    /// `empty` or `unreadable`.
    pub fn verdict(&self) -> &'static str {
        match (&self.counter, &self.state_version) {
            (Ok(c), Ok(Some(v))) if v == c => "ok",
            (Ok(c), Ok(Some(v))) if Some(*v) == c.checked_add(1) => "pending",
            (Ok(c), Ok(Some(v))) if v < c => "rolled back",
            (Ok(_), Ok(Some(_))) => "ahead",
            (Ok(0), Ok(None)) => "empty",
            (Ok(_), Ok(None)) => "missing",
            _ => "unreadable",
        }
    }
}

/// Every counter under the platform `home`, in store id order.
///
/// # Errors
/// [`StoreError::Io`] when the counters directory exists but cannot be listed.
pub fn counters(home: &Path) -> Result<Vec<CounterStatus>, StoreError> {
    let dir = home.join("counters");
    let listing = match fs::read_dir(&dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(&dir, &e)),
    };
    let mut out = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| io_error(&dir, &e))?;
        let Some(id) = entry.file_name().to_str().and_then(StoreId::from_hex) else {
            continue;
        };
        let paths = StorePaths::new(home, &id);
        out.push(CounterStatus {
            id,
            counter: read_counter(&paths.counter).map_err(|e| e.to_string()),
            state_version: claimed_version(&paths),
        });
    }
    out.sort_by_key(|status| status.id);
    Ok(out)
}

/// The version the head claims, read without any key; `None` without a store file or head.
/// Waits for the store's lock, so that no run is half-way through an update.
fn claimed_version(paths: &StorePaths) -> Result<Option<u64>, String> {
    if !exists(&paths.state) {
        return Ok(None);
    }
    let _lock = lock_existing(&paths.lock).map_err(|e| e.to_string())?;
    let sealed = match legacy::is_legacy(&paths.state) {
        Ok(true) => Some(read_capped(&paths.state, blob::MAX_BLOB).map_err(|e| e.to_string())?),
        Ok(false) => read_sealed_head(&paths.state).map_err(|e| e.to_string())?,
        Err(e) => return Err(io_error(&paths.state, &e).to_string()),
    };
    sealed
        .map(|bytes| head::claimed_version(&bytes))
        .transpose()
}

/// The sealed head in the store file at `path`, `None` without one. Opening the file finishes
/// redb's recovery after a crash, which does not change what the file holds.
fn read_sealed_head(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match StoreFile::open(path).map_err(|e| fault_error(path, e))? {
        Some(file) => file.head().map_err(|e| fault_error(path, e)),
        None => Ok(None),
    }
}
