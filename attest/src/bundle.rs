//! The signed enclave bundle, format 2: a small COSE_Sign1 (RFC 9052) in the shape of a COSE Hash
//! Envelope (draft-ietf-cose-hash-envelope) whose payload is the module's SHA-256 and whose
//! protected header holds the manifest and the signer's key, and the module bytes beside it:
//!
//! ```text
//! Bundle = [ envelope: bstr .cbor COSE_Sign1_Tagged, module: bstr ]
//! ```
//!
//! What is signed is a few hundred bytes whatever the module's size, so a release key can stay in
//! an HSM or on an offline machine: [`UnsignedBundle::to_be_signed`] gives the exact bytes to
//! sign (the `Sig_structure`), [`UnsignedBundle::attach`] assembles the bundle from a signature
//! made elsewhere. Verification hashes the module once (SHA-256), where format 1, which signed
//! the module itself, hashed it twice (SHA-512 inside Ed25519, then SHA-256).
//!
//! Verification follows the rule "authenticate the exact received bytes before reading
//! anything": size cap; the two-item array, strictly; the envelope's COSE structure, algorithm
//! allow-list and headers; the signature over the received protected header and payload; the
//! module's SHA-256 against the signed payload; and only then the manifest is decoded (strictly)
//! and the measurement computed.

use ciborium::Value;
use coset::{
    iana, CoseSign1, CoseSign1Builder, Header, HeaderBuilder, Label, TaggedCborSerializable,
};

use crate::cbor::{self, CborError};
use crate::identity::{Measurement, ModuleDigest, SignerId};
use crate::keys::{AuthorKey, AuthorPublicKey};
use crate::manifest::{Manifest, ManifestError};

/// Largest bundle accepted, checked before any parsing.
pub const MAX_BUNDLE_BYTES: usize = 256 << 20;
/// Largest envelope accepted: its header holds a manifest, a key and a few short values.
pub const MAX_ENVELOPE_BYTES: usize = 64 << 10;
/// Version of the bundle layout; the envelope's type names it.
pub const FORMAT_VERSION: u32 = 2;
/// The envelope's type, protected header label 16 (`typ`, RFC 9596). A hash envelope must not
/// carry a content type (label 3): that would describe the payload, which is a digest.
pub const BUNDLE_TYPE: &str = "application/vnd.enclave.bundle.v2+cose";
/// COSE header parameter `typ` (RFC 9596).
pub const TYP_LABEL: i64 = 16;
/// COSE Hash Envelope `payload_hash_alg` (draft-ietf-cose-hash-envelope §3): the hash algorithm
/// that produced the payload, a COSE algorithm identifier.
pub const PAYLOAD_HASH_ALG_LABEL: i64 = 258;
/// COSE Hash Envelope `preimage_content_type`: the content type of the bytes that were hashed.
pub const PREIMAGE_CONTENT_TYPE_LABEL: i64 = 259;
/// The COSE algorithm identifier of SHA-256 (RFC 9054).
pub const SHA256_ALG: i64 = -16;
/// The module's content type, the value of [`PREIMAGE_CONTENT_TYPE_LABEL`].
pub const MODULE_CONTENT_TYPE: &str = "application/wasm";
/// Private-use protected header label carrying the signer's SubjectPublicKeyInfo DER.
pub const SIGNER_SPKI_LABEL: i64 = -65537;
/// Private-use protected header label carrying the manifest (`bstr .cbor Manifest`).
pub const MANIFEST_LABEL: i64 = -65538;
/// The content type of a format-1 bundle, recognised only to refuse it with a way forward.
const FORMAT_1_CONTENT_TYPE: &str = "application/vnd.enclave.bundle.v1+cbor";

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
    /// A bundle of format 1 (the module inside the signed payload), which this version no longer
    /// reads.
    #[error(
        "this bundle is format 1, which this version of enclave no longer reads: sign the module \
         again (`enclave sign --key KEY --manifest enclave.toml MODULE -o BUNDLE`) to make a \
         format 2 bundle"
    )]
    OldFormat,
    /// Not the array of an envelope and a module.
    #[error("not an enclave bundle (expected [envelope, module]): {0}")]
    NotABundle(CborError),
    /// The envelope is not a tagged COSE_Sign1 structure.
    #[error("bundle envelope is not a tagged COSE_Sign1: {0}")]
    NotCoseSign1(String),
    /// The algorithm is missing or not on the allow-list (EdDSA only).
    #[error("signature algorithm {0} is not allowed (only EdDSA)")]
    DisallowedAlgorithm(String),
    /// The protected header lacks the type of a bundle.
    #[error("wrong envelope type: expected typ {BUNDLE_TYPE}")]
    WrongType,
    /// The payload hash algorithm is missing or not SHA-256, or the preimage is not a wasm
    /// module.
    #[error("the envelope must sign the module's SHA-256 (payload_hash_alg -16, preimage_content_type application/wasm)")]
    WrongPayloadHash,
    /// A header parameter this format does not define, or a non-empty unprotected header.
    #[error("unexpected COSE header parameter {0}")]
    UnexpectedHeader(String),
    /// The protected header has no usable signer public key.
    #[error("bundle carries no Ed25519 signer public key")]
    MissingSignerKey,
    /// The protected header has no manifest.
    #[error("bundle carries no manifest")]
    MissingManifest,
    /// The signature does not verify: the envelope was altered or is not signed by its key.
    #[error("bad signature")]
    BadSignature,
    /// The payload is not a SHA-256 digest (32 bytes).
    #[error("bundle payload is not a 32-byte SHA-256 digest")]
    MissingPayload,
    /// The module is not the one signed: its SHA-256 differs from the signed digest.
    #[error("module does not match the signed digest (the module was altered or replaced)")]
    ModuleMismatch,
    /// The signed manifest does not decode.
    #[error("bundle manifest: {0}")]
    Payload(CborError),
    /// The signed manifest breaks a rule.
    #[error("bundle manifest: {0}")]
    Manifest(ManifestError),
    /// The signer is not one of those the caller trusts.
    #[error("signer {signer} is not trusted")]
    UntrustedSigner {
        /// Who signed it.
        signer: SignerId,
    },
    /// The allow-list of signers is empty: it trusts no one ([`Signers::Any`] is how a caller
    /// says "any validly signed bundle").
    #[error("no signer is trusted: the allow-list of signers is empty")]
    NoTrustedSigners,
}

