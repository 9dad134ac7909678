//! The compiled-code cache: native code wasmtime produced for a module, kept under the platform
//! home so that a later load skips compilation (the dominant cost of `enclave run`).
//!
//! Loading compiled code runs it as native code with none of wasm's checks, which is why
//! `Module::deserialize` is `unsafe`. So an entry is only ever deserialized after its MAC has
//! verified under a key derived from the platform secret: only this platform can make an entry
//! that loads. Anything else (a tampered, truncated, foreign or renamed entry) is refused, the
//! module is compiled from the verified bundle instead, and the entry is rewritten.
//!
//! | what | value |
//! |------|-------|
//! | directory | chosen by the platform: `<platform home>/cache/` (0700) |
//! | file name | `hex(SHA-256(SHA-256(module) ‖ engine fingerprint)).cwasm` (0600) |
//! | contents | `"ENCLCWv1"` ‖ tag (32 bytes) ‖ `Module::serialize()` (`Component::serialize()` for an `http` guest) |
//! | tag | HMAC-SHA256(key, `"ENCLCWv1"` ‖ SHA-256(module) ‖ engine fingerprint ‖ artifact) |
//! | key | `sealer::derive_key(secret, CodeCacheMac, Measurement(0³²), debug = false)` |
//!
//! The key is platform-wide: the cache serves every enclave, so its policy block names no
//! enclave but a fixed all-zero pseudo-measurement (no real module measures to it), production.
//! The engine fingerprint ([`EngineFingerprint`]) covers the wasmtime version, target, compiler
//! flags, fuel and epoch instrumentation and the stack limit, so a configuration change misses.
//! The tag covers the module digest and fingerprint as well, so an entry copied to another
//! entry's name does not verify.

use std::fs;
use std::io::{self, Read, Write as _};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt as _};
use std::path::{Path, PathBuf};

use attest::Measurement;
use ring::hmac;
use sealer::{derive_key, KeyPolicy, KeyPurpose, PlatformSecret};
use sha2::{Digest, Sha256};
use wasmtime::Engine;

use crate::compile::{self, Code, Compilation, Target};
use crate::engine::{EngineFingerprint, Flavor};
use crate::error::LoadError;
use crate::module_limits::ModuleLimitError;

/// The cache directory's name inside the platform home.
pub const DIR: &str = "cache";
/// The file name extension of an entry.
pub const EXTENSION: &str = "cwasm";
/// The first bytes of every entry (format version 1).
pub const MAGIC: &[u8; 8] = b"ENCLCWv1";
/// The pseudo-measurement in the cache key's policy block (see the module docs).
pub const KEY_POLICY_MEASUREMENT: [u8; 32] = [0; 32];
/// Largest entry read; a larger file is treated as tampered (and replaced).
pub const MAX_ENTRY_BYTES: u64 = 1 << 30;

const TAG_LEN: usize = 32;

/// A directory of authenticated compiled modules.
pub struct CodeCache {
    dir: PathBuf,
    key: hmac::Key,
}

impl std::fmt::Debug for CodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeCache")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// What a cached load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheOutcome {
    /// An authenticated entry was loaded; nothing was compiled.
    Hit,
    /// There was no entry: the module was compiled and an entry written.
    Miss,
    /// An entry was there but did not authenticate (tampered, truncated, foreign) or did not
    /// load: it was never deserialized, the module was compiled and the entry replaced.
    Refused,
}

/// An entry whose tag verified. Only [`CodeCache::authenticate`] makes one, and
/// [`deserialize`] takes nothing else: bytes that failed the check cannot reach it.
struct Authenticated<'a> {
    artifact: &'a [u8],
}

/// An entry refused by [`CodeCache::authenticate`].
#[derive(Debug)]
struct Unauthenticated;

impl CodeCache {
    /// A cache in `dir` authenticated with `mac_key` (32 bytes; see the module docs for the key
    /// `enclave` derives).
    pub fn new(dir: PathBuf, mac_key: &[u8; 32]) -> Self {
        Self {
            dir,
            key: hmac::Key::new(hmac::HMAC_SHA256, mac_key),
        }
    }

    /// The cache in `dir` of the platform whose sealing secret is `secret`: the key is
    /// derived as the module docs say, so only that platform's entries authenticate. The
    /// platform chooses the directory (`enclave_platform::Platform::code_cache`).
    pub fn for_secret(dir: PathBuf, secret: &PlatformSecret) -> Self {
        let policy = KeyPolicy::Measurement(Measurement::from_bytes(KEY_POLICY_MEASUREMENT));
        let key = derive_key(secret, KeyPurpose::CodeCacheMac, &policy, false);
        Self::new(dir, &key)
    }

