//! Attacks on artifacts and enclaves, so a workload's tests can check it holds up under the same
//! threats as the project's own. Each mutates bytes or state the way an operator or network
//! attacker could; feed the result back to the runtime or client and assert the error. For
//! randomised mutations with shrinking see [`super::mutations`]; for the sealed store
//! ([`rollback`], [`reset_and_replay`]) see also [`super::store`].

use std::time::{Duration, SystemTime};

use attest::{Manifest, VerifyError};
use enclave_runtime::confidential::ConfidentialError;
use enclave_runtime::{Enclave, LoadError, RunError};
use sealer::OpenError;

use super::exchange::{Answer, Flow, Replayed};
use super::store::StoreSnapshot;
use super::{manifest, Harness, HarnessError};

/// `bytes` with bit `bit` (0–7) of byte `index` flipped.
pub fn flip(bytes: &[u8], index: usize, bit: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if let Some(b) = out.get_mut(index) {
        *b ^= 1 << (bit % 8);
    }
    out
}

/// The first `len` bytes.
pub fn truncate(bytes: &[u8], len: usize) -> Vec<u8> {
    bytes.get(..len).unwrap_or(bytes).to_vec()
}

/// `bytes` followed by `garbage`.
pub fn append(bytes: &[u8], garbage: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out.extend_from_slice(garbage);
    out
}

/// Byte positions to attack in an artifact of `len` bytes: every byte of a small one, a
/// spread of about `samples` positions (always including the first and last 64) of a large
/// one.
pub fn positions(len: usize, samples: usize) -> Vec<usize> {
    if len <= samples {
        return (0..len).collect();
    }
    let stride = (len / samples.max(1)).max(1);
    let mut out: Vec<usize> = (0..64.min(len)).collect();
    out.extend((64..len.saturating_sub(64)).step_by(stride));
    out.extend(len.saturating_sub(64)..len);
    out.dedup();
    out
}

/// A bundle of `module` signed with the same author as `h` and **the harness's default
/// [`manifest()`]** changed by `change`. To change *your* enclave's manifest, use
/// [`resign_from`] or [`variant`], which start from the manifest you give.
///
/// # Errors
/// [`HarnessError::Bundle`].
pub fn resign(
    h: &Harness,
    module: &[u8],
    change: impl FnOnce(&mut Manifest),
) -> Result<Vec<u8>, HarnessError> {
    resign_from(h, module, &manifest(), change)
}

/// A bundle of `module` signed with the same author as `h`, with `base` changed by `change`
/// (a lower svn, debug on, more fuel): "same signer, different enclave".
///
/// # Errors
/// [`HarnessError::Bundle`].
pub fn resign_from(
    h: &Harness,
    module: &[u8],
    base: &Manifest,
    change: impl FnOnce(&mut Manifest),
) -> Result<Vec<u8>, HarnessError> {
    let mut m = base.clone();
    change(&mut m);
    h.sign(module, &m)
}

/// A variant of `enclave` in one call: its own module and manifest changed by `change`, signed
/// by the same author and loaded (e.g. `|m| m.debug = true`, `|m| m.svn = Svn(0)`).
///
/// # Errors
/// [`HarnessError::Bundle`], [`HarnessError::Load`].
pub fn variant(
    h: &Harness,
    enclave: &Enclave,
    change: impl FnOnce(&mut Manifest),
) -> Result<Enclave, HarnessError> {
    let bundle = enclave.bundle();
    h.load(&resign_from(h, bundle.module(), bundle.manifest(), change)?)
}

/// Loads `bundle` with one bit flipped at `index`: the runtime's refusal, or `None` if it
/// loaded (a finding).
pub fn tamper_bundle(h: &Harness, bundle: &[u8], index: usize) -> Option<LoadError> {
    match h.load(&flip(bundle, index, 0)) {
        Err(HarnessError::Load(e)) => Some(e),
        _ => None,
    }
}

/// Replaces the module inside a signed bundle with `other` while keeping the signature, as an
/// operator substituting code would: the runtime's refusal, or `None` if it loaded.
pub fn swap_module(h: &Harness, bundle: &[u8], module: &[u8], other: &[u8]) -> Option<LoadError> {
    let at = bundle.windows(module.len()).position(|w| w == module)?;
    // With another length the CBOR length prefix no longer fits either: the parser or the
    // signature check refuses it.
    let mut evil = bundle.to_vec();
    evil.splice(at..at + module.len(), other.iter().copied());
    match h.load(&evil) {
        Err(HarnessError::Load(e)) => Some(e),
        _ => None,
    }
}

