//! The signed envelope shared by attestation evidence and execution receipts: one tagged
//! COSE_Sign1 (RFC 9052) signed with ES256 by a platform attestation key, whose X.509 chain
//! travels in the protected `x5chain` header (RFC 9360), around an EAT claims map (RFC 9711).
//!
//! `open` (crate-private) runs the structural checks both token kinds share, in this order: size cap, CBOR and
//! COSE structure, algorithm allow-list, content type, `x5chain`, the chain to a pinned root at
//! the caller's time (webpki), the leaf's TCB extension, and the signature over the exact
//! received bytes. Only then does the caller decode the claims, through a strict claims reader.

use std::collections::BTreeMap;
use std::time::SystemTime;

use ciborium::Value;
use coset::{iana, AsCborValue as _, CoseSign1, Label};
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

use crate::cbor::{self, CborError};
use crate::chain::{self, LeafDetails};
use crate::error::VerifyError;
use crate::identity::PlatformId;
use crate::trust::TrustedRoots;

pub use crate::chain::{OID_ATTESTATION_SIGNING, OID_PLATFORM_TCB};

/// Largest evidence or receipt accepted, checked before any parsing.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// Content type in the protected header (COSE label 3): an EAT in a CWT-shaped COSE message.
pub const CONTENT_TYPE: &str = "application/eat+cwt";
/// COSE header label of `x5chain` (RFC 9360): the DER certificates, leaf first.
pub const X5CHAIN_LABEL: i64 = 33;
/// CBOR tag of a COSE_Sign1 (RFC 9052 §4.2).
const COSE_SIGN1_TAG: u64 = 18;
/// Most certificates accepted in `x5chain`.
pub const MAX_CHAIN_CERTS: usize = 4;

/// Claim keys of the EAT claims maps (see `docs/formats.md`). Standard claims use their IANA
/// CWT keys; this project's private claims use keys below -65536 (RFC 8392 §4, RFC 9711 §4).
pub mod claim {
    /// `iat` (RFC 8392): issued-at, seconds since the Unix epoch.
    pub const IAT: i64 = 6;
    /// `eat_nonce` (RFC 9711 §4.1): the verifier's nonce.
    pub const EAT_NONCE: i64 = 10;
    /// `ueid` (RFC 9711 §4.2.1): 0x01 (RAND type) followed by the 32-byte platform id.
    pub const UEID: i64 = 256;
    /// `dbgstat` (RFC 9711 §4.2.9).
    pub const DBGSTAT: i64 = 263;
    /// `eat_profile` (RFC 9711 §4.3.2): a `tag:` URI naming the claims layout.
    pub const EAT_PROFILE: i64 = 265;
    /// Measurement (MRENCLAVE analog), bstr 32.
    pub const MEASUREMENT: i64 = -70001;
    /// Signer id (MRSIGNER analog), bstr 32.
    pub const SIGNER: i64 = -70002;
    /// SHA-256 of the wasm module, bstr 32.
    pub const MODULE: i64 = -70003;
    /// Product id, uint 0 ..= 65535.
    pub const PRODUCT_ID: i64 = -70004;
    /// Security version, uint 0 ..= 65535.
    pub const SVN: i64 = -70005;
    /// Platform TCB version, uint 0 ..= 2^32 - 1.
    pub const PLATFORM_TCB: i64 = -70006;
    /// Granted capabilities, array of tstr.
    pub const CAPABILITIES: i64 = -70007;
    /// Caller report data, bstr 0 ..= 64.
    pub const REPORT_DATA: i64 = -70008;
    /// Enclave HPKE public keys, `[measurement-bound bstr 32, signer-bound bstr 32]`.
    pub const ENCLAVE_KEYS: i64 = -70009;
    /// SHA-256 of the sealed input, bstr 32.
    pub const INPUT_DIGEST: i64 = -70010;
    /// The HPKE AEAD ids (RFC 9180) the enclave reads sealed inputs with, array of uint; in
    /// evidence, beside [`ENCLAVE_KEYS`].
    pub const AEADS: i64 = -70017;
    /// SHA-256 of the sealed output, bstr 32 (all zero when the run failed).
    pub const OUTPUT_DIGEST: i64 = -70011;
    /// The requester's nonce from the sealed input, bstr 0 ..= 64.
    pub const REQUEST_NONCE: i64 = -70012;
    /// Fuel consumed by the run, uint.
    pub const FUEL_USED: i64 = -70013;
    /// Outcome of the run: 0 = success, 1 = failed.
    pub const OUTCOME: i64 = -70014;
    /// Why the run failed, tstr ≤ 1024 bytes; present exactly when `OUTCOME` is 1.
    pub const FAILURE: i64 = -70015;
    /// The guest's exit code (WASI `proc_exit`), int32; absent when there is none.
    pub const EXIT_CODE: i64 = -70016;
    /// SHA-256 of the SubjectPublicKeyInfo of a TLS key the runtime generated and holds, bstr
    /// 32; only in evidence made for an attested TLS certificate (`attest::tls`).
    pub const TLS_KEY: i64 = -70018;
    /// The version of the enclave's sealed store after a run that holds it (its platform
    /// counter's value), uint; in receipts, with [`STORE_HEAD`] (both or neither).
    pub const STORE_VERSION: i64 = -70030;
    /// The digest of the sealed store's head after the run, bstr 32; in receipts, with
    /// [`STORE_VERSION`].
    pub const STORE_HEAD: i64 = -70031;

