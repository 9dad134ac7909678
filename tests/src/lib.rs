//! End-to-end tests of `enclave` (under `e2e/`), and the example guests they run.

/// The example guests from `guests/`, compiled from source by this crate's build script.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}
