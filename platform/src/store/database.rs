//! The store's file: a redb database (an ACID copy-on-write B-tree) with three tables, every
//! byte of which the sealed head authenticates, directly or through the Merkle tree.
//!
//! | table | key | value |
//! |-------|-----|-------|
//! | `records` | lookup key (16 bytes) | the sealed record |
//! | `nodes` | `level << 16 \| index` (u32) | a non-empty Merkle node |
//! | `head` | `"head"` | the sealed head |
//!
//! A read checks one path of the tree against the root of the head verified when the store was
//! loaded, then the one bucket below it; an update does the same, then writes the record, the
//! path and a new head in one redb write transaction, committed durably.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path as FsPath;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};
use zeroize::Zeroizing;

use super::head::Head;
use super::record::{record_digest, Lookup, StoreKeys, LOOKUP_LEN, RECORD_OVERHEAD};
use super::tree::{bucket_digest, bucket_range, build, Digest, Path};
use super::MAX_STATE;
use crate::files::sync_dir;

type RecordTable = TableDefinition<'static, &'static [u8; LOOKUP_LEN], &'static [u8]>;
pub(super) const RECORDS: RecordTable = TableDefinition::new("records");
pub(super) const NODES: TableDefinition<'static, u32, &'static [u8]> =
    TableDefinition::new("nodes");
pub(super) const HEADS: TableDefinition<'static, &'static str, &'static [u8]> =
    TableDefinition::new("head");
pub(super) const HEAD_KEY: &str = "head";
/// The first 8 bytes of every redb file.
pub(super) const MAGIC_PREFIX: [u8; 8] = [b'r', b'e', b'd', b'b', 0x1a, 0x0a, 0xa9, 0x0d];
/// redb's page cache per open store.
const CACHE_BYTES: usize = 64 << 20;

/// Why an operation on the file failed.
#[derive(Debug)]
pub(super) enum Fault {
    /// The database itself: I/O, or a file redb does not accept.
    Db(redb::Error),
    /// A record, node or bucket does not match what the sealed head commits to.
    Tampered,
    /// The system random generator or a key derivation failed.
    Crypto,
    /// The new head could not be sealed.
    Seal(String),
    /// redb panicked on a corrupt file; the panic was caught at this module's boundary.
    Corrupt,
    /// The update would make the state larger than [`MAX_STATE`] bytes of keys and values.
    TooLarge(u64),
}

impl<E: Into<redb::Error>> From<E> for Fault {
    fn from(e: E) -> Self {
        Self::Db(e.into())
    }
}

/// An open store file, writable.
pub(super) struct StoreFile(Option<Database>);

impl Drop for StoreFile {
    /// Closes the database; a panic of redb's on a corrupt file is contained as everywhere.
    fn drop(&mut self) {
        let db = self.0.take();
        let _ = guarded(move || {
            drop(db);
            Ok(())
        });
    }
}

impl std::fmt::Debug for StoreFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreFile(..)")
    }
}

fn builder() -> redb::Builder {
    let mut builder = Database::builder();
    builder.set_cache_size(CACHE_BYTES);
    builder
}

impl StoreFile {
    fn db(&self) -> Result<&Database, Fault> {
        self.0.as_ref().ok_or(Fault::Corrupt)
    }

