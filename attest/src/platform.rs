//! The simulated platform — "the hardware" (feature `platform`): a vendor root CA that issues
//! platform attestation certificates, as a TEE manufacturer does, and the platform attestation
//! key that signs evidence and execution receipts.
//!
//! - Vendor root: self-signed X.509, ECDSA P-256 (P-384 roots are accepted on reload, but
//!   verifying a P-384 chain costs ring ten times more), `basicConstraints` CA with path length 0,
//!   `keyUsage` keyCertSign and cRLSign.
//! - Attestation certificate: ECDSA P-256, not a CA, `keyUsage` digitalSignature, extended key
//!   usage [`OID_ATTESTATION_SIGNING`], and the non-critical extension [`OID_PLATFORM_TCB`]
//!   holding the platform TCB version as a DER INTEGER.
//!
//! Keys are PKCS#8 PEM and certificates PEM, readable by `openssl pkey` and `openssl x509`.

use std::time::{SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::chain;
use crate::cose::{self, MAX_CHAIN_CERTS, MAX_TOKEN_BYTES};
pub use crate::cose::{OID_ATTESTATION_SIGNING, OID_PLATFORM_TCB};
use crate::evidence::{Claims, EvidenceError};
use crate::identity::PlatformId;
use crate::receipt::ReceiptClaims;

/// Arcs of [`OID_ATTESTATION_SIGNING`]: 1.3.6.1.4.1.32473.1.1.
pub const OID_ATTESTATION_SIGNING_ARCS: &[u64] = &[1, 3, 6, 1, 4, 1, 32473, 1, 1];
/// Arcs of [`OID_PLATFORM_TCB`]: 1.3.6.1.4.1.32473.1.2.
pub const OID_PLATFORM_TCB_ARCS: &[u64] = &[1, 3, 6, 1, 4, 1, 32473, 1, 2];

/// Why a platform key or certificate could not be made or read.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// The text is not PEM, or lacks a block with the expected label.
    #[error("not a PEM {expected} block")]
    NotPem {
        /// The label expected.
        expected: &'static str,
    },
    /// The private key is not a PKCS#8 key of the expected kind.
    #[error("not a usable {expected} PKCS#8 private key")]
    BadKey {
        /// The kind expected.
        expected: &'static str,
    },
    /// The private key does not belong to the certificate.
    #[error("the private key does not match the certificate")]
    KeyMismatch,
    /// A certificate cannot be used.
    #[error("bad certificate: {0}")]
    BadCertificate(String),
    /// A validity time is before 1970, beyond what X.509 can carry, or not after `not_before`.
    #[error("certificate validity period is not representable or empty")]
    BadValidity,
    /// Issuing a certificate failed.
    #[error("certificate issuing failed: {0}")]
    Issue(String),
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Rng,
}

/// A platform vendor's root CA (the manufacturer root of SGX, Nitro or SEV-SNP).
pub struct VendorCa {
    issuer: Issuer<'static, KeyPair>,
    cert_der: Vec<u8>,
    key_der: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for VendorCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VendorCa")
            .field("cert_bytes", &self.cert_der.len())
            .finish_non_exhaustive()
    }
}

