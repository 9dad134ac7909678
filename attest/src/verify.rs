//! The verifier a relying party runs on attestation evidence: [`verify`] against a
//! [`VerifierPolicy`], giving a [`VerifiedEvidence`] that nothing else can construct.
//!
//! Checks run in this order, each with its own [`VerifyError`] variant: the policy is complete;
//! the size cap; well-formed tagged COSE_Sign1 (bounded nesting, no trailing bytes); the
//! algorithm allow-list (ES256); the content type and headers; `x5chain`; the chain to a pinned
//! root at `now` with the attestation-signing EKU; the leaf's TCB extension; the signature over
//! the exact received bytes; the claims, strictly; the claims against the certificate (TCB,
//! platform id); and then every policy item (nonce, freshness, debug, measurement, signer,
//! product, svn, capabilities, platform TCB).
//!
//! A policy can also be read from a TOML document: [`crate::policy`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

use crate::cose;
use crate::evidence::{Claims, EnclaveKeys};
use crate::identity::{Measurement, ModuleDigest, PlatformId, ProductId, SignerId, Svn};
use crate::manifest::Capability;
use crate::trust::TrustedRoots;

/// Default oldest acceptable report.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// Default tolerance for a report issued ahead of the verifier's clock.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);

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
    /// Larger than [`cose::MAX_TOKEN_BYTES`]; nothing was parsed.
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
    /// The content type is not [`cose::CONTENT_TYPE`].
    #[error("wrong content type: expected {}", cose::CONTENT_TYPE)]
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

/// What a relying party requires of evidence. Built with chained setters from
/// [`VerifierPolicy::new`]; [`verify`] refuses a policy without a root, a nonce, and at least
/// one expected measurement or signer.
#[derive(Debug, Clone)]
pub struct VerifierPolicy {
    roots: TrustedRoots,
    measurements: Vec<Measurement>,
    signers: Vec<SignerId>,
    product_id: Option<ProductId>,
    min_svn: Option<Svn>,
    min_platform_tcb: Option<u32>,
    allow_debug: bool,
    nonce: Option<Vec<u8>>,
    max_age: Duration,
    max_clock_skew: Duration,
    required_capabilities: Vec<Capability>,
    forbidden_capabilities: Vec<Capability>,
}

impl VerifierPolicy {
    /// A policy trusting the vendor roots `roots` (DER certificates), with nothing else yet.
    pub fn new(roots: Vec<Vec<u8>>) -> Self {
        Self::trusting(TrustedRoots::new(roots))
    }

    /// A policy trusting `roots`, parsed once and shared: policies made from clones of one
    /// [`TrustedRoots`] (say one per nonce) validate each platform's chain once between them.
    pub fn trusting(roots: TrustedRoots) -> Self {
        Self {
            roots,
            measurements: Vec::new(),
            signers: Vec::new(),
            product_id: None,
            min_svn: None,
            min_platform_tcb: None,
            allow_debug: false,
            nonce: None,
            max_age: DEFAULT_MAX_AGE,
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
            required_capabilities: Vec::new(),
            forbidden_capabilities: Vec::new(),
        }
    }

    /// [`VerifierPolicy::new`] with every `CERTIFICATE` block of `text` as a root.
    ///
    /// # Errors
    /// [`VerifyError::BadRoot`] when the text holds no certificate or is not PEM.
    pub fn from_pem_roots(text: &str) -> Result<Self, VerifyError> {
        Ok(Self::new(certificates_from_pem(text)?))
    }

    /// Accepts this measurement (repeatable: any of them).
    #[must_use]
    pub fn measurement(mut self, measurement: Measurement) -> Self {
        self.measurements.push(measurement);
        self
    }

    /// Accepts this signer (repeatable: any of them).
    #[must_use]
    pub fn signer(mut self, signer: SignerId) -> Self {
        self.signers.push(signer);
        self
    }

    /// Requires this product id.
    #[must_use]
    pub fn product_id(mut self, product_id: ProductId) -> Self {
        self.product_id = Some(product_id);
        self
    }

