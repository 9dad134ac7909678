//! The attestation flow from the command line: platform init, attest with a fresh nonce, verify,
//! and every refusal the verifier owes a relying party, each with its exit code and message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use common::{mode, Dir, ECHO};

const NONCE: &str = "00112233445566778899aabbccddeeff";

/// A platform, a signed echo enclave and evidence for it with `NONCE`; returns the measurement.
fn attested(d: &Dir) -> String {
    d.ok(&["platform", "init", "--name", "test-platform", "--tcb", "3"]);
    d.ok(&["platform", "export-root", "-o", "root.pem"]);
    d.signed(ECHO);
    d.ok(&[
        "attest",
        "app.enclave",
        "--nonce",
        NONCE,
        "-o",
        "report.cbor",
    ]);
    d.ok(&["measure", "app.wasm", "--manifest", "enclave.toml"])
        .trim()
        .to_owned()
}

fn verify_args<'a>(measurement: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "verify",
        "report.cbor",
        "--root",
        "root.pem",
        "--measurement",
        measurement,
        "--nonce",
        NONCE,
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn platform_init_show_and_export() {
    let d = Dir::new();
    let out = d.ok(&["platform", "init", "--tcb", "7"]);
    assert!(out.contains("tcb:         7"), "{out}");
    for secret in ["platform.secret", "attestation.key", "vendor-root.key"] {
        assert_eq!(mode(&d.path("platform").join(secret)), 0o600, "{secret}");
    }
    let err = d.fails(1, &["platform", "init"]);
    assert!(err.contains("a platform already exists in"), "{err}");

    let show: serde_json::Value =
        serde_json::from_str(&d.ok(&["platform", "show", "--json"])).unwrap();
    assert_eq!(show["tcb"], 7);
    assert_eq!(show["platform_id"].as_str().unwrap().len(), 64);

    // openssl reads every certificate, and the attestation certificate chains to the root.
    d.ok(&["platform", "export-root", "-o", "root.pem"]);
    let chain = d.path("platform").join("attestation.pem");
    let text = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&chain)
        .output()
        .unwrap();
    assert!(text.status.success());
    let verify = std::process::Command::new("openssl")
        .args(["verify", "-CAfile", "root.pem", "-purpose", "any"])
        .arg(&chain)
        .current_dir(d.dir.path())
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );

    // A secret others can read is refused, as ssh refuses such keys.
    let secret = d.path("platform").join("platform.secret");
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let err = d.fails(1, &["platform", "show"]);
    assert!(
        err.contains("must not be accessible by group or others"),
        "{err}"
    );
}

#[test]
fn fleet_platforms_share_one_root() {
    let d = Dir::new();
    d.ok(&["platform", "init", "--name", "vendor"]);
    let vendor = d.path("platform");
    for n in ["a", "b"] {
        let home = d.path(n);
        d.ok(&[
            "platform",
            "init",
            "--home",
            home.to_str().unwrap(),
            "--vendor-key",
            vendor.join("vendor-root.key").to_str().unwrap(),
            "--vendor-cert",
            vendor.join("vendor-root.pem").to_str().unwrap(),
        ]);
        assert!(!home.join("vendor-root.key").exists());
        assert_eq!(
            std::fs::read(home.join("vendor-root.pem")).unwrap(),
            std::fs::read(vendor.join("vendor-root.pem")).unwrap()
        );
    }
}

#[test]
fn attest_then_verify() {
    let d = Dir::new();
    let m = attested(&d);
    let out = d.ok(&verify_args(&m, &["--json"]));
    let claims: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(claims["measurement"], m.as_str());
    assert_eq!(claims["nonce"], NONCE);
    assert_eq!(claims["platform_tcb"], 3);
    assert_eq!(claims["debug"], false);
    // Attesting compiled the module into the platform's code cache, so a run starts warm.
    let entries = std::fs::read_dir(d.path("platform").join("cache"))
        .unwrap()
        .count();
    assert_eq!(entries, 1);
    // By signer instead of measurement, with every policy flag satisfied.
    let signer = d.ok(&["inspect", "app.enclave", "--json"]);
    let signer: serde_json::Value = serde_json::from_str(&signer).unwrap();
    d.ok(&[
        "verify",
        "report.cbor",
        "--root",
        "root.pem",
        "--signer",
        signer["signer_id"].as_str().unwrap(),
        "--nonce",
        NONCE,
        "--product-id",
        "1",
        "--min-svn",
        "1",
        "--min-tcb",
        "3",
    ]);
}