/// Whose bundles a loader accepts. An allow-list fails closed: an empty one trusts no one; a
/// caller that means "any validly signed bundle" says [`Signers::Any`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signers {
    /// Any signer (the bundle must still be validly signed).
    Any,
    /// Only these signers; none when the list is empty.
    Only(Vec<SignerId>),
}

impl Signers {
    /// Only the signers in `list`; an empty list trusts no one.
    pub fn only(list: impl IntoIterator<Item = SignerId>) -> Self {
        Self::Only(list.into_iter().collect())
    }

    /// Accepts `signer`, or says why not.
    ///
    /// # Errors
    /// [`BundleError::NoTrustedSigners`] for an empty allow-list,
    /// [`BundleError::UntrustedSigner`] for a signer not on it.
    pub fn check(&self, signer: SignerId) -> Result<(), BundleError> {
        match self {
            Self::Any => Ok(()),
            Self::Only(list) if list.is_empty() => Err(BundleError::NoTrustedSigners),
            Self::Only(list) if list.contains(&signer) => Ok(()),
            Self::Only(_) => Err(BundleError::UntrustedSigner { signer }),
        }
    }
}

impl From<&[SignerId]> for Signers {
    /// The allow-list `list` (empty: no one).
    fn from(list: &[SignerId]) -> Self {
        Self::only(list.iter().copied())
    }
}

impl<const N: usize> From<&[SignerId; N]> for Signers {
    /// The allow-list `list` (empty: no one).
    fn from(list: &[SignerId; N]) -> Self {
        Self::only(list.iter().copied())
    }
}

impl From<Vec<SignerId>> for Signers {
    /// The allow-list `list` (empty: no one).
    fn from(list: Vec<SignerId>) -> Self {
        Self::Only(list)
    }
}

impl From<&Vec<SignerId>> for Signers {
    /// The allow-list `list` (empty: no one).
    fn from(list: &Vec<SignerId>) -> Self {
        Self::from(list.as_slice())
    }
}

impl From<&Signers> for Signers {
    fn from(signers: &Signers) -> Self {
        signers.clone()
    }
}

/// The bundle on the wire: the envelope's bytes and the module's.
#[derive(serde::Serialize)]
struct Wire(
    #[serde(with = "serde_bytes")] Vec<u8>,
    #[serde(with = "serde_bytes")] Vec<u8>,
);

