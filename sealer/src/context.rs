//! The client context: what a client keeps between sealing an input and opening the enclave's
//! output (`docs/formats.md`, "Client context"). It holds the response secret: whoever has it
//! can read the output, so the CLI writes it with mode 0600.
//!
//! Every field is either compared with the signed receipt by [`crate::check_receipt`] (policy,
//! debug bit, platform id, sealed input digest, request id) or needed to open the output
//! (request id, response secret). Version 1 also held the digest of the evidence the input was
//! sealed against, which nothing at opening time can check — neither the receipt nor the sealed
//! output names it; the sealed input's header does, and the receipt's sealed input digest
//! already covers that header — so version 2 dropped it and version 1 is refused.

use std::fmt;

use attest::PlatformId;
use zeroize::Zeroizing;

use crate::digest::SealedInputDigest;
use crate::error::OpenError;
use crate::keys::{decode_policy, encode_policy, KeyPolicy, POLICY_BLOCK_LEN};
use crate::target::SealTarget;

/// The first 8 bytes of an encoded client context.
pub const CONTEXT_MAGIC: [u8; 8] = *b"ENCLCTXT";
/// The client context format version (2: version 1 had an unchecked evidence digest).
pub const CONTEXT_VERSION: u16 = 2;
/// Length of an encoded client context: 176 bytes.
pub const CONTEXT_LEN: usize = 8 + 2 + POLICY_BLOCK_LEN + 4 * 32;

/// What the client keeps between [`crate::seal`] and [`crate::open_output`]. Zeroized on drop;
/// `Debug` does not show the secret.
pub struct ClientContext {
    policy: KeyPolicy,
    debug: bool,
    platform_id: PlatformId,
    sealed_input_digest: SealedInputDigest,
    enc: [u8; 32],
    response_secret: Zeroizing<[u8; 32]>,
}

impl ClientContext {
    pub(crate) fn new(
        target: &SealTarget,
        sealed_input_digest: SealedInputDigest,
        enc: [u8; 32],
        response_secret: Zeroizing<[u8; 32]>,
    ) -> Self {
        Self {
            policy: target.policy,
            debug: target.debug,
            platform_id: target.platform_id,
            sealed_input_digest,
            enc,
            response_secret,
        }
    }

    /// The key policy the input was sealed to.
    pub fn policy(&self) -> &KeyPolicy {
        &self.policy
    }

    /// Whether the input was sealed for a debug enclave.
    pub fn debug(&self) -> bool {
        self.debug
    }

    /// The platform the input was sealed to.
    pub fn platform_id(&self) -> PlatformId {
        self.platform_id
    }

    /// SHA-256 of the sealed input the client produced (a receipt must name it).
    pub fn sealed_input_digest(&self) -> SealedInputDigest {
        self.sealed_input_digest
    }

    pub(crate) fn enc(&self) -> &[u8; 32] {
        &self.enc
    }

    /// The request id of the sealed input (its HPKE `enc`), which a receipt names as the
    /// request's nonce.
    pub fn request_id(&self) -> [u8; 32] {
        self.enc
    }

    pub(crate) fn response_secret(&self) -> &[u8; 32] {
        &self.response_secret
    }

    /// The 176-byte encoding (secret inside: zeroized on drop).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(CONTEXT_LEN));
        out.extend_from_slice(&CONTEXT_MAGIC);
        out.extend_from_slice(&CONTEXT_VERSION.to_be_bytes());
        out.extend_from_slice(&encode_policy(&self.policy, self.debug));
        out.extend_from_slice(self.platform_id.as_bytes());
        out.extend_from_slice(self.sealed_input_digest.as_bytes());
        out.extend_from_slice(&self.enc);
        out.extend_from_slice(self.response_secret.as_slice());
        out
    }

    /// Decodes exactly [`CONTEXT_LEN`] bytes. The magic and the version are checked before the
    /// length, so that a version 1 context (208 bytes) is refused as such.
    ///
    /// # Errors
    /// [`OpenError::NotClientContext`], [`OpenError::UnsupportedVersion`],
    /// [`OpenError::MalformedContext`] for another length, [`OpenError::MalformedPolicy`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, OpenError> {
        let wrong_length = || OpenError::MalformedContext("not 176 bytes");
        let (magic, rest) = bytes.split_first_chunk::<8>().ok_or_else(wrong_length)?;
        if *magic != CONTEXT_MAGIC {
            return Err(OpenError::NotClientContext);
        }
        let (version, rest) = rest.split_first_chunk::<2>().ok_or_else(wrong_length)?;
        let version = u16::from_be_bytes(*version);
        if version != CONTEXT_VERSION {
            return Err(OpenError::UnsupportedVersion(version));
        }
        let rest: &[u8; CONTEXT_LEN - 10] = rest.try_into().map_err(|_| wrong_length())?;
        let (block, rest) = split::<POLICY_BLOCK_LEN>(rest);
        let (policy, debug) = decode_policy(&block)?;
        let (platform, rest) = split::<32>(rest);
        let (input, rest) = split::<32>(rest);
        let (enc, rest) = split::<32>(rest);
        let (secret, _) = split::<32>(rest);
        Ok(Self {
            policy,
            debug,
            platform_id: PlatformId::from_bytes(platform),
            sealed_input_digest: SealedInputDigest::from_bytes(input),
            enc,
            response_secret: Zeroizing::new(secret),
        })
    }
}

/// The first `N` bytes and the rest; zeros when short (callers stay within `CONTEXT_LEN`).
fn split<const N: usize>(bytes: &[u8]) -> ([u8; N], &[u8]) {
    match bytes.split_first_chunk::<N>() {
        Some((head, rest)) => (*head, rest),
        None => ([0; N], &[]),
    }
}

impl fmt::Debug for ClientContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientContext")
            .field("policy", &self.policy)
            .field("debug", &self.debug)
            .field("platform_id", &self.platform_id)
            .field("sealed_input_digest", &self.sealed_input_digest)
            .finish_non_exhaustive()
    }
}
