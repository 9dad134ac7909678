//! The enclave manifest: what the author signs besides the module.
//!
//! Authors write it as TOML (`enclave.toml`); the bundle carries it as CBOR. Every field is part
//! of the measurement, so a relying party that trusts a measurement trusts the limits and the
//! capabilities as well as the code.

use std::collections::BTreeSet;
use std::fmt;

use sha2::{Digest, Sha256};

use crate::identity::{Measurement, ModuleDigest, ProductId, Svn};

/// Domain separation for the measurement encoding; changes with any change of that encoding.
pub const MEASUREMENT_DOMAIN: &[u8] = b"enclave-measurement-v1\0";
/// The measurement's tag of the `[inputs]` table (`docs/formats.md`, "Measurement").
const TAG_INPUTS: u8 = 0x01;

/// Measurement tag of `pad_output` (`docs/formats.md`, "Measurement": settings with a tag).
const TAG_PAD_OUTPUT: u8 = 0x02;

/// The signed enclave configuration.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Separates products by the same signer (ISVPRODID).
    pub product_id: ProductId,
    /// Security version (ISVSVN).
    pub svn: Svn,
    /// A debug enclave: its secrets are not protected, its keys differ from production ones, and
    /// verifiers refuse it unless told otherwise.
    pub debug: bool,
    /// Which ABI the guest is written against.
    #[serde(default)]
    pub kind: GuestKind,
    /// Command-line arguments for a WASI guest (`argv[1..]`); must be empty for native guests.
    #[serde(default)]
    pub args: Vec<String>,
    /// Resource limits, enforced by the runtime.
    #[serde(default)]
    pub limits: Limits,
    /// Host functions the guest may import beyond reading input and writing output.
    #[serde(default)]
    pub capabilities: BTreeSet<Capability>,
    /// Pads every sealed output (and sealed failure report) to a multiple of this many bytes,
    /// so that the answer's length does not tell the operator the answer; `0` (the default)
    /// pads nothing. Measured; written to the bundle only when not 0 (`docs/formats.md`,
    /// "Padding").
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pad_output: u64,
    /// Which inputs the enclave takes: plaintext from the operator or only sealed ones, and
    /// whether a sealed request may run twice (`[inputs]`; absent means the defaults).
    #[serde(default, skip_serializing_if = "InputPolicy::is_default")]
    pub inputs: InputPolicy,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// What an operator may feed the enclave (`docs/abi.md`, "Input origin"). Measured like every
/// field, so a relying party that trusts the measurement knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputPolicy {
    /// Only sealed inputs: the runtime refuses every plaintext run (`enclave run` on a plain
    /// file, `serve --allow-plaintext`, an embedder's `Enclave::run`), so whatever the guest
    /// reads came from a client who sealed it to the enclave.
    pub sealed_only: bool,
    /// The platform remembers the request id of every sealed input it opens for this enclave for
    /// `replay_window_s` seconds and refuses the same request again in that window. Needs
    /// `sealed_only`.
    pub refuse_replays: bool,
    /// How long a request id is remembered, in seconds (default 300, a verifier's default
    /// maximum evidence age).
    pub replay_window_s: u64,
}

impl InputPolicy {
    /// The default replay window: a verifier's default maximum evidence age
    /// (`verify::DEFAULT_MAX_AGE`, which a test keeps equal; the manifest sits below the
    /// verifier).
    pub const DEFAULT_REPLAY_WINDOW_S: u64 = 300;

    /// Whether this is the default policy (plaintext allowed, replays run), which the
    /// measurement and the encodings leave out.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl Default for InputPolicy {
    fn default() -> Self {
        Self {
            sealed_only: false,
            refuse_replays: false,
            replay_window_s: Self::DEFAULT_REPLAY_WINDOW_S,
        }
    }
}

/// Which ABI a guest module is written against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestKind {
    /// The native enclave ABI (import module `enclave_v1`), entry point `enclave_main`.
    #[default]
    Enclave,
    /// WASI preview 1 (`wasi_snapshot_preview1`), entry point `_start`.
    Wasi,
    /// A WebAssembly component in the `wasi:http/proxy` world (WASI 0.2), which may import the
    /// platform's services (`enclave:platform`); it answers HTTP requests, one fresh instance
    /// per request (`docs/abi.md`, "Components").
    Http,
}

