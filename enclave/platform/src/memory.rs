//! A platform held in memory: a vendor root, an attestation key and TCB secrets generated when
//! it is created and gone when it is dropped, with no home directory and no files. For tests
//! and simple hosts; evidence and receipts it signs verify with `attest` against
//! [`MemoryPlatform::root_pem`], like those of a platform on disk.
//!
//! Its sealed store lives in memory too: it is empty again in the next process, so nothing
//! sealed or stored by its enclaves outlives it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use attest::evidence::{Claims, EvidenceError};
use attest::platform::{AttestationKey, VendorCa};
use attest::PlatformId;
use enclave_runtime::{
    ConfidentialPlatform, Enclave, PlatformServices, ReportRefused, RunScope, SealPolicy,
    ServiceRefused,
};
use sealer::blob::{self, BlobKind, Unsealed};
use sealer::{EnclaveIdentity, EnclaveKeyPair, KeyPolicy, TcbSecrets};
use zeroize::Zeroizing;

use crate::home::{claims, recovery_root};
use crate::reporter::{refusal, GateTurn, StoreGate};
use crate::{unix_seconds, PlatformError, CERT_VALIDITY, CHAIN_ID_LEN, ROOT_VALIDITY};

/// Most bytes (keys and values) one enclave may keep in a memory platform's store: 16 MiB.
pub const MAX_MEMORY_STORE_BYTES: usize = 16 << 20;

/// A simulated platform with ephemeral keys (see the module documentation).
pub struct MemoryPlatform {
    attestation: AttestationKey,
    root_pem: String,
    secrets: TcbSecrets,
}

impl std::fmt::Debug for MemoryPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryPlatform")
            .field("platform_id", &self.platform_id())
            .field("tcb", &self.tcb())
            .finish_non_exhaustive()
    }
}

impl MemoryPlatform {
    /// A new platform named `name` at TCB level `tcb`, with a vendor root of its own, its
    /// certificates valid from `now`.
    ///
    /// # Errors
    /// [`PlatformError`] when a key or certificate cannot be made, or `tcb` is out of range.
    pub fn generate(name: &str, tcb: u32, now: SystemTime) -> Result<Self, PlatformError> {
        let common_name = format!("enclave simulated vendor root ({name}, in memory)");
        let vendor = VendorCa::generate(&common_name, now, now + ROOT_VALIDITY)?;
        let mut chain = [0u8; CHAIN_ID_LEN];
        let mut part = Zeroizing::new([0u8; 32]);
        let rng = ring::rand::SystemRandom::new();
        ring::rand::SecureRandom::fill(&rng, &mut chain).map_err(|_| PlatformError::Random)?;
        ring::rand::SecureRandom::fill(&rng, part.as_mut()).map_err(|_| PlatformError::Random)?;
        let secrets = recovery_root(&vendor, &chain).provision(tcb, *part)?;
        let attestation = vendor.issue(name, tcb, now, now + CERT_VALIDITY)?;
        Ok(Self {
            attestation,
            root_pem: vendor.cert_pem().to_owned(),
            secrets,
        })
    }

    /// The vendor root certificate, PEM: what a relying party pins.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// SHA-256 of the attestation certificate's public key: the platform's identity.
    pub fn platform_id(&self) -> PlatformId {
        self.attestation.platform_id()
    }

    /// The TCB version certified in the attestation certificate.
    pub fn tcb(&self) -> u32 {
        self.attestation.tcb()
    }

    /// The claims this platform attests for `enclave`, with the caller's nonce and report data.
    pub fn claims(
        &self,
        enclave: &Enclave,
        nonce: &[u8],
        report_data: &[u8],
        now: SystemTime,
    ) -> Claims {
        let mut claims = claims(&self.attestation, self.secrets.current(), enclave, now);
        claims.nonce = nonce.to_vec();
        claims.report_data = report_data.to_vec();
        claims
    }

    /// Attestation evidence (`docs/formats.md`) for `enclave` on this platform.
    ///
    /// # Errors
    /// A nonce or report data of a size the format does not allow, or a signing failure.
    pub fn attest(
        &self,
        enclave: &Enclave,
        nonce: &[u8],
        report_data: &[u8],
        now: SystemTime,
    ) -> Result<Vec<u8>, EvidenceError> {
        self.attestation
            .sign_evidence(&self.claims(enclave, nonce, report_data, now))
    }

    /// The platform services a guest of `enclave` may call (`report`, `seal`, `store`), dated
    /// by the system clock; pass them to [`Enclave::run`].
    pub fn services(self: &Arc<Self>, enclave: &Enclave) -> Arc<dyn PlatformServices> {
        Arc::new(MemoryServices {
            platform: Arc::clone(self),
            claims: claims(
                &self.attestation,
                self.secrets.current(),
                enclave,
                SystemTime::now(),
            ),
            identity: enclave.identity(),
            store: Mutex::default(),
            gate: Arc::default(),
        })
    }
}

