//! The sealed head: the one sealed blob in a store, binding the version the platform counter
//! checks to the Merkle root over every entry, the entry count and the store's data key.

use std::fmt;

use sealer::blob::{self, BlobError, BlobKind};
use sealer::{EnclaveIdentity, KeyPolicy};

use super::record::{DataKey, DATA_KEY_LEN};
use super::tree::{Digest, EMPTY};
use super::StoreId;
use crate::Platform;

/// Length of a head's AAD: the store id and the version.
const HEAD_AAD_LEN: usize = 32 + 8;
/// Length of a head's plaintext: data key, root, entry count, bytes of keys and values.
const HEAD_LEN: usize = DATA_KEY_LEN + 32 + 8 + 8;

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
    /// The root of the record and lookup keys.
    pub(super) data_key: DataKey,
}

impl fmt::Debug for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Head")
            .field("version", &self.version)
            .field("root", &hex::encode(self.root))
            .field("count", &self.count)
            .field("bytes", &self.bytes)
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
    /// The head of a store never written, with a fresh data key.
    pub(super) fn empty() -> Result<Self, ring::error::Unspecified> {
        Ok(Self {
            version: 0,
            root: EMPTY,
            count: 0,
            bytes: 0,
            data_key: DataKey::generate()?,
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
        let plain: &[u8; HEAD_LEN] = opened
            .plaintext
            .as_slice()
            .try_into()
            .map_err(|_| HeadRefused::Foreign("not a store head"))?;
        let (key, rest) = plain.split_at(DATA_KEY_LEN);
        let (root, rest) = rest.split_at(32);
        let (count, bytes) = rest.split_at(8);
        let malformed = |_| HeadRefused::Foreign("not a store head");
        let mut data_key = zeroize::Zeroizing::new([0u8; DATA_KEY_LEN]);
        data_key.copy_from_slice(key);
        Ok(Self {
            version,
            root: root.try_into().map_err(malformed)?,
            count: u64::from_be_bytes(count.try_into().map_err(malformed)?),
            bytes: u64::from_be_bytes(bytes.try_into().map_err(malformed)?),
            data_key: DataKey(data_key),
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
