//! Writes the fuzz fixtures (when missing) and a seed corpus of real artifacts for every target:
//!
//! ```sh
//! cargo run --release --manifest-path fuzz/Cargo.toml --example seeds [-- CORPUS_DIR]
//! ```
//!
//! `CORPUS_DIR` defaults to `fuzz/corpus`; each target gets `CORPUS_DIR/<target>/`. The fixtures
//! (`fuzz/fixtures/`, committed) are the keys every target verifies with; the seeds are signed
//! with them and dated at the fixed fuzzing clock, so they verify inside the fuzzer.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use attest::{
    Capability, Claims, EnclaveKeys, GuestKind, Limits, Manifest, ModuleDigest, Outcome, ProductId,
    ReceiptClaims, Svn,
};
use enclave_fuzz::{fixture_path, fixtures, NONCE, NOW_SECS};
use sealer::{ClientContext, EnclaveKeyPair, EvidenceDigest, SealTarget, SealedInputHeader};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let corpus = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    if !fixture_path("author.key").exists() {
        eprintln!("writing new key fixtures to fuzz/fixtures/");
        enclave_fuzz::write_key_fixtures()?;
    }
    if !fixture_path("request.ctx").exists() {
        eprintln!("writing fuzz/fixtures/request.sealed and request.ctx");
        let (sealed, context) = seal(&target(false, false), b"fixture request")?;
        std::fs::write(fixture_path("request.sealed"), sealed)?;
        std::fs::write(fixture_path("request.ctx"), context.to_bytes().as_slice())?;
    }
    let mut seeds = Seeds::new(&corpus);
    bundles(&mut seeds)?;
    evidence(&mut seeds)?;
    receipts(&mut seeds)?;
    sealed(&mut seeds)?;
    manifests(&mut seeds)?;
    abi(&mut seeds)?;
    blobs(&mut seeds)?;
    for (target, count) in &seeds.counts {
        println!(
            "{target}: {count} seeds in {}",
            corpus.join(target).display()
        );
    }
    Ok(())
}

struct Seeds {
    dir: PathBuf,
    counts: std::collections::BTreeMap<&'static str, usize>,
}

impl Seeds {
    fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            counts: Default::default(),
        }
    }

    fn add(&mut self, target: &'static str, name: &str, bytes: &[u8]) -> Result<()> {
        let dir = self.dir.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("seed-{name}")), bytes)?;
        *self.counts.entry(target).or_default() += 1;
        Ok(())
    }

    /// A seed of a target whose first byte selects the mode (even: as received, odd: payload
    /// to be signed by the target).
    fn add_moded(
        &mut self,
        target: &'static str,
        name: &str,
        mode: u8,
        bytes: &[u8],
    ) -> Result<()> {
        self.add(target, name, &[&[mode][..], bytes].concat())
    }
}

fn manifest(kind: GuestKind, capabilities: &[Capability], debug: bool) -> Manifest {
    Manifest {
        product_id: ProductId(1),
        svn: Svn(2),
        debug,
        kind,
        args: if kind == GuestKind::Wasi {
            vec!["-v".into(), "input.txt".into()]
        } else {
            Vec::new()
        },
        limits: Limits::default(),
        capabilities: capabilities.iter().copied().collect::<BTreeSet<_>>(),
        pad_output: 0,
        inputs: Default::default(),
    }
}

fn manifests_list() -> Vec<Manifest> {
    vec![
        manifest(GuestKind::Enclave, &[], false),
        manifest(
            GuestKind::Enclave,
            &[Capability::Random, Capability::Log, Capability::Report],
            true,
        ),
        manifest(
            GuestKind::Wasi,
            &[Capability::ClockWall, Capability::Random],
            false,
        ),
    ]
}

