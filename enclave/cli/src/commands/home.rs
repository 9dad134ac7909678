//! `--home`: where the simulated platform lives, for every command that uses it.

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::Context as _;
use enclave_platform::Platform;

/// Where the platform lives: `--home`, else `$ENCLAVE_HOME`, else `$XDG_DATA_HOME/enclave`, else
/// `~/.local/share/enclave`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HomeArg {
    /// The platform home directory [default: $ENCLAVE_HOME, else $XDG_DATA_HOME/enclave, else
    /// ~/.local/share/enclave].
    #[arg(long, value_name = "DIR")]
    home: Option<PathBuf>,
}

/// `enclave --home DIR <command>`: the home given before the subcommand, set once by dispatch.
static HOME_BEFORE_SUBCOMMAND: OnceLock<PathBuf> = OnceLock::new();

impl HomeArg {
    /// Records `--home` given before the subcommand, for every [`HomeArg`] without its own.
    pub fn set_before_subcommand(home: PathBuf) -> anyhow::Result<()> {
        HOME_BEFORE_SUBCOMMAND
            .set(home)
            .map_err(|_| anyhow::anyhow!("--home set twice before the subcommand (a bug)"))
    }

    pub fn resolve(&self) -> anyhow::Result<PathBuf> {
        match (&self.home, HOME_BEFORE_SUBCOMMAND.get()) {
            (Some(after), Some(before)) if after != before => {
                return Err(super::exit::usage(format!(
                    "--home is given twice, as {} and {}: give it once",
                    before.display(),
                    after.display()
                )));
            }
            (Some(home), _) | (None, Some(home)) => return Ok(home.clone()),
            (None, None) => {}
        }
        let var = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        if let Some(home) = var("ENCLAVE_HOME") {
            return Ok(home);
        }
        if let Some(data) = var("XDG_DATA_HOME") {
            return Ok(data.join("enclave"));
        }
        let home = var("HOME")
            .context("cannot find the platform home: give --home, or set ENCLAVE_HOME or HOME")?;
        Ok(home.join(".local/share/enclave"))
    }

    pub fn open(&self) -> anyhow::Result<Platform> {
        Ok(Platform::open(&self.resolve()?)?)
    }
}
