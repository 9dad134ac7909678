//! Asks the host for attestation evidence from inside the enclave, as an SGX enclave asks for an
//! EREPORT: the input is the verifier's nonce (8–64 bytes), the report data a value the guest
//! chooses (a real workload binds the hash of a key it generated, or of a result). The output is
//! the evidence as the host returned it.

/// What this guest binds into its evidence.
const REPORT_DATA: &[u8] = b"attester guest: hello, verifier";

fn main() -> Result<(), String> {
    let nonce = enclave_guest::input();
    let evidence =
        enclave_guest::report(&nonce, REPORT_DATA).map_err(|e| format!("report: {e}"))?;
    enclave_guest::output(&evidence);
    Ok(())
}

enclave_guest::entry!(main);
