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

pub use crate::error::VerifyError;
pub use crate::trust::certificates_from_pem;

/// Default oldest acceptable report.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// Default tolerance for a report issued ahead of the verifier's clock.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);

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
    /// The AEAD ids (RFC 9180 `aead_id`) the enclave of this evidence reads sealed inputs
    /// with: its claim -70017, or [`crate::evidence::LEGACY_AEADS`] for evidence without it.
    /// `evidence` must be the exact bytes that were verified (their SHA-256 is compared with
    /// [`Self::digest`]), so nothing here trusts unverified bytes.
    ///
    /// # Errors
    /// [`VerifyError::MalformedClaims`] when `evidence` is not the verified evidence.
    pub fn enclave_aeads(&self, evidence: &[u8]) -> Result<Vec<u16>, VerifyError> {
        use coset::TaggedCborSerializable as _;
        use sha2::Digest as _;
        let not_verified =
            || VerifyError::MalformedClaims("not the evidence that was verified".into());
        if <[u8; 32]>::from(sha2::Sha256::digest(evidence)) != self.digest() {
            return Err(not_verified());
        }
        let payload = coset::CoseSign1::from_tagged_slice(evidence)
            .ok()
            .and_then(|sign1| sign1.payload)
            .ok_or_else(not_verified)?;
        crate::evidence::advertised_aeads(&mut cose::ClaimReader::parse(&payload)?)
    }

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
    cose::check_platform(&opened, claims.platform_id, Some(claims.platform_tcb))?;
    policy.check(nonce, &claims, now)?;
    Ok(VerifiedEvidence {
        claims,
        digest: Sha256::digest(bytes).into(),
    })
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