const TINY_MODULE: &str = r#"(module
  (import "enclave_v1" "write_output" (func $w (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hello")
  (func (export "enclave_main") (drop (call $w (i32.const 0) (i32.const 5)))))"#;

fn bundles(seeds: &mut Seeds) -> Result<()> {
    let author = &fixtures().author;
    let modules = [
        wat::parse_str(TINY_MODULE)?,
        wat::parse_str("(module)")?,
        b"not wasm at all".to_vec(),
    ];
    for (i, m) in manifests_list().iter().enumerate() {
        for (j, module) in modules.iter().enumerate() {
            let bundle = attest::bundle::sign(author, m, module)?;
            seeds.add_moded("bundle", &format!("bundle-{i}-{j}"), 0, &bundle)?;
            if j == 0 {
                let manifest = enclave_fuzz::bundle_manifest(&bundle).ok_or("bundle manifest")?;
                seeds.add_moded("bundle", &format!("manifest-{i}"), 1, &manifest)?;
            }
        }
    }
    Ok(())
}

fn claims(debug: bool, keys: bool, report_data: usize) -> Claims {
    let f = fixtures();
    Claims {
        nonce: NONCE.to_vec(),
        issued_at: NOW_SECS,
        debug,
        platform_id: f.attestation.platform_id(),
        platform_tcb: f.attestation.tcb(),
        measurement: enclave_fuzz::MEASUREMENT,
        signer: f.author.public_key().signer_id(),
        module: ModuleDigest::of(b"module"),
        product_id: ProductId(1),
        svn: Svn(2),
        capabilities: vec!["log".into(), "random".into(), "report".into()],
        report_data: vec![0x5a; report_data],
        enclave_keys: keys.then(|| EnclaveKeys {
            measurement: attest::EnclavePublicKey::from_bytes([1; 32]),
            signer: attest::EnclavePublicKey::from_bytes([2; 32]),
        }),
        tls_key: None,
    }
}

fn evidence(seeds: &mut Seeds) -> Result<()> {
    let policy = enclave_fuzz::evidence_policy();
    let variants = [
        claims(false, true, 64),
        claims(true, false, 0),
        claims(false, false, 17),
    ];
    for (i, c) in variants.iter().enumerate() {
        let token = fixtures().attestation.sign_evidence(c)?;
        attest::verify(&token, &policy, enclave_fuzz::now())?;
        seeds.add_moded("evidence", &format!("evidence-{i}"), 0, &token)?;
        seeds.add_moded("evidence", &format!("claims-{i}"), 1, &c.to_payload()?)?;
        // Evidence is no receipt: cross-seed the other target.
        seeds.add_moded("receipt", &format!("evidence-{i}"), 0, &token)?;
    }
    Ok(())
}

fn receipts(seeds: &mut Seeds) -> Result<()> {
    let f = fixtures();
    let base = ReceiptClaims {
        issued_at: NOW_SECS,
        platform_id: f.attestation.platform_id(),
        measurement: enclave_fuzz::MEASUREMENT,
        signer: f.author.public_key().signer_id(),
        product_id: ProductId(1),
        svn: Svn(2),
        debug: false,
        input_digest: [3; 32],
        output_digest: [4; 32],
        request_nonce: vec![5; 32],
        fuel_used: 123_456,
        outcome: Outcome::Success,
        exit_code: None,
        store: None,
    };
    let variants = [
        base.clone(),
        ReceiptClaims {
            outcome: Outcome::Failed {
                message: "fuel budget of 1000 exhausted".into(),
            },
            output_digest: [0; 32],
            exit_code: Some(3),
            debug: true,
            ..base.clone()
        },
        ReceiptClaims {
            exit_code: Some(0),
            request_nonce: Vec::new(),
            store: Some(attest::receipt::StoreVersion {
                version: 3,
                head: [5; 32],
            }),
            ..base
        },
    ];
    let roots = [f.root_der.clone()];
    for (i, c) in variants.iter().enumerate() {
        let token = f.attestation.sign_receipt(c)?;
        attest::verify_receipt(&token, &roots, enclave_fuzz::now())?;
        seeds.add_moded("receipt", &format!("receipt-{i}"), 0, &token)?;
        let payload = enclave_fuzz::cose_payload(&token).ok_or("receipt payload")?;
        seeds.add_moded("receipt", &format!("claims-{i}"), 1, &payload)?;
        seeds.add_moded("evidence", &format!("receipt-{i}"), 0, &token)?;
    }
    Ok(())
}

/// The seal target of the fixed enclave identity, for either policy.
fn target(signer_policy: bool, debug: bool) -> SealTarget {
    let f = fixtures();
    let mut identity = enclave_fuzz::identity(f.author.public_key().signer_id());
    identity.debug = debug;
    let policy = if signer_policy {
        identity.signer_policy()
    } else {
        identity.measurement_policy()
    };
    let secret = enclave_fuzz::platform_secret();
    SealTarget {
        public_key: EnclaveKeyPair::derive(&secret, &policy, debug).public(),
        policy,
        debug,
        evidence_digest: EvidenceDigest::from_bytes([7; 32]),
        platform_id: f.attestation.platform_id(),
    }
}

fn seal(target: &SealTarget, plaintext: &[u8]) -> Result<(Vec<u8>, ClientContext)> {
    let mut out = Vec::new();
    let context = sealer::seal(target, plaintext, plaintext.len() as u64, &mut out)?;
    Ok((out, context))
}

fn sealed(seeds: &mut Seeds) -> Result<()> {
    let request = std::fs::read(fixture_path("request.sealed"))?;
    // Read here rather than from `fixtures()`: this run may just have written it.
    let request_context = std::fs::read(fixture_path("request.ctx"))?;
    seeds.add("sealed_input", "request", &request)?;
    seeds.add("client_context", "request", &request_context)?;
    let cases: [(bool, bool, usize); 6] = [
        (false, false, 0),
        (false, false, 1),
        (true, false, 300),
        (true, true, 4000),
        (false, true, sealer::CHUNK_LEN),
        (true, false, sealer::CHUNK_LEN + 1),
    ];
    for (signer, debug, len) in cases {
        let plaintext: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let (sealed, context) = seal(&target(signer, debug), &plaintext)?;
        let name = format!(
            "{}-{}-{len}",
            if signer { "signer" } else { "measurement" },
            u8::from(debug)
        );
        seeds.add("sealed_input", &name, &sealed)?;
        seeds.add("client_context", &name, context.to_bytes().as_slice())?;
    }
    // Sealed outputs answering the fixture request, so they open with its context.
    let secret = enclave_fuzz::platform_secret();
    for len in [0usize, 5, 1000, sealer::CHUNK_LEN, sealer::CHUNK_LEN + 3] {
        let mut reader = request.as_slice();
        let header = SealedInputHeader::read(&mut reader)?;
        let keypair = EnclaveKeyPair::derive(&secret, header.policy(), header.debug());
        let (mut open, response) = header.open(&keypair, reader)?;
        std::io::copy(&mut (&mut open).take(u64::MAX), &mut std::io::sink())?;
        let mut writer = response.writer(Vec::new())?;
        let plaintext: Vec<u8> = (0..len).map(|i| (i % 13) as u8).collect();
        writer.write_all(&plaintext)?;
        let sealed = writer.finish()?.writer;
        let context = ClientContext::from_bytes(&request_context)?;
        let mut check = Vec::new();
        sealer::open_output(&context, sealed.as_slice(), &mut check)?;
        assert_eq!(check, plaintext);
        seeds.add("sealed_output", &format!("output-{len}"), &sealed)?;
    }
    Ok(())
}

fn manifests(seeds: &mut Seeds) -> Result<()> {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/wordcount.toml");
    if let Ok(text) = std::fs::read(&example) {
        seeds.add("manifest", "wordcount", &text)?;
    }
    for (i, m) in manifests_list().iter().enumerate() {
        seeds.add("manifest", &format!("manifest-{i}"), m.to_toml().as_bytes())?;
    }
    seeds.add(
        "manifest",
        "minimal",
        b"product_id = 7\nsvn = 2\ndebug = false\n",
    )?;
    Ok(())
}

fn abi(seeds: &mut Seeds) -> Result<()> {
    // Structured input: any bytes decode to some program; a few varied starting points.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for i in 0..8 {
        let len = 32 + i * 48;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        seeds.add("abi", &format!("random-{i}"), &bytes)?;
    }
    Ok(())
}

fn blobs(seeds: &mut Seeds) -> Result<()> {
    use sealer::blob::{self, BlobKind};
    let secret = enclave_fuzz::platform_tcb_secrets();
    let mut entries = std::collections::BTreeMap::new();
    for (k, v) in [(&b"alpha"[..], &b"1"[..]), (b"beta", b"two"), (b"", b"")] {
        entries.insert(k.to_vec(), zeroize::Zeroizing::new(v.to_vec()));
    }
    let state = enclave_platform::store::encode_entries(&entries);
    seeds.add("store_entries", "three", &state)?;
    seeds.add("store_entries", "empty", &[0, 0, 0, 0])?;
    for (kind, kind_bit) in [(BlobKind::Sealed, 0u8), (BlobKind::StoreState, 1)] {
        for debug in [false, true] {
            let mut identity = enclave_fuzz::identity(fixtures().author.public_key().signer_id());
            identity.debug = debug;
            for (p, policy) in [identity.measurement_policy(), identity.signer_policy()]
                .iter()
                .enumerate()
            {
                let (aad, plaintext): (&[u8], &[u8]) = match kind {
                    BlobKind::Sealed => (b"counter", b"secret value"),
                    _ => (b"", &state),
                };
                let sealed = blob::seal(kind, &secret, &identity, policy, aad, plaintext)?;
                let mode = kind_bit | (u8::from(debug) << 1);
                seeds.add_moded("sealed_blob", &format!("{mode}-{p}"), mode, &sealed)?;
            }
        }
    }
    Ok(())
}
