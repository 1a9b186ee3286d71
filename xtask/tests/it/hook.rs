//! `cargo xtask hook install|uninstall`: the pre-commit hook stops a commit
//! whose Dockerfile is stale, and never takes over a hook someone else wrote.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::support::{require, Out, Project, Run};

const MARKER: &str = "# Written by `cargo xtask hook install`";
const FOREIGN: &str = "#!/bin/sh\n# the team's own checks\nexit 0\n";

/// None of the developer's git configuration (a global core.hooksPath or
/// commit signing would change what is tested), and a fixed identity.
fn hermetic(run: Run) -> Run {
    require("git", "sudo apt-get install git");
    run.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
}

fn git(project: &Project, rel: &str, args: &[&str]) -> Run {
    hermetic(project.command(rel, "git", args))
}

/// The xtask binary, run in the folder `rel` of the project.
fn xtask(project: &Project, rel: &str, args: &[&str]) -> Run {
    hermetic(project.command(rel, env!("CARGO_BIN_EXE_xtask"), args))
}

/// `git add -A && git commit`, from the project root.
fn commit(project: &Project, message: &str) -> Out {
    git(project, "", &["add", "-A"]).run().ok();
    // The hook's cargo builds the vendored xtask in the shared target dir.
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("vendored");
    git(project, "", &["commit", "-q", "-m", message])
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO_NET_OFFLINE", "true")
        .run()
}

fn git_init(project: &Project) {
    git(project, "", &["init", "-q"]).run().ok();
}

#[test]
fn the_hook_stops_a_commit_with_a_stale_dockerfile() {
    let project = Project::new("hooked");
    project.write("manage.py", "import sys\n");
    git_init(&project);
    project.xtask(&["vendor", "."]).run().ok();
    xtask(&project, "", &["hook", "install"]).run().ok().stdout_has("pre-commit hook installed");
    let hook = project.path(".git/hooks/pre-commit");
    assert!(fs::read_to_string(&hook).unwrap().contains(MARKER));
    assert_eq!(fs::metadata(&hook).unwrap().permissions().mode() & 0o111, 0o111);

    project.cargo("", &["xtask", "dockerfile"]).run().ok();
    commit(&project, "use the xtask").ok();

    project.snippet("Dockerfile.stage3", "RUN echo changed\n");
    let refused = commit(&project, "stale");
    if refused.output.status.success() {
        refused.fail("git committed a stale Dockerfile");
    }
    refused.stderr_has("Dockerfile is not what").stderr_has("run `cargo xtask dockerfile`");

    project.cargo("", &["xtask", "dockerfile"]).run().ok();
    commit(&project, "regenerated").ok();
    let log = git(&project, "", &["log", "--format=%s"]).run().ok().stdout();
    assert_eq!(log, "regenerated\nuse the xtask\n");

    xtask(&project, "", &["hook", "install"]).run().ok().stdout_has("already installed");
}

#[test]
fn in_a_monorepo_the_hook_checks_the_project_folder() {
    let project = Project::new("monorepo");
    project.write("web/manage.py", "import sys\n").write("README", "several projects\n");
    git_init(&project);
    project.xtask(&["vendor", "web"]).run().ok();
    xtask(&project, "web", &["hook", "install"]).run().ok();
    assert!(fs::read_to_string(project.path(".git/hooks/pre-commit"))
        .unwrap()
        .contains("cd 'web/'"));

    project.cargo("web", &["xtask", "dockerfile"]).run().ok();
    commit(&project, "web uses the xtask").ok();
    project.write("web/.docker/Dockerfile.stage3", "RUN echo changed\n");
    let refused = commit(&project, "stale");
    if refused.output.status.success() {
        refused.fail("git committed a stale web/Dockerfile");
    }
    // Refused for that reason: the check ran in web/, not a failed `cd` or build.
    refused
        .error(
            1,
            "error: Dockerfile is not what .docker/Dockerfile* generate (first difference at line",
        )
        .stderr_has("run `cargo xtask dockerfile`");
    let log = git(&project, "", &["log", "--format=%s"]).run().ok().stdout();
    assert_eq!(log, "web uses the xtask\n");
}

#[test]
fn a_foreign_hook_is_kept_unless_forced() {
    let project = Project::new("foreign-hook");
    git_init(&project);
    project.write(".git/hooks/pre-commit", FOREIGN);

    xtask(&project, "", &["hook", "install"])
        .run()
        .error(2, "pre-commit exists and was not written by cargo xtask")
        .stderr_has("--force");
    xtask(&project, "", &["hook", "uninstall"]).run().error(2, "was not written by cargo xtask");
    assert_eq!(project.read(".git/hooks/pre-commit"), FOREIGN);

    xtask(&project, "", &["hook", "install", "--force"]).run().ok().stdout_has("replaced");
    assert!(project.read(".git/hooks/pre-commit").contains(MARKER));

    xtask(&project, "", &["hook", "uninstall"]).run().ok().stdout_has("removed");
    assert!(!project.exists(".git/hooks/pre-commit"));
    xtask(&project, "", &["hook", "uninstall"]).run().ok().stdout_has("nothing to remove");
}

#[test]
fn core_hooks_path_is_honoured() {
    let project = Project::new("hooks-path");
    git_init(&project);
    git(&project, "", &["config", "core.hooksPath", ".githooks"]).run().ok();
    project.write("sub/file", "x\n");
    // Relative to the top of the work tree, wherever the tool runs from.
    xtask(&project, "sub", &["hook", "install"]).run().ok();
    let hook = project.path(".githooks/pre-commit");
    assert!(fs::read_to_string(&hook).unwrap().contains(MARKER));
    assert_eq!(fs::metadata(&hook).unwrap().permissions().mode() & 0o111, 0o111);
    assert!(!project.exists(".git/hooks/pre-commit"));

    xtask(&project, "", &["hook", "uninstall"]).run().ok();
    assert!(!hook.exists());
}

#[test]
fn a_hooks_path_shared_by_every_repository_is_refused() {
    let project = Project::new("global-hooks-path");
    git_init(&project);
    project.write("../global.gitconfig", "[core]\n\thooksPath = ../shared-hooks\n");
    xtask(&project, "", &["hook", "install"])
        .env("GIT_CONFIG_GLOBAL", project.path("../global.gitconfig"))
        .run()
        .error(2, "core.hooksPath is set in your global git config");
    assert!(!project.exists("../shared-hooks"));
}

#[test]
fn outside_a_git_repository_nothing_is_installed() {
    let project = Project::new("no-git");
    require("git", "sudo apt-get install git");
    xtask(&project, "", &["hook", "install"]).run().error(2, "is not in a git work tree");
    xtask(&project, "", &["hook", "uninstall"]).run().error(2, "is not in a git work tree");
}
