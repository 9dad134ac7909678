//! The enclave's HPKE key pair (RFC 9180 DHKEM(X25519, HKDF-SHA256)), derived on demand from the
//! platform secret and never stored.

use std::fmt;

use attest::EnclavePublicKey;
use hpke::kem::Kem as _;
use hpke::Serializable as _;

use crate::error::OpenError;
use crate::kem::{EnclaveKem, KemPrivateKey};
use crate::keys::{derive_key, EnclaveIdentity, KeyPolicy, KeyPurpose, PlatformSecret};

/// The sender's KEM: DHKEM(X25519, HKDF-SHA256), id 0x0020, as `hpke` has it. The enclave
/// decapsulates with [`EnclaveKem`], the same KEM with AWS-LC's X25519 and a kept public key.
pub(crate) type Kem = hpke::kem::X25519HkdfSha256;
/// The KDF: HKDF-SHA256, id 0x0001.
pub(crate) type Kdf = hpke::kdf::HkdfSha256;

/// RFC 9180 KEM id of DHKEM(X25519, HKDF-SHA256).
pub(crate) const KEM_ID: u16 = 0x0020;
/// RFC 9180 KDF id of HKDF-SHA256.
pub(crate) const KDF_ID: u16 = 0x0001;

impl EnclaveIdentity {
    /// Derives this enclave's HPKE key pair under `policy`, after [`Self::check_policy`]. (Here
    /// rather than in `keys.rs`, so that the key pair depends on the key schedule and not the
    /// reverse.)
    ///
    /// # Errors
    /// As [`Self::check_policy`].
    pub fn keypair(
        &self,
        secret: &PlatformSecret,
        policy: &KeyPolicy,
    ) -> Result<EnclaveKeyPair, OpenError> {
        self.check_policy(policy)?;
        Ok(EnclaveKeyPair::derive(secret, policy, self.debug))
    }
}

/// An enclave's HPKE key pair for one key policy and debug bit.
///
/// The private key keeps its public key (a decapsulation needs both), is zeroized on drop and
/// never printed.
pub struct EnclaveKeyPair {
    private: KemPrivateKey,
    public: EnclavePublicKey,
    policy: KeyPolicy,
    debug: bool,
}

impl EnclaveKeyPair {
    /// Derives the key pair: RFC 9180 `DeriveKeyPair(ikm)` with
    /// `ikm = derive_key(secret, HpkeEnclaveKey, policy, debug)`.
    ///
    /// This does not check that the enclave may use `policy`; the runtime should call
    /// [`crate::EnclaveIdentity::keypair`], which does.
    pub fn derive(secret: &PlatformSecret, policy: &KeyPolicy, debug: bool) -> Self {
        let ikm = derive_key(secret, KeyPurpose::HpkeEnclaveKey, policy, debug);
        let (private, public) = EnclaveKem::derive_keypair(ikm.as_slice());
        let public = EnclavePublicKey::from_bytes(public.to_bytes().into());
        Self {
            private,
            public,
            policy: *policy,
            debug,
        }
    }

    /// The public key, as the attestation evidence carries it.
    pub fn public(&self) -> EnclavePublicKey {
        self.public
    }

    /// The policy the pair was derived for.
    pub fn policy(&self) -> &KeyPolicy {
        &self.policy
    }

    /// The debug bit the pair was derived with.
    pub fn debug(&self) -> bool {
        self.debug
    }

    pub(crate) fn private(&self) -> &KemPrivateKey {
        &self.private
    }
}

impl fmt::Debug for EnclaveKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnclaveKeyPair")
            .field("public", &self.public)
            .field("policy", &self.policy)
            .field("debug", &self.debug)
            .finish_non_exhaustive()
    }
}
