//! Sealed input: a client encrypts a payload so that only one enclave identity on one platform
//! can read it (`docs/formats.md`, "Sealed input").
//!
//! Layout: a 178-byte header — the 130 bytes that name the target (bound into the HPKE `info`),
//! the HPKE `enc` and a 16-byte key-confirmation tag — then the STREAM chunks of the payload,
//! under a key exported from the HPKE context, with the AEAD the header names ([`AeadSuite`]).
//! Its digest ([`SealedInputDigest`]) is two-level: SHA-256 over the header and the SHA-256 of
//! every sealed chunk, so the chunks are hashed by the threads that seal them.

use std::fmt;
use std::io::{self, Read, Write};

use attest::PlatformId;
use hpke::{Deserializable as _, OpModeR, OpModeS, Serializable as _};
use zeroize::Zeroizing;

use crate::context::ClientContext;
use crate::digest::{EvidenceDigest, InputDigester, SealedInputDigest};
use crate::entropy::{Entropy, PrefilledRng, SystemEntropy};
use crate::error::{OpenError, SealError};
use crate::kem::{EnclaveKem, KemPublicKey};
use crate::keypair::{EnclaveKeyPair, Kdf, Kem, KDF_ID, KEM_ID};
use crate::keys::{decode_policy, encode_policy, EnclaveIdentity, KeyPolicy, POLICY_BLOCK_LEN};
use crate::output::ResponseSealer;
use crate::padding::{self, PaddedInput};
use crate::stream::{
    chunk_count, seal_stream, ChunkFailure, Plan, StreamDigest, StreamKey, StreamReader, CHUNK_LEN,
    PARALLEL_MIN_CHUNKS, TAG_LEN,
};
use crate::suite::AeadSuite;
pub use crate::target::SealTarget;
use std::num::NonZeroU64;

/// The first 8 bytes of a sealed input.
pub const INPUT_MAGIC: [u8; 8] = *b"ENCLSEAL";
/// The sealed input format version (2: the AEAD may be AES-256-GCM, and the digest is
/// two-level; version 1 inputs are refused).
pub const INPUT_VERSION: u16 = 2;
/// The version of a padded sealed input: as [`INPUT_VERSION`], with a payload of the
/// plaintext's length (u64), the plaintext and zeros up to a multiple of the client's bucket, so
/// the header's length field tells only the bucket (`docs/formats.md`, "Padding").
pub const PADDED_INPUT_VERSION: u16 = 3;
/// Length of the part of the header bound into the HPKE `info`.
const BOUND_LEN: usize = 130;
/// Length of the whole header.
pub const HEADER_LEN: usize = BOUND_LEN + 32 + TAG_LEN;
/// HPKE exporter context of the payload (STREAM) key.
pub(crate) const PAYLOAD_EXPORT: &[u8] = b"enclave/v1 sealed-input payload";
/// HPKE exporter context of the response secret (RFC 9458 §4.4 analog).
pub(crate) const RESPONSE_EXPORT: &[u8] = b"enclave/v1 sealed-output secret";
const CHUNK_LEN_U32: u32 = CHUNK_LEN as u32;

/// How to seal: the AEAD and the threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealOptions {
    /// The AEAD of the HPKE context, the chunks and the response; it must be one the enclave
    /// advertises (see [`AeadSuite::preferred`]).
    pub suite: AeadSuite,
    /// Threads that encrypt and hash besides the calling thread; `1` (or 0) seals on the
    /// calling thread alone, for callers that schedule their own threads.
    pub workers: usize,
}

impl SealOptions {
    /// The defaults of [`seal`] for a payload of `plaintext_len` bytes: this CPU's preferred
    /// suite ([`AeadSuite::local_default`]) and up to 4 workers for payloads of 512 KiB or more.
    pub fn for_len(plaintext_len: u64) -> Self {
        // Asking the system for its parallelism reads cgroup files; a payload sealed on this
        // thread alone anyway need not ask.
        let workers = if chunk_count(plaintext_len) < PARALLEL_MIN_CHUNKS {
            1
        } else {
            default_workers()
        };
        Self {
            suite: AeadSuite::local_default(),
            workers,
        }
    }
}

