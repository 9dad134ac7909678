//! The persistent sealed store of an enclave (the `store` capability), with rollback protection
//! from a platform monotonic counter (as SGX's monotonic counters and TPM NV counters provide).
//!
//! | file | what |
//! |------|------|
//! | `<home>/store/<store id>/state` | the whole key → value map, sealed as one blob (`docs/formats.md`, "Sealed store") |
//! | `<home>/store/<store id>/lock` | empty; locked while a process reads or changes the store |
//! | `<home>/counters/<store id>` | the store's monotonic counter, decimal ASCII |
//!
//! **Identity.** A store belongs to a signer, a product id and a debug mode (the store id hashes
//! the three), and its state is sealed under the signer policy at the writing enclave's svn: an
//! upgraded enclave (higher svn) reads and carries on its predecessors' state, after which they
//! can no longer read it; a downgraded enclave is refused. Debug and production enclaves have
//! separate stores and keys.
//!
//! **Rollback.** Each sealed state carries its version in its authenticated AAD. An update to
//! version N+1 writes the state first, then the counter, then acknowledges; both writes are
//! atomic (temporary file, fsync, rename, fsync directory). Loading accepts a state whose version
//! equals the counter, or is one ahead of it — a crash between the two writes, finished by
//! bumping the counter — and refuses an older one ("rolled back") or one further ahead (the
//! counter was rolled back or the state comes from elsewhere). So a crash at any instant leaves a
//! loadable state, an acknowledged update is never lost, and an unacknowledged one is either
//! applied or not. The counter is a file in the platform home: whoever can roll back the whole
//! home can roll back the store (see `docs/threat-model.md`).

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read as _};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use attest::bundle::VerifiedBundle;
use sealer::blob::{self, BlobKind};
use sealer::{EnclaveIdentity, KeyPolicy};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::files::{sync_dir, write_atomic, Overwrite, Visibility};
use crate::Platform;

/// Largest key: 256 bytes, the ABI's cap.
pub const MAX_KEY: usize = enclave_runtime::abi::MAX_STORE_KEY;
/// Largest value: 64 KiB, the ABI's cap.
pub const MAX_VALUE: usize = enclave_runtime::abi::MAX_STORE_VALUE;
/// Largest encoded state: the largest blob plaintext, 1 MiB.
pub const MAX_STATE: usize = blob::MAX_PLAINTEXT;
/// Length of a state's AAD: the store id and the version.
const STATE_AAD_LEN: usize = 32 + 8;

/// Names one store: SHA-256 of `"enclave/v1 store id" || 0x00 || signer id || product id (u16
/// BE) || debug (1 byte)`. Shown in hex; it names the store's directory and counter file.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreId([u8; 32]);

impl StoreId {
    /// The store of `identity`'s signer, product and debug mode.
    pub fn of(identity: &EnclaveIdentity) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"enclave/v1 store id\0");
        hash.update(identity.signer.as_bytes());
        hash.update(identity.product_id.0.to_be_bytes());
        hash.update([u8::from(identity.debug)]);
        Self(hash.finalize().into())
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        (hex::encode(bytes) == text).then_some(Self(bytes))
    }
}

impl fmt::Display for StoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for StoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreId({self})")
    }
}

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

/// The files of one store.
#[derive(Debug, Clone)]
pub struct StorePaths {
    /// `<home>/store/<id>`.
    pub dir: PathBuf,
    /// `<home>/store/<id>/state`.
    pub state: PathBuf,
    /// `<home>/store/<id>/lock`.
    pub lock: PathBuf,
    /// `<home>/counters/<id>`.
    pub counter: PathBuf,
}

impl StorePaths {
    /// Where the store `id` lives under the platform `home`.
    pub fn new(home: &Path, id: &StoreId) -> Self {
        let dir = home.join("store").join(id.to_string());
        Self {
            state: dir.join("state"),
            lock: dir.join("lock"),
            counter: home.join("counters").join(id.to_string()),
            dir,
        }
    }
}

