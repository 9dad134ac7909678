//! The persistent sealed store of an enclave (the `store` capability), with rollback protection
//! from a platform monotonic counter (as SGX's monotonic counters and TPM NV counters provide).
//!
//! | file | what |
//! |------|------|
//! | `<home>/store/<store id>/state` | a redb database: one sealed record per entry, a Merkle tree over them, the sealed head (`docs/formats.md`, "Sealed store") |
//! | `<home>/store/<store id>/lock` | empty; locked while a process reads or changes the store |
//! | `<home>/counters/<store id>` | the store's monotonic counter, decimal ASCII |
//!
//! **Layout.** A keyed PRF of each key puts its entry in one of 65,536 buckets; each non-empty
//! bucket is one record, sealed with AES-256-GCM (`record`); a fixed-shape Merkle tree over
//! the buckets (`tree`) has its root in the head, the one sealed blob, which also holds the
//! version the counter checks and the store's random data key (`head`). A read checks one
//! path of the tree and one bucket record; an update rewrites one record, one path and the
//! head, in one redb transaction (`database`). So both cost what they touch (a bucket holds
//! about n / 65,536 entries), not the size of the store. The first write at a newer TCB level
//! rotates the data key, re-sealing every record.
//!
//! **Identity.** A store belongs to a signer, a product id and a debug mode (the store id hashes
//! the three), and its head is sealed under the signer policy at the writing enclave's svn: an
//! upgraded enclave (higher svn) reads and carries on its predecessors' state, after which they
//! can no longer open the head, hence no key; a downgraded enclave is refused. Debug and
//! production enclaves have separate stores and keys.
//!
//! **Rollback.** Each head carries its version in its authenticated AAD and the root of every
//! entry. An update to version N+1 commits the records, the tree and the head in one durable
//! redb transaction, then writes the counter (temporary file, fsync, rename, fsync directory),
//! then acknowledges. Loading accepts a head whose version equals the counter, or is one ahead
//! of it — a crash between the two writes, finished by bumping the counter — and refuses an
//! older one ("rolled back") or one further ahead (the counter was rolled back or the store
//! comes from elsewhere). An old record or node put back into the file does not match the root
//! and is refused when read. So a crash at any instant leaves a loadable store, an acknowledged
//! update is never lost, and an unacknowledged one is either applied or not. The counter is a
//! file in the platform home: whoever can roll back the whole home can roll back the store (see
//! `docs/threat-model.md`).

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use attest::receipt::StoreVersion;
use sealer::EnclaveIdentity;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::files::{sync_dir, write_atomic, Overwrite, Visibility};
use crate::Platform;

mod counters;
mod database;
mod error;
mod fault;
mod head;
mod id;
mod inspect;
mod legacy;
mod record;
mod tree;
mod v2;

pub use counters::{counters, CounterStatus};
use database::StoreFile;
pub use error::StoreError;
use error::{check_len, io_error, read_capped};
use fault::Fault;
use head::Head;
pub use id::{StoreId, StoreState, MAX_KEY, MAX_STATE, MAX_VALUE};
pub use inspect::{inspect, InspectError, Inspection};
pub use record::{decode_entries, encode_entries};
use record::{DataKey, StoreKeys};

/// Records sealed under one data key before the next write rotates it: half the 2^32 that NIST
/// SP 800-38D allows AES-GCM with random 96-bit nonces.
const ROTATE_AFTER: u64 = 1 << 31;

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

/// One enclave identity's store on one platform. Creating it does no I/O; every operation takes
/// the store's file lock (unless a transaction holds it), loads and checks the sealed head
/// against the platform counter, and writes changes durably before it returns.
pub struct SealedStore {
    context: Context,
    /// The store's lock and what was loaded under it, while a transaction holds it
    /// ([`SealedStore::begin`]).
    held: Option<Held>,
}

/// What a store is, apart from what is loaded.
struct Context {
    platform: Arc<Platform>,
    identity: EnclaveIdentity,
    id: StoreId,
    paths: StorePaths,
}

/// A transaction's hold on the store. Fields drop in order: the database closes before the lock
/// is released.
struct Held {
    loaded: Option<Loaded>,
    _lock: File,
}

/// The store as loaded under its lock: the open file (none before the first update), the head
/// checked against the counter, and the keys derived from it. Valid while the lock is held.
struct Loaded {
    file: Option<StoreFile>,
    head: Head,
    keys: StoreKeys,
}

impl Loaded {
    /// Compacts the open file if it has grown far beyond its data
    /// ([`StoreFile::compact_if_sparse`]).
    fn compact(&mut self, path: &Path) {
        if let Some(file) = &mut self.file {
            file.compact_if_sparse(path, self.head.bytes);
        }
    }
}