/// Resource limits. Every one is enforced by the runtime and covered by the measurement.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Maximum linear memory, in bytes.
    pub memory_bytes: u64,
    /// Fuel budget: roughly one unit per wasm instruction executed. `0` means unmetered: no
    /// instruction counting (faster guest code), only `timeout_ms` bounds a run, and the fuel
    /// used is reported as 0.
    pub fuel: u64,
    /// Wall-clock budget for one run, in milliseconds.
    pub timeout_ms: u64,
    /// Largest input accepted, in bytes.
    pub max_input_bytes: u64,
    /// Largest output the guest may write, in bytes.
    pub max_output_bytes: u64,
    /// Maximum wasm stack, in bytes.
    pub stack_bytes: u64,
}

impl Limits {
    /// Whether runs count instructions against [`Limits::fuel`]; `fuel = 0` means unmetered
    /// (only `timeout_ms` bounds a run).
    pub fn is_metered(&self) -> bool {
        self.fuel != 0
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            fuel: 10_000_000_000,
            timeout_ms: 10_000,
            max_input_bytes: 64 << 20,
            max_output_bytes: 64 << 20,
            stack_bytes: 512 << 10,
        }
    }
}

/// A host capability a manifest can grant. Declared in ascending byte order of the names, so
/// that a set of them (the manifest's) is written in that order everywhere: in the bundle's CBOR
/// manifest, in TOML, in `GET /v1/info`, as in the measurement (`docs/formats.md`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Capability {
    /// A monotonic clock (WASI guests).
    ClockMonotonic,
    /// The wall clock (WASI guests).
    ClockWall,
    /// A debug log; discarded unless the enclave is a debug enclave.
    Log,
    /// Random bytes from the host CSPRNG.
    Random,
    /// Attestation reports over guest-chosen data (the EREPORT analog).
    Report,
    /// Sealing and unsealing data to the enclave's identity.
    Seal,
    /// A persistent sealed key-value store with rollback protection.
    Store,
}

impl Capability {
    /// Every capability, in measurement order.
    pub const ALL: [Capability; 7] = [
        Capability::ClockMonotonic,
        Capability::ClockWall,
        Capability::Log,
        Capability::Random,
        Capability::Report,
        Capability::Seal,
        Capability::Store,
    ];

    /// The name used in the manifest and in the measurement.
    pub const fn name(self) -> &'static str {
        match self {
            Capability::Random => "random",
            Capability::Log => "log",
            Capability::Report => "report",
            Capability::Seal => "seal",
            Capability::Store => "store",
            Capability::ClockMonotonic => "clock-monotonic",
            Capability::ClockWall => "clock-wall",
        }
    }

    /// Whether a guest of `kind` can use this capability.
    pub const fn applies_to(self, kind: GuestKind) -> bool {
        match self {
            Capability::Random => true,
            Capability::Log => matches!(kind, GuestKind::Enclave),
            Capability::Report | Capability::Seal | Capability::Store => {
                matches!(kind, GuestKind::Enclave | GuestKind::Http)
            }
            Capability::ClockMonotonic | Capability::ClockWall => {
                matches!(kind, GuestKind::Wasi | GuestKind::Http)
            }
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for GuestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GuestKind::Enclave => "enclave",
            GuestKind::Wasi => "wasi",
            GuestKind::Http => "http",
        })
    }
}

/// Bounds on limits: outside them a manifest is refused rather than silently clamped.
pub mod bounds {
    /// One wasm page.
    pub const MIN_MEMORY_BYTES: u64 = 64 << 10;
    /// The 32-bit wasm address space.
    pub const MAX_MEMORY_BYTES: u64 = 4 << 30;
    /// Smallest wasm stack that runs anything useful.
    pub const MIN_STACK_BYTES: u64 = 16 << 10;
    /// Largest wasm stack; the runtime gives the guest thread room for it plus host frames.
    pub const MAX_STACK_BYTES: u64 = 8 << 20;
    /// One day.
    pub const MAX_TIMEOUT_MS: u64 = 86_400_000;
    /// Largest number of WASI arguments.
    pub const MAX_ARGS: usize = 256;
    /// Largest size of one WASI argument.
    pub const MAX_ARG_BYTES: usize = 4096;
    /// Largest size of all WASI arguments together: half the signed envelope
    /// ([`crate::bundle::MAX_ENVELOPE_BYTES`]), which also carries the rest of the manifest, the
    /// signer's key and the signature, so that every valid manifest can be signed.
    pub const MAX_ARGS_TOTAL_BYTES: usize = 32 << 10;
    /// Smallest `pad_output` other than 0.
    pub const MIN_PAD_OUTPUT: u64 = 16;
    /// Largest `pad_output`: 64 MiB.
    pub const MAX_PAD_OUTPUT: u64 = 64 << 20;
    /// Largest fuel and input/output size: the largest TOML integer (2^63 - 1), so that every
    /// valid manifest, also one decoded from a bundle's CBOR, can be written as TOML.
    pub const MAX_TOML_INTEGER: u64 = i64::MAX as u64;
}

