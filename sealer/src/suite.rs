//! The AEAD a sealed input uses for its HPKE context, its STREAM chunks and the enclave's
//! response (`docs/formats.md`, "Sealed input"): AES-256-GCM where the CPU runs it in hardware,
//! ChaCha20-Poly1305 otherwise. The sealed header names it (its RFC 9180 `aead_id`), so the
//! reader needs no guess.

use std::fmt;

use ring::aead;

/// An AEAD of the sealed formats, named by its RFC 9180 HPKE `aead_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AeadSuite {
    /// AES-256-GCM (NIST SP 800-38D), HPKE `aead_id` 0x0002.
    Aes256Gcm,
    /// ChaCha20-Poly1305 (RFC 8439), HPKE `aead_id` 0x0003.
    ChaCha20Poly1305,
}

/// Most STREAM chunks under one AES-256-GCM key: 2^24 chunks of 64 KiB (1 TiB), which keeps
/// the confidentiality advantage of AES-GCM below 2^-57 (draft-irtf-cfrg-aead-limits §5.1:
/// `(q · (l + 1))² / 2^129` with `l = 4097` blocks per chunk). ChaCha20-Poly1305 has no such
/// bound within a 64-bit counter.
pub(crate) const AES_GCM_MAX_CHUNKS: u64 = 1 << 24;

impl AeadSuite {
    /// Every suite this build reads, in order of preference.
    pub const ALL: [AeadSuite; 2] = [AeadSuite::Aes256Gcm, AeadSuite::ChaCha20Poly1305];

    /// The RFC 9180 `aead_id`.
    pub const fn id(self) -> u16 {
        match self {
            Self::Aes256Gcm => 0x0002,
            Self::ChaCha20Poly1305 => 0x0003,
        }
    }

    /// The suite of an `aead_id`, if this build knows it.
    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|suite| suite.id() == id)
    }

    /// The suite a sealer picks by default among those an enclave accepts: AES-256-GCM when
    /// this CPU has AES and carry-less multiplication instructions (ring then runs its AES-NI /
    /// VAES code), ChaCha20-Poly1305 otherwise — or when AES-256-GCM is not in `accepted`.
    /// `None` when `accepted` names no suite this build knows.
    pub fn preferred(accepted: &[u16]) -> Option<Self> {
        let accepts = |suite: Self| accepted.contains(&suite.id());
        if hardware_aes() && accepts(Self::Aes256Gcm) {
            Some(Self::Aes256Gcm)
        } else if accepts(Self::ChaCha20Poly1305) {
            Some(Self::ChaCha20Poly1305)
        } else {
            Self::ALL.into_iter().find(|suite| accepts(*suite))
        }
    }

    /// The default suite for an enclave of this build (which reads every suite in [`Self::ALL`]).
    pub fn local_default() -> Self {
        if hardware_aes() {
            Self::Aes256Gcm
        } else {
            Self::ChaCha20Poly1305
        }
    }

    /// Most STREAM chunks one key may seal under this suite.
    pub(crate) const fn max_chunks(self) -> u64 {
        match self {
            Self::Aes256Gcm => AES_GCM_MAX_CHUNKS,
            Self::ChaCha20Poly1305 => u64::MAX,
        }
    }

    pub(crate) fn ring(self) -> &'static aead::Algorithm {
        match self {
            Self::Aes256Gcm => &aead::AES_256_GCM,
            Self::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        }
    }
}

impl fmt::Display for AeadSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Aes256Gcm => "AES-256-GCM",
            Self::ChaCha20Poly1305 => "ChaCha20-Poly1305",
        })
    }
}

/// Whether this CPU has the instructions ring's fast AES-GCM needs.
fn hardware_aes() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_unknown_ids_are_none() {
        for suite in AeadSuite::ALL {
            assert_eq!(AeadSuite::from_id(suite.id()), Some(suite));
        }
        assert_eq!(AeadSuite::from_id(0x0001), None);
        assert_eq!(AeadSuite::from_id(0xffff), None);
    }

    #[test]
    fn preference_respects_what_the_enclave_accepts() {
        assert_eq!(
            AeadSuite::preferred(&[0x0003]),
            Some(AeadSuite::ChaCha20Poly1305)
        );
        assert_eq!(AeadSuite::preferred(&[0x0002]), Some(AeadSuite::Aes256Gcm));
        assert_eq!(AeadSuite::preferred(&[0x0001, 0x7777]), None);
        assert_eq!(
            AeadSuite::preferred(&[0x0002, 0x0003]),
            Some(AeadSuite::local_default())
        );
    }
}
