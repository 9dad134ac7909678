//! The store's format 2, read only to migrate it: one record per entry, filed under its 16-byte
//! lookup key (a keyed PRF of the key), the Merkle tree's buckets digesting their records'
//! lookup keys and digests (`docs/formats.md`, "Sealed store", "Before version 3").

use std::fmt;

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTable as _, TableDefinition, TableError};
use ring::aead::{Aad, Nonce, NONCE_LEN};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::fault::Fault;
use super::head::Head;
use super::id::StoreId;
use super::record::{Entries, StoreKeys};
use super::tree::{build, Digest, EMPTY};

/// Bytes of a lookup key.
const LOOKUP_LEN: usize = 16;
/// The table of records.
const RECORDS: TableDefinition<'static, &'static [u8; LOOKUP_LEN], &'static [u8]> =
    TableDefinition::new("records");

const RECORD_AAD_LABEL: &[u8] = b"enclave/v1 store record";

/// Where an entry lives: the first 16 bytes of HMAC-SHA-256(lookup key, plaintext key).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Lookup([u8; LOOKUP_LEN]);

impl Lookup {
    /// The Merkle tree bucket the entry belongs to: the first two bytes, big-endian.
    fn bucket(&self) -> u16 {
        let [a, b, ..] = self.0;
        u16::from_be_bytes([a, b])
    }
}

impl fmt::Debug for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lookup({})", hex::encode(self.0))
    }
}

/// A record that does not open: altered, moved to another lookup key or store, or not a
/// record at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RecordRefused;

/// The format-2 view of the store's keys: the same derivation as format 3's.
trait V2Keys {
    fn v2_lookup(&self, key: &[u8]) -> Lookup;
    fn v2_open(
        &self,
        lookup: &Lookup,
        record: &[u8],
    ) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), RecordRefused>;
    fn v2_aad(&self, lookup: &Lookup) -> [u8; RECORD_AAD_LABEL.len() + 32 + LOOKUP_LEN];
}

impl V2Keys for StoreKeys {
    /// The lookup key of `key`.
    fn v2_lookup(&self, key: &[u8]) -> Lookup {
        let tag = self.lookup_tag(key);
        let mut out = [0u8; LOOKUP_LEN];
        for (o, t) in out.iter_mut().zip(tag.as_ref()) {
            *o = *t;
        }
        Lookup(out)
    }

    /// Opens a record stored under `lookup`: its key and value.
    fn v2_open(
        &self,
        lookup: &Lookup,
        record: &[u8],
    ) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), RecordRefused> {
        let (nonce, body) = record.split_at_checked(NONCE_LEN).ok_or(RecordRefused)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| RecordRefused)?;
        let mut body = Zeroizing::new(body.to_vec());
        let plain = self
            .record_key()
            .open_in_place(nonce, Aad::from(self.v2_aad(lookup)), &mut body)
            .map_err(|_| RecordRefused)?;
        let (len, rest) = plain.split_at_checked(2).ok_or(RecordRefused)?;
        let len = u16::from_be_bytes(len.try_into().map_err(|_| RecordRefused)?);
        let (key, value) = rest
            .split_at_checked(usize::from(len))
            .ok_or(RecordRefused)?;
        Ok((key.to_vec(), Zeroizing::new(value.to_vec())))
    }

    /// `"enclave/v1 store record" || store id || lookup key`.
    fn v2_aad(&self, lookup: &Lookup) -> [u8; RECORD_AAD_LABEL.len() + 32 + LOOKUP_LEN] {
        let mut aad = [0u8; RECORD_AAD_LABEL.len() + 32 + LOOKUP_LEN];
        let id = self.id();
        let parts = RECORD_AAD_LABEL
            .iter()
            .chain(id.as_bytes())
            .chain(&lookup.0);
        for (a, p) in aad.iter_mut().zip(parts) {
            *a = *p;
        }
        aad
    }
}

/// What the Merkle tree commits to for a record: SHA-256 of its bytes.
fn record_digest(record: &[u8]) -> Digest {
    Sha256::digest(record).into()
}

