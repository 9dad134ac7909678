//! Shared fixtures of the fuzz targets: fixed test keys, a fixed clock and the signing helpers
//! that let a target wrap fuzzed payloads in a validly signed envelope.
//!
//! The keys under `fuzz/fixtures/` are test keys committed on purpose: they sign nothing but fuzz
//! seeds, and they must stay the same so that the seeds in `fuzz/corpus/` and the inputs in
//! `fuzz/regressions/` keep verifying. `cargo run --example seeds` writes them when they are
//! missing (see `docs/testing.md`, "Fuzzing").

use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use attest::{
    AttestationKey, AuthorKey, Measurement, ProductId, SignerId, Svn, VendorCa, VerifierPolicy,
};
use ciborium::Value;
use coset::{iana, CborSerializable as _, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use sealer::{EnclaveIdentity, PlatformSecret, TcbSecrets};

/// The fixed "now" of every verification: 2027-01-15T08:00:00Z. Seeds are issued at this time,
/// and the fixture certificates are valid from a year before to twenty years after it.
pub const NOW_SECS: u64 = 1_800_000_000;
/// The nonce every evidence seed carries and the fuzzed policy expects.
pub const NONCE: [u8; 16] = *b"enclave-fuzz-nce";
/// The platform sealing secret of the fuzzed enclave (a test value).
pub const PLATFORM_SECRET: [u8; 32] = [0x5e; 32];
/// The platform TCB version of the fixture attestation key.
pub const TCB: u32 = 3;
/// The measurement of the fuzzed enclave identity (sealed inputs are bound to it).
pub const MEASUREMENT: Measurement = Measurement::from_bytes([0x4d; 32]);

/// `fuzz/fixtures/<name>`.
pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn read_fixture(name: &str) -> Vec<u8> {
    let path = fixture_path(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "fixture {} is missing ({e}): run `fuzz/seeds.sh` once",
            path.display()
        )
    })
}

fn read_text_fixture(name: &str) -> String {
    String::from_utf8(read_fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// The fixed keys, loaded once per process.
pub struct Fixtures {
    /// The vendor root certificate, DER.
    pub root_der: Vec<u8>,
    /// The platform attestation key (certified by the root at [`TCB`]).
    pub attestation: AttestationKey,
    /// The same key as a ring key pair, to sign arbitrary payloads.
    pub attestation_pair: EcdsaKeyPair,
    /// The enclave author key.
    pub author: AuthorKey,
    /// A client context (`request.ctx`) and the sealed input it belongs to (`request.sealed`).
    pub client_context: Vec<u8>,
}

static FIXTURES: LazyLock<Fixtures> = LazyLock::new(load_fixtures);

/// The fixed keys.
pub fn fixtures() -> &'static Fixtures {
    &FIXTURES
}

fn load_fixtures() -> Fixtures {
    let root_pem = read_text_fixture("vendor-root.pem");
    let root_der = attest::verify::certificates_from_pem(&root_pem)
        .ok()
        .and_then(|certs| certs.into_iter().next())
        .expect("vendor-root.pem holds a certificate");
    let key_pem = read_text_fixture("attestation.key");
    let attestation = AttestationKey::from_pem(&key_pem, &read_text_fixture("attestation.pem"))
        .expect("attestation.key and attestation.pem load");
    let pkcs8 = pem::parse(&key_pem).expect("attestation.key is PEM");
    let attestation_pair = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        pkcs8.contents(),
        &SystemRandom::new(),
    )
    .expect("attestation.key is an ECDSA P-256 PKCS#8 key");
    let author = AuthorKey::from_pkcs8_pem(&read_text_fixture("author.key"))
        .expect("author.key is an Ed25519 PKCS#8 key");
    Fixtures {
        root_der,
        attestation,
        attestation_pair,
        author,
        // Written by the seeds example after the keys; empty until then.
        client_context: std::fs::read(fixture_path("request.ctx")).unwrap_or_default(),
    }
}

/// The fixed clock.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

/// The relying party's policy for the `evidence` target: the fixture root, the fixture author
/// as signer, [`NONCE`], debug enclaves allowed (so the fuzzer reaches every check).
pub fn evidence_policy() -> VerifierPolicy {
    let f = fixtures();
    VerifierPolicy::new(vec![f.root_der.clone()])
        .signer(f.author.public_key().signer_id())
        .nonce(NONCE.to_vec())
        .allow_debug(true)
}

/// The platform sealing secret.
pub fn platform_secret() -> PlatformSecret {
    PlatformSecret::from_bytes(PLATFORM_SECRET)
}

/// The platform's TCB secrets, at TCB level 1: what sealed blobs derive from.
pub fn platform_tcb_secrets() -> TcbSecrets {
    #[allow(clippy::expect_used, reason = "level 1 is within MAX_TCB")]
    TcbSecrets::from_parts(1, PLATFORM_SECRET, PLATFORM_SECRET).expect("a valid TCB level")
}

/// The identity of the enclave sealed inputs are addressed to.
pub fn identity(signer: SignerId) -> EnclaveIdentity {
    EnclaveIdentity {
        measurement: MEASUREMENT,
        signer,
        product_id: ProductId(1),
        svn: Svn(2),
        debug: false,
    }
}

