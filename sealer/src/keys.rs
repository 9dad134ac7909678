//! The platform secret, key policies and key derivation.
//!
//! Every key an enclave uses is `HKDF-SHA256(salt = "", ikm = platform secret, info)` where
//! `info` names the purpose, the key policy and the debug bit (see `docs/formats.md`, "Key
//! derivation"). The debug bit is part of every derivation, whatever the policy: a debug enclave
//! and a production enclave never share a key (in SGX, debug enclaves can be inspected, so their
//! keys must never open production data).
//!
//! The platform secret a key derives from belongs to one **TCB level** (the platform's firmware
//! security version, the analog of SGX's CPUSVN): [`TcbSecrets`] is what a platform at level
//! `n` holds, and gives the [`PlatformSecret`] of every level `k ≤ n` but of no level above
//! `n`. The levels form a one-way chain read backwards, whose top only the vendor can compute
//! ([`TcbRecoveryRoot`]): so data sealed after a TCB upgrade stays closed to the old, vulnerable
//! firmware, even when the platform is rolled back to it (`docs/formats.md`, "Key derivation").

use std::fmt;

use attest::{Measurement, ProductId, SignerId, Svn};
use ring::hkdf;
use zeroize::Zeroizing;

use crate::error::OpenError;

/// The platform's sealing secret at one TCB level: 32 bytes the runtime keeps and never reveals,
/// from [`TcbSecrets::secret_at`] (tests may wrap any 32 bytes).
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

/// The highest TCB level a platform can reach: the chain has the links `0..=MAX_TCB`, and the
/// vendor walks it from the top, so an upgrade costs up to `MAX_TCB` HKDF-Expand steps.
pub const MAX_TCB: u32 = 1023;

/// Bytes of [`TcbSecrets::to_bytes`]: the level (u32 BE), the platform part, the link.
pub const TCB_SECRETS_LEN: usize = 4 + 32 + 32;

/// HKDF `info` prefix of one step down the chain.
const LINK_INFO: &[u8] = b"enclave/v1 tcb link";
/// HKDF salt of a level's secret.
const LEVEL_SALT: &[u8] = b"enclave/v1 tcb level";

/// Why a TCB level's secret could not be derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TcbError {
    /// Data or a key of a newer TCB level than the platform's: a platform never derives the
    /// secrets of a level above its own.
    #[error("sealed at TCB {sealed}; this platform is at TCB {platform}")]
    TooNew {
        /// The level asked for.
        sealed: u32,
        /// The platform's level.
        platform: u32,
    },
    /// A level above [`MAX_TCB`].
    #[error("TCB {0} is above the highest level {MAX_TCB}")]
    OutOfRange(u32),
    /// An upgrade to a level that is not above the platform's.
    #[error("the platform is already at TCB {platform}; an upgrade goes to a higher level than {platform}, not {requested}")]
    NotAnUpgrade {
        /// The level asked for.
        requested: u32,
        /// The platform's level.
        platform: u32,
    },
    /// The recovery root does not lead to the platform's link: another vendor key, or another
    /// platform's chain.
    #[error("this vendor key did not provision this platform (its TCB chain does not lead to the platform's secret)")]
    WrongRoot,
    /// Stored secrets of the wrong length.
    #[error("TCB secrets are {0} bytes, expected {TCB_SECRETS_LEN}")]
    BadLength(usize),
}

/// What a platform at TCB level `n` holds: its own 32 random bytes (the *platform part*, which
/// the vendor never sees) and the chain link `l_n` (which only the vendor could compute).
///
/// The secret of level `k ≤ n` is `HKDF-SHA256(salt = "enclave/v1 tcb level", ikm = platform
/// part || l_k, info = k as u32 BE)`, where `l_{k-1} = HKDF-Expand(l_k, "enclave/v1 tcb link" ||
/// (k-1) as u32 BE, 32)`: one-way, so a platform holding `l_1` cannot compute `l_2`. Zeroized on
/// drop; its `Debug` output shows only the level.
pub struct TcbSecrets {
    level: u32,
    platform: Zeroizing<[u8; 32]>,
    link: Zeroizing<[u8; 32]>,
    current: PlatformSecret,
}

impl fmt::Debug for TcbSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcbSecrets")
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

impl TcbSecrets {
    /// The secrets of a platform at `level` with platform part `platform` and chain link `link`.
    ///
    /// # Errors
    /// [`TcbError::OutOfRange`] above [`MAX_TCB`].
    pub fn from_parts(level: u32, platform: [u8; 32], link: [u8; 32]) -> Result<Self, TcbError> {
        if level > MAX_TCB {
            return Err(TcbError::OutOfRange(level));
        }
        let platform = Zeroizing::new(platform);
        let link = Zeroizing::new(link);
        let current = level_secret(&platform, &link, level);
        Ok(Self {
            level,
            platform,
            link,
            current,
        })
    }

