//! The platform's record of sealed request ids, for enclaves whose manifest refuses replays
//! (`[inputs] refuse_replays`, `docs/abi.md`, "Replays"): each request id is remembered for the
//! enclave's replay window from when it first ran, and a request remembered is refused.
//!
//! | file | what |
//! |------|------|
//! | `<home>/replay/<store id>` | the remembered requests: 40-byte entries, each a request id (32 bytes) and when it is forgotten (u64 BE, seconds since the Unix epoch) |
//! | `<home>/replay/<store id>.lock` | empty; locked while a process checks and records |
//!
//! The record belongs to a signer, product and debug mode (the sealed store's identity,
//! [`StoreId`]), so a request sealed to the signer policy is not run again by another version of
//! the enclave either. Checking and recording is one step under the lock, across threads
//! (each takes its own lock on the file) and processes. The file is rewritten atomically on
//! every admitted request, without the entries whose window has passed; its size is bounded by
//! [`MAX_REMEMBERED`], beyond which requests are refused until older ones leave their window
//! (fail closed). Like the store's counter, it is a file in the platform home: whoever can
//! delete it can replay (`docs/threat-model.md`).

use std::fs::{self, File};
use std::io::{self, Read as _};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use enclave_runtime::{ReplayRefused, RequestId};
use sealer::EnclaveIdentity;

use crate::files::{write_atomic, Overwrite, Visibility};
use crate::store::StoreId;
use crate::unix_seconds;

/// The most requests remembered at once per store identity: 100,000 (a 4 MB file).
pub const MAX_REMEMBERED: usize = 100_000;
/// One entry: the request id and when it is forgotten.
const ENTRY_LEN: usize = 40;

/// Admits `request` for `identity` if it is not remembered, and remembers it for `window`
/// from `now`.
///
/// # Errors
/// [`ReplayRefused::Replayed`] for a request remembered; [`ReplayRefused::Unavailable`] when
/// the record is full, malformed or cannot be read or written (no path in the message).
pub fn admit(
    home: &Path,
    identity: &EnclaveIdentity,
    request: &RequestId,
    window: Duration,
    now: SystemTime,
) -> Result<(), ReplayRefused> {
    let dir = home.join("replay");
    if !dir.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| unavailable("cannot create the record of requests", &e))?;
    }
    let id = StoreId::of(identity).to_string();
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{id}.lock")))
        .map_err(|e| unavailable("cannot open the record's lock", &e))?;
    lock.lock()
        .map_err(|e| unavailable("cannot lock the record of requests", &e))?;
    let path = dir.join(&id);
    let now = unix_seconds(now);
    let mut entries = read(&path)?;
    entries.retain(|(_, until)| *until > now);
    if let Some((_, until)) = entries.iter().find(|(id, _)| id == request) {
        return Err(ReplayRefused::Replayed {
            request: *request,
            until: *until,
        });
    }
    if entries.len() >= MAX_REMEMBERED {
        return Err(ReplayRefused::Unavailable(format!(
            "{MAX_REMEMBERED} requests are remembered, the most the platform keeps; retry once \
             older ones leave their replay window"
        )));
    }
    entries.push((*request, now.saturating_add(window.as_secs())));
    let bytes: Vec<u8> = entries
        .iter()
        .flat_map(|(id, until)| id.0.iter().copied().chain(until.to_be_bytes()))
        .collect();
    write_atomic(&path, &bytes, Visibility::Public, Overwrite::Allow)
        .map_err(|e| unavailable("cannot write the record of requests", &e))
    // The lock is released here, after the record is durable.
}

/// The entries of the record at `path`; none if there is no file.
fn read(path: &Path) -> Result<Vec<(RequestId, u64)>, ReplayRefused> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(unavailable("cannot read the record of requests", &e)),
    };
    let cap = (MAX_REMEMBERED * ENTRY_LEN) as u64;
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| unavailable("cannot read the record of requests", &e))?;
    if bytes.len() as u64 > cap || bytes.len() % ENTRY_LEN != 0 {
        return Err(ReplayRefused::Unavailable(
            "the record of requests is malformed".into(),
        ));
    }
    Ok(bytes
        .chunks_exact(ENTRY_LEN)
        .map(|entry| {
            let (id, until) = entry.split_at(32);
            let mut request = [0u8; 32];
            request.copy_from_slice(id);
            let mut seconds = [0u8; 8];
            seconds.copy_from_slice(until);
            (RequestId(request), u64::from_be_bytes(seconds))
        })
        .collect())
}

/// A refusal naming what failed and the I/O error's kind, never a path.
fn unavailable(what: &str, error: &io::Error) -> ReplayRefused {
    ReplayRefused::Unavailable(format!("{what}: {}", error.kind()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code: a panic is a failing test")]

    use attest::{Measurement, ProductId, SignerId, Svn};

    use super::*;

    fn identity() -> EnclaveIdentity {
        EnclaveIdentity {
            measurement: Measurement::from_bytes([1; 32]),
            signer: SignerId::from_bytes([2; 32]),
            product_id: ProductId(3),
            svn: Svn(1),
            debug: false,
        }
    }

    #[test]
    fn a_request_runs_once_per_window() {
        let home = tempfile::tempdir().unwrap();
        let (one, two) = (RequestId([1; 32]), RequestId([2; 32]));
        let window = Duration::from_secs(60);
        let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        admit(home.path(), &identity(), &one, window, at(1000)).unwrap();
        admit(home.path(), &identity(), &two, window, at(1010)).unwrap();
        assert_eq!(
            admit(home.path(), &identity(), &one, window, at(1059)),
            Err(ReplayRefused::Replayed {
                request: one,
                until: 1060
            })
        );
        // Forgotten once the window has passed; remembered again from then.
        admit(home.path(), &identity(), &one, window, at(1060)).unwrap();
        assert!(admit(home.path(), &identity(), &one, window, at(1061)).is_err());
        // The expired entry of `two` is dropped from the file.
        let file = home
            .path()
            .join("replay")
            .join(StoreId::of(&identity()).to_string());
        admit(
            home.path(),
            &identity(),
            &RequestId([3; 32]),
            window,
            at(1075),
        )
        .unwrap();
        assert_eq!(std::fs::read(file).unwrap().len(), 2 * ENTRY_LEN);
    }

    #[test]
    fn a_malformed_record_fails_closed_without_a_path() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("replay");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join(StoreId::of(&identity()).to_string()), b"short").unwrap();
        let refused = admit(
            home.path(),
            &identity(),
            &RequestId([1; 32]),
            Duration::from_secs(1),
            SystemTime::now(),
        )
        .unwrap_err();
        assert_eq!(
            refused,
            ReplayRefused::Unavailable("the record of requests is malformed".into())
        );
        assert!(!refused.to_string().contains(home.path().to_str().unwrap()));
    }
}
