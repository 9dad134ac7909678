//! Sealed storage from the command line: a guest seals a blob; `enclave unseal` opens it for a
//! debug enclave only; `platform counters` shows the store counters.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use common::Dir;

/// Seals its input (up to 1 KiB) under the measurement policy with the AAD "aad", and writes
/// the blob to its output.
const SEALER: &str = r#"(module
    (import "enclave_v1" "read_input" (func $read (param i32 i32) (result i32)))
    (import "enclave_v1" "write_output" (func $write (param i32 i32) (result i32)))
    (import "enclave_v1" "seal" (func $seal (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "aad")
    (func (export "enclave_main")
        (local $n i32) (local $len i32)
        (local.set $n (call $read (i32.const 1024) (i32.const 1024)))
        (local.set $len (call $seal (i32.const 0) (i32.const 0) (i32.const 3)
            (i32.const 1024) (local.get $n) (i32.const 4096) (i32.const 8192)))
        (drop (call $write (i32.const 4096) (local.get $len)))))"#;

fn sealed_blob(d: &Dir, debug: bool) {
    d.write(
        "enclave.toml",
        format!("product_id = 1\nsvn = 1\ndebug = {debug}\ncapabilities = [\"seal\"]\n").as_bytes(),
    );
    d.ok(&["platform", "init"]);
    d.signed(SEALER);
    d.write("secret.txt", b"sealed secret");
    d.ok(&[
        "run",
        "app.enclave",
        "--input",
        "secret.txt",
        "--output",
        "blob.bin",
    ]);
    let blob = std::fs::read(d.path("blob.bin")).unwrap();
    assert_eq!(blob.len(), 104 + 3 + 13);
    assert!(!blob.windows(6).any(|w| w == b"secret"));
}

#[test]
fn unseal_opens_a_debug_enclaves_blob() {
    let d = Dir::new();
    sealed_blob(&d, true);
    let out = d.ok(&["unseal", "blob.bin", "--bundle", "app.enclave", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let text = json.to_string();
    assert!(text.contains(&hex_of(b"sealed secret")), "{text}");
    assert!(text.contains(&hex_of(b"aad")), "{text}");
}

#[test]
fn unseal_refuses_production_enclaves() {
    let d = Dir::new();
    sealed_blob(&d, false);
    let err = d.fails(7, &["unseal", "blob.bin", "--bundle", "app.enclave"]);
    assert!(
        err.ends_with(
            "refusing to unseal for a production enclave: only debug enclaves (debug = true) can \
             be inspected, as in SGX debug mode\n"
        ),
        "{err}"
    );
}

#[test]
fn platform_counters_start_empty() {
    let d = Dir::new();
    d.ok(&["platform", "init"]);
    let out = d.ok(&["platform", "counters", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(json.is_array() || json.is_object(), "{out}");
}

/// Puts "blue" under "colour" in its store, then "red" under "other".
const STORER: &str = r#"(module
    (import "enclave_v1" "store_put" (func $put (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "colour")
    (data (i32.const 16) "blue")
    (data (i32.const 32) "other")
    (data (i32.const 48) "red")
    (func (export "enclave_main")
        (drop (call $put (i32.const 0) (i32.const 6) (i32.const 16) (i32.const 4)))
        (drop (call $put (i32.const 32) (i32.const 5) (i32.const 48) (i32.const 3)))))"#;

#[test]
fn unseal_and_counters_show_the_store() {
    let d = Dir::new();
    d.write(
        "enclave.toml",
        b"product_id = 1\nsvn = 1\ndebug = true\ncapabilities = [\"store\"]\n",
    );
    d.ok(&["platform", "init"]);
    d.signed(STORER);
    d.write("empty", b"");
    d.ok(&["run", "app.enclave", "--input", "empty"]);
    // Without a file argument, the enclave's own store, checked whole.
    let out = d.ok(&["unseal", "--bundle", "app.enclave", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["kind"], "sealed store state", "{out}");
    assert_eq!(json["version"], 2, "{out}");
    assert_eq!(json["counter"], 2, "{out}");
    assert_eq!(json["entries"][hex_of(b"colour")], hex_of(b"blue"), "{out}");
    assert_eq!(json["entries"][hex_of(b"other")], hex_of(b"red"), "{out}");
    let out = d.ok(&["platform", "counters", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json[0]["counter"], 2, "{out}");
    assert_eq!(json[0]["state_version"], 2, "{out}");
    assert_eq!(json[0]["status"], "ok", "{out}");
    // The counter moved on without the store: the store is rolled back, as both commands say.
    let counters = d.path("platform").join("counters");
    let counter = std::fs::read_dir(&counters)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&counter, b"3\n").unwrap();
    let out = d.ok(&["platform", "counters", "--json"]);
    assert!(out.contains("rolled back"), "{out}");
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Copies a directory tree (a backup of the platform home, as an operator would take one).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// TCB recovery end to end: a blob sealed at TCB 1 opens after `platform upgrade --tcb 2`, the
/// evidence then reports TCB 2, and the platform restored from a backup taken at TCB 1 neither
/// opens a blob sealed at TCB 2 nor passes `verify --min-tcb 2`.
#[test]
fn tcb_upgrade_keeps_old_blobs_and_a_restored_platform_is_refused() {
    let d = Dir::new();
    sealed_blob(&d, true);
    std::fs::rename(d.path("blob.bin"), d.path("at1.bin")).unwrap();
    copy_tree(&d.path("platform"), &d.path("backup"));

    let out = d.ok(&["platform", "upgrade", "--tcb", "2"]);
    assert!(
        out.starts_with("platform upgraded from TCB 1 to TCB 2\n"),
        "{out}"
    );
    let show: serde_json::Value =
        serde_json::from_str(&d.ok(&["platform", "show", "--json"])).unwrap();
    assert_eq!(show["tcb"], 2);
    let opened = d.ok(&["unseal", "at1.bin", "--bundle", "app.enclave", "--json"]);
    assert!(opened.contains(&hex_of(b"sealed secret")), "{opened}");
    d.ok(&[
        "run",
        "app.enclave",
        "--input",
        "secret.txt",
        "--output",
        "at2.bin",
    ]);

    let nonce = "00112233445566778899aabbccddeeff";
    let verify_min_tcb_2 = [
        "verify",
        "report.cbor",
        "--root",
        "root.pem",
        "--measurement",
        "",
        "--nonce",
        nonce,
        "--min-tcb",
        "2",
        "--allow-debug",
    ];
    let measurement = d
        .ok(&["measure", "app.wasm", "--manifest", "enclave.toml"])
        .trim()
        .to_owned();
    let mut verify = verify_min_tcb_2;
    verify[5] = &measurement;
    d.ok(&["platform", "export-root", "-o", "root.pem"]);
    d.ok(&[
        "attest",
        "app.enclave",
        "--nonce",
        nonce,
        "-o",
        "report.cbor",
    ]);
    d.ok(&verify);

    // The operator restores the home from the backup taken at TCB 1.
    std::fs::rename(d.path("platform"), d.path("upgraded")).unwrap();
    std::fs::rename(d.path("backup"), d.path("platform")).unwrap();
    let opened = d.ok(&["unseal", "at1.bin", "--bundle", "app.enclave", "--json"]);
    assert!(opened.contains(&hex_of(b"sealed secret")), "{opened}");
    let err = d.fails(7, &["unseal", "at2.bin", "--bundle", "app.enclave"]);
    assert_eq!(
        err,
        "error: cannot unseal at2.bin: sealed blob refused: sealed at TCB 2; this platform is at \
         TCB 1\n"
    );
    d.ok(&[
        "attest",
        "app.enclave",
        "--nonce",
        nonce,
        "-o",
        "report.cbor",
        "--force",
    ]);
    let err = d.fails(6, &verify);
    assert_eq!(
        err,
        "error: report.cbor refused: platform tcb 1 is below the minimum 2\n"
    );

    // Upgrades only go up.
    std::fs::rename(d.path("platform"), d.path("restored")).unwrap();
    std::fs::rename(d.path("upgraded"), d.path("platform")).unwrap();
    let err = d.fails(1, &["platform", "upgrade", "--tcb", "2"]);
    assert!(
        err.contains("the platform is already at TCB 2; an upgrade goes to a higher level"),
        "{err}"
    );
}

/// A fleet platform has no vendor key at home: the upgrade asks for it.
#[test]
fn tcb_upgrade_of_a_fleet_platform_needs_the_fleet_key() {
    let d = Dir::new();
    d.ok(&["platform", "init", "--home", "fleet-root"]);
    let root = d.path("fleet-root");
    let key = root.join("vendor-root.key");
    let cert = root.join("vendor-root.pem");
    let (key, cert) = (key.to_str().unwrap(), cert.to_str().unwrap());
    d.ok(&[
        "platform",
        "init",
        "--vendor-key",
        key,
        "--vendor-cert",
        cert,
    ]);
    let err = d.fails(2, &["platform", "upgrade", "--tcb", "2"]);
    assert!(
        err.contains("belongs to a fleet") && err.contains("--vendor-key"),
        "{err}"
    );
    let out = d.ok(&[
        "platform",
        "upgrade",
        "--tcb",
        "3",
        "--vendor-key",
        key,
        "--vendor-cert",
        cert,
    ]);
    assert!(
        out.starts_with("platform upgraded from TCB 1 to TCB 3\n"),
        "{out}"
    );
    d.ok(&["platform", "init", "--home", "other-root"]);
    let other = d.path("other-root");
    let other_key = other.join("vendor-root.key");
    let other_cert = other.join("vendor-root.pem");
    let err = d.fails(
        1,
        &[
            "platform",
            "upgrade",
            "--tcb",
            "4",
            "--vendor-key",
            other_key.to_str().unwrap(),
            "--vendor-cert",
            other_cert.to_str().unwrap(),
        ],
    );
    assert!(
        err.contains("the vendor root given is not the one that certified this platform"),
        "{err}"
    );
}

/// Chooses by the first input byte: `T` writes `tcb_level()` (i64 LE); `S` seals the rest of
/// its input with `seal`, a digit `k` with `seal_at(k)`, both under the measurement policy with
/// the AAD "aad", and writes the status (i32 LE) followed by the blob when there is one.
const LEVEL_SEALER: &str = r#"(module
    (import "enclave_v1" "read_input" (func $read (param i32 i32) (result i32)))
    (import "enclave_v1" "write_output" (func $write (param i32 i32) (result i32)))
    (import "enclave_v1" "seal" (func $seal (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
    (import "enclave_v1" "seal_at"
        (func $seal_at (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
    (import "enclave_v1" "tcb_level" (func $tcb_level (result i64)))
    (memory (export "memory") 1)
    (data (i32.const 0) "aad")
    (func (export "enclave_main")
        (local $n i32) (local $mode i32) (local $len i32)
        (local.set $n (call $read (i32.const 1024) (i32.const 1024)))
        (local.set $mode (i32.load8_u (i32.const 1024)))
        (if (i32.eq (local.get $mode) (i32.const 84))
            (then
                (i64.store (i32.const 4088) (call $tcb_level))
                (drop (call $write (i32.const 4088) (i32.const 8)))
                (return)))
        (local.set $len
            (if (result i32) (i32.eq (local.get $mode) (i32.const 83))
                (then (call $seal (i32.const 0) (i32.const 0) (i32.const 3)
                    (i32.const 1025) (i32.sub (local.get $n) (i32.const 1))
                    (i32.const 4096) (i32.const 8192)))
                (else (call $seal_at (i32.const 0) (i32.sub (local.get $mode) (i32.const 48))
                    (i32.const 0) (i32.const 3)
                    (i32.const 1025) (i32.sub (local.get $n) (i32.const 1))
                    (i32.const 4096) (i32.const 8192)))))
        (i32.store (i32.const 4092) (local.get $len))
        (drop (call $write (i32.const 4092) (i32.add (i32.const 4)
            (select (local.get $len) (i32.const 0) (i32.gt_s (local.get $len) (i32.const 0))))))))"#;

/// Runs [`LEVEL_SEALER`] on `input`; its output.
fn level_sealer(d: &Dir, input: &[u8]) -> Vec<u8> {
    d.write("in.bin", input);
    d.ok(&[
        "run",
        "app.enclave",
        "--input",
        "in.bin",
        "--output",
        "out.bin",
        "--force",
    ]);
    std::fs::read(d.path("out.bin")).unwrap()
}

/// Runs [`LEVEL_SEALER`] in mode `T`: the platform's TCB level as the guest sees it.
fn guest_tcb_level(d: &Dir) -> i64 {
    i64::from_le_bytes(level_sealer(d, b"T").try_into().unwrap())
}

/// Runs [`LEVEL_SEALER`] to seal `text` (`mode` `S` or a level) into `file`; the status.
fn guest_seal(d: &Dir, mode: u8, text: &[u8], file: &str) -> i32 {
    let out = level_sealer(d, &[&[mode], text].concat());
    let (status, blob) = out.split_at(4);
    let status = i32::from_le_bytes(status.try_into().unwrap());
    assert_eq!(usize::try_from(status).unwrap_or(0), blob.len());
    std::fs::write(d.path(file), blob).unwrap();
    status
}

/// Migration across a TCB upgrade, from the guest's side: on a platform upgraded to TCB 2, a
/// guest sees level 2 and seals at level 1 with `seal_at`; that blob opens on the home restored
/// to TCB 1 (a peer or a rollback window not upgraded yet), the blob of a plain `seal` does not,
/// and `seal_at(3)` is `ERR_POLICY`.
#[test]
fn a_guest_seals_at_an_older_tcb_level_for_a_platform_not_yet_upgraded() {
    let d = Dir::new();
    d.write(
        "enclave.toml",
        b"product_id = 1\nsvn = 1\ndebug = true\ncapabilities = [\"seal\"]\n",
    );
    d.ok(&["platform", "init"]);
    d.signed(LEVEL_SEALER);
    copy_tree(&d.path("platform"), &d.path("backup"));
    assert_eq!(guest_tcb_level(&d), 1);
    d.ok(&["platform", "upgrade", "--tcb", "2"]);

    assert_eq!(guest_tcb_level(&d), 2);
    let at1 = guest_seal(&d, b'1', b"for tcb one", "at1.bin");
    assert_eq!(at1, 104 + 3 + 11);
    let plain = guest_seal(&d, b'S', b"plain seal", "plain.bin");
    assert_eq!(plain, 104 + 3 + 10);
    // The level each blob names (docs/formats.md, "Sealed blob": u32 BE at offset 10).
    let level = |file: &str| std::fs::read(d.path(file)).unwrap()[10..14].to_vec();
    assert_eq!(level("at1.bin"), [0, 0, 0, 1]);
    assert_eq!(level("plain.bin"), [0, 0, 0, 2]);
    let err_policy = -5;
    assert_eq!(guest_seal(&d, b'3', b"too new", "at3.bin"), err_policy);
    assert_eq!(std::fs::read(d.path("at3.bin")).unwrap(), b"");
    // The upgraded platform opens both.
    for (file, text) in [
        ("at1.bin", &b"for tcb one"[..]),
        ("plain.bin", b"plain seal"),
    ] {
        let opened = d.ok(&["unseal", file, "--bundle", "app.enclave", "--json"]);
        assert!(opened.contains(&hex_of(text)), "{file}: {opened}");
    }

    // The operator restores the home from the backup taken at TCB 1.
    std::fs::rename(d.path("platform"), d.path("upgraded")).unwrap();
    std::fs::rename(d.path("backup"), d.path("platform")).unwrap();
    assert_eq!(guest_tcb_level(&d), 1);
    let opened = d.ok(&["unseal", "at1.bin", "--bundle", "app.enclave", "--json"]);
    assert!(opened.contains(&hex_of(b"for tcb one")), "{opened}");
    let err = d.fails(7, &["unseal", "plain.bin", "--bundle", "app.enclave"]);
    assert_eq!(
        err,
        "error: cannot unseal plain.bin: sealed blob refused: sealed at TCB 2; this platform is \
         at TCB 1\n"
    );
    // Here level 2 is the one above the platform's.
    assert_eq!(guest_seal(&d, b'2', b"too new", "at2.bin"), err_policy);
}
