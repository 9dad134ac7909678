//! Execution receipts: the platform's signed statement that an enclave ran on a sealed input
//! and produced a sealed output (or failed), in the same COSE_Sign1 + `x5chain` envelope as
//! evidence ([`crate::cose`]) with its own EAT profile.
//!
//! [`verify_receipt`] runs the structural checks of evidence (size, COSE, algorithm, chain,
//! TCB extension, signature, strict claims, platform id) and leaves policy to the caller, who
//! compares digests and identities with the helpers on [`VerifiedReceipt`].

use std::time::SystemTime;

use sha2::{Digest as _, Sha256};

use crate::cose::{self, check_platform, claim, narrow, ClaimReader, ClaimWriter};
use crate::error::VerifyError;
use crate::evidence::EvidenceError;
use crate::identity::{Measurement, PlatformId, ProductId, SignerId, Svn};
use crate::trust::TrustedRoots;

/// `eat_profile` of receipts.
pub const RECEIPT_PROFILE: &str = "tag:enclave.invalid,2026:receipt/v1";
/// Longest request nonce.
pub const MAX_REQUEST_NONCE: usize = 64;
/// Longest failure message.
pub const MAX_FAILURE_MESSAGE: usize = 1024;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The guest finished and its output was written.
    Success,
    /// The guest trapped, hit a limit or was refused; nothing was written.
    Failed {
        /// Why, at most [`MAX_FAILURE_MESSAGE`] bytes.
        message: String,
    },
}

/// The claims of one execution receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptClaims {
    /// When the receipt was made, seconds since the Unix epoch.
    pub issued_at: u64,
    /// The platform that ran the enclave.
    pub platform_id: PlatformId,
    /// The enclave measurement.
    pub measurement: Measurement,
    /// The enclave signer.
    pub signer: SignerId,
    /// The product id.
    pub product_id: ProductId,
    /// The security version.
    pub svn: Svn,
    /// Whether the enclave is a debug enclave.
    pub debug: bool,
    /// SHA-256 of the sealed input file.
    pub input_digest: [u8; 32],
    /// SHA-256 of the sealed output file; when the run failed, of the sealed failure report
    /// (the sealed output the requester receives in its place, `docs/formats.md`, "Failed runs").
    pub output_digest: [u8; 32],
    /// The requester's nonce from the sealed input, at most 64 bytes.
    pub request_nonce: Vec<u8>,
    /// Fuel the run consumed.
    pub fuel_used: u64,
    /// How the run ended.
    pub outcome: Outcome,
    /// The guest's exit code (WASI `proc_exit`), when it has one.
    pub exit_code: Option<i32>,
    /// The enclave's sealed store after the run, for a guest granted the `store` capability:
    /// its version and head digest, so that two receipts made on one store state, or after the
    /// store was reset, can be told apart. `None` for a guest without the store (or when the
    /// platform could not read it: the run then failed on it).
    pub store: Option<StoreVersion>,
}

/// Which state of the sealed store a run left (`docs/formats.md`, "Execution receipt"). Every
/// update of the store raises `version` by one and seals a new head, whose digest is
/// unpredictable (it commits to the records, sealed under the store's random data key with
/// fresh nonces): receipts that name the same version with different heads come from states
/// that forked, such as a store reset by the operator and replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreVersion {
    /// The store's version (the platform counter's value); 0 for a store never written.
    pub version: u64,
    /// The digest of the store's head at that version (`docs/formats.md`, "Sealed store").
    pub head: [u8; 32],
}

const OUTCOME_SUCCESS: u64 = 0;
const OUTCOME_FAILED: u64 = 1;

impl ReceiptClaims {
    const KNOWN: [i64; 18] = [
        claim::IAT,
        claim::UEID,
        claim::DBGSTAT,
        claim::EAT_PROFILE,
        claim::MEASUREMENT,
        claim::SIGNER,
        claim::PRODUCT_ID,
        claim::SVN,
        claim::PLATFORM_TCB,
        claim::INPUT_DIGEST,
        claim::OUTPUT_DIGEST,
        claim::REQUEST_NONCE,
        claim::FUEL_USED,
        claim::OUTCOME,
        claim::FAILURE,
        claim::EXIT_CODE,
        claim::STORE_VERSION,
        claim::STORE_HEAD,
    ];

