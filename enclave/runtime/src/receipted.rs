//! Signed receipts for plaintext runs: the platform's signature over which enclave ran
//! (measurement, signer, product, svn), the SHA-256 of the input it was given and of the output
//! it produced, the host's nonce and the outcome. A plugin host hands the receipt to whoever
//! needs to know which plugin produced an output; they check it with
//! `attest::verify_receipt` against the platform's root and hash the bytes they hold.
//! The format is the confidential run's receipt (`docs/formats.md`, "Execution receipt") with
//! the digests taken over the plaintext bytes.

use std::sync::Arc;
use std::time::SystemTime;

use attest::evidence::EvidenceError;
use attest::receipt::{Outcome, ReceiptClaims, MAX_FAILURE_MESSAGE, MAX_REQUEST_NONCE};
use sha2::{Digest, Sha256};

use crate::confidential::unix_seconds;
use crate::error::RunError;
use crate::host::Input;
use crate::policy::RunOptions;
use crate::runner::{Enclave, RunReport};
use crate::services::{ConfidentialPlatform, ReportIssuer};

/// A plaintext run and the platform's receipt for it, signed whether it succeeded or not.
#[derive(Debug)]
pub struct ReceiptedRun {
    /// What the run produced, or why it failed.
    pub result: Result<RunReport<Vec<u8>>, RunError>,
    /// The signed receipt (COSE_Sign1), for [`attest::verify_receipt`].
    pub receipt: Vec<u8>,
}

/// Why no receipt could be made. (A failed run still gets one.)
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// The host's nonce is longer than a receipt holds.
    #[error("the receipt nonce is {len} bytes, more than {MAX_REQUEST_NONCE}")]
    NonceTooLong {
        /// Its length.
        len: usize,
    },
    /// The platform could not sign.
    #[error("signing the receipt: {0}")]
    Sign(#[source] EvidenceError),
}

impl Enclave {
    /// Runs the guest on `input` as [`Enclave::run_with`] does, and has `platform` sign a
    /// receipt over the enclave's identity, SHA-256 of `input`, SHA-256 of the output (all zero
    /// for a failed run), `nonce` and the outcome.
    ///
    /// # Errors
    /// [`ReceiptError`] when no receipt can be made; the run's own failure is in
    /// [`ReceiptedRun::result`].
    pub fn run_with_receipt(
        &self,
        input: &[u8],
        nonce: &[u8],
        platform: &dyn ConfidentialPlatform,
        reporter: Option<Arc<dyn ReportIssuer>>,
        options: &RunOptions,
    ) -> Result<ReceiptedRun, ReceiptError> {
        if nonce.len() > MAX_REQUEST_NONCE {
            return Err(ReceiptError::NonceTooLong { len: nonce.len() });
        }
        let input_digest: [u8; 32] = Sha256::digest(input).into();
        let input = Input::from_bytes(input.to_vec());
        let (result, store) = self.run_with_store(input, Vec::new(), reporter, options);
        let mut claims = self.receipt_claims(platform, input_digest, nonce, &result);
        // A run that held the sealed store names the state it left (`docs/formats.md`).
        claims.store = store;
        let receipt = platform.sign_receipt(&claims).map_err(ReceiptError::Sign)?;
        Ok(ReceiptedRun { result, receipt })
    }

    fn receipt_claims(
        &self,
        platform: &dyn ConfidentialPlatform,
        input_digest: [u8; 32],
        nonce: &[u8],
        result: &Result<RunReport<Vec<u8>>, RunError>,
    ) -> ReceiptClaims {
        let identity = self.identity();
        let (output_digest, fuel_used, outcome, exit_code) = match result {
            Ok(report) => (
                Sha256::digest(&report.output).into(),
                // `None` for a production enclave: its fuel would tell which way it decided.
                report.fuel_used.unwrap_or(0),
                Outcome::Success,
                report.exit_code,
            ),
            Err(error) => {
                let message = failure_message(&error.to_string());
                ([0; 32], 0, Outcome::Failed { message }, None)
            }
        };
        ReceiptClaims {
            issued_at: unix_seconds(SystemTime::now()),
            platform_id: platform.platform_id(),
            measurement: identity.measurement,
            signer: identity.signer,
            product_id: identity.product_id,
            svn: identity.svn,
            debug: identity.debug,
            input_digest,
            output_digest,
            request_nonce: nonce.to_vec(),
            fuel_used,
            outcome,
            exit_code,
            store: None,
        }
    }
}

/// `text` cut at a character boundary to at most [`MAX_FAILURE_MESSAGE`] bytes.
fn failure_message(text: &str) -> String {
    let mut end = text.len().min(MAX_FAILURE_MESSAGE);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().to_owned()
}