    /// `dbgstat` value of a debug enclave: "enabled".
    pub const DBGSTAT_ENABLED: u64 = 0;
    /// `dbgstat` value of a production enclave: "disabled-permanently" (the debug flag is part of
    /// the measurement, so a production enclave can never become debuggable).
    pub const DBGSTAT_DISABLED_PERMANENTLY: u64 = 3;
    /// First byte of the `ueid`: RAND type (RFC 9711 §4.2.1.1).
    pub const UEID_TYPE_RAND: u8 = 0x01;
}

/// The protected header of every token one attestation key signs — ES256, the content type,
/// `chain` (DER, leaf first) in `x5chain` — with its encoding made once, so that signing does not
/// re-encode the certificates twice per token.
#[cfg(feature = "platform")]
pub(crate) fn protected_header(chain: &[Vec<u8>]) -> Result<coset::ProtectedHeader, String> {
    use coset::{CborSerializable as _, HeaderBuilder, ProtectedHeader};
    let certs = chain.iter().map(|der| Value::Bytes(der.clone())).collect();
    let header = HeaderBuilder::new()
        .algorithm(iana::Algorithm::ES256)
        .content_type(CONTENT_TYPE.to_owned())
        .value(X5CHAIN_LABEL, Value::Array(certs))
        .build();
    let fresh = ProtectedHeader {
        original_data: None,
        header,
    };
    // Exactly the bytes coset writes for a header it has not parsed.
    let data = fresh.clone().to_vec().map_err(|e| e.to_string())?;
    Ok(ProtectedHeader {
        original_data: Some(data),
        ..fresh
    })
}

/// Builds the tagged COSE_Sign1 over `payload` with `protected` (from [`protected_header`]);
/// `sign` gets the Sig_structure and returns the raw `r || s` ES256 signature.
#[cfg(feature = "platform")]
pub(crate) fn sign1<E>(
    protected: &coset::ProtectedHeader,
    payload: Vec<u8>,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    encoding: impl FnOnce(String) -> E,
) -> Result<Vec<u8>, E> {
    let mut sign1 = CoseSign1 {
        protected: protected.clone(),
        unprotected: coset::Header::default(),
        payload: Some(payload),
        signature: Vec::new(),
    };
    sign1.signature = sign(&sign1.tbs_data(&[]))?;
    let inner = sign1.to_cbor_value().map_err(|e| encoding(e.to_string()))?;
    Ok(cbor::encode(&Value::Tag(COSE_SIGN1_TAG, Box::new(inner))))
}

