//! The attestation key's X.509 chain (RFC 5280): validated to a pinned root with webpki, and
//! the leaf's P-256 key, TCB extension and validity read with x509-parser. Below the COSE
//! envelope (`cose`) and the trusted roots (`trust`), which both use it.

use std::time::{SystemTime, UNIX_EPOCH};

use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};

use crate::error::VerifyError;

/// OID 1.3.6.1.4.1.32473.1.1, the extended key usage "enclave attestation signing" that every
/// platform attestation certificate carries, as the DER contents octets webpki compares.
pub const OID_ATTESTATION_SIGNING: &[u8] =
    &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x81, 0xfd, 0x59, 0x01, 0x01];
/// OID 1.3.6.1.4.1.32473.1.2, the non-critical certificate extension holding the platform TCB
/// version as a DER INTEGER (0 ..= 2^32 - 1), as DER contents octets.
pub const OID_PLATFORM_TCB: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x81, 0xfd, 0x59, 0x01, 0x02];

/// DER prefix of an ECDSA P-256 SubjectPublicKeyInfo (RFC 5480): SEQUENCE { SEQUENCE { OID
/// id-ecPublicKey, OID prime256v1 }, BIT STRING (0 unused bits) } followed by the 65-byte
/// uncompressed point.
pub(crate) const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
pub(crate) const P256_SPKI_LEN: usize = P256_SPKI_PREFIX.len() + 65;

/// What a validated leaf certificate says that verification needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeafDetails {
    /// The leaf's P-256 SubjectPublicKeyInfo DER.
    pub(crate) spki: Vec<u8>,
    /// The TCB version from the leaf's extension.
    pub(crate) tcb: u32,
}

/// Validates `chain` (leaf first) to one of `anchors` at `now` with the attestation-signing EKU,
/// then reads the leaf's key, TCB extension and validity period (seconds since the Unix epoch).
pub(crate) fn validate_chain(
    chain: &[Vec<u8>],
    anchors: &[TrustAnchor<'_>],
    now: SystemTime,
) -> Result<(LeafDetails, u64, u64), VerifyError> {
    // The path is leaf -> pinned root, with no intermediate CA: the certificates after the leaf
    // are the root itself, carried for tools that want it (they are signed over all the same).
    // Offering the root as an intermediate would only let webpki report its lack of the EKU
    // instead of an unknown issuer.
    let leaf = chain.first().ok_or(VerifyError::MissingChain)?;
    let leaf_der = CertificateDer::from(leaf.as_slice());
    let ee = webpki::EndEntityCert::try_from(&leaf_der)
        .map_err(|e| VerifyError::BadCertificate(format!("{e:?}")))?;
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    ee.verify_for_usage(
        &[
            webpki::ring::ECDSA_P256_SHA256,
            webpki::ring::ECDSA_P384_SHA384,
            webpki::ring::ECDSA_P256_SHA384,
            webpki::ring::ECDSA_P384_SHA256,
        ],
        anchors,
        &[],
        UnixTime::since_unix_epoch(since_epoch),
        webpki::KeyUsage::required(OID_ATTESTATION_SIGNING),
        None,
        None,
    )
    .map_err(chain_error)?;
    parse_leaf(leaf)
}

#[allow(
    deprecated,
    reason = "older webpki releases report a missing EKU without context"
)]
fn chain_error(e: webpki::Error) -> VerifyError {
    match e {
        webpki::Error::CertExpired { .. } => VerifyError::CertificateExpired,
        webpki::Error::CertNotValidYet { .. } => VerifyError::CertificateNotYetValid,
        // A root of the same name whose key did not sign the chain is no trusted issuer either.
        webpki::Error::UnknownIssuer | webpki::Error::InvalidSignatureForPublicKey => {
            VerifyError::UnknownIssuer
        }
        webpki::Error::RequiredEkuNotFound | webpki::Error::RequiredEkuNotFoundContext(_) => {
            VerifyError::WrongKeyUsage
        }
        other => VerifyError::BadCertificate(format!("{other:?}")),
    }
}

