//! Attested TLS (RA-TLS): evidence carried in the server's X.509 certificate, so that verifying
//! the handshake verifies the enclave (`docs/formats.md`, "Attested TLS").
//!
//! The runtime makes a fresh ECDSA P-256 key at start, never written to disk, and asks the
//! platform for evidence whose `tls_key` claim, nonce and report data are all the SHA-256 of that
//! key's SubjectPublicKeyInfo. The certificate (self-signed with that key) carries the evidence in
//! the `id-pe-cmw` extension of RFC 9999 (the RATS Conceptual Message Wrapper): the extension
//! value is the `cbor` choice of `CMW`, an OCTET STRING holding the CBOR record
//! `["application/eat+cwt", evidence, 4]`.
//!
//! [`verify_certificate`] checks a certificate under a [`VerifierPolicy`]; with the `tls`
//! feature, [`AttestedServerVerifier`] does it inside a rustls handshake, and the handshake's
//! own signature check proves the peer holds the certificate's key. The X.509 fields around the
//! key (names, validity, the self-signature) carry no trust: the evidence does.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use x509_parser::prelude::FromDer as _;

use crate::cose::{self, MAX_TOKEN_BYTES};
use crate::verify::{self, VerifiedEvidence, VerifierPolicy, VerifyError};

/// DER of `id-pe-cmw` (RFC 9999 §6.1): 1.3.6.1.5.5.7.1.35.
pub const OID_CMW: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x23];
/// `id-pe-cmw` as arcs, for certificate builders.
pub const OID_CMW_ARCS: [u64; 9] = [1, 3, 6, 1, 5, 5, 7, 1, 35];
/// The CMW record's type: the media type of the evidence (RFC 9782), as in `POST /v1/evidence`.
pub const CMW_TYPE: &str = cose::CONTENT_TYPE;
/// The CMW record's conceptual-message indicator: evidence (RFC 9999 §4.1).
pub const CMW_INDICATOR_EVIDENCE: u64 = 4;
/// Largest certificate accepted: the evidence cap plus room for the X.509 fields around it.
pub const MAX_CERTIFICATE_BYTES: usize = MAX_TOKEN_BYTES + 4096;

/// DER prefix of an ECDSA P-256 SubjectPublicKeyInfo: the only key type of an attested
/// certificate.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Why an attested TLS certificate was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// Larger than [`MAX_CERTIFICATE_BYTES`]; nothing was parsed.
    #[error("certificate is {size} bytes, larger than the {limit}-byte limit")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a well-formed X.509 certificate.
    #[error("not a well-formed X.509 certificate: {0}")]
    BadCertificate(String),
    /// The certificate's key is not ECDSA P-256.
    #[error("the certificate's key is not ECDSA P-256")]
    WrongKeyType,
    /// No `id-pe-cmw` extension: not an attested certificate.
    #[error("the certificate carries no attestation evidence (no id-pe-cmw extension)")]
    MissingEvidence,
    /// The extension appears more than once.
    #[error("the certificate has more than one id-pe-cmw extension")]
    DuplicateEvidence,
    /// The extension is not an OCTET STRING holding one CBOR CMW record of evidence.
    #[error("malformed evidence wrapper: {0}")]
    BadWrapper(String),
    /// The evidence does not verify under the policy.
    #[error("attestation evidence refused: {0}")]
    Evidence(VerifyError),
    /// The evidence verifies, but vouches for another key than the certificate's: a certificate
    /// whose key was swapped, or evidence not made for a TLS key.
    #[error("the evidence does not vouch for the certificate's key")]
    KeyNotBound,
}