    /// The claims map exactly as it is signed, deterministically encoded (RFC 8949 §4.2.1).
    /// The platform TCB claim is not a field: the signing key adds its own (see
    /// `AttestationKey::sign_receipt`), so this gives it as `platform_tcb`.
    ///
    /// # Errors
    /// [`EvidenceError::ClaimOutOfRange`] for a too-long nonce or failure message.
    pub fn to_payload_with_tcb(&self, platform_tcb: u32) -> Result<Vec<u8>, EvidenceError> {
        if self.request_nonce.len() > MAX_REQUEST_NONCE {
            return Err(EvidenceError::ClaimOutOfRange {
                claim: "request_nonce",
                detail: format!("{} bytes, more than 64", self.request_nonce.len()),
            });
        }
        let mut w = ClaimWriter::default();
        w.put_text(claim::EAT_PROFILE, RECEIPT_PROFILE);
        w.put_uint(claim::IAT, self.issued_at);
        w.put_platform_and_debug(&self.platform_id, self.debug);
        w.put_bytes(claim::MEASUREMENT, self.measurement.as_bytes());
        w.put_bytes(claim::SIGNER, self.signer.as_bytes());
        w.put_uint(claim::PRODUCT_ID, self.product_id.0.into());
        w.put_uint(claim::SVN, self.svn.0.into());
        w.put_uint(claim::PLATFORM_TCB, platform_tcb.into());
        w.put_bytes(claim::INPUT_DIGEST, &self.input_digest);
        w.put_bytes(claim::OUTPUT_DIGEST, &self.output_digest);
        w.put_bytes(claim::REQUEST_NONCE, &self.request_nonce);
        w.put_uint(claim::FUEL_USED, self.fuel_used);
        match &self.outcome {
            Outcome::Success => w.put_uint(claim::OUTCOME, OUTCOME_SUCCESS),
            Outcome::Failed { message } => {
                if message.len() > MAX_FAILURE_MESSAGE {
                    return Err(EvidenceError::ClaimOutOfRange {
                        claim: "failure",
                        detail: format!("{} bytes, more than 1024", message.len()),
                    });
                }
                w.put_uint(claim::OUTCOME, OUTCOME_FAILED);
                w.put_text(claim::FAILURE, message);
            }
        }
        if let Some(code) = self.exit_code {
            w.put(claim::EXIT_CODE, ciborium::Value::Integer(code.into()));
        }
        if let Some(store) = &self.store {
            w.put_uint(claim::STORE_VERSION, store.version);
            w.put_bytes(claim::STORE_HEAD, &store.head);
        }
        Ok(w.finish())
    }

