//! A full confidential request in process, its parts, and the primitive floor under them, in one
//! criterion run so that the ratios are measured under the same load:
//!
//! - the request: the data owner seals 1 KiB to the attested enclave, the runtime opens it,
//!   runs the echo guest, seals the answer and signs a receipt, and the data owner verifies the
//!   receipt and opens the answer; the runtime's share (`run_sealed`) and the client's parts
//!   are measured separately;
//! - the relying party's verifications (evidence, receipt);
//! - the primitives each of them cannot avoid (X25519 and the HPKE key schedule, HKDF,
//!   ChaCha20-Poly1305 on 1 KiB, SHA-256, ECDSA P-256 sign and verify, the guest run), whose
//!   sums are the floors in `docs/performance.md`.
//!
//! Criterion's "thrpt" is operations per second on one core.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark setup: a panic is a failed run"
)]

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use attest::{TrustedRoots, VerifierPolicy};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use enclave_benches::{manifest, sign, wasm, Bench, ECHO};
use enclave_runtime::{Enclave, Input};

const PLAINTEXT_LEN: usize = 1024;

fn request(c: &mut Criterion, bench: &Bench, enclave: &Enclave) {
    let evidence = bench.verified_evidence(enclave).unwrap();
    let plaintext = vec![b'x'; PLAINTEXT_LEN];
    let run_sealed = |sealed: Vec<u8>| {
        enclave
            .run_sealed(
                &bench.platform,
                std::io::Cursor::new(sealed),
                Vec::new(),
                None,
                SystemTime::now,
            )
            .unwrap()
    };
    let request = Bench::seal(&evidence, &plaintext).unwrap();
    let run = run_sealed(request.sealed.clone());
    assert_eq!(
        bench.open(&request, &run.receipt, &run.output).unwrap(),
        plaintext
    );

    let mut group = c.benchmark_group("confidential request (1 KiB)");
    group.throughput(Throughput::Elements(1));
    group.bench_function("seal + run_sealed + open", |b| {
        b.iter_custom(|iters| {
            enclave
                .on_guest_thread(|| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let request = Bench::seal(&evidence, &plaintext).unwrap();
                        let run = run_sealed(request.sealed.clone());
                        bench.open(&request, &run.receipt, &run.output).unwrap();
                    }
                    start.elapsed()
                })
                .unwrap()
        });
    });
    let keys = enclave.confidential_keys(&bench.platform).unwrap();
    let trusted = TrustedRoots::new(vec![bench.root()]);
    group.bench_function("seal + run_sealed_with + open (kept keys and roots)", |b| {
        b.iter_custom(|iters| {
            enclave
                .on_guest_thread(|| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let request = Bench::seal(&evidence, &plaintext).unwrap();
                        let run = enclave
                            .run_sealed_with(
                                &keys,
                                &bench.platform,
                                std::io::Cursor::new(request.sealed.clone()),
                                Vec::new(),
                                None,
                                SystemTime::now,
                            )
                            .unwrap();
                        Bench::open_trusting(&trusted, &request, &run.receipt, &run.output)
                            .unwrap();
                    }
                    start.elapsed()
                })
                .unwrap()
        });
    });
    group.bench_function("run_sealed_with only (kept keys)", |b| {
        b.iter_custom(|iters| {
            let requests: Vec<_> = (0..iters)
                .map(|_| Bench::seal(&evidence, &plaintext).unwrap().sealed)
                .collect();
            enclave
                .on_guest_thread(|| {
                    let start = Instant::now();
                    for sealed in requests {
                        enclave
                            .run_sealed_with(
                                &keys,
                                &bench.platform,
                                std::io::Cursor::new(sealed),
                                Vec::new(),
                                None,
                                SystemTime::now,
                            )
                            .unwrap();
                    }
                    start.elapsed()
                })
                .unwrap()
        });
    });
    group.bench_function("run_sealed only (the runtime's share)", |b| {
        b.iter_custom(|iters| {
            let requests: Vec<_> = (0..iters)
                .map(|_| Bench::seal(&evidence, &plaintext).unwrap().sealed)
                .collect();
            enclave
                .on_guest_thread(|| {
                    let start = Instant::now();
                    for sealed in requests {
                        run_sealed(sealed);
                    }
                    start.elapsed()
                })
                .unwrap()
        });
    });
    group.bench_function("client: seal", |b| {
        b.iter(|| Bench::seal(&evidence, black_box(&plaintext)).unwrap());
    });
    group.bench_function("client: verify receipt + open", |b| {
        b.iter(|| {
            bench
                .open(&request, black_box(&run.receipt), &run.output)
                .unwrap()
        });
    });
    group.bench_function("client: verify receipt (kept roots) + open", |b| {
        b.iter(|| {
            Bench::open_trusting(&trusted, &request, black_box(&run.receipt), &run.output).unwrap()
        });
    });
    group.finish();
}

