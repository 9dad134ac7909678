//! Attestation evidence (the attestation report): what an enclave is, on which platform, at
//! which moment, for which verifier nonce — as EAT claims (RFC 9711) in a COSE_Sign1 signed by
//! the platform attestation key (see [`crate::cose`] for the envelope).
//!
//! [`Claims::to_payload`] gives the deterministic claims encoding that is signed;
//! `AttestationKey::sign_evidence` (feature `platform`) signs it and [`crate::verify::verify`]
//! checks it.

use ciborium::Value;

use crate::cose::{claim, narrow, ClaimReader, ClaimWriter};
use crate::error::VerifyError;
use crate::identity::{
    EnclavePublicKey, Measurement, ModuleDigest, PlatformId, ProductId, SignerId, Svn,
};

/// `eat_profile` of evidence: names this claims layout.
pub const EVIDENCE_PROFILE: &str = "tag:enclave.invalid,2026:evidence/v1";
/// Allowed nonce lengths (RFC 9711 §4.1 requires 8 ..= 64 bytes).
pub const NONCE_LEN: std::ops::RangeInclusive<usize> = 8..=64;
/// Longest caller report data.
pub const MAX_REPORT_DATA: usize = 64;
/// The HPKE AEAD ids (RFC 9180) an enclave of this runtime reads sealed inputs with, in the
/// order evidence lists them (claim -70017, written beside the enclave keys): AES-256-GCM
/// (0x0002), ChaCha20-Poly1305 (0x0003).
pub const ENCLAVE_AEADS: [u16; 2] = [0x0002, 0x0003];
/// What evidence with enclave keys but without claim -70017 implies: ChaCha20-Poly1305 only.
pub const LEGACY_AEADS: [u16; 1] = [0x0003];
/// Most AEAD ids evidence may list.
pub const MAX_AEADS: usize = 8;
/// Most capabilities named in evidence.
pub const MAX_CAPABILITIES: usize = 32;
/// Longest capability name.
pub const MAX_CAPABILITY_LEN: usize = 64;

/// The claims of one attestation report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The verifier's nonce, 8 ..= 64 bytes.
    pub nonce: Vec<u8>,
    /// When the report was made, seconds since the Unix epoch.
    pub issued_at: u64,
    /// Whether the enclave is a debug enclave.
    pub debug: bool,
    /// The platform: SHA-256 of its attestation key's SubjectPublicKeyInfo.
    pub platform_id: PlatformId,
    /// The platform TCB version; equals the one in the attestation certificate.
    pub platform_tcb: u32,
    /// The enclave measurement.
    pub measurement: Measurement,
    /// The enclave signer.
    pub signer: SignerId,
    /// SHA-256 of the module.
    pub module: ModuleDigest,
    /// The product id from the manifest.
    pub product_id: ProductId,
    /// The security version from the manifest.
    pub svn: Svn,
    /// The capabilities the manifest grants.
    pub capabilities: Vec<String>,
    /// Caller data bound into the report, 0 ..= 64 bytes.
    pub report_data: Vec<u8>,
    /// The enclave's HPKE public keys, when it has them.
    pub enclave_keys: Option<EnclaveKeys>,
    /// SHA-256 of the SubjectPublicKeyInfo of the TLS key the runtime made and holds, present
    /// only in evidence made for an attested TLS certificate (`crate::tls`). The runtime never
    /// sets it from caller input, so evidence anyone can ask an enclave for (`report()`,
    /// `POST /v1/evidence`) cannot vouch for a TLS key.
    pub tls_key: Option<[u8; 32]>,
}

/// An enclave's HPKE (RFC 9180, DHKEM(X25519, HKDF-SHA256)) public keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnclaveKeys {
    /// Bound to the measurement: only this exact enclave can decrypt.
    pub measurement: EnclavePublicKey,
    /// Bound to signer and product id at this svn: later versions by the same signer can decrypt.
    pub signer: EnclavePublicKey,
}

/// Why evidence or a receipt could not be produced.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// A claim is outside its documented range.
    #[error("claim {claim} is out of range: {detail}")]
    ClaimOutOfRange {
        /// The claim.
        claim: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The claims name another platform or TCB than the signing key's certificate.
    #[error("claims name platform {claimed} at tcb {claimed_tcb}, but the key is platform {actual} at tcb {actual_tcb}")]
    PlatformMismatch {
        /// The platform in the claims.
        claimed: PlatformId,
        /// The TCB in the claims.
        claimed_tcb: u32,
        /// The key's platform.
        actual: PlatformId,
        /// The key's TCB.
        actual_tcb: u32,
    },
    /// The signature could not be made.
    #[error("signing failed")]
    Signing,
    /// The token could not be encoded, or is larger than a verifier accepts.
    #[error("encoding failed: {0}")]
    Encoding(String),
}

impl Claims {
    /// The claim keys evidence may carry.
    const KNOWN: [i64; 16] = [
        claim::IAT,
        claim::EAT_NONCE,
        claim::UEID,
        claim::DBGSTAT,
        claim::EAT_PROFILE,
        claim::MEASUREMENT,
        claim::SIGNER,
        claim::MODULE,
        claim::PRODUCT_ID,
        claim::SVN,
        claim::PLATFORM_TCB,
        claim::CAPABILITIES,
        claim::REPORT_DATA,
        claim::ENCLAVE_KEYS,
        claim::AEADS,
        claim::TLS_KEY,
    ];

