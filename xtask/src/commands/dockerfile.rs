//! `cargo xtask dockerfile [--check]`: regenerate the main Dockerfile and the
//! chain, or (the pre-commit check) say whether the committed one is current.

use std::fs;

use anyhow::Result;
use xshell::Shell;

use crate::ops::project::Project;
use crate::util::exit::failure;
use crate::util::print::out;

pub(crate) const HELP: &str = "\
Regenerate the main Dockerfile and the per-stage chain from the snippets.

Usage: cargo xtask dockerfile [--check] [--force]

Writes ./Dockerfile (all snippets in order) and <STAGES_DIR>/generated/Dockerfile.stage<N>
(stage N alone, FROM the image of stage N-1). Files are written only when they change.

Options:
  --check   write nothing; exit 1 when ./Dockerfile is not what would be generated
            (the pre-commit check)
  --force   replace a ./Dockerfile that `cargo xtask dockerfile` did not write (one
            without its header); without it, such a Dockerfile is refused:
            `cargo xtask vendor .` adopts it as .docker/Dockerfile.stage0
  -h, --help
";

pub(crate) fn run(sh: &Shell, project: &Project, check: bool, force: bool) -> Result<()> {
    if check {
        return check_main(project);
    }
    let image = project.image(sh)?;
    project.refuse_users_dockerfile(force)?;
    let _lock = project.lock()?;
    let changed = project.write(&project.chain_texts(&image))?;
    let n = project.snippets.len();
    out!(
        "Dockerfile {} ({n} snippets from {}); chain in {}/generated for {}",
        if changed { "written" } else { "up to date" },
        project.settings.stages_dir,
        project.settings.stages_dir,
        image.full(),
    )
}

fn check_main(project: &Project) -> Result<()> {
    let expected = project.stages.main_dockerfile();
    let actual = fs::read(project.main_dockerfile_path()).unwrap_or_default();
    if actual == expected.as_bytes() {
        return Ok(());
    }
    let actual = String::from_utf8_lossy(&actual);
    let line = first_difference(&actual, &expected);
    Err(failure(
        format!(
            "Dockerfile is not what {}/Dockerfile* generate (first difference at line {line})",
            project.settings.stages_dir
        ),
        "run `cargo xtask dockerfile` and commit the result",
    ))
}

/// The 1-based number of the first line where `a` and `b` differ.
fn first_difference(a: &str, b: &str) -> usize {
    let mut a_lines = a.split_inclusive('\n');
    let mut b_lines = b.split_inclusive('\n');
    let mut n = 1;
    while let (Some(x), Some(y)) = (a_lines.next(), b_lines.next()) {
        if x != y {
            return n;
        }
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::first_difference;

    #[test]
    fn difference_line() {
        assert_eq!(first_difference("a\nb\n", "a\nc\n"), 2);
        assert_eq!(first_difference("a\n", "a\nb\n"), 2);
        assert_eq!(first_difference("", "a"), 1);
        assert_eq!(first_difference("a\r\n", "a\n"), 1);
    }
}
