//! Shared fixtures: a vendor root, a platform under it, sample claims, and re-signing of edited
//! tokens with the platform key (to show that checks after the signature hold on their own).
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use attest::{
    AttestationKey, Claims, EnclaveKeys, EnclavePublicKey, Measurement, ModuleDigest, ProductId,
    SignerId, Svn, VendorCa, VerifierPolicy,
};
use ciborium::Value;
use coset::{CborSerializable as _, CoseSign1, TaggedCborSerializable as _};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

pub const NONCE: [u8; 16] = [0x5a; 16];

pub struct Platform {
    pub ca: VendorCa,
    pub key: AttestationKey,
    pub now: SystemTime,
}

impl Platform {
    /// A root and a platform at TCB 7, both valid from an hour ago for a day.
    pub fn new() -> Self {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let ca = VendorCa::generate("Test Vendor Root", now - hours(1), now + hours(24)).unwrap();
        let key = ca
            .issue("test-platform", 7, now - hours(1), now + hours(24))
            .unwrap();
        Self { ca, key, now }
    }

    pub fn claims(&self) -> Claims {
        Claims {
            nonce: NONCE.to_vec(),
            issued_at: secs(self.now),
            debug: false,
            platform_id: self.key.platform_id(),
            platform_tcb: self.key.tcb(),
            measurement: Measurement::from_bytes([0x11; 32]),
            signer: SignerId::from_bytes([0x22; 32]),
            module: ModuleDigest::from_bytes([0x33; 32]),
            product_id: ProductId(4),
            svn: Svn(5),
            capabilities: vec!["log".into(), "random".into()],
            report_data: b"caller data".to_vec(),
            enclave_keys: Some(EnclaveKeys {
                measurement: EnclavePublicKey::from_bytes([0x44; 32]),
                signer: EnclavePublicKey::from_bytes([0x55; 32]),
            }),
            tls_key: None,
        }
    }

    pub fn report(&self) -> Vec<u8> {
        self.key.sign_evidence(&self.claims()).unwrap()
    }

    pub fn policy(&self) -> VerifierPolicy {
        VerifierPolicy::new(vec![self.ca.cert_der().to_vec()])
            .measurement(Measurement::from_bytes([0x11; 32]))
            .nonce(NONCE.to_vec())
    }

    /// Re-signs `bytes` with this platform's key after `edit`; the protected header is
    /// re-encoded only when `edit` clears its `original_data`.
    pub fn resign(&self, bytes: &[u8], edit: impl FnOnce(&mut CoseSign1)) -> Vec<u8> {
        resign_with(&self.key, bytes, edit)
    }

    /// Re-signs after editing the claims map.
    pub fn resign_claims(
        &self,
        bytes: &[u8],
        edit: impl FnOnce(&mut Vec<(Value, Value)>),
    ) -> Vec<u8> {
        self.resign(bytes, |s| {
            let mut value: Value =
                ciborium::de::from_reader(s.payload.as_deref().unwrap()).unwrap();
            let Value::Map(entries) = &mut value else {
                panic!("claims are not a map")
            };
            edit(entries);
            let mut payload = Vec::new();
            ciborium::ser::into_writer(&value, &mut payload).unwrap();
            s.payload = Some(payload);
        })
    }
}

pub fn resign_with(
    key: &AttestationKey,
    bytes: &[u8],
    edit: impl FnOnce(&mut CoseSign1),
) -> Vec<u8> {
    let mut sign1 = CoseSign1::from_tagged_slice(bytes).unwrap();
    edit(&mut sign1);
    let der = pem::parse(key.key_pem().as_bytes())
        .unwrap()
        .into_contents();
    let rng = SystemRandom::new();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng).unwrap();
    let tbs = sign1.tbs_data(&[]);
    sign1.signature = pair.sign(&rng, &tbs).unwrap().as_ref().to_vec();
    sign1.to_tagged_vec().unwrap()
}

/// The claims of a token, decoded without any check.
pub fn claims_map(bytes: &[u8]) -> Vec<(Value, Value)> {
    let sign1 = CoseSign1::from_tagged_slice(bytes).unwrap();
    match ciborium::de::from_reader(sign1.payload.as_deref().unwrap()).unwrap() {
        Value::Map(entries) => entries,
        _ => panic!("claims are not a map"),
    }
}

pub fn set_claim(entries: &mut [(Value, Value)], key: i64, value: Value) {
    let slot = entries
        .iter_mut()
        .find(|(k, _)| *k == Value::Integer(key.into()))
        .unwrap();
    slot.1 = value;
}

pub fn untagged_len(bytes: &[u8]) -> usize {
    CoseSign1::from_tagged_slice(bytes)
        .unwrap()
        .to_vec()
        .unwrap()
        .len()
}

pub fn hours(n: u64) -> Duration {
    Duration::from_secs(n * 3600)
}

pub fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}
