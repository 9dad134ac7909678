//! The roots a relying party pins, parsed once, and the platform certificate chains already
//! validated under them.
//!
//! A relying party verifies many tokens from few platforms; validating the same `x5chain` to the
//! same root again costs an ECDSA verification and two certificate parses every time. A
//! [`TrustedRoots`] keeps the parsed trust anchors and, for each chain it has validated, what the
//! validation established: the leaf's key and TCB extension, and the leaf's validity period. A
//! later token whose `x5chain` is byte for byte the same, verified at a time inside that period,
//! reuses the result; anything else (other bytes, another time) is validated in full. The token's
//! own signature, claims and policy are always checked.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use rustls_pki_types::{CertificateDer, TrustAnchor};

use crate::chain::{self, LeafDetails};
use crate::error::VerifyError;

/// Most validated chains remembered; one more evicts the oldest.
pub const MAX_CACHED_CHAINS: usize = 64;

/// Pinned root certificates (DER), parsed once, with a bounded cache of the platform chains
/// validated under them. Cloning is cheap and shares the cache; share one across threads and
/// verifications (it is `Send + Sync`).
#[derive(Clone)]
pub struct TrustedRoots(Arc<Inner>);

struct Inner {
    ders: Vec<Vec<u8>>,
    /// The parsed anchors, or the error every verification reports (after the token's own
    /// structural checks, as when roots were parsed per verification).
    anchors: Result<Vec<TrustAnchor<'static>>, VerifyError>,
    chains: Mutex<Vec<ValidatedChain>>,
}

/// What validating one `x5chain` to a pinned root established.
#[derive(Clone)]
pub(crate) struct ValidatedChain {
    /// The chain exactly as it was received.
    chain: Vec<Vec<u8>>,
    /// The leaf's validity period, seconds since the Unix epoch, inclusive.
    not_before: u64,
    not_after: u64,
    /// The leaf details the signature check and the claims need.
    pub(crate) leaf: LeafDetails,
}

impl std::fmt::Debug for TrustedRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedRoots")
            .field("roots", &self.0.ders.len())
            .field("cached_chains", &self.lock().len())
            .finish()
    }
}

impl TrustedRoots {
    /// Trusts the root certificates `roots` (DER). A root that cannot be parsed as a trust
    /// anchor is reported by every verification as [`VerifyError::BadRoot`].
    pub fn new(roots: Vec<Vec<u8>>) -> Self {
        let anchors = roots
            .iter()
            .map(|der| {
                webpki::anchor_from_trusted_cert(&CertificateDer::from(der.as_slice()))
                    .map(|anchor| anchor.to_owned())
                    .map_err(|_| VerifyError::BadRoot)
            })
            .collect();
        Self(Arc::new(Inner {
            ders: roots,
            anchors,
            chains: Mutex::new(Vec::new()),
        }))
    }

    /// [`TrustedRoots::new`] with every `CERTIFICATE` block of `text`.
    ///
    /// # Errors
    /// [`VerifyError::BadRoot`] when the text holds no certificate or is not PEM.
    pub fn from_pem(text: &str) -> Result<Self, VerifyError> {
        Ok(Self::new(certificates_from_pem(text)?))
    }

    /// The pinned roots (DER).
    pub fn ders(&self) -> &[Vec<u8>] {
        &self.0.ders
    }

    /// Whether no root is pinned.
    pub fn is_empty(&self) -> bool {
        self.0.ders.is_empty()
    }

    /// Validates `chain` (leaf first) to a pinned root at `now`, or finds it validated before
    /// with `now` inside its leaf's validity period.
    pub(crate) fn validate(
        &self,
        chain: &[Vec<u8>],
        now: SystemTime,
    ) -> Result<LeafDetails, VerifyError> {
        let anchors = self.0.anchors.as_ref().map_err(Clone::clone)?;
        let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let cached = self
            .lock()
            .iter()
            .find(|c| c.chain == chain && (c.not_before..=c.not_after).contains(&secs))
            .map(|c| c.leaf.clone());
        if let Some(leaf) = cached {
            return Ok(leaf);
        }
        let (leaf, not_before, not_after) = chain::validate_chain(chain, anchors, now)?;
        let mut chains = self.lock();
        if chains.len() >= MAX_CACHED_CHAINS {
            chains.remove(0);
        }
        chains.retain(|c| c.chain != chain);
        chains.push(ValidatedChain {
            chain: chain.to_vec(),
            not_before,
            not_after,
            leaf: leaf.clone(),
        });
        Ok(leaf)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ValidatedChain>> {
        self.0.chains.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
/// Every `CERTIFICATE` block of a PEM text, as DER.
///
/// # Errors
/// [`VerifyError::BadRoot`] when the text is not PEM or holds no certificate.
pub fn certificates_from_pem(text: &str) -> Result<Vec<Vec<u8>>, VerifyError> {
    let blocks = pem::parse_many(text).map_err(|_| VerifyError::BadRoot)?;
    let certs: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .collect();
    if certs.is_empty() {
        return Err(VerifyError::BadRoot);
    }
    Ok(certs)
}
