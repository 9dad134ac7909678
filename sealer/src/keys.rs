//! The platform secret, key policies and key derivation.
//!
//! Every key an enclave uses is `HKDF-SHA256(salt = "", ikm = platform secret, info)` where
//! `info` names the purpose, the key policy and the debug bit (see `docs/formats.md`, "Key
//! derivation"). The debug bit is part of every derivation, whatever the policy: a debug enclave
//! and a production enclave never share a key (in SGX, debug enclaves can be inspected, so their
//! keys must never open production data).

use std::fmt;

use attest::{Measurement, ProductId, SignerId, Svn};
use ring::hkdf;
use zeroize::Zeroizing;

use crate::error::OpenError;
use crate::keypair::EnclaveKeyPair;

/// The platform's root sealing secret: 32 bytes the runtime keeps and never reveals.
///
/// Zeroized on drop; its `Debug` output does not show it.
pub struct PlatformSecret(Zeroizing<[u8; 32]>);

impl PlatformSecret {
    /// Wraps 32 secret bytes (the caller should zeroize its own copy).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for PlatformSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlatformSecret(<redacted>)")
    }
}

/// What a derived key is for; each purpose gets its own `info` label, so keys never repeat
/// across purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyPurpose {
    /// The IKM of the enclave's HPKE key pair.
    HpkeEnclaveKey,
    /// Sealed blobs an enclave stores for itself (SGX `EGETKEY` seal key analog).
    SealedBlob,
    /// The MAC key authenticating the compiled-code cache.
    CodeCacheMac,
    /// The key of the enclave's persistent store.
    Store,
}

impl KeyPurpose {
    /// The ASCII label placed in the HKDF `info`.
    pub const fn label(self) -> &'static str {
        match self {
            Self::HpkeEnclaveKey => "hpke-enclave-key",
            Self::SealedBlob => "sealed-blob",
            Self::CodeCacheMac => "code-cache-mac",
            Self::Store => "store",
        }
    }
}

/// Which enclave identity a key is bound to, as in SGX sealing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyPolicy {
    /// Only enclaves with exactly this measurement (MRENCLAVE policy).
    Measurement(Measurement),
    /// Enclaves by this signer with this product id at security version `svn` or newer
    /// (MRSIGNER policy): an enclave at svn N derives the keys of every svn ≤ N.
    Signer {
        /// The signer id.
        signer: SignerId,
        /// The product id.
        product_id: ProductId,
        /// The security version the key is derived for.
        svn: Svn,
    },
}

/// Length of the encoded policy block (`docs/formats.md`, "Key policy block").
pub(crate) const POLICY_BLOCK_LEN: usize = 38;
const KIND_MEASUREMENT: u8 = 1;
const KIND_SIGNER: u8 = 2;

/// Encodes a policy and the debug bit as the 38-byte policy block.
pub(crate) fn encode_policy(policy: &KeyPolicy, debug: bool) -> [u8; POLICY_BLOCK_LEN] {
    let (kind, id, product, svn) = match policy {
        KeyPolicy::Measurement(m) => (KIND_MEASUREMENT, m.as_bytes(), 0u16, 0u16),
        KeyPolicy::Signer {
            signer,
            product_id,
            svn,
        } => (KIND_SIGNER, signer.as_bytes(), product_id.0, svn.0),
    };
    let [p0, p1] = product.to_be_bytes();
    let [s0, s1] = svn.to_be_bytes();
    let mut block = [0u8; POLICY_BLOCK_LEN];
    let [k, d, id_out @ .., q0, q1, t0, t1] = &mut block;
    (*k, *d, *id_out) = (kind, u8::from(debug), *id);
    (*q0, *q1, *t0, *t1) = (p0, p1, s0, s1);
    block
}