/// Seals `plaintext_len` bytes from `plaintext` to `target`, writing the sealed input to `out`.
///
/// Uses [`SealOptions::for_len`]: AES-256-GCM where the CPU has AES instructions,
/// ChaCha20-Poly1305 otherwise (every enclave of this build reads both). Payloads of 8 chunks
/// (512 KiB) or more are encrypted and hashed on up to 4 threads besides the calling one (the
/// bytes are the same as sealing on one thread); memory use is at most two batch buffers
/// (16 chunks, about 1 MiB, each) per thread whatever the length. The returned [`ClientContext`] is
/// what the client needs later to open the enclave's output; it holds a secret.
///
/// # Errors
/// [`SealError::InputShorter`] / [`SealError::InputLonger`] when `plaintext` does not hold
/// exactly `plaintext_len` bytes (what was written must then be discarded),
/// [`SealError::InvalidPublicKey`], [`SealError::Random`], [`SealError::Io`],
/// [`SealError::TooManyChunks`] past 1 TiB under AES-256-GCM.
pub fn seal<R: Read, W: Write>(
    target: &SealTarget,
    plaintext: R,
    plaintext_len: u64,
    out: W,
) -> Result<ClientContext, SealError> {
    let options = SealOptions::for_len(plaintext_len);
    seal_with_options(target, options, plaintext, plaintext_len, out)
}

/// As [`seal`], with at most `workers` threads encrypting besides the calling thread; `1` (or 0)
/// seals on the calling thread alone, for callers that schedule their own threads.
///
/// # Errors
/// As [`seal`].
pub fn seal_with_workers<R: Read, W: Write>(
    target: &SealTarget,
    plaintext: R,
    plaintext_len: u64,
    out: W,
    workers: usize,
) -> Result<ClientContext, SealError> {
    let options = SealOptions {
        workers,
        ..SealOptions::for_len(0)
    };
    seal_with_options(target, options, plaintext, plaintext_len, out)
}

/// As [`seal`], with the suite and the threads chosen by the caller.
///
/// # Errors
/// As [`seal`].
pub fn seal_with_options<R: Read, W: Write>(
    target: &SealTarget,
    options: SealOptions,
    plaintext: R,
    plaintext_len: u64,
    out: W,
) -> Result<ClientContext, SealError> {
    seal_with(
        &mut SystemEntropy::new(),
        target,
        options,
        plaintext,
        plaintext_len,
        out,
    )
}

/// As [`seal_with_options`], padded (format version 3): the header declares, and the file
/// holds, the smallest multiple of `bucket` bytes that holds an 8-byte length and the
/// plaintext, so two plaintexts whose padded lengths agree seal to files of one length.
///
/// # Errors
/// As [`seal`], the lengths in [`SealError::InputShorter`] and [`SealError::InputLonger`] being
/// the plaintext's; [`SealError::TooManyChunks`] also when the padded length overflows.
pub fn seal_padded<R: Read, W: Write>(
    target: &SealTarget,
    options: SealOptions,
    bucket: NonZeroU64,
    plaintext: R,
    plaintext_len: u64,
    out: W,
) -> Result<ClientContext, SealError> {
    let payload_len =
        padding::padded_input_len(plaintext_len, bucket).ok_or(SealError::TooManyChunks)?;
    let payload = PaddedInput::new(plaintext, plaintext_len, payload_len);
    seal_payload(
        &mut SystemEntropy::new(),
        target,
        options,
        PADDED_INPUT_VERSION,
        payload,
        payload_len,
        out,
    )
    .map_err(|e| PaddedInput::<R>::plaintext_error(e, plaintext_len))
}

/// Threads that encrypt a large payload besides the calling thread: the machine's parallelism,
/// at most 4 (beyond that the writer's hashing and I/O are the limit).
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

pub(crate) fn seal_with<R: Read, W: Write>(
    entropy: &mut impl Entropy,
    target: &SealTarget,
    options: SealOptions,
    plaintext: R,
    plaintext_len: u64,
    out: W,
) -> Result<ClientContext, SealError> {
    seal_payload(
        entropy,
        target,
        options,
        INPUT_VERSION,
        plaintext,
        plaintext_len,
        out,
    )
}

/// Seals a payload of `plaintext_len` bytes (for version 3, the padded payload) in `version`.
fn seal_payload<R: Read, W: Write>(
    entropy: &mut impl Entropy,
    target: &SealTarget,
    options: SealOptions,
    version: u16,
    mut plaintext: R,
    plaintext_len: u64,
    mut out: W,
) -> Result<ClientContext, SealError> {
    let suite = options.suite;
    // Refused before a byte is written.
    if chunk_count(plaintext_len) > suite.max_chunks() {
        return Err(SealError::TooManyChunks);
    }
    let bound = encode_bound(target, suite, version, plaintext_len);
    let public = <Kem as hpke::kem::Kem>::PublicKey::from_bytes(target.public_key.as_bytes())
        .map_err(|_| SealError::InvalidPublicKey)?;
    let mut rng = PrefilledRng::draw(entropy)?;
    let sender = match suite {
        AeadSuite::Aes256Gcm => setup_sender::<hpke::aead::AesGcm256>(&public, &bound, &mut rng),
        AeadSuite::ChaCha20Poly1305 => {
            setup_sender::<hpke::aead::ChaCha20Poly1305>(&public, &bound, &mut rng)
        }
    }?;
    rng.check()?;

    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(&bound);
    header.extend_from_slice(&sender.enc);
    header.extend_from_slice(&sender.confirmation);
    out.write_all(&header)?;
    let mut digest = InputDigester::new(&header, chunk_count(plaintext_len));
    seal_stream(
        StreamKey::new(suite, &sender.payload_key),
        &mut plaintext,
        plaintext_len,
        &mut out,
        &mut digest,
        options.workers,
    )?;
    out.flush()?;

    Ok(ClientContext::new(
        target,
        SealedInputDigest::from_bytes(digest.value()),
        sender.enc,
        sender.response_secret,
    ))
}

