//! Exit codes, so scripts can tell failure classes apart (documented in `docs/cli.md`).

use attest::BundleError;
use enclave_runtime::{LoadError, RunError};

/// Anything not classified below: I/O, internal errors.
pub const FAILURE: u8 = 1;
/// Usage: flags that do not parse or do not fit together (clap's own code for its errors).
pub const USAGE: u8 = 2;
/// The bundle was refused: malformed, bad signature, disallowed algorithm, untrusted signer.
pub const BUNDLE_REFUSED: u8 = 3;
/// The module or manifest was refused: invalid wasm or manifest, imports outside the ABI.
pub const MODULE_REFUSED: u8 = 4;
/// The guest failed: trap, limit, abort, output limit.
pub const GUEST_FAILED: u8 = 5;
/// Evidence or a receipt failed verification or policy.
pub const EVIDENCE_REFUSED: u8 = 6;
/// Sealed data was refused: wrong recipient, tampered, truncated, wrong context.
pub const SEALED_REFUSED: u8 = 7;
/// A WASI guest exited with a nonzero code: the run completed and its output was written.
pub const GUEST_EXITED: u8 = 8;
/// The enclave's manifest refused the input before it ran: plaintext for an enclave that takes
/// sealed inputs only, or a sealed request replayed within its replay window.
pub const INPUT_REFUSED: u8 = 9;

/// Every exit code with its meaning, as the manual pages' EXIT STATUS section lists them (one
/// table, so that `enclave man` cannot drift from the constants above; docs/cli.md says the same).
pub const TABLE: &[(u8, &str)] = &[
    (0, "success"),
    (FAILURE, "any other failure: I/O, internal errors"),
    (USAGE, "flags that do not parse or do not fit together"),
    (BUNDLE_REFUSED, "the bundle was refused: malformed, bad signature, disallowed algorithm, untrusted signer"),
    (MODULE_REFUSED, "the module or manifest was refused: invalid wasm or manifest, imports outside the ABI, over the compile budget"),
    (GUEST_FAILED, "the guest failed: trap, limit, abort, output limit"),
    (EVIDENCE_REFUSED, "evidence or a receipt failed verification or policy"),
    (SEALED_REFUSED, "sealed data was refused: wrong recipient, tampered, truncated, wrong context"),
    (GUEST_EXITED, "a WASI guest exited with a nonzero code: the run completed and its output was written"),
    (INPUT_REFUSED, "the enclave's manifest refused the input: plaintext for a sealed-only enclave, or a replayed sealed request"),
];

/// Flags that parse but do not fit together, found after clap is done: exit code 2, as for
/// clap's own usage errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// A usage error with `message`.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    Usage(message.into()).into()
}

/// A refusal whose message the CLI words itself (to say what to do, or to add what it knows
/// and the library does not, such as the expected measurements), with its exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Explained {
    /// The whole message.
    pub message: String,
    /// The exit code.
    pub code: u8,
}

/// A WASI guest's nonzero exit: not an error (its output was written), but the process says so
/// with exit code 8 so that a script does not mistake it for success.
#[derive(Debug, thiserror::Error)]
#[error("guest exited with code {code}{}", .written.as_deref().map(|w| format!("; its output was written to {w}")).unwrap_or_default())]
pub struct GuestExited {
    /// The guest's code.
    pub code: i32,
    /// Where its output went, if to a file.
    pub written: Option<String>,
}

/// A failure already reported through the log (`serve`, whose logger is its voice once it
/// started: `--log-format json` stays JSON), with its exit code; printed by no one else.
#[derive(Debug, thiserror::Error)]
#[error("exit {0}")]
pub struct Logged(pub u8);

/// What a failed run's receipt says, noted by `run` and `call` for the JSON error object.
static OUTCOME: std::sync::Mutex<Option<serde_json::Value>> = std::sync::Mutex::new(None);

/// Whether the command already printed its JSON summary (`run` with several inputs, a WASI
/// guest's nonzero exit): then no error object follows it.
static SUMMARY_PRINTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Notes what a failed run's receipt says (`outcome`, `failure`, `receipt`, `report`), for the
/// JSON error object.
pub fn note_outcome(outcome: serde_json::Value) {
    if let Ok(mut slot) = OUTCOME.lock() {
        *slot = Some(outcome);
    }
}

/// Notes that the command printed its JSON summary on standard output.
pub fn note_summary_printed() {
    SUMMARY_PRINTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Prints `error` on standard error (and with `json` the error object on standard output) and
/// returns the process's exit code.
pub fn report(error: &anyhow::Error, json: bool) -> u8 {
    if let Some(Logged(code)) = error.chain().find_map(|e| e.downcast_ref::<Logged>()) {
        return *code;
    }
    if error.chain().any(|e| e.is::<GuestExited>()) && error.chain().count() == 1 {
        eprintln!("enclave: {error}");
    } else {
        eprintln!("error: {error:#}");
    }
    let code = code_for(error);
    if json && !SUMMARY_PRINTED.load(std::sync::atomic::Ordering::SeqCst) {
        let outcome = OUTCOME.lock().ok().and_then(|mut slot| slot.take());
        println!("{:#}", error_object(code, &format!("{error:#}"), outcome));
    }
    code
}

/// The JSON error object (docs/cli.md, "Errors as JSON").
pub fn error_object(
    code: u8,
    message: &str,
    outcome: Option<serde_json::Value>,
) -> serde_json::Value {
    let field = |name: &str| {
        outcome
            .as_ref()
            .and_then(|o| o.get(name))
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    };
    serde_json::json!({
        "error": kind(code),
        "exit_code": code,
        "message": message,
        "outcome": field("outcome"),
        "failure": field("failure"),
        "receipt": field("receipt"),
        "report": field("report"),
    })
}

/// The stable name of an exit code's failure class.
pub fn kind(code: u8) -> &'static str {
    match code {
        USAGE => "usage",
        BUNDLE_REFUSED => "bundle-refused",
        MODULE_REFUSED => "module-refused",
        GUEST_FAILED => "guest-failed",
        EVIDENCE_REFUSED => "evidence-refused",
        SEALED_REFUSED => "sealed-data-refused",
        GUEST_EXITED => "guest-exited",
        INPUT_REFUSED => "input-refused",
        _ => "failure",
    }
}

