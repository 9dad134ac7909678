//! Sealed blobs: data an enclave encrypts for itself (the SGX `sgx_seal_data` / Open Enclave
//! `oe_seal` analog), and the sealed state of its persistent store.
//!
//! Each blob has its own key: the policy key from [`crate::derive_key`] (purpose `sealed-blob`
//! or `store`, the key policy, the debug bit) expanded with a random 32-byte key id, so one
//! policy key never encrypts two messages. AES-256-GCM (ring) authenticates the whole header,
//! the caller's additional data (AAD, returned in clear) and the plaintext. Layout in
//! `docs/formats.md`, "Sealed blob".
//!
//! Every blob names the TCB level it was sealed at, and its key derives from that level's
//! secret ([`TcbSecrets::secret_at`]): a platform opens blobs of its own level and every level
//! below, so data survives a TCB upgrade, and refuses a blob of a newer level with
//! [`TcbError::TooNew`] ("sealed at TCB 2; this platform is at TCB 1"). Sealing uses the
//! platform's current level unless the caller names a lower one ([`seal_at`]).
//!
//! Opening checks the blob's key policy against the opening enclave's identity
//! ([`EnclaveIdentity::check_policy`]): the same measurement, or the same signer and product at
//! an svn no newer than its own. Sealing applies the same rule, so an enclave can never seal to
//! a key it could not derive itself.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hkdf;
use ring::rand::SecureRandom as _;
use zeroize::Zeroizing;

use crate::error::OpenError;
use crate::keys::{
    decode_policy, derive_key, encode_policy, EnclaveIdentity, KeyPolicy, KeyPurpose,
    PlatformSecret, TcbError, TcbSecrets, POLICY_BLOCK_LEN,
};

/// The format version: 2 names the TCB level; version 1 (without one) is refused.
pub const VERSION: u16 = 2;
/// Bytes before the AAD: magic, version, TCB level, policy block, key id, AAD length.
pub const HEADER_LEN: usize = 8 + 2 + 4 + POLICY_BLOCK_LEN + KEY_ID_LEN + 4;
/// The AES-256-GCM tag.
pub const TAG_LEN: usize = 16;
/// Random bytes per blob that make its key unique.
pub const KEY_ID_LEN: usize = 32;
/// Largest plaintext of one blob: 1 MiB.
pub const MAX_PLAINTEXT: usize = 1 << 20;
/// Largest AAD of one blob: 64 KiB.
pub const MAX_AAD: usize = 64 << 10;
/// Largest blob: a full AAD and plaintext.
pub const MAX_BLOB: usize = HEADER_LEN + MAX_AAD + MAX_PLAINTEXT + TAG_LEN;

/// HKDF `info` of the per-blob key.
const BLOB_KEY_INFO: &[u8] = b"enclave/v1 blob key";

/// What a blob holds; each kind has its own magic and key purpose, so one never opens as the
/// other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlobKind {
    /// Data a guest sealed (`seal` capability); purpose `sealed-blob`.
    Sealed,
    /// The whole state of an enclave's persistent store (`store` capability); purpose `store`.
    StoreState,
}

impl BlobKind {
    /// The 8 magic bytes that start a blob of this kind.
    pub const fn magic(self) -> [u8; 8] {
        match self {
            Self::Sealed => *b"ENCLBLOB",
            Self::StoreState => *b"ENCLSTAT",
        }
    }

    const fn purpose(self) -> KeyPurpose {
        match self {
            Self::Sealed => KeyPurpose::SealedBlob,
            Self::StoreState => KeyPurpose::Store,
        }
    }

    /// The kind whose magic starts `bytes`, if any.
    pub fn detect(bytes: &[u8]) -> Option<Self> {
        let magic = bytes.get(..8)?;
        [Self::Sealed, Self::StoreState]
            .into_iter()
            .find(|kind| kind.magic() == magic)
    }
}