/// Wraps `payload` in a tagged COSE_Sign1 exactly as the platform signs evidence and receipts
/// (ES256, `application/eat+cwt`, `x5chain` of the fixture chain), so that a fuzzed claims map
/// gets past the signature check into the claims decoder.
pub fn sign_token(payload: &[u8]) -> Vec<u8> {
    let f = fixtures();
    let certs = f
        .attestation
        .chain()
        .iter()
        .map(|der| Value::Bytes(der.clone()))
        .collect();
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::ES256)
        .content_type(attest::cose::CONTENT_TYPE.to_owned())
        .value(attest::cose::X5CHAIN_LABEL, Value::Array(certs))
        .build();
    let rng = SystemRandom::new();
    CoseSign1Builder::new()
        .protected(protected)
        .payload(payload.to_vec())
        .create_signature(&[], |tbs| {
            f.attestation_pair
                .sign(&rng, tbs)
                .map(|sig| sig.as_ref().to_vec())
                .unwrap_or_default()
        })
        .build()
        .to_tagged_vec()
        .expect("a COSE_Sign1 encodes")
}

/// The module every mode-1 bundle input carries beside its envelope.
pub const BUNDLE_MODULE: &[u8] = b"\0asm\x01\0\0\0";

/// A format-2 bundle whose envelope, signed by the fixture author (EdDSA, every header a bundle
/// needs), carries `manifest` as its manifest bytes, over [`BUNDLE_MODULE`]: so that a fuzzed
/// manifest reaches the strict manifest decoder behind the signature.
pub fn sign_bundle_manifest(manifest: &[u8]) -> Vec<u8> {
    use attest::bundle as b;
    let key = &fixtures().author;
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .value(b::TYP_LABEL, Value::Text(b::BUNDLE_TYPE.to_owned()))
        .value(b::PAYLOAD_HASH_ALG_LABEL, Value::Integer(b::SHA256_ALG.into()))
        .value(
            b::PREIMAGE_CONTENT_TYPE_LABEL,
            Value::Text(b::MODULE_CONTENT_TYPE.to_owned()),
        )
        .value(
            b::SIGNER_SPKI_LABEL,
            Value::Bytes(key.public_key().spki_der()),
        )
        .value(b::MANIFEST_LABEL, Value::Bytes(manifest.to_vec()))
        .build();
    let envelope = CoseSign1Builder::new()
        .protected(protected)
        .payload(attest::ModuleDigest::of(BUNDLE_MODULE).as_bytes().to_vec())
        .create_signature(&[], |tbs| key.sign(tbs).to_vec())
        .build()
        .to_tagged_vec()
        .expect("a COSE_Sign1 encodes");
    let mut out = Vec::new();
    ciborium::ser::into_writer(
        &Value::Array(vec![
            Value::Bytes(envelope),
            Value::Bytes(BUNDLE_MODULE.to_vec()),
        ]),
        &mut out,
    )
    .expect("a bundle encodes");
    out
}

/// The manifest bytes in a bundle's envelope header, for seeds of the "signed manifest" mode.
pub fn bundle_manifest(bundle: &[u8]) -> Option<Vec<u8>> {
    let Ok(Value::Array(items)) = ciborium::de::from_reader::<Value, _>(bundle) else {
        return None;
    };
    let Some(Value::Bytes(envelope)) = items.first() else {
        return None;
    };
    let sign1 = coset::CoseSign1::from_tagged_slice(envelope).ok()?;
    sign1
        .protected
        .header
        .rest
        .into_iter()
        .find_map(|(label, value)| match (label, value) {
            (coset::Label::Int(attest::bundle::MANIFEST_LABEL), Value::Bytes(m)) => Some(m),
            _ => None,
        })
}

/// The payload of a COSE_Sign1 (tagged or not), for seeds of the "signed payload" modes.
pub fn cose_payload(bytes: &[u8]) -> Option<Vec<u8>> {
    coset::CoseSign1::from_tagged_slice(bytes)
        .or_else(|_| coset::CoseSign1::from_slice(bytes))
        .ok()
        .and_then(|sign1| sign1.payload)
}

/// Writes fresh fixtures: a vendor root, an attestation key at [`TCB`], an author key. The
/// sealed request and its client context are written by the seeds example.
///
/// # Errors
/// Any failure, as text.
pub fn write_key_fixtures() -> Result<(), String> {
    let year = Duration::from_secs(365 * 24 * 3600);
    let (from, until) = (now() - year, now() + 20 * year);
    let root = VendorCa::generate("enclave fuzz vendor root (TEST KEY)", from, until)
        .map_err(|e| e.to_string())?;
    let key = root
        .issue("enclave fuzz platform (TEST KEY)", TCB, from, until)
        .map_err(|e| e.to_string())?;
    let author = AuthorKey::generate().map_err(|e| e.to_string())?;
    let files: [(&str, String); 5] = [
        ("vendor-root.pem", root.cert_pem()),
        ("vendor-root.key", root.key_pem().to_string()),
        ("attestation.pem", key.chain_pem()),
        ("attestation.key", key.key_pem().to_string()),
        ("author.key", author.to_pkcs8_pem().to_string()),
    ];
    for (name, text) in files {
        std::fs::write(fixture_path(name), text).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}
