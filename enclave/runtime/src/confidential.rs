//! Confidential runs: a sealed input is opened inside the runtime, the guest runs on the
//! plaintext, its output is sealed back to the requester (Oblivious-HTTP-style, RFC 9458 §4.4),
//! and the platform signs a receipt binding code, sealed input and sealed output.
//!
//! The operator sees the sealed input, the sealed output and the receipt; the plaintext exists
//! only inside this process (see `docs/threat-model.md` for what that does and does not mean).
//! The byte formats are in `docs/formats.md` ("Confidential I/O", "Execution receipt").

use std::io::{Read, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use attest::receipt::{Outcome, ReceiptClaims, MAX_FAILURE_MESSAGE};
use attest::{EvidenceError, PlatformId};
use sealer::{
    EnclaveIdentity, EnclaveKeyPair, KeyPolicy, OpenError, OpenReader, SealError, SealedInputHeader,
};

use crate::error::RunError;
use crate::host::{Input, SealedOrigin};
use crate::runner::Enclave;
use crate::services::{ConfidentialPlatform, ReplayRefused, ReportIssuer, RequestId};

/// A successful confidential run.
#[derive(Debug)]
pub struct SealedRun<W> {
    /// The writer the sealed output went to, handed back.
    pub output: W,
    /// The signed execution receipt (COSE_Sign1).
    pub receipt: Vec<u8>,
    /// The receipt's claims, as signed.
    pub claims: ReceiptClaims,
    /// Plaintext input bytes the guest was given, for a debug enclave only: for a production
    /// enclave the plaintext sizes are the requester's (`None`), and the operator sees only the
    /// sealed sizes, which padding can bucket (docs/formats.md, "Padding").
    pub input_bytes: Option<u64>,
    /// Plaintext output bytes the guest wrote, for a debug enclave only (as `input_bytes`).
    pub output_bytes: Option<u64>,
    /// Wall-clock time of the guest run.
    pub duration: Duration,
    /// The debug log (empty unless the enclave is a debug enclave).
    pub log: Vec<u8>,
}

/// Why a confidential run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfidentialError {
    /// The sealed input is not for this enclave or platform, or it was altered, truncated or
    /// reordered. Nothing ran, or the run was abandoned; no receipt.
    #[error("sealed input refused")]
    Input(#[source] OpenError),
    /// The guest failed. The receipt (outcome "failed") proves which code refused which input
    /// and names `report`, the failure sealed to the requester in place of an output. The
    /// error's `Display` is what the operator may see: for a production enclave the guest's own
    /// words are withheld ([`RunError::guest_message`]); `report` is the only place they go.
    #[error("{error}")]
    Guest {
        /// What went wrong.
        error: RunError,
        /// The signed receipt of the failed run.
        receipt: Vec<u8>,
        /// The sealed failure report (a sealed output whose plaintext is
        /// [`RunError::to_requester_string`]), for the requester to open.
        report: Vec<u8>,
    },
    /// Sealing the output failed (an I/O error of the output writer, or the random generator).
    #[error("cannot seal the output")]
    Output(#[source] SealError),
    /// The platform could not sign the receipt.
    #[error("cannot sign the receipt")]
    Receipt(#[source] EvidenceError),
    /// The [`ConfidentialKeys`] given were derived for another enclave or on another platform.
    /// Nothing was read.
    #[error("the prepared keys belong to another enclave or platform")]
    ForeignKeys,
    /// The enclave refuses replays (`inputs.refuse_replays`) and this sealed request already
    /// ran within its window, or the platform could not check. Nothing ran; no receipt.
    #[error("sealed request refused")]
    Replayed(#[source] ReplayRefused),
}

/// The enclave's HPKE key pairs on one platform for the two key policies its evidence publishes
/// (its measurement; its signer and product at its svn), derived once per loaded enclave by
/// [`Enclave::confidential_keys`] instead of once per request. A server keeps one beside each
/// loaded [`Enclave`] and passes it to [`Enclave::run_sealed_with`]. The private keys are
/// zeroized when it is dropped and never printed.
#[derive(Debug)]
pub struct ConfidentialKeys {
    platform_id: PlatformId,
    identity: EnclaveIdentity,
    measurement: EnclaveKeyPair,
    signer: EnclaveKeyPair,
}

impl ConfidentialKeys {
    /// The platform the keys were derived on.
    pub fn platform_id(&self) -> PlatformId {
        self.platform_id
    }

    /// The enclave identity the keys belong to.
    pub fn identity(&self) -> &EnclaveIdentity {
        &self.identity
    }

    /// The kept key pair for `policy`, if it is one of the two.
    fn get(&self, policy: &KeyPolicy) -> Option<&EnclaveKeyPair> {
        [&self.measurement, &self.signer]
            .into_iter()
            .find(|pair| pair.policy() == policy)
    }
}

impl Enclave {
    /// Derives this enclave's key pairs on `platform` once, for [`Enclave::run_sealed_with`].
    ///
    /// # Errors
    /// [`OpenError`] when the platform refuses to derive them.
    pub fn confidential_keys(
        &self,
        platform: &dyn ConfidentialPlatform,
    ) -> Result<ConfidentialKeys, OpenError> {
        let identity = self.identity();
        Ok(ConfidentialKeys {
            platform_id: platform.platform_id(),
            measurement: platform.enclave_keypair(&identity, &identity.measurement_policy())?,
            signer: platform.enclave_keypair(&identity, &identity.signer_policy())?,
            identity,
        })
    }

    /// Runs on a sealed input read from `sealed_input`, writing the sealed output to `output`,
    /// on `platform` (whose secret the enclave's keys derive from), and signs a receipt dated by
    /// `now`.
    ///
    /// Memory stays bounded whatever the input and output sizes: both are streamed in 64 KiB
    /// chunks. The input's binding (platform, measurement or signer policy and svn, debug bit) is
    /// checked before anything is decrypted. This derives the enclave's key pair for every
    /// input; a server that runs many keeps [`ConfidentialKeys`] and calls
    /// [`Enclave::run_sealed_with`].
    ///
    /// # Errors
    /// [`ConfidentialError`]; whatever reached `output` must be discarded.
    pub fn run_sealed<R, W>(
        &self,
        platform: &dyn ConfidentialPlatform,
        sealed_input: R,
        output: W,
        reporter: Option<Arc<dyn ReportIssuer>>,
        now: fn() -> SystemTime,
    ) -> Result<SealedRun<W>, ConfidentialError>
    where
        R: Read + Send + 'static,
        W: Write + Send + 'static,
    {
        self.run_sealed_inner(None, platform, sealed_input, output, reporter, now)
    }

    /// [`Enclave::run_sealed`] with this enclave's key pairs derived beforehand on the same
    /// `platform` ([`Enclave::confidential_keys`]). An input sealed to another policy this
    /// enclave may use (its signer at an older svn) still gets its key pair derived.
    ///
    /// # Errors
    /// [`ConfidentialError::ForeignKeys`] when `keys` are another enclave's or another
    /// platform's; otherwise as [`Enclave::run_sealed`].
    pub fn run_sealed_with<R, W>(
        &self,
        keys: &ConfidentialKeys,
        platform: &dyn ConfidentialPlatform,
        sealed_input: R,
        output: W,
        reporter: Option<Arc<dyn ReportIssuer>>,
        now: fn() -> SystemTime,
    ) -> Result<SealedRun<W>, ConfidentialError>
    where
        R: Read + Send + 'static,
        W: Write + Send + 'static,
    {
        if keys.identity != self.identity() || keys.platform_id != platform.platform_id() {
            return Err(ConfidentialError::ForeignKeys);
        }
        self.run_sealed_inner(Some(keys), platform, sealed_input, output, reporter, now)
    }

    fn run_sealed_inner<R, W>(
        &self,
        keys: Option<&ConfidentialKeys>,
        platform: &dyn ConfidentialPlatform,
        mut sealed_input: R,
        output: W,
        reporter: Option<Arc<dyn ReportIssuer>>,
        now: fn() -> SystemTime,
    ) -> Result<SealedRun<W>, ConfidentialError>
    where
        R: Read + Send + 'static,
        W: Write + Send + 'static,
    {
        let header =
            SealedInputHeader::read(&mut sealed_input).map_err(ConfidentialError::Input)?;
        let identity = self.identity();
        let platform_id = platform.platform_id();
        header
            .check_binding(&identity, &platform_id)
            .map_err(ConfidentialError::Input)?;
        let request_nonce = header.request_id().to_vec();
        let mut origin = SealedOrigin {
            request_id: header.request_id(),
            evidence_digest: *header.evidence_digest().as_bytes(),
            replay_checked: false,
        };
        let derived;
        let keypair = match keys.and_then(|keys| keys.get(header.policy())) {
            Some(kept) => kept,
            None => {
                derived = platform
                    .enclave_keypair(&identity, header.policy())
                    .map_err(ConfidentialError::Input)?;
                &derived
            }
        };
        let (reader, response) = header
            .open(keypair, sealed_input)
            .map_err(ConfidentialError::Input)?;
        // Only once the header's key confirmation held: a request id recorded here came from a
        // client who sealed to this enclave.
        let inputs = self.bundle().manifest().inputs;
        if inputs.refuse_replays {
            platform
                .admit_request(
                    &identity,
                    &RequestId(origin.request_id),
                    Duration::from_secs(inputs.replay_window_s),
                    now(),
                )
                .map_err(ConfidentialError::Replayed)?;
            origin.replay_checked = true;
        }
        let len = reader.plaintext_len();
        let shared = SharedReader(Arc::new(Mutex::new(Some(reader))));
        let input = Input::sealed(shared.clone(), len, origin);
        // The answer and a failure report alike are padded as the manifest says.
        let response = response.padded_to(self.bundle().manifest().pad_output);
        // Kept to seal a failure report instead, should the run fail.
        let failure_sealer = response.clone();
        let writer = response.writer(output).map_err(ConfidentialError::Output)?;

        let (result, store) = self.run_with_store(
            input,
            writer,
            reporter,
            &crate::policy::RunOptions::default(),
        );
        let claims =
            |input_digest: [u8; 32], output_digest: [u8; 32], fuel_used, outcome, exit_code| {
                ReceiptClaims {
                    issued_at: unix_seconds(now()),
                    platform_id,
                    measurement: self.measurement(),
                    signer: self.bundle().signer_id(),
                    product_id: identity.product_id,
                    svn: identity.svn,
                    debug: identity.debug,
                    input_digest,
                    output_digest,
                    request_nonce: request_nonce.clone(),
                    fuel_used,
                    outcome,
                    exit_code,
                    store,
                }
            };
        let sign = |claims: &ReceiptClaims| {
            platform
                .sign_receipt(claims)
                .map_err(ConfidentialError::Receipt)
        };

        match result {
            Ok(report) => {
                let input_digest = shared.finish().map_err(ConfidentialError::Input)?;
                let finished = report.output.finish().map_err(ConfidentialError::Output)?;
                // `fuel_used` is `None` for a production enclave: the receipt, which the
                // operator holds, says 0 (docs/formats.md, "Execution receipt").
                let claims = claims(
                    *input_digest.as_bytes(),
                    *finished.digest.as_bytes(),
                    report.fuel_used.unwrap_or(0),
                    Outcome::Success,
                    report.exit_code,
                );
                let debug = identity.debug;
                Ok(SealedRun {
                    output: finished.writer,
                    receipt: sign(&claims)?,
                    claims,
                    input_bytes: Some(report.input_bytes).filter(|_| debug),
                    output_bytes: Some(report.output_bytes).filter(|_| debug),
                    duration: report.duration,
                    log: report.log,
                })
            }
            Err(RunError::Input(e)) => Err(ConfidentialError::Input(as_open_error(e))),
            Err(error) => {
                // Authenticate the rest of the input, so the receipt names a sealed input that
                // really was for this enclave, even if the guest stopped reading early.
                let input_digest = shared.finish().map_err(ConfidentialError::Input)?;
                // The receipt is public: it gets the operator's view of the failure. The
                // requester gets the whole of it, the guest's own words included, sealed.
                let message = truncate(&error.to_string(), MAX_FAILURE_MESSAGE);
                let report = seal_report(failure_sealer, &error)?;
                // A WASI exit code, nonzero included, is a completed run (docs/wasi.md): a
                // failed run has none.
                let claims = claims(
                    *input_digest.as_bytes(),
                    *report.digest.as_bytes(),
                    0,
                    Outcome::Failed { message },
                    None,
                );
                Err(ConfidentialError::Guest {
                    error,
                    receipt: sign(&claims)?,
                    report: report.writer,
                })
            }
        }
    }
}

/// Seals the requester's account of a failed run (`docs/formats.md`, "Failed runs").
fn seal_report(
    sealer: sealer::ResponseSealer,
    error: &RunError,
) -> Result<sealer::FinishedOutput<Vec<u8>>, ConfidentialError> {
    let text = zeroize::Zeroizing::new(truncate(&error.to_requester_string(), MAX_FAILURE_REPORT));
    let mut writer = sealer
        .writer(Vec::with_capacity(MAX_FAILURE_REPORT + 128))
        .map_err(ConfidentialError::Output)?;
    writer
        .write_all(text.as_bytes())
        .map_err(|e| ConfidentialError::Output(e.into()))?;
    writer.finish().map_err(ConfidentialError::Output)
}

/// Largest failure report sealed to the requester, in bytes: room for the category and the
/// guest's message (at most 1 KiB of its bytes, escaped); anything longer is cut at a character
/// boundary.
pub const MAX_FAILURE_REPORT: usize = 8192;

/// Seconds since the Unix epoch; 0 for a clock before it.
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The guest's input stream, shared so that the runtime can authenticate its end after the run.
struct SharedReader<R>(Arc<Mutex<Option<OpenReader<R>>>>);

impl<R> Clone for SharedReader<R> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<R: Read> Read for SharedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match guard.as_mut() {
            Some(reader) => reader.read(buf),
            None => Ok(0),
        }
    }
}

impl<R: Read> SharedReader<R> {
    fn finish(&self) -> Result<sealer::SealedInputDigest, OpenError> {
        let reader = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or(OpenError::Io(std::io::ErrorKind::Other.into()))?;
        reader.finish()
    }
}

/// The sealer's error inside an input read failure, or the I/O error itself.
fn as_open_error(error: std::io::Error) -> OpenError {
    if error
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<OpenError>().is_some())
    {
        match error
            .into_inner()
            .map(|inner| inner.downcast::<OpenError>())
        {
            Some(Ok(open)) => *open,
            _ => OpenError::Io(std::io::ErrorKind::InvalidData.into()),
        }
    } else {
        OpenError::Io(error)
    }
}

fn truncate(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        reason = "tests: a panic is a failing test"
    )]

    use attest::{AuthorKey, Manifest, Svn};
    use sealer::{EvidenceDigest, PlatformSecret, SealTarget};

    use super::*;

    /// A platform with a secret and no attestation key: its "receipt" is the unsigned payload.
    struct Fake {
        id: PlatformId,
        secret: PlatformSecret,
    }

    impl ConfidentialPlatform for Fake {
        fn platform_id(&self) -> PlatformId {
            self.id
        }
        fn enclave_keypair(
            &self,
            identity: &EnclaveIdentity,
            policy: &KeyPolicy,
        ) -> Result<EnclaveKeyPair, OpenError> {
            identity.keypair(&self.secret, policy)
        }
        fn sign_receipt(&self, claims: &ReceiptClaims) -> Result<Vec<u8>, EvidenceError> {
            claims.to_payload_with_tcb(0)
        }
    }

    fn fake(id: u8) -> Fake {
        Fake {
            id: PlatformId::from_bytes([id; 32]),
            secret: PlatformSecret::from_bytes([id; 32]),
        }
    }

    fn echo(svn: u16) -> Enclave {
        echo_with(&format!("product_id = 1\nsvn = {svn}\ndebug = false\n"))
    }

    fn echo_with(manifest: &str) -> Enclave {
        let module = wat::parse_str(
            r#"(module
                (import "enclave_v1" "read_input" (func $read (param i32 i32) (result i32)))
                (import "enclave_v1" "write_output" (func $write (param i32 i32) (result i32)))
                (memory (export "memory") 1)
                (func (export "enclave_main") (local $n i32)
                    (local.set $n (call $read (i32.const 0) (i32.const 4096)))
                    (drop (call $write (i32.const 0) (local.get $n)))))"#,
        )
        .unwrap();
        let manifest = Manifest::from_toml(manifest).unwrap();
        let bundle = attest::bundle::sign(&AuthorKey::generate().unwrap(), &manifest, &module);
        Enclave::load(&bundle.unwrap(), crate::Signers::Any).unwrap()
    }

    /// Where a client seals to `enclave` on `platform` under `policy`.
    fn target_of(platform: &Fake, enclave: &Enclave, policy: KeyPolicy) -> SealTarget {
        let identity = enclave.identity();
        SealTarget {
            public_key: platform
                .enclave_keypair(&identity, &policy)
                .unwrap()
                .public(),
            policy,
            debug: false,
            evidence_digest: EvidenceDigest::from_bytes([9; 32]),
            platform_id: platform.id,
        }
    }

    fn sealed(platform: &Fake, enclave: &Enclave, policy: KeyPolicy) -> Vec<u8> {
        let target = target_of(platform, enclave, policy);
        let mut out = Vec::new();
        sealer::seal(&target, &b"hello"[..], 5, &mut out).unwrap();
        out
    }

    fn run_with(
        enclave: &Enclave,
        keys: &ConfidentialKeys,
        platform: &Fake,
        input: Vec<u8>,
    ) -> Result<SealedRun<Vec<u8>>, ConfidentialError> {
        enclave.run_sealed_with(
            keys,
            platform,
            std::io::Cursor::new(input),
            Vec::new(),
            None,
            SystemTime::now,
        )
    }

    #[test]
    fn kept_keys_open_what_derived_keys_open() {
        let platform = fake(1);
        let enclave = echo(3);
        let identity = enclave.identity();
        let keys = enclave.confidential_keys(&platform).unwrap();
        assert_eq!(keys.platform_id(), platform.id);
        let older = KeyPolicy::Signer {
            signer: identity.signer,
            product_id: identity.product_id,
            svn: Svn(1),
        };
        // The two kept policies, and an older svn whose key pair is derived for the request.
        for policy in [
            identity.measurement_policy(),
            identity.signer_policy(),
            older,
        ] {
            let input = sealed(&platform, &enclave, policy);
            let kept = run_with(&enclave, &keys, &platform, input.clone()).unwrap();
            let derived = enclave
                .run_sealed(
                    &platform,
                    std::io::Cursor::new(input),
                    Vec::new(),
                    None,
                    SystemTime::now,
                )
                .unwrap();
            assert_eq!(
                kept.output_bytes, None,
                "a production enclave's sizes are withheld"
            );
            assert_eq!(
                kept.claims.fuel_used, 0,
                "a production enclave's fuel is withheld"
            );
            assert_eq!(kept.claims.input_digest, derived.claims.input_digest);
            assert_eq!(kept.claims.request_nonce, derived.claims.request_nonce);
        }
    }

    #[test]
    fn foreign_keys_are_refused_before_reading() {
        let platform = fake(1);
        let enclave = echo(1);
        let input = sealed(&platform, &enclave, enclave.identity().measurement_policy());
        let other_platform = fake(2);
        let theirs = enclave.confidential_keys(&other_platform).unwrap();
        assert!(matches!(
            run_with(&enclave, &theirs, &platform, input.clone()),
            Err(ConfidentialError::ForeignKeys)
        ));
        let other_enclave = echo(1);
        let its = other_enclave.confidential_keys(&platform).unwrap();
        assert!(matches!(
            run_with(&enclave, &its, &platform, input),
            Err(ConfidentialError::ForeignKeys)
        ));
    }

    /// Seals `plaintext` to `enclave` on `platform`, keeping the client context.
    fn seal_keeping(
        platform: &Fake,
        enclave: &Enclave,
        plaintext: &[u8],
    ) -> (Vec<u8>, sealer::ClientContext) {
        let target = target_of(platform, enclave, enclave.identity().measurement_policy());
        let mut out = Vec::new();
        let context = sealer::seal(&target, plaintext, plaintext.len() as u64, &mut out).unwrap();
        (out, context)
    }

    #[test]
    fn padded_answers_of_different_lengths_seal_to_one_length() {
        let platform = fake(1);
        let enclave = echo_with("product_id = 1\nsvn = 1\ndebug = false\npad_output = 4096\n");
        let keys = enclave.confidential_keys(&platform).unwrap();
        let mut lengths = Vec::new();
        for answer in [&b"approve"[..], b"decline", b"review: ask for payslips"] {
            let (input, context) = seal_keeping(&platform, &enclave, answer);
            let run = run_with(&enclave, &keys, &platform, input).unwrap();
            lengths.push(run.output.len());
            let mut opened = Vec::new();
            let done = sealer::open_output(&context, run.output.as_slice(), &mut opened).unwrap();
            assert_eq!(opened, answer);
            assert_eq!(done.plaintext_len, answer.len() as u64);
            assert_eq!(*done.digest.as_bytes(), run.claims.output_digest);
        }
        assert_eq!(lengths, [44 + 4096 + 16; 3]);
        // A padded input: the guest reads its plaintext only, and the receipt names the file.
        let target = target_of(&platform, &enclave, enclave.identity().measurement_policy());
        let mut input = Vec::new();
        let bucket = std::num::NonZeroU64::new(1024).unwrap();
        let options = sealer::SealOptions::for_len(5);
        let context =
            sealer::input::seal_padded(&target, options, bucket, &b"hello"[..], 5, &mut input)
                .unwrap();
        assert_eq!(input.len(), 178 + 1024 + 16);
        let run = run_with(&enclave, &keys, &platform, input).unwrap();
        let mut opened = Vec::new();
        sealer::open_output(&context, run.output.as_slice(), &mut opened).unwrap();
        assert_eq!(opened, b"hello");
        assert_eq!(
            run.claims.input_digest,
            *context.sealed_input_digest().as_bytes()
        );
        // Unpadded, the lengths differ.
        let plain = echo(1);
        let keys = plain.confidential_keys(&platform).unwrap();
        let (input, _) = seal_keeping(&platform, &plain, b"approve");
        let run = run_with(&plain, &keys, &platform, input).unwrap();
        assert_eq!(run.output.len(), 44 + 7 + 16);
    }
}