impl fmt::Debug for SealedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedStore")
            .field("id", &self.context.id)
            .field("paths", &self.context.paths)
            .finish_non_exhaustive()
    }
}

impl SealedStore {
    /// The store of `identity` on `platform`.
    pub fn new(platform: Arc<Platform>, identity: EnclaveIdentity) -> Self {
        let id = StoreId::of(&identity);
        let paths = StorePaths::new(platform.home(), &id);
        Self {
            context: Context {
                platform,
                identity,
                id,
                paths,
            },
            held: None,
        }
    }

    /// Starts a transaction: takes the store's exclusive file lock (waiting while another
    /// process or transaction holds it) and keeps it until [`SealedStore::end`], so that every
    /// operation in between sees the state the previous one left and no other writer comes
    /// between them. The store is loaded (and its head checked) at the first operation and kept
    /// open until the end. A run of a guest with the `store` capability is one transaction
    /// ([`enclave_runtime::PlatformServices::begin_run`]). Without one, each operation locks
    /// and loads on its own.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the lock cannot be taken.
    pub fn begin(&mut self) -> Result<(), StoreError> {
        if self.held.is_none() {
            self.held = Some(Held {
                loaded: None,
                _lock: self.context.take_lock()?,
            });
        }
        Ok(())
    }

    /// Ends the transaction: compacts the file if updates have left it mostly free space,
    /// closes the store and releases the lock. Every change made in it is already durable.
    pub fn end(&mut self) {
        if let Some(Held {
            loaded: Some(loaded),
            ..
        }) = &mut self.held
        {
            loaded.compact(&self.context.paths.state);
        }
        self.held = None;
    }

    /// The store's id.
    pub fn id(&self) -> StoreId {
        self.context.id
    }

    /// The store's files.
    pub fn paths(&self) -> &StorePaths {
        &self.context.paths
    }

    /// The value under `key`. Reads and checks one path of the Merkle tree and one bucket.
    ///
    /// # Errors
    /// [`StoreError`]: a store that does not load (tampered, rolled back), a record or node that
    /// does not match the sealed root, or an I/O failure.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        check_len("key", key.len(), MAX_KEY)?;
        self.with_loaded(|context, loaded| match &loaded.file {
            Some(file) => file
                .get(&loaded.head, &loaded.keys, key)
                .map_err(|e| context.fault(e)),
            None => Ok(None),
        })
    }

    /// Stores `value` under `key` durably; returns the new state version.
    ///
    /// # Errors
    /// [`StoreError::TooLarge`] (nothing changed), or a load, check or write failure.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<u64, StoreError> {
        check_len("key", key.len(), MAX_KEY)?;
        check_len("value", value.len(), MAX_VALUE)?;
        self.with_loaded(|context, loaded| context.change(loaded, [(key, Some(value))]))
            .map(|(version, _)| version)
    }

    /// Stores every `(key, value)` pair, in order, as one durable update (one version): for
    /// loading data in bulk. Returns the new state version.
    ///
    /// # Errors
    /// As [`SealedStore::put`]; on any error nothing changed.
    pub fn put_all(&mut self, entries: &[(&[u8], &[u8])]) -> Result<u64, StoreError> {
        for (key, value) in entries {
            check_len("key", key.len(), MAX_KEY)?;
            check_len("value", value.len(), MAX_VALUE)?;
        }
        let changes = entries.iter().map(|(key, value)| (*key, Some(*value)));
        self.with_loaded(|context, loaded| context.change(loaded, changes))
            .map(|(version, _)| version)
    }

    /// Removes `key` durably; `false` (and nothing written) if it was absent.
    ///
    /// # Errors
    /// A load, check or write failure.
    pub fn delete(&mut self, key: &[u8]) -> Result<bool, StoreError> {
        check_len("key", key.len(), MAX_KEY)?;
        self.with_loaded(|context, loaded| context.change(loaded, [(key, None)]))
            .map(|(_, changed)| changed)
    }

    /// The store's version and head digest (`docs/formats.md`, "Execution receipt": SHA-256
    /// of `"enclave/v1 store head" || 0x00 || store id || version (u64 BE) || Merkle root`),
    /// loading the store (with the rollback checks) if the transaction has not yet.
    ///
    /// # Errors
    /// As [`SealedStore::get`].
    pub fn version(&mut self) -> Result<StoreVersion, StoreError> {
        self.with_loaded(|context, loaded| {
            let mut hash = Sha256::new();
            hash.update(b"enclave/v1 store head\0");
            hash.update(context.id.as_bytes());
            hash.update(loaded.head.version.to_be_bytes());
            hash.update(loaded.head.root);
            Ok(StoreVersion {
                version: loaded.head.version,
                head: hash.finalize().into(),
            })
        })
    }

    /// Loads the current state (with the rollback checks) and every entry, after checking the
    /// whole tree against the sealed root: for inspection, O(entries).
    ///
    /// # Errors
    /// As [`SealedStore::get`].
    pub fn load(&mut self) -> Result<StoreState, StoreError> {
        self.with_loaded(|context, loaded| {
            let entries = match &loaded.file {
                Some(file) => file
                    .audit(&loaded.head, &loaded.keys)
                    .map_err(|e| context.fault(e))?,
                None => BTreeMap::new(),
            };
            Ok(StoreState {
                version: loaded.head.version,
                entries,
            })
        })
    }

    /// Runs `operation` on the loaded store: the transaction's, loaded at its first operation,
    /// or one loaded under the lock for this operation alone. After a failure the transaction's
    /// load is dropped, so the next operation loads again from disk.
    fn with_loaded<T>(
        &mut self,
        operation: impl FnOnce(&Context, &mut Loaded) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let context = &self.context;
        let Some(held) = &mut self.held else {
            let _lock = context.take_lock()?;
            let mut loaded = context.load()?;
            let result = operation(context, &mut loaded);
            loaded.compact(&context.paths.state);
            return result;
        };
        let loaded = match &mut held.loaded {
            Some(loaded) => loaded,
            slot @ None => slot.insert(context.load()?),
        };
        let result = operation(context, loaded);
        if matches!(result, Err(ref e) if !matches!(e, StoreError::TooLarge { .. })) {
            held.loaded = None;
        }
        result
    }
}