/// Why a blob could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// The AAD or the plaintext exceeds its cap.
    #[error("{what} is {len} bytes, more than the {max} allowed")]
    TooLarge {
        /// `"aad"`, `"plaintext"` or `"blob"`.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// Shorter than its header and tag, or its lengths do not add up.
    #[error("sealed blob truncated or malformed")]
    Truncated,
    /// The magic is not that of the expected kind.
    #[error("not a {0} (bad magic)")]
    BadMagic(&'static str),
    /// A version this build does not know.
    #[error("unsupported sealed blob version {0}")]
    UnsupportedVersion(u16),
    /// Version 1, from before blobs named their TCB level: its key derives from no level.
    #[error(
        "sealed blob version 1 names no TCB level and is no longer opened (seal the data again)"
    )]
    NoTcbLevel,
    /// Sealed at a TCB level above the platform's (a platform rolled back to older firmware, or
    /// a blob from an upgraded one), or a seal asked for one.
    #[error(transparent)]
    Tcb(#[from] TcbError),
    /// The key policy is malformed, or the enclave may not use it (another measurement, signer
    /// or product, a newer svn, another debug mode).
    #[error(transparent)]
    Policy(#[from] OpenError),
    /// The blob does not authenticate: altered, or sealed on another platform.
    #[error("decryption failed")]
    Decryption,
    /// The system random generator failed.
    #[error("random number generator failed")]
    Random,
}

/// An opened blob.
pub struct Unsealed {
    /// The key policy it was sealed under.
    pub policy: KeyPolicy,
    /// The TCB level it was sealed at.
    pub tcb: u32,
    /// Its additional data, authenticated.
    pub aad: Vec<u8>,
    /// Its plaintext; zeroized on drop.
    pub plaintext: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Unsealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unsealed")
            .field("policy", &self.policy)
            .field("tcb", &self.tcb)
            .field("aad_len", &self.aad.len())
            .field("plaintext_len", &self.plaintext.len())
            .finish()
    }
}

/// A blob's header as read without any key: nothing in it is authenticated yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobHeader<'a> {
    /// The blob's kind.
    pub kind: BlobKind,
    /// The TCB level it claims to be sealed at.
    pub tcb: u32,
    /// The key policy it claims.
    pub policy: KeyPolicy,
    /// The debug bit it claims.
    pub debug: bool,
    /// Its AAD, in clear.
    pub aad: &'a [u8],
    /// The plaintext length.
    pub plaintext_len: usize,
}

/// The length of a blob sealing `aad_len` bytes of AAD and `plaintext_len` bytes.
pub const fn sealed_len(aad_len: usize, plaintext_len: usize) -> usize {
    HEADER_LEN
        .saturating_add(aad_len)
        .saturating_add(plaintext_len)
        .saturating_add(TAG_LEN)
}

/// Seals `plaintext` with `aad` for `identity` under `policy` at the platform's current TCB
/// level, with a fresh key id from the system random generator.
///
/// # Errors
/// [`BlobError::TooLarge`], [`BlobError::Policy`] when `identity` may not use `policy` (another
/// measurement, a newer svn), [`BlobError::Random`].
pub fn seal(
    kind: BlobKind,
    secrets: &TcbSecrets,
    identity: &EnclaveIdentity,
    policy: &KeyPolicy,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, BlobError> {
    seal_at(
        kind,
        secrets,
        secrets.level(),
        identity,
        policy,
        aad,
        plaintext,
    )
}

/// As [`seal`], at the TCB level `tcb`, which must not be above the platform's: data for a
/// platform of the fleet that is not upgraded yet, readable by the older firmware.
///
/// # Errors
/// As [`seal`]; [`BlobError::Tcb`] for a level above the platform's.
pub fn seal_at(
    kind: BlobKind,
    secrets: &TcbSecrets,
    tcb: u32,
    identity: &EnclaveIdentity,
    policy: &KeyPolicy,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, BlobError> {
    check_len("aad", aad.len(), MAX_AAD)?;
    check_len("plaintext", plaintext.len(), MAX_PLAINTEXT)?;
    identity.check_policy(policy)?;
    let secret = secrets.secret_at(tcb)?;
    let mut key_id = [0u8; KEY_ID_LEN];
    ring::rand::SystemRandom::new()
        .fill(&mut key_id)
        .map_err(|_| BlobError::Random)?;
    seal_with_key_id(kind, &secret, tcb, identity, policy, aad, plaintext, key_id)
}

#[allow(
    clippy::too_many_arguments,
    reason = "private: the public seal and seal_at name the parameters, this one adds the key id"
)]
fn seal_with_key_id(
    kind: BlobKind,
    secret: &PlatformSecret,
    tcb: u32,
    identity: &EnclaveIdentity,
    policy: &KeyPolicy,
    aad: &[u8],
    plaintext: &[u8],
    key_id: [u8; KEY_ID_LEN],
) -> Result<Vec<u8>, BlobError> {
    check_len("aad", aad.len(), MAX_AAD)?;
    check_len("plaintext", plaintext.len(), MAX_PLAINTEXT)?;
    identity.check_policy(policy)?;
    let aad_len = u32::try_from(aad.len()).map_err(|_| BlobError::Truncated)?;
    let mut blob = Vec::with_capacity(sealed_len(aad.len(), plaintext.len()));
    blob.extend_from_slice(&kind.magic());
    blob.extend_from_slice(&VERSION.to_be_bytes());
    blob.extend_from_slice(&tcb.to_be_bytes());
    blob.extend_from_slice(&encode_policy(policy, identity.debug));
    blob.extend_from_slice(&key_id);
    blob.extend_from_slice(&aad_len.to_be_bytes());
    blob.extend_from_slice(aad);
    let header_end = blob.len();
    blob.extend_from_slice(plaintext);
    let key = blob_key(kind, secret, policy, identity.debug, &key_id);
    let (header, body) = blob.split_at_mut(header_end);
    let tag = key
        .seal_in_place_separate_tag(zero_nonce(), Aad::from(&*header), body)
        .map_err(|_| BlobError::Decryption)?;
    blob.extend_from_slice(tag.as_ref());
    Ok(blob)
}

