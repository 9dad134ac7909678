//! Reading a payload of a declared length in chunks, and hashing what is written.

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::error::SealError;

/// Reads a payload of a declared length chunk by chunk and notices when it is shorter or longer.
pub(super) struct ChunkReader<'a, R> {
    inner: &'a mut R,
    len: u64,
    done: u64,
}

impl<'a, R: Read> ChunkReader<'a, R> {
    pub(super) fn new(inner: &'a mut R, len: u64) -> Self {
        Self {
            inner,
            len,
            done: 0,
        }
    }

    /// Fills `text` with the next plaintext bytes.
    pub(super) fn read_exact_chunk(&mut self, text: &mut [u8]) -> Result<(), SealError> {
        let filled = read_full(self.inner, text)?;
        self.done = self
            .done
            .saturating_add(u64::try_from(filled).unwrap_or(u64::MAX));
        if filled < text.len() {
            return Err(SealError::InputShorter {
                declared: self.len,
                actual: self.done,
            });
        }
        Ok(())
    }

    /// Checks that the plaintext ends where it was declared to.
    pub(super) fn finish(self) -> Result<(), SealError> {
        match read_byte(self.inner)? {
            None => Ok(()),
            Some(_) => Err(SealError::InputLonger { declared: self.len }),
        }
    }
}

/// Fills `buf` from `reader`, stopping early only at end of input; the number of bytes read.
pub(super) fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(free) = buf.get_mut(filled..).filter(|free| !free.is_empty()) {
        match reader.read(free) {
            Ok(0) => break,
            Ok(n) => filled = filled.saturating_add(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads up to `want` bytes into `buf` (cleared first), stopping early only at end of input.
pub(crate) fn read_up_to(reader: &mut impl Read, buf: &mut Vec<u8>, want: usize) -> io::Result<()> {
    let start = buf.len();
    buf.resize(start.saturating_add(want), 0);
    let mut filled = start;
    while let Some(free) = buf.get_mut(filled..).filter(|free| !free.is_empty()) {
        match reader.read(free) {
            Ok(0) => break,
            Ok(n) => filled = filled.saturating_add(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                buf.truncate(filled);
                return Err(e);
            }
        }
    }
    buf.truncate(filled);
    Ok(())
}

/// The next byte of `reader`, `None` at its end.
pub(crate) fn read_byte(reader: &mut impl Read) -> io::Result<Option<u8>> {
    let mut one = [0u8; 1];
    loop {
        match reader.read(&mut one) {
            Ok(0) => return Ok(None),
            Ok(_) => {
                let [byte] = one;
                return Ok(Some(byte));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Makes room for `additional` more bytes in a buffer that holds secrets, without leaving a copy
/// behind: `Vec`'s own growth would free the old allocation unwiped, so a buffer too small is
/// replaced by a new one (what it held is copied, the old one wiped as it drops). Capacity at
/// least doubles, up to `max` (at least what is needed).
pub(crate) fn reserve_secret(buf: &mut Zeroizing<Vec<u8>>, additional: usize, max: usize) {
    let needed = buf.len().saturating_add(additional);
    if buf.capacity() >= needed {
        return;
    }
    let capacity = buf.capacity().saturating_mul(2).min(max).max(needed);
    let mut grown = Zeroizing::new(Vec::with_capacity(capacity));
    grown.extend_from_slice(buf);
    *buf = grown;
}

/// A writer that hashes what it passes on.
pub(crate) struct HashingWriter<W> {
    pub(crate) inner: W,
    pub(crate) hasher: Sha256,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.write_all(bytes)?;
        self.hasher.update(bytes);
        Ok(())
    }

    pub(crate) fn digest(&self) -> [u8; 32] {
        self.hasher.clone().finalize().into()
    }
}
