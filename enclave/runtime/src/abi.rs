//! The host side of ABI v1 (`docs/abi.md`): which imports a guest may have, checked before
//! linking from one table, and the linking itself. The host functions are in `calls`, their
//! access to guest memory in `memory`, the names and caps in `limits`.
//!
//! Every pointer and length a guest passes is checked against its memory before the host reads or
//! writes; a bad one ends the run (see [`crate::error::GuestFault`]). A length the host copies is
//! first checked against its documented cap (`CappedLen`), so no host allocation is ever sized
//! by what a guest asked for: the guest's memory can be gigabytes, the host's copy of it is not.

mod calls;
mod limits;
mod memory;

use attest::{Capability, Manifest};
use wasmtime::{Caller, ExternType, Linker, Module, ValType};

use crate::error::LoadError;
use crate::host::HostState;

/// The status codes a guest may handle; see `docs/abi.md`.
pub use crate::services::status;
pub use limits::*;

use calls::*;

/// A wasm number type in a host function's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Num {
    I32,
    I64,
}

struct HostFn {
    name: &'static str,
    params: &'static [Num],
    results: &'static [Num],
    capability: Option<Capability>,
}

const fn host_fn(
    name: &'static str,
    params: &'static [Num],
    results: &'static [Num],
    capability: Option<Capability>,
) -> HostFn {
    HostFn {
        name,
        params,
        results,
        capability,
    }
}

use Num::{I32, I64};

/// Whether `func` has exactly the signature `params -> results`.
pub(crate) fn signature_matches(
    func: &wasmtime::FuncType,
    params: &[Num],
    results: &[Num],
) -> bool {
    func.params().map(num).eq(params.iter().map(|&n| Some(n)))
        && func.results().map(num).eq(results.iter().map(|&n| Some(n)))
}

/// ABI v1, as documented in `docs/abi.md`.
const ABI: &[HostFn] = &[
    host_fn("input_len", &[], &[I64], None),
    host_fn("read_input", &[I32, I32], &[I32], None),
    host_fn("write_output", &[I32, I32], &[I32], None),
    host_fn("abort", &[I32, I32], &[], None),
    host_fn("input_source", &[I32, I32], &[I32], None),
    host_fn("random", &[I32, I32], &[I32], Some(Capability::Random)),
    host_fn("log", &[I32, I32], &[I32], Some(Capability::Log)),
    host_fn(
        "report",
        &[I32, I32, I32, I32, I32, I32],
        &[I32],
        Some(Capability::Report),
    ),
    host_fn(
        "seal",
        &[I32, I32, I32, I32, I32, I32, I32],
        &[I32],
        Some(Capability::Seal),
    ),
    host_fn(
        "seal_at",
        &[I32, I32, I32, I32, I32, I32, I32, I32],
        &[I32],
        Some(Capability::Seal),
    ),
    host_fn("tcb_level", &[], &[I64], Some(Capability::Seal)),
    host_fn(
        "unseal",
        &[I32, I32, I32, I32, I32, I32],
        &[I64],
        Some(Capability::Seal),
    ),
    host_fn(
        "store_get",
        &[I32, I32, I32, I32],
        &[I32],
        Some(Capability::Store),
    ),
    host_fn(
        "store_put",
        &[I32, I32, I32, I32],
        &[I32],
        Some(Capability::Store),
    ),
    host_fn("store_delete", &[I32, I32], &[I32], Some(Capability::Store)),
];

/// Checks every import and the required exports of `module` against the ABI and the manifest's
/// grants, collecting every problem rather than stopping at the first.
///
/// # Errors
/// [`LoadError::ForbiddenImports`] listing each offending import, or
/// [`LoadError::MissingExport`].
pub fn check_module(module: &Module, manifest: &Manifest) -> Result<(), LoadError> {
    let problems: Vec<String> = module
        .imports()
        // Host functions are the embedder's grants, checked by `crate::host_fns`.
        .filter(|import| import.module() != HOST_MODULE)
        .filter_map(|import| {
            check_import(import.module(), import.name(), &import.ty(), manifest)
                .err()
                .map(|why| format!("{}.{}: {why}", import.module(), import.name()))
        })
        .collect();
    if !problems.is_empty() {
        return Err(LoadError::ForbiddenImports(problems));
    }
    match module.get_export(ENTRY) {
        Some(ExternType::Func(f)) if f.params().len() == 0 && f.results().len() == 0 => {}
        _ => {
            return Err(LoadError::MissingExport(
                "function `enclave_main: [] -> []`",
            ))
        }
    }
    match module.get_export("memory") {
        Some(ExternType::Memory(_)) => Ok(()),
        _ => Err(LoadError::MissingExport("memory `memory`")),
    }
}

