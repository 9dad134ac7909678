//! Shared setup of the criterion benchmarks in `bench/criterion/benches/`: guests written in WAT, signed
//! bundles, a throw-away platform, and the client side of a confidential request. What each
//! benchmark measures, and the results, are in `docs/performance.md`.
#![deny(missing_docs)]

use std::time::SystemTime;

use attest::bundle;
use attest::{
    AuthorKey, Manifest, TrustedRoots, VerifiedEvidence, VerifiedReceipt, VerifierPolicy,
};
use enclave_platform::{InitOptions, Platform};
use enclave_runtime::Enclave;
use sealer::{ClientContext, EvidenceDigest, KeyPolicy, SealTarget, SealedOutputDigest};
use sha2::{Digest, Sha256};

/// The smallest native guest: one page of memory and an empty `enclave_main`.
pub const TRIVIAL: &str = r#"(module (memory (export "memory") 1) (func (export "enclave_main")))"#;

/// A native guest that copies up to 64 KiB of input to its output.
pub const ECHO: &str = r#"(module
    (import "enclave_v1" "read_input" (func $read (param i32 i32) (result i32)))
    (import "enclave_v1" "write_output" (func $write (param i32 i32) (result i32)))
    (memory (export "memory") 2)
    (func (export "enclave_main") (local $n i32)
        (local.set $n (call $read (i32.const 0) (i32.const 65536)))
        (drop (call $write (i32.const 0) (local.get $n)))))"#;

/// A production manifest with default limits.
///
/// # Panics
/// Never: the manifest text is fixed and valid.
#[allow(clippy::expect_used, reason = "a fixed, valid manifest")]
pub fn manifest() -> Manifest {
    Manifest::from_toml("product_id = 1\nsvn = 1\ndebug = false\n").expect("valid manifest")
}

/// `wat` compiled to wasm.
///
/// # Errors
/// A WAT syntax error.
pub fn wasm(wat: &str) -> Result<Vec<u8>, wat::Error> {
    wat::parse_str(wat)
}

/// A module of at least `bytes` bytes: [`TRIVIAL`] with a data segment of that size.
pub fn module_of_size(bytes: usize) -> Vec<u8> {
    // Built by hand so no WAT text of `bytes` characters is needed: the trivial module, then a
    // data section with one active segment at offset 0.
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    let section = |module: &mut Vec<u8>, id: u8, body: &[u8]| {
        module.push(id);
        leb(module, body.len());
        module.extend_from_slice(body);
    };
    section(&mut module, 1, &[1, 0x60, 0, 0]); // type: () -> ()
    section(&mut module, 3, &[1, 0]); // function 0 of type 0
    let pages = bytes.div_ceil(65536).max(1);
    let mut memory = vec![1, 0];
    leb(&mut memory, pages);
    section(&mut module, 5, &memory); // memory min `pages`
    let mut exports = vec![2];
    for (name, kind) in [(&b"memory"[..], 2u8), (&b"enclave_main"[..], 0u8)] {
        leb(&mut exports, name.len());
        exports.extend_from_slice(name);
        exports.extend_from_slice(&[kind, 0]);
    }
    section(&mut module, 7, &exports);
    section(&mut module, 10, &[1, 2, 0, 0x0b]); // code: empty body
    let mut data = vec![1, 0, 0x41, 0, 0x0b];
    leb(&mut data, bytes);
    data.extend((0..bytes).map(|i| (i % 251) as u8));
    section(&mut module, 11, &data);
    module
}

fn leb(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Signs `module` with `manifest` under a new author key.
///
/// # Errors
/// Key generation or signing failures.
pub fn sign(module: &[u8], manifest: &Manifest) -> Result<Vec<u8>, Error> {
    Ok(bundle::sign(&AuthorKey::generate()?, manifest, module)?)
}

/// A platform in a temporary directory, with the data owner's view of it.
#[derive(Debug)]
pub struct Bench {
    _dir: tempfile::TempDir,
    /// The platform.
    pub platform: Platform,
}

/// What the data owner keeps for one sealed request.
#[derive(Debug)]
pub struct Request {
    /// The sealed input to send.
    pub sealed: Vec<u8>,
    /// What opens the answer.
    pub context: ClientContext,
}

/// Any failure of the benchmark setup.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

impl Bench {
    /// A new platform.
    ///
    /// # Errors
    /// I/O or key generation failures.
    pub fn new() -> Result<Self, Error> {
        let dir = tempfile::tempdir()?;
        let options = InitOptions {
            name: "bench".into(),
            tcb: 1,
            vendor: None,
        };
        let platform = Platform::init(&dir.path().join("platform"), options, SystemTime::now())?;
        Ok(Self {
            _dir: dir,
            platform,
        })
    }

    /// The vendor root, DER.
    pub fn root(&self) -> Vec<u8> {
        self.platform
            .attestation()
            .chain()
            .last()
            .cloned()
            .unwrap_or_default()
    }

    /// Attests `enclave` and verifies the evidence as a data owner would.
    ///
    /// # Errors
    /// Signing or verification failures.
    pub fn verified_evidence(&self, enclave: &Enclave) -> Result<VerifiedEvidence, Error> {
        let nonce = vec![7; 16];
        let evidence = self
            .platform
            .attest(enclave, &nonce, &[], SystemTime::now())?;
        let policy = VerifierPolicy::new(vec![self.root()])
            .measurement(enclave.measurement())
            .nonce(nonce);
        Ok(attest::verify(&evidence, &policy, SystemTime::now())?)
    }

    /// Seals `plaintext` to the measurement key in `evidence`.
    ///
    /// # Errors
    /// Evidence without enclave keys, sealing failures.
    pub fn seal(evidence: &VerifiedEvidence, plaintext: &[u8]) -> Result<Request, Error> {
        let claims = evidence.claims();
        let keys = claims.enclave_keys.as_ref().ok_or("no enclave keys")?;
        let target = SealTarget {
            public_key: keys.measurement,
            policy: KeyPolicy::Measurement(claims.measurement),
            debug: claims.debug,
            evidence_digest: EvidenceDigest::from_bytes(evidence.digest()),
            platform_id: claims.platform_id,
        };
        let mut sealed = Vec::new();
        let context = sealer::seal(&target, plaintext, plaintext.len() as u64, &mut sealed)?;
        Ok(Request { sealed, context })
    }

    /// The data owner's side of an answer: verify the receipt, match it, decrypt.
    ///
    /// # Errors
    /// Any refusal.
    pub fn open(&self, request: &Request, receipt: &[u8], output: &[u8]) -> Result<Vec<u8>, Error> {
        let verified = attest::verify_receipt(receipt, &[self.root()], SystemTime::now())?;
        Self::check_and_open(request, &verified, output)
    }

    /// [`Bench::open`] as a data owner that keeps its pinned root parsed (and the platform's
    /// chain validated) between requests.
    ///
    /// # Errors
    /// Any refusal.
    pub fn open_trusting(
        trusted: &TrustedRoots,
        request: &Request,
        receipt: &[u8],
        output: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let verified = trusted.verify_receipt(receipt, SystemTime::now())?;
        Self::check_and_open(request, &verified, output)
    }

    fn check_and_open(
        request: &Request,
        verified: &VerifiedReceipt,
        output: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let digest = SealedOutputDigest::from_bytes(Sha256::digest(output).into());
        sealer::check_receipt(&request.context, verified, &digest)?;
        let mut plaintext = Vec::new();
        sealer::open_output(&request.context, output, &mut plaintext)?;
        Ok(plaintext)
    }
}