    /// Opens the file at `path`, `None` when there is none or it is empty (a creation cut
    /// short by a crash, before redb wrote anything). redb locks the file; the caller holds the
    /// store's lock, so no other process has it open.
    pub(super) fn open(path: &FsPath) -> Result<Option<Self>, Fault> {
        match path.metadata() {
            Ok(metadata) if metadata.len() == 0 => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            _ => {}
        }
        guarded(|| match builder().open(path) {
            Ok(db) => Ok(Some(Self(Some(db)))),
            Err(redb::DatabaseError::Storage(redb::StorageError::Io(e)))
                if e.kind() == io::ErrorKind::NotFound =>
            {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        })
    }

    /// Creates the file at `path` (mode 0600; an empty one left by a crash is taken over), lets
    /// redb initialise it and makes its directory entry durable.
    pub(super) fn create(path: &FsPath) -> Result<Self, Fault> {
        guarded(|| {
            let io = |e: io::Error| Fault::Db(e.into());
            File::options()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(path)
                .map_err(io)?;
            let db = builder().create(path)?;
            if let Some(dir) = path.parent() {
                sync_dir(dir).map_err(io)?;
            }
            Ok(Self(Some(db)))
        })
    }

    /// The sealed head's bytes, `None` in a file no update was ever committed to.
    pub(super) fn head(&self) -> Result<Option<Vec<u8>>, Fault> {
        guarded(|| read_head(self.db()?))
    }

    /// Every entry, checked whole against `head` ([`audit`]).
    pub(super) fn audit(
        &self,
        head: &Head,
        keys: &StoreKeys,
    ) -> Result<BTreeMap<Vec<u8>, Zeroizing<Vec<u8>>>, Fault> {
        guarded(|| audit(self.db()?, head, keys))
    }

    /// Writes `entries` into an empty file, with `head` (its version set by the caller; root,
    /// count and size set here) sealed by `seal`, in one durable transaction.
    pub(super) fn fill(
        &self,
        head: &mut Head,
        keys: &StoreKeys,
        entries: &BTreeMap<Vec<u8>, Zeroizing<Vec<u8>>>,
        seal: impl FnOnce(&Head) -> Result<Vec<u8>, Fault>,
    ) -> Result<(), Fault> {
        guarded(|| {
            let txn = self.db()?.begin_write()?;
            {
                let mut records = txn.open_table(RECORDS)?;
                let mut buckets: BTreeMap<u16, Vec<(Lookup, Digest)>> = BTreeMap::new();
                let mut bytes = 0u64;
                for (key, value) in entries {
                    let lookup = keys.lookup(key);
                    let record = keys.seal(&lookup, key, value).map_err(|_| Fault::Crypto)?;
                    records.insert(&lookup.0, record.as_slice())?;
                    let bucket = buckets.entry(lookup.bucket()).or_default();
                    bucket.push((lookup, record_digest(&record)));
                    bytes = bytes.saturating_add((key.len() + value.len()) as u64);
                }
                let digests: Vec<(u16, Digest)> = buckets
                    .into_iter()
                    .map(|(bucket, mut list)| {
                        list.sort_by_key(|(lookup, _)| *lookup);
                        (bucket, bucket_digest(&list))
                    })
                    .collect();
                let (root, nodes) = build(&digests);
                let mut table = txn.open_table(NODES)?;
                for (id, node) in nodes {
                    table.insert(id, node.as_slice())?;
                }
                head.root = root;
                head.count = entries.len() as u64;
                head.bytes = bytes;
                txn.open_table(HEADS)?
                    .insert(HEAD_KEY, seal(head)?.as_slice())?;
            }
            txn.commit()?;
            Ok(())
        })
    }

    /// The value under `key`, checked against `head`'s root.
    pub(super) fn get(
        &self,
        head: &Head,
        keys: &StoreKeys,
        key: &[u8],
    ) -> Result<Option<Zeroizing<Vec<u8>>>, Fault> {
        guarded(|| {
            let txn = self.db()?.begin_read()?;
            let (nodes, records) = match (txn.open_table(NODES), txn.open_table(RECORDS)) {
                (Ok(nodes), Ok(records)) => (nodes, records),
                (Err(TableError::TableDoesNotExist(_)), _)
                | (_, Err(TableError::TableDoesNotExist(_)))
                    if head.count == 0 =>
                {
                    return Ok(None)
                }
                (Err(e), _) | (_, Err(e)) => return Err(e.into()),
            };
            let lookup = keys.lookup(key);
            let (_, record) = verified_bucket(&nodes, &records, &head.root, &lookup)?;
            let Some(record) = record else {
                return Ok(None);
            };
            let (stored_key, value) = keys.open(&lookup, &record).map_err(|_| Fault::Tampered)?;
            // Another key with the same 16-byte lookup key (a PRF collision) is not this one.
            Ok((stored_key == key).then_some(value))
        })
    }

    /// Applies `changes` in order — `Some` puts a value under a key, `None` removes the key —
    /// each checked against the tree as the previous ones left it, and seals the result with
    /// `seal` as the next version, in one durable transaction. The new head, or `None` when
    /// nothing changed (only removals of absent keys), in which case nothing is written.
    pub(super) fn change<'a>(
        &self,
        head: &Head,
        keys: &StoreKeys,
        changes: impl IntoIterator<Item = (&'a [u8], Option<&'a [u8]>)>,
        seal: impl FnOnce(&Head) -> Result<Vec<u8>, Fault>,
    ) -> Result<Option<Head>, Fault> {
        guarded(|| {
            let txn = self.db()?.begin_write()?;
            let mut next = head.clone();
            {
                let mut tables = Tables {
                    nodes: txn.open_table(NODES)?,
                    records: txn.open_table(RECORDS)?,
                };
                let mut changed = false;
                for (key, value) in changes {
                    changed |= tables.apply(&mut next, keys, key, value)?;
                }
                if !changed {
                    return Ok(None);
                }
                next.version = head.version.checked_add(1).ok_or(Fault::Tampered)?;
                txn.open_table(HEADS)?
                    .insert(HEAD_KEY, seal(&next)?.as_slice())?;
            }
            txn.commit()?;
            Ok(Some(next))
        })
    }
}

