//! The seam between the sandbox and the platform under it: the services a guest may call
//! (`report`, `seal`/`unseal`, `store_*`) and what a confidential run needs from the platform,
//! as traits this crate defines and a platform implements (`enclave_platform` is the simulated
//! one; a test double implements only what it needs). The runtime reaches the platform through
//! nothing else (`docs/architecture.md`).

use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

use attest::evidence::EvidenceError;
use attest::receipt::{ReceiptClaims, StoreVersion};
use attest::PlatformId;
use sealer::{EnclaveIdentity, EnclaveKeyPair, KeyPolicy, OpenError};

use crate::error::GuestFault;

/// The status codes a host function returns to the guest, service refusals among them (also
/// `crate::abi::status`); see `docs/abi.md`.
pub mod status {
    /// An argument exceeds its documented cap.
    pub const ERR_TOO_LARGE: i32 = -1;
    /// The output buffer cannot hold the result; nothing was written.
    pub const ERR_BUFFER_TOO_SMALL: i32 = -2;
    /// The operation failed.
    pub const ERR_FAILED: i32 = -3;
    /// No such entry (store).
    pub const ERR_NOT_FOUND: i32 = -4;
    /// The key policy is not one this enclave may use.
    pub const ERR_POLICY: i32 = -5;
}

/// The platform services a native guest can ask for: attestation evidence (`report`), sealing
/// (`seal`, `seal_at`, `tcb_level`, `unseal`) and the persistent sealed store (`store_get`,
/// `store_put`, `store_delete`). Whoever holds the platform gives the runtime one per enclave
/// (`enclave_platform::PlatformReporter` serves them all); every method refuses by default, so
/// a test double implements only what it needs.
///
/// Every argument comes from the guest: implementations check sizes and never panic.
pub trait PlatformServices: Send + Sync {
    /// Evidence over the enclave's identity with the guest's `nonce` and `report_data` (the
    /// EREPORT analog).
    ///
    /// # Errors
    /// A refusal the guest sees as [`status::ERR_TOO_LARGE`] (bad sizes) or
    /// [`status::ERR_FAILED`].
    fn issue(&self, _nonce: &[u8], _report_data: &[u8]) -> Result<Vec<u8>, ReportRefused> {
        Err(ReportRefused::Failed)
    }

    /// Seals `plaintext` with `aad` to the enclave's identity under `policy` (`docs/formats.md`,
    /// "Sealed blob").
    ///
    /// # Errors
    /// [`ServiceRefused`].
    fn seal(
        &self,
        _policy: SealPolicy,
        _aad: &[u8],
        _plaintext: &[u8],
    ) -> Result<Vec<u8>, ServiceRefused> {
        Err(ServiceRefused::Failed)
    }

    /// As [`PlatformServices::seal`], at the platform TCB level `tcb` rather than the current
    /// one (the EGETKEY analog with an older `KEYREQUEST.CPUSVN`): data for a platform of the
    /// fleet that is not upgraded yet. A level above the platform's is refused.
    ///
    /// # Errors
    /// [`ServiceRefused`]; [`ServiceRefused::Policy`] for a level above the platform's.
    fn seal_at(
        &self,
        _policy: SealPolicy,
        _tcb: u32,
        _aad: &[u8],
        _plaintext: &[u8],
    ) -> Result<Vec<u8>, ServiceRefused> {
        Err(ServiceRefused::Failed)
    }

    /// The platform's current TCB level: what [`PlatformServices::seal`] seals at, and the
    /// highest level [`PlatformServices::seal_at`] and [`PlatformServices::unseal`] accept.
    ///
    /// # Errors
    /// [`ServiceRefused`].
    fn tcb_level(&self) -> Result<u32, ServiceRefused> {
        Err(ServiceRefused::Failed)
    }

    /// Opens a blob sealed by this enclave, or by one whose data it may read.
    ///
    /// # Errors
    /// [`ServiceRefused`].
    fn unseal(&self, _blob: &[u8]) -> Result<sealer::blob::Unsealed, ServiceRefused> {
        Err(ServiceRefused::Failed)
    }

