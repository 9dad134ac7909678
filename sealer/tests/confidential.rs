//! End-to-end tests of the public API: round trips, and every refusal with its exact error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failing test"
)]

use std::io::{self, Read, Write};

use attest::{Measurement, PlatformId, ProductId, SignerId, Svn};
use sealer::{
    open_output, seal, seal_with_options, AeadSuite, ClientContext, EnclaveIdentity,
    EnclaveKeyPair, EvidenceDigest, KeyPolicy, OpenError, PlatformSecret, SealError, SealOptions,
    SealTarget, SealedInputHeader, StreamError, CHUNK_LEN,
};

const TAG: usize = 16;
const INPUT_HEADER: usize = 178;
const OUTPUT_HEADER: usize = 44;

fn secret() -> PlatformSecret {
    PlatformSecret::from_bytes([7; 32])
}

fn platform() -> PlatformId {
    PlatformId::from_bytes([0x50; 32])
}

fn identity() -> EnclaveIdentity {
    EnclaveIdentity {
        measurement: Measurement::from_bytes([0x11; 32]),
        signer: SignerId::from_bytes([0x22; 32]),
        product_id: ProductId(7),
        svn: Svn(3),
        debug: false,
    }
}

fn target_for(policy: KeyPolicy, debug: bool) -> SealTarget {
    SealTarget {
        public_key: EnclaveKeyPair::derive(&secret(), &policy, debug).public(),
        policy,
        debug,
        evidence_digest: EvidenceDigest::from_bytes([0xee; 32]),
        platform_id: platform(),
    }
}

fn target() -> SealTarget {
    target_for(identity().measurement_policy(), false)
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
}

fn seal_bytes(target: &SealTarget, plain: &[u8]) -> (Vec<u8>, ClientContext) {
    let mut out = Vec::new();
    let ctx = seal(target, plain, plain.len() as u64, &mut out).unwrap();
    (out, ctx)
}

/// The enclave side, as the runtime does it: header, binding check, key pair, open, read all.
fn open_input(sealed: &[u8]) -> Result<(Vec<u8>, sealer::ResponseSealer), OpenError> {
    let mut reader = sealed;
    let header = SealedInputHeader::read(&mut reader)?;
    header.check_binding(&identity(), &platform())?;
    let keypair = identity().keypair(&secret(), header.policy())?;
    let (mut plain_reader, response) = header.open(&keypair, reader)?;
    let mut plain = Vec::new();
    plain_reader.read_to_end(&mut plain).map_err(unwrap_io)?;
    Ok((plain, response))
}

fn unwrap_io(e: io::Error) -> OpenError {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<OpenError>())
    {
        Some(OpenError::Stream(s)) => OpenError::Stream(*s),
        _ => OpenError::Io(e),
    }
}

fn stream_error(result: Result<impl Sized, OpenError>) -> StreamError {
    match result {
        Err(OpenError::Stream(e)) => e,
        Err(other) => panic!("expected a stream error, got {other:?}"),
        Ok(_) => panic!("expected a stream error, got success"),
    }
}

fn respond(response: sealer::ResponseSealer, plain: &[u8]) -> Vec<u8> {
    let mut writer = response.writer(Vec::new()).unwrap();
    writer.write_all(plain).unwrap();
    writer.finish().unwrap().writer
}

fn seal_suite(suite: AeadSuite, plain: &[u8], workers: usize) -> (Vec<u8>, ClientContext) {
    let mut out = Vec::new();
    let options = SealOptions { suite, workers };
    let ctx = seal_with_options(&target(), options, plain, plain.len() as u64, &mut out).unwrap();
    (out, ctx)
}

