//! Cache hits and misses, and refusals of every kind of bad entry, checked by whether the
//! entry reached `Module::deserialize` at all.

use std::cell::Cell;

use attest::Limits;

use super::*;
use crate::engine;
use wasmtime::Module;

thread_local! {
    /// How many times this thread called `Module::deserialize`.
    pub(super) static DESERIALIZED: Cell<usize> = const { Cell::new(0) };
}

fn deserialized() -> usize {
    DESERIALIZED.with(|n| n.replace(0))
}

const KEY: [u8; 32] = [7; 32];

fn wasm(answer: i32) -> Vec<u8> {
    wat::parse_str(format!(
        "(module (func (export \"answer\") (result i32) i32.const {answer}))"
    ))
    .unwrap()
}

struct Setup {
    _dir: tempfile::TempDir,
    cache: CodeCache,
    engine: Engine,
    limits: Limits,
    fingerprint: EngineFingerprint,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let cache = CodeCache::new(dir.path().join(DIR), &KEY);
    let limits = Limits::default();
    let engine = engine::build_pooled(&limits).unwrap();
    let fingerprint = EngineFingerprint::of(&engine, limits.stack_bytes);
    deserialized();
    Setup {
        _dir: dir,
        cache,
        engine,
        limits,
        fingerprint,
    }
}

impl Setup {
    fn target(&self) -> Target<'_> {
        Target {
            engine: &self.engine,
            settings: engine::settings_of(&self.limits),
        }
    }

    fn module(&self, wasm: &[u8]) -> Result<(Module, CacheOutcome), LoadError> {
        let (code, outcome) = self
            .cache
            .code(&self.target(), wasm, Compilation::InProcess)?;
        Ok((code.module().cloned().unwrap(), outcome))
    }

    fn load(&self, wasm: &[u8]) -> CacheOutcome {
        let (module, outcome) = self.module(wasm).unwrap();
        assert_eq!(answer(&self.engine, &module), answer_of(wasm));
        outcome
    }

    fn entry(&self, wasm: &[u8]) -> PathBuf {
        self.cache.path(&EntryId::new(wasm, &self.fingerprint))
    }
}

/// Runs the module's `answer` export.
fn answer(engine: &Engine, module: &Module) -> i32 {
    let mut store = wasmtime::Store::new(engine, ());
    store.set_fuel(1_000_000).unwrap();
    store.set_epoch_deadline(1_000_000);
    let instance = wasmtime::Instance::new(&mut store, module, &[]).unwrap();
    let answer = instance
        .get_typed_func::<(), i32>(&mut store, "answer")
        .unwrap();
    answer.call(&mut store, ()).unwrap()
}

fn answer_of(wasm: &[u8]) -> i32 {
    let engine = engine::build(1 << 20).unwrap();
    answer(&engine, &Module::new(&engine, wasm).unwrap())
}

#[test]
fn miss_then_hit() {
    let s = setup();
    let module = wasm(42);
    assert_eq!(s.load(&module), CacheOutcome::Miss);
    assert_eq!(deserialized(), 0);
    assert!(s.entry(&module).exists());
    assert_eq!(s.load(&module), CacheOutcome::Hit);
    assert_eq!(deserialized(), 1);
    // Another module is another entry.
    assert_eq!(s.load(&wasm(7)), CacheOutcome::Miss);
    assert_eq!(s.load(&wasm(7)), CacheOutcome::Hit);
}

#[test]
fn entries_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let s = setup();
    let module = wasm(1);
    s.load(&module);
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&s.entry(&module)), 0o600);
    assert_eq!(mode(s.cache.dir()), 0o700);
}

/// Replaces the entry of `module` with `change(entry)`, loads, and checks the bad entry was
/// refused without being deserialized, then replaced by one that hits.
fn assert_refused(change: impl FnOnce(Vec<u8>) -> Vec<u8>) {
    let s = setup();
    let module = wasm(42);
    s.load(&module);
    let path = s.entry(&module);
    let bad = change(fs::read(&path).unwrap());
    fs::write(&path, &bad).unwrap();
    deserialized();

    assert_eq!(s.load(&module), CacheOutcome::Refused);
    assert_eq!(deserialized(), 0, "a refused entry reached deserialize");
    assert_ne!(
        fs::read(&path).unwrap(),
        bad,
        "the bad entry was not replaced"
    );
    assert_eq!(s.load(&module), CacheOutcome::Hit);
    assert_eq!(deserialized(), 1);
}

#[test]
fn tampered_artifact_is_recompiled() {
    assert_refused(|mut bytes| {
        let last = bytes.len() - 100;
        bytes[last] ^= 1;
        bytes
    });
}

#[test]
fn tampered_tag_is_recompiled() {
    assert_refused(|mut bytes| {
        bytes[MAGIC.len()] ^= 0x80;
        bytes
    });
}

