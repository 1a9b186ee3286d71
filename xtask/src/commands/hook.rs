//! `cargo xtask hook install|uninstall`: the git pre-commit hook that stops a
//! commit whose Dockerfile is not what the snippets generate.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::util::atomic_file;
use crate::util::exit::input_error;
use crate::util::print::out;
use crate::util::shell_words::single_quote;

pub(crate) const HELP: &str = "\
Install or remove the git pre-commit hook that runs `cargo xtask dockerfile --check`.

Usage: cargo xtask hook install [--force]
       cargo xtask hook uninstall

The hook goes where git runs hooks: `git config core.hooksPath` when set, else
.git/hooks. It checks the working tree, from the project root, and refuses the
commit when ./Dockerfile is stale (`git commit --no-verify` skips it once).

Options:
  --force   replace a pre-commit hook that this tool did not write
  -h, --help

Using the pre-commit framework instead? docs/reference.md, \"hook\", has the snippet.
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Install { force: bool },
    Uninstall,
}

/// The line that tells this tool's hook from anyone else's.
const MARKER: &str =
    "# Written by `cargo xtask hook install`; `cargo xtask hook uninstall` removes it.";

pub(crate) fn run(sh: &Shell, root: &Path, action: Action) -> Result<()> {
    let repo = Repo::find(sh, root)?;
    let installing = matches!(action, Action::Install { .. });
    let hook = repo.hooks_dir(sh, installing)?.join("pre-commit");
    let ours = fs::read_to_string(&hook).is_ok_and(|text| text.lines().any(|l| l == MARKER));
    let exists = hook.exists() || hook.is_symlink();
    match action {
        Action::Install { force } => {
            if exists && !ours && !force {
                return Err(input_error(
                    format!("{} exists and was not written by cargo xtask", hook.display()),
                    "add `cargo xtask dockerfile --check` to it by hand, or replace it: \
                     cargo xtask hook install --force",
                ));
            }
            let changed = install(&hook, &script(&repo.prefix))?;
            let what = match (exists, ours, changed) {
                (false, _, _) => "installed",
                (true, true, false) => "already installed",
                (true, true, true) => "updated",
                (true, false, _) => "replaced (--force)",
            };
            out!("pre-commit hook {what}: {}", hook.display())?;
            out!("each commit now runs `cargo xtask dockerfile --check`")
        }
        Action::Uninstall if !exists => {
            out!("no pre-commit hook at {}: nothing to remove", hook.display())
        }
        Action::Uninstall if !ours => Err(input_error(
            format!("{} was not written by cargo xtask: left as is", hook.display()),
            "remove it yourself if you no longer want it",
        )),
        Action::Uninstall => {
            atomic_file::remove_file(&hook)?;
            out!("pre-commit hook removed: {}", hook.display())
        }
    }
}

/// The git repository the project is in.
struct Repo {
    top: PathBuf,
    /// The project root relative to `top`, `/`-terminated; empty at the top.
    prefix: String,
    root: PathBuf,
}

impl Repo {
    fn find(sh: &Shell, root: &Path) -> Result<Repo> {
        let out = cmd!(sh, "git -C {root} rev-parse --show-toplevel --show-prefix")
            .quiet()
            .ignore_stderr()
            .read()
            .map_err(|err| {
                if which(sh).is_err() {
                    input_error(
                        format!("cannot run git: {err}"),
                        "install git (`sudo apt-get install git`) and run this again",
                    )
                } else {
                    input_error(
                        format!("{} is not in a git work tree", root.display()),
                        "run `git init` there first, or run this from your project's repository",
                    )
                }
            })?;
        let mut lines = out.lines();
        let top = PathBuf::from(lines.next().unwrap_or_default());
        let prefix = lines.next().unwrap_or_default().to_string();
        Ok(Repo { top, prefix, root: root.to_path_buf() })
    }

    /// Where git runs hooks from: core.hooksPath (relative to the top of the
    /// work tree, where git runs hooks), else the repository's hooks folder.
    /// A hooks path set in the global or system git config serves every
    /// repository of the machine: a hook there would check them all.
    fn hooks_dir(&self, sh: &Shell, install: bool) -> Result<PathBuf> {
        let root = &self.root;
        let configured =
            cmd!(sh, "git -C {root} config --show-scope --type=path --get core.hooksPath")
                .quiet()
                .ignore_stderr()
                .read()
                .ok();
        if let Some((scope, path)) = configured.as_deref().and_then(|l| l.split_once('\t')) {
            if install && (scope == "global" || scope == "system") {
                return Err(input_error(
                    format!(
                        "core.hooksPath is set in your {scope} git config ({path}): \
                         a hook there would run in every repository"
                    ),
                    "add `cargo xtask dockerfile --check` to the pre-commit hook there by hand, \
                     or use the pre-commit framework (see \"Pre-commit hook\" in the README)",
                ));
            }
            if !path.is_empty() {
                return Ok(self.top.join(path));
            }
        }
        let path = cmd!(sh, "git -C {root} rev-parse --git-path hooks")
            .quiet()
            .read()
            .with_context(|| format!("cannot find the git hooks folder of {}", root.display()))?;
        Ok(root.join(path))
    }
}

/// Whether git can be run at all, to tell "no git" from "not a repository".
fn which(sh: &Shell) -> Result<()> {
    cmd!(sh, "git --version").quiet().ignore_stdout().ignore_stderr().run()?;
    Ok(())
}

/// The hook: a POSIX sh script, run by git from the top of the work tree.
fn script(prefix: &str) -> String {
    let cd = if prefix.is_empty() {
        String::new()
    } else {
        // The project is a subfolder of the repository (a monorepo).
        format!("cd {} || exit 1\n", single_quote(prefix))
    };
    format!(
        "#!/bin/sh\n\
         {MARKER}\n\
         # Refuses a commit whose ./Dockerfile is not what the stage snippets generate.\n\
         # Skip it once with `git commit --no-verify`.\n\
         cd \"$(git rev-parse --show-toplevel)\" || exit 1\n\
         {cd}\
         if ! command -v cargo >/dev/null 2>&1; then\n\
         \x20   echo 'pre-commit: cargo is not on PATH: install Rust (https://rustup.rs)' >&2\n\
         \x20   echo 'or skip this check once: git commit --no-verify' >&2\n\
         \x20   exit 1\n\
         fi\n\
         exec cargo xtask dockerfile --check\n"
    )
}

/// Writes the hook atomically and makes it executable; returns whether its
/// text changed.
fn install(hook: &Path, text: &str) -> Result<bool> {
    if let Some(dir) = hook.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // A symlinked hook is replaced, not followed: its target is someone else's file.
    if hook.is_symlink() {
        atomic_file::remove_file(hook)?;
    }
    let changed = atomic_file::ensure_file(hook, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(hook, fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot make {} executable", hook.display()))?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_goes_to_the_project_folder() {
        let top = script("");
        assert!(top.starts_with("#!/bin/sh\n") && top.contains(MARKER), "{top}");
        assert!(!top.contains("cd '"), "{top}");
        assert!(top.ends_with("exec cargo xtask dockerfile --check\n"), "{top}");
        assert!(script("apps/it's/").contains("cd 'apps/it'\\''s/' || exit 1\n"));
    }
}
