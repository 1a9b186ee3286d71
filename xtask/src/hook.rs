//! `cargo xtask hook install|uninstall`: the git pre-commit hook.

use std::path::Path;

use anyhow::Result;
use xshell::Shell;

pub(crate) const HELP: &str = "\
Install or remove the git pre-commit hook that runs `cargo xtask dockerfile --check`.

Usage: cargo xtask hook install [--force]
       cargo xtask hook uninstall
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Install { force: bool },
    Uninstall,
}

pub(crate) fn run(_sh: &Shell, _root: &Path, _action: Action) -> Result<()> {
    anyhow::bail!("hook is being written")
}