    /// Checks every claim against its documented range.
    ///
    /// # Errors
    /// [`EvidenceError::ClaimOutOfRange`] naming the first offending claim.
    pub fn validate(&self) -> Result<(), EvidenceError> {
        let out_of_range = |claim: &'static str, detail: String| {
            Err(EvidenceError::ClaimOutOfRange { claim, detail })
        };
        if !NONCE_LEN.contains(&self.nonce.len()) {
            return out_of_range(
                "eat_nonce",
                format!("{} bytes, not 8 ..= 64", self.nonce.len()),
            );
        }
        if self.report_data.len() > MAX_REPORT_DATA {
            return out_of_range(
                "report_data",
                format!("{} bytes, more than 64", self.report_data.len()),
            );
        }
        if self.capabilities.len() > MAX_CAPABILITIES
            || self
                .capabilities
                .iter()
                .any(|c| c.len() > MAX_CAPABILITY_LEN)
        {
            return out_of_range("capabilities", "too many or too long".into());
        }
        Ok(())
    }

    /// The claims map exactly as it is signed: deterministically encoded (RFC 8949 §4.2.1).
    ///
    /// # Errors
    /// [`EvidenceError::ClaimOutOfRange`] from [`Claims::validate`].
    pub fn to_payload(&self) -> Result<Vec<u8>, EvidenceError> {
        self.validate()?;
        let mut w = ClaimWriter::default();
        w.put_text(claim::EAT_PROFILE, EVIDENCE_PROFILE);
        w.put_bytes(claim::EAT_NONCE, &self.nonce);
        w.put_uint(claim::IAT, self.issued_at);
        w.put_platform_and_debug(&self.platform_id, self.debug);
        w.put_bytes(claim::MEASUREMENT, self.measurement.as_bytes());
        w.put_bytes(claim::SIGNER, self.signer.as_bytes());
        w.put_bytes(claim::MODULE, self.module.as_bytes());
        w.put_uint(claim::PRODUCT_ID, self.product_id.0.into());
        w.put_uint(claim::SVN, self.svn.0.into());
        w.put_uint(claim::PLATFORM_TCB, self.platform_tcb.into());
        let caps = self.capabilities.iter().map(|c| Value::Text(c.clone()));
        w.put(claim::CAPABILITIES, Value::Array(caps.collect()));
        w.put_bytes(claim::REPORT_DATA, &self.report_data);
        if let Some(keys) = &self.enclave_keys {
            let pair = [keys.measurement, keys.signer].map(|k| Value::Bytes(k.as_bytes().to_vec()));
            w.put(claim::ENCLAVE_KEYS, Value::Array(pair.to_vec()));
            let aeads = ENCLAVE_AEADS.map(|id| Value::Integer(id.into()));
            w.put(claim::AEADS, Value::Array(aeads.to_vec()));
        }
        if let Some(tls_key) = &self.tls_key {
            w.put_bytes(claim::TLS_KEY, tls_key);
        }
        Ok(w.finish())
    }

    /// Decodes a signed claims map strictly: integer keys, no duplicates, the evidence profile,
    /// no unknown claims, every type and size as documented.
    pub(crate) fn from_payload(payload: &[u8]) -> Result<Self, VerifyError> {
        let mut r = ClaimReader::parse(payload)?;
        r.profile(EVIDENCE_PROFILE)?;
        r.refuse_unknown(&Self::KNOWN)?;
        advertised_aeads(&mut r)?;
        let enclave_keys = if r.has(claim::ENCLAVE_KEYS) {
            let (m, s) = r.bytes32_pair(claim::ENCLAVE_KEYS, "enclave_keys")?;
            Some(EnclaveKeys {
                measurement: EnclavePublicKey::from_bytes(m),
                signer: EnclavePublicKey::from_bytes(s),
            })
        } else {
            None
        };
        let tls_key = if r.has(claim::TLS_KEY) {
            Some(r.bytes32(claim::TLS_KEY, "tls_key")?)
        } else {
            None
        };
        Ok(Self {
            nonce: r.bytes(claim::EAT_NONCE, "eat_nonce", NONCE_LEN)?,
            issued_at: r.uint(claim::IAT, "iat", u64::MAX)?,
            debug: r.debug()?,
            platform_id: r.ueid()?,
            platform_tcb: narrow(r.uint(claim::PLATFORM_TCB, "platform_tcb", u32::MAX.into())?),
            measurement: Measurement::from_bytes(r.bytes32(claim::MEASUREMENT, "measurement")?),
            signer: SignerId::from_bytes(r.bytes32(claim::SIGNER, "signer")?),
            module: ModuleDigest::from_bytes(r.bytes32(claim::MODULE, "module")?),
            product_id: ProductId(narrow(r.uint(
                claim::PRODUCT_ID,
                "product_id",
                u16::MAX.into(),
            )?)),
            svn: Svn(narrow(r.uint(claim::SVN, "svn", u16::MAX.into())?)),
            capabilities: r.text_array(
                claim::CAPABILITIES,
                "capabilities",
                MAX_CAPABILITIES,
                MAX_CAPABILITY_LEN,
            )?,
            report_data: r.bytes(claim::REPORT_DATA, "report_data", 0..=MAX_REPORT_DATA)?,
            enclave_keys,
            tls_key,
        })
    }
}

