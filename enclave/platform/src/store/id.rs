//! What names a store and what it holds: [`StoreId`], [`StoreState`] and the caps on keys,
//! values and the whole state. Below every format module of the store.

use std::collections::BTreeMap;
use std::fmt;

use sealer::EnclaveIdentity;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Largest key: 256 bytes, the ABI's cap.
pub const MAX_KEY: usize = enclave_runtime::abi::MAX_STORE_KEY;
/// Largest value: 64 KiB, the ABI's cap.
pub const MAX_VALUE: usize = enclave_runtime::abi::MAX_STORE_VALUE;
/// Largest state: 1 GiB of keys and values in all.
pub const MAX_STATE: usize = 1 << 30;

/// Names one store: SHA-256 of `"enclave/v1 store id" || 0x00 || signer id || product id (u16
/// BE) || debug (1 byte)`. Shown in hex; it names the store's directory and counter file.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreId(pub(super) [u8; 32]);

impl StoreId {
    /// The store of `identity`'s signer, product and debug mode.
    pub fn of(identity: &EnclaveIdentity) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"enclave/v1 store id\0");
        hash.update(identity.signer.as_bytes());
        hash.update(identity.product_id.0.to_be_bytes());
        hash.update([u8::from(identity.debug)]);
        Self(hash.finalize().into())
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(super) fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        (hex::encode(bytes) == text).then_some(Self(bytes))
    }
}

impl fmt::Display for StoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for StoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreId({self})")
    }
}

/// A loaded state: its version and its entries.
#[derive(Default)]
pub struct StoreState {
    /// The version (0 for a store never written).
    pub version: u64,
    /// The entries, in key order; values zeroized on drop.
    pub entries: BTreeMap<Vec<u8>, Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for StoreState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreState")
            .field("version", &self.version)
            .field("entries", &self.entries.len())
            .finish()
    }
}
