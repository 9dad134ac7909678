//! `enclave new`: a guest project that builds, signs and runs as is — a native guest on the
//! SDK (`wasm32-unknown-unknown`), an ordinary WASI program (`wasm32-wasip1`), or a wasi:http
//! component (`wasm32-wasip2`) that `enclave serve` answers requests with.
//!
//! The SDK comes with the project: a copy of the one this `enclave` was built with (its host ABI
//! is this binary's), so the project builds anywhere, offline, with no checkout of this
//! repository. `--sdk PATH` uses a checkout's `guests/sdk` instead.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::exit::usage;

/// The SDK this binary was built with: its source and its manifest.
const SDK_LIB: &str = include_str!("../../../../guests/sdk/src/lib.rs");
const SDK_MANIFEST: &str = include_str!("../../../../guests/sdk/Cargo.toml");
/// The guests' source templates (`{name}` is replaced by the package name).
const NATIVE_LIB: &str = include_str!("scaffold/native_lib.rs.txt");
const WASI_MAIN: &str = include_str!("scaffold/wasi_main.rs.txt");
const HTTP_LIB: &str = include_str!("scaffold/http_lib.rs.txt");
const HTTP_COUNTER: &str = include_str!("scaffold/http_counter.rs.txt");
/// The platform's services as WIT (`enclave:platform`), as this binary's runtime links them.
const PLATFORM_WIT: &str = include_str!("../../../runtime/wit/platform.wit");

/// The Rust edition of generated projects and of the SDK copy.
const EDITION: &str = "2021";

#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The directory to create; its last component is the package name.
    path: PathBuf,
    /// An ordinary Rust program for wasm32-wasip1 (std, stdin/stdout), instead of a native
    /// guest on the SDK for wasm32-unknown-unknown.
    #[arg(long, conflicts_with = "http")]
    wasi: bool,
    /// A wasi:http component for wasm32-wasip2 (`kind = "http"`): served with `enclave serve`,
    /// it answers HTTP requests, each in a fresh instance.
    #[arg(long)]
    http: bool,
    /// Depend on the SDK at this path (a checkout's `guests/sdk`) instead of writing a copy of
    /// it into the project. Native guests only.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["wasi", "http"])]
    sdk: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What kind of guest to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Native,
    Wasi,
    Http,
}

impl Kind {
    fn target(self) -> &'static str {
        match self {
            Kind::Native => "wasm32-unknown-unknown",
            Kind::Wasi => "wasm32-wasip1",
            Kind::Http => "wasm32-wasip2",
        }
    }

    /// The module cargo builds: a `cdylib` turns `-` into `_`, a binary keeps its name.
    fn wasm_path(self, name: &str) -> String {
        let file = match self {
            Kind::Native | Kind::Http => name.replace('-', "_"),
            Kind::Wasi => name.to_owned(),
        };
        format!("target/{}/release/{file}.wasm", self.target())
    }
}

pub fn new(args: &NewArgs) -> anyhow::Result<()> {
    let name = package_name(&args.path)?;
    let kind = match (args.wasi, args.http) {
        (true, _) => Kind::Wasi,
        (_, true) => Kind::Http,
        _ => Kind::Native,
    };
    let sdk = match &args.sdk {
        Some(path) => Some(sdk_checkout(path)?),
        None => None,
    };
    refuse_nonempty(&args.path)?;
    let files = files(&name, kind, sdk.as_deref());
    for (relative, text) in &files {
        let path = args.path.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let wasm = kind.wasm_path(&name);
    if args.json {
        let json = serde_json::json!({
            "path": args.path.display().to_string(),
            "package": name,
            "kind": match kind {
                Kind::Native => "enclave",
                Kind::Wasi => "wasi",
                Kind::Http => "http",
            },
            "target": kind.target(),
            "module": wasm,
            "files": files.iter().map(|(f, _)| f).collect::<Vec<_>>(),
        });
        println!("{json:#}");
        return Ok(());
    }
    let what = match kind {
        Kind::Http => "component",
        Kind::Native | Kind::Wasi => "guest",
    };
    println!("created {} ({} {what})", args.path.display(), kind.target());
    println!();
    println!("next:");
    println!("  cd {}", args.path.display());
    for line in steps(&name, kind).lines() {
        println!("  {line}");
    }
    Ok(())
}

/// The package name: the directory's last component, which cargo must accept.
fn package_name(path: &Path) -> anyhow::Result<String> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| usage(format!("{} does not end in a name", path.display())))?;
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(usage(format!(
            "{name:?} is not a package name: use letters, digits, `-` and `_`, starting with a \
             letter"
        )));
    }
    Ok(name.to_owned())
}

