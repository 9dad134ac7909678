//! A fault point between two store operations of one run: [`FailingStore`] wraps an enclave's
//! platform services and fails its Nth store call (`store_get`, `store_put` or `store_delete`,
//! counted from 1 across the wrapper's life) as an I/O failure of the platform would, ending the
//! run with a store fault. Everything else passes through. A test runs a workload once per
//! fault point and checks that the state it leaves is one a complete run or no run would leave.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use enclave_runtime::{
    PlatformServices, ReportIssuer, ReportRefused, RunScope, SealPolicy, ServiceRefused, StoreFault,
};
use zeroize::Zeroizing;

use enclave_runtime::confidential::SealedRun;

use super::{ConfidentialError, Enclave, Harness, HarnessError, RunError, RunReport};

/// The error a [`FailingStore`] ends the run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("injected store fault at store call {call}")]
pub struct InjectedFault {
    /// Which store call failed (from 1).
    pub call: usize,
}

/// Platform services that fail the `fail_at`-th store call.
pub struct FailingStore {
    inner: Arc<dyn ReportIssuer>,
    fail_at: usize,
    calls: AtomicUsize,
}

impl std::fmt::Debug for FailingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailingStore")
            .field("fail_at", &self.fail_at)
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

impl FailingStore {
    /// `inner`'s services, failing store call number `fail_at` (from 1).
    pub fn new(inner: Arc<dyn ReportIssuer>, fail_at: usize) -> Self {
        Self {
            inner,
            fail_at,
            calls: AtomicUsize::new(0),
        }
    }

    /// Store calls seen so far (the failed one included).
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Counts a store call; the fault if it is the one to fail.
    fn check(&self) -> Result<(), ServiceRefused> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if call == self.fail_at {
            Err(ServiceRefused::Store(StoreFault::new(InjectedFault {
                call,
            })))
        } else {
            Ok(())
        }
    }
}

impl PlatformServices for FailingStore {
    fn issue(&self, nonce: &[u8], report_data: &[u8]) -> Result<Vec<u8>, ReportRefused> {
        self.inner.issue(nonce, report_data)
    }

    fn seal(
        &self,
        policy: SealPolicy,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ServiceRefused> {
        self.inner.seal(policy, aad, plaintext)
    }

    fn seal_at(
        &self,
        policy: SealPolicy,
        tcb: u32,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ServiceRefused> {
        self.inner.seal_at(policy, tcb, aad, plaintext)
    }

    fn tcb_level(&self) -> Result<u32, ServiceRefused> {
        self.inner.tcb_level()
    }

    fn unseal(&self, blob: &[u8]) -> Result<sealer::blob::Unsealed, ServiceRefused> {
        self.inner.unseal(blob)
    }

    fn store_get(&self, key: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, ServiceRefused> {
        self.check()?;
        self.inner.store_get(key)
    }

    fn store_put(&self, key: &[u8], value: &[u8]) -> Result<(), ServiceRefused> {
        self.check()?;
        self.inner.store_put(key, value)
    }

    fn store_delete(&self, key: &[u8]) -> Result<bool, ServiceRefused> {
        self.check()?;
        self.inner.store_delete(key)
    }

    fn begin_run(&self) -> Result<RunScope, ServiceRefused> {
        self.inner.begin_run()
    }
}

impl Harness {
    /// A plaintext run of `enclave` on `input` whose `fail_at`-th store call fails: the run's
    /// result and how many store calls it made. A run that made fewer calls than `fail_at`
    /// never met the fault.
    pub fn run_with_store_fault(
        &self,
        enclave: &Enclave,
        input: &[u8],
        fail_at: usize,
    ) -> (Result<RunReport<Vec<u8>>, HarnessError>, usize) {
        let services = Arc::new(FailingStore::new(self.reporter(enclave), fail_at));
        let result = self.run_with(enclave, input, services.clone());
        (result, services.calls())
    }
}

impl Harness {
    /// [`Harness::run_sealed`] of `sealed_input` whose `fail_at`-th store call fails: the run's
    /// result (a [`ConfidentialError::Guest`] with its receipt and sealed report when the fault
    /// was met) and how many store calls it made.
    pub fn run_sealed_with_store_fault(
        &self,
        enclave: &Enclave,
        sealed_input: &[u8],
        fail_at: usize,
    ) -> (Result<SealedRun<Vec<u8>>, ConfidentialError>, usize) {
        let services = Arc::new(FailingStore::new(self.reporter(enclave), fail_at));
        let result = self.run_sealed_with(enclave, sealed_input, services.clone());
        (result, services.calls())
    }
}

/// The injected fault inside a run's error, if the run ended on one.
pub fn injected(error: &RunError) -> Option<&InjectedFault> {
    match error {
        RunError::Fault(enclave_runtime::GuestFault::Store(fault)) => fault.downcast_ref(),
        _ => None,
    }
}