    /// The value stored under `key`, `None` if there is none.
    ///
    /// # Errors
    /// [`ServiceRefused`]; [`ServiceRefused::Store`] ends the run.
    fn store_get(&self, _key: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, ServiceRefused> {
        Err(ServiceRefused::Failed)
    }

    /// Stores `value` under `key`; returns once the new state is durable.
    ///
    /// # Errors
    /// [`ServiceRefused`]; [`ServiceRefused::Store`] ends the run.
    fn store_put(&self, _key: &[u8], _value: &[u8]) -> Result<(), ServiceRefused> {
        Err(ServiceRefused::Failed)
    }

    /// Removes `key`; `false` if it was absent. Returns once the new state is durable.
    ///
    /// # Errors
    /// [`ServiceRefused`]; [`ServiceRefused::Store`] ends the run.
    fn store_delete(&self, _key: &[u8]) -> Result<bool, ServiceRefused> {
        Err(ServiceRefused::Failed)
    }

    /// Called by the runtime before each run of a guest granted the `store` capability, before
    /// the run's deadline starts; the run holds the returned scope until it ends. The store
    /// operations of one run are one transaction: an implementation serialises the runs that
    /// hold a store (across threads and processes), so a read-modify-write through
    /// `store_get` then `store_put` never loses a concurrent update (`docs/abi.md`, "Store").
    ///
    /// # Errors
    /// [`ServiceRefused::Store`] when the store cannot be locked; the run does not start.
    fn begin_run(&self) -> Result<RunScope, ServiceRefused> {
        Ok(RunScope::default())
    }

    /// The store's version and head digest now: called by the runtime at the end of each run of
    /// a guest granted the `store` capability, while the run still holds its
    /// [`PlatformServices::begin_run`] scope, for the run's receipt. `None` when the store
    /// cannot be read (the run then met the same failure) or there is none.
    fn store_version(&self) -> Option<StoreVersion> {
        None
    }
}

/// What a run holds from [`PlatformServices::begin_run`] until it ends (a store transaction);
/// dropping it ends the transaction.
#[derive(Default)]
pub struct RunScope(Option<Box<dyn Send>>);

impl RunScope {
    /// A scope that holds `guard` until the run ends.
    pub fn holding(guard: impl Send + 'static) -> Self {
        Self(Some(Box::new(guard)))
    }
}

impl std::fmt::Debug for RunScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RunScope").field(&self.0.is_some()).finish()
    }
}

/// The former name of [`PlatformServices`], from when it only issued reports; the runner and
/// existing callers name it so.
pub use self::PlatformServices as ReportIssuer;

/// Which key a guest seals to (the `policy` argument of `enclave_v1.seal`, `docs/abi.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealPolicy {
    /// Only this exact enclave (MRENCLAVE policy).
    Measurement,
    /// This signer's product at the enclave's own svn or newer (MRSIGNER policy).
    Signer,
    /// This signer's product at the given svn or newer; the svn may not exceed the enclave's.
    SignerAt(attest::Svn),
}

impl SealPolicy {
    /// Decodes the ABI's `policy` argument: `0` measurement, `1` signer at the enclave's svn,
    /// `0x10000 | svn` signer at `svn`. Anything else is `None`.
    pub fn from_abi(value: i32) -> Option<Self> {
        match value as u32 {
            0 => Some(Self::Measurement),
            1 => Some(Self::Signer),
            v if v >> 16 == 1 => Some(Self::SignerAt(attest::Svn((v & 0xffff) as u16))),
            _ => None,
        }
    }
}

/// Why a guest's report request was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportRefused {
    /// The nonce or the report data has a size outside the allowed range.
    BadSize,
    /// The platform could not sign.
    Failed,
}