    /// Reads [`Self::to_bytes`].
    ///
    /// # Errors
    /// [`TcbError::BadLength`], [`TcbError::OutOfRange`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TcbError> {
        let bytes: &[u8; TCB_SECRETS_LEN] = bytes
            .try_into()
            .map_err(|_| TcbError::BadLength(bytes.len()))?;
        let (level, rest) = bytes.split_at(4);
        let (platform, link) = rest.split_at(32);
        let array = |b: &[u8]| <[u8; 32]>::try_from(b).map_err(|_| TcbError::BadLength(b.len()));
        let level = u32::from_be_bytes(
            level
                .try_into()
                .map_err(|_| TcbError::BadLength(bytes.len()))?,
        );
        Self::from_parts(level, array(platform)?, array(link)?)
    }

    /// The level (u32 BE), the platform part and the link, in zeroizing memory: what the
    /// platform stores.
    pub fn to_bytes(&self) -> Zeroizing<[u8; TCB_SECRETS_LEN]> {
        let mut out = Zeroizing::new([0u8; TCB_SECRETS_LEN]);
        let (level, rest) = out.split_at_mut(4);
        let (platform, link) = rest.split_at_mut(32);
        level.copy_from_slice(&self.level.to_be_bytes());
        platform.copy_from_slice(self.platform.as_ref());
        link.copy_from_slice(self.link.as_ref());
        out
    }

    /// The platform's TCB level.
    pub fn level(&self) -> u32 {
        self.level
    }

    /// The secret of the platform's own level: every new key derives from it.
    pub fn current(&self) -> &PlatformSecret {
        &self.current
    }

    /// The secret of level `tcb`, which must not be above the platform's.
    ///
    /// # Errors
    /// [`TcbError::TooNew`] above the platform's level.
    pub fn secret_at(&self, tcb: u32) -> Result<PlatformSecret, TcbError> {
        if tcb > self.level {
            return Err(TcbError::TooNew {
                sealed: tcb,
                platform: self.level,
            });
        }
        let link = walk_down(&self.link, self.level, tcb);
        Ok(level_secret(&self.platform, &link, tcb))
    }
}

/// The top of one platform's chain, `l_MAX_TCB`: what the vendor derives from its key for the
/// platform's chain id, to provision the platform at any level and to upgrade it.
pub struct TcbRecoveryRoot(Zeroizing<[u8; 32]>);

impl fmt::Debug for TcbRecoveryRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TcbRecoveryRoot(<redacted>)")
    }
}

impl TcbRecoveryRoot {
    /// Wraps the 32 bytes of `l_MAX_TCB`.
    pub fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> Self {
        Self(bytes)
    }

    /// The secrets of a new platform at `level` with the platform part `platform`.
    ///
    /// # Errors
    /// [`TcbError::OutOfRange`].
    pub fn provision(&self, level: u32, platform: [u8; 32]) -> Result<TcbSecrets, TcbError> {
        if level > MAX_TCB {
            return Err(TcbError::OutOfRange(level));
        }
        let link = walk_down(&self.0, MAX_TCB, level);
        TcbSecrets::from_parts(level, platform, *link)
    }

    /// Checks that this root leads to the link `secrets` holds at its level.
    ///
    /// # Errors
    /// [`TcbError::WrongRoot`].
    pub fn verify(&self, secrets: &TcbSecrets) -> Result<(), TcbError> {
        let link = walk_down(&self.0, MAX_TCB, secrets.level);
        // A plain comparison: it runs once per upgrade, in the vendor's tool, on values the
        // caller already holds both of; there is no oracle to time.
        if *link == *secrets.link {
            Ok(())
        } else {
            Err(TcbError::WrongRoot)
        }
    }

    /// The secrets of `secrets`' platform at the higher level `level`, after checking that this
    /// root leads to the platform's current link.
    ///
    /// # Errors
    /// [`TcbError::OutOfRange`], [`TcbError::NotAnUpgrade`], [`TcbError::WrongRoot`].
    pub fn upgrade(&self, secrets: &TcbSecrets, level: u32) -> Result<TcbSecrets, TcbError> {
        if level > MAX_TCB {
            return Err(TcbError::OutOfRange(level));
        }
        if level <= secrets.level {
            return Err(TcbError::NotAnUpgrade {
                requested: level,
                platform: secrets.level,
            });
        }
        self.verify(secrets)?;
        let link = walk_down(&self.0, MAX_TCB, level);
        TcbSecrets::from_parts(level, *secrets.platform, *link)
    }
}

/// `l_to` from `l_from` (`to ≤ from`): `from - to` steps of HKDF-Expand.
fn walk_down(link: &[u8; 32], from: u32, to: u32) -> Zeroizing<[u8; 32]> {
    let mut current = Zeroizing::new(*link);
    for k in (to..from).rev() {
        let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, current.as_ref());
        let mut next = Zeroizing::new([0u8; 32]);
        expand(&prk, &[LINK_INFO, &k.to_be_bytes()], next.as_mut_slice());
        current = next;
    }
    current
}

