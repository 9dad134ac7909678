//! A test harness for confidential workloads: a throw-away platform and vendor root, an author
//! key, and the whole flow — sign, attest, verify, seal, run, open — in a few calls, from an
//! ordinary `cargo test`. Attack helpers put a workload under the same threats the project's own
//! tests use; each returns the error the runtime or the client library gives.
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
//! # Ok(())
//! # }
//! ```
//!
//! Everything lives in a temporary directory removed when the [`Harness`] is dropped.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::SystemTime;

use attest::receipt::VerifiedReceipt;
use attest::{AuthorKey, BundleError, VerifiedEvidence, VerifierPolicy, VerifyError};
use enclave_platform::{InitOptions, Platform, PlatformError, PlatformReporter};
use enclave_runtime::confidential::SealedRun;
use enclave_runtime::{Input, ReportIssuer};

// What a workload's tests name besides the harness, so that `enclave-tests` is their one
// dependency: the manifest to adjust, the loaded enclave, and the errors to assert.
pub use attest::receipt::Outcome;
pub use attest::{Capability, GuestKind, Limits, Manifest, ManifestError, ProductId, Svn};
pub use enclave_client::{ClientError, SealTo};
pub use enclave_runtime::confidential::ConfidentialError;
pub use enclave_runtime::{Enclave, LoadError, RunError, RunReport};
use sealer::{ClientContext, SealError};
use sha2::{Digest, Sha256};

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