/// An SDK checkout given with `--sdk`, as an absolute path.
fn sdk_checkout(path: &Path) -> anyhow::Result<String> {
    let manifest = path.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).with_context(|| {
        format!(
            "--sdk {}: cannot read {}",
            path.display(),
            manifest.display()
        )
    })?;
    anyhow::ensure!(
        text.contains("name = \"enclave-guest\""),
        "--sdk {}: {} is not the enclave-guest SDK (guests/sdk in a checkout)",
        path.display(),
        manifest.display()
    );
    let absolute = std::fs::canonicalize(path)
        .with_context(|| format!("cannot resolve {}", path.display()))?;
    absolute
        .to_str()
        .map(str::to_owned)
        .with_context(|| format!("{} is not UTF-8", absolute.display()))
}

/// Refuses to write into a directory that holds anything.
fn refuse_nonempty(path: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(path) {
        Ok(mut entries) => {
            anyhow::ensure!(
                entries.next().is_none(),
                "{} already exists and is not empty",
                path.display()
            );
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Every file of the project: its path in the project and its text.
fn files(name: &str, kind: Kind, sdk: Option<&str>) -> Vec<(String, String)> {
    let mut files = vec![
        ("Cargo.toml".to_owned(), cargo_toml(name, kind, sdk)),
        (".cargo/config.toml".to_owned(), cargo_config(kind)),
        ("enclave.toml".to_owned(), manifest(kind)),
        (
            ".gitignore".to_owned(),
            "/target\n*.key\n*.enclave\n".to_owned(),
        ),
        ("README.md".to_owned(), readme(name, kind)),
    ];
    match kind {
        Kind::Native => {
            files.push(("src/lib.rs".to_owned(), NATIVE_LIB.replace("{name}", name)));
            if sdk.is_none() {
                files.push(("enclave-guest/Cargo.toml".to_owned(), sdk_manifest()));
                files.push(("enclave-guest/src/lib.rs".to_owned(), SDK_LIB.to_owned()));
            }
        }
        Kind::Wasi => files.push(("src/main.rs".to_owned(), WASI_MAIN.replace("{name}", name))),
        Kind::Http => {
            files.push(("src/lib.rs".to_owned(), HTTP_LIB.replace("{name}", name)));
            files.push(("wit/platform.wit".to_owned(), PLATFORM_WIT.to_owned()));
            files.push(("examples/counter.rs".to_owned(), HTTP_COUNTER.to_owned()));
            files.push((
                "examples/counter.toml".to_owned(),
                http_manifest(&["store"]),
            ));
        }
    }
    files
}

fn cargo_toml(name: &str, kind: Kind, sdk: Option<&str>) -> String {
    let mut text = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"{EDITION}\"\npublish = false\n"
    );
    if kind == Kind::Native {
        let sdk = sdk.unwrap_or("enclave-guest");
        text.push_str(&format!(
            "\n# A native enclave guest is a wasm library; `enclave_guest::entry!` declares its entry point.\n\
             [lib]\ncrate-type = [\"cdylib\"]\n\n\
             [dependencies]\n\
             # The guest SDK (docs/abi.md in the enclave repository). `enclave new` wrote a copy\n\
             # matching its host ABI; to track a checkout instead: path = \"…/guests/sdk\".\n\
             enclave-guest = {{ path = {sdk:?} }}\n"
        ));
    }
    if kind == Kind::Http {
        text.push_str(HTTP_CARGO);
    }
    text.push_str(
        "\n# A project of its own, even when created inside another workspace.\n[workspace]\n\n\
         [profile.release]\n",
    );
    if kind == Kind::Native {
        text.push_str("# A panic reports its message through the SDK's hook, then ends the run.\n");
    }
    text.push_str(
        "panic = \"abort\"\nopt-level = \"s\"\nlto = true\ncodegen-units = 1\nstrip = true\n",
    );
    text
}

/// The http component's library, dependencies and example.
const HTTP_CARGO: &str = "\n# A wasi:http component is a wasm library: for wasm32-wasip2, rustc links it into a component.\n\
     [lib]\ncrate-type = [\"cdylib\"]\n\n\
     [dependencies]\n\
     # The WASI 0.2 bindings (the wasi:http/proxy world), generated by wit-bindgen.\n\
     wasi = \"0.14\"\n\n\
     [dev-dependencies]\n\
     # examples/counter.rs: bindings to the enclave's platform services (wit/platform.wit).\n\
     wit-bindgen = \"0.57\"\n\n\
     # `cargo build --release --example counter`: a component of its own.\n\
     [[example]]\nname = \"counter\"\ncrate-type = [\"cdylib\"]\n";

fn cargo_config(kind: Kind) -> String {
    format!(
        "# `cargo build --release` builds for the enclave (`rustup target add {target}` once).\n\
         [build]\ntarget = \"{target}\"\n",
        target = kind.target()
    )
}

fn manifest(kind: Kind) -> String {
    let (kind_lines, capabilities) = match kind {
        Kind::Http => return http_manifest(&[]),
        Kind::Native => (
            "",
            "# Input and output need no capability. Others: \"random\", \"log\", \"report\", \"seal\",\n\
             # \"store\" (docs/abi.md).\n",
        ),
        Kind::Wasi => (
            "# A WASI preview 1 command: stdin is the input, stdout the output (docs/wasi.md).\n\
             kind = \"wasi\"\n# argv[1..] (argv[0] is \"enclave\"); measured like everything here.\nargs = []\n",
            "# stdio needs no capability. Others: \"random\" (Rust's HashMap needs it),\n\
             # \"clock-monotonic\" (Instant), \"clock-wall\" (SystemTime).\n",
        ),
    };
    format!(
        "# The enclave's manifest: signed with the module and covered by its measurement, so any\n\
         # change here is a different enclave. Unknown keys are errors.\n\
         product_id = 1\n\
         svn = 1          # raise it with every security fix\n\
         # A debug enclave's logs and failure messages reach the operator, and relying parties\n\
         # refuse it unless they pass --allow-debug.\n\
         debug = false\n\
         {kind_lines}{capabilities}capabilities = []\n\n\
         [limits]         # every limit is enforced; omitted ones take their defaults\n\
         memory_bytes = 16777216      # 16 MiB of linear memory\n\
         fuel = 1000000000            # about a billion wasm instructions\n\
         timeout_ms = 10000\n\
         max_input_bytes = 16777216\n\
         max_output_bytes = 1048576\n\
         stack_bytes = 524288         # 512 KiB of wasm stack\n"
    )
}

/// An http component's manifest granting `capabilities`: a debug enclave, as a first
/// project is one (`enclave proxy --allow-debug` accepts it).
fn http_manifest(capabilities: &[&str]) -> String {
    let granted: Vec<String> = capabilities.iter().map(|c| format!("{c:?}")).collect();
    format!(
        "# The enclave's manifest: signed with the component and covered by its measurement, so\n\
         # any change here is a different enclave. Unknown keys are errors.\n\
         product_id = 1\n\
         svn = 1          # raise it with every security fix\n\
         # A debug enclave's failure messages reach the operator, and relying parties refuse it\n\
         # unless they pass --allow-debug. Set it to false for production.\n\
         debug = true\n\
         # A wasi:http/proxy component: each request is answered by a fresh instance.\n\
         kind = \"http\"\n\
         # The wasi:http/proxy world needs no capability. Others: \"random\", \"clock-monotonic\",\n\
         # \"clock-wall\", and the platform's services (wit/platform.wit): \"report\", \"seal\",\n\
         # \"store\" (docs/abi.md, \"Components\").\n\
         capabilities = [{granted}]\n\n\
         [limits]         # per request; omitted ones take their defaults\n\
         memory_bytes = 16777216      # 16 MiB over all the component's memories\n\
         fuel = 1000000000            # about a billion wasm instructions\n\
         timeout_ms = 10000\n\
         max_input_bytes = 1048576    # the request body\n\
         max_output_bytes = 1048576   # the response body\n\
         stack_bytes = 524288         # 512 KiB of wasm stack\n",
        granted = granted.join(", ")
    )
}

/// The SDK's own manifest, standing alone: the workspace keys of `guests/` written out.
fn sdk_manifest() -> String {
    let mut text = String::from(
        "# A copy of the enclave guest SDK written by `enclave new` (guests/sdk in the enclave\n\
         # repository), matching the host ABI of the `enclave` that wrote it.\n",
    );
    let mut skip_lints = false;
    for line in SDK_MANIFEST.lines() {
        if line.starts_with('[') {
            skip_lints = line == "[lints]";
        }
        let line = match line {
            _ if skip_lints => continue,
            "version.workspace = true" => "version = \"0.1.0\"".to_owned(),
            "edition.workspace = true" => format!("edition = \"{EDITION}\""),
            "rust-version.workspace = true" => continue,
            "license.workspace = true" => "license = \"Apache-2.0\"".to_owned(),
            "publish.workspace = true" => "publish = false".to_owned(),
            other => other.to_owned(),
        };
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// Build, sign and run (serve and call, for a component), as shell lines.
fn steps(name: &str, kind: Kind) -> String {
    if kind == Kind::Http {
        return http_steps(name);
    }
    format!(
        "rustup target add {target}\n\
         cargo build --release\n\
         enclave keygen -o author.key\n\
         enclave sign {wasm} --key author.key --manifest enclave.toml -o {name}.enclave\n\
         echo 'hello from the enclave' | enclave run {name}.enclave --trusted-signer author.pub\n",
        target = kind.target(),
        wasm = kind.wasm_path(name),
    )
}

/// Build, sign, serve over attested TLS, and call through the verifying proxy with curl.
fn http_steps(name: &str) -> String {
    format!(
        "rustup target add {target}\n\
         cargo build --release\n\
         enclave keygen -o author.key\n\
         enclave sign {wasm} --key author.key --manifest enclave.toml -o {name}.enclave\n\
         enclave platform init                      # once: the simulated platform\n\
         enclave platform export-root -o root.pem   # the vendor root a client pins\n\
         enclave serve {name}.enclave --tls --listen 127.0.0.1:8443 &\n\
         enclave proxy https://127.0.0.1:8443 --root root.pem --measurement-from {name}.enclave \\\n    \
         --allow-debug --listen 127.0.0.1:8080 &\n\
         curl http://127.0.0.1:8080/\n\
         curl --data-binary 'echo me' http://127.0.0.1:8080/echo\n",
        target = Kind::Http.target(),
        wasm = Kind::Http.wasm_path(name),
    )
}

fn readme(name: &str, kind: Kind) -> String {
    if kind == Kind::Http {
        return http_readme(name);
    }
    let what = match kind {
        Kind::Native => "a native enclave guest on the `enclave-guest` SDK (`src/lib.rs`)",
        Kind::Wasi | Kind::Http => "an ordinary Rust program for WASI preview 1 (`src/main.rs`)",
    };
    format!(
        "# {name}\n\n{what}, created by `enclave new`. Build, sign and run it:\n\n```sh\n{steps}```\n\n\
         `enclave.toml` is its manifest: limits and capabilities, signed and measured with the\n\
         module. `enclave measure {wasm} --manifest enclave.toml` prints the measurement a relying\n\
         party pins; `enclave inspect {name}.enclave` shows what the bundle holds.\n",
        steps = steps(name, kind),
        wasm = kind.wasm_path(name),
    )
}

fn http_readme(name: &str) -> String {
    format!(
        "# {name}\n\n\
         A WASI 0.2 HTTP component (`src/lib.rs`, the `wasi:http/proxy` world), created by\n\
         `enclave new --http`. `enclave serve` answers every request with a fresh instance of it,\n\
         under the limits in `enclave.toml`. Build, sign, serve over attested TLS, and call it\n\
         with curl through `enclave proxy`, which checks the enclave's attested certificate\n\
         (its measurement, its vendor root) before any request goes through:\n\n\
         ```sh\n{steps}```\n\n\
         `enclave serve` without `--tls` needs `--allow-plaintext`: the requests and responses are\n\
         the enclave's inputs and outputs. The server's own routes (health, evidence, metrics) are\n\
         under `/.well-known/enclave/`; every other path is the component's.\n\n\
         `enclave.toml` is its manifest: limits and capabilities, signed and measured with the\n\
         component (`enclave measure {wasm} --manifest enclave.toml` prints the measurement a\n\
         client pins). It is a debug enclave, so the proxy needs `--allow-debug`; set\n\
         `debug = false` for production.\n\n\
         ## The platform's services\n\n\
         `wit/platform.wit` is the enclave's own WIT package (`enclave:platform`): attestation\n\
         evidence, sealing, and a sealed store with rollback protection, each behind its\n\
         capability. `examples/counter.rs` keeps a counter in the store through bindings\n\
         wit-bindgen generates from it:\n\n\
         ```sh\n\
         cargo build --release --example counter\n\
         enclave sign {target_dir}/examples/counter.wasm --key author.key \\\n    \
         --manifest examples/counter.toml -o counter.enclave\n\
         ```\n",
        steps = http_steps(name),
        wasm = Kind::Http.wasm_path(name),
        target_dir = format_args!("target/{}/release", Kind::Http.target()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_copy_stands_alone() {
        let manifest = sdk_manifest();
        assert!(!manifest.contains("workspace"), "{manifest}");
        assert!(manifest.contains("name = \"enclave-guest\""), "{manifest}");
        assert!(manifest.contains("[features]"), "{manifest}");
    }

    #[test]
    fn http_manifests_are_debug_http_enclaves_granting_what_they_name() {
        let plain = attest::Manifest::from_toml(&manifest(Kind::Http)).unwrap();
        assert_eq!(plain.kind, attest::GuestKind::Http);
        assert!(plain.debug && plain.capabilities.is_empty() && plain.args.is_empty());
        let counter = attest::Manifest::from_toml(&http_manifest(&["store"])).unwrap();
        assert_eq!(
            counter.capabilities.into_iter().collect::<Vec<_>>(),
            [attest::Capability::Store]
        );
    }

    #[test]
    fn package_names() {
        assert_eq!(package_name(Path::new("a/my-guest")).unwrap(), "my-guest");
        assert!(package_name(Path::new("1guest")).is_err());
        assert!(package_name(Path::new("my guest")).is_err());
    }
}
