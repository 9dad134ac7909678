//! A fixed clock for freshness tests. The verifiers take the time as an argument
//! (`attest::verify(evidence, policy, now)`, `attest::verify_receipt(receipt, roots, now)`,
//! `enclave_client::open_answer(…, now)`) and the platform dates evidence by argument
//! ([`Harness::attest_at`]), so a test sets both ends of a freshness check without waiting:
//!
//! ```
//! use std::time::Duration;
//! use enclave_tests::guests::WORDCOUNT;
//! use enclave_tests::harness::{clock::FixedClock, manifest, Harness, VerifyError};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let h = Harness::new()?;
//! let enclave = h.load(&h.sign(WORDCOUNT, &manifest())?)?;
//! let clock = FixedClock::now_stopped();
//! let nonce = h.nonce();
//! let evidence = h.attest_at(&enclave, &nonce, clock.now())?;
//! clock.advance(Duration::from_secs(301)); // the default maximum age is 300 s
//! let error = h.verify_at(&evidence, &h.policy(&enclave, &nonce), &clock).unwrap_err();
//! assert!(matches!(error, VerifyError::Stale { age_secs: 301, max_age_secs: 300 }));
//! # Ok(())
//! # }
//! ```
//!
//! The runtime's and the platform's own clocks (a guest's `report`, the receipt's `iat`) are
//! plain `fn() -> SystemTime` and read the system time.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use attest::receipt::VerifiedReceipt;
use attest::{VerifiedEvidence, VerifierPolicy, VerifyError};

use super::Harness;

/// A clock that moves only when told.
#[derive(Debug)]
pub struct FixedClock(Mutex<SystemTime>);

impl FixedClock {
    /// Stopped at `at`.
    pub fn at(at: SystemTime) -> Self {
        Self(Mutex::new(at))
    }

    /// Stopped at the current system time.
    pub fn now_stopped() -> Self {
        Self::at(SystemTime::now())
    }

    /// Its time.
    pub fn now(&self) -> SystemTime {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Moves it forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut time = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *time += by;
    }

    /// Moves it back by `by` (a relying party whose clock is behind).
    pub fn rewind(&self, by: Duration) {
        let mut time = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *time = time.checked_sub(by).unwrap_or(SystemTime::UNIX_EPOCH);
    }
}

impl Harness {
    /// Verifies `evidence` under `policy` at `clock`'s time.
    ///
    /// # Errors
    /// [`VerifyError`], e.g. [`VerifyError::Stale`] or [`VerifyError::FromFuture`].
    pub fn verify_at(
        &self,
        evidence: &[u8],
        policy: &VerifierPolicy,
        clock: &FixedClock,
    ) -> Result<VerifiedEvidence, VerifyError> {
        attest::verify(evidence, policy, clock.now())
    }

    /// Verifies a receipt against this vendor root at `clock`'s time.
    ///
    /// # Errors
    /// [`VerifyError`].
    pub fn verify_receipt_at(
        &self,
        receipt: &[u8],
        clock: &FixedClock,
    ) -> Result<VerifiedReceipt, VerifyError> {
        attest::verify_receipt(receipt, &[self.root()], clock.now())
    }
}