#[test]
fn verify_refuses_policy_violations() {
    let d = Dir::new();
    let m = attested(&d);
    let refuse = |args: &[&str], expect: &str| {
        let err = d.fails(6, args);
        assert_eq!(
            err,
            format!("error: report.cbor refused: {expect}\n"),
            "{args:?}"
        );
    };
    let mut wrong_nonce = verify_args(&m, &[]);
    let other_nonce = "ff".repeat(16);
    wrong_nonce[7] = &other_nonce;
    refuse(
        &wrong_nonce,
        &format!("nonce mismatch: expected {other_nonce}, got {NONCE}"),
    );
    let other = "ab".repeat(32);
    refuse(
        &verify_args(&other, &[]),
        &format!("measurement mismatch: expected {other}, got {m}"),
    );
    refuse(
        &verify_args(&m, &["--min-svn", "2"]),
        "svn 1 is below the minimum 2",
    );
    refuse(
        &verify_args(&m, &["--min-tcb", "4"]),
        "platform tcb 3 is below the minimum 4",
    );
    refuse(
        &verify_args(&m, &["--product-id", "2"]),
        "product id mismatch: expected 2, got 1",
    );
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let err = d.fails(6, &verify_args(&m, &["--max-age", "1s"]));
    assert!(
        err.starts_with("error: report.cbor refused: report is stale: issued "),
        "{err}"
    );

    // A debug enclave is refused unless the verifier allows debug.
    d.write("enclave.toml", b"product_id = 1\nsvn = 1\ndebug = true\n");
    d.ok(&[
        "sign",
        "--key",
        "author.key",
        "--manifest",
        "enclave.toml",
        "app.wasm",
        "-o",
        "app.enclave",
        "--force",
    ]);
    d.ok(&[
        "attest",
        "app.enclave",
        "--nonce",
        NONCE,
        "-o",
        "report.cbor",
        "--force",
    ]);
    let debug = d.ok(&["measure", "app.wasm", "--manifest", "enclave.toml"]);
    refuse(
        &verify_args(debug.trim(), &[]),
        "debug enclave not allowed: pass --allow-debug (or set allow_debug = true in the policy \
         file) to accept one (a debug enclave's memory and logs are not confidential)",
    );
    d.ok(&verify_args(debug.trim(), &["--allow-debug"]));
}