impl VendorCa {
    /// A new self-signed root with a fresh ECDSA P-256 key.
    ///
    /// # Errors
    /// [`PlatformError::BadValidity`] or [`PlatformError::Issue`].
    pub fn generate(
        common_name: &str,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<Self, PlatformError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(issue_error)?;
        let mut params = base_params(common_name, not_before, not_after)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).map_err(issue_error)?;
        Ok(Self {
            cert_der: cert.der().to_vec(),
            key_der: Zeroizing::new(key.serialize_der()),
            issuer: Issuer::new(params, key),
        })
    }

    /// Reloads a root from its PKCS#8 key and certificate PEM (ECDSA P-256 or P-384).
    ///
    /// # Errors
    /// [`PlatformError::NotPem`], [`PlatformError::BadKey`], [`PlatformError::BadCertificate`]
    /// (also when it is not a CA), [`PlatformError::KeyMismatch`].
    pub fn from_pem(key_pem: &str, cert_pem: &str) -> Result<Self, PlatformError> {
        const EXPECTED: &str = "ECDSA P-256 or P-384";
        let key_der = Zeroizing::new(pem_block(key_pem, "PRIVATE KEY")?);
        let key = KeyPair::try_from(key_der.as_slice())
            .map_err(|_| PlatformError::BadKey { expected: EXPECTED })?;
        let ecdsa = [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
        ];
        if !ecdsa.contains(&key.algorithm()) {
            return Err(PlatformError::BadKey { expected: EXPECTED });
        }
        let cert_der = pem_block(cert_pem, "CERTIFICATE")?;
        let (_, cert) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| PlatformError::BadCertificate(e.to_string()))?;
        if !cert.is_ca() {
            return Err(PlatformError::BadCertificate("not a CA certificate".into()));
        }
        if *cert.public_key().subject_public_key.data != *key.public_key_raw() {
            return Err(PlatformError::KeyMismatch);
        }
        let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(cert_der.as_slice()), key)
            .map_err(|e| PlatformError::BadCertificate(e.to_string()))?;
        Ok(Self {
            issuer,
            cert_der,
            key_der,
        })
    }

    /// The root certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The root certificate, PEM.
    pub fn cert_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.cert_der).to_string()
    }

    /// The root's private key as PKCS#8 PEM, in zeroizing memory.
    pub fn key_pem(&self) -> Zeroizing<String> {
        pem_encode("PRIVATE KEY", &self.key_der)
    }

    /// The top of the TCB recovery chain of the platform with chain id `chain_id`: the secret
    /// from which the vendor derives the platform's chain link at any TCB level
    /// (`sealer::TcbRecoveryRoot`; `docs/formats.md`, "Key derivation").
    ///
    /// `HKDF-SHA256(salt = "enclave/v1 tcb recovery", ikm = the root key's PKCS#8 DER, info =
    /// chain id)`: only the holder of the root key computes it, so only the vendor can move a
    /// platform to a higher level. The key file's exact DER bytes are the input, so a re-encoded
    /// key (same key, other bytes) leads to another chain; an upgrade detects that.
    pub fn tcb_recovery_seed(&self, chain_id: &[u8]) -> Zeroizing<[u8; 32]> {
        let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"enclave/v1 tcb recovery")
            .extract(&self.key_der);
        let mut seed = Zeroizing::new([0u8; 32]);
        #[allow(
            clippy::expect_used,
            reason = "HKDF-Expand of 32 bytes with SHA-256 cannot fail: the limit is 255 × 32 bytes"
        )]
        prk.expand(&[chain_id], ring::hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(seed.as_mut_slice()))
            .expect("32-byte HKDF-SHA256 output");
        seed
    }

    /// Issues a platform attestation key with a fresh ECDSA P-256 key, certified at TCB `tcb`.
    ///
    /// # Errors
    /// [`PlatformError::BadValidity`], [`PlatformError::Issue`], [`PlatformError::Rng`].
    pub fn issue(
        &self,
        platform_name: &str,
        tcb: u32,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<AttestationKey, PlatformError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(issue_error)?;
        let mut params = base_params(platform_name, not_before, not_after)?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::Other(
            OID_ATTESTATION_SIGNING_ARCS.to_vec(),
        )];
        params.custom_extensions = vec![CustomExtension::from_oid_content(
            OID_PLATFORM_TCB_ARCS,
            chain::encode_der_u32(tcb),
        )];
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer).map_err(issue_error)?;
        let pkcs8 = Zeroizing::new(key.serialize_der());
        AttestationKey::from_parts(&pkcs8, vec![cert.der().to_vec(), self.cert_der.clone()])
    }
}