    /// Requires at least this security version.
    #[must_use]
    pub fn min_svn(mut self, svn: Svn) -> Self {
        self.min_svn = Some(svn);
        self
    }

    /// Requires at least this platform TCB version.
    #[must_use]
    pub fn min_platform_tcb(mut self, tcb: u32) -> Self {
        self.min_platform_tcb = Some(tcb);
        self
    }

    /// Whether debug enclaves are accepted (default: no).
    #[must_use]
    pub fn allow_debug(mut self, allow: bool) -> Self {
        self.allow_debug = allow;
        self
    }

    /// Requires this nonce (required: a policy without one is refused).
    #[must_use]
    pub fn nonce(mut self, nonce: Vec<u8>) -> Self {
        self.nonce = Some(nonce);
        self
    }

    /// The oldest report accepted (default [`DEFAULT_MAX_AGE`]).
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// How far ahead of `now` a report may be dated (default [`DEFAULT_MAX_CLOCK_SKEW`]).
    #[must_use]
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.max_clock_skew = skew;
        self
    }

    /// Refuses an enclave not granted this capability (repeatable: all of them).
    #[must_use]
    pub fn require_capability(mut self, capability: Capability) -> Self {
        self.required_capabilities.push(capability);
        self
    }

    /// Refuses an enclave granted this capability (repeatable: any of them), e.g. `log`.
    #[must_use]
    pub fn forbid_capability(mut self, capability: Capability) -> Self {
        self.forbidden_capabilities.push(capability);
        self
    }

    /// The measurements accepted (any of them; none means any measurement).
    pub fn measurements(&self) -> &[Measurement] {
        &self.measurements
    }

    /// The signers accepted (any of them; none means any signer).
    pub fn signers(&self) -> &[SignerId] {
        &self.signers
    }

    /// The pinned roots (DER).
    pub fn roots(&self) -> &[Vec<u8>] {
        self.roots.ders()
    }

    /// The pinned roots, parsed, with the chains validated under them.
    pub fn trusted_roots(&self) -> &TrustedRoots {
        &self.roots
    }

    fn expected_nonce(&self) -> Result<&[u8], VerifyError> {
        if self.roots.is_empty() {
            return Err(VerifyError::PolicyIncomplete("no trusted root certificate"));
        }
        if self.measurements.is_empty() && self.signers.is_empty() {
            return Err(VerifyError::PolicyIncomplete(
                "no expected measurement or signer",
            ));
        }
        self.nonce
            .as_deref()
            .ok_or(VerifyError::PolicyIncomplete("no expected nonce"))
    }

    fn check(&self, nonce: &[u8], claims: &Claims, now: SystemTime) -> Result<(), VerifyError> {
        if claims.nonce != nonce {
            return Err(VerifyError::NonceMismatch {
                expected: hex::encode(nonce),
                got: hex::encode(&claims.nonce),
            });
        }
        check_freshness(claims.issued_at, now, self.max_age, self.max_clock_skew)?;
        if claims.debug && !self.allow_debug {
            return Err(VerifyError::DebugNotAllowed);
        }
        self.check_identity(claims)?;
        self.check_capabilities(&claims.capabilities)?;
        match self.min_platform_tcb {
            Some(min) if claims.platform_tcb < min => Err(VerifyError::PlatformTcbTooLow {
                min,
                got: claims.platform_tcb,
            }),
            _ => Ok(()),
        }
    }

    fn check_identity(&self, claims: &Claims) -> Result<(), VerifyError> {
        if !self.measurements.is_empty() && !self.measurements.contains(&claims.measurement) {
            return Err(VerifyError::MeasurementMismatch {
                got: claims.measurement,
            });
        }
        if !self.signers.is_empty() && !self.signers.contains(&claims.signer) {
            return Err(VerifyError::SignerMismatch { got: claims.signer });
        }
        if let Some(expected) = self.product_id.filter(|p| *p != claims.product_id) {
            return Err(VerifyError::ProductMismatch {
                expected,
                got: claims.product_id,
            });
        }
        match self.min_svn {
            Some(min) if claims.svn < min => Err(VerifyError::SvnTooLow {
                min,
                got: claims.svn,
            }),
            _ => Ok(()),
        }
    }
}

