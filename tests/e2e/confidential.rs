//! Confidential I/O end to end, through the public harness: real workloads over sealed inputs,
//! and every refusal a data owner relies on, each asserted by its exact error.

use attest::receipt::Outcome;
use attest::Svn;
use enclave_runtime::confidential::ConfidentialError;
use enclave_runtime::{GuestFault, RunError};
use enclave_tests::guests::{HOSTILE, STATS, WORDCOUNT};
use enclave_tests::harness::{attacks, manifest, ClientError, Harness, SealTo};
use sealer::{OpenError, ReceiptMismatch, StreamError, CHUNK_LEN};

fn sealed_input_error(result: Result<impl std::fmt::Debug, ConfidentialError>) -> OpenError {
    match result {
        Err(ConfidentialError::Input(e)) => e,
        other => panic!("expected a sealed-input refusal, got {other:?}"),
    }
}

/// Plaintext never appears in what the operator sees.
fn assert_opaque(haystack: &[u8], needle: &[u8]) {
    assert!(
        !haystack.windows(needle.len()).any(|w| w == needle),
        "plaintext visible to the operator"
    );
}

#[test]
fn confidential_word_count_and_statistics() {
    let h = Harness::new().unwrap();
    let wordcount = h.load(&h.sign(WORDCOUNT, &manifest()).unwrap()).unwrap();
    let text = b"attack at dawn, attack at dusk, retreat never";
    let out = h.confidential(&wordcount, text).unwrap();
    assert_eq!(
        out.plaintext,
        b"at\t2\nattack\t2\ndawn\t1\ndusk\t1\nnever\t1\nretreat\t1\n"
    );
    for seen in [&out.sealed_input, &out.sealed_output, &out.receipt_bytes] {
        assert_opaque(seen, b"attack");
        assert_opaque(seen, b"dawn");
    }
    let claims = out.receipt.claims();
    assert_eq!(claims.measurement, wordcount.measurement());
    assert_eq!(claims.outcome, Outcome::Success);
    // A production enclave's receipt does not tell the operator the run's fuel.
    assert_eq!(claims.fuel_used, 0);

    let stats = h.load(&h.sign(STATS, &manifest()).unwrap()).unwrap();
    let out = h.confidential(&stats, b"3, 4\n5\n").unwrap();
    assert_eq!(
        out.plaintext,
        b"{\"count\":3,\"sum\":12,\"mean\":4,\"min\":3,\"max\":5}\n"
    );
}

#[test]
fn large_inputs_stream_through_many_chunks() {
    let h = Harness::new().unwrap();
    let wordcount = h.load(&h.sign(WORDCOUNT, &manifest()).unwrap()).unwrap();
    let text = "lorem ipsum dolor ".repeat(40_000); // 720 kB: 11 chunks
    let out = h.confidential(&wordcount, text.as_bytes()).unwrap();
    assert_eq!(out.plaintext, b"dolor\t40000\nipsum\t40000\nlorem\t40000\n");
}