/// A loaded state: its version and its entries.
#[derive(Default)]
pub struct StoreState {
    /// The version (0 for a store never written).
    pub version: u64,
    /// The entries, in key order; values zeroized on drop.
    pub entries: BTreeMap<Vec<u8>, Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for StoreState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreState")
            .field("version", &self.version)
            .field("entries", &self.entries.len())
            .finish()
    }
}

/// One enclave identity's store on one platform. Opening it does no I/O; every operation takes
/// the store's file lock, reloads the state if another process changed it, and writes changes
/// durably before it returns.
pub struct SealedStore {
    platform: Arc<Platform>,
    identity: EnclaveIdentity,
    id: StoreId,
    paths: StorePaths,
    cached: Option<StoreState>,
    /// The store's file lock while a transaction holds it ([`SealedStore::begin`]).
    held: Option<File>,
}

impl fmt::Debug for SealedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedStore")
            .field("id", &self.id)
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

impl SealedStore {
    /// The store of `identity` on `platform`.
    pub fn new(platform: Arc<Platform>, identity: EnclaveIdentity) -> Self {
        let id = StoreId::of(&identity);
        let paths = StorePaths::new(platform.home(), &id);
        Self {
            platform,
            identity,
            id,
            paths,
            cached: None,
            held: None,
        }
    }

    /// Starts a transaction: takes the store's exclusive file lock (waiting while another
    /// process or transaction holds it) and keeps it until [`SealedStore::end`], so that every
    /// operation in between sees the state the previous one left and no other writer comes
    /// between them. A run of a guest with the `store` capability is one transaction
    /// ([`enclave_runtime::PlatformServices::begin_run`]). Without one, each operation locks on its own.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the lock cannot be taken.
    pub fn begin(&mut self) -> Result<(), StoreError> {
        if self.held.is_none() {
            self.held = Some(self.take_lock()?);
        }
        Ok(())
    }

    /// Ends the transaction: releases the lock. Every change made in it is already durable.
    pub fn end(&mut self) {
        self.held = None;
    }

    /// The store's id.
    pub fn id(&self) -> StoreId {
        self.id
    }

    /// The store's files.
    pub fn paths(&self) -> &StorePaths {
        &self.paths
    }