/// Claim -70017 (optional; only beside -70009): the AEAD ids, or [`LEGACY_AEADS`] when absent.
pub(crate) fn advertised_aeads(r: &mut ClaimReader) -> Result<Vec<u16>, VerifyError> {
    if !r.has(claim::AEADS) {
        return Ok(LEGACY_AEADS.to_vec());
    }
    if !r.has(claim::ENCLAVE_KEYS) {
        return Err(VerifyError::MalformedClaims(
            "claim aeads (-70017) without enclave keys (-70009)".into(),
        ));
    }
    r.u16_set(claim::AEADS, "aeads", MAX_AEADS)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Claims {
        Claims {
            nonce: vec![7; 16],
            issued_at: 1_700_000_000,
            debug: false,
            platform_id: PlatformId::from_bytes([1; 32]),
            platform_tcb: 3,
            measurement: Measurement::from_bytes([2; 32]),
            signer: SignerId::from_bytes([3; 32]),
            module: ModuleDigest::from_bytes([4; 32]),
            product_id: ProductId(5),
            svn: Svn(6),
            capabilities: vec!["log".into(), "random".into()],
            report_data: vec![9; 64],
            enclave_keys: Some(EnclaveKeys {
                measurement: EnclavePublicKey::from_bytes([10; 32]),
                signer: EnclavePublicKey::from_bytes([11; 32]),
            }),
            tls_key: None,
        }
    }

    #[test]
    fn payload_round_trip() {
        for claims in [
            sample(),
            Claims {
                tls_key: Some([12; 32]),
                ..sample()
            },
            Claims {
                enclave_keys: None,
                debug: true,
                report_data: vec![],
                capabilities: vec![],
                ..sample()
            },
        ] {
            let payload = claims.to_payload().unwrap();
            assert_eq!(Claims::from_payload(&payload).unwrap(), claims);
        }
    }

    #[test]
    fn evidence_with_keys_advertises_both_aeads_and_old_evidence_means_chacha() {
        let mut r = ClaimReader::parse(&sample().to_payload().unwrap()).unwrap();
        assert_eq!(advertised_aeads(&mut r).unwrap(), ENCLAVE_AEADS);
        let without = Claims {
            enclave_keys: None,
            ..sample()
        };
        let mut r = ClaimReader::parse(&without.to_payload().unwrap()).unwrap();
        assert!(!r.has(claim::AEADS));
        assert_eq!(advertised_aeads(&mut r).unwrap(), LEGACY_AEADS);
    }

    #[test]
    fn malformed_aead_claims_are_refused() {
        let keys = sample().enclave_keys.unwrap();
        let pair = [keys.measurement, keys.signer].map(|k| Value::Bytes(k.as_bytes().to_vec()));
        let with = |aeads: Option<Value>, keys: bool| {
            let mut w = ClaimWriter::default();
            if keys {
                w.put(claim::ENCLAVE_KEYS, Value::Array(pair.to_vec()));
            }
            if let Some(aeads) = aeads {
                w.put(claim::AEADS, aeads);
            }
            advertised_aeads(&mut ClaimReader::parse(&w.finish()).unwrap())
        };
        let ints =
            |ids: &[i64]| Value::Array(ids.iter().map(|i| Value::Integer((*i).into())).collect());
        assert_eq!(with(Some(ints(&[3, 2])), true).unwrap(), vec![3, 2]);
        for bad in [
            ints(&[]),
            ints(&[2, 2]),
            ints(&[65536]),
            ints(&[-1]),
            ints(&[1, 2, 3, 4, 5, 6, 7, 8, 9]),
            Value::Integer(2.into()),
        ] {
            assert!(
                matches!(
                    with(Some(bad.clone()), true),
                    Err(VerifyError::MalformedClaims(_))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            with(Some(ints(&[2])), false),
            Err(VerifyError::MalformedClaims(_))
        ));
    }

    #[test]
    fn out_of_range_claims_are_not_signed() {
        for claims in [
            Claims {
                nonce: vec![0; 7],
                ..sample()
            },
            Claims {
                nonce: vec![0; 65],
                ..sample()
            },
            Claims {
                report_data: vec![0; 65],
                ..sample()
            },
        ] {
            assert!(matches!(
                claims.to_payload(),
                Err(EvidenceError::ClaimOutOfRange { .. })
            ));
        }
    }

    #[test]
    fn payload_starts_with_sorted_standard_claims() {
        let payload = sample().to_payload().unwrap();
        // Map header, then iat (6) and eat_nonce (10) first: keys sorted by their encoding.
        assert_eq!(payload[0], 0xa0 + 15);
        assert_eq!(payload[1], 0x06);
    }
}