impl Wire {
    /// Decodes exactly an array of two byte strings. (Decoded as a sequence, not as the tuple:
    /// ciborium does not check a tuple's declared array length.)
    fn decode(bytes: &[u8]) -> Result<Self, CborError> {
        let items: Vec<serde_bytes::ByteBuf> =
            cbor::decode_exact("bundle", bytes, MAX_BUNDLE_BYTES)?;
        match <[serde_bytes::ByteBuf; 2]>::try_from(items) {
            Ok([envelope, module]) => Ok(Self(envelope.into_vec(), module.into_vec())),
            Err(items) => Err(CborError::Malformed {
                what: "bundle",
                detail: format!("an array of {} items, expected 2", items.len()),
            }),
        }
    }
}

/// A bundle made ready for signing: the envelope without its signature, and the module.
///
/// For a key kept elsewhere (an HSM, an offline machine): [`UnsignedBundle::to_be_signed`] gives
/// the bytes the signer signs with PureEdDSA (Ed25519, RFC 8032), and
/// [`UnsignedBundle::attach`] puts the signature in. The same inputs always give the same bytes
/// to sign.
#[derive(Debug, Clone)]
pub struct UnsignedBundle<'a> {
    envelope: CoseSign1,
    module: &'a [u8],
}

impl<'a> UnsignedBundle<'a> {
    /// Prepares `module` with `manifest`, to be signed by the holder of `signer`'s private key.
    ///
    /// # Errors
    /// [`BundleError::Manifest`] if the manifest is invalid, [`BundleError::TooLarge`] if the
    /// bundle would exceed [`MAX_BUNDLE_BYTES`].
    pub fn new(
        signer: &AuthorPublicKey,
        manifest: &Manifest,
        module: &'a [u8],
    ) -> Result<Self, BundleError> {
        manifest.validate().map_err(BundleError::Manifest)?;
        // The module, the envelope (a few KiB at most) and the CBOR heads must fit.
        let limit = MAX_BUNDLE_BYTES - MAX_ENVELOPE_BYTES;
        if module.len() > limit {
            return Err(BundleError::TooLarge {
                size: module.len(),
                limit,
            });
        }
        let protected = HeaderBuilder::new()
            .algorithm(iana::Algorithm::EdDSA)
            .value(TYP_LABEL, Value::Text(BUNDLE_TYPE.to_owned()))
            .value(PAYLOAD_HASH_ALG_LABEL, Value::Integer(SHA256_ALG.into()))
            .value(
                PREIMAGE_CONTENT_TYPE_LABEL,
                Value::Text(MODULE_CONTENT_TYPE.to_owned()),
            )
            .value(SIGNER_SPKI_LABEL, Value::Bytes(signer.spki_der()))
            .value(MANIFEST_LABEL, Value::Bytes(cbor::encode(manifest)))
            .build();
        let envelope = CoseSign1Builder::new()
            .protected(protected)
            .payload(ModuleDigest::of(module).as_bytes().to_vec())
            .build();
        Ok(Self { envelope, module })
    }

    /// The exact bytes to sign: the COSE `Sig_structure` (RFC 9052 §4.4) of the envelope,
    /// `["Signature1", protected, h'', payload]`, where the payload is the module's SHA-256.
    pub fn to_be_signed(&self) -> Vec<u8> {
        self.envelope.tbs_data(&[])
    }

    /// Assembles the bundle with `signature` (64 bytes, Ed25519 over
    /// [`UnsignedBundle::to_be_signed`]) and verifies it as [`verify`] would.
    ///
    /// # Errors
    /// [`BundleError::BadSignature`] when the signature is not the signer's over these bytes;
    /// any other error of [`verify`].
    pub fn attach(self, signature: &[u8]) -> Result<Vec<u8>, BundleError> {
        let mut envelope = self.envelope;
        envelope.signature = signature.to_vec();
        let envelope = envelope
            .to_tagged_vec()
            .map_err(|e| BundleError::NotCoseSign1(e.to_string()))?;
        let bytes = cbor::encode(&Wire(envelope, self.module.to_vec()));
        verify(&bytes)?;
        Ok(bytes)
    }
}