    /// The value under `key`.
    ///
    /// # Errors
    /// [`StoreError`]: a state that does not load (tampered, rolled back) or an I/O failure.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        check_len("key", key.len(), MAX_KEY)?;
        let _lock = self.lock()?;
        Ok(self.current()?.entries.get(key).cloned())
    }

    /// Stores `value` under `key` durably; returns the new state version.
    ///
    /// # Errors
    /// [`StoreError::TooLarge`] (nothing changed), or a load or write failure.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<u64, StoreError> {
        check_len("key", key.len(), MAX_KEY)?;
        check_len("value", value.len(), MAX_VALUE)?;
        self.update(|entries| {
            entries.insert(key.to_vec(), Zeroizing::new(value.to_vec()));
            true
        })
        .map(|(version, _)| version)
    }

    /// Removes `key` durably; `false` (and nothing written) if it was absent.
    ///
    /// # Errors
    /// A load or write failure.
    pub fn delete(&mut self, key: &[u8]) -> Result<bool, StoreError> {
        check_len("key", key.len(), MAX_KEY)?;
        self.update(|entries| entries.remove(key).is_some())
            .map(|(_, removed)| removed)
    }

    /// Loads the current state (with the rollback checks), for inspection.
    ///
    /// # Errors
    /// As [`SealedStore::get`].
    pub fn load(&mut self) -> Result<&StoreState, StoreError> {
        let _lock = self.lock()?;
        self.current()
    }

    /// Applies `change` to the entries under the lock and, if it changed them, writes the next
    /// version. On any failure the cache is dropped, so the next operation reloads from disk.
    fn update(
        &mut self,
        change: impl FnOnce(&mut BTreeMap<Vec<u8>, Zeroizing<Vec<u8>>>) -> bool,
    ) -> Result<(u64, bool), StoreError> {
        let _lock = self.lock()?;
        self.current()?;
        let mut state = self.cached.take().unwrap_or_default();
        let previous = state.entries.clone();
        if !change(&mut state.entries) {
            let version = state.version;
            self.cached = Some(state);
            return Ok((version, false));
        }
        let encoded = encode_entries(&state.entries);
        if encoded.len() > MAX_STATE {
            state.entries = previous;
            self.cached = Some(state);
            return Err(StoreError::TooLarge {
                what: "state",
                len: encoded.len(),
                max: MAX_STATE,
            });
        }
        let next = state.version.checked_add(1).ok_or(StoreError::Malformed {
            path: self.paths.counter.clone(),
            reason: "counter at its maximum".into(),
        })?;
        self.write_state(&encoded, next)?;
        self.write_counter(next)?;
        state.version = next;
        self.cached = Some(state);
        Ok((next, true))
    }

    /// The state as on disk, reloaded unless the cache is at the counter's version.
    fn current(&mut self) -> Result<&StoreState, StoreError> {
        let counter = read_counter(&self.paths.counter)?;
        if self.cached.as_ref().map(|s| s.version) != Some(counter) {
            if self.cached.is_none() {
                self.remove_leftovers();
            }
            self.cached = None;
            let state = self.load_from_disk(counter)?;
            self.cached = Some(state);
        }
        self.cached.as_ref().ok_or(StoreError::Missing { counter })
    }

    /// Removes the temporary files a process killed in the middle of a state write left in the
    /// store directory. Called under the lock, so no write of this store is in progress. (A
    /// killed counter write can leave one in `counters/`, shared by every store; it is never
    /// read.)
    fn remove_leftovers(&self) {
        let Ok(listing) = fs::read_dir(&self.paths.dir) else {
            return;
        };
        for entry in listing.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(".enclave-tmp-")
            {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    fn load_from_disk(&self, counter: u64) -> Result<StoreState, StoreError> {
        let path = &self.paths.state;
        let bytes = match read_capped(path, blob::MAX_BLOB) {
            Ok(bytes) => bytes,
            Err(StoreError::Io { .. }) if counter == 0 && !exists(path) => {
                return Ok(StoreState::default())
            }
            Err(_) if !exists(path) => return Err(StoreError::Missing { counter }),
            Err(e) => return Err(e),
        };
        let state = open_state(&self.platform, &self.identity, &self.id, path, &bytes)?;
        match state.version {
            v if v == counter => Ok(state),
            // A crash after the state was written and before the counter was: finish the bump.
            v if Some(v) == counter.checked_add(1) => {
                self.write_counter(v)?;
                Ok(state)
            }
            v if v < counter => Err(StoreError::RolledBack { state: v, counter }),
            v => Err(StoreError::AheadOfCounter { state: v, counter }),
        }
    }

    fn write_state(&self, encoded: &[u8], version: u64) -> Result<(), StoreError> {
        let sealed = blob::seal(
            BlobKind::StoreState,
            self.platform.sealing_secret(),
            &self.identity,
            &self.identity.signer_policy(),
            &state_aad(&self.id, version),
            encoded,
        )
        .map_err(|e| StoreError::Refused {
            path: self.paths.state.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(
            &self.paths.state,
            &sealed,
            Visibility::Secret,
            Overwrite::Allow,
        )
        .map_err(|e| io_error(&self.paths.state, &e))
    }

    fn write_counter(&self, value: u64) -> Result<(), StoreError> {
        let path = &self.paths.counter;
        write_atomic(
            path,
            format!("{value}\n").as_bytes(),
            Visibility::Public,
            Overwrite::Allow,
        )
        .map_err(|e| io_error(path, &e))
    }

    /// The store's exclusive lock for one operation: `None` inside a transaction, which holds
    /// it already (a second `flock` through another descriptor would wait for ourselves).
    fn lock(&self) -> Result<Option<File>, StoreError> {
        match self.held {
            Some(_) => Ok(None),
            None => self.take_lock().map(Some),
        }
    }

    /// Creates the directories (0700) and takes the store's exclusive lock, released when the
    /// returned file is dropped (or the process dies).
    fn take_lock(&self) -> Result<File, StoreError> {
        for dir in [&self.paths.dir, &self.platform.home().join("counters")] {
            if !dir.is_dir() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|e| io_error(dir, &e))?;
                if let Some(parent) = dir.parent() {
                    sync_dir(parent).map_err(|e| io_error(parent, &e))?;
                }
            }
        }
        let path = &self.paths.lock;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| io_error(path, &e))?;
        file.lock().map_err(|e| io_error(path, &e))?;
        Ok(file)
    }
}

