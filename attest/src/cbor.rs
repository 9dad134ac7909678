//! Strict decoding of untrusted CBOR (RFC 8949).
//!
//! Every structure this project reads from a file, a peer or a guest goes through
//! [`decode_exact`]: the size is capped before any parsing, nesting is limited far below anything
//! that could exhaust the stack, the target type is a typed struct (callers use
//! `deny_unknown_fields` and `serde_bytes`), and trailing bytes are an error.

use serde::de::DeserializeOwned;

/// Deepest nesting accepted in any structure this project decodes; ours need fewer than 8.
pub const RECURSION_LIMIT: usize = 16;

/// Why a CBOR item was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CborError {
    /// The input is larger than the caller's cap; nothing was parsed.
    #[error("{what} is {size} bytes, larger than the {limit}-byte limit")]
    TooLarge {
        /// What was being decoded.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The bytes are not a well-formed item of the expected shape.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's description.
        detail: String,
    },
    /// A complete item was followed by more bytes.
    #[error("{what} has {count} trailing bytes")]
    TrailingBytes {
        /// What was being decoded.
        what: &'static str,
        /// How many bytes followed the item.
        count: usize,
    },
}

/// Decodes exactly one CBOR item of type `T` from `bytes`.
///
/// # Errors
/// [`CborError::TooLarge`] before any parsing when `bytes` exceeds `limit`;
/// [`CborError::Malformed`] for bad CBOR, excess nesting or a shape `T` refuses;
/// [`CborError::TrailingBytes`] when anything follows the item.
pub fn decode_exact<T: DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
    limit: usize,
) -> Result<T, CborError> {
    if bytes.len() > limit {
        return Err(CborError::TooLarge {
            what,
            size: bytes.len(),
            limit,
        });
    }
    let mut rest = bytes;
    let value = ciborium::de::from_reader_with_recursion_limit(&mut rest, RECURSION_LIMIT)
        .map_err(
            |e: ciborium::de::Error<std::io::Error>| CborError::Malformed {
                what,
                detail: describe(&e),
            },
        )?;
    if !rest.is_empty() {
        return Err(CborError::TrailingBytes {
            what,
            count: rest.len(),
        });
    }
    Ok(value)
}

/// Encodes `value` as CBOR. Encoding our own typed values cannot fail short of a bug.
pub fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec is infallible, and our types contain no maps with non-string keys.
    if let Err(e) = ciborium::ser::into_writer(value, &mut out) {
        unreachable!("encoding a typed value into memory failed: {e}");
    }
    out
}

fn describe(e: &ciborium::de::Error<std::io::Error>) -> String {
    match e {
        ciborium::de::Error::Io(io) => format!("truncated ({io})"),
        ciborium::de::Error::Syntax(offset) => format!("syntax error at byte {offset}"),
        ciborium::de::Error::Semantic(Some(offset), msg) => format!("{msg} (at byte {offset})"),
        ciborium::de::Error::Semantic(None, msg) => msg.clone(),
        ciborium::de::Error::RecursionLimitExceeded => {
            format!("nested deeper than {RECURSION_LIMIT} levels")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        a: u32,
        #[serde(with = "serde_bytes")]
        b: Vec<u8>,
    }

    #[test]
    fn round_trip() {
        let s = Sample {
            a: 7,
            b: vec![1, 2, 3],
        };
        let bytes = encode(&s);
        assert_eq!(decode_exact::<Sample>("sample", &bytes, 100).unwrap(), s);
    }

    #[test]
    fn refuses_trailing_bytes() {
        let mut bytes = encode(&Sample { a: 7, b: vec![] });
        bytes.push(0);
        assert_eq!(
            decode_exact::<Sample>("sample", &bytes, 100),
            Err(CborError::TrailingBytes {
                what: "sample",
                count: 1
            })
        );
    }

    #[test]
    fn refuses_oversize_before_parsing() {
        let bytes = vec![0xff; 1000];
        assert!(matches!(
            decode_exact::<Sample>("sample", &bytes, 10),
            Err(CborError::TooLarge {
                size: 1000,
                limit: 10,
                ..
            })
        ));
    }

    #[test]
    fn refuses_unknown_fields_and_deep_nesting() {
        #[derive(serde::Serialize)]
        struct Extra {
            a: u32,
            b: serde_bytes::ByteBuf,
            c: u8,
        }
        let bytes = encode(&Extra {
            a: 1,
            b: serde_bytes::ByteBuf::new(),
            c: 2,
        });
        assert!(matches!(
            decode_exact::<Sample>("sample", &bytes, 100),
            Err(CborError::Malformed { .. })
        ));
        // 10,000 nested one-element arrays: refused without touching the stack limit.
        let mut bomb = vec![0x81u8; 10_000];
        bomb.push(0x00);
        let err = decode_exact::<ciborium::Value>("bomb", &bomb, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("nested deeper"), "{err}");
    }
}