/// Why a seal, unseal or store request was refused. All but [`ServiceRefused::Store`] are
/// status codes the guest handles.
#[non_exhaustive]
#[derive(Debug)]
pub enum ServiceRefused {
    /// An argument exceeds its cap: [`status::ERR_TOO_LARGE`].
    TooLarge,
    /// The key policy is not the enclave's to use (another measurement, signer or product, a
    /// newer svn, the other debug mode, an unknown policy value, a TCB level above the
    /// platform's): [`status::ERR_POLICY`].
    Policy,
    /// Anything else, including a blob that does not authenticate: [`status::ERR_FAILED`].
    Failed,
    /// The sealed store cannot be trusted or written (tampered, rolled back, I/O failure): the
    /// run ends with this error, since the guest must not carry on as if its state were empty.
    Store(crate::error::StoreFault),
}

impl ServiceRefused {
    /// The status the guest sees, or the fault that ends the run.
    pub(crate) fn status(self) -> Result<i32, GuestFault> {
        match self {
            Self::TooLarge => Ok(status::ERR_TOO_LARGE),
            Self::Policy => Ok(status::ERR_POLICY),
            Self::Failed => Ok(status::ERR_FAILED),
            Self::Store(error) => Err(GuestFault::Store(error)),
        }
    }
}

/// What a confidential run needs from the platform under it: the platform's id, the enclave's
/// HPKE key pair for the key policy a sealed input names (derived from the platform secret, which
/// never leaves the platform), and the platform's signature over the receipt.
/// `enclave_platform::Platform` is the simulated one.
pub trait ConfidentialPlatform: Send + Sync {
    /// The platform's id, which a sealed input must name.
    fn platform_id(&self) -> PlatformId;

    /// The key pair of `identity` for `policy`.
    ///
    /// # Errors
    /// [`OpenError`] when the policy is not one `identity` may use.
    fn enclave_keypair(
        &self,
        identity: &EnclaveIdentity,
        policy: &KeyPolicy,
    ) -> Result<EnclaveKeyPair, OpenError>;

    /// The platform's signed receipt (COSE_Sign1) over `claims`.
    ///
    /// # Errors
    /// [`EvidenceError`] when it cannot sign.
    fn sign_receipt(&self, claims: &ReceiptClaims) -> Result<Vec<u8>, EvidenceError>;

    /// Remembers that the sealed request `request` is about to run for `identity`, for
    /// `window`, refusing it if it was remembered within its window already: for enclaves
    /// whose manifest sets `inputs.refuse_replays` (`docs/abi.md`, "Replays"). The check and
    /// the record are one atomic step across threads and processes, so of two concurrent
    /// copies of one request exactly one runs. By default the platform keeps no such record
    /// and refuses every request of such an enclave.
    ///
    /// # Errors
    /// [`ReplayRefused::Replayed`]; [`ReplayRefused::Unavailable`] when the platform cannot
    /// check (then nothing runs either).
    fn admit_request(
        &self,
        _identity: &EnclaveIdentity,
        _request: &RequestId,
        _window: Duration,
        _now: SystemTime,
    ) -> Result<(), ReplayRefused> {
        Err(ReplayRefused::Unavailable(
            "this platform keeps no record of request ids".into(),
        ))
    }
}

/// A sealed input's request id: its HPKE `enc`, fresh for every sealed input and the same for a
/// replay of it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(pub [u8; 32]);

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RequestId({self})")
    }
}

/// Why a sealed request of an enclave that refuses replays did not run.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayRefused {
    /// The request already ran within the replay window: a replay.
    #[error(
        "request {request} already ran on this platform; it is remembered until {until} \
         (unix seconds), the end of the enclave's replay window"
    )]
    Replayed {
        /// The request id.
        request: RequestId,
        /// When the platform forgets it, seconds since the Unix epoch.
        until: u64,
    },
    /// The platform cannot check: its record of request ids is full or unreadable. No path
    /// of the platform's appears in the message.
    #[error("the platform cannot check for replays: {0}")]
    Unavailable(String),
}