    /// Decodes a signed receipt claims map strictly; also gives its platform TCB claim.
    fn from_payload(payload: &[u8]) -> Result<(Self, u32), VerifyError> {
        let mut r = ClaimReader::parse(payload)?;
        r.profile(RECEIPT_PROFILE)?;
        r.refuse_unknown(&Self::KNOWN)?;
        let outcome = match r.uint(claim::OUTCOME, "outcome", OUTCOME_FAILED)? {
            OUTCOME_SUCCESS => Outcome::Success,
            _ => Outcome::Failed {
                message: r.text(claim::FAILURE, "failure", MAX_FAILURE_MESSAGE)?,
            },
        };
        let exit_code = if r.has(claim::EXIT_CODE) {
            Some(r.int32(claim::EXIT_CODE, "exit_code")?)
        } else {
            None
        };
        // Both or neither: one without the other is refused as a missing claim.
        let store = if r.has(claim::STORE_VERSION) || r.has(claim::STORE_HEAD) {
            Some(StoreVersion {
                version: r.uint(claim::STORE_VERSION, "store_version", u64::MAX)?,
                head: r.bytes32(claim::STORE_HEAD, "store_head")?,
            })
        } else {
            None
        };
        let tcb = narrow(r.uint(claim::PLATFORM_TCB, "platform_tcb", u32::MAX.into())?);
        let claims = Self {
            issued_at: r.uint(claim::IAT, "iat", u64::MAX)?,
            debug: r.debug()?,
            platform_id: r.ueid()?,
            measurement: Measurement::from_bytes(r.bytes32(claim::MEASUREMENT, "measurement")?),
            signer: SignerId::from_bytes(r.bytes32(claim::SIGNER, "signer")?),
            product_id: ProductId(narrow(r.uint(
                claim::PRODUCT_ID,
                "product_id",
                u16::MAX.into(),
            )?)),
            svn: Svn(narrow(r.uint(claim::SVN, "svn", u16::MAX.into())?)),
            input_digest: r.bytes32(claim::INPUT_DIGEST, "input_digest")?,
            output_digest: r.bytes32(claim::OUTPUT_DIGEST, "output_digest")?,
            request_nonce: r.bytes(claim::REQUEST_NONCE, "request_nonce", 0..=MAX_REQUEST_NONCE)?,
            fuel_used: r.uint(claim::FUEL_USED, "fuel_used", u64::MAX)?,
            outcome,
            exit_code,
            store,
        };
        // A failure message without a failed outcome is an unknown claim in that context.
        if r.has(claim::FAILURE) {
            return Err(VerifyError::UnknownClaim(claim::FAILURE));
        }
        Ok((claims, tcb))
    }
}

/// A receipt whose structure, chain, signature and claims all hold. Only [`verify_receipt`]
/// (or [`TrustedRoots::verify_receipt`]) makes one; comparing it with what the caller expects is the caller's policy.
#[derive(Debug, Clone)]
pub struct VerifiedReceipt {
    claims: ReceiptClaims,
    platform_tcb: u32,
    digest: [u8; 32],
}

impl VerifiedReceipt {
    /// All claims.
    pub fn claims(&self) -> &ReceiptClaims {
        &self.claims
    }
    /// SHA-256 of the receipt bytes exactly as received.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }
    /// The platform TCB version (the claim, equal to the certificate's).
    pub fn platform_tcb(&self) -> u32 {
        self.platform_tcb
    }

    /// Refuses a receipt for another enclave.
    ///
    /// # Errors
    /// [`VerifyError::MeasurementMismatch`].
    pub fn check_measurement(&self, expected: &Measurement) -> Result<(), VerifyError> {
        if self.claims.measurement == *expected {
            Ok(())
        } else {
            Err(VerifyError::MeasurementMismatch {
                got: self.claims.measurement,
            })
        }
    }

    /// Refuses a receipt for an enclave by another signer.
    ///
    /// # Errors
    /// [`VerifyError::SignerMismatch`].
    pub fn check_signer(&self, expected: &SignerId) -> Result<(), VerifyError> {
        if self.claims.signer == *expected {
            Ok(())
        } else {
            Err(VerifyError::SignerMismatch {
                got: self.claims.signer,
            })
        }
    }

    /// Refuses a receipt for another request.
    ///
    /// # Errors
    /// [`VerifyError::NonceMismatch`].
    pub fn check_request_nonce(&self, expected: &[u8]) -> Result<(), VerifyError> {
        if self.claims.request_nonce == expected {
            Ok(())
        } else {
            Err(VerifyError::NonceMismatch {
                expected: hex::encode(expected),
                got: hex::encode(&self.claims.request_nonce),
            })
        }
    }
}

/// Verifies a receipt's structure, certificate chain (to one of `roots`, DER, at `now`),
/// signature and claims.
///
/// A relying party that verifies many receipts keeps a [`TrustedRoots`] and calls
/// [`TrustedRoots::verify_receipt`], which parses the roots once and validates each platform
/// chain once; this function parses and validates everything every time.
///
/// # Errors
/// The structural [`VerifyError`] variants of [`crate::verify::verify`], in the same order;
/// [`VerifyError::PolicyIncomplete`] without roots.
pub fn verify_receipt(
    bytes: &[u8],
    roots: &[Vec<u8>],
    now: SystemTime,
) -> Result<VerifiedReceipt, VerifyError> {
    if roots.is_empty() {
        return Err(VerifyError::PolicyIncomplete("no trusted root certificate"));
    }
    verify_with(bytes, &TrustedRoots::new(roots.to_vec()), now)
}

