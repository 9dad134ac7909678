//! A test harness for confidential workloads: a throw-away platform and vendor root, an author
//! key, and the whole flow — sign, attest, verify, seal, run, open — in a few calls, from an
//! ordinary `cargo test`. Attack helpers ([`attacks`]) put a workload under the same threats the
//! project's own tests use; each returns the error the runtime or the client library gives.
//!
//! ```
//! use enclave_tests::guests::WORDCOUNT;
//! use enclave_tests::harness::{manifest, Harness};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let h = Harness::new()?; // a throw-away vendor root, platform and author key
//! let enclave = h.load(&h.sign(WORDCOUNT, &manifest())?)?;
//! // Attest with a fresh nonce, verify as the relying party, seal, run, check the receipt, open.
//! let output = h.confidential(&enclave, b"to be or not to be")?;
//! assert_eq!(output.plaintext, b"be\t2\nto\t2\nnot\t1\nor\t1\n");
//! assert_eq!(output.receipt.claims().measurement, enclave.measurement());
//! // Everything the operator could see of that run holds no byte of the input.
//! output.operator_view(&h).assert_no_secret(b"to be or not to be");
//! # Ok(())
//! # }
//! ```
//!
//! Everything lives in a temporary directory (under `TMPDIR`, see [`Harness::dir`]) removed when
//! the [`Harness`] is dropped. The modules, by responsibility: [`exchange`] (the confidential
//! flow with the client's view of its answer), [`attacks`], [`store`] (snapshot, restore, reset
//! of the sealed store), [`serve`] (a real server on 127.0.0.1), [`operator`] (what the operator
//! sees), [`mutations`] (proptest strategies), [`faults`] (failing store operations),
//! [`clock`] (a fixed clock for freshness), [`fresh`] (is the module under test stale), [`http`]
//! (requests to an `http` enclave's component in-process).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use attest::{AuthorKey, VendorCa};
use enclave_platform::{InitOptions, Platform, PlatformReporter};
use enclave_runtime::confidential::SealedRun;
use enclave_runtime::{Input, ReportIssuer};
use sha2::{Digest, Sha256};

pub mod attacks;
pub mod clock;
mod error;
pub mod exchange;
pub mod faults;
pub mod fresh;
pub mod http;
mod logs;
pub mod mutations;
pub mod operator;
pub mod serve;
pub mod store;
mod wire;

pub use error::HarnessError;
pub use exchange::{Answer, Exchange, Flow};
pub use http::{HttpAnswer, HttpFailure, HttpHarness};
pub use operator::OperatorView;

// What a workload's tests name besides the harness, so that `enclave-tests` is their one
// dependency: the manifest to adjust, the loaded enclave, the verified artifacts and the errors
// to assert.
pub use attest::receipt::{Outcome, ReceiptClaims, StoreVersion, VerifiedReceipt};
pub use attest::{verify_receipt, VerifiedEvidence, VerifierPolicy, VerifyError};
pub use attest::{Capability, GuestKind, Limits, Manifest, ManifestError, ProductId, Svn};
pub use enclave_client::{ClientError, SealTo};
pub use enclave_platform::store::StoreError;
pub use enclave_platform::PlatformError;
pub use enclave_runtime::confidential::ConfidentialError;
pub use enclave_runtime::{Enclave, GuestFault, LoadError, ReplayRefused, RunError, RunReport};
pub use sealer::{ClientContext, OpenError, ReceiptMismatch, SealError};

/// A manifest from TOML, as `enclave sign --manifest` reads it: a workload's tests can sign
/// with the project's own `enclave.toml` (`include_str!("../enclave.toml")`).
///
/// # Errors
/// [`ManifestError`], with the line and column of a syntax error.
pub fn manifest_from_toml(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::from_toml(text)
}

/// A production manifest (product 1, svn 1, not debug, default limits, no capabilities) to
/// adjust in code.
pub fn manifest() -> Manifest {
    Manifest {
        product_id: ProductId(1),
        svn: Svn(1),
        debug: false,
        kind: attest::GuestKind::Enclave,
        args: Vec::new(),
        limits: Limits::default(),
        capabilities: BTreeSet::new(),
        pad_output: 0,
        inputs: Default::default(),
    }
}

/// A sealed request as the client holds it.
#[derive(Debug)]
pub struct Sealed {
    /// The sealed input bytes (what the operator sees).
    pub bytes: Vec<u8>,
    /// The client's secret context.
    pub context: ClientContext,
}

