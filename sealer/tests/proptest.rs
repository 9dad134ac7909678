//! Property tests: seal → open round trips for arbitrary lengths, read and write patterns and
//! both key policies; client context encode/decode; every single-byte change of a small sealed
//! input or output refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::io::{Read, Write};

use attest::{Measurement, PlatformId, ProductId, SignerId, Svn};
use proptest::prelude::*;
use sealer::{
    open_output, seal, ClientContext, EnclaveIdentity, EnclaveKeyPair, EvidenceDigest, OpenError,
    PlatformSecret, ResponseSealer, SealTarget, SealedInputHeader, CHUNK_LEN,
};

fn secret() -> PlatformSecret {
    PlatformSecret::from_bytes([7; 32])
}

fn platform() -> PlatformId {
    PlatformId::from_bytes([0x50; 32])
}

fn identity(debug: bool) -> EnclaveIdentity {
    EnclaveIdentity {
        measurement: Measurement::from_bytes([0x11; 32]),
        signer: SignerId::from_bytes([0x22; 32]),
        product_id: ProductId(7),
        svn: Svn(3),
        debug,
    }
}

fn target(signer_policy: bool, debug: bool) -> SealTarget {
    let me = identity(debug);
    let policy = if signer_policy {
        me.signer_policy()
    } else {
        me.measurement_policy()
    };
    SealTarget {
        public_key: EnclaveKeyPair::derive(&secret(), &policy, debug).public(),
        policy,
        debug,
        evidence_digest: EvidenceDigest::from_bytes([0xee; 32]),
        platform_id: platform(),
    }
}

/// Deterministic bytes from a seed (cheaper than a proptest vector of 300 000 elements).
fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn seal_bytes(target: &SealTarget, plain: &[u8]) -> (Vec<u8>, ClientContext) {
    let mut out = Vec::new();
    let context = seal(target, plain, plain.len() as u64, &mut out).unwrap();
    (out, context)
}

/// The enclave side, as the runtime does it; reads in pieces of `read_size` bytes.
fn open_input(
    sealed: &[u8],
    debug: bool,
    read_size: usize,
) -> Result<(Vec<u8>, ResponseSealer), OpenError> {
    let me = identity(debug);
    let mut reader = sealed;
    let header = SealedInputHeader::read(&mut reader)?;
    header.check_binding(&me, &platform())?;
    let keypair = me.keypair(&secret(), header.policy())?;
    let (mut open, response) = header.open(&keypair, reader)?;
    let mut plain = Vec::new();
    let mut buf = vec![0u8; read_size.max(1)];
    loop {
        match open.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => plain.extend_from_slice(&buf[..n]),
            Err(e) => return Err(OpenError::Io(e)),
        }
    }
    open.finish()?;
    Ok((plain, response))
}

/// The enclave's response, written in pieces of `write_size` bytes.
fn respond(response: ResponseSealer, plain: &[u8], write_size: usize) -> Vec<u8> {
    let mut writer = response.writer(Vec::new()).unwrap();
    for piece in plain.chunks(write_size.max(1)) {
        writer.write_all(piece).unwrap();
    }
    writer.finish().unwrap().writer
}

/// A client context encoding with a valid policy block and arbitrary digests and secrets.
fn context_bytes() -> impl Strategy<Value = Vec<u8>> {
    let policy = prop_oneof![
        any::<[u8; 32]>().prop_map(|m| [&[1u8][..], &[0], &m, &[0, 0, 0, 0]].concat()),
        (any::<[u8; 32]>(), any::<[u8; 4]>())
            .prop_map(|(s, ps)| [&[2u8][..], &[0], &s, &ps].concat()),
    ];
    (
        policy,
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 128),
    )
        .prop_map(|(mut block, debug, rest)| {
            block[1] = u8::from(debug);
            [&b"ENCLCTXT"[..], &[0, 2], &block, &rest].concat()
        })
}

