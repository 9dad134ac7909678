//! The example workloads give the right answers.

use enclave_tests::guests::{STATS, USES_RANDOM, WORDCOUNT};

use enclave_runtime::Enclave;

use crate::{load, run};

#[test]
fn wordcount_counts_words() {
    let enclave = load(WORDCOUNT, "");
    let out = run(&enclave, b"The cat and the hat. THE END, the end!").unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "the\t4\nend\t2\nand\t1\ncat\t1\nhat\t1\n"
    );
    assert_eq!(run(&enclave, b"").unwrap(), b"");
}

#[test]
fn wordcount_is_right_across_chunk_boundaries() {
    // Words straddle every read boundary the guest could use; counts must still be exact.
    let mut text = String::new();
    for i in 0..40_000 {
        text.push_str(["alpha ", "beta\n", "gamma, ", "\u{e9}t\u{e9} "][i % 4]);
    }
    let out = String::from_utf8(run(&load(WORDCOUNT, ""), text.as_bytes()).unwrap()).unwrap();
    assert_eq!(
        out,
        "alpha\t10000\nbeta\t10000\ngamma\t10000\n\u{e9}t\u{e9}\t10000\n"
    );
}

#[test]
fn wordcount_refuses_invalid_utf8() {
    let err = run(&load(WORDCOUNT, ""), b"ok \xff\xfe bad").unwrap_err();
    assert!(
        err.to_requester_string().starts_with("guest aborted: "),
        "{err}"
    );
}

#[test]
fn stats_over_csv_and_cbor() {
    let enclave = load(STATS, "");
    let out = run(&enclave, b"1, 2\n3\n4.5 -0.5\n").unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap().trim_end(),
        r#"{"count":5,"sum":10,"mean":2,"min":-0.5,"max":4.5}"#
    );
    // CBOR [1, -2, 3.5]: array(3), uint 1, nint -2, float64 3.5.
    let cbor = [0x83, 0x01, 0x21, 0xfb, 0x40, 0x0c, 0, 0, 0, 0, 0, 0];
    let out = run(&enclave, &cbor).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap().trim_end(),
        r#"{"count":3,"sum":2.5,"mean":0.8333333333333334,"min":-2,"max":3.5}"#
    );
    let out = run(&enclave, b"").unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap().trim_end(),
        r#"{"count":0,"sum":null,"mean":null,"min":null,"max":null}"#
    );
    let err = run(&enclave, b"1\n2\nabc\n").unwrap_err();
    assert!(
        err.to_requester_string()
            .starts_with("guest aborted: stats: line 3"),
        "{err}"
    );
}

#[test]
fn random_needs_its_capability() {
    let err =
        Enclave::load(&crate::sign(USES_RANDOM, ""), enclave_runtime::Signers::Any).unwrap_err();
    assert_eq!(
        err.to_string(),
        "module imports outside the granted ABI: enclave_v1.random: capability `random` is not \
         granted by the manifest"
    );
    let enclave = load(USES_RANDOM, "capabilities = [\"random\"]\n");
    let (a, b) = (run(&enclave, b"").unwrap(), run(&enclave, b"").unwrap());
    assert_eq!(a.len(), 64);
    assert_ne!(a, b);
}
