//! What an `http` guest may import (`docs/abi.md`, "Components"), checked at load: every
//! import of the component is an interface of a package the enclave links, and those a
//! capability grants are granted by the manifest. All refused imports are listed at once.
//!
//! Some interfaces are linked but reach nothing, because standard toolchains import them
//! whether or not a program uses them: the file system (no preopened directory), the
//! environment (empty) and the sockets (every call answers `access-denied`).

use attest::{Capability, Manifest};
use wasmtime::component::Component;
use wasmtime::Engine;

use crate::error::LoadError;

/// What the enclave does with an imported interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Linked for every `http` guest.
    Always,
    /// Linked when the manifest grants the capability.
    Needs(Capability),
    /// Never linked, with the reason.
    Never(&'static str),
}

/// The rule for an interface, by its name without the version (`wasi:http/types`).
fn rule(interface: &str) -> Rule {
    match interface {
        "wasi:http/types" | "wasi:http/outgoing-handler" => Rule::Always,
        "wasi:io/error" | "wasi:io/poll" | "wasi:io/streams" => Rule::Always,
        "wasi:cli/stdin" | "wasi:cli/stdout" | "wasi:cli/stderr" | "wasi:cli/exit" => Rule::Always,
        "wasi:cli/terminal-input"
        | "wasi:cli/terminal-output"
        | "wasi:cli/terminal-stdin"
        | "wasi:cli/terminal-stdout"
        | "wasi:cli/terminal-stderr" => Rule::Always,
        // Linked empty: no variables, no arguments, no preopened directory, so no file
        // descriptor ever exists (Rust's std imports both).
        "wasi:cli/environment" | "wasi:filesystem/types" | "wasi:filesystem/preopens" => {
            Rule::Always
        }
        "wasi:clocks/monotonic-clock" => Rule::Needs(Capability::ClockMonotonic),
        "wasi:clocks/wall-clock" => Rule::Needs(Capability::ClockWall),
        "wasi:random/random" | "wasi:random/insecure" | "wasi:random/insecure-seed" => {
            Rule::Needs(Capability::Random)
        }
        // Linked, and refused at every call: no TCP, no UDP, no name lookup, every address
        // denied, so no operating-system socket is ever opened (CPython imports them all).
        "wasi:sockets/network"
        | "wasi:sockets/instance-network"
        | "wasi:sockets/tcp"
        | "wasi:sockets/tcp-create-socket"
        | "wasi:sockets/udp"
        | "wasi:sockets/udp-create-socket"
        | "wasi:sockets/ip-name-lookup" => Rule::Always,
        "enclave:platform/types" => Rule::Always,
        "enclave:platform/attestation" => Rule::Needs(Capability::Report),
        "enclave:platform/sealing" => Rule::Needs(Capability::Seal),
        "enclave:platform/store" => Rule::Needs(Capability::Store),
        _ => Rule::Never("not an interface the enclave provides"),
    }
}

/// The import's interface name without its version: `wasi:http/types@0.2.6` →
/// `wasi:http/types`.
fn unversioned(name: &str) -> &str {
    name.split_once('@')
        .map_or(name, |(interface, _)| interface)
}

/// Checks every import of `component` against `manifest`.
///
/// # Errors
/// [`LoadError::ForbiddenImports`] with one line per refused import.
pub(crate) fn check(
    engine: &Engine,
    component: &Component,
    manifest: &Manifest,
) -> Result<(), LoadError> {
    let problems: Vec<String> = component
        .component_type()
        .imports(engine)
        .filter_map(|(name, _)| refusal(name, manifest).map(|why| format!("{name}: {why}")))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(LoadError::ForbiddenImports(problems))
    }
}

/// Why `name` is refused under `manifest`, if it is.
fn refusal(name: &str, manifest: &Manifest) -> Option<String> {
    match rule(unversioned(name)) {
        Rule::Always => None,
        Rule::Needs(capability) if manifest.grants(capability) => None,
        Rule::Needs(capability) => Some(format!(
            "needs the `{capability}` capability: add capabilities = [\"{capability}\"] to the manifest"
        )),
        Rule::Never(why) => Some(why.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(capabilities: &[Capability]) -> Manifest {
        let mut m = Manifest::from_toml("product_id = 1\nsvn = 1\ndebug = true\nkind = \"http\"\n")
            .unwrap();
        m.capabilities = capabilities.iter().copied().collect();
        m
    }

    #[test]
    fn the_proxy_worlds_own_interfaces_need_no_capability() {
        let m = manifest(&[]);
        for name in [
            "wasi:http/types@0.2.6",
            "wasi:http/outgoing-handler@0.2.0",
            "wasi:io/streams@0.2.6",
            "wasi:cli/stdout@0.2.6",
            "wasi:filesystem/preopens@0.2.6",
        ] {
            assert_eq!(refusal(name, &m), None, "{name}");
        }
    }

    #[test]
    fn clocks_randomness_and_the_platform_need_their_capabilities() {
        let m = manifest(&[]);
        assert_eq!(
            refusal("wasi:random/random@0.2.6", &m).unwrap(),
            "needs the `random` capability: add capabilities = [\"random\"] to the manifest"
        );
        assert!(refusal("wasi:clocks/wall-clock@0.2.6", &m)
            .unwrap()
            .contains("`clock-wall`"));
        assert!(refusal("enclave:platform/store@0.1.0", &m)
            .unwrap()
            .contains("`store`"));
        let m = manifest(&[Capability::Random, Capability::Store]);
        assert_eq!(refusal("wasi:random/insecure-seed@0.2.6", &m), None);
        assert_eq!(refusal("enclave:platform/store@0.1.0", &m), None);
    }

    #[test]
    fn unknown_interfaces_are_refused_and_sockets_linked_dead() {
        let m = manifest(&[]);
        assert_eq!(refusal("wasi:sockets/tcp@0.2.9", &m), None);
        assert_eq!(
            refusal("wasi:sockets/future-proxy@0.3.0", &m).unwrap(),
            "not an interface the enclave provides"
        );
        assert_eq!(
            refusal("example:kv/store@1.0.0", &m).unwrap(),
            "not an interface the enclave provides"
        );
    }
}
