//! Randomness: the system CSPRNG behind a small fallible trait, so tests can be deterministic,
//! and an adapter that hands `hpke` bytes drawn beforehand (its RNG trait cannot fail).

use hpke::rand_core::{CryptoRng, RngCore};
use ring::rand::SecureRandom as _;
use zeroize::Zeroizing;

use crate::error::SealError;

/// A source of secret random bytes.
pub(crate) trait Entropy {
    /// Fills `dest`.
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), SealError>;
}

/// The operating system's CSPRNG (`getrandom`), through ring.
pub(crate) struct SystemEntropy(ring::rand::SystemRandom);

impl SystemEntropy {
    pub(crate) fn new() -> Self {
        Self(ring::rand::SystemRandom::new())
    }
}

impl Entropy for SystemEntropy {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), SealError> {
        self.0.fill(dest).map_err(|_| SealError::Random)
    }
}

/// 32 bytes drawn in advance, handed to `hpke`'s encapsulation (which draws exactly 32: the
/// ephemeral key's IKM). Drawing more is recorded and refused by [`Self::check`].
pub(crate) struct PrefilledRng {
    bytes: Zeroizing<[u8; 32]>,
    taken: usize,
    overdrawn: bool,
}

impl PrefilledRng {
    pub(crate) fn draw(entropy: &mut impl Entropy) -> Result<Self, SealError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        entropy.fill(bytes.as_mut_slice())?;
        Ok(Self {
            bytes,
            taken: 0,
            overdrawn: false,
        })
    }

    /// Refuses the result of an operation that wanted more than the prefilled bytes.
    pub(crate) fn check(&self) -> Result<(), SealError> {
        if self.overdrawn {
            Err(SealError::Random)
        } else {
            Ok(())
        }
    }
}

impl RngCore for PrefilledRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for slot in dest {
            match self.bytes.get(self.taken) {
                Some(&b) => {
                    *slot = b;
                    self.taken += 1;
                }
                None => {
                    *slot = 0;
                    self.overdrawn = true;
                }
            }
        }
    }
}

impl CryptoRng for PrefilledRng {}

/// Deterministic bytes for tests: a counter pattern, never secret.
#[cfg(test)]
pub(crate) struct TestEntropy(pub(crate) u8);

#[cfg(test)]
impl Entropy for TestEntropy {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), SealError> {
        for slot in dest {
            *slot = self.0;
            self.0 = self.0.wrapping_add(1);
        }
        Ok(())
    }
}
