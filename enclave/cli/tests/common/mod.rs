//! Shared helpers of the CLI golden tests: a temporary directory to run `enclave` in.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::io::BufRead as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The manifest `Dir::new` writes as `enclave.toml`.
pub const MANIFEST: &str = "product_id = 1\nsvn = 1\ndebug = false\n[limits]\nfuel = 1000000\n";

/// An echo guest: copies up to 4 KiB of input to the output.
pub const ECHO: &str = r#"(module
    (import "enclave_v1" "read_input" (func $read (param i32 i32) (result i32)))
    (import "enclave_v1" "write_output" (func $write (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "enclave_main")
        (local $n i32)
        (local.set $n (call $read (i32.const 1024) (i32.const 4096)))
        (drop (call $write (i32.const 1024) (local.get $n)))))"#;

pub struct Dir {
    pub dir: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Self {
        let dir = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        dir.write("enclave.toml", MANIFEST.as_bytes());
        dir
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.path(name), bytes).unwrap();
    }

    pub fn wat(&self, name: &str, wat: &str) {
        self.write(name, &wat::parse_str(wat).unwrap());
    }

    pub fn enclave(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_enclave"))
            .args(args)
            .current_dir(self.dir.path())
            // Each test has its own platform, never the user's.
            .env("ENCLAVE_HOME", self.path("platform"))
            .output()
            .unwrap()
    }

    /// Runs and requires success, returning stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.enclave(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and requires exit `code`, returning stderr. Standard output must be empty, or with
    /// `--json` hold exactly the error object (docs/cli.md, "Errors as JSON").
    pub fn fails(&self, code: i32, args: &[&str]) -> String {
        let out = self.enclave(args);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        if args.contains(&"--json") {
            let error: serde_json::Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{args:?}: no JSON error object on stdout: {e}"));
            assert_error_object(&error, code, &stderr);
        } else {
            assert!(
                out.stdout.is_empty(),
                "{args:?} printed to stdout on failure"
            );
        }
        stderr
    }

    pub fn signed(&self, wat: &str) {
        self.ok(&["keygen", "--out", "author.key"]);
        self.wat("app.wasm", wat);
        self.ok(&[
            "sign",
            "--key",
            "author.key",
            "--manifest",
            "enclave.toml",
            "app.wasm",
            "-o",
            "app.enclave",
        ]);
    }
}

pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The nonce the confidential CLI tests attest and seal with.
pub const NONCE: &str = "0123456789abcdef0123456789abcdef";

/// `enclave seal` of `input` to the measurement `m`, with `nonce`, to `out`.
pub fn seal_args<'a>(m: &'a str, nonce: &'a str, input: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "seal",
        "--report",
        "report.cbor",
        "--root",
        "root.pem",
        "--measurement",
        m,
        "--nonce",
        nonce,
        "--input",
        input,
        "-o",
        out,
    ]
}

/// A platform (`root.pem` exported), the enclave `wat` signed as `app.enclave` with
/// `enclave.toml`, its evidence `report.cbor`, and `plaintext` written to `name` and sealed to
/// its measurement as `input.sealed` (context `input.sealed.context`). Returns the measurement.
pub fn sealed_to(d: &Dir, wat: &str, name: &str, plaintext: &[u8]) -> String {
    let m = attested(d, wat);
    d.write(name, plaintext);
    d.ok(&seal_args(&m, NONCE, name, "input.sealed"));
    m
}

/// A platform (`root.pem` exported), the enclave `wat` signed as `app.enclave` with
/// `enclave.toml`, and its evidence for [`NONCE`] as `report.cbor`. Returns the measurement.
pub fn attested(d: &Dir, wat: &str) -> String {
    d.ok(&["platform", "init"]);
    d.ok(&["platform", "export-root", "-o", "root.pem"]);
    d.signed(wat);
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

/// `enclave open` of `output.sealed` with `receipt.cbor` and `input.sealed.context` to
/// `result.txt`, as the confidential tests write them.
pub const OPEN: &[&str] = &[
    "open",
    "output.sealed",
    "--receipt",
    "receipt.cbor",
    "--context",
    "input.sealed.context",
    "--root",
    "root.pem",
    "-o",
    "result.txt",
];

/// `error` is the JSON error object of a failure with exit `code` whose message `stderr` shows.
pub fn assert_error_object(error: &serde_json::Value, code: i32, stderr: &str) {
    let kind = match code {
        1 => "failure",
        2 => "usage",
        3 => "bundle-refused",
        4 => "module-refused",
        5 => "guest-failed",
        6 => "evidence-refused",
        7 => "sealed-data-refused",
        8 => "guest-exited",
        9 => "input-refused",
        other => panic!("undocumented exit code {other}"),
    };
    assert_eq!(error["error"], kind, "{error}");
    assert_eq!(error["exit_code"], code, "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(stderr.contains(message), "{message:?} not in {stderr:?}");
    let mut keys: Vec<_> = error.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "error",
            "exit_code",
            "failure",
            "message",
            "outcome",
            "receipt",
            "report"
        ]
    );
}

/// A running `enclave` process (`serve`, `proxy`) that printed `listening on URL` as its first
/// line, killed when dropped.
pub struct Listening {
    /// The process.
    pub child: Child,
    /// What it listens on, `http://…` or `https://…`.
    pub url: String,
}

impl Listening {
    /// Starts `enclave ARGS...` in `d` (its platform as `ENCLAVE_HOME`, standard error discarded)
    /// and waits for its first line.
    pub fn start(d: &Dir, args: &[&str]) -> Self {
        Self::start_with(d, args, Stdio::null())
    }

    /// [`Listening::start`] with standard error written to the file `log` in `d`.
    pub fn start_logged(d: &Dir, args: &[&str], log: &str) -> Self {
        let file = std::fs::File::create(d.path(log)).unwrap();
        Self::start_with(d, args, file.into())
    }

    fn start_with(d: &Dir, args: &[&str], stderr: Stdio) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_enclave"))
            .args(args)
            .current_dir(d.dir.path())
            .env("ENCLAVE_HOME", d.path("platform"))
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self { child, url }
    }
}

impl Listening {
    /// Sends SIGTERM (a clean stop: the server drains) and waits for the exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        self.child.wait().unwrap()
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cargo build --release --offline` in `project`, isolated from the outer build's settings.
pub fn cargo_build(d: &Dir, project: &str) {
    cargo_build_with(d, project, &[]);
}

/// [`cargo_build`] with more arguments (`--example NAME`).
pub fn cargo_build_with(d: &Dir, project: &str, args: &[&str]) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--offline", "--quiet"])
        .args(args)
        .current_dir(d.path(project));
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_MAKEFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "cargo build in {project}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