#[test]
fn inputs_sealed_to_another_enclave_platform_or_newer_svn_are_refused() {
    let h = Harness::new().unwrap();
    let wordcount = h.load(&h.sign(WORDCOUNT, &manifest()).unwrap()).unwrap();
    let stats = h.load(&h.sign(STATS, &manifest()).unwrap()).unwrap();
    let evidence = h.attest_and_verify(&wordcount).unwrap();

    // Another measurement.
    let sealed = h.seal(&evidence, SealTo::Measurement, b"x").unwrap();
    let err = sealed_input_error(h.run_sealed(&stats, &sealed.bytes));
    assert_eq!(
        err.to_string(),
        format!(
            "sealed to measurement {}, enclave is {}",
            wordcount.measurement(),
            stats.measurement()
        )
    );

    // Another platform, same enclave.
    let elsewhere = Harness::new().unwrap();
    let there = elsewhere.load(&h.sign(WORDCOUNT, &manifest()).unwrap());
    // The other harness trusts only its own author; load through the runtime directly.
    assert!(there.is_err());
    let there = enclave_runtime::Enclave::load(
        &h.sign(WORDCOUNT, &manifest()).unwrap(),
        enclave_runtime::Signers::Any,
    )
    .unwrap();
    let err = sealed_input_error(elsewhere.run_sealed(&there, &sealed.bytes));
    assert!(matches!(err, OpenError::PlatformMismatch { .. }), "{err}");

    // Signer policy: svn 2's input cannot be read by svn 1 ...
    let v2 = h
        .load(&attacks::resign(&h, WORDCOUNT, |m| m.svn = Svn(2)).unwrap())
        .unwrap();
    let v1 = wordcount;
    let sealed_v2 = h
        .seal(
            &h.attest_and_verify(&v2).unwrap(),
            SealTo::Signer,
            b"new data",
        )
        .unwrap();
    let err = sealed_input_error(h.run_sealed(&v1, &sealed_v2.bytes));
    assert_eq!(err.to_string(), "sealed to svn 2, enclave is svn 1");
    // ... while svn 2 reads what was sealed to svn 1 (an upgrade keeps its data).
    let sealed_v1 = h
        .seal(
            &h.attest_and_verify(&v1).unwrap(),
            SealTo::Signer,
            b"old data",
        )
        .unwrap();
    let run = h.run_sealed(&v2, &sealed_v1.bytes).unwrap();
    let (plain, _) = h
        .open(&sealed_v1.context, &run.receipt, &run.output)
        .unwrap();
    assert_eq!(plain, b"data\t1\nold\t1\n");

    // A debug enclave never opens what was sealed to the production one, even by signer.
    let debug = h
        .load(&attacks::resign(&h, WORDCOUNT, |m| m.debug = true).unwrap())
        .unwrap();
    let err = sealed_input_error(h.run_sealed(&debug, &sealed_v1.bytes));
    assert_eq!(
        err.to_string(),
        "sealed for a production enclave, this enclave is debug"
    );
}

#[test]
fn every_altered_byte_of_a_sealed_input_is_refused() {
    let h = Harness::new().unwrap();
    let enclave = h.load(&h.sign(WORDCOUNT, &manifest()).unwrap()).unwrap();
    let evidence = h.attest_and_verify(&enclave).unwrap();
    let text = "secret words ".repeat(12_000); // 156 kB: three chunks
    let sealed = h
        .seal(&evidence, SealTo::Measurement, text.as_bytes())
        .unwrap();
    let mut refused = 0;
    for i in attacks::positions(sealed.bytes.len(), 400) {
        let evil = attacks::flip(&sealed.bytes, i, (i % 8) as u8);
        sealed_input_error(h.run_sealed(&enclave, &evil));
        refused += 1;
    }
    assert!(refused >= 400, "{refused}");
    println!("sealed input: {refused} sampled bit flips, all refused");

    // Truncation at and around every chunk boundary, and appended data.
    let header = sealed.bytes.len() - text.len() - 3 * 16;
    let chunk = CHUNK_LEN + 16;
    for cut in [
        header,
        header + chunk,
        header + 2 * chunk,
        header + 1,
        header + chunk - 1,
    ] {
        let err =
            sealed_input_error(h.run_sealed(&enclave, &attacks::truncate(&sealed.bytes, cut)));
        assert!(
            matches!(
                err,
                OpenError::Stream(
                    StreamError::Truncated { .. } | StreamError::MissingFinalChunk { .. }
                )
            ),
            "cut at {cut}: {err}"
        );
    }
    let err = sealed_input_error(h.run_sealed(&enclave, &attacks::append(&sealed.bytes, b"x")));
    assert!(
        matches!(err, OpenError::Stream(StreamError::TrailingData)),
        "{err}"
    );

    // Chunks swapped or replayed.
    let (head, body) = sealed.bytes.split_at(header);
    let chunks: Vec<&[u8]> = body.chunks(chunk).collect();
    let swapped = [head, chunks[1], chunks[0], chunks[2]].concat();
    let err = sealed_input_error(h.run_sealed(&enclave, &swapped));
    assert!(
        matches!(
            err,
            OpenError::Stream(StreamError::ChunkOutOfOrder {
                position: 0,
                found: 1
            })
        ),
        "{err}"
    );
    let replayed = [head, chunks[0], chunks[0], chunks[1], chunks[2]].concat();
    let err = sealed_input_error(h.run_sealed(&enclave, &replayed));
    assert!(
        matches!(
            err,
            OpenError::Stream(StreamError::ChunkOutOfOrder {
                position: 1,
                found: 0
            })
        ),
        "{err}"
    );
}

