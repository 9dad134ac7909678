//! `enclave unseal` of a debug enclave's store: the state, checked and opened, to look at.

use std::fs::File;
use std::io::{self, Read as _};
use std::path::Path;

use attest::bundle::VerifiedBundle;
use sealer::blob::{self, BlobKind};

use crate::Platform;

use super::*;

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

/// Opens a sealed blob or a store file for the debug enclave of `bundle` on `platform`. A store
/// is opened whatever its version, which is reported with the counter, and checked whole: every
/// record is decrypted and the tree recomputed against the sealed root.
///
/// # Errors
/// [`InspectError::ProductionEnclave`] for a non-debug bundle, and the blob or state errors.
pub fn inspect(
    platform: &Platform,
    bundle: &VerifiedBundle,
    path: &Path,
) -> Result<Inspection, InspectError> {
    let identity = platform.bundle_identity(bundle);
    if !identity.debug {
        return Err(InspectError::ProductionEnclave);
    }
    let id = StoreId::of(&identity);
    let counter = || read_counter(&StorePaths::new(platform.home(), &id).counter);
    let mut magic = [0u8; 8];
    File::open(path)
        .and_then(|mut file| file.read_exact(&mut magic))
        .or_else(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => Ok(()),
            _ => Err(e),
        })
        .map_err(|e| io_error(path, &e))?;
    if magic == BlobKind::Sealed.magic() {
        let bytes = read_capped(path, blob::MAX_BLOB)?;
        return blob::open(
            BlobKind::Sealed,
            platform.sealing_secrets(),
            &identity,
            &bytes,
        )
        .map(Inspection::Blob)
        .map_err(InspectError::Blob);
    }
    if magic == BlobKind::StoreState.magic() {
        let bytes = read_capped(path, blob::MAX_BLOB)?;
        let state = legacy::open(platform, &identity, &id, path, &bytes)?;
        return Ok(Inspection::State {
            state,
            counter: counter()?,
        });
    }
    if magic != database::MAGIC_PREFIX {
        return Err(InspectError::UnknownFormat);
    }
    let _lock = lock_existing(&path.with_file_name("lock"))?;
    let fault = |e| fault_error(path, e);
    let file = StoreFile::open(path)
        .map_err(fault)?
        .ok_or_else(|| io_error(path, &io::ErrorKind::NotFound.into()))?;
    let state = match file.head().map_err(fault)? {
        None => StoreState::default(),
        Some(sealed) => {
            let head =
                Head::open(platform, &identity, &id, &sealed).map_err(|e| StoreError::Refused {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
            let entries = match head.format {
                head::Format::V2 => file.read_v2(id, &head),
                head::Format::V3 => StoreKeys::derive(id, &head.data_key)
                    .map_err(|_| Fault::Crypto)
                    .and_then(|keys| file.audit(&head, &keys)),
            };
            StoreState {
                version: head.version,
                entries: entries.map_err(fault)?,
            }
        }
    };
    Ok(Inspection::State {
        state,
        counter: counter()?,
    })
}