/// A guest failure learned from its receipt (`enclave open` of a failed run's report).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GuestFailed(pub String);

/// The exit code for an error chain: the first classified error in it wins.
pub fn code_for(error: &anyhow::Error) -> u8 {
    error.chain().find_map(classify).unwrap_or(FAILURE)
}

fn classify(error: &(dyn std::error::Error + 'static)) -> Option<u8> {
    if error.is::<Usage>() {
        return Some(USAGE);
    }
    if let Some(explained) = error.downcast_ref::<Explained>() {
        return Some(explained.code);
    }
    if error.is::<GuestExited>() {
        return Some(GUEST_EXITED);
    }
    if error.is::<BundleError>() {
        return Some(BUNDLE_REFUSED);
    }
    if error.is::<attest::ManifestError>() {
        return Some(MODULE_REFUSED);
    }
    if let Some(load) = error.downcast_ref::<LoadError>() {
        return Some(match load {
            LoadError::Bundle(_) => BUNDLE_REFUSED,
            _ => MODULE_REFUSED,
        });
    }
    if let Some(client) = error.downcast_ref::<enclave_client::ClientError>() {
        use enclave_client::ClientError;
        return Some(match client {
            ClientError::Evidence(_)
            | ClientError::Receipt(_)
            | ClientError::Mismatch(_)
            | ClientError::AttestedTls(_) => EVIDENCE_REFUSED,
            ClientError::Open(_) => SEALED_REFUSED,
            ClientError::NotTls(_) => USAGE,
            ClientError::GuestFailed { .. } => GUEST_FAILED,
            ClientError::Refused { problem, .. } => match problem.as_str() {
                "sealed-input-refused" | "wrong-platform" => SEALED_REFUSED,
                // An input over the enclave's max_input_bytes, refused before the run: exit 5,
                // as `enclave run` of the same input.
                "guest-failed" | "component-failed" | "payload-too-large" => GUEST_FAILED,
                "plaintext-refused" | "replayed-request" => INPUT_REFUSED,
                _ => FAILURE,
            },
            _ => FAILURE,
        });
    }
    if let Some(proxy) = error.downcast_ref::<enclave_client::proxy::ProxyError>() {
        use enclave_client::proxy::ProxyError;
        return Some(match proxy {
            ProxyError::Upstream(_) | ProxyError::NotLoopback(_) => USAGE,
            _ => FAILURE,
        });
    }
    if error.is::<GuestFailed>() {
        return Some(GUEST_FAILED);
    }
    if error.is::<attest::verify::VerifyError>() || error.is::<sealer::ReceiptMismatch>() {
        return Some(EVIDENCE_REFUSED);
    }
    if error.is::<sealer::OpenError>() || error.is::<sealer::StreamError>() {
        return Some(SEALED_REFUSED);
    }
    if let Some(confidential) =
        error.downcast_ref::<enclave_runtime::confidential::ConfidentialError>()
    {
        use enclave_runtime::confidential::ConfidentialError;
        return Some(match confidential {
            ConfidentialError::Input(_) => SEALED_REFUSED,
            ConfidentialError::Guest { .. } => GUEST_FAILED,
            ConfidentialError::Replayed(enclave_runtime::ReplayRefused::Replayed { .. }) => {
                INPUT_REFUSED
            }
            _ => FAILURE,
        });
    }
    if error.is::<enclave_platform::store::InspectError>() || error.is::<sealer::blob::BlobError>()
    {
        return Some(SEALED_REFUSED);
    }
    if let Some(store) = error.downcast_ref::<enclave_platform::store::StoreError>() {
        return Some(store_code(store));
    }
    if let Some(run) = error.downcast_ref::<RunError>() {
        return Some(match run {
            RunError::Input(_) => SEALED_REFUSED,
            RunError::PlaintextRefused => INPUT_REFUSED,
            RunError::Fault(enclave_runtime::GuestFault::Store(fault)) => fault
                .downcast_ref::<enclave_platform::store::StoreError>()
                .map_or(SEALED_REFUSED, store_code),
            _ => GUEST_FAILED,
        });
    }
    None
}

/// A store that does not load (tampered, rolled back, another platform) is sealed data refused;
/// an I/O failure is not.
fn store_code(error: &enclave_platform::store::StoreError) -> u8 {
    match error {
        enclave_platform::store::StoreError::Io { .. } => FAILURE,
        _ => SEALED_REFUSED,
    }
}
