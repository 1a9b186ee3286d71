//! `cargo xtask`: Docker images built in stages. See README.md.
//!
//! The layers, each a folder, from the top: `cli` and this file (parse the
//! command line, dispatch, map the result to an exit code), `commands` (one
//! file per command), `ops` (operations the commands share), `engine` (the
//! container engine), `model` (the Dockerfile model, pure), `settings`,
//! `util`. A layer imports only the layers below it (checked by `layers`).

mod cli;
mod commands;
mod engine;
#[cfg(test)]
mod layers;
mod model;
mod ops;
mod settings;
mod util;

use std::process::ExitCode;

use anyhow::Result;
use xshell::Shell;

use crate::cli::Command;
use crate::commands::{dockerfile, hook, prune, stages, status, vendor, verify};
use crate::ops::project::{self, Project};
use crate::settings::Settings;

fn main() -> ExitCode {
    util::exit::install_panic_hook();
    util::exit::report(run())
}

fn run() -> Result<()> {
    match cli::parse(std::env::args_os().skip(1).collect())? {
        Command::Help(text) => util::print::print(format_args!("{text}")),
        Command::Dockerfile { check, force } => {
            let (sh, project) = load()?;
            dockerfile::run(&sh, &project, check, force)
        }
        Command::Stages(options) => {
            let (sh, project) = load()?;
            stages::run(&sh, &project, &options)
        }
        Command::Status { registry } => {
            let (sh, project) = load()?;
            status::run(&sh, &project, registry)
        }
        Command::Prune { dry_run } => {
            let (sh, project) = load()?;
            prune::run(&sh, &project, dry_run)
        }
        Command::Verify(options) => {
            let (sh, project) = load()?;
            verify::run(&sh, &project, &options)
        }
        Command::Vendor { dir } => vendor::run(std::path::Path::new(&dir)),
        Command::Hook(action) => hook::run(&Shell::new()?, &project::root()?, action),
    }
}

/// A shell in the project root, and the project's settings and snippets read
/// and checked, before anything is written or run.
fn load() -> Result<(Shell, Project)> {
    let root = project::root()?;
    let settings = Settings::load(&root)?;
    let sh = Shell::new()?;
    sh.change_dir(&root);
    let project = Project::load(root, settings)?;
    Ok((sh, project))
}