/// A platform attestation key (ECDSA P-256) with its certificate chain, leaf first.
pub struct AttestationKey {
    pair: EcdsaKeyPair,
    pkcs8: Zeroizing<Vec<u8>>,
    chain: Vec<Vec<u8>>,
    /// The protected header of every token this key signs, encoded once.
    protected: coset::ProtectedHeader,
    rng: SystemRandom,
    platform_id: PlatformId,
    tcb: u32,
}

impl std::fmt::Debug for AttestationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestationKey")
            .field("platform_id", &self.platform_id)
            .field("tcb", &self.tcb)
            .finish_non_exhaustive()
    }
}

impl AttestationKey {
    /// Reloads a key from its PKCS#8 PEM and its chain PEM (the leaf certificate, then the
    /// root; at most four certificates).
    ///
    /// # Errors
    /// [`PlatformError::NotPem`], [`PlatformError::BadKey`], [`PlatformError::BadCertificate`]
    /// (also without the TCB extension), [`PlatformError::KeyMismatch`].
    pub fn from_pem(key_pem: &str, chain_pem: &str) -> Result<Self, PlatformError> {
        let pkcs8 = Zeroizing::new(pem_block(key_pem, "PRIVATE KEY")?);
        let chain =
            crate::verify::certificates_from_pem(chain_pem).map_err(|_| PlatformError::NotPem {
                expected: "CERTIFICATE",
            })?;
        if chain.len() > MAX_CHAIN_CERTS {
            return Err(PlatformError::BadCertificate("chain too long".into()));
        }
        Self::from_parts(&pkcs8, chain)
    }

    fn from_parts(pkcs8: &[u8], chain: Vec<Vec<u8>>) -> Result<Self, PlatformError> {
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|_| PlatformError::BadKey {
            expected: "ECDSA P-256",
        })?;
        let leaf = chain
            .first()
            .ok_or_else(|| PlatformError::BadCertificate("empty chain".into()))?;
        let (spki, tcb) =
            chain::leaf_details(leaf).map_err(|e| PlatformError::BadCertificate(e.to_string()))?;
        if !spki.ends_with(pair.public_key().as_ref()) {
            return Err(PlatformError::KeyMismatch);
        }
        let protected = cose::protected_header(&chain).map_err(PlatformError::BadCertificate)?;
        Ok(Self {
            pair,
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
            protected,
            rng: SystemRandom::new(),
            platform_id: PlatformId::of_spki(&spki),
            chain,
            tcb,
        })
    }

    /// The private key as PKCS#8 PEM, in zeroizing memory.
    pub fn key_pem(&self) -> Zeroizing<String> {
        pem_encode("PRIVATE KEY", &self.pkcs8)
    }

    /// The chain as PEM: the leaf certificate, then the root.
    pub fn chain_pem(&self) -> String {
        self.chain
            .iter()
            .map(|der| pem_encode("CERTIFICATE", der).to_string())
            .collect()
    }

    /// The chain as DER, leaf first.
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The platform identity: SHA-256 of the leaf's SubjectPublicKeyInfo DER.
    pub fn platform_id(&self) -> PlatformId {
        self.platform_id
    }

    /// The platform TCB version from the leaf certificate.
    pub fn tcb(&self) -> u32 {
        self.tcb
    }

    /// Signs attestation evidence. The claims must name this key's platform and TCB.
    ///
    /// # Errors
    /// [`EvidenceError::PlatformMismatch`], [`EvidenceError::ClaimOutOfRange`],
    /// [`EvidenceError::Signing`], [`EvidenceError::Encoding`].
    pub fn sign_evidence(&self, claims: &Claims) -> Result<Vec<u8>, EvidenceError> {
        self.check_platform(claims.platform_id, claims.platform_tcb)?;
        self.sign(claims.to_payload()?)
    }

    /// Signs an execution receipt. The claims must name this key's platform.
    ///
    /// # Errors
    /// As [`AttestationKey::sign_evidence`].
    pub fn sign_receipt(&self, claims: &ReceiptClaims) -> Result<Vec<u8>, EvidenceError> {
        self.check_platform(claims.platform_id, self.tcb)?;
        self.sign(claims.to_payload_with_tcb(self.tcb)?)
    }

    fn check_platform(&self, claimed: PlatformId, claimed_tcb: u32) -> Result<(), EvidenceError> {
        if claimed == self.platform_id && claimed_tcb == self.tcb {
            return Ok(());
        }
        Err(EvidenceError::PlatformMismatch {
            claimed,
            claimed_tcb,
            actual: self.platform_id,
            actual_tcb: self.tcb,
        })
    }

    fn sign(&self, payload: Vec<u8>) -> Result<Vec<u8>, EvidenceError> {
        let sign = |tbs: &[u8]| {
            self.pair
                .sign(&self.rng, tbs)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| EvidenceError::Signing)
        };
        let bytes = cose::sign1(&self.protected, payload, sign, EvidenceError::Encoding)?;
        if bytes.len() > MAX_TOKEN_BYTES {
            return Err(EvidenceError::Encoding(format!(
                "{} bytes is more than verifiers accept",
                bytes.len()
            )));
        }
        Ok(bytes)
    }
}