proptest! {
    // Each case seals up to 300 000 bytes, opens them and answers with as many.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn seal_open_round_trip(
        len in prop_oneof![0..300_000usize, (0..4usize).prop_map(|k| k * CHUNK_LEN)],
        seed in any::<u64>(),
        signer_policy in any::<bool>(),
        debug in any::<bool>(),
        read_size in 1..100_000usize,
        write_size in 1..100_000usize,
    ) {
        let plain = payload(len, seed);
        let (sealed, context) = seal_bytes(&target(signer_policy, debug), &plain);
        let (opened, response) = open_input(&sealed, debug, read_size).unwrap();
        prop_assert!(opened == plain, "opened plaintext differs");

        let answer = payload(len / 2 + 1, !seed);
        let sealed_out = respond(response, &answer, write_size);
        let mut got = Vec::new();
        let result = open_output(&context, sealed_out.as_slice(), &mut got).unwrap();
        prop_assert!(got == answer, "opened response differs");
        prop_assert_eq!(result.plaintext_len, answer.len() as u64);
    }
}

proptest! {
    #[test]
    fn client_context_bytes_round_trip(bytes in context_bytes()) {
        let context = ClientContext::from_bytes(&bytes).unwrap();
        prop_assert_eq!(context.to_bytes().to_vec(), bytes.clone());
        prop_assert_eq!(context.debug(), bytes[11] == 1);
        prop_assert_eq!(context.platform_id().as_bytes().to_vec(), bytes[48..80].to_vec());
        prop_assert_eq!(context.sealed_input_digest().as_bytes().to_vec(), bytes[80..112].to_vec());
        prop_assert_eq!(context.request_id().to_vec(), bytes[112..144].to_vec());
    }

    #[test]
    fn client_context_of_a_seal_round_trips(
        signer_policy in any::<bool>(),
        debug in any::<bool>(),
        len in 0..100usize,
    ) {
        let (sealed, context) = seal_bytes(&target(signer_policy, debug), &payload(len, 1));
        let back = ClientContext::from_bytes(&context.to_bytes()).unwrap();
        prop_assert_eq!(back.to_bytes(), context.to_bytes());
        prop_assert_eq!(back.policy(), &target(signer_policy, debug).policy);
        prop_assert_eq!(back.request_id().to_vec(), sealed[130..162].to_vec());
    }

    #[test]
    fn context_of_another_length_is_refused(mut bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        prop_assume!(bytes.len() != sealer::context::CONTEXT_LEN);
        // A valid magic and version, so that only the length is wrong.
        let header = b"ENCLCTXT\x00\x02";
        let n = header.len().min(bytes.len());
        bytes[..n].copy_from_slice(&header[..n]);
        prop_assert!(matches!(
            ClientContext::from_bytes(&bytes),
            Err(OpenError::MalformedContext(_))
        ));
    }
}

proptest! {
    // Each case opens a small sealed input once per byte (~230 HPKE opens).
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn every_byte_change_of_a_sealed_input_is_refused(
        len in 0..40usize,
        signer_policy in any::<bool>(),
        debug in any::<bool>(),
        mask in 1..=255u8,
    ) {
        let plain = payload(len, 9);
        let (sealed, _) = seal_bytes(&target(signer_policy, debug), &plain);
        prop_assert_eq!(open_input(&sealed, debug, 7).unwrap().0, plain);
        for i in 0..sealed.len() {
            let mut altered = sealed.clone();
            altered[i] ^= mask;
            prop_assert!(
                open_input(&altered, debug, 7).is_err(),
                "byte {} ^ {:#04x} of {} was accepted", i, mask, sealed.len()
            );
        }
    }

    #[test]
    fn every_byte_change_of_a_sealed_output_is_refused(
        len in 0..40usize,
        mask in 1..=255u8,
    ) {
        let (sealed, context) = seal_bytes(&target(false, false), b"request");
        let (_, response) = open_input(&sealed, false, 64).unwrap();
        let answer = payload(len, 3);
        let sealed_out = respond(response, &answer, 5);
        for i in 0..sealed_out.len() {
            let mut altered = sealed_out.clone();
            altered[i] ^= mask;
            prop_assert!(
                open_output(&context, altered.as_slice(), &mut Vec::new()).is_err(),
                "byte {} ^ {:#04x} of {} was accepted", i, mask, sealed_out.len()
            );
        }
    }
}
