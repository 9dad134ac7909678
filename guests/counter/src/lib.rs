//! A confidential counter and key-value service: its state lives in the enclave's sealed store
//! (the `store` capability), so it persists across runs, readable only by this signer's product
//! at this version or newer, and protected against rollback. It can also seal values for export
//! (the `seal` capability).
//!
//! The input is one command per line; each answer is one output line, written once the command
//! is done (for `incr`, `put` and `del`: once the new state is durable):
//!
//! | command | answer |
//! |---------|--------|
//! | `incr NAME` | `NAME=N`, the counter after adding one (a missing counter is 0) |
//! | `get KEY` | `KEY=VALUE`, or `KEY not found` |
//! | `put KEY VALUE` | `ok` |
//! | `del KEY` | `deleted`, or `KEY not found` |
//! | `seal POLICY TEXT` | the sealed blob in hex; `POLICY` is `measurement`, `signer` or `signer:SVN` |
//! | `seal-at LEVEL POLICY TEXT` | as `seal`, at the platform TCB level `LEVEL` (at most the platform's) |
//! | `unseal HEX` | `aad=…, plaintext=…`, or `error: …` |
//! | `tcb` | `tcb=N`, the platform's current TCB level |
//! | `blob-tcb HEX` | `tcb=N`, the TCB level the sealed blob names |
//! | `source` | `plaintext`, or `sealed request=HEX evidence=HEX replay-checked=BOOL` (how the input arrived) |

use enclave_guest::{Error, SealPolicy};

/// The additional data `seal` binds into every blob it makes.
const AAD: &[u8] = b"counter guest";

fn main() -> Result<(), String> {
    let input = enclave_guest::input();
    let text = String::from_utf8(input).map_err(|_| "input is not UTF-8".to_owned())?;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let answer = command(line.trim()).unwrap_or_else(|e| format!("error: {e}"));
        enclave_guest::output(answer.as_bytes());
        enclave_guest::output(b"\n");
    }
    Ok(())
}

fn command(line: &str) -> Result<String, String> {
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    match verb {
        "incr" => incr(rest),
        "get" => Ok(
            match enclave_guest::store_get(rest.as_bytes()).map_err(store)? {
                Some(value) => format!("{rest}={}", String::from_utf8_lossy(&value)),
                None => format!("{rest} not found"),
            },
        ),
        "put" => {
            let (key, value) = rest.split_once(' ').ok_or("usage: put KEY VALUE")?;
            enclave_guest::store_put(key.as_bytes(), value.as_bytes()).map_err(store)?;
            Ok("ok".into())
        }
        "del" => Ok(
            match enclave_guest::store_delete(rest.as_bytes()).map_err(store)? {
                true => "deleted".into(),
                false => format!("{rest} not found"),
            },
        ),
        "seal" => {
            let (policy, text) = rest.split_once(' ').unwrap_or((rest, ""));
            let blob = enclave_guest::seal(parse_policy(policy)?, AAD, text.as_bytes())
                .map_err(|e| format!("seal: {e}"))?;
            Ok(to_hex(&blob))
        }
        "seal-at" => {
            let (level, rest) = rest
                .split_once(' ')
                .ok_or("usage: seal-at LEVEL POLICY TEXT")?;
            let level = level.parse().map_err(|_| format!("bad level {level:?}"))?;
            let (policy, text) = rest.split_once(' ').unwrap_or((rest, ""));
            let blob = enclave_guest::seal_at(parse_policy(policy)?, level, AAD, text.as_bytes())
                .map_err(|e| format!("seal-at: {e}"))?;
            Ok(to_hex(&blob))
        }
        "source" => Ok(
            match enclave_guest::input_source().map_err(|e| format!("source: {e}"))? {
                enclave_guest::InputSource::Plaintext => "plaintext".into(),
                enclave_guest::InputSource::Sealed {
                    request_id,
                    evidence_digest,
                    replay_checked,
                } => format!(
                    "sealed request={} evidence={} replay-checked={replay_checked}",
                    to_hex(&request_id),
                    to_hex(&evidence_digest)
                ),
            },
        ),
        "tcb" => {
            let level = enclave_guest::tcb_level().map_err(|e| format!("tcb: {e}"))?;
            Ok(format!("tcb={level}"))
        }
        "blob-tcb" => {
            let blob = from_hex(rest).ok_or("blob-tcb: not hex")?;
            let level =
                enclave_guest::sealed_blob_tcb(&blob).map_err(|e| format!("blob-tcb: {e}"))?;
            Ok(format!("tcb={level}"))
        }
        "unseal" => {
            let blob = from_hex(rest).ok_or("unseal: not hex")?;
            let opened = enclave_guest::unseal(&blob).map_err(|e| format!("unseal: {e}"))?;
            Ok(format!(
                "aad={}, plaintext={}",
                String::from_utf8_lossy(&opened.aad),
                String::from_utf8_lossy(&opened.plaintext)
            ))
        }
        other => Err(format!("unknown command {other:?}")),
    }
}

fn incr(name: &str) -> Result<String, String> {
    let current = match enclave_guest::store_get(name.as_bytes()).map_err(store)? {
        Some(bytes) => std::str::from_utf8(&bytes)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| format!("{name} is not a counter"))?,
        None => 0,
    };
    let next = current.checked_add(1).ok_or("counter overflow")?;
    enclave_guest::store_put(name.as_bytes(), next.to_string().as_bytes()).map_err(store)?;
    Ok(format!("{name}={next}"))
}

fn store(e: Error) -> String {
    format!("store: {e}")
}

fn parse_policy(text: &str) -> Result<SealPolicy, String> {
    match text {
        "measurement" => Ok(SealPolicy::Measurement),
        "signer" => Ok(SealPolicy::Signer),
        _ => text
            .strip_prefix("signer:")
            .and_then(|svn| svn.parse().ok())
            .map(SealPolicy::SignerAt)
            .ok_or_else(|| format!("unknown policy {text:?}")),
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
        })
        .collect()
}

enclave_guest::entry!(main);
