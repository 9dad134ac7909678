//! The simulated platform: what TEE hardware provides, kept in a directory (the platform home).
//!
//! | file | mode | what |
//! |------|------|------|
//! | `vendor-root.pem` | 0644 | the vendor root CA certificate, the relying parties' trust anchor |
//! | `vendor-root.key` | 0600 | the vendor root's private key, only when this platform made its own root (not in a fleet) |
//! | `attestation.key` | 0600 | the platform attestation key (ECDSA P-256, PKCS#8) |
//! | `attestation.pem` | 0644 | its certificate chain: the attestation certificate, then the root |
//! | `platform.secret` | 0600 | the TCB secrets every sealing key derives from: the level, 32 random bytes of the platform's own, the chain link of its level ([`Platform::upgrade`] moves it up) |
//! | `platform.toml` | 0644 | name, TCB level and TCB chain id; written last, it marks a complete platform |
//! | `replay/` | 0700 | the request ids of enclaves that refuse replays ([`replay`]) |
//!
//! Real hardware fuses its secret and holds its keys where software cannot read them; here they
//! are files, only as safe as the home directory (see `docs/threat-model.md`). Secret files that
//! others can read are refused, as ssh refuses such keys.
//!
//! This crate is the platform layer (`docs/architecture.md`): it implements the runtime's
//! platform traits ([`enclave_runtime::services`]) on top of this directory, and holds the
//! sealed store ([`store`]), the code cache's location and key ([`Platform::code_cache`]) and
//! the atomic and secret files everything writes ([`files`]), and the compile sandbox that
//! bounds compiling an untrusted module by a budget the kernel enforces ([`compiler`]). It
//! prints nothing, never exits the process and reads no environment.
#![deny(missing_docs)]

pub mod compiler;
pub mod files;
mod home;
pub mod memory;
pub mod replay;
mod reporter;
pub mod store;

pub use home::*;
pub use memory::MemoryPlatform;
pub use reporter::PlatformReporter;