/// The CBOR CMW record `[type, value, indicator]` (RFC 9999 §4.1).
#[derive(Debug, Serialize, Deserialize)]
struct CmwRecord(String, #[serde(with = "serde_bytes")] Vec<u8>, u64);

/// The value of the `id-pe-cmw` extension (the contents of its `extnValue`) for `evidence`.
pub fn cmw_extension_value(evidence: &[u8]) -> Vec<u8> {
    let record = crate::cbor::encode(&CmwRecord(
        CMW_TYPE.to_owned(),
        evidence.to_vec(),
        CMW_INDICATOR_EVIDENCE,
    ));
    let mut der = vec![0x04];
    der_length(record.len(), &mut der);
    der.extend_from_slice(&record);
    der
}

fn der_length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
}

/// The evidence in an `id-pe-cmw` extension value.
///
/// # Errors
/// [`TlsError::BadWrapper`] unless the value is exactly one DER OCTET STRING holding exactly
/// one CMW record of type [`CMW_TYPE`] with indicator [`CMW_INDICATOR_EVIDENCE`].
pub fn evidence_from_extension_value(value: &[u8]) -> Result<Vec<u8>, TlsError> {
    let bad = |detail: String| TlsError::BadWrapper(detail);
    let (rest, octets) = x509_parser::der_parser::der::parse_der_octetstring(value)
        .map_err(|e| bad(format!("not a DER OCTET STRING ({e})")))?;
    if !rest.is_empty() {
        return Err(bad(format!("{} bytes after the OCTET STRING", rest.len())));
    }
    let contents = octets
        .as_slice()
        .map_err(|e| bad(format!("not a primitive OCTET STRING ({e})")))?;
    let record: CmwRecord = crate::cbor::decode_exact("CMW record", contents, MAX_TOKEN_BYTES + 64)
        .map_err(|e| bad(e.to_string()))?;
    if record.0 != CMW_TYPE {
        return Err(bad(format!("type {:?}, expected {CMW_TYPE:?}", record.0)));
    }
    if record.2 != CMW_INDICATOR_EVIDENCE {
        return Err(bad(format!(
            "indicator {}, expected {CMW_INDICATOR_EVIDENCE} (evidence)",
            record.2
        )));
    }
    Ok(record.1)
}

/// What an attested certificate holds: the SHA-256 of its SubjectPublicKeyInfo and the evidence
/// in its `id-pe-cmw` extension, not yet verified.
#[derive(Debug, Clone)]
pub struct CertificateEvidence {
    /// SHA-256 of the certificate's SubjectPublicKeyInfo (DER).
    pub spki_digest: [u8; 32],
    /// The evidence bytes exactly as carried.
    pub evidence: Vec<u8>,
}

/// Reads, without verifying anything, the key digest and evidence of an attested certificate.
///
/// # Errors
/// [`TlsError::TooLarge`] before parsing; then [`TlsError::BadCertificate`],
/// [`TlsError::WrongKeyType`], [`TlsError::MissingEvidence`], [`TlsError::DuplicateEvidence`]
/// or [`TlsError::BadWrapper`].
pub fn certificate_evidence(cert_der: &[u8]) -> Result<CertificateEvidence, TlsError> {
    if cert_der.len() > MAX_CERTIFICATE_BYTES {
        return Err(TlsError::TooLarge {
            size: cert_der.len(),
            limit: MAX_CERTIFICATE_BYTES,
        });
    }
    let (rest, cert) = x509_parser::certificate::X509Certificate::from_der(cert_der)
        .map_err(|e| TlsError::BadCertificate(e.to_string()))?;
    if !rest.is_empty() {
        return Err(TlsError::BadCertificate(format!(
            "{} bytes after the certificate",
            rest.len()
        )));
    }
    let spki = cert.tbs_certificate.subject_pki.raw;
    if spki.len() != P256_SPKI_PREFIX.len() + 65 || !spki.starts_with(&P256_SPKI_PREFIX) {
        return Err(TlsError::WrongKeyType);
    }
    let mut found = cert
        .tbs_certificate
        .extensions()
        .iter()
        .filter(|e| e.oid.as_bytes() == OID_CMW);
    let extension = found.next().ok_or(TlsError::MissingEvidence)?;
    if found.next().is_some() {
        return Err(TlsError::DuplicateEvidence);
    }
    Ok(CertificateEvidence {
        spki_digest: Sha256::digest(spki).into(),
        evidence: evidence_from_extension_value(extension.value)?,
    })
}