#[test]
fn both_suites_round_trip_and_name_themselves_in_both_headers() {
    for suite in AeadSuite::ALL {
        for (len, workers) in [(0, 1), (5, 1), (9 * CHUNK_LEN + 3, 3)] {
            let plain = payload(len);
            let (sealed, ctx) = seal_suite(suite, &plain, workers);
            assert_eq!(sealed[14..16], suite.id().to_be_bytes(), "{suite}");
            let mut reader = sealed.as_slice();
            let header = SealedInputHeader::read(&mut reader).unwrap();
            assert_eq!(header.suite(), suite);
            let keypair = identity().keypair(&secret(), header.policy()).unwrap();
            let (mut plain_reader, response) = header.open(&keypair, reader).unwrap();
            let mut opened = Vec::new();
            plain_reader.read_to_end(&mut opened).unwrap();
            assert_eq!(opened, plain, "{suite} len {len}");
            let out = respond(response, b"answer");
            assert_eq!(out[10..12], suite.id().to_be_bytes(), "{suite}");
            let mut got = Vec::new();
            open_output(&ctx, out.as_slice(), &mut got).unwrap();
            assert_eq!(got, b"answer");
        }
    }
    let (aes, _) = seal_suite(AeadSuite::Aes256Gcm, b"same", 1);
    let (chacha, _) = seal_suite(AeadSuite::ChaCha20Poly1305, b"same", 1);
    assert_ne!(aes[INPUT_HEADER..], chacha[INPUT_HEADER..]);
}

#[test]
fn an_output_naming_the_other_suite_does_not_open() {
    let (sealed, ctx) = seal_suite(AeadSuite::Aes256Gcm, b"question", 1);
    let (_, response) = open_input(&sealed).unwrap();
    let mut out = respond(response, b"answer");
    out[11] = 0x03;
    assert_eq!(
        stream_error(open_output(&ctx, out.as_slice(), io::sink())),
        StreamError::ChunkAuthentication { chunk: 0 }
    );
    out[11] = 0x01;
    assert!(matches!(
        open_output(&ctx, out.as_slice(), io::sink()),
        Err(OpenError::UnsupportedAead(0x0001))
    ));
}

#[test]
fn round_trips_at_chunk_boundaries() {
    for len in [
        0,
        1,
        CHUNK_LEN - 1,
        CHUNK_LEN,
        CHUNK_LEN + 1,
        3 * CHUNK_LEN,
        1 << 20,
    ] {
        let plain = payload(len);
        let (sealed, ctx) = seal_bytes(&target(), &plain);
        let chunks = len.div_ceil(CHUNK_LEN).max(1);
        assert_eq!(sealed.len(), INPUT_HEADER + len + chunks * TAG, "len {len}");
        let (opened, response) = open_input(&sealed).unwrap();
        assert_eq!(opened, plain, "len {len}");

        let answer: Vec<u8> = plain.iter().rev().copied().collect();
        let sealed_out = respond(response, &answer);
        assert_eq!(
            sealed_out.len(),
            OUTPUT_HEADER + len + chunks * TAG,
            "len {len}"
        );
        let mut got = Vec::new();
        let opened = open_output(&ctx, sealed_out.as_slice(), &mut got).unwrap();
        assert_eq!(got, answer, "len {len}");
        assert_eq!(opened.plaintext_len, len as u64);
    }
}

#[test]
fn digests_match_between_sides() {
    let plain = payload(CHUNK_LEN + 5);
    let (sealed, ctx) = seal_bytes(&target(), &plain);
    let mut reader = sealed.as_slice();
    let header = SealedInputHeader::read(&mut reader).unwrap();
    let keypair = identity().keypair(&secret(), header.policy()).unwrap();
    let (plain_reader, response) = header.open(&keypair, reader).unwrap();
    let digest = plain_reader.finish().unwrap();
    assert_eq!(digest, ctx.sealed_input_digest());
    assert_eq!(digest.to_string(), hex::encode(two_level_digest(&sealed)));

    let mut writer = response.writer(Vec::new()).unwrap();
    writer.write_all(b"answer").unwrap();
    let finished = writer.finish().unwrap();
    assert_eq!(finished.plaintext_len, 6);
    let opened = open_output(&ctx, finished.writer.as_slice(), io::sink()).unwrap();
    assert_eq!(opened.digest, finished.digest);
    assert_eq!(
        opened.digest.to_string(),
        hex::encode(sha256(&finished.writer))
    );
}