#[test]
fn verify_with_a_policy_file() {
    let d = Dir::new();
    let m = attested(&d);
    // `inspect --policy` prints a policy that accepts exactly this bundle; its roots are paths
    // relative to the policy file.
    let exact = d.ok(&["inspect", "app.enclave", "--policy"]);
    assert!(
        exact.contains(&format!("measurements = [\"{m}\"]")),
        "{exact}"
    );
    assert!(exact.contains("allow_debug = false"), "{exact}");
    std::fs::create_dir(d.path("policies")).unwrap();
    let policy = |name: &str, text: &str| {
        d.write(&format!("policies/{name}"), text.as_bytes());
        format!("policies/{name}")
    };
    let exact = policy("exact.toml", &format!("{exact}roots = [\"../root.pem\"]\n"));
    let verify = |extra: &[&str]| {
        let mut args = vec!["verify", "report.cbor", "--nonce", NONCE];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| d.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let refused = |args: Vec<String>, code: i32| {
        d.fails(code, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let out = run(verify(&["--policy", &exact, "--json"]));
    assert!(out.contains(&m), "{out}");

    // Flags override the file's keys.
    let err = refused(verify(&["--policy", &exact, "--min-svn", "2"]), 6);
    assert_eq!(
        err,
        "error: report.cbor refused: svn 1 is below the minimum 2\n"
    );
    let other = "ab".repeat(32);
    let err = refused(verify(&["--policy", &exact, "--measurement", &other]), 6);
    assert_eq!(
        err,
        format!("error: report.cbor refused: measurement mismatch: expected {other}, got {m}\n")
    );
    d.ok(&["platform", "init", "--home", "other"]);
    d.ok(&[
        "platform",
        "export-root",
        "--home",
        "other",
        "-o",
        "other-root.pem",
    ]);
    let err = refused(verify(&["--policy", &exact, "--root", "other-root.pem"]), 6);
    assert_eq!(
        err,
        "error: report.cbor refused: attestation certificate is not issued by a trusted root\n"
    );

    // Several measurements (a rolling upgrade), minimums, capabilities.
    let rolling = policy(
        "rolling.toml",
        &format!(
            "roots = [\"../root.pem\"]\nmeasurements = [\"{other}\", \"{m}\"]\nmin_tcb = 3\n\
             max_age = \"1h\"\nforbid_capabilities = [\"log\"]\n"
        ),
    );
    run(verify(&["--policy", &rolling]));
    let needs_seal = policy(
        "needs-seal.toml",
        &format!("roots = [\"../root.pem\"]\nmeasurements = [\"{m}\"]\nrequire_capabilities = [\"seal\"]\n"),
    );
    let err = refused(verify(&["--policy", &needs_seal]), 6);
    assert_eq!(
        err,
        "error: report.cbor refused: capability `seal` is required and not granted\n"
    );

    // An enclave granted `log`, refused by a policy that forbids it.
    d.write(
        "log.toml",
        b"product_id = 1\nsvn = 1\ndebug = false\ncapabilities = [\"log\"]\n",
    );
    d.ok(&[
        "sign",
        "--key",
        "author.key",
        "--manifest",
        "log.toml",
        "app.wasm",
        "-o",
        "log.enclave",
    ]);
    d.ok(&["attest", "log.enclave", "--nonce", NONCE, "-o", "log.cbor"]);
    let signer_policy = policy(
        "signer.toml",
        &d.ok(&["inspect", "log.enclave", "--policy"])
            .lines()
            .filter(|l| {
                !["measurements", "require", "forbid"]
                    .iter()
                    .any(|key| l.starts_with(key))
            })
            .map(|l| format!("{l}\n"))
            .chain(["roots = [\"../root.pem\"]\nforbid_capabilities = [\"log\"]\n".to_owned()])
            .collect::<String>(),
    );
    let err = d.fails(
        6,
        &[
            "verify",
            "log.cbor",
            "--nonce",
            NONCE,
            "--policy",
            &signer_policy,
        ],
    );
    assert_eq!(
        err,
        "error: log.cbor refused: capability `log` is granted and the policy forbids it\n"
    );
    // The flag replaces the file's list: `log` is no longer forbidden.
    d.ok(&[
        "verify",
        "log.cbor",
        "--nonce",
        NONCE,
        "--policy",
        &signer_policy,
        "--forbid-capability",
        "store",
    ]);

    // Unknown keys and bad values are refused with the file and line.
    let typo = policy(
        "typo.toml",
        "roots = [\"../root.pem\"]\nmeasurement = [\"00\"]\n",
    );
    let err = refused(verify(&["--policy", &typo]), 1);
    assert!(
        err.starts_with(&format!(
            "error: in verifier policy {typo}: invalid verifier policy: line 2, column 1: unknown field `measurement`"
        )),
        "{err}"
    );
    let no_roots = policy("no-roots.toml", &format!("measurements = [\"{m}\"]\n"));
    let err = refused(verify(&["--policy", &no_roots]), 1);
    assert_eq!(
        err,
        "error: no trusted root certificate: pass --root FILE or list `roots` in the policy file\n"
    );
    let err = d.fails(2, &["verify", "report.cbor", "--nonce", NONCE]);
    assert!(err.contains("--root <FILE>"), "{err}");
}

#[test]
fn verify_refuses_another_root_and_damaged_evidence() {
    let d = Dir::new();
    let m = attested(&d);
    // The same evidence checked against another vendor's root.
    d.ok(&["platform", "init", "--home", "other"]);
    d.ok(&[
        "platform",
        "export-root",
        "--home",
        "other",
        "-o",
        "other-root.pem",
    ]);
    let err = d.fails(
        6,
        &[
            "verify",
            "report.cbor",
            "--root",
            "other-root.pem",
            "--measurement",
            &m,
            "--nonce",
            NONCE,
        ],
    );
    assert_eq!(
        err,
        "error: report.cbor refused: attestation certificate is not issued by a trusted root\n"
    );

    let good = std::fs::read(d.path("report.cbor")).unwrap();
    let mut refused = 0;
    for i in (0..good.len()).step_by(7) {
        let mut evil = good.clone();
        evil[i] ^= 0x04;
        d.write("report.cbor", &evil);
        d.fails(6, &verify_args(&m, &[]));
        refused += 1;
    }
    for len in [0, 1, good.len() / 2, good.len() - 1] {
        d.write("report.cbor", &good[..len]);
        d.fails(6, &verify_args(&m, &[]));
    }
    let mut long = good.clone();
    long.extend_from_slice(&[0; 3]);
    d.write("report.cbor", &long);
    d.fails(6, &verify_args(&m, &[]));
    // A 100 MB file is refused from its size alone.
    std::fs::File::create(d.path("report.cbor"))
        .unwrap()
        .set_len(100 << 20)
        .unwrap();
    let err = d.fails(1, &verify_args(&m, &[]));
    assert_eq!(
        err,
        "error: evidence report.cbor is 104857600 bytes, larger than the 65536-byte limit\n"
    );
    assert!(refused > 50);
}