/// Why a manifest was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The TOML text does not parse or has unknown keys; the message starts with the line and
    /// column (both from 1) where the problem is, when the parser knows it.
    #[error("invalid manifest: {0}")]
    Syntax(String),
    /// A limit is outside its allowed range.
    #[error("limits.{field} = {value} is outside the allowed range {min}..={max}")]
    LimitOutOfRange {
        /// The limit's name.
        field: &'static str,
        /// The value given.
        value: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// A capability does not exist for this kind of guest.
    #[error("capability `{capability}` is not available to {kind} guests")]
    CapabilityNotForKind {
        /// The capability.
        capability: Capability,
        /// The guest kind.
        kind: GuestKind,
    },
    /// `pad_output` is neither 0 nor within 16..=67108864.
    #[error("pad_output = {0} is neither 0 (no padding) nor within 16..=67108864")]
    PadOutputOutOfRange(u64),
    /// Arguments were given to a native guest, or too many or too long for a WASI one.
    #[error("args: {0}")]
    Args(&'static str),
    /// The `[inputs]` table does not hold together.
    #[error("inputs: {0}")]
    Inputs(&'static str),
}

/// A TOML error as `line L, column C: message` (both from 1, the column in characters), the
/// position being where the parser stopped; the manifest's and the policy file's wording.
pub(crate) fn toml_error_text(text: &str, error: &toml::de::Error) -> String {
    // toml's messages may run over several lines ("invalid string\nexpected `\"`"): one line.
    let message = error
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let Some(span) = error.span() else {
        return message;
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).unwrap_or("").chars().count() + 1;
    format!("line {line}, column {column}: {message}")
}

fn syntax_error(text: &str, error: &toml::de::Error) -> ManifestError {
    ManifestError::Syntax(toml_error_text(text, error))
}

impl Manifest {
    /// Parses and validates a TOML manifest.
    ///
    /// # Errors
    /// [`ManifestError::Syntax`] for malformed TOML or unknown keys, and any error of
    /// [`Manifest::validate`].
    pub fn from_toml(text: &str) -> Result<Self, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The manifest as TOML, every default written out.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| unreachable!("a manifest always serialises: {e}"))
    }

    /// Checks every limit against [`bounds`] and every capability against the guest kind.
    ///
    /// # Errors
    /// The first rule broken.
    pub fn validate(&self) -> Result<(), ManifestError> {
        use bounds::*;
        let l = &self.limits;
        check_range(
            "memory_bytes",
            l.memory_bytes,
            MIN_MEMORY_BYTES,
            MAX_MEMORY_BYTES,
        )?;
        check_range("fuel", l.fuel, 0, MAX_TOML_INTEGER)?;
        check_range("timeout_ms", l.timeout_ms, 1, MAX_TIMEOUT_MS)?;
        check_range("max_input_bytes", l.max_input_bytes, 0, MAX_TOML_INTEGER)?;
        check_range("max_output_bytes", l.max_output_bytes, 0, MAX_TOML_INTEGER)?;
        check_range(
            "stack_bytes",
            l.stack_bytes,
            MIN_STACK_BYTES,
            MAX_STACK_BYTES,
        )?;
        self.check_inputs()?;
        if self.kind == GuestKind::Http && (!self.inputs.is_default() || self.pad_output != 0) {
            return Err(ManifestError::Inputs(
                "[inputs] and pad_output apply to sealed runs; an http enclave's requests and \
                 responses travel over attested TLS (leave both out for kind = \"http\")",
            ));
        }
        if self.pad_output != 0 && !(MIN_PAD_OUTPUT..=MAX_PAD_OUTPUT).contains(&self.pad_output) {
            return Err(ManifestError::PadOutputOutOfRange(self.pad_output));
        }
        if let Some(&capability) = self.capabilities.iter().find(|c| !c.applies_to(self.kind)) {
            return Err(ManifestError::CapabilityNotForKind {
                capability,
                kind: self.kind,
            });
        }
        match self.kind {
            GuestKind::Enclave | GuestKind::Http if !self.args.is_empty() => {
                Err(ManifestError::Args("only WASI guests take arguments"))
            }
            _ if self.args.len() > MAX_ARGS => Err(ManifestError::Args("more than 256 arguments")),
            _ if self
                .args
                .iter()
                .any(|a| a.len() > MAX_ARG_BYTES || a.contains('\0')) =>
            {
                Err(ManifestError::Args(
                    "an argument is over 4096 bytes or contains NUL",
                ))
            }
            _ if self.args.iter().map(String::len).sum::<usize>() > MAX_ARGS_TOTAL_BYTES => {
                Err(ManifestError::Args(
                    "more than 32768 bytes in all: the signed bundle envelope holds 64 KiB \
                     (65536 bytes) for the whole manifest, the signer's key and the signature; \
                     shrink args",
                ))
            }
            _ => Ok(()),
        }
    }

    fn check_inputs(&self) -> Result<(), ManifestError> {
        let inputs = &self.inputs;
        if inputs.refuse_replays && !inputs.sealed_only {
            return Err(ManifestError::Inputs(
                "refuse_replays = true needs sealed_only = true (a plaintext input has no request id)",
            ));
        }
        check_range(
            "replay_window_s",
            inputs.replay_window_s,
            1,
            bounds::MAX_TIMEOUT_MS / 1000,
        )
        .map_err(|_| ManifestError::Inputs("replay_window_s must be 1 ..= 86400 seconds"))
    }

    /// Whether the manifest grants `capability`.
    pub fn grants(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }

    /// The measurement of this manifest with `module`: SHA-256 over the encoding returned by
    /// [`Manifest::measurement_input`].
    pub fn measure(&self, module: &ModuleDigest) -> Measurement {
        Measurement::from_bytes(Sha256::digest(self.measurement_input(module)).into())
    }

    /// The exact bytes hashed into the measurement, as specified in `docs/formats.md`:
    /// a domain string, the module digest, then every manifest field in a fixed order with
    /// fixed-width big-endian integers and length-prefixed strings. Nothing host-specific.
    pub fn measurement_input(&self, module: &ModuleDigest) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        out.extend_from_slice(MEASUREMENT_DOMAIN);
        out.extend_from_slice(module.as_bytes());
        out.push(match self.kind {
            GuestKind::Enclave => 0,
            GuestKind::Wasi => 1,
            GuestKind::Http => 2,
        });
        out.extend_from_slice(&self.product_id.0.to_be_bytes());
        out.extend_from_slice(&self.svn.0.to_be_bytes());
        out.push(u8::from(self.debug));
        let l = &self.limits;
        for value in [
            l.memory_bytes,
            l.fuel,
            l.timeout_ms,
            l.max_input_bytes,
            l.max_output_bytes,
            l.stack_bytes,
        ] {
            out.extend_from_slice(&value.to_be_bytes());
        }
        let mut names: Vec<&str> = self.capabilities.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        put_strings(&mut out, names.iter().map(|s| s.as_bytes()));
        put_strings(&mut out, self.args.iter().map(String::as_bytes));
        // Settings added after version 1 of this encoding, each only when it is not the default
        // (so every earlier measurement stands), as a tag byte and a fixed-size value, in
        // ascending tag order.
        if !self.inputs.is_default() {
            out.push(TAG_INPUTS);
            out.push(u8::from(self.inputs.sealed_only) | u8::from(self.inputs.refuse_replays) << 1);
            out.extend_from_slice(&self.inputs.replay_window_s.to_be_bytes());
        }
        if self.pad_output != 0 {
            out.push(TAG_PAD_OUTPUT);
            out.extend_from_slice(&self.pad_output.to_be_bytes());
        }
        out
    }
}