/// Signs `module` with `manifest` into a bundle.
///
/// # Errors
/// As [`UnsignedBundle::new`].
pub fn sign(key: &AuthorKey, manifest: &Manifest, module: &[u8]) -> Result<Vec<u8>, BundleError> {
    let unsigned = UnsignedBundle::new(&key.public_key(), manifest, module)?;
    let signature = key.sign(&unsigned.to_be_signed());
    unsigned.attach(&signature)
}

/// Verifies a bundle's signature and module digest, and decodes it.
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
    if is_format_1(bytes) {
        return Err(BundleError::OldFormat);
    }
    let Wire(envelope, module) = Wire::decode(bytes).map_err(BundleError::NotABundle)?;
    let signed = open_envelope(&envelope)?;
    let module_digest = ModuleDigest::of(&module);
    if module_digest != signed.digest {
        return Err(BundleError::ModuleMismatch);
    }
    let manifest: Manifest = cbor::decode_exact("manifest", &signed.manifest, MAX_ENVELOPE_BYTES)
        .map_err(BundleError::Payload)?;
    manifest.validate().map_err(BundleError::Manifest)?;
    Ok(VerifiedBundle {
        measurement: manifest.measure(&module_digest),
        signer_id: signed.signer.signer_id(),
        signer: signed.signer,
        module_digest,
        manifest,
        module,
    })
}

/// What a verified envelope says, its manifest still undecoded.
struct SignedEnvelope {
    signer: AuthorPublicKey,
    digest: ModuleDigest,
    manifest: Vec<u8>,
}

/// Checks the envelope's structure, headers and signature, in that order.
fn open_envelope(bytes: &[u8]) -> Result<SignedEnvelope, BundleError> {
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(BundleError::NotCoseSign1(format!(
            "{} bytes, larger than the {MAX_ENVELOPE_BYTES}-byte limit",
            bytes.len()
        )));
    }
    let sign1 = CoseSign1::from_tagged_slice(bytes)
        .map_err(|e| BundleError::NotCoseSign1(e.to_string()))?;
    let header = &sign1.protected.header;
    match &header.alg {
        Some(coset::Algorithm::Assigned(iana::Algorithm::EdDSA)) => {}
        Some(other) => return Err(BundleError::DisallowedAlgorithm(format!("{other:?}"))),
        None => return Err(BundleError::DisallowedAlgorithm("(none)".into())),
    }
    check_headers(header, &sign1.unprotected)?;
    let signer = match rest_value(header, SIGNER_SPKI_LABEL) {
        Some(Value::Bytes(der)) => {
            AuthorPublicKey::from_spki_der(der).map_err(|_| BundleError::MissingSignerKey)?
        }
        _ => return Err(BundleError::MissingSignerKey),
    };
    let Some(Value::Bytes(manifest)) = rest_value(header, MANIFEST_LABEL) else {
        return Err(BundleError::MissingManifest);
    };
    // coset builds the Sig_structure from the protected header bytes exactly as received.
    sign1
        .verify_signature(&[], |sig, tbs| signer.verify(tbs, sig))
        .map_err(|_| BundleError::BadSignature)?;
    let digest = sign1
        .payload
        .as_deref()
        .and_then(|p| <[u8; 32]>::try_from(p).ok())
        .ok_or(BundleError::MissingPayload)?;
    Ok(SignedEnvelope {
        signer,
        digest: ModuleDigest::from_bytes(digest),
        manifest: manifest.clone(),
    })
}

/// Requires exactly the protected parameters of a bundle (alg, typ, payload hash algorithm,
/// preimage content type, signer key, manifest), each once, and an empty unprotected header.
fn check_headers(header: &Header, unprotected: &Header) -> Result<(), BundleError> {
    if !unprotected.is_empty() {
        return Err(BundleError::UnexpectedHeader(
            "in the unprotected header".into(),
        ));
    }
    if header.content_type.is_some() {
        return Err(BundleError::UnexpectedHeader("3 (content type)".into()));
    }
    let others = Header {
        alg: None,
        rest: Vec::new(),
        ..header.clone()
    };
    if !others.is_empty() {
        return Err(BundleError::UnexpectedHeader(format!("{others:?}")));
    }
    const KNOWN: [i64; 5] = [
        TYP_LABEL,
        PAYLOAD_HASH_ALG_LABEL,
        PREIMAGE_CONTENT_TYPE_LABEL,
        SIGNER_SPKI_LABEL,
        MANIFEST_LABEL,
    ];
    for (i, (label, _)) in header.rest.iter().enumerate() {
        let known = matches!(label, Label::Int(l) if KNOWN.contains(l));
        let repeated = header.rest.iter().take(i).any(|(l, _)| l == label);
        if !known || repeated {
            return Err(BundleError::UnexpectedHeader(format!("{label:?}")));
        }
    }
    if rest_value(header, TYP_LABEL) != Some(&Value::Text(BUNDLE_TYPE.to_owned())) {
        return Err(BundleError::WrongType);
    }
    let sha256 = Value::Integer(SHA256_ALG.into());
    let wasm = Value::Text(MODULE_CONTENT_TYPE.to_owned());
    if rest_value(header, PAYLOAD_HASH_ALG_LABEL) != Some(&sha256)
        || rest_value(header, PREIMAGE_CONTENT_TYPE_LABEL) != Some(&wasm)
    {
        return Err(BundleError::WrongPayloadHash);
    }
    Ok(())
}

