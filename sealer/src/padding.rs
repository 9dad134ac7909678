//! Padding of sealed payloads, so that a sealed file's length tells its carrier only a bucket,
//! not the plaintext's length (`docs/formats.md`, "Padding").
//!
//! A padded **output** (version 3) is the plaintext, the byte `0x80` and zeros, up to the next
//! multiple of the enclave's `pad_output` (ISO/IEC 7816-4 padding): the enclave streams its
//! answer without knowing its length in advance. A padded **input** (version 3) is the
//! plaintext's length as a u64, the plaintext and zeros, up to a multiple of the client's
//! bucket: the enclave must know the length before the guest reads (`input_len`), and the
//! client does.

use std::io::{self, Read};
use std::num::NonZeroU64;

use crate::error::SealError;

/// Bytes before a padded input's plaintext: its length, a big-endian u64.
pub const INPUT_LENGTH_PREFIX: u64 = 8;

/// The payload length of a padded input of `len` plaintext bytes: the smallest multiple of
/// `bucket` that holds the length prefix and the plaintext, or `None` past `u64::MAX`.
pub fn padded_input_len(len: u64, bucket: NonZeroU64) -> Option<u64> {
    let needed = len.checked_add(INPUT_LENGTH_PREFIX)?;
    needed.checked_next_multiple_of(bucket.get())
}

/// The payload of a padded input: the length prefix, exactly `len` bytes of `inner`, zeros.
/// A short `inner` ends the payload early and a long one adds bytes past its end, so the
/// sealer's own checks report them; [`PaddedInput::plaintext_error`] restates them in the
/// plaintext's terms.
pub(crate) struct PaddedInput<R> {
    prefix: [u8; 8],
    prefix_left: usize,
    inner: R,
    body_left: u64,
    zeros_left: u64,
}

impl<R: Read> PaddedInput<R> {
    pub(crate) fn new(inner: R, len: u64, payload_len: u64) -> Self {
        Self {
            prefix: len.to_be_bytes(),
            prefix_left: 8,
            inner,
            body_left: len,
            zeros_left: payload_len
                .saturating_sub(len)
                .saturating_sub(INPUT_LENGTH_PREFIX),
        }
    }

    /// The sealer's error about the payload, about the plaintext of `len` bytes instead.
    pub(crate) fn plaintext_error(error: SealError, len: u64) -> SealError {
        match error {
            SealError::InputShorter { actual, .. } => SealError::InputShorter {
                declared: len,
                actual: actual.saturating_sub(INPUT_LENGTH_PREFIX),
            },
            SealError::InputLonger { .. } => SealError::InputLonger { declared: len },
            other => other,
        }
    }
}

impl<R: Read> Read for PaddedInput<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.prefix_left > 0 {
            let start = 8 - self.prefix_left;
            let n = self.prefix_left.min(buf.len());
            if let (Some(dst), Some(src)) = (buf.get_mut(..n), self.prefix.get(start..start + n)) {
                dst.copy_from_slice(src);
            }
            self.prefix_left -= n;
            return Ok(n);
        }
        if self.body_left > 0 {
            let want = usize::try_from(self.body_left)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            let n = self.inner.read(buf.get_mut(..want).unwrap_or_default())?;
            self.body_left -= n as u64;
            return Ok(n);
        }
        if self.zeros_left > 0 {
            let n = usize::try_from(self.zeros_left)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            buf.get_mut(..n).unwrap_or_default().fill(0);
            self.zeros_left -= n as u64;
            return Ok(n);
        }
        // Past the payload: whatever `inner` still holds shows as a longer input.
        self.inner.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(n: u64) -> NonZeroU64 {
        NonZeroU64::new(n).unwrap_or(NonZeroU64::MIN)
    }

    #[test]
    fn inputs_pad_to_the_bucket_with_their_length_first() {
        assert_eq!(padded_input_len(0, bucket(4096)), Some(4096));
        assert_eq!(padded_input_len(4088, bucket(4096)), Some(4096));
        assert_eq!(padded_input_len(4089, bucket(4096)), Some(8192));
        assert_eq!(padded_input_len(u64::MAX - 7, bucket(4096)), None);
        let mut payload = Vec::new();
        PaddedInput::new(&b"abc"[..], 3, 16)
            .read_to_end(&mut payload)
            .unwrap_or_default();
        assert_eq!(payload, b"\0\0\0\0\0\0\0\x03abc\0\0\0\0\0");
    }
}
