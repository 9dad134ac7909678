//! The client's check of an execution receipt against its own context: the receipt must be for
//! the enclave it sealed to, on the platform it sealed to, for the very input it sealed, and name
//! the sealed output it is about to open. The receipt's signature and chain are checked first by
//! [`attest::verify_receipt`]; this compares claims with what only the client knows.

use attest::receipt::{Outcome, VerifiedReceipt};
use attest::{Measurement, PlatformId, ProductId, SignerId, Svn};

use crate::context::ClientContext;
use crate::digest::{SealedInputDigest, SealedOutputDigest};
use crate::keys::KeyPolicy;

/// Why a verified receipt does not belong to this client's request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptMismatch {
    /// Another platform ran it.
    #[error("receipt is from platform {receipt}, the input was sealed to {sealed}")]
    Platform {
        /// In the receipt.
        receipt: PlatformId,
        /// In the context.
        sealed: PlatformId,
    },
    /// Another enclave ran it (measurement policy).
    #[error("receipt is for measurement {receipt}, the input was sealed to {sealed}")]
    Measurement {
        /// In the receipt.
        receipt: Measurement,
        /// In the context.
        sealed: Measurement,
    },
    /// An enclave by another signer, or of another product, ran it (signer policy).
    #[error("receipt is for signer {receipt} product {receipt_product}, the input was sealed to signer {sealed} product {sealed_product}")]
    Signer {
        /// In the receipt.
        receipt: SignerId,
        /// In the receipt.
        receipt_product: ProductId,
        /// In the context.
        sealed: SignerId,
        /// In the context.
        sealed_product: ProductId,
    },
    /// An enclave older than the svn sealed to ran it: impossible for an honest platform.
    #[error("receipt is for svn {receipt}, below the svn {sealed} the input was sealed to")]
    Svn {
        /// In the receipt.
        receipt: Svn,
        /// In the context.
        sealed: Svn,
    },
    /// The debug bit differs.
    #[error("receipt says debug = {receipt}, the input was sealed for debug = {sealed}")]
    Debug {
        /// In the receipt.
        receipt: bool,
        /// In the context.
        sealed: bool,
    },
    /// The receipt names another sealed input.
    #[error("receipt is for sealed input {receipt}, not {sealed}")]
    Input {
        /// In the receipt.
        receipt: SealedInputDigest,
        /// In the context.
        sealed: SealedInputDigest,
    },
    /// The receipt names another request.
    #[error("receipt is for another request")]
    Request,
    /// The receipt names another sealed output than the one being opened.
    #[error("receipt is for sealed output {receipt}, the file is {file}")]
    Output {
        /// In the receipt.
        receipt: SealedOutputDigest,
        /// Of the file.
        file: SealedOutputDigest,
    },
    /// The run failed, and the sealed output the receipt names is the failure report sealed to
    /// the requester (`docs/formats.md`, "Failed runs"), not an output. The string is the
    /// receipt's failure category.
    #[error("the enclave's run failed: {0}")]
    Failed(String),
}

/// Checks that `receipt` is the receipt of the request `context` describes and names the sealed
/// output whose SHA-256 is `output`.
///
/// # Errors
/// The first [`ReceiptMismatch`] found, in the order of the variants.
pub fn check_receipt(
    context: &ClientContext,
    receipt: &VerifiedReceipt,
    output: &SealedOutputDigest,
) -> Result<(), ReceiptMismatch> {
    let claims = receipt.claims();
    if claims.platform_id != context.platform_id() {
        return Err(ReceiptMismatch::Platform {
            receipt: claims.platform_id,
            sealed: context.platform_id(),
        });
    }
    match *context.policy() {
        KeyPolicy::Measurement(sealed) if claims.measurement != sealed => {
            return Err(ReceiptMismatch::Measurement {
                receipt: claims.measurement,
                sealed,
            })
        }
        KeyPolicy::Measurement(_) => {}
        KeyPolicy::Signer {
            signer,
            product_id,
            svn,
        } => {
            if claims.signer != signer || claims.product_id != product_id {
                return Err(ReceiptMismatch::Signer {
                    receipt: claims.signer,
                    receipt_product: claims.product_id,
                    sealed: signer,
                    sealed_product: product_id,
                });
            }
            if claims.svn < svn {
                return Err(ReceiptMismatch::Svn {
                    receipt: claims.svn,
                    sealed: svn,
                });
            }
        }
    }
    if claims.debug != context.debug() {
        return Err(ReceiptMismatch::Debug {
            receipt: claims.debug,
            sealed: context.debug(),
        });
    }
    let input = SealedInputDigest::from_bytes(claims.input_digest);
    if input != context.sealed_input_digest() {
        return Err(ReceiptMismatch::Input {
            receipt: input,
            sealed: context.sealed_input_digest(),
        });
    }
    if claims.request_nonce != context.request_id() {
        return Err(ReceiptMismatch::Request);
    }
    let named = SealedOutputDigest::from_bytes(claims.output_digest);
    if named != *output {
        return Err(ReceiptMismatch::Output {
            receipt: named,
            file: *output,
        });
    }
    if let Outcome::Failed { message } = &claims.outcome {
        return Err(ReceiptMismatch::Failed(message.clone()));
    }
    Ok(())
}