/// What the sender's HPKE context yields.
struct SenderSecrets {
    enc: [u8; 32],
    confirmation: Vec<u8>,
    payload_key: Zeroizing<[u8; 32]>,
    response_secret: Zeroizing<[u8; 32]>,
}

/// `SetupBaseS` with the AEAD `A`, the key confirmation and the two exported secrets.
fn setup_sender<A: hpke::aead::Aead>(
    public: &<Kem as hpke::kem::Kem>::PublicKey,
    bound: &[u8],
    rng: &mut PrefilledRng,
) -> Result<SenderSecrets, SealError> {
    let (enc, mut context) =
        hpke::setup_sender::<A, Kdf, Kem, _>(&OpModeS::Base, public, bound, rng)
            .map_err(|_| SealError::InvalidPublicKey)?;
    let confirmation = context.seal(&[], &[]).map_err(|_| SealError::Encryption)?;
    let mut payload_key = Zeroizing::new([0u8; 32]);
    let mut response_secret = Zeroizing::new([0u8; 32]);
    context
        .export(PAYLOAD_EXPORT, payload_key.as_mut_slice())
        .and_then(|()| context.export(RESPONSE_EXPORT, response_secret.as_mut_slice()))
        .map_err(|_| SealError::Encryption)?;
    Ok(SenderSecrets {
        enc: enc.to_bytes().into(),
        confirmation,
        payload_key,
        response_secret,
    })
}

/// The two secrets exported from a sealed input's HPKE context: payload key, response secret.
type ExportedSecrets = (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>);

/// `SetupBaseR` with the AEAD `A`, the key confirmation checked, and the two exported secrets.
fn setup_receiver<A: hpke::aead::Aead>(
    keypair: &EnclaveKeyPair,
    enc: &KemPublicKey,
    bound: &[u8],
    confirmation: &[u8],
) -> Result<ExportedSecrets, OpenError> {
    let mut context =
        hpke::setup_receiver::<A, Kdf, EnclaveKem>(&OpModeR::Base, keypair.private(), enc, bound)
            .map_err(|_| OpenError::Decryption)?;
    context
        .open(confirmation, &[])
        .map_err(|_| OpenError::Decryption)?;
    let mut payload_key = Zeroizing::new([0u8; 32]);
    let mut response_secret = Zeroizing::new([0u8; 32]);
    context
        .export(PAYLOAD_EXPORT, payload_key.as_mut_slice())
        .and_then(|()| context.export(RESPONSE_EXPORT, response_secret.as_mut_slice()))
        .map_err(|_| OpenError::Decryption)?;
    Ok((payload_key, response_secret))
}

/// The first 130 header bytes: everything that names the target, and the suite.
fn encode_bound(
    target: &SealTarget,
    suite: AeadSuite,
    version: u16,
    plaintext_len: u64,
) -> Vec<u8> {
    let mut bound = Vec::with_capacity(BOUND_LEN);
    bound.extend_from_slice(&INPUT_MAGIC);
    bound.extend_from_slice(&version.to_be_bytes());
    bound.extend_from_slice(&KEM_ID.to_be_bytes());
    bound.extend_from_slice(&KDF_ID.to_be_bytes());
    bound.extend_from_slice(&suite.id().to_be_bytes());
    bound.extend_from_slice(&encode_policy(&target.policy, target.debug));
    bound.extend_from_slice(target.evidence_digest.as_bytes());
    bound.extend_from_slice(target.platform_id.as_bytes());
    bound.extend_from_slice(&plaintext_len.to_be_bytes());
    bound.extend_from_slice(&CHUNK_LEN_U32.to_be_bytes());
    bound
}

/// The parsed header of a sealed input. Nothing in it is authenticated until
/// [`SealedInputHeader::open`] succeeds; the getters serve the policy checks that come first.
pub struct SealedInputHeader {
    bytes: [u8; HEADER_LEN],
    policy: KeyPolicy,
    debug: bool,
    evidence_digest: EvidenceDigest,
    platform_id: PlatformId,
    plaintext_len: u64,
    suite: AeadSuite,
    padded: bool,
}

