//! The enclave's side of DHKEM(X25519, HKDF-SHA256) (RFC 9180 §4.1, KEM id 0x0020) as an
//! [`hpke::Kem`], so that `hpke` still runs the key schedule, the AEAD and the exporter.
//!
//! Two things differ from `hpke`'s own `X25519HkdfSha256`, not a byte of what it computes:
//! the X25519 is AWS-LC's (`aws-lc-rs`; s2n-bignum's assembly on x86_64 and aarch64, 2.2–2.6×
//! faster than x25519-dalek's portable ladder), and the private key keeps its public
//! key, computed once when the enclave's key pair is derived, where `hpke` recomputes it on every
//! decapsulation for the `kem_context`. The composition is the only code here:
//!
//! ```text
//! dh            = X25519(skR, enc)             (refused when all zero, RFC 9180 §7.1.4)
//! kem_context   = enc || pkR
//! shared_secret = ExtractAndExpand(dh, kem_context)  over suite_id "KEM" || I2OSP(0x0020, 2)
//! ```
//!
//! with `ExtractAndExpand` `hpke`'s own. Only the base mode is served: the sealed formats use no
//! other, so a sender identity key (auth mode) is refused. Key derivation (`DeriveKeyPair`) and
//! encapsulation are `hpke`'s, converted.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::agreement;
use hpke::generic_array::typenum::U32;
use hpke::kem::{SharedSecret, X25519HkdfSha256};
use hpke::rand_core::{CryptoRng, RngCore};
use hpke::{Deserializable, HpkeError, Serializable};
use zeroize::{Zeroize as _, Zeroizing};

/// RFC 9180 `suite_id` of the KEM's own KDF calls: `"KEM" || I2OSP(kem_id, 2)`.
const KEM_SUITE_ID: [u8; 5] = [b'K', b'E', b'M', 0x00, 0x20];
/// `Npk`, `Nenc` and `Nsk` of DHKEM(X25519, HKDF-SHA256) (RFC 9180 §7.1, Table 2).
const KEY_LEN: usize = 32;

/// DHKEM(X25519, HKDF-SHA256) with AWS-LC's X25519 and a kept public key; see the module docs.
#[derive(Debug)]
pub(crate) struct EnclaveKem;

/// An X25519 public key (`pkR`), or an encapsulated key (`enc`, the sender's ephemeral public
/// key): 32 bytes, as RFC 7748 encodes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KemPublicKey([u8; KEY_LEN]);

/// The enclave's X25519 private key, its public key, and AWS-LC's parsed form of it.
///
/// The scalar is zeroized on drop (`Zeroizing`); AWS-LC cleanses its copy when the last
/// reference frees it (`OPENSSL_free` wipes every allocation it returns).
#[derive(Clone)]
pub(crate) struct KemPrivateKey {
    scalar: Zeroizing<[u8; KEY_LEN]>,
    public: KemPublicKey,
    /// `None` only if AWS-LC could not allocate the key (it fails on nothing else for 32 bytes);
    /// every decapsulation then fails. `hpke::Kem::derive_keypair` has no way to report it.
    agreement: Option<Arc<agreement::PrivateKey>>,
}

impl KemPrivateKey {
    /// The key of `scalar` with its public key `public`, which the caller computed from it.
    fn with_public(scalar: Zeroizing<[u8; KEY_LEN]>, public: KemPublicKey) -> Self {
        let agreement =
            agreement::PrivateKey::from_private_key(&agreement::X25519, scalar.as_slice())
                .ok()
                .map(Arc::new);
        Self {
            scalar,
            public,
            agreement,
        }
    }
}

impl PartialEq for KemPrivateKey {
    /// In constant time over the scalars.
    fn eq(&self, other: &Self) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(
            self.scalar.as_slice(),
            other.scalar.as_slice(),
        )
        .is_ok()
    }
}

impl Eq for KemPrivateKey {}