/// A bucket's digest in format 2: `SHA-256(0x00 || for each record in ascending lookup key
/// order: lookup key (16) || record digest (32))`.
fn bucket_digest(entries: &[(Lookup, Digest)]) -> Digest {
    if entries.is_empty() {
        return EMPTY;
    }
    let mut hash = Sha256::new();
    hash.update([0]);
    for (lookup, digest) in entries {
        hash.update(lookup.0);
        hash.update(digest);
    }
    hash.finalize().into()
}

/// Every entry of a format-2 store, after checking that the whole tree recomputed from its
/// records gives `head`'s root and count, and that every record opens under its own lookup key.
pub(super) fn read_all(
    db: &impl ReadableDatabase,
    id: StoreId,
    head: &Head,
) -> Result<Entries, Fault> {
    let keys = StoreKeys::derive(id, &head.data_key).map_err(|_| Fault::Crypto)?;
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
            .v2_open(&lookup, record.value())
            .map_err(|_| Fault::Tampered)?;
        if keys.v2_lookup(&key) != lookup {
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

/// Writes a store in format 2 holding `entries` as version `version`, as the code before
/// format 3 did: for the migration test.
#[cfg(test)]
pub(super) fn write_for_test(
    path: &std::path::Path,
    platform: &crate::Platform,
    identity: &sealer::EnclaveIdentity,
    id: StoreId,
    version: u64,
    entries: &[(&[u8], &[u8])],
) {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use ring::rand::SecureRandom as _;

    let data_key = super::record::DataKey::generate().unwrap();
    let keys = StoreKeys::derive(id, &data_key).unwrap();
    let db = redb::Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    let mut buckets: BTreeMap<u16, Vec<(Lookup, Digest)>> = BTreeMap::new();
    {
        let mut records = txn.open_table(RECORDS).unwrap();
        for (key, value) in entries {
            let lookup = keys.v2_lookup(key);
            let mut nonce = [0u8; NONCE_LEN];
            ring::rand::SystemRandom::new().fill(&mut nonce).unwrap();
            let mut body = (key.len() as u16).to_be_bytes().to_vec();
            body.extend_from_slice(key);
            body.extend_from_slice(value);
            let tag = keys
                .record_key()
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(keys.v2_aad(&lookup)),
                    &mut body,
                )
                .unwrap();
            let mut record = nonce.to_vec();
            record.extend_from_slice(&body);
            record.extend_from_slice(tag.as_ref());
            records.insert(&lookup.0, record.as_slice()).unwrap();
            let bucket = buckets.entry(lookup.bucket()).or_default();
            bucket.push((lookup, record_digest(&record)));
            bucket.sort_by_key(|(lookup, _)| *lookup);
        }
        let digests: Vec<(u16, Digest)> = buckets
            .iter()
            .map(|(bucket, list)| (*bucket, bucket_digest(list)))
            .collect();
        let (root, nodes) = build(&digests);
        let mut table = txn.open_table(super::database::NODES).unwrap();
        for (node_id, node) in nodes {
            table.insert(node_id, node.as_slice()).unwrap();
        }
        let mut plaintext = data_key.0.to_vec();
        plaintext.extend_from_slice(&root);
        plaintext.extend_from_slice(&(entries.len() as u64).to_be_bytes());
        let bytes: usize = entries.iter().map(|(k, v)| k.len() + v.len()).sum();
        plaintext.extend_from_slice(&(bytes as u64).to_be_bytes());
        let head = sealer::blob::seal(
            sealer::blob::BlobKind::StoreState,
            platform.sealing_secrets(),
            identity,
            &identity.signer_policy(),
            &super::head::head_aad(&id, version),
            &plaintext,
        )
        .unwrap();
        txn.open_table(super::database::HEADS)
            .unwrap()
            .insert(super::database::HEAD_KEY, head.as_slice())
            .unwrap();
    }
    txn.commit().unwrap();
}
