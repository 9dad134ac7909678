//! Newtypes for the values that name an enclave.
//!
//! They are distinct types so a signer id can never be compared with a measurement by mistake.
//! All 32-byte identities print and parse as 64 lowercase hex digits.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// A 32-byte value that prints as lowercase hex; the common shape of every digest identity.
macro_rules! digest_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 32]);

        impl $name {
            /// Wraps raw digest bytes.
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The raw digest bytes.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// Parses 64 hex digits (either case).
            ///
            /// # Errors
            /// [`HexError`] when the text is not exactly 32 hex-encoded bytes.
            pub fn from_hex(text: &str) -> Result<Self, HexError> {
                parse_hex32(text).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = HexError;
            fn from_str(text: &str) -> Result<Self, HexError> {
                Self::from_hex(text)
            }
        }
    };
}

digest_newtype!(
    /// The enclave measurement, the MRENCLAVE analog: SHA-256 over the module digest and the
    /// whole manifest in a fixed encoding (see [`crate::manifest::Manifest::measure`]).
    Measurement
);
digest_newtype!(
    /// The signer identity, the MRSIGNER analog: SHA-256 over the author's SubjectPublicKeyInfo
    /// DER encoding.
    SignerId
);
digest_newtype!(
    /// SHA-256 of the wasm module bytes exactly as loaded.
    ModuleDigest
);

digest_newtype!(
    /// The platform identity: SHA-256 over the platform attestation key's SubjectPublicKeyInfo
    /// DER. Sealed inputs name it so that input sealed to another machine is refused clearly.
    PlatformId
);
digest_newtype!(
    /// An enclave's HPKE public key (RFC 9180, DHKEM(X25519, HKDF-SHA256)): the 32-byte X25519
    /// public key, as `SerializePublicKey` gives it. Attestation evidence carries it.
    EnclavePublicKey
);

impl ModuleDigest {
    /// Hashes a module.
    pub fn of(module: &[u8]) -> Self {
        Self(Sha256::digest(module).into())
    }
}

impl PlatformId {
    /// The identity of a platform, from its attestation key's SubjectPublicKeyInfo DER.
    pub fn of_spki(spki_der: &[u8]) -> Self {
        Self(Sha256::digest(spki_der).into())
    }
}

impl SignerId {
    /// The identity of a signer, from its SubjectPublicKeyInfo DER.
    pub fn of_spki(spki_der: &[u8]) -> Self {
        Self(Sha256::digest(spki_der).into())
    }
}

/// The product id, the ISVPRODID analog: separates products by the same signer, so one product's
/// signer-policy sealed data is not readable by another's.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct ProductId(pub u16);

/// The security version number, the ISVSVN analog: raised by the author when a release fixes a
/// security bug, so relying parties can refuse older versions.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Svn(pub u16);

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for Svn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Text that should have been 32 hex-encoded bytes was not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected 64 hex digits, got {got:?}")]
pub struct HexError {
    got: String,
}

fn parse_hex32(text: &str) -> Result<[u8; 32], HexError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut out).map_err(|_| HexError {
        got: text.chars().take(80).collect(),
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let m = Measurement::from_bytes([0xab; 32]);
        let text = m.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<Measurement>().unwrap(), m);
        assert_eq!(Measurement::from_hex(&text.to_uppercase()).unwrap(), m);
    }

    #[test]
    fn hex_refuses_wrong_length_and_digits() {
        assert!(Measurement::from_hex("ab").is_err());
        assert!(SignerId::from_hex(&"zz".repeat(32)).is_err());
        assert!(SignerId::from_hex(&"00".repeat(33)).is_err());
    }

    #[test]
    fn module_digest_is_sha256() {
        // FIPS 180-2 appendix B.1: SHA-256("abc").
        assert_eq!(
            ModuleDigest::of(b"abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