fn verification(c: &mut Criterion, bench: &Bench, enclave: &Enclave) {
    let nonce = vec![7; 16];
    let evidence = bench
        .platform
        .attest(enclave, &nonce, &[], SystemTime::now())
        .unwrap();
    let policy = VerifierPolicy::new(vec![bench.root()])
        .measurement(enclave.measurement())
        .nonce(nonce);
    let verified = attest::verify(&evidence, &policy, SystemTime::now()).unwrap();
    let request = Bench::seal(&verified, &[b'x'; PLAINTEXT_LEN]).unwrap();
    let run = enclave
        .on_guest_thread(|| {
            enclave.run_sealed(
                &bench.platform,
                std::io::Cursor::new(request.sealed),
                Vec::new(),
                None,
                SystemTime::now,
            )
        })
        .unwrap()
        .unwrap();
    let roots = vec![bench.root()];

    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(1));
    group.bench_function("evidence: attest::verify", |b| {
        b.iter(|| attest::verify(black_box(&evidence), &policy, SystemTime::now()).unwrap());
    });
    let trusted = TrustedRoots::new(roots.clone());
    let kept = VerifierPolicy::trusting(trusted.clone())
        .measurement(enclave.measurement())
        .nonce(vec![7; 16]);
    group.bench_function(
        "evidence: attest::verify, policy trusting kept roots",
        |b| {
            b.iter(|| attest::verify(black_box(&evidence), &kept, SystemTime::now()).unwrap());
        },
    );
    group.bench_function("receipt: TrustedRoots::verify_receipt (kept roots)", |b| {
        b.iter(|| {
            trusted
                .verify_receipt(black_box(&run.receipt), SystemTime::now())
                .unwrap()
        });
    });
    group.bench_function("receipt: attest::verify_receipt", |b| {
        b.iter(|| {
            attest::verify_receipt(black_box(&run.receipt), &roots, SystemTime::now()).unwrap()
        });
    });
    group.finish();
}

