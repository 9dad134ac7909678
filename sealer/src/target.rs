//! [`SealTarget`]: where and to whom a client seals, as verified evidence names it. Below the
//! sealed input (`input`) and the client context (`context`), which both take it.

use attest::{EnclavePublicKey, PlatformId};

use crate::digest::EvidenceDigest;
use crate::keys::KeyPolicy;

/// Where and to whom a client seals: taken from verified attestation evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealTarget {
    /// The attested enclave public key for `policy` (the evidence carries one per policy).
    pub public_key: EnclavePublicKey,
    /// The key policy the public key belongs to.
    pub policy: KeyPolicy,
    /// Whether the enclave is a debug enclave.
    pub debug: bool,
    /// SHA-256 of the evidence the client verified.
    pub evidence_digest: EvidenceDigest,
    /// The platform the evidence came from.
    pub platform_id: PlatformId,
}