/// Verifies an attested certificate under `policy` at `now`: the evidence in it verifies (the
/// policy's own nonce, if any, is replaced by the key digest), and vouches for the certificate's
/// key through its `tls_key` claim, nonce and report data. It does not prove the peer holds
/// the key: a TLS handshake's signature does that ([`AttestedServerVerifier`]).
///
/// # Errors
/// Those of [`certificate_evidence`], then [`TlsError::Evidence`] with the verifier's own
/// reason, or [`TlsError::KeyNotBound`].
pub fn verify_certificate(
    cert_der: &[u8],
    policy: &VerifierPolicy,
    now: SystemTime,
) -> Result<VerifiedEvidence, TlsError> {
    let carried = certificate_evidence(cert_der)?;
    let policy = policy.clone().nonce(carried.spki_digest.to_vec());
    let verified = match verify::verify(&carried.evidence, &policy, now) {
        Ok(verified) => verified,
        // Signed evidence for another key: the certificate's key was swapped.
        Err(VerifyError::NonceMismatch { .. }) => return Err(TlsError::KeyNotBound),
        Err(e) => return Err(TlsError::Evidence(e)),
    };
    // The claim, not only the nonce: evidence anyone can request (`POST /v1/evidence`) has a
    // caller-chosen nonce and report data, but never a `tls_key` claim.
    if verified.tls_key() != Some(&carried.spki_digest)
        || verified.report_data() != carried.spki_digest
    {
        return Err(TlsError::KeyNotBound);
    }
    Ok(verified)
}

#[cfg(feature = "tls")]
pub use verifier::AttestedServerVerifier;