/// The leaf's P-256 SubjectPublicKeyInfo DER and its TCB extension. The leaf has already been
/// validated by webpki, so only a certificate our trusted root issued reaches this parser.
#[cfg(feature = "platform")]
pub(crate) fn leaf_details(leaf: &[u8]) -> Result<(Vec<u8>, u32), VerifyError> {
    parse_leaf(leaf).map(|(details, _, _)| (details.spki, details.tcb))
}

/// [`leaf_details`] and the leaf's validity period (seconds since the Unix epoch, inclusive).
fn parse_leaf(leaf: &[u8]) -> Result<(LeafDetails, u64, u64), VerifyError> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf)
        .map_err(|e| VerifyError::BadCertificate(e.to_string()))?;
    let spki = cert.public_key().raw;
    if spki.len() != P256_SPKI_LEN || !spki.starts_with(&P256_SPKI_PREFIX) {
        return Err(VerifyError::UnsupportedKey);
    }
    let mut tcb = cert
        .extensions()
        .iter()
        .filter(|ext| ext.oid.as_bytes() == OID_PLATFORM_TCB);
    let tcb = match (tcb.next(), tcb.next()) {
        (Some(ext), None) => decode_der_u32(ext.value).ok_or(VerifyError::BadTcbExtension)?,
        _ => return Err(VerifyError::BadTcbExtension),
    };
    // webpki accepted the leaf at `now`, so both times are representable; a negative one (before
    // 1970) can only have been passed, and 0 keeps it so.
    let validity = cert.validity();
    let seconds = |t: &x509_parser::time::ASN1Time| u64::try_from(t.timestamp()).unwrap_or(0);
    let details = LeafDetails {
        spki: spki.to_vec(),
        tcb,
    };
    Ok((
        details,
        seconds(&validity.not_before),
        seconds(&validity.not_after),
    ))
}

/// DER INTEGER (X.690 §8.3) of a u32: minimal two's-complement contents, never negative.
pub(crate) fn encode_der_u32(value: u32) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let zeros = bytes.iter().take(3).take_while(|b| **b == 0).count();
    let mut contents: Vec<u8> = bytes.iter().copied().skip(zeros).collect();
    if contents.first().is_some_and(|b| b & 0x80 != 0) {
        contents.insert(0, 0);
    }
    let mut out = vec![0x02, contents.len() as u8];
    out.extend(contents);
    out
}

/// The inverse of [`encode_der_u32`]; anything not in exactly that form is refused.
pub(crate) fn decode_der_u32(der: &[u8]) -> Option<u32> {
    let (rest, value) = x509_parser::der_parser::der::parse_der_u32(der).ok()?;
    (rest.is_empty() && encode_der_u32(value) == der).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_u32_is_minimal() {
        assert_eq!(encode_der_u32(0), [0x02, 0x01, 0x00]);
        assert_eq!(encode_der_u32(0x7f), [0x02, 0x01, 0x7f]);
        assert_eq!(encode_der_u32(0x80), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(encode_der_u32(0x0100), [0x02, 0x02, 0x01, 0x00]);
        assert_eq!(
            encode_der_u32(u32::MAX),
            [0x02, 0x05, 0x00, 0xff, 0xff, 0xff, 0xff]
        );
        for v in [0, 1, 0x7f, 0x80, 0xffff, 0x8000_0000, u32::MAX] {
            assert_eq!(decode_der_u32(&encode_der_u32(v)), Some(v));
        }
        // Non-minimal, negative, wrong tag, trailing bytes.
        assert_eq!(decode_der_u32(&[0x02, 0x02, 0x00, 0x01]), None);
        assert_eq!(decode_der_u32(&[0x02, 0x01, 0xff]), None);
        assert_eq!(decode_der_u32(&[0x04, 0x01, 0x01]), None);
        assert_eq!(decode_der_u32(&[0x02, 0x01, 0x01, 0x00]), None);
    }
}