impl Context {
    /// Opens the store file and checks its head against the counter (see the module docs). A
    /// store in an earlier format is rewritten in the current one first.
    fn load(&self) -> Result<Loaded, StoreError> {
        let counter = read_counter(&self.paths.counter)?;
        if legacy::is_legacy(&self.paths.state).map_err(|e| io_error(&self.paths.state, &e))? {
            // The old state is checked against the counter as it always was (a pending bump is
            // finished first), then replaced in the current format.
            let state = legacy::read(&self.platform, &self.identity, &self.id, &self.paths.state)?;
            self.check_version(state.version, counter)?;
            self.replace(state.version, &state.entries)?;
        }
        let file = StoreFile::open(&self.paths.state).map_err(|e| self.fault(e))?;
        let sealed = match &file {
            Some(file) => file.head().map_err(|e| self.fault(e))?,
            None => None,
        };
        let head = match sealed {
            None if counter == 0 => {
                Head::empty(self.platform.tcb()).map_err(|_| self.fault(Fault::Crypto))?
            }
            None => return Err(StoreError::Missing { counter }),
            Some(bytes) => {
                let head = Head::open(&self.platform, &self.identity, &self.id, &bytes)
                    .map_err(|e| self.refused(e.to_string()))?;
                self.check_version(head.version, counter)?;
                head
            }
        };
        if let (head::Format::V2, Some(old)) = (head.format, &file) {
            let entries = old.read_v2(self.id, &head).map_err(|e| self.fault(e))?;
            drop(file);
            self.replace(head.version, &entries)?;
            return self.load();
        }
        let keys =
            StoreKeys::derive(self.id, &head.data_key).map_err(|_| self.fault(Fault::Crypto))?;
        Ok(Loaded { file, head, keys })
    }