/// Opens a sealed state file's bytes as `identity` and checks it belongs to store `id`.
fn open_state(
    platform: &Platform,
    identity: &EnclaveIdentity,
    id: &StoreId,
    path: &Path,
    bytes: &[u8],
) -> Result<StoreState, StoreError> {
    let refused = |reason: String| StoreError::Refused {
        path: path.to_owned(),
        reason,
    };
    let opened = blob::open(
        BlobKind::StoreState,
        platform.sealing_secret(),
        identity,
        bytes,
    )
    .map_err(|e| refused(e.to_string()))?;
    if !matches!(opened.policy, KeyPolicy::Signer { .. }) {
        return Err(refused("not sealed under a signer policy".into()));
    }
    let version = parse_state_aad(&opened.aad)
        .filter(|(sealed_id, _)| sealed_id == id)
        .map(|(_, version)| version)
        .ok_or_else(|| refused("sealed for another store".into()))?;
    let entries = decode_entries(&opened.plaintext).map_err(|reason| StoreError::Malformed {
        path: path.to_owned(),
        reason: reason.into(),
    })?;
    Ok(StoreState { version, entries })
}

/// The AAD of a state: store id || version (u64 BE).
fn state_aad(id: &StoreId, version: u64) -> [u8; STATE_AAD_LEN] {
    let mut aad = [0u8; STATE_AAD_LEN];
    let (head, tail) = aad.split_at_mut(32);
    head.copy_from_slice(id.as_bytes());
    tail.copy_from_slice(&version.to_be_bytes());
    aad
}

fn parse_state_aad(aad: &[u8]) -> Option<(StoreId, u64)> {
    let aad: &[u8; STATE_AAD_LEN] = aad.try_into().ok()?;
    let (id, version) = aad.split_at(32);
    Some((
        StoreId(id.try_into().ok()?),
        u64::from_be_bytes(version.try_into().ok()?),
    ))
}

/// The canonical encoding: entry count (u32 BE), then per entry in ascending key order the key
/// length (u16 BE), the key, the value length (u32 BE), the value.
pub fn encode_entries(entries: &BTreeMap<Vec<u8>, Zeroizing<Vec<u8>>>) -> Zeroizing<Vec<u8>> {
    let len = entries
        .iter()
        .map(|(k, v)| 6 + k.len() + v.len())
        .sum::<usize>()
        + 4;
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for (key, value) in entries {
        out.extend_from_slice(&(key.len() as u16).to_be_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value);
    }
    out
}

/// Decodes [`encode_entries`], refusing anything it would not produce: keys out of order or
/// repeated, lengths over the caps, trailing bytes.
///
/// # Errors
/// What is wrong.
pub fn decode_entries(
    mut bytes: &[u8],
) -> Result<BTreeMap<Vec<u8>, Zeroizing<Vec<u8>>>, &'static str> {
    let count = u32::from_be_bytes(take(&mut bytes, 4)?.try_into().map_err(|_| "truncated")?);
    let mut entries = BTreeMap::new();
    let mut last: Option<&[u8]> = None;
    for _ in 0..count {
        let key_len = u16::from_be_bytes(take(&mut bytes, 2)?.try_into().map_err(|_| "truncated")?);
        let key = take(&mut bytes, usize::from(key_len))?;
        if key.len() > MAX_KEY {
            return Err("key longer than 256 bytes");
        }
        if last.is_some_and(|last| last >= key) {
            return Err("keys not in strictly ascending order");
        }
        let value_len =
            u32::from_be_bytes(take(&mut bytes, 4)?.try_into().map_err(|_| "truncated")?);
        let value_len = usize::try_from(value_len).map_err(|_| "value too long")?;
        if value_len > MAX_VALUE {
            return Err("value longer than 64 KiB");
        }
        let value = take(&mut bytes, value_len)?;
        entries.insert(key.to_vec(), Zeroizing::new(value.to_vec()));
        last = Some(key);
    }
    if !bytes.is_empty() {
        return Err("trailing bytes after the entries");
    }
    Ok(entries)
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], &'static str> {
    let (head, tail) = bytes.split_at_checked(n).ok_or("truncated")?;
    *bytes = tail;
    Ok(head)
}

