//! `enclave completions` and `enclave man`: shell completions and manual pages generated from
//! the same clap definitions that parse the flags, so they cannot drift from `--help`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::CommandFactory as _;
use enclave_platform::files::{write_atomic, Visibility};

use super::{Cli, ForceArg};

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell, e.g. `enclave completions bash > ~/.local/share/bash-completion/completions/enclave`.
    shell: clap_complete::Shell,
}

pub fn completions(args: &CompletionsArgs) -> anyhow::Result<()> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "enclave", &mut std::io::stdout());
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write `enclave.1` and one `enclave-COMMAND.1` per command into this directory, instead
    /// of printing `enclave.1` on standard output.
    #[arg(long, short, visible_alias = "out", value_name = "DIR")]
    output: Option<PathBuf>,
    #[command(flatten)]
    force: ForceArg,
}

pub fn man(args: &ManArgs) -> anyhow::Result<()> {
    let command = Cli::command();
    let Some(dir) = &args.output else {
        let mut page = Vec::new();
        clap_mangen::Man::new(command).render(&mut page)?;
        page.extend_from_slice(exit_status().as_bytes());
        std::io::Write::write_all(&mut std::io::stdout(), &page)?;
        return Ok(());
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, page) in pages(command)? {
        let path = dir.join(format!("{name}.1"));
        write_atomic(&path, &page, Visibility::Public, args.force.overwrite())
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}

/// The EXIT STATUS section every page ends with, from [`super::exit::TABLE`] (roff).
fn exit_status() -> String {
    let mut section = String::from(".SH \"EXIT STATUS\"\n");
    for (code, meaning) in super::exit::TABLE {
        section.push_str(&format!(".TP\n\\fB{code}\\fR\n{meaning}\n"));
    }
    section.push_str("Details and examples: docs/cli.md, \"Exit codes\".\n");
    section
}

/// `enclave.1`, then a page per subcommand, nested ones included (`enclave-platform-init.1`).
fn pages(command: clap::Command) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut command = command;
    command.build();
    let mut pages = Vec::new();
    collect(&command, "enclave", &mut pages)?;
    Ok(pages)
}

fn collect(
    command: &clap::Command,
    name: &str,
    pages: &mut Vec<(String, Vec<u8>)>,
) -> anyhow::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone())
        .title(name.to_uppercase())
        .render(&mut page)?;
    page.extend_from_slice(exit_status().as_bytes());
    pages.push((name.to_owned(), page));
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        collect(sub, &format!("{name}-{}", sub.get_name()), pages)?;
    }
    Ok(())
}