impl SealedInputHeader {
    /// Reads and parses the fixed-size header, leaving `reader` at the first chunk.
    ///
    /// # Errors
    /// [`OpenError::TruncatedHeader`], [`OpenError::NotSealedInput`],
    /// [`OpenError::UnsupportedVersion`], [`OpenError::UnsupportedSuite`],
    /// [`OpenError::MalformedPolicy`], [`OpenError::UnsupportedChunkSize`], [`OpenError::Io`].
    pub fn read(reader: &mut impl Read) -> Result<Self, OpenError> {
        let mut bytes = [0u8; HEADER_LEN];
        reader.read_exact(&mut bytes).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => OpenError::TruncatedHeader,
            _ => OpenError::Io(e),
        })?;
        Self::parse(bytes)
    }

    fn parse(bytes: [u8; HEADER_LEN]) -> Result<Self, OpenError> {
        let mut cursor = Cursor(&bytes);
        if cursor.take::<8>() != INPUT_MAGIC {
            return Err(OpenError::NotSealedInput);
        }
        let version = u16::from_be_bytes(cursor.take());
        if version != INPUT_VERSION && version != PADDED_INPUT_VERSION {
            return Err(OpenError::UnsupportedVersion(version));
        }
        let (kem, kdf, aead) = (
            u16::from_be_bytes(cursor.take()),
            u16::from_be_bytes(cursor.take()),
            u16::from_be_bytes(cursor.take()),
        );
        let suite = AeadSuite::from_id(aead)
            .filter(|_| (kem, kdf) == (KEM_ID, KDF_ID))
            .ok_or(OpenError::UnsupportedSuite { kem, kdf, aead })?;
        let (policy, debug) = decode_policy(&cursor.take::<POLICY_BLOCK_LEN>())?;
        let evidence_digest = EvidenceDigest::from_bytes(cursor.take());
        let platform_id = PlatformId::from_bytes(cursor.take());
        let plaintext_len = u64::from_be_bytes(cursor.take());
        let chunk = u32::from_be_bytes(cursor.take());
        if chunk != CHUNK_LEN_U32 {
            return Err(OpenError::UnsupportedChunkSize(chunk));
        }
        Ok(Self {
            bytes,
            policy,
            debug,
            evidence_digest,
            platform_id,
            plaintext_len,
            suite,
            padded: version == PADDED_INPUT_VERSION,
        })
    }

    /// The AEAD the input was sealed with (from the header's `aead_id`; authenticated once
    /// opened: it is in the HPKE `info`).
    pub fn suite(&self) -> AeadSuite {
        self.suite
    }

    /// The key policy the input was sealed to.
    pub fn policy(&self) -> &KeyPolicy {
        &self.policy
    }

    /// Whether it was sealed for a debug enclave.
    pub fn debug(&self) -> bool {
        self.debug
    }

    /// The digest of the evidence the client sealed against.
    pub fn evidence_digest(&self) -> EvidenceDigest {
        self.evidence_digest
    }

    /// The platform the client sealed to.
    pub fn platform_id(&self) -> PlatformId {
        self.platform_id
    }

    /// The plaintext length the client declared (authenticated once opened).
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// The request id: the HPKE encapsulated key `enc`, fresh for every sealed input. A receipt
    /// names it as the request's nonce, and the client's context holds the same value.
    pub fn request_id(&self) -> [u8; 32] {
        let mut enc = [0u8; 32];
        if let Some(bytes) = self.bytes.get(BOUND_LEN..BOUND_LEN + 32) {
            enc.copy_from_slice(bytes);
        }
        enc
    }

    /// Checks the input was sealed to this platform and to a policy `identity` may use, with
    /// its debug bit.
    ///
    /// # Errors
    /// [`OpenError::PlatformMismatch`], [`OpenError::DebugMismatch`], and those of
    /// [`EnclaveIdentity::check_policy`] (including [`OpenError::SvnTooNew`]).
    pub fn check_binding(
        &self,
        identity: &EnclaveIdentity,
        platform_id: &PlatformId,
    ) -> Result<(), OpenError> {
        if self.platform_id != *platform_id {
            return Err(OpenError::PlatformMismatch {
                sealed: self.platform_id,
                platform: *platform_id,
            });
        }
        if self.debug != identity.debug {
            return Err(OpenError::DebugMismatch {
                sealed: self.debug,
                enclave: identity.debug,
            });
        }
        identity.check_policy(&self.policy)
    }

    /// Opens the input with the enclave's key pair for the header's policy: decapsulates,
    /// checks the key confirmation tag, and returns the plaintext reader and the sealer for
    /// the response. Call [`Self::check_binding`] first.
    ///
    /// # Errors
    /// [`OpenError::KeyPolicyMismatch`] when `keypair` is for another policy or debug bit;
    /// [`OpenError::Decryption`] when the header was altered or sealed to another key.
    pub fn open<R: Read>(
        self,
        keypair: &EnclaveKeyPair,
        reader: R,
    ) -> Result<(OpenReader<R>, ResponseSealer), OpenError> {
        if *keypair.policy() != self.policy || keypair.debug() != self.debug {
            return Err(OpenError::KeyPolicyMismatch);
        }
        let mut cursor = Cursor(&self.bytes);
        let bound = cursor.take::<BOUND_LEN>();
        let enc_bytes = cursor.take::<32>();
        let confirmation = cursor.take::<TAG_LEN>();
        let enc = KemPublicKey::from_bytes(&enc_bytes).map_err(|_| OpenError::Decryption)?;
        let (payload_key, response_secret) = match self.suite {
            AeadSuite::Aes256Gcm => {
                setup_receiver::<hpke::aead::AesGcm256>(keypair, &enc, &bound, &confirmation)
            }
            AeadSuite::ChaCha20Poly1305 => {
                setup_receiver::<hpke::aead::ChaCha20Poly1305>(keypair, &enc, &bound, &confirmation)
            }
        }?;
        let chunks = chunk_count(self.plaintext_len);
        if chunks > self.suite.max_chunks() {
            return Err(OpenError::Stream(crate::StreamError::TooManyChunks));
        }
        let plan = Plan::Known {
            len: self.plaintext_len,
            chunks,
        };
        let digest = StreamDigest::Chunked(InputDigester::new(&self.bytes, chunks));
        let key = StreamKey::new(self.suite, &payload_key);
        let stream = StreamReader::new(reader, key, plan, digest);
        let mut reader = OpenReader {
            stream,
            position: 0,
            plaintext_len: self.plaintext_len,
            padded: false,
            delivered: 0,
        };
        if self.padded {
            reader.take_length_prefix(self.plaintext_len)?;
        }
        let sealer = ResponseSealer::new(self.suite, enc_bytes, response_secret);
        Ok((reader, sealer))
    }
}