fn primitives(c: &mut Criterion, enclave: &Enclave) {
    use hpke::kem::Kem as _;
    use ring::signature::{self, KeyPair as _};
    type Kem = hpke::kem::X25519HkdfSha256;
    type Kdf = hpke::kdf::HkdfSha256;
    type Aead = hpke::aead::ChaCha20Poly1305;

    let rng = ring::rand::SystemRandom::new();
    let info = [0x42u8; 130];
    let (private, public) = Kem::derive_keypair(&[1; 32]);
    let (enc, _) =
        hpke::setup_sender::<Aead, Kdf, Kem, _>(&hpke::OpModeS::Base, &public, &info, &mut Rng)
            .unwrap();
    let key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, &[3; 32]).unwrap(),
    );
    let nonce = || ring::aead::Nonce::assume_unique_for_key([0; 12]);
    let mut sealed_chunk = vec![b'x'; PLAINTEXT_LEN];
    key.seal_in_place_append_tag(nonce(), ring::aead::Aad::empty(), &mut sealed_chunk)
        .unwrap();
    let pkcs8 =
        signature::EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap();
    let signer = signature::EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        pkcs8.as_ref(),
        &rng,
    )
    .unwrap();
    // A receipt's Sig_structure is about as long as the receipt (the chain is in both).
    let tbs = vec![0x5a; 1500];
    let sig = signer.sign(&rng, &tbs).unwrap();
    let verifier = signature::UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_FIXED,
        signer.public_key().as_ref().to_vec(),
    );
    let sealed_file = vec![0x33; 178 + PLAINTEXT_LEN + 16];

    let mut group = c.benchmark_group("primitive");
    group.throughput(Throughput::Elements(1));
    group.bench_function("HPKE setup_receiver (X25519 DH + key schedule)", |b| {
        b.iter(|| {
            hpke::setup_receiver::<Aead, Kdf, Kem>(
                &hpke::OpModeR::Base,
                &private,
                black_box(&enc),
                &info,
            )
            .unwrap()
        });
    });
    group.bench_function(
        "HPKE setup_sender (X25519 keygen + DH + key schedule)",
        |b| {
            b.iter(|| {
                hpke::setup_sender::<Aead, Kdf, Kem, _>(
                    &hpke::OpModeS::Base,
                    black_box(&public),
                    &info,
                    &mut Rng,
                )
                .unwrap()
            });
        },
    );
    x25519(&mut group, &enc);
    enclave_open(&mut group);
    group.bench_function("HPKE DeriveKeyPair (HKDF + X25519 base point)", |b| {
        b.iter(|| Kem::derive_keypair(black_box(&[1; 32])));
    });
    group.bench_function("HKDF-SHA256 extract + expand 32 (ring)", |b| {
        b.iter(|| {
            let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, black_box(&[9; 64]))
                .extract(&[1; 32]);
            let mut out = [0u8; 32];
            prk.expand(&[b"key"], ring::hkdf::HKDF_SHA256)
                .and_then(|okm| okm.fill(&mut out))
                .unwrap();
            out
        });
    });
    group.bench_function("ChaCha20-Poly1305 seal 1 KiB (ring)", |b| {
        let mut buf = vec![b'x'; PLAINTEXT_LEN];
        b.iter(|| {
            key.seal_in_place_separate_tag(nonce(), ring::aead::Aad::empty(), black_box(&mut buf))
                .unwrap()
        });
    });
    group.bench_function("ChaCha20-Poly1305 open 1 KiB (ring)", |b| {
        let mut buf = sealed_chunk.clone();
        b.iter(|| {
            buf.copy_from_slice(&sealed_chunk);
            key.open_in_place(nonce(), ring::aead::Aad::empty(), black_box(&mut buf))
                .map(|p| p.len())
                .unwrap()
        });
    });
    group.bench_function("SHA-256 of a sealed 1 KiB input (1.2 KiB)", |b| {
        b.iter(|| ring::digest::digest(&ring::digest::SHA256, black_box(&sealed_file)));
    });
    group.bench_function("ECDSA P-256 sign (ring)", |b| {
        b.iter(|| signer.sign(&rng, black_box(&tbs)).unwrap());
    });
    group.bench_function("ECDSA P-256 verify (ring)", |b| {
        b.iter(|| verifier.verify(black_box(&tbs), sig.as_ref()).unwrap());
    });
    group.bench_function("guest run: Enclave::run, echo 1 KiB, guest thread", |b| {
        b.iter_custom(|iters| {
            enclave
                .on_guest_thread(|| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let input = Input::from_bytes(vec![b'x'; PLAINTEXT_LEN]);
                        enclave.run(input, Vec::new(), None).unwrap();
                    }
                    start.elapsed()
                })
                .unwrap()
        });
    });
    group.finish();
}

