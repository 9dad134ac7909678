//! Author keys: Ed25519 (RFC 8032) as PKCS#8 PEM for the private key and SubjectPublicKeyInfo
//! PEM for the public key (RFC 8410), so `openssl pkey` reads both.
//!
//! Keys are *written* as PKCS#8 v1 (RFC 8410 §7, the form `openssl genpkey` writes), because
//! OpenSSL 3.0 and Python's `cryptography` refuse the v2 form (RFC 5958 `OneAsymmetricKey` with
//! the `[1] publicKey` field) that ring generates. Both forms are *read*.

use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{self, Ed25519KeyPair, KeyPair as _};
use zeroize::Zeroizing;

use crate::identity::SignerId;

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4): SEQUENCE { SEQUENCE { OID
/// 1.3.101.112 }, BIT STRING (0 unused bits) } followed by the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// DER prefix of an Ed25519 PKCS#8 v1 private key (RFC 8410 §7, §10.3): SEQUENCE { INTEGER 0,
/// SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } } followed by the seed.
const ED25519_PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// Why a key could not be made, read or used.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text is not PEM, or has the wrong label.
    #[error("not a PEM {expected} block")]
    NotPem {
        /// The label expected (`PRIVATE KEY` or `PUBLIC KEY`).
        expected: &'static str,
    },
    /// The PKCS#8 document is not an Ed25519 private key.
    #[error("not an Ed25519 PKCS#8 private key")]
    NotEd25519Private,
    /// The SubjectPublicKeyInfo is not an Ed25519 public key.
    #[error("not an Ed25519 SubjectPublicKeyInfo public key")]
    NotEd25519Public,
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Rng,
}

/// An author's signing key. The PKCS#8 bytes are kept only in zeroizing memory.
pub struct AuthorKey {
    pair: Ed25519KeyPair,
    pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for AuthorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorKey")
            .field("signer", &self.public_key().signer_id())
            .finish()
    }
}

impl AuthorKey {
    /// Generates a new key from the system CSPRNG.
    ///
    /// # Errors
    /// [`KeyError::Rng`] if the system RNG fails.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(seed.as_mut())
            .map_err(|_| KeyError::Rng)?;
        let der = Zeroizing::new([&ED25519_PKCS8_V1_PREFIX[..], &seed[..]].concat());
        Self::from_pkcs8_der(&der)
    }

    /// Reads a PKCS#8 DER key (v1 as written by us and by `openssl genpkey`, or v2).
    ///
    /// # Errors
    /// [`KeyError::NotEd25519Private`] for anything but an Ed25519 key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|_| KeyError::NotEd25519Private)?;
        Ok(Self {
            pair,
            pkcs8: Zeroizing::new(der.to_vec()),
        })
    }

    /// Reads a `PRIVATE KEY` PEM block.
    ///
    /// # Errors
    /// [`KeyError::NotPem`] or [`KeyError::NotEd25519Private`].
    pub fn from_pkcs8_pem(text: &str) -> Result<Self, KeyError> {
        let der = Zeroizing::new(pem_contents(text, "PRIVATE KEY")?);
        Self::from_pkcs8_der(&der)
    }

    /// The key as a `PRIVATE KEY` PEM block, in zeroizing memory.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(pem::encode(&pem::Pem::new(
            "PRIVATE KEY",
            self.pkcs8.to_vec(),
        )))
    }

    /// The matching public key.
    pub fn public_key(&self) -> AuthorPublicKey {
        let mut raw = [0u8; 32];
        raw.copy_from_slice(self.pair.public_key().as_ref());
        AuthorPublicKey { raw }
    }

    /// Signs `message` (pure Ed25519, no prehash).
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        let mut out = [0u8; SIGNATURE_LEN];
        out.copy_from_slice(self.pair.sign(message).as_ref());
        out
    }
}

/// An author's public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AuthorPublicKey {
    raw: [u8; 32],
}

impl std::fmt::Debug for AuthorPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthorPublicKey(signer {})", self.signer_id())
    }
}