/// What [`open`] established about a token whose structure, chain and signature all hold.
#[derive(Debug)]
pub(crate) struct Opened {
    /// The signed payload bytes, exactly as received.
    pub(crate) payload: Vec<u8>,
    /// The leaf certificate's SubjectPublicKeyInfo DER.
    pub(crate) leaf_spki: Vec<u8>,
    /// The TCB version from the leaf certificate's extension.
    pub(crate) certificate_tcb: u32,
}

/// Runs the structural checks shared by evidence and receipts (see the module docs); the chain
/// is validated by `roots`, which may reuse an earlier validation of the same bytes.
pub(crate) fn open(
    bytes: &[u8],
    roots: &TrustedRoots,
    now: SystemTime,
) -> Result<Opened, VerifyError> {
    let sign1 = parse(bytes)?;
    check_header(&sign1)?;
    let chain = x5chain(&sign1)?;
    let LeafDetails { spki, tcb } = roots.validate(&chain, now)?;
    let point = spki
        .get(chain::P256_SPKI_PREFIX.len()..)
        .ok_or(VerifyError::UnsupportedKey)?;
    // coset builds the Sig_structure from the protected header bytes exactly as received.
    sign1
        .verify_signature(&[], |sig, tbs| {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(tbs, sig)
        })
        .map_err(|_| VerifyError::BadSignature)?;
    let payload = sign1.payload.ok_or(VerifyError::MissingPayload)?;
    Ok(Opened {
        payload,
        leaf_spki: spki,
        certificate_tcb: tcb,
    })
}

fn parse(bytes: &[u8]) -> Result<CoseSign1, VerifyError> {
    let value: Value =
        cbor::decode_exact("attestation token", bytes, MAX_TOKEN_BYTES).map_err(|e| match e {
            CborError::TooLarge { size, limit, .. } => VerifyError::TooLarge { size, limit },
            other => VerifyError::Malformed(other.to_string()),
        })?;
    match value {
        Value::Tag(COSE_SIGN1_TAG, inner) => CoseSign1::from_cbor_value(*inner)
            .map_err(|e| VerifyError::Malformed(format!("not a COSE_Sign1: {e}"))),
        _ => Err(VerifyError::Malformed(
            "expected a COSE_Sign1 with tag 18".into(),
        )),
    }
}

fn check_header(sign1: &CoseSign1) -> Result<(), VerifyError> {
    let header = &sign1.protected.header;
    match &header.alg {
        Some(coset::Algorithm::Assigned(iana::Algorithm::ES256)) => {}
        Some(other) => return Err(VerifyError::DisallowedAlgorithm(format!("{other:?}"))),
        None => return Err(VerifyError::DisallowedAlgorithm("(none)".into())),
    }
    if header.content_type != Some(coset::ContentType::Text(CONTENT_TYPE.to_owned())) {
        return Err(VerifyError::WrongContentType);
    }
    if !header.crit.is_empty() || !sign1.unprotected.is_empty() {
        return Err(VerifyError::UnexpectedHeader);
    }
    let unknown = header
        .rest
        .iter()
        .any(|(label, _)| *label != Label::Int(X5CHAIN_LABEL));
    if unknown
        || !header.key_id.is_empty()
        || !header.iv.is_empty()
        || !header.partial_iv.is_empty()
        || !header.counter_signatures.is_empty()
    {
        return Err(VerifyError::UnexpectedHeader);
    }
    Ok(())
}

