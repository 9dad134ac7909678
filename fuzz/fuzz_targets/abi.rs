//! Host-ABI call sequences from a guest.
//!
//! The fuzzer's bytes decode (with `arbitrary`) into a guest program: a memory size, the
//! capabilities its manifest grants, an input, and a sequence of calls to `enclave_v1` functions
//! with chosen pointers and lengths (in bounds, at the edge of memory, past it, overflowing),
//! interleaved with `memory.grow`, memory stores and loops that burn fuel. The program is written
//! as WAT, compiled, signed with the fixture author key into a bundle, loaded with
//! `enclave_runtime::Enclave::load` and run under small limits with fixture platform services (real
//! evidence, real sealed blobs, an in-memory store).
//!
//! Oracles: loading succeeds exactly when every imported function is granted; a run either
//! succeeds within its limits or fails with a `RunError` that is not a host failure (a panic in
//! the host would surface as `RunError::Host`, or crash the fuzzer).
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use arbitrary::Arbitrary;
use attest::{Capability, Claims, GuestKind, Limits, Manifest, ProductId, Svn};
use enclave_runtime::{
    Enclave, Input, LoadError, ReportIssuer, ReportRefused, RunError, SealPolicy, ServiceRefused,
};
use libfuzzer_sys::fuzz_target;
use sealer::blob::{self, BlobError, BlobKind};
use sealer::{EnclaveIdentity, KeyPolicy};
use zeroize::Zeroizing;

const PAGE: u32 = 65_536;
const MAX_OUTPUT: u64 = 4096;
const FUEL: u64 = 200_000;

/// A pointer or length: biased towards the values that break bounds checks.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Word {
    Small(u8),
    /// `pages * 64 KiB + delta`: around the end of memory.
    PageEdge(u8, i8),
    Special(u8),
    Raw(u32),
}

impl Word {
    fn value(self) -> i32 {
        const SPECIAL: [u32; 8] = [
            0,
            1,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            0xffff_0000,
            0x0001_0000,
            0x1000,
        ];
        let v = match self {
            Word::Small(n) => u32::from(n),
            Word::PageEdge(pages, delta) => {
                (u32::from(pages % 8) * PAGE).wrapping_add_signed(i32::from(delta))
            }
            Word::Special(i) => SPECIAL[usize::from(i) % SPECIAL.len()],
            Word::Raw(n) => n,
        };
        v as i32
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct Buf {
    ptr: Word,
    len: Word,
}

#[derive(Arbitrary, Debug)]
enum Call {
    InputLen,
    ReadInput(Buf),
    /// `input_source`: always a plaintext input here (0 once the buffer is in bounds); the
    /// buffer check is what is exercised.
    InputSource(Buf),
    WriteOutput(Buf),
    Abort(Buf),
    Random(Buf),
    Log(Buf),
    Report {
        nonce: Buf,
        data: Buf,
        out: Buf,
    },
    Seal {
        policy: Word,
        aad: Buf,
        plaintext: Buf,
        out: Buf,
    },
    Unseal {
        blob: Buf,
        aad: Buf,
        plaintext: Buf,
    },
    /// Seals a buffer to `out`, then unseals what the call returned from there.
    SealUnseal {
        policy: Word,
        aad: Buf,
        plaintext: Buf,
        out: Word,
        to: Buf,
    },
    /// `seal_at`: the fixture platform is at TCB 1, so most levels are above it.
    SealAt {
        policy: Word,
        tcb: Word,
        aad: Buf,
        plaintext: Buf,
        out: Buf,
    },
    TcbLevel,
    StoreGet {
        key: Buf,
        out: Buf,
    },
    StorePut {
        key: Buf,
        value: Buf,
    },
    StoreDelete(Buf),
    Grow(u8),
    Store8 {
        at: Word,
        value: u8,
    },
    /// Repeats a `write_output` of a small buffer `count` times (output limit, fuel).
    WriteLoop {
        count: u16,
        len: u8,
    },
    /// Burns fuel: a loop of `count` iterations (fuel or timeout ends the run).
    Spin(u32),
}

#[derive(Arbitrary, Debug)]
struct Program {
    pages: u8,
    max_pages: Option<u8>,
    debug: bool,
    grant_random: bool,
    grant_log: bool,
    grant_report: bool,
    grant_seal: bool,
    grant_store: bool,
    /// `[inputs] sealed_only`: every run here is plaintext, so refused before it starts.
    sealed_only: bool,
    input: Vec<u8>,
    /// The input reader holds this many bytes more (or fewer) than the declared length.
    input_skew: i8,
    calls: Vec<Call>,
}

/// The host functions a call uses, by name.
fn uses(call: &Call) -> &'static [&'static str] {
    match call {
        Call::InputLen => &["input_len"],
        Call::ReadInput(_) => &["read_input"],
        Call::InputSource(_) => &["input_source"],
        Call::WriteOutput(_) | Call::WriteLoop { .. } => &["write_output"],
        Call::Abort(_) => &["abort"],
        Call::Random(_) => &["random"],
        Call::Log(_) => &["log"],
        Call::Report { .. } => &["report"],
        Call::Seal { .. } => &["seal"],
        Call::Unseal { .. } => &["unseal"],
        Call::SealUnseal { .. } => &["seal", "unseal"],
        Call::SealAt { .. } => &["seal_at"],
        Call::TcbLevel => &["tcb_level"],
        Call::StoreGet { .. } => &["store_get"],
        Call::StorePut { .. } => &["store_put"],
        Call::StoreDelete(_) => &["store_delete"],
        Call::Grow(_) | Call::Store8 { .. } | Call::Spin(_) => &[],
    }
}

fn import(name: &str) -> &'static str {
    match name {
        "input_len" => "(func $input_len (result i64))",
        "report" => "(func $report (param i32 i32 i32 i32 i32 i32) (result i32))",
        "abort" => "(func $abort (param i32 i32))",
        "read_input" => "(func $read_input (param i32 i32) (result i32))",
        "input_source" => "(func $input_source (param i32 i32) (result i32))",
        "write_output" => "(func $write_output (param i32 i32) (result i32))",
        "random" => "(func $random (param i32 i32) (result i32))",
        "log" => "(func $log (param i32 i32) (result i32))",
        "seal" => "(func $seal (param i32 i32 i32 i32 i32 i32 i32) (result i32))",
        "seal_at" => "(func $seal_at (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32))",
        "tcb_level" => "(func $tcb_level (result i64))",
        "unseal" => "(func $unseal (param i32 i32 i32 i32 i32 i32) (result i64))",
        "store_get" => "(func $store_get (param i32 i32 i32 i32) (result i32))",
        "store_put" => "(func $store_put (param i32 i32 i32 i32) (result i32))",
        "store_delete" => "(func $store_delete (param i32 i32) (result i32))",
        other => unreachable!("no host function {other}"),
    }
}

