//! The store's file: a redb database (an ACID copy-on-write B-tree) with three tables, every
//! byte of which the sealed head authenticates, directly or through the Merkle tree.
//!
//! | table | key | value |
//! |-------|-----|-------|
//! | `buckets` | bucket (u16) | the sealed record of a non-empty bucket |
//! | `nodes` | `level << 16 \| index` (u32) | a non-empty Merkle node |
//! | `head` | `"head"` | the sealed head |
//!
//! A read checks one path of the tree against the root of the head verified when the store was
//! loaded, then the one bucket record below it; an update does the same, then writes the
//! bucket's record, the path and a new head in one redb write transaction, committed durably.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path as FsPath;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};
use zeroize::Zeroizing;

use super::fault::Fault;
use super::head::Head;
use super::id::MAX_STATE;
use super::record::{bucket_digest, entries_bytes, Entries, StoreKeys, MAX_RECORD};
use super::tree::{build, Digest, Path, EMPTY};
use crate::files::sync_dir;

type BucketTable = TableDefinition<'static, u16, &'static [u8]>;
pub(super) const BUCKETS: BucketTable = TableDefinition::new("buckets");
/// Where a rotation of the data key writes the re-sealed buckets before they replace `buckets`,
/// inside the same transaction.
const BUCKETS_NEXT: BucketTable = TableDefinition::new("buckets.next");
pub(super) const NODES: TableDefinition<'static, u32, &'static [u8]> =
    TableDefinition::new("nodes");
pub(super) const HEADS: TableDefinition<'static, &'static str, &'static [u8]> =
    TableDefinition::new("head");
pub(super) const HEAD_KEY: &str = "head";
/// The first 8 bytes of every redb file.
pub(super) const MAGIC_PREFIX: [u8; 8] = [b'r', b'e', b'd', b'b', 0x1a, 0x0a, 0xa9, 0x0d];
/// redb's page cache per open store.
const CACHE_BYTES: usize = 64 << 20;

/// An open store file, writable.
pub(super) struct StoreFile(Option<Database>);