/// Reads a blob's header without a key: for display, and to learn its AAD (for example a
/// store's version) before deciding to open it. Nothing returned is authenticated.
///
/// # Errors
/// [`BlobError::Truncated`], [`BlobError::BadMagic`], [`BlobError::UnsupportedVersion`],
/// [`BlobError::Policy`] for a malformed policy block, [`BlobError::TooLarge`].
pub fn read_header(kind: BlobKind, blob: &[u8]) -> Result<BlobHeader<'_>, BlobError> {
    check_len("blob", blob.len(), MAX_BLOB)?;
    let fixed = blob.get(..HEADER_LEN).ok_or(BlobError::Truncated)?;
    let (magic, rest) = fixed.split_at(8);
    if magic != kind.magic() {
        return Err(BlobError::BadMagic(match kind {
            BlobKind::Sealed => "sealed blob",
            BlobKind::StoreState => "sealed store state",
        }));
    }
    let (version, rest) = rest.split_at(2);
    let version = u16::from_be_bytes(version.try_into().map_err(|_| BlobError::Truncated)?);
    match version {
        VERSION => {}
        1 => return Err(BlobError::NoTcbLevel),
        other => return Err(BlobError::UnsupportedVersion(other)),
    }
    let (tcb, rest) = rest.split_at(4);
    let tcb = u32::from_be_bytes(tcb.try_into().map_err(|_| BlobError::Truncated)?);
    let (block, rest) = rest.split_at(POLICY_BLOCK_LEN);
    let block: &[u8; POLICY_BLOCK_LEN] = block.try_into().map_err(|_| BlobError::Truncated)?;
    let (policy, debug) = decode_policy(block)?;
    let aad_len: [u8; 4] = rest
        .get(KEY_ID_LEN..)
        .and_then(|b| b.try_into().ok())
        .ok_or(BlobError::Truncated)?;
    let aad_len = usize::try_from(u32::from_be_bytes(aad_len)).map_err(|_| BlobError::Truncated)?;
    check_len("aad", aad_len, MAX_AAD)?;
    let aad_end = HEADER_LEN + aad_len;
    let plaintext_len = blob
        .len()
        .checked_sub(aad_end + TAG_LEN)
        .ok_or(BlobError::Truncated)?;
    check_len("plaintext", plaintext_len, MAX_PLAINTEXT)?;
    let aad = blob.get(HEADER_LEN..aad_end).ok_or(BlobError::Truncated)?;
    Ok(BlobHeader {
        kind,
        tcb,
        policy,
        debug,
        aad,
        plaintext_len,
    })
}

