//! The store's previous format, one sealed blob holding every entry: its plaintext encoding,
//! kept for the fuzz seeds and for reading a store written before the redesign
//! (`docs/formats.md`, "Sealed store", "Before version 2").

use std::fs::File;
use std::io::{self, Read as _};
use std::path::Path;

use sealer::blob::{self, BlobKind};
use sealer::{EnclaveIdentity, KeyPolicy};

use super::error::{read_capped, StoreError};
use super::head::parse_head_aad;
use super::id::{StoreId, StoreState};
use super::record::decode_entries;
use crate::Platform;

/// Whether the store file at `path` is in the previous format (starts with `ENCLSTAT`).
pub(super) fn is_legacy(path: &Path) -> io::Result<bool> {
    let mut magic = [0u8; 8];
    match File::open(path).and_then(|mut file| file.read_exact(&mut magic)) {
        Ok(()) => Ok(magic == BlobKind::StoreState.magic()),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::UnexpectedEof
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Reads and opens the state at `path`, in the one-blob format, for its migration into the
/// current one (the caller checks its version against the counter, then replaces it).
pub(super) fn read(
    platform: &Platform,
    identity: &EnclaveIdentity,
    id: &StoreId,
    path: &Path,
) -> Result<StoreState, StoreError> {
    let bytes = read_capped(path, blob::MAX_BLOB)?;
    open(platform, identity, id, path, &bytes)
}

/// Opens a state in the previous format as `identity` and checks it belongs to store `id`.
pub(super) fn open(
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
        platform.sealing_secrets(),
        identity,
        bytes,
    )
    .map_err(|e| refused(e.to_string()))?;
    if !matches!(opened.policy, KeyPolicy::Signer { .. }) {
        return Err(refused("not sealed under a signer policy".into()));
    }
    let version = parse_head_aad(&opened.aad)
        .filter(|(sealed_id, _)| sealed_id == id)
        .map(|(_, version)| version)
        .ok_or_else(|| refused("sealed for another store".into()))?;
    let entries = decode_entries(&opened.plaintext).map_err(|reason| StoreError::Malformed {
        path: path.to_owned(),
        reason: reason.into(),
    })?;
    Ok(StoreState { version, entries })
}