impl AuthorPublicKey {
    /// Reads an Ed25519 SubjectPublicKeyInfo in DER.
    ///
    /// # Errors
    /// [`KeyError::NotEd25519Public`] unless the bytes are exactly an Ed25519 SPKI.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let key = der
            .strip_prefix(&ED25519_SPKI_PREFIX)
            .ok_or(KeyError::NotEd25519Public)?;
        let raw: [u8; 32] = key.try_into().map_err(|_| KeyError::NotEd25519Public)?;
        Ok(Self { raw })
    }

    /// Reads a `PUBLIC KEY` PEM block.
    ///
    /// # Errors
    /// [`KeyError::NotPem`] or [`KeyError::NotEd25519Public`].
    pub fn from_spki_pem(text: &str) -> Result<Self, KeyError> {
        Self::from_spki_der(&pem_contents(text, "PUBLIC KEY")?)
    }

    /// The SubjectPublicKeyInfo DER encoding.
    pub fn spki_der(&self) -> Vec<u8> {
        [&ED25519_SPKI_PREFIX[..], &self.raw].concat()
    }

    /// The key as a `PUBLIC KEY` PEM block.
    pub fn to_spki_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.spki_der()).to_string()
    }

    /// The signer identity: SHA-256 of the SPKI DER.
    pub fn signer_id(&self) -> SignerId {
        SignerId::of_spki(&self.spki_der())
    }

    /// Checks an Ed25519 signature.
    ///
    /// # Errors
    /// [`BadSignature`]; deliberately without detail.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), BadSignature> {
        signature::UnparsedPublicKey::new(&signature::ED25519, &self.raw)
            .verify(message, signature)
            .map_err(|_| BadSignature)
    }
}

/// A signature did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("bad signature")]
pub struct BadSignature;

/// PEM with Unix line endings, as openssl writes it. The copy of `der` the encoder needs is
/// wiped afterwards, since it may be a private key.
fn pem_encode(label: &str, der: &[u8]) -> Zeroizing<String> {
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    let block = pem::Pem::new(label, der.to_vec());
    let text = Zeroizing::new(pem::encode_config(&block, config));
    drop(Zeroizing::new(block.into_contents()));
    text
}

fn pem_contents(text: &str, expected: &'static str) -> Result<Vec<u8>, KeyError> {
    match pem::parse(text) {
        Ok(block) if block.tag() == expected => Ok(block.into_contents()),
        _ => Err(KeyError::NotPem { expected }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_and_sign() {
        let key = AuthorKey::generate().unwrap();
        let again = AuthorKey::from_pkcs8_pem(&key.to_pkcs8_pem()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        let public = AuthorPublicKey::from_spki_pem(&key.public_key().to_spki_pem()).unwrap();
        let sig = key.sign(b"hello");
        public.verify(b"hello", &sig).unwrap();
        assert_eq!(public.verify(b"hellO", &sig), Err(BadSignature));
    }

    #[test]
    fn reads_pkcs8_v2() {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let key = AuthorKey::from_pkcs8_der(doc.as_ref()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
        assert_eq!(key.public_key().raw, pair.public_key().as_ref());
    }

    #[test]
    fn writes_pkcs8_v1() {
        let key = AuthorKey::generate().unwrap();
        assert_eq!(key.pkcs8.len(), 48);
        assert!(key.pkcs8.starts_with(&ED25519_PKCS8_V1_PREFIX));
    }

    #[test]
    fn reads_openssl_pkcs8_v1() {
        // `openssl genpkey -algorithm ed25519` output (PKCS#8 v1, RFC 8410 §10.3 example key).
        let pem = "-----BEGIN PRIVATE KEY-----\n\
                   MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
                   -----END PRIVATE KEY-----\n";
        let key = AuthorKey::from_pkcs8_pem(pem).unwrap();
        // RFC 8410 §10.1 gives the matching public key.
        let public = "-----BEGIN PUBLIC KEY-----\n\
                      MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n\
                      -----END PUBLIC KEY-----\n";
        assert_eq!(
            key.public_key(),
            AuthorPublicKey::from_spki_pem(public).unwrap()
        );
    }

    #[test]
    fn refuses_wrong_labels_and_keys() {
        let key = AuthorKey::generate().unwrap();
        assert_eq!(
            AuthorKey::from_pkcs8_pem(&key.public_key().to_spki_pem()).unwrap_err(),
            KeyError::NotPem {
                expected: "PRIVATE KEY"
            }
        );
        assert_eq!(
            AuthorPublicKey::from_spki_der(&[0x30, 0x00]).unwrap_err(),
            KeyError::NotEd25519Public
        );
        assert_eq!(
            AuthorKey::from_pkcs8_der(b"garbage").unwrap_err(),
            KeyError::NotEd25519Private
        );
    }
}
