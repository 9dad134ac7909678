//! The compile budget: the `--compile-cpu-seconds` and `--compile-memory` flags of the commands
//! that compile a module, and the hidden `compile-sandbox` subcommand that those commands run as
//! a child process to compile under the budget (`enclave_platform::compiler`).

use std::path::Path;

use anyhow::Context as _;
use enclave_platform::compiler::{
    serve_child, ChildCompiler, ChildError, CompileBudget, DEFAULT_CPU_SECONDS,
    DEFAULT_MEMORY_BYTES,
};

use super::platform::HomeArg;

/// The name of the hidden subcommand.
const SUBCOMMAND: &str = "compile-sandbox";

/// The budget every compilation of an untrusted module gets (docs/threat-model.md).
#[derive(Debug, Clone, clap::Args)]
pub struct CompileBudgetArgs {
    /// CPU seconds one compilation of the module may use; the kernel stops it there (exit 4).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_CPU_SECONDS)]
    compile_cpu_seconds: u64,
    /// Address space one compilation may use, in bytes or with a K, M or G suffix (powers of
    /// 1024); the kernel refuses more (exit 4).
    #[arg(long, value_name = "BYTES", default_value = "2G", value_parser = parse_bytes)]
    compile_memory: u64,
}

impl Default for CompileBudgetArgs {
    fn default() -> Self {
        Self {
            compile_cpu_seconds: DEFAULT_CPU_SECONDS,
            compile_memory: DEFAULT_MEMORY_BYTES,
        }
    }
}

impl CompileBudgetArgs {
    /// The compiler that runs this executable's `compile-sandbox` under the budget; with a
    /// platform `home`, every process of that platform takes turns.
    pub fn compiler(&self, home: Option<&Path>) -> anyhow::Result<ChildCompiler> {
        let budget = CompileBudget::new(self.compile_cpu_seconds, self.compile_memory)
            .map_err(|e| super::exit::usage(e.to_string()))?;
        let program = std::env::current_exe().context("cannot find the enclave executable")?;
        Ok(ChildCompiler::new(
            program,
            vec![SUBCOMMAND.into()],
            budget,
            home,
        ))
    }

    /// As [`CompileBudgetArgs::compiler`] for the commands without `--home` of their own
    /// (`sign`, `inspect`): they take turns with the platform of the default home (`--home`
    /// before the subcommand, `$ENCLAVE_HOME`, …) when there is one there, else per process.
    pub fn compiler_for_default_home(&self) -> anyhow::Result<ChildCompiler> {
        let home = HomeArg::default()
            .resolve()
            .ok()
            .filter(|home| home.join(enclave_platform::file::CONFIG).exists());
        self.compiler(home.as_deref())
    }
}

/// `K`, `M`, `G` (powers of 1024) or plain bytes.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let units = [('K', 10), ('M', 20), ('G', 30)];
    let (digits, shift) = units
        .iter()
        .find_map(|&(unit, shift)| {
            text.strip_suffix(unit)
                .or_else(|| text.strip_suffix(unit.to_ascii_lowercase()))
                .map(|digits| (digits, shift))
        })
        .unwrap_or((text, 0));
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("not a size in bytes: {text:?} (e.g. 2G, 512M)"))?;
    value
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("size too large: {text}"))
}

/// The hidden subcommand's flags: the budget, as the parent gives it.
#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    /// The CPU budget, in seconds.
    #[arg(long)]
    cpu_seconds: u64,
    /// The address-space budget, in bytes.
    #[arg(long)]
    memory_bytes: u64,
}

/// Compiles the request on standard input under the budget, the reply to standard output. A
/// module that does not compile ends the process with `EXIT_REFUSED` and the reason alone on
/// standard error, as `ChildCompiler` reads it.
pub fn sandbox(args: &SandboxArgs) -> anyhow::Result<()> {
    let budget = CompileBudget::new(args.cpu_seconds, args.memory_bytes)
        .map_err(|e| super::exit::usage(e.to_string()))?;
    let output = std::io::stdout().lock();
    if let Err(error) = serve_child(budget, std::io::stdin().lock(), output) {
        let message = match &error {
            ChildError::Serve(serve) => serve.refusal(),
            other => other.to_string(),
        };
        eprintln!("{message}");
        std::process::exit(error.exit_code());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_bytes("2G"), Ok(2 << 30));
        assert_eq!(parse_bytes("512M"), Ok(512 << 20));
        assert_eq!(parse_bytes("64k"), Ok(64 << 10));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert!(parse_bytes("2X").is_err());
        assert!(parse_bytes("").is_err());
        assert!(parse_bytes("99999999999999999G").is_err());
    }
}
