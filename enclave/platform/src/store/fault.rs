//! [`Fault`]: why an operation on the store file failed, shared by the current format's file
//! (`database`) and the reader of format 2 (`v2`).

/// Why an operation on the file failed.
#[derive(Debug)]
pub(super) enum Fault {
    /// The database itself: I/O, or a file redb does not accept.
    Db(redb::Error),
    /// A record, node or bucket does not match what the sealed head commits to.
    Tampered,
    /// The system random generator or a key derivation failed.
    Crypto,
    /// The new head could not be sealed.
    Seal(String),
    /// redb panicked on a corrupt file; the panic was caught at this module's boundary.
    Corrupt,
    /// The update would make the state larger than `MAX_STATE` bytes of keys and values.
    TooLarge(u64),
    /// The update would make one bucket's record larger than `MAX_RECORD`.
    BucketTooLarge(usize),
}

impl<E: Into<redb::Error>> From<E> for Fault {
    fn from(e: E) -> Self {
        Self::Db(e.into())
    }
}