fn base_params(
    common_name: &str,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<CertificateParams, PlatformError> {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    params.distinguished_name = name;
    params.not_before = x509_time(not_before)?;
    params.not_after = x509_time(not_after)?;
    if params.not_after <= params.not_before {
        return Err(PlatformError::BadValidity);
    }
    params.serial_number = Some(random_serial()?);
    Ok(params)
}

/// A time X.509 can carry (1970 ..= 9999; GeneralizedTime allows no more).
fn x509_time(t: SystemTime) -> Result<OffsetDateTime, PlatformError> {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| PlatformError::BadValidity)?
        .as_secs();
    let time = i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .ok_or(PlatformError::BadValidity)?;
    if time.year() > 9999 {
        return Err(PlatformError::BadValidity);
    }
    Ok(time)
}

/// A positive 16-byte serial number (RFC 5280 §4.1.2.2) from the system CSPRNG.
fn random_serial() -> Result<SerialNumber, PlatformError> {
    let mut serial = [0u8; 16];
    SystemRandom::new()
        .fill(&mut serial)
        .map_err(|_| PlatformError::Rng)?;
    if let Some(first) = serial.first_mut() {
        *first = (*first & 0x7f) | 0x40;
    }
    Ok(SerialNumber::from_slice(&serial))
}

fn issue_error(e: rcgen::Error) -> PlatformError {
    PlatformError::Issue(e.to_string())
}

fn pem_block(text: &str, expected: &'static str) -> Result<Vec<u8>, PlatformError> {
    pem::parse_many(text)
        .map_err(|_| PlatformError::NotPem { expected })?
        .into_iter()
        .find(|block| block.tag() == expected)
        .map(pem::Pem::into_contents)
        .ok_or(PlatformError::NotPem { expected })
}