#[cfg(feature = "tls")]
mod verifier {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, UNIX_EPOCH};

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};

    use super::{verify_certificate, TlsError};
    use crate::verify::{VerifiedEvidence, VerifierPolicy};

    /// A rustls [`ServerCertVerifier`] that accepts a server only if its certificate is attested
    /// under the policy ([`verify_certificate`]); the server name is not checked, since the
    /// evidence, not a name, says who the server is. A refusal is
    /// `rustls::Error::InvalidCertificate(CertificateError::Other(..))` wrapping the
    /// [`TlsError`], which [`TlsError::from_rustls`] recovers.
    #[derive(Debug)]
    pub struct AttestedServerVerifier {
        policy: VerifierPolicy,
        provider: Arc<CryptoProvider>,
        last: Mutex<Option<VerifiedEvidence>>,
    }

    impl AttestedServerVerifier {
        /// A verifier for `policy` (its nonce, if any, is ignored), using ring for the
        /// handshake signature.
        pub fn new(policy: VerifierPolicy) -> Self {
            Self {
                policy,
                provider: Arc::new(rustls::crypto::ring::default_provider()),
                last: Mutex::new(None),
            }
        }

        /// The evidence of the last certificate this verifier accepted.
        pub fn last_verified(&self) -> Option<VerifiedEvidence> {
            self.last.lock().ok().and_then(|last| last.clone())
        }

        /// A client configuration (TLS 1.3 only, no client certificate) that verifies servers
        /// with this verifier; `alpn` lists the protocols to offer.
        ///
        /// # Errors
        /// Only if ring's provider lacks TLS 1.3, which it does not.
        pub fn into_client_config(
            self: Arc<Self>,
            alpn: &[&[u8]],
        ) -> Result<rustls::ClientConfig, rustls::Error> {
            let mut config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
                .with_protocol_versions(&[&rustls::version::TLS13])?
                .dangerous()
                .with_custom_certificate_verifier(self)
                .with_no_client_auth();
            config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            Ok(config)
        }
    }

    impl ServerCertVerifier for AttestedServerVerifier {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            let now = UNIX_EPOCH + Duration::from_secs(now.as_secs());
            let verified =
                verify_certificate(end_entity.as_ref(), &self.policy, now).map_err(|e| {
                    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(
                        Arc::new(e),
                    )))
                })?;
            if let Ok(mut last) = self.last.lock() {
                *last = Some(verified);
            }
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            vec![SignatureScheme::ECDSA_NISTP256_SHA256]
        }
    }

    impl TlsError {
        /// The refusal inside a rustls error made by [`AttestedServerVerifier`].
        pub fn from_rustls(error: &rustls::Error) -> Option<&TlsError> {
            match error {
                rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
                    inner.downcast_ref::<TlsError>()
                }
                _ => None,
            }
        }

        /// The refusal anywhere in the source chain of `error` (an I/O error from a TLS
        /// stream, an HTTP client's transport error).
        pub fn find_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a TlsError> {
            let mut next: Option<&'a (dyn std::error::Error + 'static)> = Some(error);
            while let Some(e) = next {
                if let Some(found) = e.downcast_ref::<TlsError>() {
                    return Some(found);
                }
                if let Some(found) = e
                    .downcast_ref::<rustls::Error>()
                    .and_then(Self::from_rustls)
                {
                    return Some(found);
                }
                if let Some(inner) = e
                    .downcast_ref::<std::io::Error>()
                    .and_then(|io| io.get_ref())
                {
                    next = Some(inner);
                    continue;
                }
                next = e.source();
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_value_round_trips() {
        let evidence = vec![0xd2; 300];
        let value = cmw_extension_value(&evidence);
        // OCTET STRING, long-form length.
        assert_eq!(&value[..2], &[0x04, 0x82]);
        assert_eq!(evidence_from_extension_value(&value).unwrap(), evidence);
        let short = cmw_extension_value(&[1, 2, 3]);
        assert_eq!(short[0], 0x04);
        assert_eq!(short[1] as usize, short.len() - 2);
    }

    #[test]
    fn malformed_wrappers_are_refused() {
        let good = cmw_extension_value(&[1, 2, 3]);
        let mut trailing = good.clone();
        trailing.push(0);
        let record = |t: &str, ind: u64| {
            let cbor = crate::cbor::encode(&CmwRecord(t.into(), vec![1], ind));
            let mut der = vec![0x04, cbor.len() as u8];
            der.extend(cbor);
            der
        };
        for (value, expected) in [
            (trailing, "1 bytes after the OCTET STRING"),
            (vec![0x0c, 0x01, b'x'], "not a DER OCTET STRING"),
            (record("application/json", 4), "type \"application/json\""),
            (record(CMW_TYPE, 8), "indicator 8, expected 4"),
            (vec![0x04, 0x01, 0x00], "malformed CMW record"),
        ] {
            let err = evidence_from_extension_value(&value).unwrap_err();
            assert!(
                matches!(&err, TlsError::BadWrapper(d) if d.contains(expected)),
                "{err} should say {expected:?}"
            );
        }
    }

    #[test]
    fn oid_matches_its_arcs() {
        // 1.3 → 43, then each arc < 128 is one byte.
        let mut der = vec![40 * OID_CMW_ARCS[0] as u8 + OID_CMW_ARCS[1] as u8];
        der.extend(OID_CMW_ARCS[2..].iter().map(|a| *a as u8));
        assert_eq!(der, OID_CMW);
    }

    #[test]
    fn oversized_and_garbage_certificates_are_refused() {
        let big = vec![0; MAX_CERTIFICATE_BYTES + 1];
        assert!(matches!(
            certificate_evidence(&big),
            Err(TlsError::TooLarge { .. })
        ));
        assert!(matches!(
            certificate_evidence(&[0x30, 0x03, 1, 2, 3]),
            Err(TlsError::BadCertificate(_))
        ));
    }
}