/// Decodes a policy block, refusing any non-canonical encoding.
pub(crate) fn decode_policy(
    block: &[u8; POLICY_BLOCK_LEN],
) -> Result<(KeyPolicy, bool), OpenError> {
    let [kind, debug, id @ .., p0, p1, s0, s1] = *block;
    let debug = match debug {
        0 => false,
        1 => true,
        _ => return Err(OpenError::MalformedPolicy("debug flag is neither 0 nor 1")),
    };
    let product_id = ProductId(u16::from_be_bytes([p0, p1]));
    let svn = Svn(u16::from_be_bytes([s0, s1]));
    let policy = match kind {
        KIND_MEASUREMENT if product_id.0 == 0 && svn.0 == 0 => {
            KeyPolicy::Measurement(Measurement::from_bytes(id))
        }
        KIND_MEASUREMENT => {
            return Err(OpenError::MalformedPolicy(
                "measurement policy with nonzero product id or svn",
            ))
        }
        KIND_SIGNER => KeyPolicy::Signer {
            signer: SignerId::from_bytes(id),
            product_id,
            svn,
        },
        _ => return Err(OpenError::MalformedPolicy("unknown policy kind")),
    };
    Ok((policy, debug))
}

/// Derives a 32-byte key for `purpose`, bound to `policy` and to the debug bit.
///
/// `HKDF-SHA256(salt = empty, ikm = secret, info = "enclave/v1/" || purpose label || 0x00 ||
/// policy block)`; the policy block carries the debug bit, so debug and production keys always
/// differ. This function does not check that the caller may use `policy`: see
/// [`EnclaveIdentity::check_policy`].
pub fn derive_key(
    secret: &PlatformSecret,
    purpose: KeyPurpose,
    policy: &KeyPolicy,
    debug: bool,
) -> Zeroizing<[u8; 32]> {
    let block = encode_policy(policy, debug);
    let info: [&[u8]; 4] = [b"enclave/v1/", purpose.label().as_bytes(), &[0], &block];
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(secret.expose());
    let mut key = Zeroizing::new([0u8; 32]);
    #[allow(
        clippy::expect_used,
        reason = "HKDF-Expand of 32 bytes with SHA-256 cannot fail: the limit is 255 × 32 bytes"
    )]
    prk.expand(&info, hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(key.as_mut_slice()))
        .expect("32-byte HKDF-SHA256 output");
    key
}

/// The identity of a running enclave, as the runtime knows it from the verified bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnclaveIdentity {
    /// Its measurement.
    pub measurement: Measurement,
    /// Its signer id.
    pub signer: SignerId,
    /// Its product id.
    pub product_id: ProductId,
    /// Its current security version.
    pub svn: Svn,
    /// Whether it is a debug enclave.
    pub debug: bool,
}

impl EnclaveIdentity {
    /// The measurement policy of this enclave.
    pub fn measurement_policy(&self) -> KeyPolicy {
        KeyPolicy::Measurement(self.measurement)
    }

    /// The signer policy of this enclave at its current svn (the key its evidence publishes).
    pub fn signer_policy(&self) -> KeyPolicy {
        KeyPolicy::Signer {
            signer: self.signer,
            product_id: self.product_id,
            svn: self.svn,
        }
    }

    /// Checks that this enclave may derive keys for `policy`: the same measurement, or the same
    /// signer and product id at an svn no newer than its own.
    ///
    /// # Errors
    /// [`OpenError::MeasurementMismatch`], [`OpenError::SignerMismatch`],
    /// [`OpenError::ProductMismatch`] or [`OpenError::SvnTooNew`].
    pub fn check_policy(&self, policy: &KeyPolicy) -> Result<(), OpenError> {
        match *policy {
            KeyPolicy::Measurement(sealed) if sealed != self.measurement => {
                Err(OpenError::MeasurementMismatch {
                    sealed,
                    enclave: self.measurement,
                })
            }
            KeyPolicy::Measurement(_) => Ok(()),
            KeyPolicy::Signer { signer, .. } if signer != self.signer => {
                Err(OpenError::SignerMismatch {
                    sealed: signer,
                    enclave: self.signer,
                })
            }
            KeyPolicy::Signer { product_id, .. } if product_id != self.product_id => {
                Err(OpenError::ProductMismatch {
                    sealed: product_id,
                    enclave: self.product_id,
                })
            }
            KeyPolicy::Signer { svn, .. } if svn > self.svn => Err(OpenError::SvnTooNew {
                sealed: svn,
                enclave: self.svn,
            }),
            KeyPolicy::Signer { .. } => Ok(()),
        }
    }