/// X25519 with a kept private key, as an enclave decapsulates: x25519-dalek's portable ladder
/// (what hpke's own KEM runs) against AWS-LC's (s2n-bignum assembly; what the enclave's KEM,
/// sealer/src/kem.rs, runs), and AWS-LC's with the key parsed on every call.
fn x25519(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    enc: &impl hpke::Serializable,
) {
    use aws_lc_rs::agreement;
    let peer: [u8; 32] = enc.to_bytes().as_slice().try_into().unwrap();
    let private = [0x42u8; 32];
    let dalek = x25519_dalek::StaticSecret::from(private);
    let dalek_peer = x25519_dalek::PublicKey::from(peer);
    group.bench_function("X25519 kept private key (x25519-dalek)", |b| {
        b.iter(|| dalek.diffie_hellman(black_box(&dalek_peer)).to_bytes());
    });
    let kept = agreement::PrivateKey::from_private_key(&agreement::X25519, &private).unwrap();
    let agree = |key: &agreement::PrivateKey, peer: &[u8]| {
        agreement::agree(
            key,
            agreement::UnparsedPublicKey::new(&agreement::X25519, peer),
            (),
            |secret| <[u8; 32]>::try_from(secret).map_err(|_| ()),
        )
        .unwrap()
    };
    assert_eq!(
        agree(&kept, &peer),
        dalek.diffie_hellman(&dalek_peer).to_bytes()
    );
    group.bench_function("X25519 kept private key (aws-lc-rs)", |b| {
        b.iter(|| agree(&kept, black_box(&peer)));
    });
    group.bench_function("X25519 private key parsed per call (aws-lc-rs)", |b| {
        b.iter(|| {
            let key =
                agreement::PrivateKey::from_private_key(&agreement::X25519, black_box(&private))
                    .unwrap();
            agree(&key, &peer)
        });
    });
}

/// What the enclave's HPKE side costs through the sealer: `SealedInputHeader::open` of a sealed
/// input's header (the enclave's KEM, sealer/src/kem.rs: AWS-LC's X25519 with the kept public
/// key; `hpke`'s key schedule; the key-confirmation tag; the two exported secrets). Compare with
/// "HPKE setup_receiver" above, `hpke`'s own KEM.
fn enclave_open(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    use sealer::{EnclaveKeyPair, KeyPolicy, PlatformSecret, SealTarget, SealedInputHeader};
    let policy = KeyPolicy::Measurement(attest::Measurement::from_bytes([1; 32]));
    let keypair = EnclaveKeyPair::derive(&PlatformSecret::from_bytes([9; 32]), &policy, false);
    let target = SealTarget {
        public_key: keypair.public(),
        policy,
        debug: false,
        evidence_digest: sealer::EvidenceDigest::from_bytes([4; 32]),
        platform_id: attest::PlatformId::from_bytes([3; 32]),
    };
    let mut sealed = Vec::new();
    sealer::seal(&target, std::io::empty(), 0, &mut sealed).unwrap();
    group.bench_function(
        "enclave KEM: SealedInputHeader::open (aws-lc-rs X25519, kept pkR)",
        |b| {
            b.iter(|| {
                let header = SealedInputHeader::read(&mut black_box(sealed.as_slice())).unwrap();
                header.open(&keypair, std::io::empty()).unwrap()
            });
        },
    );
}

/// The system CSPRNG for `hpke`'s sender setup.
struct Rng;

impl hpke::rand_core::RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), dest).unwrap();
    }
}

impl hpke::rand_core::CryptoRng for Rng {}

fn bench(c: &mut Criterion) {
    let bench = Bench::new().unwrap();
    let enclave = Enclave::load(
        &sign(&wasm(ECHO).unwrap(), &manifest()).unwrap(),
        enclave_runtime::Signers::Any,
    )
    .unwrap();
    request(c, &bench, &enclave);
    verification(c, &bench, &enclave);
    primitives(c, &enclave);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
