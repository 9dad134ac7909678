//! The store's previous format, one sealed blob holding every entry: its plaintext encoding,
//! kept for the fuzz seeds and for reading a store written before the redesign
//! (`docs/formats.md`, "Sealed store", "Before version 2").

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read as _};
use std::path::Path;

use sealer::blob::{self, BlobKind};
use sealer::{EnclaveIdentity, KeyPolicy};
use zeroize::Zeroizing;

use super::head::parse_head_aad;
use super::{read_capped, Context, StoreError, StoreId, StoreState, MAX_KEY, MAX_VALUE};
use crate::Platform;

/// Whether the store file at `path` is in the previous format (starts with `ENCLSTAT`).
pub(super) fn is_legacy(path: &Path) -> io::Result<bool> {
    let mut magic = [0u8; 8];
    match File::open(path).and_then(|mut file| file.read_exact(&mut magic)) {
        Ok(()) => Ok(magic == BlobKind::StoreState.magic()),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::UnexpectedEof
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Rewrites a store in the one-blob format into the current one, under the store's lock. The
/// old state is checked against the counter as it always was (a pending bump is finished
/// first), then replaced ([`Context::replace`]).
pub(super) fn migrate(context: &Context, counter: u64) -> Result<(), StoreError> {
    let path = &context.paths.state;
    let bytes = read_capped(path, blob::MAX_BLOB)?;
    let state = open(
        &context.platform,
        &context.identity,
        &context.id,
        path,
        &bytes,
    )?;
    context.check_version(state.version, counter)?;
    context.replace(state.version, &state.entries)
}

/// Opens a state in the previous format as `identity` and checks it belongs to store `id`.
pub(super) fn open(
    platform: &Platform,
    identity: &EnclaveIdentity,
    id: &StoreId,
    path: &Path,
    bytes: &[u8],
) -> Result<StoreState, StoreError> {
    let refused = |reason: String| StoreError::Refused {
        path: path.to_owned(),
        reason,
    };
    let opened = blob::open(
        BlobKind::StoreState,
        platform.sealing_secrets(),
        identity,
        bytes,
    )
    .map_err(|e| refused(e.to_string()))?;
    if !matches!(opened.policy, KeyPolicy::Signer { .. }) {
        return Err(refused("not sealed under a signer policy".into()));
    }
    let version = parse_head_aad(&opened.aad)
        .filter(|(sealed_id, _)| sealed_id == id)
        .map(|(_, version)| version)
        .ok_or_else(|| refused("sealed for another store".into()))?;
    let entries = decode_entries(&opened.plaintext).map_err(|reason| StoreError::Malformed {
        path: path.to_owned(),
        reason: reason.into(),
    })?;
    Ok(StoreState { version, entries })
}

/// The canonical encoding: entry count (u32 BE), then per entry in ascending key order the key
/// length (u16 BE), the key, the value length (u32 BE), the value.
pub fn encode_entries(entries: &BTreeMap<Vec<u8>, Zeroizing<Vec<u8>>>) -> Zeroizing<Vec<u8>> {
    let len = entries
        .iter()
        .map(|(k, v)| 6 + k.len() + v.len())
        .sum::<usize>()
        + 4;
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for (key, value) in entries {
        out.extend_from_slice(&(key.len() as u16).to_be_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value);
    }
    out
}

/// Decodes [`encode_entries`], refusing anything it would not produce: keys out of order or
/// repeated, lengths over the caps, trailing bytes.
///
/// # Errors
/// What is wrong.
pub fn decode_entries(
    mut bytes: &[u8],
) -> Result<BTreeMap<Vec<u8>, Zeroizing<Vec<u8>>>, &'static str> {
    let count = u32::from_be_bytes(take(&mut bytes, 4)?.try_into().map_err(|_| "truncated")?);
    let mut entries = BTreeMap::new();
    let mut last: Option<&[u8]> = None;
    for _ in 0..count {
        let key_len = u16::from_be_bytes(take(&mut bytes, 2)?.try_into().map_err(|_| "truncated")?);
        let key = take(&mut bytes, usize::from(key_len))?;
        if key.len() > MAX_KEY {
            return Err("key longer than 256 bytes");
        }
        if last.is_some_and(|last| last >= key) {
            return Err("keys not in strictly ascending order");
        }
        let value_len =
            u32::from_be_bytes(take(&mut bytes, 4)?.try_into().map_err(|_| "truncated")?);
        let value_len = usize::try_from(value_len).map_err(|_| "value too long")?;
        if value_len > MAX_VALUE {
            return Err("value longer than 64 KiB");
        }
        let value = take(&mut bytes, value_len)?;
        entries.insert(key.to_vec(), Zeroizing::new(value.to_vec()));
        last = Some(key);
    }
    if !bytes.is_empty() {
        return Err("trailing bytes after the entries");
    }
    Ok(entries)
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], &'static str> {
    let (head, tail) = bytes.split_at_checked(n).ok_or("truncated")?;
    *bytes = tail;
    Ok(head)
}