fn check_import(
    module: &str,
    name: &str,
    ty: &ExternType,
    manifest: &Manifest,
) -> Result<(), String> {
    if module != MODULE {
        return Err("not part of the enclave ABI (no ambient capabilities)".into());
    }
    let Some(host_fn) = ABI.iter().find(|f| f.name == name) else {
        return Err(format!("no such function in {MODULE}"));
    };
    let ExternType::Func(func) = ty else {
        return Err("imported as a non-function".into());
    };
    if !signature_matches(func, host_fn.params, host_fn.results) {
        return Err(format!(
            "wrong signature: expected {}, found {}",
            signature(host_fn.params, host_fn.results),
            render_func(func),
        ));
    }
    match host_fn.capability {
        Some(cap) if !manifest.grants(cap) => {
            Err(format!("capability `{cap}` is not granted by the manifest"))
        }
        _ => Ok(()),
    }
}

pub(crate) fn num(ty: ValType) -> Option<Num> {
    match ty {
        ValType::I32 => Some(Num::I32),
        ValType::I64 => Some(Num::I64),
        _ => None,
    }
}

/// A signature as `(i32, i32) -> (i32)`.
pub(crate) fn signature(params: &[Num], results: &[Num]) -> String {
    let list = |xs: &[Num]| {
        xs.iter()
            .map(|n| if *n == I32 { "i32" } else { "i64" })
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("({}) -> ({})", list(params), list(results))
}

/// A function type as `(i32, i32) -> (i32)`, the notation of `docs/abi.md`.
pub fn render_func(func: &wasmtime::FuncType) -> String {
    let list = |tys: Vec<String>| tys.join(", ");
    format!(
        "({}) -> ({})",
        list(func.params().map(|t| t.to_string()).collect()),
        list(func.results().map(|t| t.to_string()).collect())
    )
}

/// Defines the host functions the manifest grants. Imports were checked by [`check_module`], so
/// nothing else can be asked for.
///
/// # Errors
/// Only on a wasmtime definition failure (a bug).
pub fn define(linker: &mut Linker<HostState>, manifest: &Manifest) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "input_len",
        |caller: Caller<'_, HostState>| -> i64 {
            i64::try_from(caller.data().input_remaining()).unwrap_or(i64::MAX)
        },
    )?;
    linker.func_wrap(MODULE, "read_input", read_input)?;
    linker.func_wrap(MODULE, "write_output", write_output)?;
    linker.func_wrap(MODULE, "abort", abort)?;
    linker.func_wrap(MODULE, "input_source", input_source)?;
    if manifest.grants(Capability::Random) {
        linker.func_wrap(MODULE, "random", random)?;
    }
    if manifest.grants(Capability::Log) {
        linker.func_wrap(MODULE, "log", log)?;
    }
    if manifest.grants(Capability::Report) {
        linker.func_wrap(MODULE, "report", report)?;
    }
    if manifest.grants(Capability::Seal) {
        linker.func_wrap(MODULE, "seal", seal)?;
        linker.func_wrap(MODULE, "seal_at", seal_at)?;
        linker.func_wrap(MODULE, "tcb_level", tcb_level)?;
        linker.func_wrap(MODULE, "unseal", unseal)?;
    }
    if manifest.grants(Capability::Store) {
        linker.func_wrap(MODULE, "store_get", store_get)?;
        linker.func_wrap(MODULE, "store_put", store_put)?;
        linker.func_wrap(MODULE, "store_delete", store_delete)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::panic,
        reason = "test code: a panic is a failing test"
    )]
    use super::memory::*;
    use super::*;
    use crate::error::GuestFault;
    use crate::services::SealPolicy;

    #[test]
    fn guest_buffers_are_bounds_checked() {
        assert!(GuestBuf::check("f", 0, 10, 10).is_ok());
        assert!(GuestBuf::check("f", 10, 0, 10).is_ok());
        assert!(GuestBuf::check("f", 10, 1, 10).is_err());
        assert!(GuestBuf::check("f", 11, 0, 10).is_err());
        // Negative as i32 = huge as u32.
        assert!(GuestBuf::check("f", -16, 64, 1 << 20).is_err());
        assert_eq!(
            GuestBuf::check("f", 16, -1, 1 << 30).err(),
            Some(GuestFault::OutOfBounds {
                function: "f",
                ptr: 16,
                len: u32::MAX
            })
        );
    }

    /// A guest that calls `function` (of type `params -> result`) with `args` and traps unless
    /// it returns `expected`.
    fn caller_of(
        function: &str,
        params: &str,
        result: &str,
        args: &[i64],
        expected: i64,
    ) -> String {
        let ty = if result == "i64" { "i64" } else { "i32" };
        let args: String = args.iter().map(|a| format!("(i32.const {a}) ")).collect();
        format!(
            r#"(module
                (import "enclave_v1" "{function}" (func $f (param {params}) (result {result})))
                (memory (export "memory") 1)
                (func (export "enclave_main")
                    (if ({ty}.ne (call $f {args}) ({ty}.const {expected})) (then unreachable))))"#
        )
    }

    fn run(wat: &str) -> Result<(), crate::RunError> {
        run_on(wat, None)
    }

    fn run_on(
        wat: &str,
        services: Option<std::sync::Arc<dyn crate::ReportIssuer>>,
    ) -> Result<(), crate::RunError> {
        let manifest = attest::Manifest::from_toml(
            "product_id = 1\nsvn = 1\ndebug = false\ncapabilities = [\"seal\", \"store\"]\n",
        )
        .unwrap();
        let module = wat::parse_str(wat).unwrap();
        let key = attest::AuthorKey::generate().unwrap();
        let bundle = attest::bundle::sign(&key, &manifest, &module).unwrap();
        let enclave = crate::Enclave::load(&bundle, crate::Signers::Any).unwrap();
        enclave
            .run(crate::Input::from_bytes(Vec::new()), Vec::new(), services)
            .map(drop)
    }

    /// A platform at TCB [`AtTcb2::LEVEL`] whose blobs are `sealed_len` copies of the level
    /// they were sealed at, so a guest's `seal_at` can be told from its `seal`.
    struct AtTcb2;

    impl AtTcb2 {
        const LEVEL: u32 = 2;

        fn blob(tcb: u32, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
            vec![tcb as u8; sealer::blob::sealed_len(aad.len(), plaintext.len())]
        }
    }

    impl crate::PlatformServices for AtTcb2 {
        fn seal(
            &self,
            _policy: SealPolicy,
            aad: &[u8],
            plaintext: &[u8],
        ) -> Result<Vec<u8>, crate::ServiceRefused> {
            Ok(Self::blob(Self::LEVEL, aad, plaintext))
        }

        fn seal_at(
            &self,
            _policy: SealPolicy,
            tcb: u32,
            aad: &[u8],
            plaintext: &[u8],
        ) -> Result<Vec<u8>, crate::ServiceRefused> {
            if tcb > Self::LEVEL {
                return Err(crate::ServiceRefused::Policy);
            }
            Ok(Self::blob(tcb, aad, plaintext))
        }

        fn tcb_level(&self) -> Result<u32, crate::ServiceRefused> {
            Ok(Self::LEVEL)
        }
    }

    #[test]
    fn seal_and_store_check_caps_then_every_buffer() {
        const SEAL: &str = "i32 i32 i32 i32 i32 i32 i32";
        const UNSEAL: &str = "i32 i32 i32 i32 i32 i32";
        let page = 65536;
        let out_of_bounds = |wat: &str, function: &str| match run(wat) {
            Err(crate::RunError::Fault(GuestFault::OutOfBounds { function: f, .. })) => {
                assert_eq!(f, function)
            }
            other => panic!("{function}: expected an out-of-bounds fault, got {other:?}"),
        };
        // Over a cap: a status, whatever the pointer.
        let too_large = i64::from(status::ERR_TOO_LARGE);
        for wat in [
            caller_of("seal", SEAL, "i32", &[0, -1, 65537, 0, 0, 0, 0], too_large),
            caller_of(
                "seal",
                SEAL,
                "i32",
                &[0, 0, 0, -1, 1048577, 0, 0],
                too_large,
            ),
            caller_of("unseal", UNSEAL, "i64", &[-1, -1, 0, 0, 0, 0], too_large),
            caller_of(
                "store_get",
                "i32 i32 i32 i32",
                "i32",
                &[-1, 257, 0, 0],
                too_large,
            ),
            caller_of(
                "store_put",
                "i32 i32 i32 i32",
                "i32",
                &[0, 0, -1, 65537],
                too_large,
            ),
            caller_of("store_delete", "i32 i32", "i32", &[-1, -1], too_large),
        ] {
            run(&wat).unwrap();
        }
        // Within the caps, every buffer is checked, output buffers included, before any work.
        out_of_bounds(
            &caller_of("seal", SEAL, "i32", &[0, page - 1, 2, 0, 0, 0, 0], 0),
            "seal",
        );
        out_of_bounds(
            &caller_of("seal", SEAL, "i32", &[0, 0, 0, 0, 0, page, 1], 0),
            "seal",
        );
        out_of_bounds(
            &caller_of("seal", SEAL, "i32", &[7, 0, 0, 0, 0, -16, 64], 0),
            "seal",
        );
        out_of_bounds(
            &caller_of("unseal", UNSEAL, "i64", &[page, 1, 0, 0, 0, 0], 0),
            "unseal",
        );
        out_of_bounds(
            &caller_of("unseal", UNSEAL, "i64", &[0, 0, 0, 0, page - 8, 9], 0),
            "unseal",
        );
        out_of_bounds(
            &caller_of("store_get", "i32 i32 i32 i32", "i32", &[0, 1, page, 1], 0),
            "store_get",
        );
        out_of_bounds(
            &caller_of("store_put", "i32 i32 i32 i32", "i32", &[0, 1, page, 1], 0),
            "store_put",
        );
        out_of_bounds(
            &caller_of("store_delete", "i32 i32", "i32", &[page, 1], 0),
            "store_delete",
        );
        // In bounds, an unknown policy is refused, and without platform services everything
        // else fails cleanly.
        let policy = i64::from(status::ERR_POLICY);
        run(&caller_of(
            "seal",
            SEAL,
            "i32",
            &[2, 0, 0, 0, 0, 0, 0],
            policy,
        ))
        .unwrap();
        run(&caller_of(
            "seal",
            SEAL,
            "i32",
            &[0x20000, 0, 0, 0, 0, 0, 0],
            policy,
        ))
        .unwrap();
        // An empty blob is exactly its overhead: one byte less is too small; with room for it,
        // the call reaches the (absent) sealing service.
        let empty = i64::try_from(sealer::blob::sealed_len(0, 0)).unwrap();
        let small = i64::from(status::ERR_BUFFER_TOO_SMALL);
        run(&caller_of(
            "seal",
            SEAL,
            "i32",
            &[0, 0, 0, 0, 0, 0, empty - 1],
            small,
        ))
        .unwrap();
        let failed = i64::from(status::ERR_FAILED);
        run(&caller_of(
            "seal",
            SEAL,
            "i32",
            &[0, 0, 0, 0, 0, 0, empty],
            failed,
        ))
        .unwrap();
        run(&caller_of(
            "store_get",
            "i32 i32 i32 i32",
            "i32",
            &[0, 1, 0, 0],
            failed,
        ))
        .unwrap();
    }

    const SEAL_AT: &str = "i32 i32 i32 i32 i32 i32 i32 i32";

    #[test]
    fn seal_at_checks_caps_then_every_buffer_then_the_policy() {
        let out_of_bounds = |args: &[i64]| match run(&caller_of("seal_at", SEAL_AT, "i32", args, 0))
        {
            Err(crate::RunError::Fault(GuestFault::OutOfBounds { function, .. })) => {
                assert_eq!(function, "seal_at", "{args:?}")
            }
            other => panic!("{args:?}: expected an out-of-bounds fault, got {other:?}"),
        };
        let returns = |args: &[i64], expected: i32| {
            run(&caller_of("seal_at", SEAL_AT, "i32", args, expected.into()))
                .unwrap_or_else(|e| panic!("{args:?}: {e:?}"))
        };
        let page = 65536;
        // Over a cap: a status, whatever the pointer (and the level).
        returns(&[0, 1, -1, 65537, 0, 0, 0, 0], status::ERR_TOO_LARGE);
        returns(&[0, 9, 0, 0, -1, 1048577, 0, 0], status::ERR_TOO_LARGE);
        // Within the caps, every buffer is checked, the output included, before any work.
        out_of_bounds(&[0, 1, page - 1, 2, 0, 0, 0, 0]);
        out_of_bounds(&[0, 1, 0, 0, page, 1, 0, 0]);
        out_of_bounds(&[0, 1, 0, 0, 0, 0, page, 1]);
        out_of_bounds(&[7, 1, 0, 0, 0, 0, -16, 64]);
        // In bounds: an unknown policy, then a buffer too small, then the (absent) platform.
        returns(&[2, 1, 0, 0, 0, 0, 0, 0], status::ERR_POLICY);
        let empty = i64::try_from(sealer::blob::sealed_len(0, 0)).unwrap();
        returns(
            &[0, 1, 0, 0, 0, 0, 0, empty - 1],
            status::ERR_BUFFER_TOO_SMALL,
        );
        returns(&[0, 1, 0, 0, 0, 0, 0, empty], status::ERR_FAILED);
        // Without a platform there is no level to report.
        run(&caller_of(
            "tcb_level",
            "",
            "i64",
            &[],
            status::ERR_FAILED.into(),
        ))
        .unwrap();
    }

    /// A guest that calls `seal_at(0, tcb)` with an empty AAD and plaintext into memory at 0
    /// and traps unless it returns `expected` and, on success, the blob's first byte is
    /// `first_byte` (the level [`AtTcb2`] sealed at).
    fn seal_at_level(tcb: i64, expected: i32, first_byte: i32) -> String {
        let empty = sealer::blob::sealed_len(0, 0);
        format!(
            r#"(module
                (import "enclave_v1" "seal_at"
                    (func $seal_at (param {SEAL_AT}) (result i32)))
                (memory (export "memory") 1)
                (func (export "enclave_main")
                    (if (i32.ne (call $seal_at (i32.const 0) (i32.const {tcb}) (i32.const 0)
                            (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
                            (i32.const {empty}))
                        (i32.const {expected}))
                        (then unreachable))
                    (if (i32.ne (i32.load8_u (i32.const 0)) (i32.const {first_byte}))
                        (then unreachable))))"#
        )
    }

    #[test]
    fn seal_at_passes_the_level_and_the_platform_refuses_a_newer_one() {
        let platform = || Some(std::sync::Arc::new(AtTcb2) as std::sync::Arc<_>);
        let empty = i32::try_from(sealer::blob::sealed_len(0, 0)).unwrap();
        run_on(&caller_of("tcb_level", "", "i64", &[], 2), platform()).unwrap();
        for (tcb, first_byte) in [(0, 0), (1, 1), (2, 2)] {
            run_on(&seal_at_level(tcb, empty, first_byte), platform())
                .unwrap_or_else(|e| panic!("seal_at({tcb}): {e:?}"));
        }
        // Above the platform's level, and a "negative" level (read as unsigned, 2^32 - 1):
        // ERR_POLICY, nothing written.
        for tcb in [3, 1024, -1] {
            run_on(&seal_at_level(tcb, status::ERR_POLICY, 0), platform())
                .unwrap_or_else(|e| panic!("seal_at({tcb}): {e:?}"));
        }
    }

    #[test]
    fn input_source_checks_its_buffer_and_says_plaintext() {
        let page = 65536;
        // A plaintext input: 0, nothing written, whatever the capacity.
        run(&caller_of("input_source", "i32 i32", "i32", &[0, 64], 0)).unwrap();
        run(&caller_of("input_source", "i32 i32", "i32", &[0, 0], 0)).unwrap();
        // The buffer is checked against memory first.
        match run(&caller_of(
            "input_source",
            "i32 i32",
            "i32",
            &[page - 8, 64],
            0,
        )) {
            Err(crate::RunError::Fault(GuestFault::OutOfBounds { function, .. })) => {
                assert_eq!(function, "input_source")
            }
            other => panic!("expected an out-of-bounds fault, got {other:?}"),
        }
    }

    #[test]
    fn seal_policies_decode() {
        assert_eq!(SealPolicy::from_abi(0), Some(SealPolicy::Measurement));
        assert_eq!(SealPolicy::from_abi(1), Some(SealPolicy::Signer));
        assert_eq!(
            SealPolicy::from_abi(0x1_0005),
            Some(SealPolicy::SignerAt(attest::Svn(5)))
        );
        assert_eq!(
            SealPolicy::from_abi(0x1_ffff),
            Some(SealPolicy::SignerAt(attest::Svn(0xffff)))
        );
        for bad in [2, 0xffff, 0x2_0000, -1, i32::MIN] {
            assert_eq!(SealPolicy::from_abi(bad), None, "{bad:#x}");
        }
    }
}
