//! The store's records: one per non-empty bucket of the Merkle tree, holding every entry whose
//! key the store's keyed PRF puts in that bucket, under AES-256-GCM bound to the store and the
//! bucket.
//!
//! Both keys come from the store's random data key, which only the sealed head holds
//! (`docs/formats.md`, "Sealed store").

use std::collections::BTreeMap;
use std::fmt;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::SecureRandom as _;
use ring::{hkdf, hmac};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::id::{StoreId, MAX_KEY, MAX_VALUE};
use super::tree::Digest;

/// Bytes of a data key.
pub(super) const DATA_KEY_LEN: usize = 32;
/// The AES-256-GCM tag.
const TAG_LEN: usize = 16;
/// A record's bytes beyond the encoding of its entries: nonce and tag.
pub(super) const RECORD_OVERHEAD: usize = NONCE_LEN + TAG_LEN;
/// Largest record: 16 MiB. Buckets are chosen by a PRF the guest cannot compute, so a bucket
/// holds about 1/65,536 of the state (16 KiB of the largest state); a put that would make one
/// larger is refused, and a stored record larger than this is refused before it is read.
pub(super) const MAX_RECORD: usize = 16 << 20;

const LOOKUP_INFO: &[u8] = b"enclave/v1 store lookup key";
const RECORD_INFO: &[u8] = b"enclave/v1 store record key";
const BUCKET_AAD_LABEL: &[u8] = b"enclave/v3 store bucket";

/// A bucket's entries: plaintext keys and values, in ascending key order.
pub(super) type Entries = BTreeMap<Vec<u8>, Zeroizing<Vec<u8>>>;

/// The store's random 32-byte root of its keys, kept only inside the sealed head; zeroized on
/// drop.
#[derive(Clone)]
pub(super) struct DataKey(pub(super) Zeroizing<[u8; DATA_KEY_LEN]>);

impl DataKey {
    /// A fresh key from the system random generator.
    pub(super) fn generate() -> Result<Self, ring::error::Unspecified> {
        let mut key = Zeroizing::new([0u8; DATA_KEY_LEN]);
        ring::rand::SystemRandom::new().fill(key.as_mut())?;
        Ok(Self(key))
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// The two keys derived from a store's data key.
pub(super) struct StoreKeys {
    id: StoreId,
    lookup: hmac::Key,
    record: LessSafeKey,
}

impl fmt::Debug for StoreKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreKeys")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A record that does not open: altered, moved to another bucket or store, not canonical, or
/// not a record at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RecordRefused;

impl StoreKeys {
    /// HKDF-SHA-256 with the store id as salt and the data key as input keying material.
    pub(super) fn derive(
        id: StoreId,
        data_key: &DataKey,
    ) -> Result<Self, ring::error::Unspecified> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, id.as_bytes()).extract(data_key.0.as_ref());
        let mut lookup = Zeroizing::new([0u8; 32]);
        let mut record = Zeroizing::new([0u8; 32]);
        expand(&prk, LOOKUP_INFO, lookup.as_mut())?;
        expand(&prk, RECORD_INFO, record.as_mut())?;
        Ok(Self {
            id,
            lookup: hmac::Key::new(hmac::HMAC_SHA256, lookup.as_ref()),
            record: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, record.as_ref())?),
        })
    }

    /// HMAC-SHA-256(lookup key, `key`): its first two bytes are the bucket (format 2 filed an
    /// entry under its first 16).
    pub(super) fn lookup_tag(&self, key: &[u8]) -> hmac::Tag {
        hmac::sign(&self.lookup, key)
    }

    /// The AES-256-GCM key of the records.
    pub(super) fn record_key(&self) -> &LessSafeKey {
        &self.record
    }

    /// The store the keys belong to.
    pub(super) fn id(&self) -> StoreId {
        self.id
    }

    /// The bucket of `key`: the first two bytes of HMAC-SHA-256(lookup key, key), big-endian.
    pub(super) fn bucket(&self, key: &[u8]) -> u16 {
        let tag = self.lookup_tag(key);
        match tag.as_ref() {
            [a, b, ..] => u16::from_be_bytes([*a, *b]),
            _ => 0,
        }
    }

    /// `nonce (12) || AES-256-GCM(entries encoded) || tag (16)`, with a random nonce and the
    /// AAD of `bucket`.
    pub(super) fn seal(
        &self,
        bucket: u16,
        entries: &Entries,
    ) -> Result<Vec<u8>, ring::error::Unspecified> {
        let mut nonce = [0u8; NONCE_LEN];
        ring::rand::SystemRandom::new().fill(&mut nonce)?;
        let mut body = encode_entries(entries);
        let tag = self.record.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(self.aad(bucket)),
            &mut body,
        )?;
        let mut out = Vec::with_capacity(RECORD_OVERHEAD + body.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Opens the record of `bucket`: its entries, each of which must belong to `bucket`, none
    /// in a bucket without entries.
    pub(super) fn open(&self, bucket: u16, record: &[u8]) -> Result<Entries, RecordRefused> {
        if record.len() > MAX_RECORD {
            return Err(RecordRefused);
        }
        let (nonce, body) = record.split_at_checked(NONCE_LEN).ok_or(RecordRefused)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| RecordRefused)?;
        let mut body = Zeroizing::new(body.to_vec());
        let plain = self
            .record
            .open_in_place(nonce, Aad::from(self.aad(bucket)), &mut body)
            .map_err(|_| RecordRefused)?;
        let entries = decode_entries(plain).map_err(|_| RecordRefused)?;
        if entries.is_empty() || entries.keys().any(|key| self.bucket(key) != bucket) {
            return Err(RecordRefused);
        }
        Ok(entries)
    }

    /// `"enclave/v3 store bucket" || store id || bucket (u16 BE)`.
    fn aad(&self, bucket: u16) -> [u8; BUCKET_AAD_LABEL.len() + 32 + 2] {
        let mut aad = [0u8; BUCKET_AAD_LABEL.len() + 32 + 2];
        let bucket = bucket.to_be_bytes();
        let parts = BUCKET_AAD_LABEL
            .iter()
            .chain(self.id.as_bytes())
            .chain(&bucket);
        for (a, p) in aad.iter_mut().zip(parts) {
            *a = *p;
        }
        aad
    }
}