/// [`verify_receipt`] against roots parsed once.
pub(crate) fn verify_with(
    bytes: &[u8],
    roots: &TrustedRoots,
    now: SystemTime,
) -> Result<VerifiedReceipt, VerifyError> {
    if roots.is_empty() {
        return Err(VerifyError::PolicyIncomplete("no trusted root certificate"));
    }
    let opened = cose::open(bytes, roots, now)?;
    let (claims, platform_tcb) = ReceiptClaims::from_payload(&opened.payload)?;
    check_platform(&opened, claims.platform_id, Some(platform_tcb))?;
    Ok(VerifiedReceipt {
        claims,
        platform_tcb,
        digest: Sha256::digest(bytes).into(),
    })
}

impl TrustedRoots {
    /// Verifies a receipt as [`crate::verify_receipt`] does, against these roots, reusing the
    /// validation of a platform chain seen before (see the module docs).
    ///
    /// # Errors
    /// As [`crate::verify_receipt`].
    pub fn verify_receipt(
        &self,
        bytes: &[u8],
        now: SystemTime,
    ) -> Result<VerifiedReceipt, VerifyError> {
        verify_with(bytes, self, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(outcome: Outcome, exit_code: Option<i32>) -> ReceiptClaims {
        ReceiptClaims {
            issued_at: 1_700_000_000,
            platform_id: PlatformId::from_bytes([1; 32]),
            measurement: Measurement::from_bytes([2; 32]),
            signer: SignerId::from_bytes([3; 32]),
            product_id: ProductId(4),
            svn: Svn(5),
            debug: false,
            input_digest: [6; 32],
            output_digest: [7; 32],
            request_nonce: vec![8; 12],
            fuel_used: 123_456,
            outcome,
            exit_code,
            store: None,
        }
    }

    #[test]
    fn payload_round_trip() {
        for claims in [
            sample(Outcome::Success, None),
            sample(
                Outcome::Failed {
                    message: "fuel exhausted".into(),
                },
                Some(-3),
            ),
        ] {
            let payload = claims.to_payload_with_tcb(9).unwrap();
            assert_eq!(ReceiptClaims::from_payload(&payload).unwrap(), (claims, 9));
        }
    }

    #[test]
    fn the_store_version_round_trips_and_needs_both_claims() {
        let mut claims = sample(Outcome::Success, None);
        claims.store = Some(StoreVersion {
            version: 7,
            head: [9; 32],
        });
        let payload = claims.to_payload_with_tcb(1).unwrap();
        assert_eq!(ReceiptClaims::from_payload(&payload).unwrap(), (claims, 1));
        // A version without its head.
        let mut map: Vec<(ciborium::Value, ciborium::Value)> =
            match ciborium::from_reader::<ciborium::Value, _>(payload.as_slice()).unwrap() {
                ciborium::Value::Map(map) => map,
                other => panic!("{other:?}"),
            };
        map.retain(|(k, _)| *k != ciborium::Value::Integer(claim::STORE_HEAD.into()));
        let mut bytes = Vec::new();
        ciborium::into_writer(&ciborium::Value::Map(map), &mut bytes).unwrap();
        assert!(ReceiptClaims::from_payload(&bytes).is_err());
    }

    #[test]
    fn evidence_is_not_a_receipt() {
        let payload = crate::evidence::tests::sample().to_payload().unwrap();
        assert!(matches!(
            ReceiptClaims::from_payload(&payload),
            Err(VerifyError::WrongProfile { .. })
        ));
    }

    #[test]
    fn oversize_fields_are_not_signed() {
        let mut claims = sample(
            Outcome::Failed {
                message: "x".repeat(1025),
            },
            None,
        );
        assert!(claims.to_payload_with_tcb(0).is_err());
        claims.outcome = Outcome::Success;
        claims.request_nonce = vec![0; 65];
        assert!(claims.to_payload_with_tcb(0).is_err());
    }
}