/// PEM with Unix line endings, as openssl writes it; the encoder's copy of `der` is wiped.
fn pem_encode(label: &str, der: &[u8]) -> Zeroizing<String> {
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    let block = pem::Pem::new(label, der.to_vec());
    let text = Zeroizing::new(pem::encode_config(&block, config));
    drop(Zeroizing::new(block.into_contents()));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn window() -> (SystemTime, SystemTime) {
        let now = SystemTime::now();
        (
            now - Duration::from_secs(60),
            now + Duration::from_secs(3600),
        )
    }

    #[test]
    fn issue_and_reload() {
        let (nb, na) = window();
        let ca = VendorCa::generate("Test Vendor Root", nb, na).unwrap();
        let key = ca.issue("platform-1", 0x8000_0001, nb, na).unwrap();
        assert_eq!(key.tcb(), 0x8000_0001);
        assert_eq!(key.chain().len(), 2);
        assert_eq!(key.chain()[1], ca.cert_der());

        let again = AttestationKey::from_pem(&key.key_pem(), &key.chain_pem()).unwrap();
        assert_eq!(again.platform_id(), key.platform_id());
        assert_eq!(again.chain(), key.chain());

        let ca2 = VendorCa::from_pem(&ca.key_pem(), &ca.cert_pem()).unwrap();
        assert_eq!(ca2.cert_der(), ca.cert_der());
        let key2 = ca2.issue("platform-2", 1, nb, na).unwrap();
        assert_ne!(key2.platform_id(), key.platform_id());
    }

    #[test]
    fn the_tcb_recovery_seed_is_the_root_keys_alone() {
        let (nb, na) = window();
        let ca = VendorCa::generate("R", nb, na).unwrap();
        let reloaded = VendorCa::from_pem(&ca.key_pem(), &ca.cert_pem()).unwrap();
        let other = VendorCa::generate("R", nb, na).unwrap();
        let seed = ca.tcb_recovery_seed(b"chain one");
        assert_eq!(*seed, *reloaded.tcb_recovery_seed(b"chain one"));
        assert_ne!(*seed, *ca.tcb_recovery_seed(b"chain two"));
        assert_ne!(*seed, *other.tcb_recovery_seed(b"chain one"));
    }

    /// The header encoded once is byte for byte what coset writes for each token afresh, so
    /// tokens are the bytes they always were.
    #[test]
    fn tokens_keep_their_bytes() {
        use coset::{AsCborValue as _, CoseSign1Builder, HeaderBuilder};
        let (nb, na) = window();
        let key = VendorCa::generate("R", nb, na)
            .unwrap()
            .issue("p", 1, nb, na)
            .unwrap();
        let fixed = |tbs: &[u8]| Ok::<_, String>(tbs.iter().take(64).copied().collect());
        let ours = cose::sign1(&key.protected, b"payload".to_vec(), fixed, |e| e).unwrap();
        let certs = key
            .chain()
            .iter()
            .map(|der| ciborium::Value::Bytes(der.clone()))
            .collect();
        let protected = HeaderBuilder::new()
            .algorithm(coset::iana::Algorithm::ES256)
            .content_type(cose::CONTENT_TYPE.to_owned())
            .value(cose::X5CHAIN_LABEL, ciborium::Value::Array(certs))
            .build();
        let theirs = CoseSign1Builder::new()
            .protected(protected)
            .payload(b"payload".to_vec())
            .try_create_signature(&[], fixed)
            .unwrap()
            .build()
            .to_cbor_value()
            .unwrap();
        let theirs = crate::cbor::encode(&ciborium::Value::Tag(18, Box::new(theirs)));
        assert_eq!(ours, theirs);
    }

    #[test]
    fn mismatched_keys_are_refused() {
        let (nb, na) = window();
        let ca = VendorCa::generate("A", nb, na).unwrap();
        let other = VendorCa::generate("B", nb, na).unwrap();
        assert_eq!(
            VendorCa::from_pem(&other.key_pem(), &ca.cert_pem()).unwrap_err(),
            PlatformError::KeyMismatch
        );
        let k1 = ca.issue("p1", 1, nb, na).unwrap();
        let k2 = ca.issue("p2", 1, nb, na).unwrap();
        assert_eq!(
            AttestationKey::from_pem(&k2.key_pem(), &k1.chain_pem()).unwrap_err(),
            PlatformError::KeyMismatch
        );
        // A leaf is not a CA; a root lacks the TCB extension.
        assert!(matches!(
            VendorCa::from_pem(&k1.key_pem(), &k1.chain_pem()),
            Err(PlatformError::BadCertificate(_))
        ));
        assert!(matches!(
            AttestationKey::from_pem(&k1.key_pem(), &ca.cert_pem()),
            Err(PlatformError::BadCertificate(_))
        ));
        assert_eq!(
            VendorCa::generate("C", na, nb).unwrap_err(),
            PlatformError::BadValidity
        );
    }
}