impl VerifierPolicy {
    fn check_capabilities(&self, granted: &[String]) -> Result<(), VerifyError> {
        let has = |c: &Capability| granted.iter().any(|g| g == c.name());
        if let Some(c) = self.required_capabilities.iter().find(|c| !has(c)) {
            return Err(VerifyError::CapabilityMissing(*c));
        }
        match self.forbidden_capabilities.iter().find(|c| has(c)) {
            Some(c) => Err(VerifyError::CapabilityForbidden(*c)),
            None => Ok(()),
        }
    }
}

/// Refuses a token issued more than `max_age` before `now`, or more than `skew` after it.
///
/// # Errors
/// [`VerifyError::Stale`] or [`VerifyError::FromFuture`].
pub fn check_freshness(
    issued_at: u64,
    now: SystemTime,
    max_age: Duration,
    skew: Duration,
) -> Result<(), VerifyError> {
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    if issued_at > now.saturating_add(skew.as_secs()) {
        return Err(VerifyError::FromFuture {
            ahead_secs: issued_at - now,
        });
    }
    let age_secs = now.saturating_sub(issued_at);
    if age_secs > max_age.as_secs() {
        return Err(VerifyError::Stale {
            age_secs,
            max_age_secs: max_age.as_secs(),
        });
    }
    Ok(())
}

/// Evidence that passed every check of [`verify`]. Only [`verify`] makes one.
#[derive(Debug, Clone)]
pub struct VerifiedEvidence {
    claims: Claims,
    digest: [u8; 32],
}

impl VerifiedEvidence {
    /// All claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }
    /// SHA-256 of the evidence bytes exactly as received.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }
    /// The verifier's nonce.
    pub fn nonce(&self) -> &[u8] {
        &self.claims.nonce
    }
    /// When the report was made, seconds since the Unix epoch.
    pub fn issued_at(&self) -> u64 {
        self.claims.issued_at
    }
    /// Whether the enclave is a debug enclave.
    pub fn debug(&self) -> bool {
        self.claims.debug
    }
    /// The platform identity (equal to SHA-256 of the attestation key's SPKI).
    pub fn platform_id(&self) -> PlatformId {
        self.claims.platform_id
    }
    /// The platform TCB version (equal to the certificate's).
    pub fn platform_tcb(&self) -> u32 {
        self.claims.platform_tcb
    }
    /// The enclave measurement.
    pub fn measurement(&self) -> Measurement {
        self.claims.measurement
    }
    /// The enclave signer.
    pub fn signer(&self) -> SignerId {
        self.claims.signer
    }
    /// SHA-256 of the module.
    pub fn module(&self) -> ModuleDigest {
        self.claims.module
    }
    /// The product id.
    pub fn product_id(&self) -> ProductId {
        self.claims.product_id
    }
    /// The security version.
    pub fn svn(&self) -> Svn {
        self.claims.svn
    }
    /// The granted capabilities.
    pub fn capabilities(&self) -> &[String] {
        &self.claims.capabilities
    }
    /// The caller report data.
    pub fn report_data(&self) -> &[u8] {
        &self.claims.report_data
    }
    /// The enclave's HPKE public keys, if the report carries them.
    pub fn enclave_keys(&self) -> Option<&EnclaveKeys> {
        self.claims.enclave_keys.as_ref()
    }
    /// SHA-256 of the SubjectPublicKeyInfo of the runtime's TLS key, in evidence made for an
    /// attested TLS certificate.
    pub fn tls_key(&self) -> Option<&[u8; 32]> {
        self.claims.tls_key.as_ref()
    }
}

/// Verifies attestation evidence against `policy` at time `now` (the caller's clock).
///
/// # Errors
/// One [`VerifyError`] variant per check, in the order listed in the module docs.
pub fn verify(
    bytes: &[u8],
    policy: &VerifierPolicy,
    now: SystemTime,
) -> Result<VerifiedEvidence, VerifyError> {
    let nonce = policy.expected_nonce()?;
    let opened = cose::open(bytes, &policy.roots, now)?;
    let claims = Claims::from_payload(&opened.payload)?;
    check_platform(&opened, claims.platform_id, Some(claims.platform_tcb))?;
    policy.check(nonce, &claims, now)?;
    Ok(VerifiedEvidence {
        claims,
        digest: Sha256::digest(bytes).into(),
    })
}