/// The secret of level `k`: `HKDF-SHA256(salt = "enclave/v1 tcb level", ikm = platform part ||
/// l_k, info = k as u32 BE)`.
fn level_secret(platform: &[u8; 32], link: &[u8; 32], level: u32) -> PlatformSecret {
    let mut ikm = Zeroizing::new([0u8; 64]);
    let (a, b) = ikm.split_at_mut(32);
    a.copy_from_slice(platform);
    b.copy_from_slice(link);
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, LEVEL_SALT).extract(ikm.as_ref());
    let mut secret = [0u8; 32];
    expand(&prk, &[&level.to_be_bytes()], &mut secret);
    let wrapped = PlatformSecret::from_bytes(secret);
    zeroize::Zeroize::zeroize(&mut secret);
    wrapped
}

fn expand(prk: &hkdf::Prk, info: &[&[u8]], out: &mut [u8]) {
    #[allow(
        clippy::expect_used,
        reason = "HKDF-Expand of 32 bytes with SHA-256 cannot fail: the limit is 255 × 32 bytes"
    )]
    prk.expand(info, hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(out))
        .expect("32-byte HKDF-SHA256 output");
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

    fn root() -> TcbRecoveryRoot {
        TcbRecoveryRoot::from_bytes(Zeroizing::new([7; 32]))
    }

    fn key_at(secrets: &TcbSecrets, tcb: u32) -> Zeroizing<[u8; 32]> {
        let secret = secrets.secret_at(tcb).unwrap();
        derive_key(&secret, KeyPurpose::SealedBlob, &signer(1), false)
    }

    #[test]
    fn a_platform_derives_every_level_up_to_its_own_and_none_above() {
        let at2 = root().provision(2, [3; 32]).unwrap();
        assert_eq!(at2.level(), 2);
        assert_eq!(at2.secret_at(2).unwrap().expose(), at2.current().expose());
        let levels: Vec<_> = (0..=2).map(|k| key_at(&at2, k)).collect();
        assert_ne!(levels[0], levels[1]);
        assert_ne!(levels[1], levels[2]);
        assert_eq!(
            at2.secret_at(3).unwrap_err(),
            TcbError::TooNew {
                sealed: 3,
                platform: 2
            }
        );
        assert_eq!(
            TcbError::TooNew {
                sealed: 2,
                platform: 1
            }
            .to_string(),
            "sealed at TCB 2; this platform is at TCB 1"
        );
    }

    #[test]
    fn an_upgraded_platform_keeps_its_old_keys_and_the_old_one_lacks_the_new() {
        let at1 = root().provision(1, [3; 32]).unwrap();
        let at2 = root().upgrade(&at1, 2).unwrap();
        // The same keys at levels 0 and 1: data sealed before the upgrade still opens.
        assert_eq!(key_at(&at1, 1), key_at(&at2, 1));
        assert_eq!(key_at(&at1, 0), key_at(&at2, 0));
        assert_ne!(at1.current().expose(), at2.current().expose());
        // What the level-1 platform holds is exactly what it held before: no level-2 key.
        assert!(at1.secret_at(2).is_err());
        // Provisioned directly at 2, the same secrets as upgraded to 2.
        let direct = root().provision(2, [3; 32]).unwrap();
        assert_eq!(direct.to_bytes().as_ref(), at2.to_bytes().as_ref());
        // Another platform part: other keys at every level.
        let other = root().provision(2, [4; 32]).unwrap();
        assert_ne!(key_at(&other, 1), key_at(&at2, 1));
    }

    #[test]
    fn upgrades_go_up_with_the_platforms_own_root() {
        let at2 = root().provision(2, [3; 32]).unwrap();
        for level in [1, 2] {
            assert_eq!(
                root().upgrade(&at2, level).unwrap_err(),
                TcbError::NotAnUpgrade {
                    requested: level,
                    platform: 2
                }
            );
        }
        let stranger = TcbRecoveryRoot::from_bytes(Zeroizing::new([8; 32]));
        assert_eq!(stranger.upgrade(&at2, 3).unwrap_err(), TcbError::WrongRoot);
        assert_eq!(stranger.verify(&at2).unwrap_err(), TcbError::WrongRoot);
        assert_eq!(root().verify(&at2), Ok(()));
        assert_eq!(
            root().upgrade(&at2, MAX_TCB + 1).unwrap_err(),
            TcbError::OutOfRange(MAX_TCB + 1)
        );
        assert_eq!(root().upgrade(&at2, MAX_TCB).unwrap().level(), MAX_TCB);
    }

    #[test]
    fn stored_secrets_round_trip_and_refuse_bad_input() {
        let at5 = root().provision(5, [3; 32]).unwrap();
        let bytes = at5.to_bytes();
        assert_eq!(bytes[..4], [0, 0, 0, 5]);
        let back = TcbSecrets::from_bytes(bytes.as_ref()).unwrap();
        assert_eq!(back.current().expose(), at5.current().expose());
        assert_eq!(
            TcbSecrets::from_bytes(&bytes[..67]).unwrap_err(),
            TcbError::BadLength(67)
        );
        let mut high = *bytes;
        high[..4].copy_from_slice(&(MAX_TCB + 1).to_be_bytes());
        assert_eq!(
            TcbSecrets::from_bytes(&high).unwrap_err(),
            TcbError::OutOfRange(MAX_TCB + 1)
        );
        assert_eq!(format!("{at5:?}"), "TcbSecrets { level: 5, .. }");
    }
}
