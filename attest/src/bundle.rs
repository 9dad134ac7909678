//! The signed enclave bundle: one COSE_Sign1 (RFC 9052) holding the module, the manifest and
//! the signer's public key, signed with Ed25519.
//!
//! Verification follows the rule "authenticate the exact received bytes before reading
//! anything": size cap, COSE structure, algorithm allow-list, signature over the received
//! protected header and payload, and only then the payload is decoded (strictly) and the
//! measurement recomputed from the module bytes it holds.

use ciborium::Value;
use coset::{iana, CoseSign1, CoseSign1Builder, HeaderBuilder, Label, TaggedCborSerializable};

use crate::cbor::{self, CborError};
use crate::identity::{Measurement, ModuleDigest, SignerId};
use crate::keys::{AuthorKey, AuthorPublicKey};
use crate::manifest::{Manifest, ManifestError};

/// Largest bundle accepted, checked before any parsing.
pub const MAX_BUNDLE_BYTES: usize = 256 << 20;
/// Content type in the protected header (COSE label 3).
pub const CONTENT_TYPE: &str = "application/vnd.enclave.bundle.v1+cbor";
/// Private-use protected header label carrying the signer's SubjectPublicKeyInfo DER.
pub const SIGNER_SPKI_LABEL: i64 = -65537;
/// Version of the payload layout.
pub const FORMAT_VERSION: u32 = 1;

/// Why a bundle was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Larger than [`MAX_BUNDLE_BYTES`]; nothing was parsed.
    #[error("bundle is {size} bytes, larger than the {limit}-byte limit")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a tagged COSE_Sign1 structure.
    #[error("not a signed enclave bundle (expected a tagged COSE_Sign1): {0}")]
    NotCoseSign1(String),
    /// The algorithm is missing or not on the allow-list (EdDSA only).
    #[error("signature algorithm {0} is not allowed (only EdDSA)")]
    DisallowedAlgorithm(String),
    /// The protected header lacks the content type of a bundle.
    #[error("wrong content type: expected {CONTENT_TYPE}")]
    WrongContentType,
    /// The protected header has no usable signer public key.
    #[error("bundle carries no Ed25519 signer public key")]
    MissingSignerKey,
    /// The signature does not verify: the bundle was altered or is not signed by its key.
    #[error("bad signature")]
    BadSignature,
    /// The payload is empty (a detached payload is not supported).
    #[error("bundle has no payload")]
    MissingPayload,
    /// The signed payload does not decode.
    #[error("bundle payload: {0}")]
    Payload(CborError),
    /// The payload is of a newer layout.
    #[error("bundle format {0} is not supported (expected {FORMAT_VERSION})")]
    UnsupportedFormat(u32),
    /// The signed manifest breaks a rule.
    #[error("bundle manifest: {0}")]
    Manifest(ManifestError),
    /// The signer is not one of those the caller trusts.
    #[error("signer {signer} is not trusted")]
    UntrustedSigner {
        /// Who signed it.
        signer: SignerId,
    },
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    format: u32,
    manifest: Manifest,
    #[serde(with = "serde_bytes")]
    module: Vec<u8>,
}

/// Signs `module` with `manifest` into a bundle.
///
/// # Errors
/// [`BundleError::Manifest`] if the manifest is invalid, [`BundleError::TooLarge`] if the result
/// would exceed [`MAX_BUNDLE_BYTES`].
pub fn sign(key: &AuthorKey, manifest: &Manifest, module: &[u8]) -> Result<Vec<u8>, BundleError> {
    manifest.validate().map_err(BundleError::Manifest)?;
    let payload = cbor::encode(&Payload {
        format: FORMAT_VERSION,
        manifest: manifest.clone(),
        module: module.to_vec(),
    });
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .content_type(CONTENT_TYPE.to_owned())
        .value(SIGNER_SPKI_LABEL, Value::Bytes(key.public_key().spki_der()))
        .build();
    let bytes = CoseSign1Builder::new()
        .protected(protected)
        .payload(payload)
        .create_signature(&[], |tbs| key.sign(tbs).to_vec())
        .build()
        .to_tagged_vec()
        .map_err(|e| BundleError::NotCoseSign1(e.to_string()))?;
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge {
            size: bytes.len(),
            limit: MAX_BUNDLE_BYTES,
        });
    }
    Ok(bytes)
}

