//! The bytes an author signs, built from docs/formats.md ("Manifest", "Bundle") alone with a
//! generic CBOR library, must be the bytes `enclave sign` signs: a third party (an HSM script,
//! another language) can then produce them without `sign --digest-only`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a panic is a failing test"
)]

use attest::bundle::{self, UnsignedBundle};
use attest::{AuthorKey, Manifest};
use ciborium::Value;
use sha2::{Digest, Sha256};

const MODULE: &[u8] = b"\0asm\x01\0\0\0";

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn int(i: i64) -> Value {
    Value::Integer(i.into())
}

fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).unwrap();
    out
}

/// The manifest map as the spec lists it: every key in the table's order, limits nested in
/// theirs, capabilities in ascending byte order, `pad_output` only when not 0.
fn manifest_map(pad_output: u64) -> Value {
    let limits = Value::Map(vec![
        (text("memory_bytes"), int(1 << 20)),
        (text("fuel"), int(1_000_000)),
        (text("timeout_ms"), int(2_000)),
        (text("max_input_bytes"), int(4096)),
        (text("max_output_bytes"), int(8192)),
        (text("stack_bytes"), int(65536)),
    ]);
    let mut map = vec![
        (text("product_id"), int(7)),
        (text("svn"), int(2)),
        (text("debug"), Value::Bool(false)),
        (text("kind"), text("wasi")),
        (text("args"), Value::Array(vec![text("-v"), text("in.csv")])),
        (text("limits"), limits),
        (
            text("capabilities"),
            Value::Array(vec![
                text("clock-monotonic"),
                text("clock-wall"),
                text("random"),
            ]),
        ),
    ];
    if pad_output != 0 {
        map.push((text("pad_output"), int(pad_output as i64)));
    }
    Value::Map(map)
}

fn manifest_toml(pad_output: u64) -> String {
    // The file's own order differs from the encoding's, on purpose.
    let pad = if pad_output == 0 {
        String::new()
    } else {
        format!("pad_output = {pad_output}\n")
    };
    format!(
        "{pad}capabilities = [\"random\", \"clock-wall\", \"clock-monotonic\"]\n\
         args = [\"-v\", \"in.csv\"]\nkind = \"wasi\"\ndebug = false\nsvn = 2\nproduct_id = 7\n\
         [limits]\nstack_bytes = 65536\nmax_output_bytes = 8192\nmax_input_bytes = 4096\n\
         timeout_ms = 2000\nfuel = 1000000\nmemory_bytes = 1048576\n"
    )
}

/// The protected header: the six labels in the order of the spec, preferred serialization.
fn protected(spki: &[u8], manifest: &Value) -> Vec<u8> {
    encode(&Value::Map(vec![
        (int(1), int(-8)),
        (int(16), text("application/vnd.enclave.bundle.v2+cose")),
        (int(258), int(-16)),
        (int(259), text("application/wasm")),
        (int(-65537), Value::Bytes(spki.to_vec())),
        (int(-65538), Value::Bytes(encode(manifest))),
    ]))
}

fn sig_structure(protected: &[u8]) -> Vec<u8> {
    encode(&Value::Array(vec![
        text("Signature1"),
        Value::Bytes(protected.to_vec()),
        Value::Bytes(Vec::new()),
        Value::Bytes(Sha256::digest(MODULE).to_vec()),
    ]))
}

#[test]
fn the_bytes_to_sign_follow_from_the_spec() {
    let key = AuthorKey::generate().unwrap();
    let spki = key.public_key().spki_der();
    for pad_output in [0, 4096] {
        let manifest = Manifest::from_toml(&manifest_toml(pad_output)).unwrap();
        let expected_protected = protected(&spki, &manifest_map(pad_output));
        let tbs = UnsignedBundle::new(&key.public_key(), &manifest, MODULE)
            .unwrap()
            .to_be_signed();
        assert_eq!(
            tbs,
            sig_structure(&expected_protected),
            "pad_output = {pad_output}"
        );
        // The hex the spec spells out.
        let head = [
            &[0xa6, 0x01, 0x27, 0x10, 0x78, 0x26][..],
            b"application/vnd.enclave.bundle.v2+cose",
            &[0x19, 0x01, 0x02, 0x2f, 0x19, 0x01, 0x03, 0x70],
            b"application/wasm",
            &[0x3a, 0x00, 0x01, 0x00, 0x00, 0x58, 0x2c],
            &spki,
            &[0x3a, 0x00, 0x01, 0x00, 0x01, 0x58],
        ]
        .concat();
        assert!(expected_protected.starts_with(&head));

        // And the signed bundle carries exactly that protected header.
        let bytes = bundle::sign(&key, &manifest, MODULE).unwrap();
        let Value::Array(items) = ciborium::from_reader::<Value, _>(bytes.as_slice()).unwrap()
        else {
            panic!("a bundle is an array");
        };
        let [Value::Bytes(envelope), Value::Bytes(module)] = items.as_slice() else {
            panic!("a bundle is two byte strings");
        };
        assert_eq!(module, MODULE);
        let Value::Tag(18, sign1) = ciborium::from_reader::<Value, _>(envelope.as_slice()).unwrap()
        else {
            panic!("the envelope is a tagged COSE_Sign1");
        };
        let Value::Array(fields) = *sign1 else {
            panic!("COSE_Sign1 is an array");
        };
        assert_eq!(
            fields.first(),
            Some(&Value::Bytes(expected_protected.clone()))
        );
        assert_eq!(fields.get(1), Some(&Value::Map(Vec::new())));
    }
}