impl fmt::Debug for KemPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KemPrivateKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl Serializable for KemPublicKey {
    type OutputSize = U32;

    fn write_exact(&self, buf: &mut [u8]) {
        // `hpke` always passes `OutputSize` bytes (its `to_bytes` allocates them).
        buf.copy_from_slice(&self.0);
    }
}

impl Deserializable for KemPublicKey {
    fn from_bytes(encoded: &[u8]) -> Result<Self, HpkeError> {
        <[u8; KEY_LEN]>::try_from(encoded)
            .map(Self)
            .map_err(|_| HpkeError::IncorrectInputLength(KEY_LEN, encoded.len()))
    }
}

impl Serializable for KemPrivateKey {
    type OutputSize = U32;

    fn write_exact(&self, buf: &mut [u8]) {
        buf.copy_from_slice(self.scalar.as_slice());
    }
}

impl Deserializable for KemPrivateKey {
    /// Parses the scalar and computes its public key with AWS-LC.
    fn from_bytes(encoded: &[u8]) -> Result<Self, HpkeError> {
        let scalar = Zeroizing::new(
            <[u8; KEY_LEN]>::try_from(encoded)
                .map_err(|_| HpkeError::IncorrectInputLength(KEY_LEN, encoded.len()))?,
        );
        let key = agreement::PrivateKey::from_private_key(&agreement::X25519, scalar.as_slice())
            .map_err(|_| HpkeError::ValidationError)?;
        let public = key
            .compute_public_key()
            .map_err(|_| HpkeError::ValidationError)
            .and_then(|public| KemPublicKey::from_bytes(public.as_ref()))?;
        Ok(Self {
            scalar,
            public,
            agreement: Some(Arc::new(key)),
        })
    }
}

impl hpke::Kem for EnclaveKem {
    type PublicKey = KemPublicKey;
    type PrivateKey = KemPrivateKey;
    type EncappedKey = KemPublicKey;
    type NSecret = U32;

    const KEM_ID: u16 = 0x0020;

    fn sk_to_pk(sk: &Self::PrivateKey) -> Self::PublicKey {
        sk.public.clone()
    }

    /// `hpke`'s `DeriveKeyPair` (RFC 9180 §7.1.3), converted.
    fn derive_keypair(ikm: &[u8]) -> (Self::PrivateKey, Self::PublicKey) {
        let (private, public) = X25519HkdfSha256::derive_keypair(ikm);
        let mut bytes = private.to_bytes();
        let scalar = Zeroizing::new(<[u8; KEY_LEN]>::from(bytes));
        bytes.as_mut_slice().zeroize();
        let public = KemPublicKey(public.to_bytes().into());
        (KemPrivateKey::with_public(scalar, public.clone()), public)
    }

    /// `hpke`'s base-mode `Encap`, converted (the enclave never encapsulates; tests do).
    fn encap<R: CryptoRng + RngCore>(
        pk_recip: &Self::PublicKey,
        sender_id_keypair: Option<(&Self::PrivateKey, &Self::PublicKey)>,
        csprng: &mut R,
    ) -> Result<(SharedSecret<Self>, Self::EncappedKey), HpkeError> {
        if sender_id_keypair.is_some() {
            return Err(HpkeError::EncapError);
        }
        let recipient = <X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(&pk_recip.0)?;
        let (secret, enc) = X25519HkdfSha256::encap(&recipient, None, csprng)?;
        let mut shared = SharedSecret::<Self>::default();
        shared.0.copy_from_slice(&secret.0);
        Ok((shared, KemPublicKey(enc.to_bytes().into())))
    }