fn buf_args(b: &Buf) -> String {
    format!(
        "(i32.const {}) (i32.const {})",
        b.ptr.value(),
        b.len.value()
    )
}

fn emit(call: &Call, wat: &mut String) {
    let line = match call {
        Call::InputLen => "(drop (call $input_len))".to_string(),
        Call::ReadInput(b) => format!("(drop (call $read_input {}))", buf_args(b)),
        Call::WriteOutput(b) => format!("(drop (call $write_output {}))", buf_args(b)),
        Call::Abort(b) => format!("(call $abort {})", buf_args(b)),
        Call::Random(b) => format!("(drop (call $random {}))", buf_args(b)),
        Call::Log(b) => format!("(drop (call $log {}))", buf_args(b)),
        Call::Report { nonce, data, out } => format!(
            "(drop (call $report {} {} {}))",
            buf_args(nonce),
            buf_args(data),
            buf_args(out)
        ),
        Call::Seal {
            policy,
            aad,
            plaintext,
            out,
        } => format!(
            "(drop (call $seal (i32.const {}) {} {} {}))",
            policy.value(),
            buf_args(aad),
            buf_args(plaintext),
            buf_args(out)
        ),
        Call::Unseal {
            blob,
            aad,
            plaintext,
        } => format!(
            "(drop (call $unseal {} {} {}))",
            buf_args(blob),
            buf_args(aad),
            buf_args(plaintext)
        ),
        Call::SealUnseal {
            policy,
            aad,
            plaintext,
            out,
            to,
        } => format!(
            "(local.set $n (call $seal (i32.const {}) {} {} (i32.const {}) (i32.const 4096)))
             (drop (call $unseal (i32.const {}) (local.get $n) {} {}))",
            policy.value(),
            buf_args(aad),
            buf_args(plaintext),
            out.value(),
            out.value(),
            buf_args(to),
            buf_args(to)
        ),
        Call::SealAt {
            policy,
            tcb,
            aad,
            plaintext,
            out,
        } => format!(
            "(drop (call $seal_at (i32.const {}) (i32.const {}) {} {} {}))",
            policy.value(),
            tcb.value(),
            buf_args(aad),
            buf_args(plaintext),
            buf_args(out)
        ),
        Call::TcbLevel => "(drop (call $tcb_level))".to_string(),
        Call::InputSource(out) => format!("(drop (call $input_source {}))", buf_args(out)),
        Call::StoreGet { key, out } => format!(
            "(drop (call $store_get {} {}))",
            buf_args(key),
            buf_args(out)
        ),
        Call::StorePut { key, value } => format!(
            "(drop (call $store_put {} {}))",
            buf_args(key),
            buf_args(value)
        ),
        Call::StoreDelete(key) => format!("(drop (call $store_delete {}))", buf_args(key)),
        Call::Grow(pages) => format!("(drop (memory.grow (i32.const {pages})))"),
        Call::Store8 { at, value } => {
            format!(
                "(i32.store8 (i32.const {}) (i32.const {value}))",
                at.value()
            )
        }
        Call::WriteLoop { count, len } => format!(
            "(local.set $i (i32.const {count}))
             (block $done (loop $again
               (br_if $done (i32.eqz (local.get $i)))
               (drop (call $write_output (i32.const 0) (i32.const {len})))
               (local.set $i (i32.sub (local.get $i) (i32.const 1)))
               (br $again)))"
        ),
        Call::Spin(count) => format!(
            "(local.set $i (i32.const {}))
             (block $done (loop $again
               (br_if $done (i32.eqz (local.get $i)))
               (local.set $i (i32.sub (local.get $i) (i32.const 1)))
               (br $again)))",
            *count as i32
        ),
    };
    let _ = writeln!(wat, "    {line}");
}

