//! The services a guest may call, served from a platform: what the runtime's
//! [`PlatformServices`] asks for, one [`PlatformReporter`] per loaded enclave.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::SystemTime;

use attest::evidence::Claims;
use enclave_runtime::{
    Enclave, PlatformServices, ReportRefused, RunScope, SealPolicy, ServiceRefused, StoreFault,
};
use sealer::blob::{self, BlobError, BlobKind, Unsealed};
use sealer::{EnclaveIdentity, KeyPolicy};
use zeroize::Zeroizing;

use crate::store::{SealedStore, StoreError};
use crate::{unix_seconds, Platform};

/// Serves a guest's platform services from a platform: `report` (the EREPORT analog, dated by
/// `clock` at each call), `seal` / `seal_at` / `unseal` (the EGETKEY seal-key analog, at the
/// platform's TCB level or an older one), `tcb_level`, and the persistent
/// sealed store ([`crate::store`]), all for one enclave's identity.
pub struct PlatformReporter {
    platform: Arc<Platform>,
    claims: Claims,
    identity: EnclaveIdentity,
    clock: fn() -> SystemTime,
    store: Arc<Mutex<SealedStore>>,
    /// Lets one run at a time hold the store (its transaction), across this process's threads;
    /// the store's file lock does the same across processes.
    gate: Arc<StoreGate>,
}

impl std::fmt::Debug for PlatformReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformReporter")
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

impl PlatformReporter {
    /// The services for `enclave` on `platform`. No I/O until the guest uses the store.
    pub fn new(platform: Arc<Platform>, enclave: &Enclave, clock: fn() -> SystemTime) -> Self {
        let claims = platform.claims(enclave, &[], &[], clock());
        let identity = platform.identity(enclave);
        let store = Arc::new(Mutex::new(SealedStore::new(platform.clone(), identity)));
        Self {
            platform,
            claims,
            identity,
            clock,
            store,
            gate: Arc::default(),
        }
    }

    /// The key policy a guest's `policy` argument names for this enclave.
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

    fn with_store<T>(
        &self,
        operation: impl FnOnce(&mut SealedStore) -> Result<T, StoreError>,
    ) -> Result<T, ServiceRefused> {
        let mut store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        operation(&mut store).map_err(|e| match e {
            StoreError::TooLarge { .. } => ServiceRefused::TooLarge,
            // The failure reaches the receipt and the requester: no host paths in it.
            other => {
                ServiceRefused::Store(StoreFault::new(other.relative_to(self.platform.home())))
            }
        })
    }
}

impl PlatformServices for PlatformReporter {
    fn issue(&self, nonce: &[u8], report_data: &[u8]) -> Result<Vec<u8>, ReportRefused> {
        if !(attest::evidence::NONCE_LEN.contains(&nonce.len()))
            || report_data.len() > attest::evidence::MAX_REPORT_DATA
        {
            return Err(ReportRefused::BadSize);
        }
        let mut claims = self.claims.clone();
        claims.nonce = nonce.to_vec();
        claims.report_data = report_data.to_vec();
        claims.issued_at = unix_seconds((self.clock)());
        self.platform
            .attestation()
            .sign_evidence(&claims)
            .map_err(|_| ReportRefused::Failed)
    }

    fn seal(
        &self,
        policy: SealPolicy,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ServiceRefused> {
        blob::seal(
            BlobKind::Sealed,
            self.platform.sealing_secrets(),
            &self.identity,
            &self.policy(policy),
            aad,
            plaintext,
        )
        .map_err(refusal)
    }

    /// A level above the platform's is [`ServiceRefused::Policy`] (`refusal`): this platform
    /// cannot derive its keys.
    fn seal_at(
        &self,
        policy: SealPolicy,
        tcb: u32,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ServiceRefused> {
        blob::seal_at(
            BlobKind::Sealed,
            self.platform.sealing_secrets(),
            tcb,
            &self.identity,
            &self.policy(policy),
            aad,
            plaintext,
        )
        .map_err(refusal)
    }

    fn tcb_level(&self) -> Result<u32, ServiceRefused> {
        Ok(self.platform.sealing_secrets().level())
    }

    fn unseal(&self, sealed: &[u8]) -> Result<Unsealed, ServiceRefused> {
        blob::open(
            BlobKind::Sealed,
            self.platform.sealing_secrets(),
            &self.identity,
            sealed,
        )
        .map_err(|e| {
            match refusal(e) {
                // The blob's own lengths are over the caps: malformed, not a guest argument.
                ServiceRefused::TooLarge => ServiceRefused::Failed,
                other => other,
            }
        })
    }

    fn store_get(&self, key: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, ServiceRefused> {
        self.with_store(|store| store.get(key))
    }

    fn store_put(&self, key: &[u8], value: &[u8]) -> Result<(), ServiceRefused> {
        self.with_store(|store| store.put(key, value).map(drop))
    }

    fn store_delete(&self, key: &[u8]) -> Result<bool, ServiceRefused> {
        self.with_store(|store| store.delete(key))
    }

    fn store_version(&self) -> Option<attest::receipt::StoreVersion> {
        self.with_store(SealedStore::version).ok()
    }

    /// Waits for the runs before it to end, then holds the store for this run.
    fn begin_run(&self) -> Result<RunScope, ServiceRefused> {
        let turn = self.gate.enter();
        self.with_store(SealedStore::begin)?;
        Ok(RunScope::holding(StoreTransaction {
            store: self.store.clone(),
            _turn: turn,
        }))
    }
}

/// One run's hold on a store; ends the store's transaction when dropped, then lets the next
/// run in (fields drop in order).
struct StoreTransaction {
    store: Arc<Mutex<SealedStore>>,
    _turn: GateTurn,
}

impl Drop for StoreTransaction {
    fn drop(&mut self) {
        self.store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .end();
    }
}

/// A turnstile: one [`GateTurn`] at a time.
#[derive(Default)]
pub(crate) struct StoreGate {
    busy: Mutex<bool>,
    free: Condvar,
}

impl StoreGate {
    pub(crate) fn enter(self: &Arc<Self>) -> GateTurn {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        while *busy {
            busy = self.free.wait(busy).unwrap_or_else(PoisonError::into_inner);
        }
        *busy = true;
        GateTurn(self.clone())
    }
}

/// The turn of the run that entered the gate; the next may enter once it is dropped.
pub(crate) struct GateTurn(Arc<StoreGate>);

impl Drop for GateTurn {
    fn drop(&mut self) {
        *self.0.busy.lock().unwrap_or_else(PoisonError::into_inner) = false;
        self.0.free.notify_one();
    }
}

/// What the guest learns of a failed seal or unseal: a status code, no detail.
pub(crate) fn refusal(error: BlobError) -> ServiceRefused {
    match error {
        BlobError::TooLarge { .. } => ServiceRefused::TooLarge,
        BlobError::Policy(sealer::OpenError::MalformedPolicy(_)) => ServiceRefused::Failed,
        BlobError::Policy(_) => ServiceRefused::Policy,
        // Sealed at, or asked to seal at (`seal_at`), a newer TCB level than the platform's:
        // not this platform's key to derive.
        BlobError::Tcb(_) => ServiceRefused::Policy,
        _ => ServiceRefused::Failed,
    }
}