impl ConfidentialPlatform for MemoryPlatform {
    fn platform_id(&self) -> PlatformId {
        MemoryPlatform::platform_id(self)
    }

    fn enclave_keypair(
        &self,
        identity: &EnclaveIdentity,
        policy: &KeyPolicy,
    ) -> Result<EnclaveKeyPair, sealer::OpenError> {
        identity.keypair(self.secrets.current(), policy)
    }

    fn sign_receipt(
        &self,
        claims: &attest::receipt::ReceiptClaims,
    ) -> Result<Vec<u8>, EvidenceError> {
        self.attestation.sign_receipt(claims)
    }
}

/// One enclave's services on a [`MemoryPlatform`].
struct MemoryServices {
    platform: Arc<MemoryPlatform>,
    claims: Claims,
    identity: EnclaveIdentity,
    store: Mutex<MemoryStore>,
    gate: Arc<StoreGate>,
}

/// The entries of one enclave's in-memory store and their total size.
#[derive(Default)]
struct MemoryStore {
    entries: BTreeMap<Vec<u8>, Zeroizing<Vec<u8>>>,
    bytes: usize,
}

impl MemoryServices {
    fn policy(&self, policy: SealPolicy) -> KeyPolicy {
        match policy {
            SealPolicy::Measurement => self.identity.measurement_policy(),
            SealPolicy::Signer => self.identity.signer_policy(),
            SealPolicy::SignerAt(svn) => KeyPolicy::Signer {
                signer: self.identity.signer,
                product_id: self.identity.product_id,
                svn,
            },
        }
    }

    fn store(&self) -> std::sync::MutexGuard<'_, MemoryStore> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl PlatformServices for MemoryServices {
    fn issue(&self, nonce: &[u8], report_data: &[u8]) -> Result<Vec<u8>, ReportRefused> {
        if !attest::evidence::NONCE_LEN.contains(&nonce.len())
            || report_data.len() > attest::evidence::MAX_REPORT_DATA
        {
            return Err(ReportRefused::BadSize);
        }
        let mut claims = self.claims.clone();
        claims.nonce = nonce.to_vec();
        claims.report_data = report_data.to_vec();
        claims.issued_at = unix_seconds(SystemTime::now());
        self.platform
            .attestation
            .sign_evidence(&claims)
            .map_err(|_| ReportRefused::Failed)
    }

    fn seal(
        &self,
        policy: SealPolicy,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ServiceRefused> {
        let policy = self.policy(policy);
        let secrets = &self.platform.secrets;
        blob::seal(
            BlobKind::Sealed,
            secrets,
            &self.identity,
            &policy,
            aad,
            plaintext,
        )
        .map_err(refusal)
    }

    fn seal_at(
        &self,
        policy: SealPolicy,
        tcb: u32,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ServiceRefused> {
        let policy = self.policy(policy);
        let secrets = &self.platform.secrets;
        blob::seal_at(
            BlobKind::Sealed,
            secrets,
            tcb,
            &self.identity,
            &policy,
            aad,
            plaintext,
        )
        .map_err(refusal)
    }

    fn tcb_level(&self) -> Result<u32, ServiceRefused> {
        Ok(self.platform.secrets.level())
    }

    fn unseal(&self, sealed: &[u8]) -> Result<Unsealed, ServiceRefused> {
        blob::open(
            BlobKind::Sealed,
            &self.platform.secrets,
            &self.identity,
            sealed,
        )
        .map_err(|e| match refusal(e) {
            ServiceRefused::TooLarge => ServiceRefused::Failed,
            other => other,
        })
    }

    fn store_get(&self, key: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, ServiceRefused> {
        Ok(self.store().entries.get(key).cloned())
    }

    /// Refused with [`ServiceRefused::TooLarge`] past [`MAX_MEMORY_STORE_BYTES`].
    fn store_put(&self, key: &[u8], value: &[u8]) -> Result<(), ServiceRefused> {
        let mut store = self.store();
        let old = store.entries.get(key).map_or(0, |v| key.len() + v.len());
        let bytes = store.bytes - old + key.len() + value.len();
        if bytes > MAX_MEMORY_STORE_BYTES {
            return Err(ServiceRefused::TooLarge);
        }
        store
            .entries
            .insert(key.to_vec(), Zeroizing::new(value.to_vec()));
        store.bytes = bytes;
        Ok(())
    }

    fn store_delete(&self, key: &[u8]) -> Result<bool, ServiceRefused> {
        let mut store = self.store();
        let Some(value) = store.entries.remove(key) else {
            return Ok(false);
        };
        store.bytes -= key.len() + value.len();
        Ok(true)
    }

    /// One run at a time holds the store, so a run's reads and writes are one transaction.
    fn begin_run(&self) -> Result<RunScope, ServiceRefused> {
        let turn: GateTurn = self.gate.enter();
        Ok(RunScope::holding(turn))
    }
}

#[cfg(test)]
mod tests;
