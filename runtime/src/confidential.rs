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
use attest::EvidenceError;
use sealer::{OpenError, OpenReader, SealError, SealedInputHeader};

use crate::error::RunError;
use crate::host::Input;
use crate::runner::Enclave;
use crate::services::{ConfidentialPlatform, ReportIssuer};

/// A successful confidential run.
#[derive(Debug)]
pub struct SealedRun<W> {
    /// The writer the sealed output went to, handed back.
    pub output: W,
    /// The signed execution receipt (COSE_Sign1).
    pub receipt: Vec<u8>,
    /// The receipt's claims, as signed.
    pub claims: ReceiptClaims,
    /// Plaintext input bytes the guest was given.
    pub input_bytes: u64,
    /// Plaintext output bytes the guest wrote.
    pub output_bytes: u64,
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
}

impl Enclave {
    /// Runs on a sealed input read from `sealed_input`, writing the sealed output to `output`,
    /// on `platform` (whose secret the enclave's keys derive from), and signs a receipt dated by
    /// `now`.
    ///
    /// Memory stays bounded whatever the input and output sizes: both are streamed in 64 KiB
    /// chunks. The input's binding (platform, measurement or signer policy and svn, debug bit) is
    /// checked before anything is decrypted.
    ///
    /// # Errors
    /// [`ConfidentialError`]; whatever reached `output` must be discarded.
    pub fn run_sealed<R, W>(
        &self,
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
        header
            .check_binding(&identity, &platform.platform_id())
            .map_err(ConfidentialError::Input)?;
        let request_nonce = header.request_id().to_vec();
        let keypair = platform
            .enclave_keypair(&identity, header.policy())
            .map_err(ConfidentialError::Input)?;
        let (reader, response) = header
            .open(&keypair, sealed_input)
            .map_err(ConfidentialError::Input)?;
        let len = reader.plaintext_len();
        let shared = SharedReader(Arc::new(Mutex::new(Some(reader))));
        let input = Input::new(shared.clone(), len);
        // Kept to seal a failure report instead, should the run fail.
        let failure_sealer = response.clone();
        let writer = response.writer(output).map_err(ConfidentialError::Output)?;

        let claims =
            |input_digest: [u8; 32], output_digest: [u8; 32], fuel_used, outcome, exit_code| {
                ReceiptClaims {
                    issued_at: unix_seconds(now()),
                    platform_id: platform.platform_id(),
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
                }
            };
        let sign = |claims: &ReceiptClaims| {
            platform
                .sign_receipt(claims)
                .map_err(ConfidentialError::Receipt)
        };

        match self.run(input, writer, reporter) {
            Ok(report) => {
                let input_digest = shared.finish().map_err(ConfidentialError::Input)?;
                let finished = report.output.finish().map_err(ConfidentialError::Output)?;
                let claims = claims(
                    *input_digest.as_bytes(),
                    *finished.digest.as_bytes(),
                    report.fuel_used,
                    Outcome::Success,
                    report.exit_code,
                );
                Ok(SealedRun {
                    output: finished.writer,
                    receipt: sign(&claims)?,
                    claims,
                    input_bytes: report.input_bytes,
                    output_bytes: report.output_bytes,
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