/// What a successful confidential run gave back to the client.
#[derive(Debug)]
pub struct Opened {
    /// The decrypted output.
    pub plaintext: Vec<u8>,
    /// The verified receipt.
    pub receipt: VerifiedReceipt,
    /// The sealed input, as the operator saw it.
    pub sealed_input: Vec<u8>,
    /// The sealed output, as the operator saw it.
    pub sealed_output: Vec<u8>,
    /// The receipt bytes.
    pub receipt_bytes: Vec<u8>,
    /// The client's secret context of this request (opens `sealed_output` again).
    pub context: ClientContext,
    /// The evidence the input was sealed against, as verified.
    pub evidence: VerifiedEvidence,
}

impl Opened {
    /// What the operator saw of this run: the sealed input and output, the receipt, and every
    /// file in the platform home ([`OperatorView`]).
    pub fn operator_view(&self, h: &Harness) -> OperatorView {
        OperatorView::new()
            .with("sealed input", &self.sealed_input)
            .with("sealed output", &self.sealed_output)
            .with("receipt", &self.receipt_bytes)
            .with_text("receipt claims", &format!("{:?}", self.receipt.claims()))
            .with_home(h)
    }
}

/// A throw-away platform, its vendor root (held by the harness, as a fleet's vendor holds it:
/// not in the platform home) and an author key.
pub struct Harness {
    dir: tempfile::TempDir,
    platform: Arc<Platform>,
    vendor: VendorCa,
    author: AuthorKey,
    nonce_counter: AtomicU64,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

/// How long the harness's vendor root is valid.
const ROOT_VALIDITY: std::time::Duration = std::time::Duration::from_secs(20 * 365 * 24 * 3600);

impl Harness {
    /// A new platform (TCB 1) with its own vendor root, and a new author key.
    ///
    /// # Errors
    /// I/O or key generation failures.
    pub fn new() -> Result<Self, HarnessError> {
        Self::with_tcb(1)
    }

    /// As [`Harness::new`], with the platform at TCB version `tcb`.
    ///
    /// # Errors
    /// I/O or key generation failures.
    pub fn with_tcb(tcb: u32) -> Result<Self, HarnessError> {
        let now = SystemTime::now();
        let vendor = VendorCa::generate("enclave harness vendor root", now, now + ROOT_VALIDITY)?;
        Self::on_platform(vendor, AuthorKey::generate()?, tcb)
    }

    /// Another platform of the same fleet: a new platform home (its own platform secret, id and
    /// sealed store) certified by the same vendor root, with the same author key, at TCB `tcb`.
    /// Evidence and receipts of both verify against the same [`Harness::root`]; data sealed on
    /// one does not open on the other.
    ///
    /// # Errors
    /// I/O or certificate failures.
    pub fn sibling(&self, tcb: u32) -> Result<Self, HarnessError> {
        let vendor = VendorCa::from_pem(&self.vendor.key_pem(), &self.vendor.cert_pem())?;
        let author = AuthorKey::from_pkcs8_pem(&self.author.to_pkcs8_pem())?;
        Self::on_platform(vendor, author, tcb)
    }

    /// `n` more platforms of this fleet at this platform's TCB ([`Harness::sibling`]).
    ///
    /// # Errors
    /// As [`Harness::sibling`].
    pub fn fleet(&self, n: usize) -> Result<Vec<Self>, HarnessError> {
        (0..n).map(|_| self.sibling(self.platform.tcb())).collect()
    }

    fn on_platform(vendor: VendorCa, author: AuthorKey, tcb: u32) -> Result<Self, HarnessError> {
        let dir = tempfile::tempdir()?;
        let options = InitOptions {
            name: "harness".into(),
            tcb,
            vendor: Some(VendorCa::from_pem(&vendor.key_pem(), &vendor.cert_pem())?),
        };
        let platform = Platform::init(&dir.path().join("platform"), options, SystemTime::now())?;
        Ok(Self {
            dir,
            platform: Arc::new(platform),
            vendor,
            author,
            nonce_counter: AtomicU64::new(0),
        })
    }

    /// The platform. Its home is `dir()/platform` ([`Platform::home`]); the sealed store of an
    /// enclave is at [`Harness::store_paths`].
    pub fn platform(&self) -> &Arc<Platform> {
        &self.platform
    }

    /// The vendor root certificate (DER) a relying party pins; the same for every
    /// [`Harness::sibling`].
    pub fn root(&self) -> Vec<u8> {
        self.vendor.cert_der().to_vec()
    }

    /// The vendor root (with its private key): for [`Platform::upgrade`] or more platforms.
    pub fn vendor(&self) -> &VendorCa {
        &self.vendor
    }

    /// The author key bundles are signed with.
    pub fn author(&self) -> &AuthorKey {
        &self.author
    }