fn module(program: &Program, imports: &BTreeSet<&'static str>) -> String {
    let pages = u32::from(program.pages % 5);
    let max = program
        .max_pages
        .map(|m| format!(" {}", pages + u32::from(m % 8)))
        .unwrap_or_default();
    let mut wat = String::from("(module\n");
    for name in imports {
        let _ = writeln!(wat, "  (import \"enclave_v1\" \"{name}\" {})", import(name));
    }
    let _ = writeln!(wat, "  (memory (export \"memory\") {pages}{max})");
    wat.push_str("  (func (export \"enclave_main\") (local $i i32) (local $n i32)\n");
    for call in program.calls.iter().take(64) {
        emit(call, &mut wat);
    }
    wat.push_str("  )\n)\n");
    wat
}

fn manifest(program: &Program) -> Manifest {
    let mut capabilities = BTreeSet::new();
    for (granted, cap) in [
        (program.grant_random, Capability::Random),
        (program.grant_log, Capability::Log),
        (program.grant_report, Capability::Report),
        (program.grant_seal, Capability::Seal),
        (program.grant_store, Capability::Store),
    ] {
        if granted {
            capabilities.insert(cap);
        }
    }
    Manifest {
        product_id: ProductId(1),
        svn: Svn(2),
        debug: program.debug,
        kind: GuestKind::Enclave,
        args: Vec::new(),
        limits: Limits {
            memory_bytes: 4 * u64::from(PAGE),
            fuel: FUEL,
            timeout_ms: 2_000,
            max_input_bytes: 4096,
            max_output_bytes: MAX_OUTPUT,
            stack_bytes: 64 << 10,
        },
        capabilities,
        pad_output: 0,
        inputs: attest::InputPolicy {
            sealed_only: program.sealed_only,
            ..Default::default()
        },
    }
}

/// The platform services of the run: real evidence from the fixture attestation key, real
/// sealed blobs under the fixed platform secret, an in-memory store.
struct FixtureServices {
    identity: EnclaveIdentity,
    store: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
}

fn refused(e: BlobError) -> ServiceRefused {
    match e {
        BlobError::Policy(_) | BlobError::Tcb(_) => ServiceRefused::Policy,
        BlobError::TooLarge { .. } => ServiceRefused::TooLarge,
        _ => ServiceRefused::Failed,
    }
}

impl ReportIssuer for FixtureServices {
    fn issue(&self, nonce: &[u8], report_data: &[u8]) -> Result<Vec<u8>, ReportRefused> {
        let f = enclave_fuzz::fixtures();
        let claims = Claims {
            nonce: nonce.to_vec(),
            issued_at: enclave_fuzz::NOW_SECS,
            debug: self.identity.debug,
            platform_id: f.attestation.platform_id(),
            platform_tcb: f.attestation.tcb(),
            measurement: self.identity.measurement,
            signer: self.identity.signer,
            module: attest::ModuleDigest::from_bytes([0; 32]),
            product_id: self.identity.product_id,
            svn: self.identity.svn,
            capabilities: vec!["report".into()],
            report_data: report_data.to_vec(),
            enclave_keys: None,
            tls_key: None,
        };
        match f.attestation.sign_evidence(&claims) {
            Ok(evidence) => Ok(evidence),
            Err(attest::EvidenceError::ClaimOutOfRange { .. }) => Err(ReportRefused::BadSize),
            Err(_) => Err(ReportRefused::Failed),
        }
    }