/// The sealed-input digest from the sealed bytes alone, as docs/formats.md defines it.
fn two_level_digest(sealed: &[u8]) -> Vec<u8> {
    let (header, body) = sealed.split_at(INPUT_HEADER);
    let chunk_hashes: Vec<Vec<u8>> = body.chunks(CHUNK_LEN + TAG).map(sha256).collect();
    let count = (chunk_hashes.len() as u64).to_be_bytes();
    let outer = [
        b"enclave/v2 sealed-input digest".as_slice(),
        header,
        &count,
        &chunk_hashes.concat(),
    ]
    .concat();
    sha256(&outer)
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

#[test]
fn header_getters_report_what_was_sealed() {
    let policy = identity().signer_policy();
    let (sealed, ctx) = seal_bytes(&target_for(policy, false), b"hello");
    let header = SealedInputHeader::read(&mut sealed.as_slice()).unwrap();
    assert_eq!(*header.policy(), policy);
    assert!(!header.debug());
    assert_eq!(header.platform_id(), platform());
    assert_eq!(
        header.evidence_digest(),
        EvidenceDigest::from_bytes([0xee; 32])
    );
    assert_eq!(header.plaintext_len(), 5);
    assert_eq!(*ctx.policy(), policy);
    assert_eq!(ctx.platform_id(), platform());
    assert_eq!(ctx.request_id().as_slice(), &sealed[130..162]);
}

#[test]
fn every_flipped_input_byte_is_refused() {
    let (sealed, _) = seal_bytes(&target(), b"confidential");
    for i in 0..sealed.len() {
        for bit in [0x01, 0x80] {
            let mut bad = sealed.clone();
            bad[i] ^= bit;
            let result = open_input(&bad);
            assert!(result.is_err(), "flip of byte {i} bit {bit:#x} accepted");
        }
    }
}

#[test]
fn flipped_header_fields_give_their_errors() {
    let (sealed, _) = seal_bytes(&target(), b"confidential");
    let refuse = |offset: usize| {
        let mut bad = sealed.clone();
        bad[offset] ^= 1;
        open_input(&bad).unwrap_err()
    };
    assert!(matches!(refuse(0), OpenError::NotSealedInput));
    // 2 -> 3 names the padded format, which the HPKE info binds: the key schedule differs.
    assert!(matches!(refuse(9), OpenError::Decryption));
    let mut version_6 = sealed.clone();
    version_6[9] = 6;
    assert!(matches!(
        open_input(&version_6).unwrap_err(),
        OpenError::UnsupportedVersion(6)
    ));
    assert!(matches!(
        refuse(11),
        OpenError::UnsupportedSuite { kem: 0x21, .. }
    ));
    assert!(matches!(
        refuse(14),
        OpenError::UnsupportedSuite { aead: 0x0103, .. }
            | OpenError::UnsupportedSuite { aead: 0x0102, .. }
    ));
    // 0x0002 <-> 0x0003: the other suite, refused by the HPKE key schedule.
    assert!(matches!(refuse(15), OpenError::Decryption));
    assert!(matches!(refuse(16), OpenError::MalformedPolicy(_)));
    assert!(matches!(
        refuse(17),
        OpenError::DebugMismatch {
            sealed: true,
            enclave: false
        }
    ));
    assert!(matches!(refuse(18), OpenError::MeasurementMismatch { .. }));
    assert!(matches!(refuse(54), OpenError::Decryption)); // evidence digest
    assert!(matches!(refuse(86), OpenError::PlatformMismatch { .. }));
    assert!(matches!(refuse(125), OpenError::Decryption)); // plaintext length
    assert!(matches!(refuse(128), OpenError::UnsupportedChunkSize(_)));
    assert!(matches!(refuse(130), OpenError::Decryption)); // enc
    assert!(matches!(refuse(170), OpenError::Decryption)); // key confirmation
    assert_eq!(
        stream_error(open_input(&{
            let mut bad = sealed.clone();
            bad[INPUT_HEADER] ^= 1;
            bad
        })),
        StreamError::ChunkAuthentication { chunk: 0 }
    );
    assert!(matches!(
        open_input(&sealed[..100]),
        Err(OpenError::TruncatedHeader)
    ));
}

#[test]
fn every_flipped_output_byte_is_refused() {
    let (sealed, ctx) = seal_bytes(&target(), b"question");
    let (_, response) = open_input(&sealed).unwrap();
    let out = respond(response, b"answer");
    for i in 0..out.len() {
        let mut bad = out.clone();
        bad[i] ^= 0x04;
        let result = open_output(&ctx, bad.as_slice(), io::sink());
        match i {
            0..8 => assert!(matches!(result, Err(OpenError::NotSealedOutput))),
            8..10 => assert!(matches!(result, Err(OpenError::UnsupportedVersion(_)))),
            10..12 => assert!(matches!(result, Err(OpenError::UnsupportedAead(_)))),
            _ => assert_eq!(
                stream_error(result),
                StreamError::ChunkAuthentication { chunk: 0 },
                "byte {i}"
            ),
        }
    }
}

/// Splits a sealed stream (after a header of `header` bytes) into its chunks.
fn chunks(sealed: &[u8], header: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
    let (head, body) = sealed.split_at(header);
    let chunks = body.chunks(CHUNK_LEN + TAG).map(<[u8]>::to_vec).collect();
    (head.to_vec(), chunks)
}

fn join(head: &[u8], chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = head.to_vec();
    for c in chunks {
        out.extend_from_slice(c);
    }
    out
}

#[test]
fn input_truncation_at_every_chunk_boundary() {
    let plain = payload(4 * CHUNK_LEN + 10); // five chunks
    let (sealed, _) = seal_bytes(&target(), &plain);
    let (head, parts) = chunks(&sealed, INPUT_HEADER);
    assert_eq!(parts.len(), 5);
    for keep in 0..4 {
        assert_eq!(
            stream_error(open_input(&join(&head, &parts[..keep]))),
            StreamError::Truncated { chunk: keep as u64 },
            "kept {keep}"
        );
    }
    assert_eq!(
        stream_error(open_input(&join(&head, &parts[..4]))),
        StreamError::MissingFinalChunk { chunk: 4 }
    );
    let mut cut = join(&head, &parts);
    cut.truncate(cut.len() - 1);
    assert_eq!(
        stream_error(open_input(&cut)),
        StreamError::Truncated { chunk: 4 }
    );
    let mut cut = join(&head, &parts[..2]);
    cut.extend_from_slice(&parts[2][..100]);
    assert_eq!(
        stream_error(open_input(&cut)),
        StreamError::Truncated { chunk: 2 }
    );
}

#[test]
fn input_reordered_dropped_duplicated_and_extra_chunks() {
    let plain = payload(4 * CHUNK_LEN + 10);
    let (sealed, _) = seal_bytes(&target(), &plain);
    let (head, parts) = chunks(&sealed, INPUT_HEADER);
    let with = |order: &[usize]| {
        let picked: Vec<Vec<u8>> = order.iter().map(|&i| parts[i].clone()).collect();
        stream_error(open_input(&join(&head, &picked)))
    };
    assert_eq!(
        with(&[0, 2, 1, 3, 4]),
        StreamError::ChunkOutOfOrder {
            position: 1,
            found: 2
        }
    );
    assert_eq!(
        with(&[0, 1, 3, 4]), // chunk 2 dropped
        StreamError::ChunkOutOfOrder {
            position: 2,
            found: 3
        }
    );
    assert_eq!(
        with(&[0, 1, 1, 2, 3, 4]), // chunk 1 duplicated
        StreamError::ChunkOutOfOrder {
            position: 2,
            found: 1
        }
    );
    assert_eq!(with(&[0, 1, 2, 3, 4, 4]), StreamError::TrailingData);
    let mut extra = sealed.clone();
    extra.push(0);
    assert_eq!(stream_error(open_input(&extra)), StreamError::TrailingData);
}

#[test]
fn chunks_from_another_stream_are_refused() {
    let plain = payload(2 * CHUNK_LEN);
    let (a, _) = seal_bytes(&target(), &plain);
    let (b, _) = seal_bytes(&target(), &plain);
    let (head, mut parts) = chunks(&a, INPUT_HEADER);
    let (_, other) = chunks(&b, INPUT_HEADER);
    parts[1] = other[1].clone();
    assert_eq!(
        stream_error(open_input(&join(&head, &parts))),
        StreamError::ChunkAuthentication { chunk: 1 }
    );
}

#[test]
fn output_truncation_reordering_and_trailing_data() {
    let (sealed, ctx) = seal_bytes(&target(), b"q");
    let (_, response) = open_input(&sealed).unwrap();
    let out = respond(response, &payload(3 * CHUNK_LEN + 1)); // four chunks
    let (head, parts) = chunks(&out, OUTPUT_HEADER);
    assert_eq!(parts.len(), 4);
    let open = |bytes: Vec<u8>| stream_error(open_output(&ctx, bytes.as_slice(), io::sink()));
    assert_eq!(open(join(&head, &[])), StreamError::Truncated { chunk: 0 });
    for keep in 1..4 {
        assert_eq!(
            open(join(&head, &parts[..keep])),
            StreamError::MissingFinalChunk { chunk: keep as u64 },
            "kept {keep}"
        );
    }
    let order = |o: &[usize]| {
        join(
            &head,
            &o.iter().map(|&i| parts[i].clone()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        open(order(&[1, 0, 2, 3])),
        StreamError::ChunkOutOfOrder {
            position: 0,
            found: 1
        }
    );
    assert_eq!(
        open(order(&[0, 2, 3])),
        StreamError::ChunkOutOfOrder {
            position: 1,
            found: 2
        }
    );
    // A short final chunk absorbs whatever follows it: the chunk then fails as a whole.
    assert_eq!(
        open(order(&[0, 1, 2, 3, 3])),
        StreamError::ChunkAuthentication { chunk: 3 }
    );
    let mut cut = out.clone();
    cut.truncate(cut.len() - 1);
    assert_eq!(open(cut), StreamError::ChunkAuthentication { chunk: 3 });

    // After a full final chunk, anything more is recognised as trailing data.
    let (sealed, ctx) = seal_bytes(&target(), b"q");
    let (_, response) = open_input(&sealed).unwrap();
    let out = respond(response, &payload(2 * CHUNK_LEN)); // two full chunks
    let (head, parts) = chunks(&out, OUTPUT_HEADER);
    let open = |bytes: Vec<u8>| stream_error(open_output(&ctx, bytes.as_slice(), io::sink()));
    assert_eq!(
        open(join(
            &head,
            &[parts[0].clone(), parts[1].clone(), parts[1].clone()]
        )),
        StreamError::TrailingData
    );
    let mut extra = out.clone();
    extra.push(0);
    assert_eq!(open(extra), StreamError::TrailingData);
}

#[test]
fn empty_output_round_trips_and_unfinished_output_is_refused() {
    let (sealed, ctx) = seal_bytes(&target(), b"q");
    let (_, response) = open_input(&sealed).unwrap();
    let empty = respond(response, b"");
    assert_eq!(empty.len(), OUTPUT_HEADER + TAG);
    let mut got = Vec::new();
    assert_eq!(
        open_output(&ctx, empty.as_slice(), &mut got)
            .unwrap()
            .plaintext_len,
        0
    );

    let (sealed, ctx) = seal_bytes(&target(), b"q");
    let (_, response) = open_input(&sealed).unwrap();
    let mut unfinished = Vec::new();
    {
        let mut writer = response.writer(&mut unfinished).unwrap();
        writer.write_all(&payload(CHUNK_LEN + 3)).unwrap();
        // dropped without finish()
    }
    assert_eq!(
        stream_error(open_output(&ctx, unfinished.as_slice(), io::sink())),
        StreamError::MissingFinalChunk { chunk: 1 }
    );
}

#[test]
fn output_opened_with_the_wrong_context_is_refused() {
    let (sealed, _) = seal_bytes(&target(), b"mine");
    let (_, other_ctx) = seal_bytes(&target(), b"mine");
    let (_, response) = open_input(&sealed).unwrap();
    let out = respond(response, b"answer");
    assert_eq!(
        stream_error(open_output(&other_ctx, out.as_slice(), io::sink())),
        StreamError::ChunkAuthentication { chunk: 0 }
    );
}

#[test]
fn wrong_platform_secret_cannot_open() {
    let (sealed, _) = seal_bytes(&target(), b"secret");
    let mut reader = sealed.as_slice();
    let header = SealedInputHeader::read(&mut reader).unwrap();
    let other = PlatformSecret::from_bytes([8; 32]);
    let keypair = identity().keypair(&other, header.policy()).unwrap();
    assert!(matches!(
        header.open(&keypair, reader),
        Err(OpenError::Decryption)
    ));
}

#[test]
fn debug_and_production_keys_are_separate() {
    for policy in [identity().measurement_policy(), identity().signer_policy()] {
        let production = EnclaveKeyPair::derive(&secret(), &policy, false);
        let debug = EnclaveKeyPair::derive(&secret(), &policy, true);
        assert_ne!(production.public(), debug.public());
    }
    // Sealed for a debug enclave: a production enclave refuses it by binding, and the debug
    // key pair cannot open a production input even when the checks are skipped.
    let (sealed, _) = seal_bytes(&target_for(identity().measurement_policy(), true), b"x");
    assert!(matches!(
        open_input(&sealed),
        Err(OpenError::DebugMismatch {
            sealed: true,
            enclave: false
        })
    ));
    let (sealed, _) = seal_bytes(&target(), b"x");
    let mut reader = sealed.as_slice();
    let header = SealedInputHeader::read(&mut reader).unwrap();
    let debug_pair = EnclaveKeyPair::derive(&secret(), header.policy(), true);
    assert!(matches!(
        header.open(&debug_pair, reader),
        Err(OpenError::KeyPolicyMismatch)
    ));
}

#[test]
fn signer_policy_svn_rules() {
    let at = |svn: u16| KeyPolicy::Signer {
        signer: identity().signer,
        product_id: identity().product_id,
        svn: Svn(svn),
    };
    // Sealed to older svns: readable by the svn-3 enclave.
    for svn in 0..=3 {
        let (sealed, _) = seal_bytes(&target_for(at(svn), false), b"old data");
        assert_eq!(open_input(&sealed).unwrap().0, b"old data", "svn {svn}");
    }
    // Sealed to a newer svn: refused before any key is derived.
    let (sealed, _) = seal_bytes(&target_for(at(4), false), b"new data");
    assert!(matches!(
        open_input(&sealed),
        Err(OpenError::SvnTooNew {
            sealed: Svn(4),
            enclave: Svn(3)
        })
    ));
    assert!(matches!(
        identity().keypair(&secret(), &at(4)),
        Err(OpenError::SvnTooNew { .. })
    ));
    // Each svn has its own key.
    let keys: Vec<_> = (0..4)
        .map(|svn| EnclaveKeyPair::derive(&secret(), &at(svn), false).public())
        .collect();
    for i in 0..keys.len() {
        for j in i + 1..keys.len() {
            assert_ne!(keys[i], keys[j]);
        }
    }
}

#[test]
fn other_enclaves_and_platforms_are_refused() {
    let other_measurement = KeyPolicy::Measurement(Measurement::from_bytes([0x12; 32]));
    let (sealed, _) = seal_bytes(&target_for(other_measurement, false), b"x");
    assert!(matches!(
        open_input(&sealed),
        Err(OpenError::MeasurementMismatch { .. })
    ));

    let other_signer = KeyPolicy::Signer {
        signer: SignerId::from_bytes([0x23; 32]),
        product_id: ProductId(7),
        svn: Svn(1),
    };
    let (sealed, _) = seal_bytes(&target_for(other_signer, false), b"x");
    assert!(matches!(
        open_input(&sealed),
        Err(OpenError::SignerMismatch { .. })
    ));

    let other_product = KeyPolicy::Signer {
        signer: identity().signer,
        product_id: ProductId(8),
        svn: Svn(1),
    };
    let (sealed, _) = seal_bytes(&target_for(other_product, false), b"x");
    assert!(matches!(
        open_input(&sealed),
        Err(OpenError::ProductMismatch {
            sealed: ProductId(8),
            enclave: ProductId(7)
        })
    ));

    let mut elsewhere = target();
    elsewhere.platform_id = PlatformId::from_bytes([0x51; 32]);
    let (sealed, _) = seal_bytes(&elsewhere, b"x");
    assert!(matches!(
        open_input(&sealed),
        Err(OpenError::PlatformMismatch { .. })
    ));
}

#[test]
fn seal_refuses_a_plaintext_of_the_wrong_length() {
    let plain = payload(CHUNK_LEN + 10);
    assert!(matches!(
        seal(&target(), plain.as_slice(), plain.len() as u64 + 1, io::sink()),
        Err(SealError::InputShorter { declared, actual }) if declared == plain.len() as u64 + 1
            && actual == plain.len() as u64
    ));
    assert!(matches!(
        seal(
            &target(),
            plain.as_slice(),
            plain.len() as u64 - 1,
            io::sink()
        ),
        Err(SealError::InputLonger { .. })
    ));
    let mut low_order = target();
    low_order.public_key = attest::EnclavePublicKey::from_bytes([0; 32]);
    assert!(matches!(
        seal(&low_order, &b"x"[..], 1, io::sink()),
        Err(SealError::InvalidPublicKey)
    ));
}

#[test]
fn client_context_round_trips_and_refuses_malformed_bytes() {
    let (sealed, ctx) = seal_bytes(&target(), b"q");
    let bytes = ctx.to_bytes();
    assert_eq!(bytes.len(), 176);
    let back = ClientContext::from_bytes(&bytes).unwrap();
    assert_eq!(back.to_bytes(), bytes);
    let (_, response) = open_input(&sealed).unwrap();
    let out = respond(response, b"a");
    assert!(open_output(&back, out.as_slice(), io::sink()).is_ok());

    for len in [0, 7, 9, 10, 175, 177] {
        let mut bad = bytes.to_vec();
        bad.resize(len, 0);
        assert!(
            matches!(
                ClientContext::from_bytes(&bad),
                Err(OpenError::MalformedContext("not 176 bytes"))
            ),
            "{len} bytes"
        );
    }
    let mut bad = bytes.to_vec();
    bad[0] ^= 1;
    assert!(matches!(
        ClientContext::from_bytes(&bad),
        Err(OpenError::NotClientContext)
    ));
    let mut bad = bytes.to_vec();
    bad[9] = 3;
    assert!(matches!(
        ClientContext::from_bytes(&bad),
        Err(OpenError::UnsupportedVersion(3))
    ));
    let mut bad = bytes.to_vec();
    bad[11] = 2;
    assert!(matches!(
        ClientContext::from_bytes(&bad),
        Err(OpenError::MalformedPolicy(_))
    ));
    assert!(!format!("{ctx:?}").contains(&hex::encode(&bytes[144..])));
}

/// Version 1 (208 bytes) held the evidence digest at offset 80, which no reader checked (issue
/// 12, item 5): such a context is refused by its version, not misread as version 2.
#[test]
fn client_context_version_1_is_refused() {
    let (_, ctx) = seal_bytes(&target(), b"q");
    let v2 = ctx.to_bytes();
    let v1 = [&v2[..8], &[0, 1], &v2[10..80], &[0xee; 32], &v2[80..]].concat();
    assert_eq!(v1.len(), 208);
    assert!(matches!(
        ClientContext::from_bytes(&v1),
        Err(OpenError::UnsupportedVersion(1))
    ));
    // Every remaining field is at the offset docs/formats.md gives.
    assert_eq!(&v2[..10], b"ENCLCTXT\x00\x02");
    assert_eq!(ctx.platform_id().as_bytes(), &v2[48..80]);
    assert_eq!(ctx.sealed_input_digest().as_bytes(), &v2[80..112]);
    assert_eq!(ctx.request_id().as_slice(), &v2[112..144]);
}

/// docs/formats.md, "Key derivation": the salt is the empty string, which gives the same keys as
/// RFC 5869's default of 32 zero bytes (HMAC zero-pads short keys), and `info` is
/// "enclave/v1/" || purpose || 0x00 || policy block.
#[test]
fn key_derivation_is_as_documented() {
    use ring::hkdf;
    struct Len32;
    impl hkdf::KeyType for Len32 {
        fn len(&self) -> usize {
            32
        }
    }
    let m = [0x11; 32];
    let block = [&[1u8, 1][..], &m, &[0, 0, 0, 0]].concat();
    let info: [&[u8]; 4] = [b"enclave/v1/", b"sealed-blob", &[0], &block];
    let expected = |salt: &[u8]| {
        let mut key = [0u8; 32];
        hkdf::Salt::new(hkdf::HKDF_SHA256, salt)
            .extract(&[7; 32])
            .expand(&info, Len32)
            .unwrap()
            .fill(&mut key)
            .unwrap();
        key
    };
    let derived = sealer::derive_key(
        &secret(),
        sealer::KeyPurpose::SealedBlob,
        &KeyPolicy::Measurement(Measurement::from_bytes(m)),
        true,
    );
    assert_eq!(*derived, expected(&[]));
    assert_eq!(*derived, expected(&[0; 32]));
    assert_ne!(*derived, expected(b"enclave"));
}

#[test]
fn open_reader_errors_are_typed_io_errors() {
    let plain = payload(2 * CHUNK_LEN + 1);
    let (sealed, _) = seal_bytes(&target(), &plain);
    let mut bad = sealed.clone();
    bad[INPUT_HEADER + CHUNK_LEN + TAG + 5] ^= 1; // inside chunk 1
    let mut reader = bad.as_slice();
    let header = SealedInputHeader::read(&mut reader).unwrap();
    let keypair = identity().keypair(&secret(), header.policy()).unwrap();
    let (mut plain_reader, _) = header.open(&keypair, reader).unwrap();
    let mut first = vec![0; CHUNK_LEN];
    plain_reader.read_exact(&mut first).unwrap();
    assert_eq!(first, plain[..CHUNK_LEN]);
    let err = plain_reader.read(&mut first).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    let inner = err.get_ref().unwrap().downcast_ref::<OpenError>().unwrap();
    assert!(matches!(
        inner,
        OpenError::Stream(StreamError::ChunkAuthentication { chunk: 1 })
    ));
    // The failure is sticky.
    assert!(plain_reader.read(&mut first).is_err());
}

#[test]
fn secrets_do_not_leak_through_debug() {
    let text = format!("{:?}", PlatformSecret::from_bytes([0xab; 32]));
    assert!(!text.contains("ab"), "{text}");
    let pair = EnclaveKeyPair::derive(&secret(), &identity().measurement_policy(), false);
    assert!(format!("{pair:?}").contains("EnclaveKeyPair"));
}