/// What the Merkle tree commits to for a bucket: `SHA-256(0x00 || record)`.
pub(super) fn bucket_digest(record: &[u8]) -> Digest {
    let mut hash = Sha256::new();
    hash.update([0]);
    hash.update(record);
    hash.finalize().into()
}

/// The bytes of keys and values `entries` hold.
pub(super) fn entries_bytes(entries: &Entries) -> u64 {
    entries
        .iter()
        .map(|(k, v)| (k.len() + v.len()) as u64)
        .sum()
}

fn expand(prk: &hkdf::Prk, info: &[u8], out: &mut [u8]) -> Result<(), ring::error::Unspecified> {
    prk.expand(&[info], hkdf::HKDF_SHA256)?.fill(out)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    fn keys() -> StoreKeys {
        StoreKeys::derive(StoreId([9; 32]), &DataKey(Zeroizing::new([7; 32]))).unwrap()
    }

    fn bucket_with(keys: &StoreKeys, key: &[u8]) -> (u16, Entries) {
        let mut entries = Entries::new();
        entries.insert(key.to_vec(), Zeroizing::new(b"value".to_vec()));
        (keys.bucket(key), entries)
    }

    #[test]
    fn a_record_opens_only_in_its_own_bucket_and_store() {
        let keys = keys();
        let (bucket, entries) = bucket_with(&keys, b"k");
        let record = keys.seal(bucket, &entries).unwrap();
        assert_eq!(record.len(), RECORD_OVERHEAD + 4 + 6 + 1 + 5);
        assert_eq!(keys.open(bucket, &record).unwrap(), entries);
        assert_eq!(
            keys.open(bucket.wrapping_add(1), &record),
            Err(RecordRefused)
        );
        let other = StoreKeys::derive(StoreId([8; 32]), &DataKey(Zeroizing::new([7; 32]))).unwrap();
        assert_eq!(other.open(bucket, &record), Err(RecordRefused));
    }

    #[test]
    fn a_record_holding_a_key_of_another_bucket_or_none_is_refused() {
        let keys = keys();
        let (bucket, mut entries) = bucket_with(&keys, b"k");
        let stranger = (0u32..)
            .map(|i| i.to_be_bytes().to_vec())
            .find(|k| keys.bucket(k) != bucket)
            .unwrap();
        entries.insert(stranger, Zeroizing::new(Vec::new()));
        let record = keys.seal(bucket, &entries).unwrap();
        assert_eq!(keys.open(bucket, &record), Err(RecordRefused));
        let empty = keys.seal(bucket, &Entries::new()).unwrap();
        assert_eq!(keys.open(bucket, &empty), Err(RecordRefused));
    }
}