    /// A scratch directory that lives as long as the harness: a `tempfile` directory under
    /// `TMPDIR` (`/tmp` when unset), holding the platform home (`enclave/platform/`). Set `TMPDIR` to
    /// move it; keep it with `std::mem::forget(h)` to look at it after a test.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Signs `module` with `manifest` under the harness's author key.
    ///
    /// # Errors
    /// [`HarnessError::Bundle`].
    pub fn sign(&self, module: &[u8], manifest: &Manifest) -> Result<Vec<u8>, HarnessError> {
        Ok(attest::bundle::sign(&self.author, manifest, module)?)
    }

    /// Loads a bundle with every check, trusting only the harness's author.
    ///
    /// # Errors
    /// [`HarnessError::Load`].
    pub fn load(&self, bundle: &[u8]) -> Result<Enclave, HarnessError> {
        Ok(Enclave::load(
            bundle,
            &[self.author.public_key().signer_id()],
        )?)
    }

    /// A reporter for `enclave` on this platform: the platform services (`report`, `seal`,
    /// the sealed store) of guests granted them.
    pub fn reporter(&self, enclave: &Enclave) -> Arc<dyn ReportIssuer> {
        Arc::new(PlatformReporter::new(
            self.platform.clone(),
            enclave,
            SystemTime::now,
        ))
    }

    /// One plaintext run, output in memory, as `enclave run` on plain text does it: an operator
    /// can always do this (see `docs/threat-model.md`).
    ///
    /// # Errors
    /// [`HarnessError::Run`].
    pub fn run(&self, enclave: &Enclave, input: &[u8]) -> Result<RunReport<Vec<u8>>, HarnessError> {
        self.run_with(enclave, input, self.reporter(enclave))
    }

    /// [`Harness::run`] with other platform services, e.g. [`faults::FailingStore`].
    ///
    /// # Errors
    /// [`HarnessError::Run`].
    pub fn run_with(
        &self,
        enclave: &Enclave,
        input: &[u8],
        services: Arc<dyn ReportIssuer>,
    ) -> Result<RunReport<Vec<u8>>, HarnessError> {
        Ok(enclave.run(
            Input::from_bytes(input.to_vec()),
            Vec::new(),
            Some(services),
        )?)
    }

    /// A fresh 16-byte nonce (unique within this harness, and random across harnesses).
    pub fn nonce(&self) -> Vec<u8> {
        let n = self.nonce_counter.fetch_add(1, Ordering::Relaxed);
        let mut nonce = n.to_be_bytes().to_vec();
        let salt = Sha256::digest(self.dir().as_os_str().as_encoded_bytes());
        nonce.extend(salt.iter().take(8));
        nonce
    }

    /// Evidence for `enclave` on this platform with `nonce`, issued now.
    ///
    /// # Errors
    /// [`HarnessError::Evidence`].
    pub fn attest(&self, enclave: &Enclave, nonce: &[u8]) -> Result<Vec<u8>, HarnessError> {
        self.attest_at(enclave, nonce, SystemTime::now())
    }

    /// Evidence for `enclave` with `nonce`, dated `issued_at` (for freshness tests with
    /// [`clock::FixedClock`]).
    ///
    /// # Errors
    /// [`HarnessError::Evidence`].
    pub fn attest_at(
        &self,
        enclave: &Enclave,
        nonce: &[u8],
        issued_at: SystemTime,
    ) -> Result<Vec<u8>, HarnessError> {
        Ok(self.platform.attest(enclave, nonce, &[], issued_at)?)
    }

    /// The relying party's default policy for `enclave`: this vendor root, its measurement,
    /// `nonce`, and debug enclaves refused (the verifier's default): evidence of an enclave
    /// signed with `debug = true` fails it with [`VerifyError::DebugNotAllowed`]. Add
    /// `.allow_debug(true)` (or use [`Harness::debug_policy`]) to accept one.
    pub fn policy(&self, enclave: &Enclave, nonce: &[u8]) -> VerifierPolicy {
        VerifierPolicy::new(vec![self.root()])
            .measurement(enclave.measurement())
            .nonce(nonce.to_vec())
    }

    /// [`Harness::policy`] accepting debug enclaves.
    pub fn debug_policy(&self, enclave: &Enclave, nonce: &[u8]) -> VerifierPolicy {
        self.policy(enclave, nonce).allow_debug(true)
    }

    /// Attests with a fresh nonce and verifies with [`Harness::policy`] (debug refused).
    ///
    /// # Errors
    /// [`HarnessError::Evidence`], [`HarnessError::Verify`].
    pub fn attest_and_verify(&self, enclave: &Enclave) -> Result<VerifiedEvidence, HarnessError> {
        Ok(self.attest_and_verify_with(enclave, &Flow::new())?.1)
    }