    /// Replaces the store file, under the lock, by a new one in the current format holding
    /// `entries` as version `version + 1`: written whole as `state.migrating`, renamed over the
    /// old file, and only then the counter moved, so that a crash at any point leaves either the
    /// old store or the new one a pending bump ahead, both of which load.
    fn replace(&self, version: u64, entries: &record::Entries) -> Result<(), StoreError> {
        let path = &self.paths.state;
        let staging = path.with_file_name("state.migrating");
        match fs::remove_file(&staging) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_error(&staging, &e)),
            _ => {}
        }
        let fault = |e| fault_error(&staging, e);
        let mut head = Head::empty(self.platform.tcb()).map_err(|_| fault(Fault::Crypto))?;
        head.version = version.checked_add(1).ok_or(fault(Fault::Tampered))?;
        let keys = StoreKeys::derive(self.id, &head.data_key).map_err(|_| fault(Fault::Crypto))?;
        let seal = |head: &Head| {
            head.seal(&self.platform, &self.identity, &self.id)
                .map_err(|e| Fault::Seal(e.to_string()))
        };
        StoreFile::create(&staging)
            .and_then(|file| file.fill(&mut head, &keys, entries, seal))
            .map_err(fault)?;
        fs::rename(&staging, path).map_err(|e| io_error(path, &e))?;
        if let Some(dir) = path.parent() {
            sync_dir(dir).map_err(|e| io_error(dir, &e))?;
        }
        self.write_counter(head.version)
    }

    /// Accepts a head at the counter's version, or one ahead (a crash between the commit and
    /// the counter write, finished here).
    fn check_version(&self, version: u64, counter: u64) -> Result<(), StoreError> {
        match version {
            v if v == counter => Ok(()),
            v if Some(v) == counter.checked_add(1) => self.write_counter(v),
            v if v < counter => Err(StoreError::RolledBack { state: v, counter }),
            v => Err(StoreError::AheadOfCounter { state: v, counter }),
        }
    }

    /// Puts (`Some`) or removes (`None`) entries: one durable redb transaction with the new
    /// head, then the counter. The new version, and whether anything changed.
    fn change<'a>(
        &self,
        loaded: &mut Loaded,
        changes: impl IntoIterator<Item = (&'a [u8], Option<&'a [u8]>)>,
    ) -> Result<(u64, bool), StoreError> {
        let changes: Vec<_> = changes.into_iter().collect();
        // Without a file there is nothing to remove: only a put creates one.
        let puts = changes.iter().any(|(_, value)| value.is_some());
        let file = match (&mut loaded.file, puts) {
            (Some(file), _) => file,
            (None, false) => return Ok((loaded.head.version, false)),
            (slot @ None, true) => {
                slot.insert(StoreFile::create(&self.paths.state).map_err(|e| self.fault(e))?)
            }
        };
        let seal = |head: &Head| {
            head.seal(&self.platform, &self.identity, &self.id)
                .map_err(|e| Fault::Seal(e.to_string()))
        };
        // The first write at a newer TCB level, or after 2^31 records under one key, draws a
        // new data key and re-seals every entry under it in the same transaction.
        let tcb = self.platform.tcb();
        let rotation = if loaded.head.version > 0
            && (loaded.head.tcb < tcb || loaded.head.sealed >= ROTATE_AFTER)
        {
            let data_key = DataKey::generate().map_err(|_| self.fault(Fault::Crypto))?;
            let keys =
                StoreKeys::derive(self.id, &data_key).map_err(|_| self.fault(Fault::Crypto))?;
            Some((data_key, keys))
        } else {
            None
        };
        let next = file
            .change(
                &loaded.head,
                &loaded.keys,
                rotation.as_ref().map(|r| (r, tcb)),
                changes,
                seal,
            )
            .map_err(|e| self.fault(e))?;
        let Some(next) = next else {
            return Ok((loaded.head.version, false));
        };
        self.write_counter(next.version)?;
        loaded.head = next;
        if let Some((_, keys)) = rotation {
            loaded.keys = keys;
        }
        Ok((loaded.head.version, true))
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

    fn refused(&self, reason: String) -> StoreError {
        StoreError::Refused {
            path: self.paths.state.clone(),
            reason,
        }
    }

    fn fault(&self, fault: Fault) -> StoreError {
        fault_error(&self.paths.state, fault)
    }
}

/// The store error for a fault of the file at `path`.
fn fault_error(path: &Path, fault: Fault) -> StoreError {
    match fault {
        // redb reports a file that is not one of its databases (a damaged magic number) as
        // invalid data: the file is malformed, as a tampered sealed file is, not an I/O failure.
        Fault::Db(redb::Error::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
            StoreError::Malformed {
                path: path.to_owned(),
                reason: e.to_string(),
            }
        }
        Fault::Db(redb::Error::Io(e)) => io_error(path, &e),
        Fault::Db(e) => StoreError::Malformed {
            path: path.to_owned(),
            reason: e.to_string(),
        },
        Fault::Corrupt => StoreError::Malformed {
            path: path.to_owned(),
            reason: "corrupt database".into(),
        },
        Fault::Tampered => StoreError::Refused {
            path: path.to_owned(),
            reason: "integrity check failed".into(),
        },
        Fault::Crypto => StoreError::Refused {
            path: path.to_owned(),
            reason: "key derivation or random generator failed".into(),
        },
        Fault::Seal(reason) => StoreError::Refused {
            path: path.to_owned(),
            reason,
        },
        Fault::TooLarge(len) => StoreError::TooLarge {
            what: "state",
            len: usize::try_from(len).unwrap_or(usize::MAX),
            max: MAX_STATE,
        },
        Fault::BucketTooLarge(len) => StoreError::TooLarge {
            what: "bucket record",
            len,
            max: record::MAX_RECORD,
        },
    }
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

fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

/// Takes the exclusive lock of a store directory that exists, creating nothing; `None` when
/// there is no lock file (so no store process ever ran there).
fn lock_existing(path: &Path) -> Result<Option<File>, StoreError> {
    let file = match File::options().write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path, &e)),
    };
    file.lock().map_err(|e| io_error(path, &e))?;
    Ok(Some(file))
}

#[cfg(test)]
mod tests;