impl fmt::Debug for SealedInputHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedInputHeader")
            .field("policy", &self.policy)
            .field("debug", &self.debug)
            .field("evidence_digest", &self.evidence_digest)
            .field("platform_id", &self.platform_id)
            .field("plaintext_len", &self.plaintext_len)
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

/// Fixed-size fields from a fixed-size header, front to back.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    /// The next `N` bytes; zeros past the end (callers only read within `HEADER_LEN`).
    fn take<const N: usize>(&mut self) -> [u8; N] {
        match self.0.split_first_chunk::<N>() {
            Some((head, rest)) => {
                self.0 = rest;
                *head
            }
            None => [0; N],
        }
    }
}

/// The plaintext of a sealed input, authenticated chunk by chunk as it is read.
///
/// A failure surfaces as an [`io::Error`] of kind `InvalidData` whose inner error is an
/// [`OpenError`] (`err.get_ref()` then `downcast_ref::<OpenError>()`); I/O errors of the
/// underlying reader pass through. Plaintext already returned before a failure is not
/// authenticated as a whole: treat the input as invalid unless the reader reached its end or
/// [`Self::finish`] succeeded.
pub struct OpenReader<R> {
    stream: StreamReader<R>,
    position: usize,
    plaintext_len: u64,
    /// A padded input: reads stop after `plaintext_len` bytes, and the rest must be zeros.
    padded: bool,
    delivered: u64,
}

impl<R: Read> OpenReader<R> {
    /// The plaintext length: the header's, or for a padded input the length its first chunk
    /// names (authenticated either way).
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// Reads and authenticates whatever is left (discarding its plaintext), checks nothing
    /// follows the final chunk, and returns the digest of the whole sealed input.
    ///
    /// # Errors
    /// [`OpenError::Stream`] or [`OpenError::Io`].
    pub fn finish(mut self) -> Result<SealedInputDigest, OpenError> {
        // A padded input's padding: whatever the guest left unread is skipped first.
        let mut padding_ok = true;
        if self.padded {
            let unread = self.plaintext_len.saturating_sub(self.delivered);
            let mut skip = [0u8; 8192];
            let mut left = unread;
            while left > 0 {
                let n = usize::try_from(left).unwrap_or(skip.len()).min(skip.len());
                let got = self
                    .read(skip.get_mut(..n).unwrap_or_default())
                    .map_err(as_open_error)?;
                if got == 0 {
                    return Err(OpenError::BadPadding);
                }
                left -= got as u64;
            }
            padding_ok = self
                .stream
                .current()
                .get(self.position..)
                .unwrap_or_default()
                .iter()
                .all(|&b| b == 0);
        }
        while !self.stream.is_done() {
            match self.stream.next_chunk() {
                Ok(Some(chunk)) => padding_ok &= !self.padded || chunk.iter().all(|&b| b == 0),
                Ok(None) => {}
                Err(ChunkFailure::Io(e)) => return Err(OpenError::Io(e)),
                Err(ChunkFailure::Stream(e)) => return Err(OpenError::Stream(e)),
            }
        }
        if !padding_ok {
            return Err(OpenError::BadPadding);
        }
        Ok(SealedInputDigest::from_bytes(self.stream.digest()))
    }