fn check_range(field: &'static str, value: u64, min: u64, max: u64) -> Result<(), ManifestError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ManifestError::LimitOutOfRange {
            field,
            value,
            min,
            max,
        })
    }
}

/// A u32 count, then each item as a u32 length and its bytes. Lengths are bounded by
/// [`Manifest::validate`] far below `u32::MAX`.
fn put_strings<'a>(out: &mut Vec<u8>, items: impl ExactSizeIterator<Item = &'a [u8]>) {
    out.extend_from_slice(&u32_len(items.len()).to_be_bytes());
    for item in items {
        out.extend_from_slice(&u32_len(item.len()).to_be_bytes());
        out.extend_from_slice(item);
    }
}

fn u32_len(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replay_window_is_the_verifiers_maximum_age() {
        assert_eq!(
            InputPolicy::DEFAULT_REPLAY_WINDOW_S,
            crate::verify::DEFAULT_MAX_AGE.as_secs()
        );
    }

    const MINIMAL: &str = "product_id = 7\nsvn = 2\ndebug = false\n";

    #[test]
    fn minimal_manifest_takes_defaults() {
        let m = Manifest::from_toml(MINIMAL).unwrap();
        assert_eq!(m.product_id, ProductId(7));
        assert_eq!(m.svn, Svn(2));
        assert_eq!(m.kind, GuestKind::Enclave);
        assert_eq!(m.limits, Limits::default());
        assert!(m.capabilities.is_empty());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Manifest::from_toml(&format!("{MINIMAL}colour = \"red\"\n")).unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
        let err = Manifest::from_toml(&format!("{MINIMAL}[limits]\nfule = 3\n")).unwrap_err();
        assert!(err.to_string().contains("unknown field `fule`"), "{err}");
        let err = Manifest::from_toml(&format!("{MINIMAL}capabilities = [\"net\"]\n")).unwrap_err();
        assert!(err.to_string().contains("unknown variant `net`"), "{err}");
    }

    #[test]
    fn syntax_errors_name_the_line_and_column() {
        let err = Manifest::from_toml("product_id = 1\nsvn = 1\ndebug = flase\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid manifest: line 3, column 9: "),
            "{err}"
        );
        let err = Manifest::from_toml(&format!("{MINIMAL}[limits]\nfule = 3\n")).unwrap_err();
        let line = MINIMAL.lines().count() + 2;
        assert!(
            err.to_string().starts_with(&format!(
                "invalid manifest: line {line}, column 1: unknown field `fule`"
            )),
            "{err}"
        );
    }

    #[test]
    fn limits_are_bounded() {
        let err =
            Manifest::from_toml(&format!("{MINIMAL}[limits]\nstack_bytes = 1\n")).unwrap_err();
        assert_eq!(
            err,
            ManifestError::LimitOutOfRange {
                field: "stack_bytes",
                value: 1,
                min: bounds::MIN_STACK_BYTES,
                max: bounds::MAX_STACK_BYTES
            }
        );
    }

    #[test]
    fn capabilities_must_suit_the_kind() {
        let err = Manifest::from_toml(&format!("{MINIMAL}capabilities = [\"clock-wall\"]\n"))
            .unwrap_err();
        assert_eq!(
            err,
            ManifestError::CapabilityNotForKind {
                capability: Capability::ClockWall,
                kind: GuestKind::Enclave
            }
        );
        let err = Manifest::from_toml(&format!("{MINIMAL}args = [\"-v\"]\n")).unwrap_err();
        assert_eq!(err, ManifestError::Args("only WASI guests take arguments"));
    }

    #[test]
    fn every_field_changes_the_measurement() {
        let base = Manifest::from_toml(MINIMAL).unwrap();
        let module = ModuleDigest::of(b"\0asm");
        let reference = base.measure(&module);
        let mut variants: Vec<Manifest> = Vec::new();
        let mut push = |f: &dyn Fn(&mut Manifest)| {
            let mut m = base.clone();
            f(&mut m);
            variants.push(m);
        };
        push(&|m| m.product_id = ProductId(8));
        push(&|m| m.svn = Svn(3));
        push(&|m| m.debug = true);
        push(&|m| m.kind = GuestKind::Wasi);
        push(&|m| m.limits.memory_bytes += 65536);
        push(&|m| m.limits.fuel += 1);
        push(&|m| m.limits.timeout_ms += 1);
        push(&|m| m.limits.max_input_bytes += 1);
        push(&|m| m.limits.max_output_bytes += 1);
        push(&|m| m.limits.stack_bytes += 1);
        push(&|m| {
            m.capabilities.insert(Capability::Random);
        });
        push(&|m| m.args.push(String::new()));
        push(&|m| m.pad_output = 4096);
        push(&|m| m.inputs.sealed_only = true);
        push(&|m| {
            m.inputs.sealed_only = true;
            m.inputs.refuse_replays = true;
        });
        push(&|m| m.inputs.replay_window_s = 301);
        let mut seen = std::collections::HashSet::from([reference]);
        for v in &variants {
            assert!(
                seen.insert(v.measure(&module)),
                "{v:?} did not change the measurement"
            );
        }
        assert_ne!(base.measure(&ModuleDigest::of(b"\0asn")), reference);
    }

    #[test]
    fn measurement_is_pinned() {
        // The worked examples in docs/formats.md, computed there independently (in Python) from
        // the written specification. A change here is a change of the measurement format.
        let module = ModuleDigest::from_bytes([0x11; 32]);
        let m = Manifest::from_toml(MINIMAL).unwrap();
        assert_eq!(m.measurement_input(&module).len(), 117);
        assert_eq!(
            m.measure(&module).to_string(),
            "1c0e576a0180d7f46b3b6c44c704df4977d51f2e34f0f6cd0264a53b71f0598d"
        );
        let text = format!("{MINIMAL}capabilities = [\"random\", \"log\"]\n");
        let m = Manifest::from_toml(&text).unwrap();
        assert_eq!(m.measurement_input(&module).len(), 134);
        assert_eq!(
            m.measure(&module).to_string(),
            "26ea6b1b97a9085f7fc9cb35745196d1055744ce043b5d70335fe7041b5266ff"
        );
        let m = Manifest::from_toml(&format!("{MINIMAL}pad_output = 4096\n")).unwrap();
        assert_eq!(m.measurement_input(&module).len(), 126);
        assert_eq!(
            m.measure(&module).to_string(),
            "e32f64177d27541af942d0593eb40ecef2d474d15257d91165bd91a4e78336af"
        );
        let m = Manifest::from_toml(&format!("{MINIMAL}kind = \"http\"\n")).unwrap();
        assert_eq!(m.measurement_input(&module).len(), 117);
        assert_eq!(
            m.measure(&module).to_string(),
            "5626ea2866042d59dbc36d81674e366b0b217c94409c7768dbf5a329f033476a"
        );
        let text = format!("{MINIMAL}kind = \"http\"\ncapabilities = [\"store\", \"report\"]\n");
        let m = Manifest::from_toml(&text).unwrap();
        assert_eq!(m.measurement_input(&module).len(), 136);
        assert_eq!(
            m.measure(&module).to_string(),
            "fc726289bc07bcd461267eb165c7c0a42a066da01c7f210a03fe4c5744a59c05"
        );
    }

    #[test]
    fn an_http_enclave_takes_no_sealed_input_settings() {
        for extra in ["pad_output = 4096\n", "[inputs]\nsealed_only = true\n"] {
            let err =
                Manifest::from_toml(&format!("{MINIMAL}kind = \"http\"\n{extra}")).unwrap_err();
            assert_eq!(
                err.to_string(),
                "inputs: [inputs] and pad_output apply to sealed runs; an http enclave's requests \
                 and responses travel over attested TLS (leave both out for kind = \"http\")"
            );
        }
        let err = Manifest::from_toml(&format!(
            "{MINIMAL}kind = \"http\"\ncapabilities = [\"log\"]\n"
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "capability `log` is not available to http guests"
        );
        let err = Manifest::from_toml(&format!("{MINIMAL}kind = \"http\"\nargs = [\"a\"]\n"))
            .unwrap_err();
        assert_eq!(err.to_string(), "args: only WASI guests take arguments");
    }

    #[test]
    fn pad_output_is_optional_bounded_and_written_only_when_set() {
        let m = Manifest::from_toml(MINIMAL).unwrap();
        assert_eq!(m.pad_output, 0);
        assert!(!m.to_toml().contains("pad_output"));
        assert!(!crate::cbor::encode(&m)
            .windows(10)
            .any(|w| w == b"pad_output"));
        for bad in [1, 15, (64 << 20) + 1] {
            assert_eq!(
                Manifest::from_toml(&format!("{MINIMAL}pad_output = {bad}\n")),
                Err(ManifestError::PadOutputOutOfRange(bad))
            );
        }
        let padded = Manifest::from_toml(&format!("{MINIMAL}pad_output = 4096\n")).unwrap();
        assert_eq!(Manifest::from_toml(&padded.to_toml()).unwrap(), padded);
    }

    #[test]
    fn the_inputs_trailer_is_pinned() {
        // The worked examples of docs/formats.md, "Measurement", computed there independently.
        let module = ModuleDigest::from_bytes([0x11; 32]);
        for (table, expected) in [
            (
                "[inputs]\nsealed_only = true\n",
                "92b4885d5571c11266d41daefd66217f3344f0e42ced51d0f312ebcd049d3030",
            ),
            (
                "[inputs]\nsealed_only = true\nrefuse_replays = true\n",
                "fe23d01ad6e74657f5f786fa581e3695fbc3296b02f2884981615c72703e0bb2",
            ),
        ] {
            let m = Manifest::from_toml(&format!("{MINIMAL}{table}")).unwrap();
            assert_eq!(m.measurement_input(&module).len(), 127);
            assert_eq!(m.measure(&module).to_string(), expected);
        }
    }

    #[test]
    fn limits_beyond_toml_integers_are_refused() {
        // Found by tests/proptest.rs: `to_toml` panicked on fuel = 2^63, which a bundle's CBOR
        // manifest could carry.
        let mut m = Manifest::from_toml(MINIMAL).unwrap();
        m.limits.fuel = 1 << 63;
        assert!(matches!(
            m.validate(),
            Err(ManifestError::LimitOutOfRange { field: "fuel", .. })
        ));
        m.limits.fuel = bounds::MAX_TOML_INTEGER;
        m.limits.max_input_bytes = bounds::MAX_TOML_INTEGER;
        m.limits.max_output_bytes = bounds::MAX_TOML_INTEGER;
        assert_eq!(Manifest::from_toml(&m.to_toml()).unwrap(), m);
    }

    #[test]
    fn capabilities_are_ordered_by_name_everywhere() {
        let mut names: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
        let ordered = names.clone();
        names.sort_unstable();
        assert_eq!(
            names, ordered,
            "Capability::ALL and the enum order are the names' order"
        );
        let mut sorted = Capability::ALL;
        sorted.sort();
        assert_eq!(sorted, Capability::ALL);
    }

    #[test]
    fn toml_round_trip() {
        let text = format!("{MINIMAL}capabilities = [\"random\", \"log\"]\n");
        let m = Manifest::from_toml(&text).unwrap();
        assert_eq!(Manifest::from_toml(&m.to_toml()).unwrap(), m);
    }

    #[test]
    fn inputs_table() {
        let text = format!(
            "{MINIMAL}[inputs]\nsealed_only = true\nrefuse_replays = true\nreplay_window_s = 60\n"
        );
        let m = Manifest::from_toml(&text).unwrap();
        assert!(m.inputs.sealed_only && m.inputs.refuse_replays);
        assert_eq!(m.inputs.replay_window_s, 60);
        assert_eq!(Manifest::from_toml(&m.to_toml()).unwrap(), m);
        // The default is left out of the TOML and of the measurement (pinned above).
        let plain = Manifest::from_toml(MINIMAL).unwrap();
        assert!(!plain.to_toml().contains("inputs"));
        // 117 bytes without the table; the tag, the flags and the window with it.
        let module = ModuleDigest::from_bytes([0x11; 32]);
        let input = m.measurement_input(&module);
        assert_eq!(input.len(), 117 + 10);
        assert_eq!(input[117..], [0x01, 0b11, 0, 0, 0, 0, 0, 0, 0, 60]);
        let err = Manifest::from_toml(&format!("{MINIMAL}[inputs]\nrefuse_replays = true\n"))
            .unwrap_err();
        assert_eq!(
            err,
            ManifestError::Inputs(
                "refuse_replays = true needs sealed_only = true (a plaintext input has no request id)"
            )
        );
        let err =
            Manifest::from_toml(&format!("{MINIMAL}[inputs]\nreplay_window_s = 0\n")).unwrap_err();
        assert_eq!(
            err,
            ManifestError::Inputs("replay_window_s must be 1 ..= 86400 seconds")
        );
        let err = Manifest::from_toml(&format!("{MINIMAL}[inputs]\nsealed = true\n")).unwrap_err();
        assert!(err.to_string().contains("unknown field `sealed`"), "{err}");
    }
}