/// Opens a blob of `kind` as `identity` on the platform holding `secrets`.
///
/// # Errors
/// As [`read_header`]; [`BlobError::Policy`] when the blob's debug bit or key policy is not
/// the enclave's to use ([`EnclaveIdentity::check_policy`]); [`BlobError::Tcb`] when it was
/// sealed at a TCB level above the platform's; [`BlobError::Decryption`] when it does not
/// authenticate.
pub fn open(
    kind: BlobKind,
    secrets: &TcbSecrets,
    identity: &EnclaveIdentity,
    blob: &[u8],
) -> Result<Unsealed, BlobError> {
    let header = read_header(kind, blob)?;
    if header.debug != identity.debug {
        return Err(OpenError::DebugMismatch {
            sealed: header.debug,
            enclave: identity.debug,
        }
        .into());
    }
    identity.check_policy(&header.policy)?;
    let secret = secrets.secret_at(header.tcb)?;
    let aad_end = HEADER_LEN + header.aad.len();
    let key_id: [u8; KEY_ID_LEN] = blob
        .get(HEADER_LEN - 4 - KEY_ID_LEN..HEADER_LEN - 4)
        .and_then(|b| b.try_into().ok())
        .ok_or(BlobError::Truncated)?;
    let key = blob_key(kind, &secret, &header.policy, header.debug, &key_id);
    let (authenticated, sealed) = blob.split_at_checked(aad_end).ok_or(BlobError::Truncated)?;
    let mut body = Zeroizing::new(sealed.to_vec());
    let plaintext_len = key
        .open_in_place(zero_nonce(), Aad::from(authenticated), &mut body)
        .map_err(|_| BlobError::Decryption)?
        .len();
    body.truncate(plaintext_len);
    Ok(Unsealed {
        policy: header.policy,
        tcb: header.tcb,
        aad: header.aad.to_vec(),
        plaintext: body,
    })
}

/// `HKDF-SHA256(salt = key id, IKM = policy key, info = "enclave/v1 blob key", L = 32)`, as an
/// AES-256-GCM key. The policy key and the expanded bytes are zeroized here; ring keeps its own
/// expanded key schedule.
fn blob_key(
    kind: BlobKind,
    secret: &PlatformSecret,
    policy: &KeyPolicy,
    debug: bool,
    key_id: &[u8; KEY_ID_LEN],
) -> LessSafeKey {
    let policy_key = derive_key(secret, kind.purpose(), policy, debug);
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, key_id).extract(policy_key.as_ref());
    let mut bytes = Zeroizing::new([0u8; 32]);
    #[allow(
        clippy::expect_used,
        reason = "HKDF-Expand of 32 bytes with SHA-256 cannot fail: the limit is 255 × 32 bytes"
    )]
    prk.expand(&[BLOB_KEY_INFO], hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(bytes.as_mut_slice()))
        .expect("32-byte HKDF-SHA256 output");
    #[allow(
        clippy::expect_used,
        reason = "32 bytes is exactly the AES-256 key length"
    )]
    let key = UnboundKey::new(&AES_256_GCM, bytes.as_ref()).expect("a 32-byte AES-256 key");
    LessSafeKey::new(key)
}

/// Every blob key encrypts exactly one message (its key id is random and 32 bytes), so a fixed
/// nonce is safe, as age's payload key does.
fn zero_nonce() -> Nonce {
    Nonce::assume_unique_for_key([0u8; NONCE_LEN])
}