#[test]
fn truncated_entries_are_recompiled() {
    for keep in [
        0,
        5,
        MAGIC.len(),
        MAGIC.len() + TAG_LEN - 1,
        MAGIC.len() + TAG_LEN,
        1000,
    ] {
        assert_refused(|mut bytes| {
            bytes.truncate(keep);
            bytes
        });
    }
}

#[test]
fn wrong_magic_is_recompiled() {
    assert_refused(|mut bytes| {
        bytes[0] = b'X';
        bytes
    });
}

#[test]
fn raw_serialized_module_is_recompiled() {
    // What `wasmtime compile` would write: a valid artifact without our tag.
    assert_refused(|bytes| bytes[MAGIC.len() + TAG_LEN..].to_vec());
}

#[test]
fn entry_of_another_platform_is_refused() {
    let s = setup();
    let module = wasm(42);
    let other = CodeCache::new(s.cache.dir().to_owned(), &[8; 32]);
    other
        .code(&s.target(), &module, Compilation::InProcess)
        .unwrap();
    deserialized();
    assert_eq!(s.load(&module), CacheOutcome::Refused);
    assert_eq!(deserialized(), 0);
    assert_eq!(s.load(&module), CacheOutcome::Hit);
}

#[test]
fn entry_renamed_to_another_module_is_refused() {
    let s = setup();
    let (a, b) = (wasm(1), wasm(2));
    s.load(&a);
    fs::create_dir_all(s.cache.dir()).unwrap();
    fs::copy(s.entry(&a), s.entry(&b)).unwrap();
    deserialized();
    // Authentic code, but for another module: it must not run as `b`.
    assert_eq!(s.load(&b), CacheOutcome::Refused);
    assert_eq!(deserialized(), 0);
}

#[test]
fn config_change_misses() {
    let s = setup();
    let module = wasm(42);
    s.load(&module);
    // Another stack limit is another engine configuration: another entry.
    let limits = Limits {
        stack_bytes: 1 << 20,
        ..Limits::default()
    };
    let engine = engine::build_pooled(&limits).unwrap();
    let fingerprint = EngineFingerprint::of(&engine, limits.stack_bytes);
    assert_ne!(fingerprint, s.fingerprint);
    let target = Target {
        engine: &engine,
        settings: engine::settings_of(&limits),
    };
    let (_, outcome) = s
        .cache
        .code(&target, &module, Compilation::InProcess)
        .unwrap();
    assert_eq!(outcome, CacheOutcome::Miss);
    assert_eq!(deserialized(), 0);
}

#[test]
fn fingerprint_covers_compilation_settings() {
    let base = |fuel: bool, epochs: bool| {
        let mut config = wasmtime::Config::new();
        config.consume_fuel(fuel).epoch_interruption(epochs);
        EngineFingerprint::of(&Engine::new(&config).unwrap(), 1 << 20)
    };
    let all = [base(true, true), base(false, true), base(true, false)];
    assert_ne!(all[0], all[1]);
    assert_ne!(all[0], all[2]);
    assert_ne!(all[1], all[2]);
    assert_eq!(base(true, true), all[0], "the fingerprint is deterministic");
}

#[test]
fn invalid_module_is_an_error_and_writes_nothing() {
    let s = setup();
    let err = s.module(b"\0asm garbage").unwrap_err();
    assert!(matches!(err, LoadError::InvalidModule(_)), "{err}");
    assert!(!s.cache.dir().exists());
}
#[test]
fn a_module_over_a_limit_is_refused_before_compiling_and_writes_nothing() {
    // One function of 49,999 i64 locals took 209 s to compile before the limits (issue 12).
    let wasm = [
        &b"\0asm\x01\0\0\0"[..],
        &[1, 4, 1, 0x60, 0, 0], // type 0: () -> ()
        &[3, 2, 1, 0],          // function 0 of type 0
        // code: one body of size 6, one local group of 49,999 (LEB128 cf 86 03) i64, `end`
        &[10, 8, 1, 6, 1, 0xcf, 0x86, 0x03, 0x7e, 0x0b],
    ]
    .concat();
    let s = setup();
    let err = s.module(&wasm).unwrap_err();
    let LoadError::ModuleLimit(exceeded) = &err else {
        panic!("{err}");
    };
    assert_eq!(exceeded.limit, crate::module_limits::Limit::Locals);
    assert_eq!((exceeded.index, exceeded.value), (Some(0), 49_999));
    assert_eq!(
        err.to_string(),
        "module exceeds a static limit: function 0 declares 49999 locals (parameters \
         included), more than the limit of 40000"
    );
    assert!(!s.cache.dir().exists());
    // The same check without a cache.
    let err = compile::compile(Compilation::InProcess, &s.target(), &wasm)
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::ModuleLimit(_)), "{err}");
}
