//! `cargo xtask vendor DIR`: make another project use this xtask.

use std::path::Path;

use anyhow::Result;
use xshell::Shell;

pub(crate) const HELP: &str = "\
Make the project in DIR use this xtask.

Usage: cargo xtask vendor DIR
";

pub(crate) fn run(_sh: &Shell, _dir: &Path) -> Result<()> {
    anyhow::bail!("vendor is being written")
}