/// A bucket's `(lookup key, record digest)` pairs in ascending lookup key order.
type Bucket = Vec<(Lookup, Digest)>;

/// The tables an update writes.
struct Tables<'t> {
    nodes: redb::Table<'t, u32, &'static [u8]>,
    records: redb::Table<'t, &'static [u8; LOOKUP_LEN], &'static [u8]>,
}

impl Tables<'_> {
    /// Puts or removes one entry after checking its path and bucket against `head`'s root, and
    /// updates `head`'s root, count and size (not its version). Whether anything changed.
    fn apply(
        &mut self,
        head: &mut Head,
        keys: &StoreKeys,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<bool, Fault> {
        let lookup = keys.lookup(key);
        let bucket = lookup.bucket();
        let path = verified_path(&self.nodes, &head.root, bucket)?;
        let (mut entries, found) = read_bucket(&self.records, bucket, &lookup)?;
        if bucket_digest(&entries) != path.bucket_digest() {
            return Err(Fault::Tampered);
        }
        let old_len = found
            .as_ref()
            .map_or(0, |r| r.len().saturating_sub(RECORD_OVERHEAD));
        let new_len = value.map_or(0, |v| key.len() + v.len());
        let bytes = usize::try_from(head.bytes)
            .ok()
            .and_then(|b| b.checked_sub(old_len))
            .and_then(|b| b.checked_add(new_len))
            .ok_or(Fault::Tampered)?;
        if bytes > MAX_STATE {
            return Err(Fault::TooLarge(bytes as u64));
        }
        let position = entries.binary_search_by_key(&lookup, |(l, _)| *l);
        let count = match (value, position) {
            (None, Err(_)) => return Ok(false),
            (None, Ok(i)) => {
                entries.remove(i);
                self.records.remove(&lookup.0)?;
                head.count.checked_sub(1)
            }
            (Some(value), position) => {
                let record = keys.seal(&lookup, key, value).map_err(|_| Fault::Crypto)?;
                let digest = record_digest(&record);
                self.records.insert(&lookup.0, record.as_slice())?;
                match position {
                    Ok(i) => {
                        if let Some(entry) = entries.get_mut(i) {
                            entry.1 = digest;
                        }
                        Some(head.count)
                    }
                    Err(i) => {
                        entries.insert(i, (lookup, digest));
                        head.count.checked_add(1)
                    }
                }
            }
        };
        let (root, writes) = path.update(bucket_digest(&entries));
        for (id, node) in writes {
            match node {
                Some(bytes) => self.nodes.insert(id, bytes.as_slice())?,
                None => self.nodes.remove(id)?,
            };
        }
        head.root = root;
        head.count = count.ok_or(Fault::Tampered)?;
        head.bytes = bytes as u64;
        Ok(true)
    }
}

/// Runs `operation` on the database, turning a panic into [`Fault::Corrupt`]: redb is not
/// hardened against crafted files (a flipped bit in a page header can reach an index out of
/// bounds), and nothing a file holds may take the process down.
fn guarded<T>(operation: impl FnOnce() -> Result<T, Fault>) -> Result<T, Fault> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(operation)).unwrap_or(Err(Fault::Corrupt))
}