/// A compaction is due when the space the file takes on disk exceeds this many times its keys
/// and values (plus [`COMPACT_SLACK`]). A compacted store takes about 1.6 times its data at scale.
/// redb grows a file by doubling its length, but the new part is a hole until pages are written
/// there, so growth alone does not count; space freed by updates and not yet reused (large
/// transactions, deletions) does, and compaction's cost, one pass over the file, is paid at
/// most once per that much churn.
const COMPACT_ON_DISK: u64 = 2;
/// On a file system without holes, the file's length counts instead, against this larger
/// factor, which doubling a compacted file does not reach.
const COMPACT_LENGTH: u64 = 4;
/// Bytes added to the data before the factors apply: small stores are mostly redb's own fixed
/// structures, which compaction does not shrink.
const COMPACT_SLACK: u64 = 1 << 20;

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
    pub(super) fn audit(&self, head: &Head, keys: &StoreKeys) -> Result<Entries, Fault> {
        guarded(|| audit(self.db()?, head, keys))
    }

    /// Every entry of a store in format 2, checked whole against `head`.
    pub(super) fn read_v2(&self, id: super::id::StoreId, head: &Head) -> Result<Entries, Fault> {
        guarded(|| super::v2::read_all(self.db()?, id, head))
    }

    /// Writes `entries` into an empty file, with `head` (its version set by the caller; root,
    /// count, size and records sealed set here) sealed by `seal`, in one durable transaction.
    pub(super) fn fill(
        &self,
        head: &mut Head,
        keys: &StoreKeys,
        entries: &Entries,
        seal: impl FnOnce(&Head) -> Result<Vec<u8>, Fault>,
    ) -> Result<(), Fault> {
        guarded(|| {
            let txn = self.db()?.begin_write()?;
            {
                let mut buckets: BTreeMap<u16, Entries> = BTreeMap::new();
                for (key, value) in entries {
                    buckets
                        .entry(keys.bucket(key))
                        .or_default()
                        .insert(key.clone(), value.clone());
                }
                let mut table = txn.open_table(BUCKETS)?;
                let mut digests = Vec::with_capacity(buckets.len());
                for (bucket, entries) in &buckets {
                    let record = sealed_record(keys, *bucket, entries)?;
                    table.insert(bucket, record.as_slice())?;
                    digests.push((*bucket, bucket_digest(&record)));
                }
                let (root, nodes) = build(&digests);
                let mut table = txn.open_table(NODES)?;
                for (id, node) in nodes {
                    table.insert(id, node.as_slice())?;
                }
                head.root = root;
                head.count = entries.len() as u64;
                head.bytes = entries_bytes(entries);
                head.sealed = digests.len() as u64;
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
            let (nodes, buckets) = match (txn.open_table(NODES), txn.open_table(BUCKETS)) {
                (Ok(nodes), Ok(buckets)) => (nodes, buckets),
                (Err(TableError::TableDoesNotExist(_)), _)
                | (_, Err(TableError::TableDoesNotExist(_)))
                    if head.count == 0 =>
                {
                    return Ok(None)
                }
                (Err(e), _) | (_, Err(e)) => return Err(e.into()),
            };
            let mut entries =
                verified_bucket(&nodes, &buckets, &head.root, keys, keys.bucket(key))?;
            Ok(entries.remove(key))
        })
    }

    /// Applies `changes` in order — `Some` puts a value under a key, `None` removes the key —
    /// and seals the result with `seal` as the next version, in one durable transaction. With
    /// `rotate_to`, first re-seals every entry under that data key and its keys (the whole
    /// store, checked against `head` as it is read), which the new head then carries. The new
    /// head, or `None` when nothing changed (only removals of absent keys, no rotation), in
    /// which case nothing is written.
    pub(super) fn change<'a>(
        &self,
        head: &Head,
        keys: &StoreKeys,
        rotate_to: Option<(&DataKeyAndKeys, u32)>,
        changes: impl IntoIterator<Item = (&'a [u8], Option<&'a [u8]>)>,
        seal: impl FnOnce(&Head) -> Result<Vec<u8>, Fault>,
    ) -> Result<Option<Head>, Fault> {
        guarded(|| {
            let txn = self.db()?.begin_write()?;
            let mut next = head.clone();
            let mut keys = keys;
            if let Some((rotation, tcb)) = rotate_to {
                rotate(&txn, &mut next, keys, &rotation.1)?;
                next.data_key = rotation.0.clone();
                next.tcb = tcb;
                keys = &rotation.1;
            }
            {
                let mut tables = Tables {
                    nodes: txn.open_table(NODES)?,
                    buckets: txn.open_table(BUCKETS)?,
                };
                let changed = tables.apply(&mut next, keys, changes)?;
                if !changed && rotate_to.is_none() {
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

    /// Compacts the file when it takes far more space than its data ([`COMPACT_ON_DISK`],
    /// [`COMPACT_LENGTH`]). Whether it did. A failed compaction leaves the database as it was.
    pub(super) fn compact_if_sparse(&mut self, path: &FsPath, data_bytes: u64) -> bool {
        let Ok(metadata) = path.metadata() else {
            return false;
        };
        let on_disk = std::os::unix::fs::MetadataExt::blocks(&metadata).saturating_mul(512);
        if !compaction_due(metadata.len(), on_disk, data_bytes) {
            return false;
        }
        let db = &mut self.0;
        guarded(|| match db.as_mut() {
            Some(db) => Ok(db.compact().unwrap_or(false)),
            None => Ok(false),
        })
        .unwrap_or(false)
    }
}

/// Whether a file of length `len` taking `on_disk` bytes on disk and holding `data` bytes of
/// keys and values should be compacted.
pub(super) fn compaction_due(len: u64, on_disk: u64, data: u64) -> bool {
    let base = data.saturating_add(COMPACT_SLACK);
    (on_disk < len && on_disk > base.saturating_mul(COMPACT_ON_DISK))
        || len > base.saturating_mul(COMPACT_LENGTH)
}

/// A data key and the keys derived from it.
pub(super) type DataKeyAndKeys = (super::record::DataKey, StoreKeys);

/// The tables an update writes.
struct Tables<'t> {
    nodes: redb::Table<'t, u32, &'static [u8]>,
    buckets: redb::Table<'t, u16, &'static [u8]>,
}

/// A bucket an update changes: its entries as loaded and checked, then as changed.
struct Edit {
    entries: Entries,
    count: u64,
    bytes: u64,
    dirty: bool,
}

impl Tables<'_> {
    /// Puts or removes entries, each bucket loaded once and checked against `head`'s root,
    /// then writes every changed bucket's record and path and updates `head`'s root, count,
    /// size and records sealed (not its version). Whether anything changed. Nothing is written
    /// before every check has passed and the new size is known to be allowed.
    fn apply<'a>(
        &mut self,
        head: &mut Head,
        keys: &StoreKeys,
        changes: impl IntoIterator<Item = (&'a [u8], Option<&'a [u8]>)>,
    ) -> Result<bool, Fault> {
        let mut edits: BTreeMap<u16, Edit> = BTreeMap::new();
        for (key, value) in changes {
            let bucket = keys.bucket(key);
            let edit = match edits.entry(bucket) {
                std::collections::btree_map::Entry::Occupied(edit) => edit.into_mut(),
                std::collections::btree_map::Entry::Vacant(slot) => {
                    let entries =
                        verified_bucket(&self.nodes, &self.buckets, &head.root, keys, bucket)?;
                    slot.insert(Edit {
                        count: entries.len() as u64,
                        bytes: entries_bytes(&entries),
                        entries,
                        dirty: false,
                    })
                }
            };
            match value {
                Some(value) => {
                    edit.entries
                        .insert(key.to_vec(), Zeroizing::new(value.to_vec()));
                    edit.dirty = true;
                }
                None => edit.dirty |= edit.entries.remove(key).is_some(),
            }
        }
        let (mut count, mut bytes) = (head.count, head.bytes);
        for edit in edits.values().filter(|edit| edit.dirty) {
            count = count
                .checked_sub(edit.count)
                .and_then(|c| c.checked_add(edit.entries.len() as u64))
                .ok_or(Fault::Tampered)?;
            bytes = bytes
                .checked_sub(edit.bytes)
                .and_then(|b| b.checked_add(entries_bytes(&edit.entries)))
                .ok_or(Fault::Tampered)?;
        }
        if bytes > MAX_STATE as u64 {
            return Err(Fault::TooLarge(bytes));
        }
        let mut changed = false;
        for (bucket, edit) in edits.iter().filter(|(_, edit)| edit.dirty) {
            let digest = if edit.entries.is_empty() {
                self.buckets.remove(bucket)?;
                EMPTY
            } else {
                let record = sealed_record(keys, *bucket, &edit.entries)?;
                self.buckets.insert(bucket, record.as_slice())?;
                head.sealed = head.sealed.saturating_add(1);
                bucket_digest(&record)
            };
            let path = verified_path(&self.nodes, &head.root, *bucket)?;
            let (root, writes) = path.update(digest);
            for (id, node) in writes {
                match node {
                    Some(bytes) => self.nodes.insert(id, bytes.as_slice())?,
                    None => self.nodes.remove(id)?,
                };
            }
            head.root = root;
            changed = true;
        }
        head.count = count;
        head.bytes = bytes;
        Ok(changed)
    }
}

/// The sealed record of a non-empty bucket, refused when it would exceed [`MAX_RECORD`].
fn sealed_record(keys: &StoreKeys, bucket: u16, entries: &Entries) -> Result<Vec<u8>, Fault> {
    let record = keys.seal(bucket, entries).map_err(|_| Fault::Crypto)?;
    if record.len() > MAX_RECORD {
        return Err(Fault::BucketTooLarge(record.len()));
    }
    Ok(record)
}

/// Re-seals every entry under `new` keys, moving each to its bucket under them, after checking
/// the whole store against `head` as it is read; sets `head`'s root, count, size and records
/// sealed. Entries are regrouped a range of new buckets at a time, so that at most about
/// [`ROTATION_BYTES`] of plaintext is held at once whatever the store's size.
fn rotate(
    txn: &redb::WriteTransaction,
    head: &mut Head,
    old: &StoreKeys,
    new: &StoreKeys,
) -> Result<(), Fault> {
    let passes = head
        .bytes
        .div_ceil(ROTATION_BYTES)
        .clamp(1, 1 << 16)
        .next_power_of_two();
    let ids: Vec<u16> = {
        let table = txn.open_table(BUCKETS)?;
        let ids = table
            .iter()?
            .map(|item| item.map(|(bucket, _)| bucket.value()))
            .collect::<Result<_, _>>()?;
        ids
    };
    let mut new_digests = Vec::new();
    let mut sealed = 0u64;
    {
        let buckets = txn.open_table(BUCKETS)?;
        let mut next = txn.open_table(BUCKETS_NEXT)?;
        for pass in 0..passes {
            let mut old_digests = Vec::new();
            let (mut count, mut bytes) = (0u64, 0u64);
            let mut regrouped: BTreeMap<u16, Entries> = BTreeMap::new();
            for bucket in &ids {
                let stored = buckets.get(bucket)?.ok_or(Fault::Tampered)?;
                let record = stored.value();
                let entries = old.open(*bucket, record).map_err(|_| Fault::Tampered)?;
                if pass == 0 {
                    old_digests.push((*bucket, bucket_digest(record)));
                    count = count.saturating_add(entries.len() as u64);
                    bytes = bytes.saturating_add(entries_bytes(&entries));
                }
                for (key, value) in entries {
                    let to = new.bucket(&key);
                    // Pass p regroups the p-th of `passes` equal ranges of new buckets.
                    if (u64::from(to) * passes) >> 16 == pass {
                        regrouped.entry(to).or_default().insert(key, value);
                    }
                }
            }
            if pass == 0
                && (build(&old_digests).0 != head.root
                    || count != head.count
                    || bytes != head.bytes)
            {
                return Err(Fault::Tampered);
            }
            for (bucket, entries) in &regrouped {
                let record = sealed_record(new, *bucket, entries)?;
                next.insert(bucket, record.as_slice())?;
                new_digests.push((*bucket, bucket_digest(&record)));
                sealed = sealed.saturating_add(1);
            }
        }
    }
    txn.delete_table(BUCKETS)?;
    txn.rename_table(BUCKETS_NEXT, BUCKETS)?;
    txn.delete_table(NODES)?;
    let (root, nodes) = build(&new_digests);
    let mut table = txn.open_table(NODES)?;
    for (id, node) in nodes {
        table.insert(id, node.as_slice())?;
    }
    head.root = root;
    head.sealed = sealed;
    Ok(())
}

/// Plaintext a rotation regroups per pass over the store.
const ROTATION_BYTES: u64 = 64 << 20;

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

/// Every entry of `db`, after checking that the whole tree recomputed from the bucket records
/// gives `head`'s root, count and size, and that every record opens as its own bucket.
pub(super) fn audit(
    db: &impl ReadableDatabase,
    head: &Head,
    keys: &StoreKeys,
) -> Result<Entries, Fault> {
    let txn = db.begin_read()?;
    let buckets = match txn.open_table(BUCKETS) {
        Ok(buckets) => buckets,
        Err(TableError::TableDoesNotExist(_)) if head.count == 0 => return Ok(BTreeMap::new()),
        Err(e) => return Err(e.into()),
    };
    let mut entries = BTreeMap::new();
    let mut digests: Vec<(u16, Digest)> = Vec::new();
    for item in buckets.iter()? {
        let (bucket, record) = item?;
        let bucket = bucket.value();
        let record = record.value();
        entries.append(&mut keys.open(bucket, record).map_err(|_| Fault::Tampered)?);
        digests.push((bucket, bucket_digest(record)));
    }
    if build(&digests).0 != head.root
        || entries.len() as u64 != head.count
        || entries_bytes(&entries) != head.bytes
    {
        return Err(Fault::Tampered);
    }
    Ok(entries)
}

/// The entries of `bucket`, its record checked against the path from `root` (none when the
/// tree says the bucket is empty).
fn verified_bucket(
    nodes: &impl ReadableTable<u32, &'static [u8]>,
    buckets: &impl ReadableTable<u16, &'static [u8]>,
    root: &Digest,
    keys: &StoreKeys,
    bucket: u16,
) -> Result<Entries, Fault> {
    let path = verified_path(nodes, root, bucket)?;
    let Some(stored) = buckets.get(bucket)? else {
        return match path.bucket_digest() {
            EMPTY => Ok(BTreeMap::new()),
            _ => Err(Fault::Tampered),
        };
    };
    let record = stored.value();
    if record.len() > MAX_RECORD || bucket_digest(record) != path.bucket_digest() {
        return Err(Fault::Tampered);
    }
    keys.open(bucket, record).map_err(|_| Fault::Tampered)
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
