//! The names and caps of ABI v1 (`docs/abi.md`): the import modules, the entry point, and the
//! documented cap of every length a guest passes.

/// The import module every native guest imports from.
pub const MODULE: &str = "enclave_v1";
/// The guest's entry point.
pub const ENTRY: &str = "enclave_main";
/// The import module of the host functions an embedder grants (`crate::host_fns`), which this
/// module's check leaves to that one.
pub const HOST_MODULE: &str = "enclave_host";

/// What `input_source` writes for a sealed input: the request id, then the evidence digest.
pub const INPUT_SOURCE_LEN: usize = 64;
/// `input_source`'s result bit: the input arrived sealed.
pub const INPUT_SEALED: i32 = 1;
/// `input_source`'s result bit: the platform checked the request id against its replay window.
pub const INPUT_REPLAY_CHECKED: i32 = 2;

/// Largest single `random` request.
pub const MAX_RANDOM_BYTES: u32 = 65_536;
/// Largest `abort` message kept.
pub const MAX_ABORT_MESSAGE: usize = 1024;
/// Largest plaintext a guest may seal: 1 MiB.
pub const MAX_SEAL_PLAINTEXT: usize = sealer::blob::MAX_PLAINTEXT;
/// Largest additional data a guest may seal: 64 KiB.
pub const MAX_SEAL_AAD: usize = sealer::blob::MAX_AAD;
/// Largest key a guest may pass to `store_get`, `store_put` or `store_delete`: 256 bytes.
pub const MAX_STORE_KEY: usize = 256;
/// Largest value a guest may `store_put`: 64 KiB.
pub const MAX_STORE_VALUE: usize = 64 << 10;
/// Largest blob a guest may unseal.
pub const MAX_SEALED_BLOB: usize = sealer::blob::MAX_BLOB;
/// The nonce lengths `report` accepts: 8 ..= 64 bytes, the evidence format's own bounds.
pub const REPORT_NONCE_LEN: std::ops::RangeInclusive<usize> = attest::evidence::NONCE_LEN;
/// Largest report data `report` accepts: 64 bytes, the evidence format's own bound.
pub const MAX_REPORT_DATA: usize = attest::evidence::MAX_REPORT_DATA;