/// Verifies a bundle's signature and decodes it.
///
/// This proves only that the bundle is intact and signed by the key it names; whether that
/// signer is trusted is the caller's policy ([`VerifiedBundle::require_signer`]).
///
/// # Errors
/// One [`BundleError`] variant per check, in the order the checks run.
pub fn verify(bytes: &[u8]) -> Result<VerifiedBundle, BundleError> {
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge {
            size: bytes.len(),
            limit: MAX_BUNDLE_BYTES,
        });
    }
    let sign1 = CoseSign1::from_tagged_slice(bytes)
        .map_err(|e| BundleError::NotCoseSign1(e.to_string()))?;
    let header = &sign1.protected.header;
    match &header.alg {
        Some(coset::Algorithm::Assigned(iana::Algorithm::EdDSA)) => {}
        Some(other) => return Err(BundleError::DisallowedAlgorithm(format!("{other:?}"))),
        None => return Err(BundleError::DisallowedAlgorithm("(none)".into())),
    }
    if header.content_type != Some(coset::ContentType::Text(CONTENT_TYPE.to_owned())) {
        return Err(BundleError::WrongContentType);
    }
    let signer = signer_key(&sign1)?;
    // coset builds the Sig_structure from the protected header bytes exactly as received.
    sign1
        .verify_signature(&[], |sig, tbs| signer.verify(tbs, sig))
        .map_err(|_| BundleError::BadSignature)?;
    let payload = sign1
        .payload
        .as_deref()
        .ok_or(BundleError::MissingPayload)?;
    let payload: Payload = cbor::decode_exact("bundle payload", payload, MAX_BUNDLE_BYTES)
        .map_err(BundleError::Payload)?;
    if payload.format != FORMAT_VERSION {
        return Err(BundleError::UnsupportedFormat(payload.format));
    }
    payload.manifest.validate().map_err(BundleError::Manifest)?;
    let module_digest = ModuleDigest::of(&payload.module);
    Ok(VerifiedBundle {
        measurement: payload.manifest.measure(&module_digest),
        signer_id: signer.signer_id(),
        signer,
        module_digest,
        manifest: payload.manifest,
        module: payload.module,
    })
}

fn signer_key(sign1: &CoseSign1) -> Result<AuthorPublicKey, BundleError> {
    let mut found = sign1
        .protected
        .header
        .rest
        .iter()
        .filter(|(label, _)| *label == Label::Int(SIGNER_SPKI_LABEL));
    match (found.next(), found.next()) {
        (Some((_, Value::Bytes(der))), None) => {
            AuthorPublicKey::from_spki_der(der).map_err(|_| BundleError::MissingSignerKey)
        }
        _ => Err(BundleError::MissingSignerKey),
    }
}

/// A bundle whose signature verified, with its measurement recomputed from the module bytes.
/// Only [`verify`] makes one.
#[derive(Clone)]
pub struct VerifiedBundle {
    manifest: Manifest,
    module: Vec<u8>,
    module_digest: ModuleDigest,
    measurement: Measurement,
    signer: AuthorPublicKey,
    signer_id: SignerId,
}

impl std::fmt::Debug for VerifiedBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedBundle")
            .field("measurement", &self.measurement)
            .field("signer_id", &self.signer_id)
            .field("module_bytes", &self.module.len())
            .finish_non_exhaustive()
    }
}

impl VerifiedBundle {
    /// The signed manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    /// The module bytes exactly as signed.
    pub fn module(&self) -> &[u8] {
        &self.module
    }
    /// SHA-256 of [`VerifiedBundle::module`].
    pub fn module_digest(&self) -> ModuleDigest {
        self.module_digest
    }
    /// The measurement, computed from the module and manifest just verified.
    pub fn measurement(&self) -> Measurement {
        self.measurement
    }
    /// The signer's public key.
    pub fn signer(&self) -> &AuthorPublicKey {
        &self.signer
    }
    /// The signer identity.
    pub fn signer_id(&self) -> SignerId {
        self.signer_id
    }