    /// [`Harness::attest_and_verify`] accepting a debug enclave ([`Harness::debug_policy`]).
    ///
    /// # Errors
    /// [`HarnessError::Evidence`], [`HarnessError::Verify`].
    pub fn attest_and_verify_debug(
        &self,
        enclave: &Enclave,
    ) -> Result<VerifiedEvidence, HarnessError> {
        Ok(self
            .attest_and_verify_with(enclave, &Flow::new().debug())?
            .1)
    }

    /// Attests with a fresh nonce and verifies under `flow`'s policy; the evidence bytes and the
    /// verified evidence.
    ///
    /// # Errors
    /// [`HarnessError::Evidence`], [`HarnessError::Verify`].
    pub fn attest_and_verify_with(
        &self,
        enclave: &Enclave,
        flow: &Flow,
    ) -> Result<(Vec<u8>, VerifiedEvidence), HarnessError> {
        let nonce = self.nonce();
        let evidence = self.attest(enclave, &nonce)?;
        let policy = flow.policy(self, enclave, &nonce);
        let verified = attest::verify(&evidence, &policy, SystemTime::now())?;
        Ok((evidence, verified))
    }

    /// Seals `plaintext` to the enclave described by verified `evidence`.
    ///
    /// # Errors
    /// [`HarnessError::Seal`]; [`HarnessError::Client`] if the evidence has no enclave keys.
    pub fn seal(
        &self,
        evidence: &VerifiedEvidence,
        to: SealTo,
        plaintext: &[u8],
    ) -> Result<Sealed, HarnessError> {
        let target = enclave_client::seal_target(evidence, to)?;
        let mut bytes = Vec::new();
        let context = sealer::seal(&target, plaintext, plaintext.len() as u64, &mut bytes)?;
        Ok(Sealed { bytes, context })
    }

    /// Runs `enclave` on a sealed input on this platform.
    ///
    /// # Errors
    /// [`ConfidentialError`] as the runtime gives it.
    pub fn run_sealed(
        &self,
        enclave: &Enclave,
        sealed_input: &[u8],
    ) -> Result<SealedRun<Vec<u8>>, ConfidentialError> {
        self.run_sealed_with(enclave, sealed_input, self.reporter(enclave))
    }

    /// [`Harness::run_sealed`] with other platform services, e.g. [`faults::FailingStore`].
    ///
    /// # Errors
    /// [`ConfidentialError`] as the runtime gives it.
    pub fn run_sealed_with(
        &self,
        enclave: &Enclave,
        sealed_input: &[u8],
        services: Arc<dyn ReportIssuer>,
    ) -> Result<SealedRun<Vec<u8>>, ConfidentialError> {
        enclave.run_sealed(
            self.platform.as_ref(),
            std::io::Cursor::new(sealed_input.to_vec()),
            Vec::new(),
            Some(services),
            SystemTime::now,
        )
    }

    /// The client's side after a run: verifies the receipt against this vendor root, checks it
    /// is for this request and this sealed output, then decrypts.
    ///
    /// # Errors
    /// [`ClientError`]; [`ClientError::GuestFailed`] with the opened report when `sealed_output`
    /// is a failed run's sealed report.
    pub fn open(
        &self,
        context: &ClientContext,
        receipt: &[u8],
        sealed_output: &[u8],
    ) -> Result<(Vec<u8>, VerifiedReceipt), ClientError> {
        let (plaintext, receipt) = enclave_client::open_answer(
            context,
            receipt,
            sealed_output,
            &[self.root()],
            SystemTime::now(),
        )?;
        Ok((plaintext.to_vec(), receipt))
    }

    /// The whole confidential flow on `input`: attest with a fresh nonce, verify, seal to the
    /// measurement key, run, check the receipt, open. A guest failure is
    /// [`HarnessError::Confidential`] with [`ConfidentialError::Guest`]; [`Harness::exchange`]
    /// gives it as a value with the report opened and the receipt verified.
    ///
    /// # Errors
    /// The first step's error.
    pub fn confidential(&self, enclave: &Enclave, input: &[u8]) -> Result<Opened, HarnessError> {
        self.exchange(enclave, input, &Flow::new())?.into_opened()
    }

    /// [`Harness::confidential`] for a debug enclave: the relying party allows debug evidence.
    ///
    /// # Errors
    /// As [`Harness::confidential`].
    pub fn confidential_debug(
        &self,
        enclave: &Enclave,
        input: &[u8],
    ) -> Result<Opened, HarnessError> {
        self.exchange(enclave, input, &Flow::new().debug())?
            .into_opened()
    }
}