/// Presents `old_evidence` (made for another nonce) to a verifier expecting `fresh_nonce`.
pub fn replay_report(
    h: &Harness,
    enclave: &Enclave,
    old_evidence: &[u8],
    fresh_nonce: &[u8],
) -> Option<VerifyError> {
    attest::verify(
        old_evidence,
        &h.policy(enclave, fresh_nonce),
        SystemTime::now(),
    )
    .err()
}

/// Evidence issued `age` ago, verified now with its own nonce under the default policy: the
/// verifier's refusal ([`VerifyError::Stale`] beyond the policy's maximum age, 5 minutes by
/// default), or `None` if it was accepted. Dated by argument, never by waiting.
pub fn stale_evidence(h: &Harness, enclave: &Enclave, age: Duration) -> Option<VerifyError> {
    let nonce = h.nonce();
    let now = SystemTime::now();
    let issued = now.checked_sub(age)?;
    let evidence = h.attest_at(enclave, &nonce, issued).ok()?;
    attest::verify(&evidence, &h.policy(enclave, &nonce), now).err()
}

/// Runs a sealed input meant for one enclave on another (e.g. a lower svn, a debug build,
/// another module, or the same enclave on another platform of the fleet: pass that platform's
/// harness): the runtime's refusal, or `None` if it ran.
pub fn run_elsewhere(h: &Harness, other: &Enclave, sealed_input: &[u8]) -> Option<OpenError> {
    match h.run_sealed(other, sealed_input) {
        Err(ConfidentialError::Input(e)) => Some(e),
        _ => None,
    }
}

/// Runs `enclave` on `input` expecting it to fail (exhausted fuel or memory, a trap, …): the
/// run's error, or `None` if it succeeded.
pub fn exhaust(h: &Harness, enclave: &Enclave, input: &[u8]) -> Option<RunError> {
    match h.run(enclave, input) {
        Err(HarnessError::Run(e)) => Some(e),
        _ => None,
    }
}

/// The operator replays a recorded sealed input `times` times: each run's result (a replay
/// the platform refuses is an `Err`).
pub fn replay(
    h: &Harness,
    enclave: &Enclave,
    sealed_input: &[u8],
    times: usize,
) -> Vec<Result<Replayed, HarnessError>> {
    (0..times)
        .map(|_| h.replay(enclave, sealed_input))
        .collect()
}

/// The operator puts back an older copy of `enclave`'s sealed store — state and counter both
/// (`snapshot`, from [`Harness::store_snapshot`]), the undetectable rollback of a simulator
/// without a hardware monotonic counter — and then replays `sealed_inputs` in order: each
/// replay's result.
///
/// # Errors
/// [`HarnessError::Io`] when the snapshot cannot be put back.
pub fn rollback_and_replay(
    h: &Harness,
    enclave: &Enclave,
    snapshot: &StoreSnapshot,
    sealed_inputs: &[&[u8]],
) -> Result<Vec<Result<Replayed, HarnessError>>, HarnessError> {
    h.store_restore(snapshot)?;
    Ok(sealed_inputs
        .iter()
        .map(|input| h.replay(enclave, input))
        .collect())
}

/// The operator deletes `enclave`'s sealed store and its counter ([`Harness::store_reset`])
/// and replays only the chosen `sealed_inputs`: each replay's result.
///
/// # Errors
/// [`HarnessError::Io`] when the store cannot be removed.
pub fn reset_and_replay(
    h: &Harness,
    enclave: &Enclave,
    sealed_inputs: &[&[u8]],
) -> Result<Vec<Result<Replayed, HarnessError>>, HarnessError> {
    h.store_reset(enclave)?;
    Ok(sealed_inputs
        .iter()
        .map(|input| h.replay(enclave, input))
        .collect())
}

/// The operator puts back only the sealed state of an older `snapshot`, keeping the platform
/// counter, and a client sends `input` sealed (debug evidence accepted for a debug enclave):
/// the failed run's error (a rolled-back store is refused, [`super::StoreError::RolledBack`]
/// inside [`RunError::Fault`], see [`super::store::store_error`]), or `None` if it ran.
///
/// # Errors
/// [`HarnessError::Io`] when the state cannot be put back; any error of
/// [`Harness::exchange`].
pub fn rollback(
    h: &Harness,
    enclave: &Enclave,
    snapshot: &StoreSnapshot,
    input: &[u8],
) -> Result<Option<RunError>, HarnessError> {
    h.store_restore_state_only(snapshot)?;
    let flow = Flow {
        allow_debug: enclave.bundle().manifest().debug,
        ..Flow::new()
    };
    match h.exchange(enclave, input, &flow)?.answer {
        Answer::Refused { error, .. } => Ok(Some(error)),
        Answer::Output(_) => Ok(None),
    }
}