    /// Opens a padded input's first chunk and reads the plaintext length from it; the payload
    /// of `payload_len` bytes must hold it.
    fn take_length_prefix(&mut self, payload_len: u64) -> Result<(), OpenError> {
        let mut prefix = [0u8; 8];
        self.plaintext_len = padding::INPUT_LENGTH_PREFIX;
        self.read_exact(&mut prefix).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => OpenError::BadPadding,
            _ => as_open_error(e),
        })?;
        let len = u64::from_be_bytes(prefix);
        if len > payload_len.saturating_sub(padding::INPUT_LENGTH_PREFIX) {
            return Err(OpenError::BadPadding);
        }
        self.padded = true;
        self.plaintext_len = len;
        self.delivered = 0;
        Ok(())
    }
}

impl<R: Read> Read for OpenReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // While the length prefix is read, `padded` is still false and `plaintext_len` is 8.
        let left = self.plaintext_len.saturating_sub(self.delivered);
        if self.padded && left == 0 {
            return Ok(0);
        }
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        loop {
            if let Some(chunk) = self.stream.current().get(self.position..) {
                if !chunk.is_empty() {
                    let n = chunk.len().min(want);
                    if let (Some(dst), Some(src)) = (buf.get_mut(..n), chunk.get(..n)) {
                        dst.copy_from_slice(src);
                    }
                    self.position = self.position.saturating_add(n);
                    self.delivered = self.delivered.saturating_add(n as u64);
                    return Ok(n);
                }
            }
            if self.stream.is_done() {
                return Ok(0);
            }
            self.position = 0;
            match self.stream.next_chunk() {
                Ok(_) => {}
                Err(ChunkFailure::Io(e)) => return Err(e),
                Err(ChunkFailure::Stream(e)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        OpenError::Stream(e),
                    ))
                }
            }
        }
    }
}

/// The [`OpenError`] inside a read failure of [`OpenReader`], or the I/O error itself.
fn as_open_error(error: io::Error) -> OpenError {
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<OpenError>())
    {
        Some(OpenError::Stream(e)) => OpenError::Stream(*e),
        _ => OpenError::Io(error),
    }
}