    fn seal(
        &self,
        policy: SealPolicy,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ServiceRefused> {
        let level = enclave_fuzz::platform_tcb_secrets().level();
        self.seal_at(policy, level, aad, plaintext)
    }

    fn seal_at(
        &self,
        policy: SealPolicy,
        tcb: u32,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ServiceRefused> {
        let me = &self.identity;
        let policy = match policy {
            SealPolicy::Measurement => me.measurement_policy(),
            SealPolicy::Signer => me.signer_policy(),
            SealPolicy::SignerAt(svn) => KeyPolicy::Signer {
                signer: me.signer,
                product_id: me.product_id,
                svn,
            },
        };
        let secret = enclave_fuzz::platform_tcb_secrets();
        blob::seal_at(BlobKind::Sealed, &secret, tcb, me, &policy, aad, plaintext).map_err(refused)
    }

    fn tcb_level(&self) -> Result<u32, ServiceRefused> {
        Ok(enclave_fuzz::platform_tcb_secrets().level())
    }

    fn unseal(&self, sealed: &[u8]) -> Result<blob::Unsealed, ServiceRefused> {
        let secret = enclave_fuzz::platform_tcb_secrets();
        blob::open(BlobKind::Sealed, &secret, &self.identity, sealed).map_err(refused)
    }

    fn store_get(&self, key: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, ServiceRefused> {
        let store = self.store.lock().map_err(|_| ServiceRefused::Failed)?;
        Ok(store.get(key).map(|v| Zeroizing::new(v.clone())))
    }

    fn store_put(&self, key: &[u8], value: &[u8]) -> Result<(), ServiceRefused> {
        let mut store = self.store.lock().map_err(|_| ServiceRefused::Failed)?;
        store.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn store_delete(&self, key: &[u8]) -> Result<bool, ServiceRefused> {
        let mut store = self.store.lock().map_err(|_| ServiceRefused::Failed)?;
        Ok(store.remove(key).is_some())
    }
}

fn grants(manifest: &Manifest, function: &str) -> bool {
    match function {
        "random" => manifest.grants(Capability::Random),
        "log" => manifest.grants(Capability::Log),
        "report" => manifest.grants(Capability::Report),
        "seal" | "seal_at" | "tcb_level" | "unseal" => manifest.grants(Capability::Seal),
        "store_get" | "store_put" | "store_delete" => manifest.grants(Capability::Store),
        _ => true,
    }
}

fuzz_target!(|program: Program| {
    let imports: BTreeSet<&'static str> = program
        .calls
        .iter()
        .take(64)
        .flat_map(|c| uses(c).iter().copied())
        .collect();
    let manifest = manifest(&program);
    let wasm = wat::parse_str(module(&program, &imports)).expect("generated WAT is valid");
    let bundle = attest::bundle::sign(&enclave_fuzz::fixtures().author, &manifest, &wasm)
        .expect("the manifest is valid");
    let all_granted = imports.iter().all(|f| grants(&manifest, f));
    let enclave = match Enclave::load(&bundle, enclave_runtime::Signers::Any) {
        Ok(enclave) => {
            assert!(
                all_granted,
                "loaded a module importing an ungranted function"
            );
            enclave
        }
        Err(LoadError::ForbiddenImports(_)) if !all_granted => return,
        Err(e) => panic!("a valid, granted module was refused: {e}"),
    };
    let declared = program.input.len() as u64;
    let mut bytes = program.input.clone();
    match program.input_skew {
        s if s > 0 => bytes.extend(std::iter::repeat_n(0xaa, s as usize)),
        s if s < 0 => bytes.truncate(bytes.len().saturating_sub(s.unsigned_abs() as usize)),
        _ => {}
    }
    let input = Input::new(std::io::Cursor::new(bytes), declared);
    let mut identity =
        enclave_fuzz::identity(enclave_fuzz::fixtures().author.public_key().signer_id());
    identity.debug = program.debug;
    let reporter: Arc<dyn ReportIssuer> = Arc::new(FixtureServices {
        identity,
        store: Mutex::new(BTreeMap::new()),
    });
    let result = enclave.run(input, Vec::new(), Some(reporter));
    if program.sealed_only {
        assert!(
            matches!(result, Err(RunError::PlaintextRefused)),
            "a sealed-only enclave ran a plaintext input: {result:?}"
        );
        return;
    }
    match result {
        Ok(report) => {
            assert!(report.output.len() as u64 <= MAX_OUTPUT);
            assert_eq!(report.output_bytes, report.output.len() as u64);
            assert!(report.fuel_used.unwrap_or(0) <= FUEL);
            assert!(report.log.len() <= enclave_runtime::host::MAX_LOG_BYTES);
            if !program.debug {
                assert!(report.log.is_empty(), "a production enclave kept its log");
            }
        }
        Err(RunError::Host(message)) => panic!("host failure: {message}"),
        Err(_) => {}
    }
});