/// Any error the harness passes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// Creating the temporary directory or another I/O step failed.
    #[error("harness i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The platform could not be created.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// The author key could not be made.
    #[error(transparent)]
    Key(#[from] attest::KeyError),
    /// Signing failed.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The runtime refused the bundle.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A plain run failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// Evidence could not be made.
    #[error(transparent)]
    Evidence(#[from] attest::EvidenceError),
    /// Evidence or a receipt failed verification.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// Sealing failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A confidential run failed.
    #[error(transparent)]
    Confidential(#[from] ConfidentialError),
    /// The client refused the output.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// A sealed request as the client holds it.
#[derive(Debug)]
pub struct Sealed {
    /// The sealed input bytes (what the operator sees).
    pub bytes: Vec<u8>,
    /// The client's secret context.
    pub context: ClientContext,
}

/// What a confidential run gave back to the client.
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
}

/// A throw-away platform, vendor root and author key.
pub struct Harness {
    dir: tempfile::TempDir,
    platform: Arc<Platform>,
    author: AuthorKey,
    nonce_counter: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

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
        let dir = tempfile::tempdir()?;
        let options = InitOptions {
            name: "harness".into(),
            tcb,
            vendor: None,
        };
        let platform = Platform::init(&dir.path().join("platform"), options, SystemTime::now())?;
        Ok(Self {
            dir,
            platform: Arc::new(platform),
            author: AuthorKey::generate()?,
            nonce_counter: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The platform.
    pub fn platform(&self) -> &Arc<Platform> {
        &self.platform
    }

    /// The vendor root certificate (DER) a relying party pins.
    pub fn root(&self) -> Vec<u8> {
        self.platform
            .attestation()
            .chain()
            .last()
            .cloned()
            .unwrap_or_default()
    }

    /// The author key bundles are signed with.
    pub fn author(&self) -> &AuthorKey {
        &self.author
    }

    /// A scratch directory that lives as long as the harness.
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

    /// A reporter for `enclave` on this platform, for guests with the `report` capability.
    pub fn reporter(&self, enclave: &Enclave) -> Arc<dyn ReportIssuer> {
        Arc::new(PlatformReporter::new(
            self.platform.clone(),
            enclave,
            SystemTime::now,
        ))
    }

    /// One plaintext run, output in memory.
    ///
    /// # Errors
    /// [`HarnessError::Run`].
    pub fn run(&self, enclave: &Enclave, input: &[u8]) -> Result<RunReport<Vec<u8>>, HarnessError> {
        Ok(enclave.run(
            Input::from_bytes(input.to_vec()),
            Vec::new(),
            Some(self.reporter(enclave)),
        )?)
    }

    /// A fresh 16-byte nonce (unique within this harness, and random across harnesses).
    pub fn nonce(&self) -> Vec<u8> {
        let n = self
            .nonce_counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut nonce = n.to_be_bytes().to_vec();
        let salt = Sha256::digest(self.dir().as_os_str().as_encoded_bytes());
        nonce.extend(salt.iter().take(8));
        nonce
    }

    /// Evidence for `enclave` on this platform with `nonce`.
    ///
    /// # Errors
    /// [`HarnessError::Evidence`].
    pub fn attest(&self, enclave: &Enclave, nonce: &[u8]) -> Result<Vec<u8>, HarnessError> {
        Ok(self
            .platform
            .attest(enclave, nonce, &[], SystemTime::now())?)
    }

    /// The relying party's default policy for `enclave`: this vendor root, its measurement,
    /// `nonce`.
    pub fn policy(&self, enclave: &Enclave, nonce: &[u8]) -> VerifierPolicy {
        VerifierPolicy::new(vec![self.root()])
            .measurement(enclave.measurement())
            .nonce(nonce.to_vec())
    }

    /// Attests with a fresh nonce and verifies with [`Harness::policy`].
    ///
    /// # Errors
    /// [`HarnessError::Evidence`], [`HarnessError::Verify`].
    pub fn attest_and_verify(&self, enclave: &Enclave) -> Result<VerifiedEvidence, HarnessError> {
        let nonce = self.nonce();
        let evidence = self.attest(enclave, &nonce)?;
        Ok(attest::verify(
            &evidence,
            &self.policy(enclave, &nonce),
            SystemTime::now(),
        )?)
    }

    /// Seals `plaintext` to the enclave described by verified `evidence`.
    ///
    /// # Errors
    /// [`HarnessError::Seal`]; [`HarnessError::Verify`] if the evidence has no enclave keys.
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
        enclave.run_sealed(
            self.platform.as_ref(),
            std::io::Cursor::new(sealed_input.to_vec()),
            Vec::new(),
            Some(self.reporter(enclave)),
            SystemTime::now,
        )
    }

    /// The client's side after a run: verifies the receipt against this vendor root, checks it
    /// is for this request and this sealed output, then decrypts.
    ///
    /// # Errors
    /// [`ClientError`].
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
    /// measurement key, run, check the receipt, open.
    ///
    /// # Errors
    /// The first step's error.
    pub fn confidential(&self, enclave: &Enclave, input: &[u8]) -> Result<Opened, HarnessError> {
        let evidence = self.attest_and_verify(enclave)?;
        let sealed = self.seal(&evidence, SealTo::Measurement, input)?;
        let run = self.run_sealed(enclave, &sealed.bytes)?;
        let (plaintext, receipt) = self.open(&sealed.context, &run.receipt, &run.output)?;
        Ok(Opened {
            plaintext,
            receipt,
            sealed_input: sealed.bytes,
            sealed_output: run.output,
            receipt_bytes: run.receipt,
        })
    }
}

/// Attacks on artifacts and enclaves, so a workload's tests can check it holds up under the same
/// threats as the project's own. Each mutates bytes the way an operator or network attacker
/// could; feed the result back to the runtime or client and assert the error.
pub mod attacks {
    use std::time::SystemTime;

    use super::{manifest, Harness, HarnessError};
    use attest::{Manifest, VerifyError};
    use enclave_runtime::confidential::ConfidentialError;
    use enclave_runtime::{Enclave, LoadError, RunError};
    use sealer::OpenError;

    /// `bytes` with bit `bit` (0–7) of byte `index` flipped.
    pub fn flip(bytes: &[u8], index: usize, bit: u8) -> Vec<u8> {
        let mut out = bytes.to_vec();
        if let Some(b) = out.get_mut(index) {
            *b ^= 1 << (bit % 8);
        }
        out
    }

    /// The first `len` bytes.
    pub fn truncate(bytes: &[u8], len: usize) -> Vec<u8> {
        bytes.get(..len).unwrap_or(bytes).to_vec()
    }

    /// `bytes` followed by `garbage`.
    pub fn append(bytes: &[u8], garbage: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        out.extend_from_slice(garbage);
        out
    }

    /// Byte positions to attack in an artifact of `len` bytes: every byte of a small one, a
    /// spread of about `samples` positions (always including the first and last 64) of a large
    /// one.
    pub fn positions(len: usize, samples: usize) -> Vec<usize> {
        if len <= samples {
            return (0..len).collect();
        }
        let stride = (len / samples.max(1)).max(1);
        let mut out: Vec<usize> = (0..64.min(len)).collect();
        out.extend((64..len.saturating_sub(64)).step_by(stride));
        out.extend(len.saturating_sub(64)..len);
        out.dedup();
        out
    }

    /// A bundle of `module` signed with the same author as `h` but with a manifest changed by
    /// `change` (e.g. a lower svn, debug on, more fuel): a "same signer, different enclave".
    ///
    /// # Errors
    /// [`HarnessError::Bundle`].
    pub fn resign(
        h: &Harness,
        module: &[u8],
        change: impl FnOnce(&mut Manifest),
    ) -> Result<Vec<u8>, HarnessError> {
        let mut m = manifest();
        change(&mut m);
        h.sign(module, &m)
    }

    /// Loads `bundle` with one bit flipped at `index`: the runtime's refusal, or `None` if it
    /// loaded (a finding).
    pub fn tamper_bundle(h: &Harness, bundle: &[u8], index: usize) -> Option<LoadError> {
        match h.load(&flip(bundle, index, 0)) {
            Err(HarnessError::Load(e)) => Some(e),
            _ => None,
        }
    }

    /// Replaces the module inside a signed bundle with `other` while keeping the signature, as an
    /// operator substituting code would: the runtime's refusal, or `None` if it loaded.
    pub fn swap_module(
        h: &Harness,
        bundle: &[u8],
        module: &[u8],
        other: &[u8],
    ) -> Option<LoadError> {
        let at = bundle.windows(module.len()).position(|w| w == module)?;
        // With another length the CBOR length prefix no longer fits either: the parser or the
        // signature check refuses it.
        let mut evil = bundle.to_vec();
        evil.splice(at..at + module.len(), other.iter().copied());
        match h.load(&evil) {
            Err(HarnessError::Load(e)) => Some(e),
            _ => None,
        }
    }

    /// Presents `old_evidence` (made for another nonce) to a verifier expecting `fresh_nonce`.
    pub fn replay_report(
        h: &Harness,
        enclave: &Enclave,
        old_evidence: &[u8],
        fresh_nonce: &[u8],
    ) -> Option<VerifyError> {
        attest::verify(
            old_evidence,
            &h.policy(enclave, fresh_nonce),
            SystemTime::now(),
        )
        .err()
    }

    /// Runs a sealed input meant for one enclave on another (e.g. a lower svn, a debug build,
    /// another module): the runtime's refusal, or `None` if it ran.
    pub fn run_elsewhere(h: &Harness, other: &Enclave, sealed_input: &[u8]) -> Option<OpenError> {
        match h.run_sealed(other, sealed_input) {
            Err(ConfidentialError::Input(e)) => Some(e),
            _ => None,
        }
    }

    /// Runs `enclave` on `input` expecting it to fail (exhausted fuel or memory, a trap, …): the
    /// run's error, or `None` if it succeeded.
    pub fn exhaust(h: &Harness, enclave: &Enclave, input: &[u8]) -> Option<RunError> {
        match h.run(enclave, input) {
            Err(HarnessError::Run(e)) => Some(e),
            _ => None,
        }
    }
}