/// The sealed head's bytes in `db`.
pub(super) fn read_head(db: &impl ReadableDatabase) -> Result<Option<Vec<u8>>, Fault> {
    let txn = db.begin_read()?;
    let heads = match txn.open_table(HEADS) {
        Ok(heads) => heads,
        Err(TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(heads.get(HEAD_KEY)?.map(|bytes| bytes.value().to_vec()))
}

/// Every entry of `db`, after checking that the whole tree recomputed from the records gives
/// `head`'s root and count, and that every record opens under its own lookup key.
pub(super) fn audit(
    db: &impl ReadableDatabase,
    head: &Head,
    keys: &StoreKeys,
) -> Result<BTreeMap<Vec<u8>, Zeroizing<Vec<u8>>>, Fault> {
    let txn = db.begin_read()?;
    let records = match txn.open_table(RECORDS) {
        Ok(records) => records,
        Err(TableError::TableDoesNotExist(_)) if head.count == 0 => return Ok(BTreeMap::new()),
        Err(e) => return Err(e.into()),
    };
    let mut entries = BTreeMap::new();
    let mut buckets: Vec<(u16, Digest)> = Vec::new();
    let mut bucket: Vec<(Lookup, Digest)> = Vec::new();
    for item in records.iter()? {
        let (lookup, record) = item?;
        let lookup = Lookup(*lookup.value());
        let (key, value) = keys
            .open(&lookup, record.value())
            .map_err(|_| Fault::Tampered)?;
        if keys.lookup(&key) != lookup {
            return Err(Fault::Tampered);
        }
        if bucket
            .first()
            .is_some_and(|(l, _)| l.bucket() != lookup.bucket())
        {
            close_bucket(&mut bucket, &mut buckets);
        }
        bucket.push((lookup, record_digest(record.value())));
        entries.insert(key, value);
    }
    close_bucket(&mut bucket, &mut buckets);
    if build(&buckets).0 != head.root || u64::try_from(entries.len()).ok() != Some(head.count) {
        return Err(Fault::Tampered);
    }
    Ok(entries)
}

fn close_bucket(bucket: &mut Vec<(Lookup, Digest)>, buckets: &mut Vec<(u16, Digest)>) {
    if let Some((first, _)) = bucket.first() {
        buckets.push((first.bucket(), bucket_digest(bucket)));
    }
    bucket.clear();
}

/// The path to `lookup`'s bucket and its record, both checked against `root`.
fn verified_bucket(
    nodes: &impl ReadableTable<u32, &'static [u8]>,
    records: &impl ReadableTable<&'static [u8; LOOKUP_LEN], &'static [u8]>,
    root: &Digest,
    lookup: &Lookup,
) -> Result<(Path, Option<Vec<u8>>), Fault> {
    let path = verified_path(nodes, root, lookup.bucket())?;
    let (entries, record) = read_bucket(records, lookup.bucket(), lookup)?;
    if bucket_digest(&entries) != path.bucket_digest() {
        return Err(Fault::Tampered);
    }
    Ok((path, record))
}

fn verified_path(
    nodes: &impl ReadableTable<u32, &'static [u8]>,
    root: &Digest,
    bucket: u16,
) -> Result<Path, Fault> {
    Path::verify(root, bucket, |id| {
        Ok::<_, Fault>(nodes.get(id)?.map(|bytes| bytes.value().to_vec()))
    })?
    .map_err(|_| Fault::Tampered)
}

/// The `(lookup key, record digest)` pairs of `bucket` in order, and the record under `want`.
fn read_bucket(
    records: &impl ReadableTable<&'static [u8; LOOKUP_LEN], &'static [u8]>,
    bucket: u16,
    want: &Lookup,
) -> Result<(Bucket, Option<Vec<u8>>), Fault> {
    let (first, last) = bucket_range(bucket);
    let mut entries = Vec::new();
    let mut found = None;
    for item in records.range::<&[u8; LOOKUP_LEN]>(&first..=&last)? {
        let (lookup, record) = item?;
        let lookup = Lookup(*lookup.value());
        entries.push((lookup, record_digest(record.value())));
        if lookup == *want {
            found = Some(record.value().to_vec());
        }
    }
    Ok((entries, found))
}
