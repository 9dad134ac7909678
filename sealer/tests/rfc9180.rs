//! The HPKE layer against RFC 9180 Appendix A.2.1 (`tests/vectors/rfc9180-a2-1.json`): the
//! suite `sealer` uses, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, base mode.
//! Every field of the vector file is checked; unknown fields are refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failing test"
)]

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::{Kem as _, X25519HkdfSha256};
use hpke::rand_core::{CryptoRng, RngCore};
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};

type Kem = X25519HkdfSha256;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    source: String,
    mode: u8,
    kem_id: u16,
    kdf_id: u16,
    aead_id: u16,
    info: String,
    #[serde(rename = "ikmE")]
    ikm_e: String,
    #[serde(rename = "pkEm")]
    pk_em: String,
    #[serde(rename = "skEm")]
    sk_em: String,
    #[serde(rename = "ikmR")]
    ikm_r: String,
    #[serde(rename = "pkRm")]
    pk_rm: String,
    #[serde(rename = "skRm")]
    sk_rm: String,
    enc: String,
    key: String,
    base_nonce: String,
    encryptions: Vec<Encryption>,
    exports: Vec<Export>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Encryption {
    sequence_number: u64,
    pt: String,
    aad: String,
    nonce: String,
    ct: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Export {
    exporter_context: String,
    #[serde(rename = "L")]
    len: usize,
    exported_value: String,
}

fn h(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap()
}

/// Hands out the vector's `ikmE` as the ephemeral key's randomness, then refuses to go on.
struct FixedRng(Vec<u8>);

impl RngCore for FixedRng {
    fn next_u32(&mut self) -> u32 {
        unimplemented!("hpke only calls fill_bytes")
    }
    fn next_u64(&mut self) -> u64 {
        unimplemented!("hpke only calls fill_bytes")
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        assert!(dest.len() <= self.0.len(), "ikmE exhausted");
        let rest = self.0.split_off(dest.len());
        dest.copy_from_slice(&self.0);
        self.0 = rest;
    }
}

impl CryptoRng for FixedRng {}

fn load() -> Vector {
    let text = include_str!("vectors/rfc9180-a2-1.json");
    serde_json::from_str(text).unwrap()
}

#[test]
fn rfc9180_a2_1_base_x25519_sha256_chacha20poly1305() {
    let v = load();
    assert!(v.source.contains("RFC 9180") && v.source.contains("A.2.1"));
    assert_eq!((v.mode, v.kem_id, v.kdf_id, v.aead_id), (0, 0x20, 1, 3));

    // DeriveKeyPair for both parties.
    let (sk_r, pk_r) = Kem::derive_keypair(&h(&v.ikm_r));
    assert_eq!(sk_r.to_bytes().to_vec(), h(&v.sk_rm));
    assert_eq!(pk_r.to_bytes().to_vec(), h(&v.pk_rm));
    let (sk_e, pk_e) = Kem::derive_keypair(&h(&v.ikm_e));
    assert_eq!(sk_e.to_bytes().to_vec(), h(&v.sk_em));
    assert_eq!(pk_e.to_bytes().to_vec(), h(&v.pk_em));

    // The sender with ikmE reproduces enc; the receiver sets up from enc and skRm.
    let info = h(&v.info);
    let (enc, mut sender) = hpke::setup_sender::<ChaCha20Poly1305, HkdfSha256, Kem, _>(
        &OpModeS::Base,
        &pk_r,
        &info,
        &mut FixedRng(h(&v.ikm_e)),
    )
    .unwrap();
    assert_eq!(enc.to_bytes().to_vec(), h(&v.enc));
    let sk_r = <Kem as hpke::kem::Kem>::PrivateKey::from_bytes(&h(&v.sk_rm)).unwrap();
    let enc = <Kem as hpke::kem::Kem>::EncappedKey::from_bytes(&h(&v.enc)).unwrap();
    let mut receiver = hpke::setup_receiver::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeR::Base,
        &sk_r,
        &enc,
        &info,
    )
    .unwrap();

    // Walk the sequence numbers: listed ones are checked against the vector (sealed by the
    // sender, opened by the receiver); the others only advance both contexts.
    let last = v
        .encryptions
        .iter()
        .map(|e| e.sequence_number)
        .max()
        .unwrap();
    let mut checked = 0;
    for seq in 0..=last {
        match v.encryptions.iter().find(|e| e.sequence_number == seq) {
            Some(e) => {
                let ct = sender.seal(&h(&e.pt), &h(&e.aad)).unwrap();
                assert_eq!(ct, h(&e.ct), "seq {seq}");
                assert_eq!(receiver.open(&h(&e.ct), &h(&e.aad)).unwrap(), h(&e.pt));
                checked += 1;
            }
            None => {
                let aad = format!("Count-{seq}");
                let ct = sender.seal(b"filler", aad.as_bytes()).unwrap();
                receiver.open(&ct, aad.as_bytes()).unwrap();
            }
        }
    }
    assert_eq!(checked, v.encryptions.len());

    // key and base_nonce: each listed nonce is base_nonce XOR seq, and opens the ciphertext.
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &h(&v.key)).unwrap());
    for e in &v.encryptions {
        let mut nonce: [u8; 12] = h(&v.base_nonce).try_into().unwrap();
        for (n, s) in nonce[4..].iter_mut().zip(e.sequence_number.to_be_bytes()) {
            *n ^= s;
        }
        assert_eq!(nonce.to_vec(), h(&e.nonce), "seq {}", e.sequence_number);
        let mut buf = h(&e.ct);
        let plain = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(h(&e.aad)),
                &mut buf,
            )
            .unwrap();
        assert_eq!(plain, h(&e.pt).as_slice());
    }

    // Exporter values, from both sides.
    assert!(!v.exports.is_empty());
    for x in &v.exports {
        let mut from_receiver = vec![0; x.len];
        receiver
            .export(&h(&x.exporter_context), &mut from_receiver)
            .unwrap();
        assert_eq!(
            from_receiver,
            h(&x.exported_value),
            "context {:?}",
            x.exporter_context
        );
        let mut from_sender = vec![0; x.len];
        sender
            .export(&h(&x.exporter_context), &mut from_sender)
            .unwrap();
        assert_eq!(from_sender, from_receiver);
    }
}