    /// Base-mode `Decap` (RFC 9180 §4.1) with AWS-LC's X25519 and the kept `pkR`.
    fn decap(
        sk_recip: &Self::PrivateKey,
        pk_sender_id: Option<&Self::PublicKey>,
        encapped_key: &Self::EncappedKey,
    ) -> Result<SharedSecret<Self>, HpkeError> {
        if pk_sender_id.is_some() {
            return Err(HpkeError::DecapError);
        }
        let key = sk_recip.agreement.as_deref().ok_or(HpkeError::DecapError)?;
        let dh = x25519(key, &encapped_key.0)?;
        let mut kem_context = [0u8; 2 * KEY_LEN];
        let (enc, pk_r) = kem_context.split_at_mut(KEY_LEN);
        enc.copy_from_slice(&encapped_key.0);
        pk_r.copy_from_slice(&sk_recip.public.0);
        let mut shared = SharedSecret::<Self>::default();
        hpke::kdf::extract_and_expand::<hpke::kdf::HkdfSha256>(
            dh.as_slice(),
            &KEM_SUITE_ID,
            &kem_context,
            &mut shared.0,
        )
        .map_err(|_| HpkeError::DecapError)?;
        Ok(shared)
    }
}

/// `DH(sk, pk)` with AWS-LC, refusing an all-zero result (RFC 9180 §7.1.4: `pk` of small
/// order). AWS-LC refuses it too; checking here keeps the rule visible and independent of it.
fn x25519(
    key: &agreement::PrivateKey,
    peer: &[u8; KEY_LEN],
) -> Result<Zeroizing<[u8; KEY_LEN]>, HpkeError> {
    let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, peer);
    let dh = agreement::agree(key, peer, HpkeError::DecapError, |secret| {
        <[u8; KEY_LEN]>::try_from(secret)
            .map(Zeroizing::new)
            .map_err(|_| HpkeError::DecapError)
    })?;
    if dh.iter().fold(0u8, |acc, byte| acc | byte) == 0 {
        return Err(HpkeError::DecapError);
    }
    Ok(dh)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpke::aead::{AesGcm128, AesGcm256, ChaCha20Poly1305};
    use hpke::kdf::HkdfSha256;
    use hpke::kem::Kem as _;
    use hpke::{OpModeR, OpModeS};

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct VectorFile {
        source: String,
        vectors: Vec<Vector>,
    }

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Vector {
        section: String,
        suite: String,
        mode: u8,
        kem_id: u16,
        kdf_id: u16,
        aead_id: u16,
        info: String,
        #[serde(rename = "ikmR")]
        ikm_r: String,
        #[serde(rename = "pkRm")]
        pk_rm: String,
        #[serde(rename = "skRm")]
        sk_rm: String,
        enc: String,
        shared_secret: String,
        encryptions: Vec<Encryption>,
        exports: Vec<Export>,
    }

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Encryption {
        sequence_number: u64,
        pt: String,
        aad: String,
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

    /// A deterministic CSPRNG stand-in for the tests' senders (ChaCha20 keyed by a seed).
    struct SeededRng(ring::aead::LessSafeKey, u32);

    impl SeededRng {
        fn new(seed: u8) -> Self {
            let key = ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, &[seed; 32]);
            Self(ring::aead::LessSafeKey::new(key.unwrap()), 0)
        }
    }

    impl RngCore for SeededRng {
        fn next_u32(&mut self) -> u32 {
            unimplemented!("hpke only calls fill_bytes")
        }
        fn next_u64(&mut self) -> u64 {
            unimplemented!("hpke only calls fill_bytes")
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            self.1 += 1;
            let mut nonce = [0u8; 12];
            nonce[..4].copy_from_slice(&self.1.to_be_bytes());
            dest.fill(0);
            let nonce = ring::aead::Nonce::assume_unique_for_key(nonce);
            // The keystream is the randomness; the tag is not needed.
            let _tag = self
                .0
                .seal_in_place_separate_tag(nonce, ring::aead::Aad::empty(), dest)
                .unwrap();
        }
    }

    impl CryptoRng for SeededRng {}

    /// The receiver's side of one vector with the AEAD `A`: key pair, shared secret, every
    /// listed ciphertext opened in sequence, every exporter value.
    fn check_vector<A: hpke::aead::Aead>(v: &Vector) {
        assert_eq!((v.mode, v.kem_id, v.kdf_id), (0, 0x20, 1), "{}", v.section);
        assert!(v
            .suite
            .starts_with("DHKEM(X25519, HKDF-SHA256), HKDF-SHA256"));
        let (sk, pk) = EnclaveKem::derive_keypair(&h(&v.ikm_r));
        assert_eq!(sk.to_bytes().to_vec(), h(&v.sk_rm), "{}", v.section);
        assert_eq!(pk.to_bytes().to_vec(), h(&v.pk_rm), "{}", v.section);
        // A key parsed from skRm computes the same public key with AWS-LC.
        let parsed = KemPrivateKey::from_bytes(&h(&v.sk_rm)).unwrap();
        assert_eq!(parsed, sk);
        assert_eq!(parsed.public, pk);

        let enc = KemPublicKey::from_bytes(&h(&v.enc)).unwrap();
        let shared = EnclaveKem::decap(&sk, None, &enc).unwrap();
        assert_eq!(shared.0.to_vec(), h(&v.shared_secret), "{}", v.section);

        let mut receiver = hpke::setup_receiver::<A, HkdfSha256, EnclaveKem>(
            &OpModeR::Base,
            &sk,
            &enc,
            &h(&v.info),
        )
        .unwrap();
        for (seq, e) in v.encryptions.iter().enumerate() {
            assert_eq!(e.sequence_number, seq as u64, "contiguous from 0");
            let pt = receiver.open(&h(&e.ct), &h(&e.aad)).unwrap();
            assert_eq!(pt, h(&e.pt), "{} seq {seq}", v.section);
        }
        assert!(!v.exports.is_empty());
        for x in &v.exports {
            let mut out = vec![0; x.len];
            receiver.export(&h(&x.exporter_context), &mut out).unwrap();
            assert_eq!(out, h(&x.exported_value), "{}", v.section);
        }
    }

    #[test]
    fn rfc9180_a1_1_and_a2_1_receiver_side() {
        let file: VectorFile = serde_json::from_str(include_str!(
            "../tests/vectors/rfc9180-dhkem-x25519-receiver.json"
        ))
        .unwrap();
        assert!(file.source.starts_with("RFC 9180"));
        let sections: Vec<_> = file.vectors.iter().map(|v| v.section.as_str()).collect();
        assert_eq!(sections, ["A.1.1", "A.2.1"]);
        for v in &file.vectors {
            match v.aead_id {
                0x0001 => check_vector::<AesGcm128>(v),
                0x0003 => check_vector::<ChaCha20Poly1305>(v),
                other => panic!("no AEAD {other} in these vectors"),
            }
        }
    }

    /// hpke's own sender, to a key pair derived both ways, for both AEADs the formats use.
    #[test]
    fn interoperates_with_hpke_x25519_sender() {
        fn round_trip<A: hpke::aead::Aead>(seed: u8) {
            let mut rng = SeededRng::new(seed);
            let mut ikm = [0u8; 32];
            rng.fill_bytes(&mut ikm);
            let (sk, pk) = EnclaveKem::derive_keypair(&ikm);
            let (_, hpke_pk) = X25519HkdfSha256::derive_keypair(&ikm);
            assert_eq!(pk.to_bytes(), hpke_pk.to_bytes());
            let info = [seed; 130];
            let (enc, mut sender) = hpke::setup_sender::<A, HkdfSha256, X25519HkdfSha256, _>(
                &OpModeS::Base,
                &hpke_pk,
                &info,
                &mut rng,
            )
            .unwrap();
            let enc = KemPublicKey::from_bytes(&enc.to_bytes()).unwrap();
            let mut receiver =
                hpke::setup_receiver::<A, HkdfSha256, EnclaveKem>(&OpModeR::Base, &sk, &enc, &info)
                    .unwrap();
            for n in 0..3u8 {
                let ct = sender.seal(&[n; 40], &[seed, n]).unwrap();
                assert_eq!(receiver.open(&ct, &[seed, n]).unwrap(), [n; 40]);
            }
            let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
            sender.export(b"ctx", &mut a).unwrap();
            receiver.export(b"ctx", &mut b).unwrap();
            assert_eq!(a, b);
            // Another info gives another context: the key confirmation fails.
            let ct = sender.seal(b"x", b"").unwrap();
            let mut other =
                hpke::setup_receiver::<A, HkdfSha256, EnclaveKem>(&OpModeR::Base, &sk, &enc, &[0])
                    .unwrap();
            assert_eq!(other.open(&ct, b""), Err(HpkeError::OpenError));
        }
        for seed in 0..16 {
            round_trip::<ChaCha20Poly1305>(seed);
            round_trip::<AesGcm256>(seed);
        }
    }

    #[test]
    fn shared_secrets_match_hpke_decap_and_encap() {
        for seed in 0..16 {
            let mut rng = SeededRng::new(seed);
            let (sk, pk) = EnclaveKem::gen_keypair(&mut rng);
            let hpke_sk =
                <X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(&sk.to_bytes()).unwrap();
            let (secret, enc) = EnclaveKem::encap(&pk, None, &mut rng).unwrap();
            let ours = EnclaveKem::decap(&sk, None, &enc).unwrap();
            let hpke_enc =
                <X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(&enc.to_bytes()).unwrap();
            let theirs = X25519HkdfSha256::decap(&hpke_sk, None, &hpke_enc).unwrap();
            assert_eq!(ours.0, secret.0);
            assert_eq!(ours.0, theirs.0);
        }
    }

    /// Points of small order on Curve25519 (and their non-canonical twins), whose X25519 with
    /// any clamped scalar is all zero (RFC 7748 §6.1; the list of libsodium's blocklist).
    const SMALL_ORDER: [&str; 7] = [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ];

    #[test]
    fn a_small_order_enc_is_refused() {
        let (sk, _) = EnclaveKem::derive_keypair(&[7; 32]);
        for point in SMALL_ORDER {
            let enc = KemPublicKey::from_bytes(&h(point)).unwrap();
            assert_eq!(
                EnclaveKem::decap(&sk, None, &enc).err(),
                Some(HpkeError::DecapError),
                "{point}"
            );
            let setup = hpke::setup_receiver::<ChaCha20Poly1305, HkdfSha256, EnclaveKem>(
                &OpModeR::Base,
                &sk,
                &enc,
                b"",
            );
            assert_eq!(setup.err(), Some(HpkeError::DecapError), "{point}");
        }
    }

    #[test]
    fn auth_mode_and_wrong_lengths_are_refused() {
        let (sk, pk) = EnclaveKem::derive_keypair(&[8; 32]);
        let mut rng = SeededRng::new(1);
        assert_eq!(
            EnclaveKem::encap(&pk, Some((&sk, &pk)), &mut rng).err(),
            Some(HpkeError::EncapError)
        );
        let (_, enc) = EnclaveKem::encap(&pk, None, &mut rng).unwrap();
        assert!(EnclaveKem::decap(&sk, None, &enc).is_ok());
        assert_eq!(
            EnclaveKem::decap(&sk, Some(&pk), &enc).err(),
            Some(HpkeError::DecapError)
        );
        assert_eq!(
            KemPublicKey::from_bytes(&[1; 31]),
            Err(HpkeError::IncorrectInputLength(32, 31))
        );
        assert_eq!(
            KemPrivateKey::from_bytes(&[1; 33]).err(),
            Some(HpkeError::IncorrectInputLength(32, 33))
        );
    }

    #[test]
    fn the_private_key_does_not_print_its_scalar() {
        let (sk, _) = EnclaveKem::derive_keypair(&[9; 32]);
        let printed = format!("{sk:?}");
        assert!(printed.starts_with("KemPrivateKey { public: KemPublicKey(["));
        assert!(!printed.contains(&format!("{:?}", sk.scalar.as_slice())));
    }
}