/// The `x5chain` certificates: one bstr or an array of 1 ..= [`MAX_CHAIN_CERTS`] bstr
/// (RFC 9360 §2), leaf first. coset has already refused a duplicate label.
fn x5chain(sign1: &CoseSign1) -> Result<Vec<Vec<u8>>, VerifyError> {
    let value = sign1
        .protected
        .header
        .rest
        .iter()
        .find(|(label, _)| *label == Label::Int(X5CHAIN_LABEL))
        .map(|(_, value)| value)
        .ok_or(VerifyError::MissingChain)?;
    let chain = match value {
        Value::Bytes(der) => vec![der.clone()],
        Value::Array(items) if (1..=MAX_CHAIN_CERTS).contains(&items.len()) => items
            .iter()
            .map(|item| match item {
                Value::Bytes(der) => Ok(der.clone()),
                _ => Err(VerifyError::MissingChain),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(VerifyError::MissingChain),
    };
    Ok(chain)
}

/// Refuses claims that name another platform (or TCB) than the certificate that signed them.
pub(crate) fn check_platform(
    opened: &Opened,
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

/// Narrows a value [`ClaimReader::uint`] has already bounded to the target type's range.
pub(crate) fn narrow<T: TryFrom<u64> + Default>(value: u64) -> T {
    T::try_from(value).unwrap_or_default()
}

/// Collects the claims of an EAT map for strict, typed reading.
///
/// Keys must be integers and unique; callers check the profile, then [`Self::refuse_unknown`],
/// then take each claim with a typed getter.
#[derive(Debug)]
pub(crate) struct ClaimReader {
    claims: BTreeMap<i64, Value>,
}

impl ClaimReader {
    pub(crate) fn parse(payload: &[u8]) -> Result<Self, VerifyError> {
        let value: Value = cbor::decode_exact("claims", payload, MAX_TOKEN_BYTES)
            .map_err(|e| VerifyError::MalformedClaims(e.to_string()))?;
        let Value::Map(entries) = value else {
            return Err(VerifyError::MalformedClaims("claims are not a map".into()));
        };
        let mut claims = BTreeMap::new();
        for (key, value) in entries {
            let key = match key {
                Value::Integer(i) => i64::try_from(i128::from(i)).ok(),
                _ => None,
            }
            .ok_or_else(|| VerifyError::MalformedClaims("a claim key is not an integer".into()))?;
            if claims.insert(key, value).is_some() {
                return Err(VerifyError::DuplicateClaim(key));
            }
        }
        Ok(Self { claims })
    }

    /// Refuses the first claim whose key is not in `known`.
    pub(crate) fn refuse_unknown(&self, known: &[i64]) -> Result<(), VerifyError> {
        match self.claims.keys().find(|key| !known.contains(key)) {
            Some(key) => Err(VerifyError::UnknownClaim(*key)),
            None => Ok(()),
        }
    }

    pub(crate) fn has(&self, key: i64) -> bool {
        self.claims.contains_key(&key)
    }

    fn take(&mut self, key: i64, name: &'static str) -> Result<Value, VerifyError> {
        self.claims
            .remove(&key)
            .ok_or_else(|| VerifyError::MalformedClaims(format!("claim {name} ({key}) is missing")))
    }

    pub(crate) fn bytes(
        &mut self,
        key: i64,
        name: &'static str,
        len: std::ops::RangeInclusive<usize>,
    ) -> Result<Vec<u8>, VerifyError> {
        match self.take(key, name)? {
            Value::Bytes(b) if len.contains(&b.len()) => Ok(b),
            _ => Err(wrong_type(
                name,
                key,
                "a byte string of the documented length",
            )),
        }
    }

    pub(crate) fn bytes32(
        &mut self,
        key: i64,
        name: &'static str,
    ) -> Result<[u8; 32], VerifyError> {
        let b = self.bytes(key, name, 32..=32)?;
        b.try_into()
            .map_err(|_| wrong_type(name, key, "a 32-byte byte string"))
    }

    pub(crate) fn uint(
        &mut self,
        key: i64,
        name: &'static str,
        max: u64,
    ) -> Result<u64, VerifyError> {
        match self.take(key, name)? {
            Value::Integer(i) => u64::try_from(i128::from(i))
                .ok()
                .filter(|v| *v <= max)
                .ok_or_else(|| wrong_type(name, key, "an unsigned integer in range")),
            _ => Err(wrong_type(name, key, "an unsigned integer")),
        }
    }

    pub(crate) fn int32(&mut self, key: i64, name: &'static str) -> Result<i32, VerifyError> {
        match self.take(key, name)? {
            Value::Integer(i) => {
                i32::try_from(i128::from(i)).map_err(|_| wrong_type(name, key, "a 32-bit integer"))
            }
            _ => Err(wrong_type(name, key, "an integer")),
        }
    }

    pub(crate) fn text(
        &mut self,
        key: i64,
        name: &'static str,
        max: usize,
    ) -> Result<String, VerifyError> {
        match self.take(key, name)? {
            Value::Text(t) if t.len() <= max => Ok(t),
            _ => Err(wrong_type(
                name,
                key,
                "a text string of the documented length",
            )),
        }
    }

    pub(crate) fn text_array(
        &mut self,
        key: i64,
        name: &'static str,
        max_items: usize,
        max_len: usize,
    ) -> Result<Vec<String>, VerifyError> {
        let items = match self.take(key, name)? {
            Value::Array(items) if items.len() <= max_items => items,
            _ => return Err(wrong_type(name, key, "an array of the documented length")),
        };
        items
            .into_iter()
            .map(|item| match item {
                Value::Text(t) if t.len() <= max_len => Ok(t),
                _ => Err(wrong_type(
                    name,
                    key,
                    "text strings of the documented length",
                )),
            })
            .collect()
    }

    /// An array of 1 ..= `max_items` distinct unsigned integers up to 65535.
    pub(crate) fn u16_set(
        &mut self,
        key: i64,
        name: &'static str,
        max_items: usize,
    ) -> Result<Vec<u16>, VerifyError> {
        let expected =
            "an array of distinct unsigned integers up to 65535, of the documented length";
        let items = match self.take(key, name)? {
            Value::Array(items) if (1..=max_items).contains(&items.len()) => items,
            _ => return Err(wrong_type(name, key, expected)),
        };
        let mut out: Vec<u16> = Vec::with_capacity(items.len());
        for item in items {
            let value = match item {
                Value::Integer(i) => u16::try_from(i128::from(i)).ok(),
                _ => None,
            }
            .filter(|v| !out.contains(v))
            .ok_or_else(|| wrong_type(name, key, expected))?;
            out.push(value);
        }
        Ok(out)
    }

    pub(crate) fn bytes32_pair(
        &mut self,
        key: i64,
        name: &'static str,
    ) -> Result<([u8; 32], [u8; 32]), VerifyError> {
        let items = match self.take(key, name)? {
            Value::Array(items) => items,
            _ => {
                return Err(wrong_type(
                    name,
                    key,
                    "an array of two 32-byte byte strings",
                ))
            }
        };
        let mut keys = items.into_iter().map(|item| match item {
            Value::Bytes(b) => <[u8; 32]>::try_from(b).ok(),
            _ => None,
        });
        match (keys.next(), keys.next(), keys.next()) {
            (Some(Some(a)), Some(Some(b)), None) => Ok((a, b)),
            _ => Err(wrong_type(
                name,
                key,
                "an array of two 32-byte byte strings",
            )),
        }
    }
}

impl ClaimReader {
    /// `dbgstat` as the debug flag: 0 is a debug enclave, 3 a production one.
    pub(crate) fn debug(&mut self) -> Result<bool, VerifyError> {
        match self.uint(claim::DBGSTAT, "dbgstat", u64::MAX)? {
            claim::DBGSTAT_ENABLED => Ok(true),
            claim::DBGSTAT_DISABLED_PERMANENTLY => Ok(false),
            _ => Err(wrong_type("dbgstat", claim::DBGSTAT, "0 or 3")),
        }
    }

    /// The platform id from the `ueid`.
    pub(crate) fn ueid(&mut self) -> Result<PlatformId, VerifyError> {
        let ueid = self.bytes(claim::UEID, "ueid", 33..=33)?;
        match ueid.split_first() {
            Some((&claim::UEID_TYPE_RAND, id)) => <[u8; 32]>::try_from(id)
                .map(PlatformId::from_bytes)
                .map_err(|_| wrong_type("ueid", claim::UEID, "0x01 and 32 bytes")),
            _ => Err(wrong_type("ueid", claim::UEID, "0x01 and 32 bytes")),
        }
    }

    /// Refuses a claims map whose `eat_profile` is not `expected`; checked before anything else
    /// so that a receipt handed to the evidence verifier (or the reverse) says so.
    pub(crate) fn profile(&mut self, expected: &'static str) -> Result<(), VerifyError> {
        let got = self.text(claim::EAT_PROFILE, "eat_profile", 256)?;
        if got == expected {
            Ok(())
        } else {
            Err(VerifyError::WrongProfile { expected, got })
        }
    }
}

impl ClaimWriter {
    pub(crate) fn put_bytes(&mut self, key: i64, bytes: &[u8]) {
        self.put(key, Value::Bytes(bytes.to_vec()));
    }

    pub(crate) fn put_uint(&mut self, key: i64, value: u64) {
        self.put(key, Value::Integer(value.into()));
    }

    pub(crate) fn put_text(&mut self, key: i64, text: &str) {
        self.put(key, Value::Text(text.to_owned()));
    }

    /// `ueid` from the platform id, and `dbgstat` from the debug flag.
    pub(crate) fn put_platform_and_debug(&mut self, platform: &PlatformId, debug: bool) {
        let mut ueid = vec![claim::UEID_TYPE_RAND];
        ueid.extend_from_slice(platform.as_bytes());
        self.put(claim::UEID, Value::Bytes(ueid));
        let dbgstat = if debug {
            claim::DBGSTAT_ENABLED
        } else {
            claim::DBGSTAT_DISABLED_PERMANENTLY
        };
        self.put_uint(claim::DBGSTAT, dbgstat);
    }
}

fn wrong_type(name: &'static str, key: i64, expected: &str) -> VerifyError {
    VerifyError::MalformedClaims(format!("claim {name} ({key}) must be {expected}"))
}

/// Builds an EAT claims map in the deterministic encoding of RFC 8949 §4.2.1: definite lengths,
/// shortest integer forms (ciborium's), and keys sorted by the bytewise order of their encodings.
#[derive(Debug, Default)]
pub(crate) struct ClaimWriter {
    claims: Vec<(Vec<u8>, Value, Value)>,
}

impl ClaimWriter {
    pub(crate) fn put(&mut self, key: i64, value: Value) {
        let key = Value::Integer(key.into());
        self.claims.push((cbor::encode(&key), key, value));
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.claims.sort_by(|a, b| a.0.cmp(&b.0));
        let entries = self.claims.into_iter().map(|(_, k, v)| (k, v)).collect();
        cbor::encode(&Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_keys_are_sorted_by_encoding() {
        let mut w = ClaimWriter::default();
        for key in [-70002, 265, 6, -70001, 10, 256, -1, 24] {
            w.put(key, Value::Bool(true));
        }
        let bytes = w.finish();
        let Value::Map(entries) = ciborium::de::from_reader(bytes.as_slice()).unwrap() else {
            panic!("not a map")
        };
        let keys: Vec<i128> = entries
            .iter()
            .map(|(k, _)| i128::from(k.as_integer().unwrap()))
            .collect();
        assert_eq!(keys, [6, 10, 24, 256, 265, -1, -70001, -70002]);
        assert_eq!(cbor::encode(&Value::Map(entries)), bytes);
    }

    #[test]
    fn reader_refuses_duplicates_and_unknown_keys() {
        let dup = cbor::encode(&Value::Map(vec![
            (Value::Integer(6.into()), Value::Integer(1.into())),
            (Value::Integer(6.into()), Value::Integer(2.into())),
        ]));
        assert_eq!(
            ClaimReader::parse(&dup).unwrap_err(),
            VerifyError::DuplicateClaim(6)
        );
        let text_key = cbor::encode(&Value::Map(vec![(
            Value::Text("iat".into()),
            Value::Integer(1.into()),
        )]));
        assert!(matches!(
            ClaimReader::parse(&text_key),
            Err(VerifyError::MalformedClaims(_))
        ));
        let reader = ClaimReader::parse(&cbor::encode(&Value::Map(vec![(
            Value::Integer(7.into()),
            Value::Null,
        )])))
        .unwrap();
        assert_eq!(
            reader.refuse_unknown(&[6]).unwrap_err(),
            VerifyError::UnknownClaim(7)
        );
    }
}
