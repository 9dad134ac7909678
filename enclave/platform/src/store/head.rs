//! The sealed head: the one sealed blob in a store, binding the version the platform counter
//! checks to the Merkle root over every entry, the entry count and the store's data key.

use std::fmt;

use sealer::blob::{self, BlobError, BlobKind};
use sealer::{EnclaveIdentity, KeyPolicy};

use super::id::StoreId;
use super::record::{DataKey, DATA_KEY_LEN};
use super::tree::{Digest, EMPTY};
use crate::Platform;

/// Length of a head's AAD: the store id and the version.
const HEAD_AAD_LEN: usize = 32 + 8;
/// Length of a head's plaintext: data key, root, entry count, bytes of keys and values, records
/// sealed under the data key.
const HEAD_LEN: usize = DATA_KEY_LEN + 32 + 8 + 8 + 8;
/// Length of a head of format 2 (one record per entry), which had no count of records sealed.
const HEAD_V2_LEN: usize = DATA_KEY_LEN + 32 + 8 + 8;

/// The layout of the records a head commits to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// One record per entry under its 16-byte lookup key (`docs/formats.md`, "Before version
    /// 3"): read only to migrate it.
    V2,
    /// One record per bucket.
    V3,
}

/// What the head seals.
#[derive(Clone)]
pub(super) struct Head {
    /// The version, which the platform counter checks (0: never written).
    pub(super) version: u64,
    /// The root of the Merkle tree over every entry.
    pub(super) root: Digest,
    /// How many entries there are.
    pub(super) count: u64,
    /// The bytes of their keys and values.
    pub(super) bytes: u64,
    /// How many records have been sealed under the data key: its nonce budget.
    pub(super) sealed: u64,
    /// The root of the record and lookup keys.
    pub(super) data_key: DataKey,
    /// The TCB level the head was sealed at, which is the level its data key was drawn or last
    /// rotated at (every write at a newer level rotates it).
    pub(super) tcb: u32,
    /// The layout of the records.
    pub(super) format: Format,
}

impl fmt::Debug for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Head")
            .field("version", &self.version)
            .field("root", &hex::encode(self.root))
            .field("count", &self.count)
            .field("bytes", &self.bytes)
            .field("sealed", &self.sealed)
            .field("tcb", &self.tcb)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// Why a head does not open.
#[derive(Debug)]
pub(super) enum HeadRefused {
    /// The blob does not open for this enclave.
    Blob(BlobError),
    /// It opened, but is not a head of this store under a signer policy.
    Foreign(&'static str),
}

impl fmt::Display for HeadRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Blob(e) => e.fmt(f),
            Self::Foreign(why) => f.write_str(why),
        }
    }
}

impl Head {
    /// The head of a store never written on a platform at TCB level `tcb`, with a fresh data
    /// key.
    pub(super) fn empty(tcb: u32) -> Result<Self, ring::error::Unspecified> {
        Ok(Self {
            version: 0,
            root: EMPTY,
            count: 0,
            bytes: 0,
            sealed: 0,
            data_key: DataKey::generate()?,
            tcb,
            format: Format::V3,
        })
    }

    /// Seals the head under the signer policy at `identity`'s svn, as an `ENCLSTAT` blob with the
    /// AAD `store id || version (u64 BE)`.
    pub(super) fn seal(
        &self,
        platform: &Platform,
        identity: &EnclaveIdentity,
        id: &StoreId,
    ) -> Result<Vec<u8>, BlobError> {
        let mut plaintext = zeroize::Zeroizing::new(Vec::with_capacity(HEAD_LEN));
        plaintext.extend_from_slice(self.data_key.0.as_ref());
        plaintext.extend_from_slice(&self.root);
        plaintext.extend_from_slice(&self.count.to_be_bytes());
        plaintext.extend_from_slice(&self.bytes.to_be_bytes());
        plaintext.extend_from_slice(&self.sealed.to_be_bytes());
        blob::seal(
            BlobKind::StoreState,
            platform.sealing_secrets(),
            identity,
            &identity.signer_policy(),
            &head_aad(id, self.version),
            &plaintext,
        )
    }

    /// Opens a sealed head of store `id` as `identity`.
    pub(super) fn open(
        platform: &Platform,
        identity: &EnclaveIdentity,
        id: &StoreId,
        bytes: &[u8],
    ) -> Result<Self, HeadRefused> {
        let opened = blob::open(
            BlobKind::StoreState,
            platform.sealing_secrets(),
            identity,
            bytes,
        )
        .map_err(HeadRefused::Blob)?;
        if !matches!(opened.policy, KeyPolicy::Signer { .. }) {
            return Err(HeadRefused::Foreign("not sealed under a signer policy"));
        }
        let version = parse_head_aad(&opened.aad)
            .filter(|(sealed_id, _)| sealed_id == id)
            .map(|(_, version)| version)
            .ok_or(HeadRefused::Foreign("sealed for another store"))?;
        let malformed = || HeadRefused::Foreign("not a store head");
        let (format, plain) = match opened.plaintext.len() {
            HEAD_LEN => (Format::V3, opened.plaintext.as_slice()),
            HEAD_V2_LEN => (Format::V2, opened.plaintext.as_slice()),
            _ => return Err(malformed()),
        };
        let (key, rest) = plain.split_at_checked(DATA_KEY_LEN).ok_or_else(malformed)?;
        let (root, rest) = rest.split_at_checked(32).ok_or_else(malformed)?;
        let (count, rest) = rest.split_at_checked(8).ok_or_else(malformed)?;
        let (bytes, sealed) = rest.split_at_checked(8).ok_or_else(malformed)?;
        let u64_of = |b: &[u8]| {
            b.try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| malformed())
        };
        let mut data_key = zeroize::Zeroizing::new([0u8; DATA_KEY_LEN]);
        data_key.copy_from_slice(key);
        Ok(Self {
            version,
            root: root.try_into().map_err(|_| malformed())?,
            count: u64_of(count)?,
            bytes: u64_of(bytes)?,
            sealed: if sealed.is_empty() {
                0
            } else {
                u64_of(sealed)?
            },
            data_key: DataKey(data_key),
            tcb: opened.tcb,
            format,
        })
    }
}

/// The version a sealed head claims, read without any key (so not authenticated).
pub(super) fn claimed_version(bytes: &[u8]) -> Result<u64, String> {
    let header = blob::read_header(BlobKind::StoreState, bytes).map_err(|e| e.to_string())?;
    parse_head_aad(header.aad)
        .map(|(_, version)| version)
        .ok_or_else(|| "no version in its header".into())
}

/// The AAD of a head: store id || version (u64 BE).
pub(super) fn head_aad(id: &StoreId, version: u64) -> [u8; HEAD_AAD_LEN] {
    let mut aad = [0u8; HEAD_AAD_LEN];
    let (head, tail) = aad.split_at_mut(32);
    head.copy_from_slice(id.as_bytes());
    tail.copy_from_slice(&version.to_be_bytes());
    aad
}

pub(super) fn parse_head_aad(aad: &[u8]) -> Option<(StoreId, u64)> {
    let aad: &[u8; HEAD_AAD_LEN] = aad.try_into().ok()?;
    let (id, version) = aad.split_at(32);
    Some((
        StoreId(id.try_into().ok()?),
        u64::from_be_bytes(version.try_into().ok()?),
    ))
}
