//! [`VerifyError`]: why evidence or a receipt was refused. Below every module that verifies
//! (the envelope in `cose`, the chain in `chain`, the roots in `trust`, evidence, receipts and
//! the verifier), so that each returns it without depending on the verifier above it.

use crate::identity::{Measurement, PlatformId, ProductId, SignerId, Svn};
use crate::manifest::Capability;

/// Why evidence or a receipt was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The policy lacks a trusted root, a nonce, or any expected measurement or signer.
    #[error("verifier policy is incomplete: {0}")]
    PolicyIncomplete(&'static str),
    /// A pinned root certificate cannot be used as a trust anchor.
    #[error("a trusted root certificate is not a usable X.509 certificate")]
    BadRoot,
    /// Larger than [`crate::cose::MAX_TOKEN_BYTES`]; nothing was parsed.
    #[error("token is {size} bytes, larger than the {limit}-byte limit")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a well-formed tagged COSE_Sign1.
    #[error("not a signed attestation token: {0}")]
    Malformed(String),
    /// The algorithm is missing or not ES256.
    #[error("signature algorithm {0} is not allowed (only ES256)")]
    DisallowedAlgorithm(String),
    /// The content type is not [`crate::cose::CONTENT_TYPE`].
    // The literal is `cose::CONTENT_TYPE` (tested below), spelled out so that the error sits
    // below the envelope that returns it.
    #[error("wrong content type: expected application/eat+cwt")]
    WrongContentType,
    /// A header other than alg, content type and x5chain, or a non-empty unprotected header.
    #[error("unexpected COSE header parameter")]
    UnexpectedHeader,
    /// No well-formed `x5chain` (label 33) in the protected header.
    #[error("no well-formed x5chain certificate chain in the protected header")]
    MissingChain,
    /// The attestation certificate has expired.
    #[error("attestation certificate has expired")]
    CertificateExpired,
    /// The attestation certificate is not valid yet.
    #[error("attestation certificate is not valid yet")]
    CertificateNotYetValid,
    /// The chain does not lead to any trusted root.
    #[error("attestation certificate is not issued by a trusted root")]
    UnknownIssuer,
    /// The attestation certificate lacks the "enclave attestation signing" extended key usage.
    #[error("attestation certificate lacks the enclave attestation signing key usage")]
    WrongKeyUsage,
    /// Any other certificate problem.
    #[error("bad attestation certificate: {0}")]
    BadCertificate(String),
    /// The attestation key is not ECDSA P-256.
    #[error("attestation key is not ECDSA P-256")]
    UnsupportedKey,
    /// The attestation certificate has no single, well-formed platform TCB extension.
    #[error("attestation certificate has no well-formed platform tcb extension")]
    BadTcbExtension,
    /// The signature does not verify: the token was altered or not signed by its certificate.
    #[error("bad signature")]
    BadSignature,
    /// The payload is absent (detached payloads are not supported).
    #[error("token has no payload")]
    MissingPayload,
    /// The claims are not a map of the documented shape.
    #[error("malformed claims: {0}")]
    MalformedClaims(String),
    /// A claim key appears twice.
    #[error("claim {0} appears twice")]
    DuplicateClaim(i64),
    /// A claim key this format does not define.
    #[error("unknown claim {0}")]
    UnknownClaim(i64),
    /// The `eat_profile` is not the expected one.
    #[error("wrong profile: expected {expected}, got {got:?}")]
    WrongProfile {
        /// The profile expected.
        expected: &'static str,
        /// The profile found.
        got: String,
    },
    /// The TCB claim differs from the attestation certificate's.
    #[error("claimed platform tcb {claimed} differs from the certificate's {certificate}")]
    TcbMismatch {
        /// The claim.
        claimed: u32,
        /// The certificate's extension.
        certificate: u32,
    },
    /// The `ueid` is not the attestation key's platform id.
    #[error("claimed platform {claimed} is not the signing key's platform {certificate}")]
    PlatformMismatch {
        /// The claim.
        claimed: PlatformId,
        /// SHA-256 of the certificate's SubjectPublicKeyInfo.
        certificate: PlatformId,
    },
    /// The nonce is not the verifier's.
    #[error("nonce mismatch: expected {expected}, got {got}")]
    NonceMismatch {
        /// The policy's nonce, hex.
        expected: String,
        /// The report's nonce, hex.
        got: String,
    },
    /// The report is older than the policy's maximum age.
    #[error("report is stale: issued {age_secs} s ago, maximum age {max_age_secs} s")]
    Stale {
        /// Its age.
        age_secs: u64,
        /// The limit.
        max_age_secs: u64,
    },
    /// The report is dated after the verifier's clock plus the allowed skew.
    #[error("report is from the future: issued {ahead_secs} s ahead of now")]
    FromFuture {
        /// How far ahead.
        ahead_secs: u64,
    },
    /// A debug enclave, and the policy does not allow debug.
    #[error("debug enclave not allowed")]
    DebugNotAllowed,
    /// The measurement is not one the policy expects.
    #[error("measurement mismatch: got {got}")]
    MeasurementMismatch {
        /// The report's measurement.
        got: Measurement,
    },
    /// The signer is not one the policy expects.
    #[error("signer mismatch: got {got}")]
    SignerMismatch {
        /// The report's signer.
        got: SignerId,
    },
    /// The product id differs.
    #[error("product id mismatch: expected {expected}, got {got}")]
    ProductMismatch {
        /// The policy's.
        expected: ProductId,
        /// The report's.
        got: ProductId,
    },
    /// The security version is below the minimum.
    #[error("svn {got} is below the minimum {min}")]
    SvnTooLow {
        /// The policy's minimum.
        min: Svn,
        /// The report's.
        got: Svn,
    },
    /// The platform TCB version is below the minimum.
    #[error("platform tcb {got} is below the minimum {min}")]
    PlatformTcbTooLow {
        /// The policy's minimum.
        min: u32,
        /// The report's.
        got: u32,
    },
    /// The enclave is not granted a capability the policy requires.
    #[error("capability `{0}` is required and not granted")]
    CapabilityMissing(Capability),
    /// The enclave is granted a capability the policy forbids.
    #[error("capability `{0}` is granted and the policy forbids it")]
    CapabilityForbidden(Capability),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_content_type_message_names_the_envelopes_content_type() {
        assert_eq!(
            VerifyError::WrongContentType.to_string(),
            format!("wrong content type: expected {}", crate::cose::CONTENT_TYPE)
        );
    }
}
