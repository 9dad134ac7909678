//! One entry of the store on disk: its lookup key (a keyed PRF of the plaintext key) and its
//! record (the key and value under AES-256-GCM, bound to the store and the lookup key).
//!
//! Both keys come from the store's random data key, which only the sealed head holds
//! (`docs/formats.md`, "Sealed store").

use std::fmt;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::SecureRandom as _;
use ring::{hkdf, hmac};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::tree::Digest;
use super::StoreId;

/// Bytes of a lookup key.
pub(super) const LOOKUP_LEN: usize = 16;
/// Bytes of a data key.
pub(super) const DATA_KEY_LEN: usize = 32;
/// The AES-256-GCM tag.
const TAG_LEN: usize = 16;
/// A record's bytes beyond its key and value: nonce, key length, tag.
pub(super) const RECORD_OVERHEAD: usize = NONCE_LEN + 2 + TAG_LEN;

const LOOKUP_INFO: &[u8] = b"enclave/v1 store lookup key";
const RECORD_INFO: &[u8] = b"enclave/v1 store record key";
const RECORD_AAD_LABEL: &[u8] = b"enclave/v1 store record";

/// Where an entry lives: the first 16 bytes of HMAC-SHA-256(lookup key, plaintext key).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Lookup(pub(super) [u8; LOOKUP_LEN]);

impl Lookup {
    /// The Merkle tree bucket the entry belongs to: the first two bytes, big-endian.
    pub(super) fn bucket(&self) -> u16 {
        let [a, b, ..] = self.0;
        u16::from_be_bytes([a, b])
    }
}

impl fmt::Debug for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lookup({})", hex::encode(self.0))
    }
}

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

/// A record that does not open: altered, moved to another lookup key or store, or not a
/// record at all.
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

    /// The lookup key of `key`.
    pub(super) fn lookup(&self, key: &[u8]) -> Lookup {
        let tag = hmac::sign(&self.lookup, key);
        let mut out = [0u8; LOOKUP_LEN];
        for (o, t) in out.iter_mut().zip(tag.as_ref()) {
            *o = *t;
        }
        Lookup(out)
    }

    /// `nonce (12) || AES-256-GCM(key_len (u16 BE) || key || value) || tag (16)`, with a random
    /// nonce and the record AAD of `lookup`.
    pub(super) fn seal(
        &self,
        lookup: &Lookup,
        key: &[u8],
        value: &[u8],
    ) -> Result<Vec<u8>, ring::error::Unspecified> {
        let key_len = u16::try_from(key.len()).map_err(|_| ring::error::Unspecified)?;
        let mut nonce = [0u8; NONCE_LEN];
        ring::rand::SystemRandom::new().fill(&mut nonce)?;
        let mut out = Vec::with_capacity(RECORD_OVERHEAD + key.len() + value.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&key_len.to_be_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(value);
        let mut body = out.split_off(NONCE_LEN);
        let tag = self.record.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(self.aad(lookup)),
            &mut body,
        )?;
        out.extend_from_slice(&body);
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Opens a record stored under `lookup`: its key and value.
    pub(super) fn open(
        &self,
        lookup: &Lookup,
        record: &[u8],
    ) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), RecordRefused> {
        let (nonce, body) = record.split_at_checked(NONCE_LEN).ok_or(RecordRefused)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| RecordRefused)?;
        let mut body = Zeroizing::new(body.to_vec());
        let plain = self
            .record
            .open_in_place(nonce, Aad::from(self.aad(lookup)), &mut body)
            .map_err(|_| RecordRefused)?;
        let (len, rest) = plain.split_at_checked(2).ok_or(RecordRefused)?;
        let len = u16::from_be_bytes(len.try_into().map_err(|_| RecordRefused)?);
        let (key, value) = rest
            .split_at_checked(usize::from(len))
            .ok_or(RecordRefused)?;
        Ok((key.to_vec(), Zeroizing::new(value.to_vec())))
    }

    /// `"enclave/v1 store record" || store id || lookup key`.
    fn aad(&self, lookup: &Lookup) -> [u8; RECORD_AAD_LABEL.len() + 32 + LOOKUP_LEN] {
        let mut aad = [0u8; RECORD_AAD_LABEL.len() + 32 + LOOKUP_LEN];
        let parts = RECORD_AAD_LABEL
            .iter()
            .chain(self.id.as_bytes())
            .chain(&lookup.0);
        for (a, p) in aad.iter_mut().zip(parts) {
            *a = *p;
        }
        aad
    }
}

/// What the Merkle tree commits to for a record: SHA-256 of its bytes.
pub(super) fn record_digest(record: &[u8]) -> Digest {
    Sha256::digest(record).into()
}

fn expand(prk: &hkdf::Prk, info: &[u8], out: &mut [u8]) -> Result<(), ring::error::Unspecified> {
    prk.expand(&[info], hkdf::HKDF_SHA256)?.fill(out)
}
