//! `attest::Manifest::from_toml` on arbitrary UTF-8: whatever is accepted is valid, survives
//! `to_toml` → `from_toml` unchanged, and has a measurement.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(manifest) = attest::Manifest::from_toml(text) else {
        return;
    };
    assert_eq!(manifest.validate(), Ok(()));
    let again = attest::Manifest::from_toml(&manifest.to_toml()).expect("to_toml round trips");
    assert_eq!(again, manifest);
    let module = attest::ModuleDigest::of(b"\0asm\x01\0\0\0");
    assert_eq!(again.measure(&module), manifest.measure(&module));
});