#[test]
fn outputs_receipts_and_contexts_must_all_match() {
    let h = Harness::new().unwrap();
    let enclave = h.load(&h.sign(WORDCOUNT, &manifest()).unwrap()).unwrap();
    let evidence = h.attest_and_verify(&enclave).unwrap();
    let one = h.seal(&evidence, SealTo::Measurement, b"one").unwrap();
    let two = h.seal(&evidence, SealTo::Measurement, b"two").unwrap();
    let run_one = h.run_sealed(&enclave, &one.bytes).unwrap();
    let run_two = h.run_sealed(&enclave, &two.bytes).unwrap();
    assert_eq!(
        h.open(&one.context, &run_one.receipt, &run_one.output)
            .unwrap()
            .0,
        b"one\t1\n"
    );

    // Every flipped byte of the output: the receipt no longer names it.
    for i in attacks::positions(run_one.output.len(), 200) {
        let evil = attacks::flip(&run_one.output, i, 3);
        match h.open(&one.context, &run_one.receipt, &evil) {
            Err(ClientError::Mismatch(ReceiptMismatch::Output { .. })) => {}
            other => panic!("flip at {i}: {other:?}"),
        }
        // Even without the receipt, the output itself does not authenticate.
        let mut sink = Vec::new();
        assert!(sealer::open_output(&one.context, &evil[..], &mut sink).is_err());
    }
    // Every flipped byte of the receipt.
    for i in attacks::positions(run_one.receipt.len(), 300) {
        let evil = attacks::flip(&run_one.receipt, i, 5);
        match h.open(&one.context, &evil, &run_one.output) {
            Err(ClientError::Receipt(_)) => {}
            other => panic!("receipt flip at {i}: {other:?}"),
        }
    }
    // A genuine receipt for another request.
    match h.open(&one.context, &run_two.receipt, &run_one.output) {
        Err(ClientError::Mismatch(ReceiptMismatch::Input { .. })) => {}
        other => panic!("{other:?}"),
    }
    // Another request's output and receipt, opened with the wrong context.
    match h.open(&one.context, &run_two.receipt, &run_two.output) {
        Err(ClientError::Mismatch(ReceiptMismatch::Input { .. })) => {}
        other => panic!("{other:?}"),
    }
    let mut sink = Vec::new();
    let err = sealer::open_output(&one.context, &run_two.output[..], &mut sink).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::Stream(StreamError::ChunkAuthentication { chunk: 0 })
        ),
        "{err}"
    );
}

#[test]
fn a_failed_run_yields_a_signed_failure_receipt_and_no_output() {
    let h = Harness::new().unwrap();
    let mut m = manifest();
    m.limits.max_output_bytes = 1 << 20;
    // The output limit decides, never the deadline: it is out of reach.
    m.limits.timeout_ms = 600_000;
    let hostile = h.load(&h.sign(HOSTILE, &m).unwrap()).unwrap();
    let evidence = h.attest_and_verify(&hostile).unwrap();
    let sealed = h
        .seal(&evidence, SealTo::Measurement, b"huge-output")
        .unwrap();
    let (error, receipt, report) = match h.run_sealed(&hostile, &sealed.bytes) {
        Err(ConfidentialError::Guest {
            error,
            receipt,
            report,
        }) => (error, receipt, report),
        other => panic!("{other:?}"),
    };
    assert!(matches!(
        error,
        RunError::Fault(GuestFault::OutputLimit { limit: 1_048_576 })
    ));
    // The receipt names the sealed failure report, not the partial output.
    match h.open(&sealed.context, &receipt, b"") {
        Err(ClientError::Mismatch(ReceiptMismatch::Output { .. })) => {}
        other => panic!("{other:?}"),
    }
    match h.open(&sealed.context, &receipt, &report) {
        Err(ClientError::GuestFailed {
            category, report, ..
        }) => {
            assert_eq!(category, error.to_string());
            assert_eq!(report, "output limit of 1048576 bytes exceeded");
        }
        other => panic!("{other:?}"),
    }
}