/// A counter file's value; 0 when there is none.
fn read_counter(path: &Path) -> Result<u64, StoreError> {
    let text = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_error(path, &e)),
    };
    parse_counter(&text).ok_or_else(|| StoreError::Malformed {
        path: path.to_owned(),
        reason: "not a decimal counter followed by a newline".into(),
    })
}

fn parse_counter(text: &[u8]) -> Option<u64> {
    let digits = std::str::from_utf8(text.strip_suffix(b"\n")?).ok()?;
    let value: u64 = digits.parse().ok()?;
    (value.to_string() == digits).then_some(value)
}

fn read_capped(path: &Path, cap: usize) -> Result<Vec<u8>, StoreError> {
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

fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

fn check_len(what: &'static str, len: usize, max: usize) -> Result<(), StoreError> {
    if len > max {
        return Err(StoreError::TooLarge { what, len, max });
    }
    Ok(())
}

fn io_error(path: &Path, error: &io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        message: error.to_string(),
    }
}

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
            state_version: claimed_version(&paths.state),
        });
    }
    out.sort_by_key(|status| status.id);
    Ok(out)
}

fn claimed_version(path: &Path) -> Result<Option<u64>, String> {
    if !exists(path) {
        return Ok(None);
    }
    let bytes = read_capped(path, blob::MAX_BLOB).map_err(|e| e.to_string())?;
    let header = blob::read_header(BlobKind::StoreState, &bytes).map_err(|e| e.to_string())?;
    parse_state_aad(header.aad)
        .map(|(_, version)| Some(version))
        .ok_or_else(|| "no version in its header".into())
}

/// What `enclave unseal` found.
#[derive(Debug)]
#[non_exhaustive]
pub enum Inspection {
    /// A sealed blob.
    Blob(blob::Unsealed),
    /// A store state, with the platform counter it is checked against.
    State {
        /// The state.
        state: StoreState,
        /// The counter's value now.
        counter: u64,
    },
}

/// Why `enclave unseal` refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// Only a debug enclave's data may be inspected from outside it.
    #[error("refusing to unseal for a production enclave: only debug enclaves (debug = true) can be inspected, as in SGX debug mode")]
    ProductionEnclave,
    /// The bytes are neither a sealed blob nor a sealed store state.
    #[error("not a sealed blob or sealed store state (bad magic)")]
    UnknownFormat,
    /// The blob does not open for this enclave.
    #[error("sealed blob refused")]
    Blob(#[source] blob::BlobError),
    /// The state does not open for this enclave.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens a sealed blob or store state file for the debug enclave of `bundle` on `platform`.
/// A store state is opened whatever its version, which is reported with the counter.
///
/// # Errors
/// [`InspectError::ProductionEnclave`] for a non-debug bundle, and the blob or state errors.
pub fn inspect(
    platform: &Platform,
    bundle: &VerifiedBundle,
    path: &Path,
    bytes: &[u8],
) -> Result<Inspection, InspectError> {
    let identity = platform.bundle_identity(bundle);
    if !identity.debug {
        return Err(InspectError::ProductionEnclave);
    }
    match BlobKind::detect(bytes) {
        Some(BlobKind::Sealed) => blob::open(
            BlobKind::Sealed,
            platform.sealing_secret(),
            &identity,
            bytes,
        )
        .map(Inspection::Blob)
        .map_err(InspectError::Blob),
        Some(BlobKind::StoreState) => {
            let id = StoreId::of(&identity);
            let state = open_state(platform, &identity, &id, path, bytes)?;
            let counter = read_counter(&StorePaths::new(platform.home(), &id).counter)?;
            Ok(Inspection::State { state, counter })
        }
        _ => Err(InspectError::UnknownFormat),
    }
}

#[cfg(test)]
mod tests;