fn rest_value(header: &Header, label: i64) -> Option<&Value> {
    header
        .rest
        .iter()
        .find(|(l, _)| *l == Label::Int(label))
        .map(|(_, v)| v)
}

/// Whether `bytes` look like a format-1 bundle: a tagged COSE_Sign1 at the top (a format-2
/// bundle is an array), whose protected header names the format-1 content type. Nothing of it is
/// trusted; it only chooses the error.
fn is_format_1(bytes: &[u8]) -> bool {
    // Tag 18, then an array of four.
    if !bytes.starts_with(&[0xd2, 0x84]) {
        return false;
    }
    CoseSign1::from_tagged_slice(bytes).is_ok_and(|s| {
        s.protected.header.content_type
            == Some(coset::ContentType::Text(FORMAT_1_CONTENT_TYPE.to_owned()))
    })
}

/// A bundle whose signature verified and whose module matches the signed digest, with its
/// measurement computed. Only [`verify`] makes one.
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

    /// Refuses the bundle unless `trusted` accepts its signer. An empty allow-list trusts no
    /// one; [`Signers::Any`] accepts any signer (what `enclave run` does without
    /// `--trusted-signer`).
    ///
    /// # Errors
    /// [`BundleError::NoTrustedSigners`], [`BundleError::UntrustedSigner`].
    pub fn require_signer(&self, trusted: impl Into<Signers>) -> Result<(), BundleError> {
        trusted.into().check(self.signer_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coset::CborSerializable;

    const MODULE: &[u8] = b"\0asm\x01\0\0\0";

    fn manifest() -> Manifest {
        Manifest::from_toml("product_id = 1\nsvn = 1\ndebug = false\n").unwrap()
    }

    fn signed() -> (AuthorKey, Vec<u8>) {
        let key = AuthorKey::generate().unwrap();
        let bytes = sign(&key, &manifest(), MODULE).unwrap();
        (key, bytes)
    }

    fn parts(bytes: &[u8]) -> (CoseSign1, Vec<u8>) {
        let Wire(envelope, module) = Wire::decode(bytes).unwrap();
        (CoseSign1::from_tagged_slice(&envelope).unwrap(), module)
    }

    fn join(envelope: &CoseSign1, module: &[u8]) -> Vec<u8> {
        cbor::encode(&Wire(
            envelope.clone().to_tagged_vec().unwrap(),
            module.to_vec(),
        ))
    }

    #[test]
    fn sign_then_verify() {
        let (key, bytes) = signed();
        let v = verify(&bytes).unwrap();
        assert_eq!(v.signer_id(), key.public_key().signer_id());
        assert_eq!(v.module(), MODULE);
        assert_eq!(
            v.measurement(),
            manifest().measure(&ModuleDigest::of(MODULE))
        );
        v.require_signer(Signers::Any).unwrap();
        v.require_signer(&[key.public_key().signer_id()]).unwrap();
        // An empty allow-list fails closed, however it is spelled.
        let none: &[SignerId] = &[];
        assert_eq!(
            v.require_signer(none).unwrap_err(),
            BundleError::NoTrustedSigners
        );
        assert_eq!(
            v.require_signer(Signers::only([])).unwrap_err(),
            BundleError::NoTrustedSigners
        );
        let other = AuthorKey::generate().unwrap().public_key().signer_id();
        assert_eq!(
            v.require_signer(&[other]).unwrap_err(),
            BundleError::UntrustedSigner {
                signer: v.signer_id()
            }
        );
    }

    #[test]
    fn the_envelope_has_the_hash_envelope_headers() {
        let (key, bytes) = signed();
        let (envelope, module) = parts(&bytes);
        assert_eq!(module, MODULE);
        assert_eq!(
            envelope.payload.as_deref(),
            Some(&ModuleDigest::of(MODULE).as_bytes()[..])
        );
        let h = &envelope.protected.header;
        assert_eq!(h.content_type, None);
        assert_eq!(
            rest_value(h, PAYLOAD_HASH_ALG_LABEL),
            Some(&Value::Integer((-16).into()))
        );
        assert_eq!(
            rest_value(h, PREIMAGE_CONTENT_TYPE_LABEL),
            Some(&Value::Text("application/wasm".into()))
        );
        assert_eq!(
            rest_value(h, SIGNER_SPKI_LABEL),
            Some(&Value::Bytes(key.public_key().spki_der()))
        );
        // What is signed is small whatever the module's size.
        let big = vec![0u8; 1 << 20];
        let unsigned = UnsignedBundle::new(&key.public_key(), &manifest(), &big).unwrap();
        assert!(unsigned.to_be_signed().len() < 1024);
    }

    #[test]
    fn detached_signing_gives_the_same_bundle() {
        let (key, bytes) = signed();
        let unsigned = UnsignedBundle::new(&key.public_key(), &manifest(), MODULE).unwrap();
        let tbs = unsigned.to_be_signed();
        assert_eq!(tbs, parts(&bytes).0.tbs_data(&[]));
        let signature = key.sign(&tbs);
        assert_eq!(unsigned.clone().attach(&signature).unwrap(), bytes);
        let mut wrong = signature;
        wrong[0] ^= 1;
        assert_eq!(
            unsigned.clone().attach(&wrong).unwrap_err(),
            BundleError::BadSignature
        );
        assert_eq!(
            unsigned.attach(&[0; 3]).unwrap_err(),
            BundleError::BadSignature
        );
        let mallory = AuthorKey::generate().unwrap();
        let unsigned = UnsignedBundle::new(&mallory.public_key(), &manifest(), MODULE).unwrap();
        assert_eq!(
            unsigned.attach(&key.sign(&tbs)).unwrap_err(),
            BundleError::BadSignature
        );
    }

    #[test]
    fn the_array_must_have_exactly_two_items() {
        let (_, bytes) = signed();
        let (envelope, module) = parts(&bytes);
        let envelope = envelope.to_tagged_vec().unwrap();
        let three = cbor::encode(&(
            serde_bytes::ByteBuf::from(envelope.clone()),
            serde_bytes::ByteBuf::from(module),
            serde_bytes::ByteBuf::from(vec![]),
        ));
        assert_eq!(
            verify(&three).unwrap_err(),
            BundleError::NotABundle(CborError::Malformed {
                what: "bundle",
                detail: "an array of 3 items, expected 2".into()
            })
        );
        let mut declared_three = bytes.clone();
        declared_three[0] = 0x83;
        assert!(matches!(
            verify(&declared_three),
            Err(BundleError::NotABundle(CborError::Malformed { .. }))
        ));
    }

    #[test]
    fn a_replaced_module_is_refused() {
        let (_, bytes) = signed();
        let (envelope, _) = parts(&bytes);
        assert_eq!(
            verify(&join(&envelope, b"\0asm\x01\0\0\0\0")).unwrap_err(),
            BundleError::ModuleMismatch
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
                Err(BundleError::NotABundle(_))
            ));
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            verify(&long),
            Err(BundleError::NotABundle(CborError::TrailingBytes {
                count: 1,
                ..
            }))
        ));
    }

    fn resign(bytes: &[u8], key: &AuthorKey, edit: impl FnOnce(&mut CoseSign1)) -> Vec<u8> {
        let (mut sign1, module) = parts(bytes);
        edit(&mut sign1);
        sign1.protected.original_data = None;
        let tbs = sign1.tbs_data(&[]);
        sign1.signature = key.sign(&tbs).to_vec();
        join(&sign1, &module)
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
    fn headers_are_checked_even_when_signed() {
        let (key, bytes) = signed();
        let set = |label: i64, value: Value| {
            resign(&bytes, &key, |s| {
                for (l, v) in &mut s.protected.header.rest {
                    if *l == Label::Int(label) {
                        *v = value.clone();
                    }
                }
            })
        };
        assert_eq!(
            verify(&set(PAYLOAD_HASH_ALG_LABEL, Value::Integer((-43).into()))).unwrap_err(),
            BundleError::WrongPayloadHash
        );
        assert_eq!(
            verify(&set(
                PREIMAGE_CONTENT_TYPE_LABEL,
                Value::Text("text/plain".into())
            ))
            .unwrap_err(),
            BundleError::WrongPayloadHash
        );
        assert_eq!(
            verify(&set(TYP_LABEL, Value::Text("application/cose".into()))).unwrap_err(),
            BundleError::WrongType
        );
        let content_type = resign(&bytes, &key, |s| {
            s.protected.header.content_type = Some(coset::ContentType::Text("text/plain".into()));
        });
        assert_eq!(
            verify(&content_type).unwrap_err(),
            BundleError::UnexpectedHeader("3 (content type)".into())
        );
        let extra = resign(&bytes, &key, |s| {
            s.protected
                .header
                .rest
                .push((Label::Int(260), Value::Text("x".into())));
        });
        assert_eq!(
            verify(&extra).unwrap_err(),
            BundleError::UnexpectedHeader("Int(260)".into())
        );
        let unprotected = resign(&bytes, &key, |s| {
            s.unprotected.rest.push((Label::Int(-70_000), Value::Null));
        });
        assert_eq!(
            verify(&unprotected).unwrap_err(),
            BundleError::UnexpectedHeader("in the unprotected header".into())
        );
        let short = resign(&bytes, &key, |s| s.payload = Some(vec![0; 31]));
        assert_eq!(verify(&short).unwrap_err(), BundleError::MissingPayload);
    }

    #[test]
    fn substituted_key_is_a_bad_signature() {
        let (_, bytes) = signed();
        let mallory = AuthorKey::generate().unwrap();
        let (mut sign1, module) = parts(&bytes);
        for (label, value) in &mut sign1.protected.header.rest {
            if *label == Label::Int(SIGNER_SPKI_LABEL) {
                *value = Value::Bytes(mallory.public_key().spki_der());
            }
        }
        sign1.protected.original_data = None;
        assert_eq!(
            verify(&join(&sign1, &module)).unwrap_err(),
            BundleError::BadSignature
        );
    }

    #[test]
    fn unknown_manifest_fields_are_refused_even_when_signed() {
        let (key, bytes) = signed();
        let evil = resign(&bytes, &key, |s| {
            for (label, value) in &mut s.protected.header.rest {
                if let (Label::Int(MANIFEST_LABEL), Value::Bytes(m)) = (&*label, &mut *value) {
                    let mut map: Value = ciborium::de::from_reader(m.as_slice()).unwrap();
                    if let Value::Map(entries) = &mut map {
                        entries.push((Value::Text("extra".into()), Value::Integer(1.into())));
                    }
                    *m = cbor::encode(&map);
                }
            }
        });
        assert!(matches!(
            verify(&evil),
            Err(BundleError::Payload(CborError::Malformed { .. }))
        ));
    }

    #[test]
    fn format_1_bundles_are_refused_with_a_way_forward() {
        let key = AuthorKey::generate().unwrap();
        let protected = HeaderBuilder::new()
            .algorithm(iana::Algorithm::EdDSA)
            .content_type(FORMAT_1_CONTENT_TYPE.to_owned())
            .build();
        let old = CoseSign1Builder::new()
            .protected(protected)
            .payload(vec![1, 2, 3])
            .create_signature(&[], |tbs| key.sign(tbs).to_vec())
            .build()
            .to_tagged_vec()
            .unwrap();
        let err = verify(&old).unwrap_err();
        assert_eq!(err, BundleError::OldFormat);
        assert!(err.to_string().contains("enclave sign"), "{err}");
    }

    #[test]
    fn untagged_and_oversize_are_refused() {
        let (_, bytes) = signed();
        let (envelope, module) = parts(&bytes);
        let untagged = cbor::encode(&Wire(envelope.to_vec().unwrap(), module));
        assert!(matches!(
            verify(&untagged),
            Err(BundleError::NotCoseSign1(_))
        ));
        let huge = vec![0u8; MAX_BUNDLE_BYTES + 1];
        assert!(matches!(verify(&huge), Err(BundleError::TooLarge { .. })));
    }
}