/// Refuses claims that name another platform (or TCB) than the certificate that signed them.
pub(crate) fn check_platform(
    opened: &cose::Opened,
    claimed: PlatformId,
    claimed_tcb: Option<u32>,
) -> Result<(), VerifyError> {
    if let Some(claimed) = claimed_tcb.filter(|t| *t != opened.certificate_tcb) {
        return Err(VerifyError::TcbMismatch {
            claimed,
            certificate: opened.certificate_tcb,
        });
    }
    let certificate = PlatformId::of_spki(&opened.leaf_spki);
    if claimed != certificate {
        return Err(VerifyError::PlatformMismatch {
            claimed,
            certificate,
        });
    }
    Ok(())
}

/// Every `CERTIFICATE` block of a PEM text, as DER.
///
/// # Errors
/// [`VerifyError::BadRoot`] when the text is not PEM or holds no certificate.
pub fn certificates_from_pem(text: &str) -> Result<Vec<Vec<u8>>, VerifyError> {
    let blocks = pem::parse_many(text).map_err(|_| VerifyError::BadRoot)?;
    let certs: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .collect();
    if certs.is_empty() {
        return Err(VerifyError::BadRoot);
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_window() {
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        let age = Duration::from_secs(100);
        let skew = Duration::from_secs(10);
        check_freshness(900, now, age, skew).unwrap();
        check_freshness(1010, now, age, skew).unwrap();
        assert_eq!(
            check_freshness(899, now, age, skew),
            Err(VerifyError::Stale {
                age_secs: 101,
                max_age_secs: 100
            })
        );
        assert_eq!(
            check_freshness(1011, now, age, skew),
            Err(VerifyError::FromFuture { ahead_secs: 11 })
        );
        assert_eq!(
            check_freshness(u64::MAX, now, age, skew),
            Err(VerifyError::FromFuture {
                ahead_secs: u64::MAX - 1000
            })
        );
    }

    #[test]
    fn incomplete_policies_are_refused_first() {
        let now = SystemTime::now();
        let m = Measurement::from_bytes([1; 32]);
        let cases = [
            (
                VerifierPolicy::new(vec![]).measurement(m).nonce(vec![0; 8]),
                "no trusted root certificate",
            ),
            (
                VerifierPolicy::new(vec![vec![0]]).nonce(vec![0; 8]),
                "no expected measurement or signer",
            ),
            (
                VerifierPolicy::new(vec![vec![0]]).measurement(m),
                "no expected nonce",
            ),
        ];
        for (policy, why) in cases {
            assert_eq!(
                verify(b"", &policy, now).unwrap_err(),
                VerifyError::PolicyIncomplete(why)
            );
        }
    }

    #[test]
    fn capabilities_required_and_forbidden() {
        let granted = ["log".to_owned(), "seal".to_owned()];
        let policy = VerifierPolicy::new(vec![])
            .require_capability(Capability::Seal)
            .forbid_capability(Capability::Store);
        policy.check_capabilities(&granted).unwrap();
        assert_eq!(
            policy
                .clone()
                .require_capability(Capability::Report)
                .check_capabilities(&granted),
            Err(VerifyError::CapabilityMissing(Capability::Report))
        );
        assert_eq!(
            policy
                .forbid_capability(Capability::Log)
                .check_capabilities(&granted),
            Err(VerifyError::CapabilityForbidden(Capability::Log))
        );
    }

    #[test]
    fn pem_roots() {
        assert_eq!(
            VerifierPolicy::from_pem_roots("nothing").unwrap_err(),
            VerifyError::BadRoot
        );
        let text = pem::encode(&pem::Pem::new("CERTIFICATE", vec![1, 2, 3]));
        assert_eq!(
            VerifierPolicy::from_pem_roots(&text).unwrap().roots(),
            [vec![1, 2, 3]]
        );
    }
}