    /// Derives this enclave's key for `purpose` under `policy`, after [`Self::check_policy`].
    ///
    /// # Errors
    /// As [`Self::check_policy`].
    pub fn derive_key(
        &self,
        secret: &PlatformSecret,
        purpose: KeyPurpose,
        policy: &KeyPolicy,
    ) -> Result<Zeroizing<[u8; 32]>, OpenError> {
        self.check_policy(policy)?;
        Ok(derive_key(secret, purpose, policy, self.debug))
    }

    /// Derives this enclave's HPKE key pair under `policy`, after [`Self::check_policy`].
    ///
    /// # Errors
    /// As [`Self::check_policy`].
    pub fn keypair(
        &self,
        secret: &PlatformSecret,
        policy: &KeyPolicy,
    ) -> Result<EnclaveKeyPair, OpenError> {
        self.check_policy(policy)?;
        Ok(EnclaveKeyPair::derive(secret, policy, self.debug))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(svn: u16) -> KeyPolicy {
        KeyPolicy::Signer {
            signer: SignerId::from_bytes([2; 32]),
            product_id: ProductId(0x0102),
            svn: Svn(svn),
        }
    }

    #[test]
    fn policy_block_layout_and_round_trip() {
        let block = encode_policy(&signer(0x0304), true);
        assert_eq!(block[..2], [2, 1]);
        assert_eq!(block[2..34], [2; 32]);
        assert_eq!(block[34..], [1, 2, 3, 4]);
        assert_eq!(decode_policy(&block).unwrap(), (signer(0x0304), true));
        let m = KeyPolicy::Measurement(Measurement::from_bytes([9; 32]));
        let block = encode_policy(&m, false);
        assert_eq!(block[..2], [1, 0]);
        assert_eq!(block[34..], [0; 4]);
        assert_eq!(decode_policy(&block).unwrap(), (m, false));
    }

    #[test]
    fn policy_block_refuses_non_canonical_encodings() {
        let m = KeyPolicy::Measurement(Measurement::from_bytes([9; 32]));
        for (offset, value) in [(0, 0), (0, 3), (1, 2), (35, 1), (37, 1)] {
            let mut block = encode_policy(&m, false);
            block[offset] = value;
            assert!(
                matches!(decode_policy(&block), Err(OpenError::MalformedPolicy(_))),
                "byte {offset} = {value}"
            );
        }
    }

    #[test]
    fn derived_keys_differ_by_every_input() {
        let secret = PlatformSecret::from_bytes([1; 32]);
        let base = derive_key(&secret, KeyPurpose::SealedBlob, &signer(1), false);
        let variants = [
            derive_key(&secret, KeyPurpose::Store, &signer(1), false),
            derive_key(&secret, KeyPurpose::SealedBlob, &signer(2), false),
            derive_key(&secret, KeyPurpose::SealedBlob, &signer(1), true),
            derive_key(
                &PlatformSecret::from_bytes([2; 32]),
                KeyPurpose::SealedBlob,
                &signer(1),
                false,
            ),
            derive_key(
                &secret,
                KeyPurpose::SealedBlob,
                &KeyPolicy::Measurement(Measurement::from_bytes([2; 32])),
                false,
            ),
        ];
        for v in &variants {
            assert_ne!(*v, base);
        }
        assert_eq!(
            derive_key(&secret, KeyPurpose::SealedBlob, &signer(1), false),
            base
        );
    }

    #[test]
    fn identity_derives_only_keys_it_may_use() {
        let me = EnclaveIdentity {
            measurement: Measurement::from_bytes([1; 32]),
            signer: SignerId::from_bytes([2; 32]),
            product_id: ProductId(0x0102),
            svn: Svn(5),
            debug: false,
        };
        let secret = PlatformSecret::from_bytes([1; 32]);
        assert_eq!(
            *me.derive_key(&secret, KeyPurpose::Store, &signer(4))
                .unwrap(),
            *derive_key(&secret, KeyPurpose::Store, &signer(4), false)
        );
        assert!(matches!(
            me.derive_key(&secret, KeyPurpose::Store, &signer(6)),
            Err(OpenError::SvnTooNew {
                sealed: Svn(6),
                enclave: Svn(5)
            })
        ));
        assert_eq!(me.signer_policy(), signer(5));
        assert!(me.check_policy(&me.measurement_policy()).is_ok());
    }
}
