//! A test harness for confidential workloads ([`harness`]), the example guests, and (under
//! `e2e/`) the end-to-end tests of `enclave`. See `docs/testing.md`.

pub mod harness;

/// The example guests from `guests/`, compiled from source by this crate's build script (with
/// the `example-guests` feature).
#[cfg(feature = "example-guests")]
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}