    /// Refuses the bundle unless its signer is in `trusted`. An empty list trusts any signer,
    /// which is what `enclave run` does without `--trusted-signer`.
    ///
    /// # Errors
    /// [`BundleError::UntrustedSigner`].
    pub fn require_signer(&self, trusted: &[SignerId]) -> Result<(), BundleError> {
        if trusted.is_empty() || trusted.contains(&self.signer_id) {
            Ok(())
        } else {
            Err(BundleError::UntrustedSigner {
                signer: self.signer_id,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coset::CborSerializable;

    fn manifest() -> Manifest {
        Manifest::from_toml("product_id = 1\nsvn = 1\ndebug = false\n").unwrap()
    }

    fn signed() -> (AuthorKey, Vec<u8>) {
        let key = AuthorKey::generate().unwrap();
        let bytes = sign(&key, &manifest(), b"\0asm\x01\0\0\0").unwrap();
        (key, bytes)
    }

    #[test]
    fn sign_then_verify() {
        let (key, bytes) = signed();
        let v = verify(&bytes).unwrap();
        assert_eq!(v.signer_id(), key.public_key().signer_id());
        assert_eq!(v.module(), b"\0asm\x01\0\0\0");
        assert_eq!(
            v.measurement(),
            manifest().measure(&ModuleDigest::of(v.module()))
        );
        v.require_signer(&[]).unwrap();
        v.require_signer(&[key.public_key().signer_id()]).unwrap();
        let other = AuthorKey::generate().unwrap().public_key().signer_id();
        assert_eq!(
            v.require_signer(&[other]).unwrap_err(),
            BundleError::UntrustedSigner {
                signer: v.signer_id()
            }
        );
    }

    #[test]
    fn every_byte_flip_is_refused() {
        let (_, bytes) = signed();
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut evil = bytes.clone();
                evil[i] ^= bit;
                assert!(
                    verify(&evil).is_err(),
                    "flip of bit {bit:#x} at byte {i} was accepted"
                );
            }
        }
    }

    #[test]
    fn truncation_and_trailing_bytes_are_refused() {
        let (_, bytes) = signed();
        for len in 0..bytes.len() {
            assert!(matches!(
                verify(&bytes[..len]),
                Err(BundleError::NotCoseSign1(_))
            ));
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(verify(&long), Err(BundleError::NotCoseSign1(_))));
    }

    fn resign(bytes: &[u8], key: &AuthorKey, edit: impl FnOnce(&mut CoseSign1)) -> Vec<u8> {
        let mut sign1 = CoseSign1::from_tagged_slice(bytes).unwrap();
        edit(&mut sign1);
        sign1.protected.original_data = None;
        let tbs = sign1.tbs_data(&[]);
        sign1.signature = key.sign(&tbs).to_vec();
        sign1.to_tagged_vec().unwrap()
    }

    #[test]
    fn disallowed_algorithm_is_refused_before_the_signature() {
        let (key, bytes) = signed();
        let evil = resign(&bytes, &key, |s| {
            s.protected.header.alg = Some(coset::Algorithm::Assigned(iana::Algorithm::ES256));
        });
        assert_eq!(
            verify(&evil).unwrap_err(),
            BundleError::DisallowedAlgorithm("Assigned(ES256)".into())
        );
    }

    #[test]
    fn substituted_key_is_a_bad_signature() {
        let (_, bytes) = signed();
        let mallory = AuthorKey::generate().unwrap();
        let mut sign1 = CoseSign1::from_tagged_slice(&bytes).unwrap();
        sign1.protected.header.rest = vec![(
            Label::Int(SIGNER_SPKI_LABEL),
            Value::Bytes(mallory.public_key().spki_der()),
        )];
        sign1.protected.original_data = None;
        assert_eq!(
            verify(&sign1.to_tagged_vec().unwrap()).unwrap_err(),
            BundleError::BadSignature
        );
    }

    #[test]
    fn unknown_payload_fields_are_refused_even_when_signed() {
        let (key, bytes) = signed();
        let evil = resign(&bytes, &key, |s| {
            let mut value: Value =
                ciborium::de::from_reader(s.payload.as_deref().unwrap()).unwrap();
            if let Value::Map(entries) = &mut value {
                entries.push((Value::Text("extra".into()), Value::Integer(1.into())));
            }
            s.payload = Some(cbor::encode(&value));
        });
        assert!(matches!(
            verify(&evil),
            Err(BundleError::Payload(CborError::Malformed { .. }))
        ));
    }

    #[test]
    fn untagged_and_oversize_are_refused() {
        let (_, bytes) = signed();
        let untagged = CoseSign1::from_tagged_slice(&bytes)
            .unwrap()
            .to_vec()
            .unwrap();
        assert!(matches!(
            verify(&untagged),
            Err(BundleError::NotCoseSign1(_))
        ));
        let huge = vec![0u8; MAX_BUNDLE_BYTES + 1];
        assert!(matches!(verify(&huge), Err(BundleError::TooLarge { .. })));
    }
}