impl<R> fmt::Debug for OpenReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenReader")
            .field("plaintext_len", &self.plaintext_len)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::TestEntropy;
    use attest::Measurement;
    use sha2::{Digest as _, Sha256};

    fn target() -> SealTarget {
        let secret = crate::PlatformSecret::from_bytes([5; 32]);
        let policy = KeyPolicy::Measurement(Measurement::from_bytes([1; 32]));
        SealTarget {
            public_key: EnclaveKeyPair::derive(&secret, &policy, false).public(),
            policy,
            debug: false,
            evidence_digest: EvidenceDigest::from_bytes([2; 32]),
            platform_id: PlatformId::from_bytes([3; 32]),
        }
    }

    fn options(workers: usize) -> SealOptions {
        SealOptions {
            suite: AeadSuite::ChaCha20Poly1305,
            workers,
        }
    }

    /// The two-level digest, computed from the sealed bytes alone.
    fn two_level_digest(sealed: &[u8], len: u64) -> [u8; 32] {
        let (header, chunks) = sealed.split_at(HEADER_LEN);
        let count = chunk_count(len);
        let mut outer = Sha256::new();
        outer.update(b"enclave/v2 sealed-input digest");
        outer.update(header);
        outer.update(count.to_be_bytes());
        for chunk in chunks.chunks(CHUNK_LEN + TAG_LEN) {
            outer.update(Sha256::digest(chunk));
        }
        outer.finalize().into()
    }

    fn keypair() -> EnclaveKeyPair {
        let secret = crate::PlatformSecret::from_bytes([5; 32]);
        EnclaveKeyPair::derive(&secret, &target().policy, false)
    }

    /// Opens `sealed`, reads all of its plaintext, authenticates the rest.
    fn open_all(sealed: &[u8]) -> Result<(Vec<u8>, u64), OpenError> {
        let mut reader = sealed;
        let header = SealedInputHeader::read(&mut reader)?;
        let (mut plain, _) = header.open(&keypair(), reader)?;
        let len = plain.plaintext_len();
        let mut out = Vec::new();
        plain.read_to_end(&mut out).map_err(OpenError::Io)?;
        plain.finish()?;
        Ok((out, len))
    }

    fn bucket(n: u64) -> NonZeroU64 {
        NonZeroU64::new(n).unwrap()
    }

    fn padded(plaintext: &[u8], pad: u64) -> Vec<u8> {
        let mut out = Vec::new();
        seal_padded(
            &target(),
            options(1),
            bucket(pad),
            plaintext,
            plaintext.len() as u64,
            &mut out,
        )
        .unwrap();
        out
    }

    #[test]
    fn padded_inputs_of_one_bucket_have_one_length_and_open_to_their_plaintext() {
        let short = padded(b"{\"name\":\"Al\"}", 4096);
        let long = padded(&[b'x'; 4088], 4096);
        assert_eq!(short.len(), long.len());
        assert_eq!(short.len(), HEADER_LEN + 4096 + TAG_LEN);
        assert_eq!(short[8..10], PADDED_INPUT_VERSION.to_be_bytes());
        assert_eq!(
            short[118..126],
            4096u64.to_be_bytes(),
            "the header names the bucket"
        );
        assert_eq!(
            open_all(&short).unwrap(),
            (b"{\"name\":\"Al\"}".to_vec(), 13)
        );
        assert_eq!(open_all(&long).unwrap(), (vec![b'x'; 4088], 4088));
        assert_eq!(
            padded(&[b'x'; 4089], 4096).len(),
            HEADER_LEN + 8192 + TAG_LEN
        );
        // Across chunks, and read only in part: the rest is still authenticated.
        let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let sealed = padded(&big, 100_000);
        assert_eq!(sealed.len(), HEADER_LEN + 300_000 + 5 * TAG_LEN);
        assert_eq!(open_all(&sealed).unwrap().0, big);
        let mut reader = &sealed[..];
        let header = SealedInputHeader::read(&mut reader).unwrap();
        let (mut plain, _) = header.open(&keypair(), reader).unwrap();
        let mut first = [0u8; 10];
        plain.read_exact(&mut first).unwrap();
        assert_eq!(first[..], big[..10]);
        let digest = plain.finish().unwrap();
        assert_eq!(*digest.as_bytes(), two_level_digest(&sealed, 300_000));
    }

    #[test]
    fn padded_inputs_name_plaintext_lengths_in_errors() {
        let err = seal_padded(
            &target(),
            options(1),
            bucket(64),
            &b"abc"[..],
            5,
            Vec::new(),
        );
        assert!(matches!(
            err,
            Err(SealError::InputShorter {
                declared: 5,
                actual: 3
            })
        ));
        let err = seal_padded(
            &target(),
            options(1),
            bucket(64),
            &b"abcdef"[..],
            5,
            Vec::new(),
        );
        assert!(matches!(err, Err(SealError::InputLonger { declared: 5 })));
    }

    #[test]
    fn bad_padding_is_refused() {
        let seal_payload_bytes = |payload: &[u8]| {
            let mut out = Vec::new();
            seal_payload(
                &mut TestEntropy(1),
                &target(),
                options(1),
                PADDED_INPUT_VERSION,
                payload,
                payload.len() as u64,
                &mut out,
            )
            .unwrap();
            out
        };
        let mut payload = 3u64.to_be_bytes().to_vec();
        payload.extend_from_slice(b"abc\0\0");
        assert_eq!(open_all(&seal_payload_bytes(&payload)).unwrap().0, b"abc");
        // A nonzero byte in the padding, a length past the payload, no room for the length.
        let mut nonzero = payload.clone();
        nonzero[12] = 1;
        let mut too_long = payload.clone();
        too_long[7] = 6;
        for bad in [nonzero, too_long, b"\0\0\0".to_vec()] {
            assert!(
                matches!(
                    open_all(&seal_payload_bytes(&bad)),
                    Err(OpenError::BadPadding)
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sealing_is_deterministic_given_the_randomness() {
        let seal = |seed| {
            let mut out = Vec::new();
            seal_with(
                &mut TestEntropy(seed),
                &target(),
                options(1),
                &b"abc"[..],
                3,
                &mut out,
            )
            .unwrap();
            out
        };
        assert_eq!(seal(0), seal(0));
        assert_ne!(seal(0)[BOUND_LEN..], seal(1)[BOUND_LEN..]);
        let sealed = seal(0);
        assert_eq!(sealed.len(), HEADER_LEN + 3 + TAG_LEN);
        assert_eq!(
            sealed[..BOUND_LEN],
            encode_bound(&target(), AeadSuite::ChaCha20Poly1305, INPUT_VERSION, 3)[..]
        );
        assert_eq!(sealed[..8], *b"ENCLSEAL");
        assert_eq!(sealed[8..16], [0, 2, 0, 0x20, 0, 1, 0, 3]);
        assert_eq!(sealed[118..130], [0, 0, 0, 0, 0, 0, 0, 3, 0, 1, 0, 0]);
    }

    #[test]
    fn aes_gcm_inputs_of_more_than_2_to_the_24_chunks_are_refused_both_ways() {
        let len = (1u64 << 24) * CHUNK_LEN as u64 + 1;
        let aes = SealOptions {
            suite: AeadSuite::Aes256Gcm,
            workers: 1,
        };
        let mut out = Vec::new();
        let sealed = seal_with(
            &mut TestEntropy(3),
            &target(),
            aes,
            io::empty(),
            len,
            &mut out,
        );
        assert!(matches!(sealed, Err(SealError::TooManyChunks)));
        assert!(out.is_empty());
        // A header declaring it, made as the sealer would, is refused once opened.
        let bound = encode_bound(&target(), AeadSuite::Aes256Gcm, INPUT_VERSION, len);
        let public =
            <Kem as hpke::kem::Kem>::PublicKey::from_bytes(target().public_key.as_bytes()).unwrap();
        let mut rng = PrefilledRng::draw(&mut TestEntropy(3)).unwrap();
        let sender = setup_sender::<hpke::aead::AesGcm256>(&public, &bound, &mut rng).unwrap();
        let header = [bound, sender.enc.to_vec(), sender.confirmation].concat();
        let parsed = SealedInputHeader::read(&mut header.as_slice()).unwrap();
        assert_eq!(parsed.suite(), AeadSuite::Aes256Gcm);
        let secret = crate::PlatformSecret::from_bytes([5; 32]);
        let keypair = EnclaveKeyPair::derive(&secret, &target().policy, false);
        assert!(matches!(
            parsed.open(&keypair, io::empty()),
            Err(OpenError::Stream(crate::StreamError::TooManyChunks))
        ));
    }

    /// Payload lengths around the parallel threshold and chunk edges.
    fn lengths() -> Vec<u64> {
        let chunk = CHUNK_LEN as u64;
        let threshold = crate::stream::PARALLEL_MIN_CHUNKS * chunk;
        vec![
            threshold - 1,
            threshold,
            threshold + 1,
            13 * chunk,
            13 * chunk + 7,
            40 * chunk - 1,
        ]
    }

    #[test]
    fn parallel_sealing_writes_the_bytes_of_sequential_sealing() {
        for (suite, len) in AeadSuite::ALL
            .into_iter()
            .flat_map(|suite| lengths().into_iter().map(move |len| (suite, len)))
        {
            let plaintext: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let seal = |workers| {
                let mut out = Vec::new();
                let context = seal_with(
                    &mut TestEntropy(9),
                    &target(),
                    SealOptions { suite, workers },
                    plaintext.as_slice(),
                    len,
                    &mut out,
                )
                .unwrap();
                (out, context.sealed_input_digest())
            };
            let (one, digest) = seal(1);
            assert_eq!(one[14..16], suite.id().to_be_bytes());
            assert_eq!(digest.as_bytes(), &two_level_digest(&one, len), "len {len}");
            for workers in [2, 3, 4, 64] {
                let (many, many_digest) = seal(workers);
                assert!(
                    one == many,
                    "{suite}, len {len}, {workers} workers: other bytes"
                );
                assert_eq!(digest, many_digest, "{suite}, len {len}, {workers} workers");
            }
        }
    }

    #[test]
    fn parallel_sealing_notices_a_payload_of_the_wrong_length() {
        for declared in lengths() {
            for actual in [declared - 1, declared + 1, declared / 2, 0] {
                let plaintext = vec![7u8; usize::try_from(actual).unwrap()];
                let result = seal_with(
                    &mut TestEntropy(1),
                    &target(),
                    options(3),
                    plaintext.as_slice(),
                    declared,
                    io::sink(),
                );
                match result {
                    Err(SealError::InputShorter {
                        declared: d,
                        actual: a,
                    }) => {
                        assert_eq!((d, a), (declared, actual), "declared {declared}");
                    }
                    Err(SealError::InputLonger { declared: d }) => {
                        assert_eq!(d, declared);
                        assert!(actual > declared);
                    }
                    other => panic!("declared {declared}, actual {actual}: {other:?}"),
                }
            }
        }
    }

    /// A writer that fails after `left` bytes.
    struct FailingWriter {
        left: usize,
    }

    impl Write for FailingWriter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.left == 0 {
                return Err(io::Error::other("disk full"));
            }
            let n = buf.len().min(self.left);
            self.left -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn parallel_sealing_stops_at_a_write_error() {
        let len = 20 * CHUNK_LEN as u64;
        let plaintext = vec![1u8; 20 * CHUNK_LEN];
        for left in [0, HEADER_LEN + 10, 5 * CHUNK_LEN] {
            let result = seal_with(
                &mut TestEntropy(2),
                &target(),
                options(4),
                plaintext.as_slice(),
                len,
                FailingWriter { left },
            );
            match result {
                Err(SealError::Io(e)) => assert_eq!(e.to_string(), "disk full"),
                other => panic!("{other:?}"),
            }
        }
    }
}
