//! Newtypes for the SHA-256 digests that tie sealed files to evidence and receipts.

use std::fmt;

/// A 32-byte digest that prints as lowercase hex.
macro_rules! digest_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name([u8; 32]);

        impl $name {
            /// Wraps raw digest bytes.
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The raw digest bytes.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for byte in self.0 {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }
    };
}

digest_newtype!(
    /// SHA-256 of the attestation evidence a sealed input was sealed against, exactly as the
    /// client received it.
    EvidenceDigest
);
digest_newtype!(
    /// SHA-256 of a whole sealed input file (header and every chunk), as written by [`crate::seal`].
    SealedInputDigest
);
digest_newtype!(
    /// SHA-256 of a whole sealed output file (header and every chunk).
    SealedOutputDigest
);