fn check_len(what: &'static str, len: usize, max: usize) -> Result<(), BlobError> {
    if len > max {
        return Err(BlobError::TooLarge { what, len, max });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        clippy::panic,
        reason = "test code"
    )]
    use super::*;
    use attest::{Measurement, ProductId, SignerId, Svn};

    fn identity(svn: u16) -> EnclaveIdentity {
        EnclaveIdentity {
            measurement: Measurement::from_bytes([svn as u8; 32]),
            signer: SignerId::from_bytes([2; 32]),
            product_id: ProductId(7),
            svn: Svn(svn),
            debug: false,
        }
    }

    fn root() -> crate::TcbRecoveryRoot {
        crate::TcbRecoveryRoot::from_bytes(Zeroizing::new([5; 32]))
    }

    fn secret() -> TcbSecrets {
        secret_at(1)
    }

    fn secret_at(level: u32) -> TcbSecrets {
        root().provision(level, [9; 32]).unwrap()
    }

    #[test]
    fn round_trip_per_policy() {
        let me = identity(3);
        for policy in [
            me.measurement_policy(),
            me.signer_policy(),
            KeyPolicy::Signer {
                signer: me.signer,
                product_id: me.product_id,
                svn: Svn(1),
            },
        ] {
            let blob = seal(
                BlobKind::Sealed,
                &secret(),
                &me,
                &policy,
                b"label",
                b"secret",
            )
            .unwrap();
            assert_eq!(blob.len(), sealed_len(5, 6));
            let opened = open(BlobKind::Sealed, &secret(), &me, &blob).unwrap();
            assert_eq!(opened.policy, policy);
            assert_eq!(opened.aad, b"label");
            assert_eq!(opened.plaintext.as_slice(), b"secret");
        }
    }

    #[test]
    fn each_blob_has_its_own_key() {
        let me = identity(1);
        let policy = me.signer_policy();
        let a = seal(BlobKind::Sealed, &secret(), &me, &policy, b"", b"same").unwrap();
        let b = seal(BlobKind::Sealed, &secret(), &me, &policy, b"", b"same").unwrap();
        assert_ne!(a[HEADER_LEN..], b[HEADER_LEN..]);
    }

    #[test]
    fn upgrades_read_older_blobs_never_the_reverse() {
        let (old, new) = (identity(1), identity(2));
        let blob = seal(
            BlobKind::Sealed,
            &secret(),
            &old,
            &old.signer_policy(),
            b"",
            b"v1",
        )
        .unwrap();
        assert_eq!(
            open(BlobKind::Sealed, &secret(), &new, &blob)
                .unwrap()
                .plaintext
                .as_slice(),
            b"v1"
        );
        let blob = seal(
            BlobKind::Sealed,
            &secret(),
            &new,
            &new.signer_policy(),
            b"",
            b"v2",
        )
        .unwrap();
        assert!(matches!(
            open(BlobKind::Sealed, &secret(), &old, &blob),
            Err(BlobError::Policy(OpenError::SvnTooNew { .. }))
        ));
        // Nor may an old enclave seal for its successor.
        assert!(matches!(
            seal(
                BlobKind::Sealed,
                &secret(),
                &old,
                &new.signer_policy(),
                b"",
                b""
            ),
            Err(BlobError::Policy(OpenError::SvnTooNew { .. }))
        ));
    }

    #[test]
    fn measurement_policy_refuses_other_modules() {
        let (a, b) = (identity(1), identity(2));
        let blob = seal(
            BlobKind::Sealed,
            &secret(),
            &a,
            &a.measurement_policy(),
            b"",
            b"x",
        )
        .unwrap();
        assert!(matches!(
            open(BlobKind::Sealed, &secret(), &b, &blob),
            Err(BlobError::Policy(OpenError::MeasurementMismatch { .. }))
        ));
    }

    #[test]
    fn other_platform_kind_or_debug_mode_refuses() {
        let me = identity(1);
        let blob = seal(
            BlobKind::Sealed,
            &secret(),
            &me,
            &me.signer_policy(),
            b"a",
            b"x",
        )
        .unwrap();
        let other = root().provision(1, [8; 32]).unwrap();
        assert!(matches!(
            open(BlobKind::Sealed, &other, &me, &blob),
            Err(BlobError::Decryption)
        ));
        assert!(matches!(
            open(BlobKind::StoreState, &secret(), &me, &blob),
            Err(BlobError::BadMagic(_))
        ));
        let debug = EnclaveIdentity { debug: true, ..me };
        assert!(matches!(
            open(BlobKind::Sealed, &secret(), &debug, &blob),
            Err(BlobError::Policy(OpenError::DebugMismatch { .. }))
        ));
    }

    #[test]
    fn every_flipped_bit_and_truncation_is_refused() {
        let me = identity(1);
        let blob = seal(
            BlobKind::Sealed,
            &secret(),
            &me,
            &me.signer_policy(),
            b"aad",
            b"pt",
        )
        .unwrap();
        for i in 0..blob.len() {
            for bit in 0..8 {
                let mut bad = blob.clone();
                bad[i] ^= 1 << bit;
                assert!(
                    open(BlobKind::Sealed, &secret(), &me, &bad).is_err(),
                    "byte {i} bit {bit}"
                );
            }
        }
        for len in 0..blob.len() {
            assert!(open(BlobKind::Sealed, &secret(), &me, &blob[..len]).is_err());
        }
        let mut longer = blob.clone();
        longer.push(0);
        assert!(open(BlobKind::Sealed, &secret(), &me, &longer).is_err());
    }

    #[test]
    fn caps_are_enforced() {
        let me = identity(1);
        let big = vec![0u8; MAX_AAD + 1];
        assert!(matches!(
            seal(
                BlobKind::Sealed,
                &secret(),
                &me,
                &me.signer_policy(),
                &big,
                b""
            ),
            Err(BlobError::TooLarge { what: "aad", .. })
        ));
        let big = vec![0u8; MAX_PLAINTEXT + 1];
        assert!(matches!(
            seal(
                BlobKind::Sealed,
                &secret(),
                &me,
                &me.signer_policy(),
                b"",
                &big
            ),
            Err(BlobError::TooLarge {
                what: "plaintext",
                ..
            })
        ));
    }

    #[test]
    fn layout_matches_the_documentation() {
        let me = identity(1);
        let blob = seal_with_key_id(
            BlobKind::Sealed,
            secret().current(),
            0x0102_0304,
            &me,
            &me.signer_policy(),
            b"AD",
            b"PT",
            [0x55; 32],
        )
        .unwrap();
        assert_eq!(&blob[..8], b"ENCLBLOB");
        assert_eq!(blob[8..10], [0, 2]);
        assert_eq!(blob[10..14], [1, 2, 3, 4]); // the TCB level
        assert_eq!(blob[14..16], [2, 0]); // signer policy, production
        assert_eq!(blob[52..84], [0x55; 32]);
        assert_eq!(blob[84..88], [0, 0, 0, 2]);
        assert_eq!(&blob[88..90], b"AD");
        assert_eq!(blob.len(), 90 + 2 + 16);
        let header = read_header(BlobKind::Sealed, &blob).unwrap();
        assert_eq!((header.aad, header.plaintext_len), (&b"AD"[..], 2));
        assert_eq!(header.tcb, 0x0102_0304);
    }

    #[test]
    fn blobs_open_after_a_tcb_upgrade_and_never_on_an_older_tcb() {
        let me = identity(1);
        let policy = me.signer_policy();
        let (at1, at2) = (secret_at(1), root().upgrade(&secret_at(1), 2).unwrap());
        let old = seal(BlobKind::Sealed, &at1, &me, &policy, b"", b"one").unwrap();
        let opened = open(BlobKind::Sealed, &at2, &me, &old).unwrap();
        assert_eq!((opened.tcb, opened.plaintext.as_slice()), (1, &b"one"[..]));
        let new = seal(BlobKind::Sealed, &at2, &me, &policy, b"", b"two").unwrap();
        assert_eq!(read_header(BlobKind::Sealed, &new).unwrap().tcb, 2);
        let refused = open(BlobKind::Sealed, &at1, &me, &new).unwrap_err();
        assert!(matches!(
            refused,
            BlobError::Tcb(TcbError::TooNew {
                sealed: 2,
                platform: 1
            })
        ));
        assert_eq!(
            refused.to_string(),
            "sealed at TCB 2; this platform is at TCB 1"
        );
        // An upgraded platform seals for an older level on request, never for a newer one.
        let back = seal_at(BlobKind::Sealed, &at2, 1, &me, &policy, b"", b"for 1").unwrap();
        assert_eq!(
            open(BlobKind::Sealed, &at1, &me, &back)
                .unwrap()
                .plaintext
                .as_slice(),
            b"for 1"
        );
        assert!(matches!(
            seal_at(BlobKind::Sealed, &at1, 2, &me, &policy, b"", b""),
            Err(BlobError::Tcb(TcbError::TooNew {
                sealed: 2,
                platform: 1
            }))
        ));
    }

    #[test]
    fn a_relabelled_tcb_level_does_not_authenticate() {
        let me = identity(1);
        let at2 = secret_at(2);
        let mut blob = seal(BlobKind::Sealed, &at2, &me, &me.signer_policy(), b"", b"x").unwrap();
        blob[13] = 1;
        assert!(matches!(
            open(BlobKind::Sealed, &at2, &me, &blob),
            Err(BlobError::Decryption)
        ));
    }

    #[test]
    fn version_1_blobs_are_refused_by_name() {
        let me = identity(1);
        let mut blob = seal(
            BlobKind::Sealed,
            &secret(),
            &me,
            &me.signer_policy(),
            b"",
            b"x",
        )
        .unwrap();
        blob[9] = 1;
        let error = open(BlobKind::Sealed, &secret(), &me, &blob).unwrap_err();
        assert!(matches!(error, BlobError::NoTcbLevel));
        blob[9] = 3;
        assert!(matches!(
            open(BlobKind::Sealed, &secret(), &me, &blob),
            Err(BlobError::UnsupportedVersion(3))
        ));
    }
}
