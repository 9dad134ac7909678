//! Mutations of an artifact as [proptest](https://docs.rs/proptest) strategies, beside the fixed
//! [`super::attacks::flip`] and [`super::attacks::positions`]: a failing case shrinks to the
//! smallest mutation (the lowest position, the lowest bit, the shortest garbage) that the code
//! under test accepted. Use them in `proptest!` blocks, or in one call with [`assert_refused`]:
//!
//! ```
//! use enclave_tests::guests::WORDCOUNT;
//! use enclave_tests::harness::{manifest, mutations, Harness};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let h = Harness::new()?;
//! let enclave = h.load(&h.sign(WORDCOUNT, &manifest())?)?;
//! let out = h.confidential(&enclave, b"secret words")?;
//! // 64 random mutations of the receipt, each refused by the client.
//! mutations::assert_refused(&out.receipt_bytes, 64, |receipt| {
//!     h.open(&out.context, receipt, &out.sealed_output).is_err()
//! });
//! # Ok(())
//! # }
//! ```

/// proptest itself, so that a workload's `proptest!` blocks need no dependency of their own:
/// `use enclave_tests::harness::mutations::proptest::prelude::*`.
pub use proptest;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

/// One change to an artifact; never the identity.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mutation {
    /// Bit `bit` of byte `index` flipped.
    Flip {
        /// The byte.
        index: usize,
        /// The bit, 0–7.
        bit: u8,
    },
    /// Byte `index` XORed with the non-zero `mask`.
    Xor {
        /// The byte.
        index: usize,
        /// The mask.
        mask: u8,
    },
    /// Cut to the first `len` bytes (shorter than the artifact).
    Truncate(usize),
    /// Garbage appended.
    Append(Vec<u8>),
    /// `bytes` inserted before byte `at`.
    Insert {
        /// Where.
        at: usize,
        /// What.
        bytes: Vec<u8>,
    },
}

impl Mutation {
    /// `bytes` changed by this mutation.
    pub fn apply(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        match self {
            Self::Flip { index, bit } => {
                if let Some(b) = out.get_mut(*index) {
                    *b ^= 1 << (bit % 8);
                }
            }
            Self::Xor { index, mask } => {
                if let Some(b) = out.get_mut(*index) {
                    *b ^= mask;
                }
            }
            Self::Truncate(len) => out.truncate(*len),
            Self::Append(garbage) => out.extend_from_slice(garbage),
            Self::Insert { at, bytes } => {
                let at = (*at).min(out.len());
                out.splice(at..at, bytes.iter().copied());
            }
        }
        out
    }
}

/// Single-bit flips of an artifact of `len` bytes (`len` > 0).
pub fn bit_flip(len: usize) -> impl Strategy<Value = Mutation> {
    (0..len.max(1), 0u8..8).prop_map(|(index, bit)| Mutation::Flip { index, bit })
}

/// Any mutation of an artifact of `len` bytes (`len` > 0): bit flips and byte XORs (most
/// likely), truncations, appended garbage and insertions of 1–64 bytes.
pub fn mutation(len: usize) -> impl Strategy<Value = Mutation> {
    let len = len.max(1);
    let garbage = proptest::collection::vec(any::<u8>(), 1..64);
    prop_oneof![
        4 => bit_flip(len),
        2 => (0..len, 1u8..=255).prop_map(|(index, mask)| Mutation::Xor { index, mask }),
        1 => (0..len).prop_map(Mutation::Truncate),
        1 => garbage.clone().prop_map(Mutation::Append),
        1 => (0..len, garbage).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
    ]
}

/// `bytes` under [`mutation`]: the mutation and the mutated bytes.
pub fn mutated(bytes: Vec<u8>) -> impl Strategy<Value = (Mutation, Vec<u8>)> {
    mutation(bytes.len()).prop_map(move |m| {
        let out = m.apply(&bytes);
        (m, out)
    })
}

/// Checks `cases` random mutations of `bytes`: each must make `refused` true. On a mutation it
/// accepts, the smallest such mutation after shrinking, as an error message.
///
/// # Errors
/// The minimal accepted [`Mutation`], described.
pub fn check_refused(
    bytes: &[u8],
    cases: u32,
    refused: impl Fn(&[u8]) -> bool,
) -> Result<(), String> {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&mutation(bytes.len()), |m| {
        if refused(&m.apply(bytes)) {
            Ok(())
        } else {
            Err(TestCaseError::fail("accepted"))
        }
    });
    match result {
        Ok(()) => Ok(()),
        Err(TestError::Fail(_, m)) => Err(format!("a mutated artifact was accepted: {m:?}")),
        Err(TestError::Abort(reason)) => Err(format!("property test aborted: {reason}")),
    }
}

/// [`check_refused`] as an assertion: panics (a failing test) with the minimal accepted
/// mutation.
#[allow(clippy::panic, reason = "an assertion for tests: failing is its job")]
#[track_caller]
pub fn assert_refused(bytes: &[u8], cases: u32, refused: impl Fn(&[u8]) -> bool) {
    if let Err(message) = check_refused(bytes, cases, refused) {
        panic!("{message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_shrinks_to_the_smallest_mutation() {
        // Accepts any change that leaves byte 10 alone: the minimal accepted mutation is a flip
        // of bit 0 of byte 0.
        let bytes = vec![0u8; 32];
        let message = check_refused(&bytes, 256, |m| m.get(10) != bytes.get(10)).unwrap_err();
        assert_eq!(
            message,
            "a mutated artifact was accepted: Flip { index: 0, bit: 0 }"
        );
    }

    #[test]
    fn no_mutation_is_the_identity() {
        let bytes = b"0123456789".to_vec();
        let mut runner = TestRunner::deterministic();
        runner
            .run(&mutated(bytes.clone()), |(m, out)| {
                prop_assert_ne!(&out, &bytes, "{:?}", m);
                Ok(())
            })
            .unwrap();
    }
}