    /// The directory entries live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The module compiled from `wasm` for `target`: from an authenticated entry, or compiled
    /// as `compilation` says (and then stored, best effort: a cache that cannot be written only
    /// costs time).
    ///
    /// A miss is compiled only after `wasm` passes the static module limits
    /// ([`crate::module_limits`]); a hit compiles nothing, and its entry was written after `wasm`
    /// passed them and compiled within the budget on this platform.
    ///
    /// # Errors
    /// As [`crate::compile`]: [`LoadError::ModuleLimit`], [`LoadError::InvalidModule`],
    /// [`LoadError::CompileBudget`].
    pub(crate) fn code(
        &self,
        target: &Target<'_>,
        wasm: &[u8],
        compilation: Compilation<'_>,
    ) -> Result<(Code, CacheOutcome), LoadError> {
        let engine = target.engine;
        let entry = EntryId::new(wasm, &target.fingerprint());
        let path = self.path(&entry);
        let outcome = match read_entry(&path) {
            Ok(bytes) => match self.authenticate(&entry, &bytes) {
                Ok(artifact) => match deserialize(engine, target.settings.flavor, artifact) {
                    Ok(module) => return Ok((module, CacheOutcome::Hit)),
                    Err(_) => CacheOutcome::Refused,
                },
                Err(Unauthenticated) => CacheOutcome::Refused,
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => CacheOutcome::Miss,
            Err(_) => CacheOutcome::Refused,
        };
        let compiled = compile::compile(compilation, target, wasm)?;
        // Best effort: the module is good whether or not the entry could be written.
        let _ = match &compiled.serialized {
            Some(artifact) => self.store(&entry, &path, artifact),
            None => compiled
                .code
                .serialize()
                .map_err(io::Error::other)
                .and_then(|artifact| self.store(&entry, &path, &artifact)),
        };
        Ok((compiled.code, outcome))
    }

    fn path(&self, entry: &EntryId) -> PathBuf {
        self.dir
            .join(format!("{}.{EXTENSION}", hex::encode(entry.name())))
    }

    /// Checks an entry's magic and tag; the artifact is handed out only if both hold.
    fn authenticate<'a>(
        &self,
        entry: &EntryId,
        bytes: &'a [u8],
    ) -> Result<Authenticated<'a>, Unauthenticated> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(Unauthenticated)?;
        let (tag, artifact) = rest.split_at_checked(TAG_LEN).ok_or(Unauthenticated)?;
        hmac::verify(&self.key, &entry.signed_bytes(artifact), tag).map_err(|_| Unauthenticated)?;
        Ok(Authenticated { artifact })
    }

    fn store(&self, entry: &EntryId, path: &Path, artifact: &[u8]) -> io::Result<()> {
        let tag = hmac::sign(&self.key, &entry.signed_bytes(artifact));
        let mut bytes = Vec::with_capacity(MAGIC.len() + TAG_LEN + artifact.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(tag.as_ref());
        bytes.extend_from_slice(artifact);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        // Atomically, 0600: a reader sees the old entry or the whole new one. Not synced: an
        // entry lost in a crash is only recompiled, and a torn one does not authenticate.
        let mut file = tempfile::Builder::new()
            .prefix(".enclave-tmp-")
            .permissions(fs::Permissions::from_mode(0o600))
            .tempfile_in(&self.dir)?;
        file.write_all(&bytes)?;
        file.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// What an entry is for: a module digest and an engine fingerprint.
struct EntryId {
    module: [u8; 32],
    engine: EngineFingerprint,
}

impl EntryId {
    fn new(wasm: &[u8], engine: &EngineFingerprint) -> Self {
        Self {
            module: Sha256::digest(wasm).into(),
            engine: *engine,
        }
    }

    /// The digest an entry's file is named by.
    fn name(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(self.module);
        hash.update(self.engine.as_bytes());
        hash.finalize().into()
    }

    /// What the tag covers, the artifact included.
    fn signed_bytes(&self, artifact: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(MAGIC.len() + 64 + artifact.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&self.module);
        bytes.extend_from_slice(self.engine.as_bytes());
        bytes.extend_from_slice(artifact);
        bytes
    }
}

fn read_entry(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    fs::File::open(path)?
        .take(MAX_ENTRY_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_ENTRY_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "cache entry too large",
        ));
    }
    Ok(bytes)
}

impl From<ModuleLimitError> for LoadError {
    fn from(error: ModuleLimitError) -> Self {
        match error {
            ModuleLimitError::Exceeded(limit) => LoadError::ModuleLimit(limit),
            ModuleLimitError::Invalid(message) => LoadError::InvalidModule(message),
            ModuleLimitError::Component
            | ModuleLimitError::NotComponent
            | ModuleLimitError::InComponent { .. } => LoadError::InvalidModule(error.to_string()),
        }
    }
}

fn deserialize(
    engine: &Engine,
    flavor: Flavor,
    entry: Authenticated<'_>,
) -> wasmtime::Result<Code> {
    #[cfg(test)]
    tests::DESERIALIZED.with(|n| n.set(n.get() + 1));
    // SAFETY: `Module::deserialize` requires bytes that `Module::serialize` produced, because
    // they are loaded as native code unchecked. An `Authenticated` exists only for bytes whose
    // HMAC-SHA256 tag verified under a key derived from this platform's secret, which only this
    // runtime holds and only `CodeCache::store` uses to tag `Module::serialize()` output. The
    // bytes were read into memory once and verified there, so they cannot change between the
    // check and this call. wasmtime itself then checks that the artifact's version and engine
    // settings match `engine`, and refuses it otherwise.
    #[allow(
        unsafe_code,
        reason = "loading compiled code is unsafe; this one call loads only authenticated bytes"
    )]
    unsafe {
        compile::deserialize(engine, flavor, entry.artifact)
    }
}

#[cfg(test)]
mod tests;
