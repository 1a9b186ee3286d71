//! Issue 11: the team's settings in `.docker/stages.env`, the migration from
//! the corpusops deploy env, build contexts free of the tool, and context
//! warnings that a re-include line silences.

use std::path::Path;
use std::process::Command;

use crate::support::docker::{Engine, BASE_IMAGE};
use crate::support::{FakeEngine, Project};

pub(crate) const SETTINGS: &str = ".docker/stages.env";

/// A project with two stages whose chain names the image in its stage 1 file.
pub(crate) fn two_stages(name: &str) -> Project {
    let project = Project::new(name);
    project.stages(&["FROM busybox\n", "RUN true\n"]);
    project
}

/// The `FROM` line of chain file 1: where the image name shows.
fn chain_parent(project: &Project) -> String {
    let chain = project.read(".docker/generated/Dockerfile.stage1");
    chain.lines().find(|l| l.starts_with("FROM ")).unwrap_or_default().to_string()
}

#[test]
fn the_settings_file_names_the_image() {
    let project = two_stages("file-image");
    project.write(SETTINGS, "# ours\nexport DOCKER_IMAGE=team/app # committed\n");
    project.xtask(&["dockerfile"]).run().ok();
    assert_eq!(chain_parent(&project), "FROM team/app:latest_stage0");
}

#[test]
fn the_environment_overrides_the_settings_file() {
    let project = two_stages("env-wins");
    project.write(SETTINGS, "DOCKER_IMAGE=team/app\nDOCKER_IMAGE_TAG=v1\n");
    project.xtask(&["dockerfile"]).env("DOCKER_IMAGE", "mine/app").run().ok();
    assert_eq!(chain_parent(&project), "FROM mine/app:v1_stage0");
}

#[test]
fn an_empty_environment_value_leaves_the_file_in_charge() {
    let project = two_stages("empty-env");
    project.write(SETTINGS, "A_GIT_NAMESPACE=Corpusops\nA_GIT_PROJECT=setups.djangoproject\n");
    project.xtask(&["dockerfile"]).env("A_GIT_PROJECT", "").run().ok();
    assert_eq!(chain_parent(&project), "FROM corpusops/setups.djangoproject:latest_stage0");
}

#[test]
fn the_settings_file_does_not_follow_stages_dir() {
    let project = Project::new("stages-dir-file");
    project
        .write("ops/Dockerfile.stage0", "FROM busybox\n")
        .write("ops/Dockerfile.stage1", "RUN true\n")
        .write(SETTINGS, "STAGES_DIR=ops\nDOCKER_IMAGE=team/ops\n")
        .write("ops/stages.env", "DOCKER_IMAGE=not/read\n");
    project.xtask(&["dockerfile"]).run().ok();
    assert!(project
        .read("ops/generated/Dockerfile.stage1")
        .contains("FROM team/ops:latest_stage0"));
}

#[test]
fn every_command_reads_the_settings_file() {
    let project = two_stages("every-command");
    project.write(SETTINGS, "DOCKER_IMAG=team/app\n");
    let fake = FakeEngine::new(&project);
    for args in
        [&["dockerfile"][..], &["dockerfile", "--check"], &["stages"], &["status"], &["verify"]]
    {
        project.xtask(args).env("PATH", fake.path()).run().error(
            2,
            ".docker/stages.env:1: unknown setting `DOCKER_IMAG` (did you mean `DOCKER_IMAGE`?)",
        );
    }
    assert!(fake.take_calls().is_empty(), "a refused run called the engine");
}

#[test]
fn the_engine_and_build_args_come_from_the_file() {
    let project = two_stages("file-engine");
    let fake = FakeEngine::new(&project);
    let engine = fake.dir.join("docker");
    project.write(
        SETTINGS,
        format!(
            "DOCKER={}\nDOCKER_BUILD_ARGS=--network host --label 'team=a b'\nA_ENV_NAME=\"prod\"\n",
            engine.display()
        ),
    );
    project.xtask(&["stages", "1"]).env("DOCKER_IMAGE", "team/app").run().ok();
    let builds: Vec<String> =
        fake.take_calls().into_iter().filter(|c| c.starts_with("[build]")).collect();
    // Stage 1 and its missing parent, stage 0: `all` alone holds for none.
    assert_eq!(builds.len(), 2, "{builds:#?}");
    for (build, tag) in builds.iter().zip(["[team/app:latest_stage0]", "[team/app:latest_stage1]"])
    {
        assert!(build.contains(tag), "{builds:#?}");
    }
    assert!(
        builds
            .iter()
            .all(|c| c
                .contains("[--build-arg][APP_ENV_NAME=prod][--network][host][--label][team=a b]")),
        "{builds:#?}"
    );
}

// ---------------------------------------------------------------- vendor

/// A corpusops project shaped like setups.django: the `.local` deploy env, a
/// `ansible_deploy_env` symlink into a corpusops checkout that is not there,
/// assignments built from other variables, and the old build script.
fn corpusops_project(name: &str) -> Project {
    corpusops_files(Project::new(name))
}

fn corpusops_files(project: Project) -> Project {
    project
        .write(
            ".ansible/scripts/ansible_deploy_env.local",
            "#!/usr/bin/env bash\n\
             # edit and adapt to your project needs\n\
             export A_GIT_SERVER=${A_GIT_SERVER:-https://github.com}\n\
             export A_GIT_NAMESPACE=${A_GIT_NAMESPACE:-corpusops}\n\
             export A_GIT_PROJECT=${A_GIT_PROJECT:-setups.djangoproject}\n\
             export A_GIT_URL=${A_GIT_SERVER}/$A_GIT_NAMESPACE/$A_GIT_PROJECT\n\
             export DOCKER_IMAGE=${A_GIT_NAMESPACE}/${A_GIT_PROJECT}\n\
             export DOCKER_IMAGE_TAG=$(git rev-parse --short HEAD)\n",
        )
        .write(".ansible/scripts/docker_build_stages.sh", "#!/usr/bin/env bash\ntouch pwned\n")
        .write("manage.py", "print('hi')\n");
    std::os::unix::fs::symlink(
        "../../local/corpusops.bootstrap/hacking/deploy/ansible_deploy_env",
        project.path(".ansible/scripts/ansible_deploy_env"),
    )
    .unwrap();
    project
}

#[test]
fn vendor_takes_the_image_name_from_the_deploy_env() {
    let project = corpusops_project("setups.django");
    let local = project.read(".ansible/scripts/ansible_deploy_env.local");
    let out = project.xtask(&["vendor", "."]).run().ok();
    for line in [
        "created    .docker/stages.env (from the deploy env)",
        "took       A_GIT_NAMESPACE=corpusops (.ansible/scripts/ansible_deploy_env.local:4)",
        "took       A_GIT_PROJECT=setups.djangoproject (.ansible/scripts/ansible_deploy_env.local:5)",
        "skipped    DOCKER_IMAGE (.ansible/scripts/ansible_deploy_env.local:7): `${A_GIT_NAMESPACE}/${A_GIT_PROJECT}` is built from other variables",
        "skipped    DOCKER_IMAGE_TAG (.ansible/scripts/ansible_deploy_env.local:8): `$(git rev-parse --short HEAD)` runs a command",
        "unreadable .ansible/scripts/ansible_deploy_env: skipped",
        "ignored    A_GIT_SERVER, A_GIT_URL (not settings of the xtask)",
        "with what the deploy env computes (DOCKER_IMAGE (.ansible/scripts/ansible_deploy_env.local:7), DOCKER_IMAGE_TAG (.ansible/scripts/ansible_deploy_env.local:8)), as it did:",
    ] {
        if !out.stdout().contains(line) {
            out.fail(&format!("stdout lacks {line:?}"));
        }
    }
    let settings = project.read(SETTINGS);
    assert!(
        settings.contains(
            "# Taken by `cargo xtask vendor` from .ansible/scripts/ansible_deploy_env.local:\n\
             A_GIT_NAMESPACE=corpusops  # line 4\nA_GIT_PROJECT=setups.djangoproject  # line 5\n"
        ),
        "{settings}"
    );
    assert!(!settings.lines().any(|l| l.starts_with("DOCKER_IMAGE")), "{settings}");
    // Read, never run, left alone.
    assert!(!project.exists("pwned"));
    assert_eq!(project.read(".ansible/scripts/ansible_deploy_env.local"), local);
    assert!(project.path(".ansible/scripts/ansible_deploy_env").symlink_metadata().is_ok());

    project.xtask(&["dockerfile"]).run().ok();
    assert_eq!(chain_parent_of(&project, 1), "FROM corpusops/setups.djangoproject:latest_stage0");
}

/// The wrapper vendor prints for corpusops' build script keeps what the
/// deploy env computes: run in place of the old script, it gives the xtask
/// the image and the tag `git rev-parse` computes.
#[test]
fn the_printed_wrapper_keeps_the_tags_the_deploy_env_computes() {
    let project = corpusops_project("wrapper");
    let out = project.xtask(&["vendor", "."]).run().ok().stdout();
    let start = out.find("#!/bin/sh\n").unwrap_or_else(|| panic!("{out}"));
    let end = out[start..].find("\"$@\"\n").unwrap_or_else(|| panic!("{out}")) + start + 5;
    project.write(".ansible/scripts/docker_build_stages.sh", &out[start..end]);
    // A `cargo` that says what it was given; a commit for `git rev-parse`.
    project.write("bin/cargo", "#!/bin/sh\necho \"$DOCKER_IMAGE:$DOCKER_IMAGE_TAG $*\"\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(project.path("bin/cargo"), std::fs::Permissions::from_mode(0o755))
        .unwrap();
    for args in [
        &["init", "-q"][..],
        &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x"],
    ] {
        project.command("", "git", args).run().ok();
    }
    let head = project.command("", "git", &["rev-parse", "--short", "HEAD"]).run().ok().stdout();
    let path = format!("{}:{}", project.path("bin").display(), std::env::var("PATH").unwrap());
    // Called from a subfolder, as scripts and habits do.
    project.write("app/.keep", "");
    project
        .command("app", "sh", &["../.ansible/scripts/docker_build_stages.sh", "1", "--dry-run"])
        .env("PATH", path)
        .run()
        .ok()
        .stdout_has(&format!(
            "corpusops/setups.djangoproject:{} xtask stages 1 --dry-run",
            head.trim()
        ));
}

/// The `FROM` line of chain file `n`.
fn chain_parent_of(project: &Project, n: usize) -> String {
    let chain = project.read(&format!(".docker/generated/Dockerfile.stage{n}"));
    chain.lines().find(|l| l.starts_with("FROM ")).unwrap_or_default().to_string()
}

#[test]
fn vendor_twice_changes_nothing_and_keeps_an_edited_settings_file() {
    let project = corpusops_project("vendor-twice");
    project.xtask(&["vendor", "."]).run().ok();
    project.write(SETTINGS, "DOCKER_IMAGE=team/edited\n");
    let before = project.files();
    let again = project.xtask(&["vendor", "."]).run().ok();
    assert!(!again.stdout().contains("  created ") && !again.stdout().contains("  changed "));
    again.stdout_has("unchanged  .docker/stages.env (yours is kept)");
    assert_eq!(before, project.files(), "the second vendor run changed files");
}

#[test]
fn the_local_deploy_env_wins_and_literal_forms_are_read() {
    let project = Project::new("two-deploy-envs");
    project
        .write(
            ".ansible/scripts/ansible_deploy_env",
            "DOCKER_IMAGE=base/app\nA_ENV_NAME='prod env'\nDOCKER_BUILD_ARGS=\"--network host\"\n",
        )
        .write(
            ".ansible/scripts/ansible_deploy_env.local",
            "export DOCKER_IMAGE=${DOCKER_IMAGE-local/app}\n",
        );
    project
        .xtask(&["vendor", "."])
        .run()
        .ok()
        .stdout_has("skipped    DOCKER_IMAGE (.ansible/scripts/ansible_deploy_env:1): .ansible/scripts/ansible_deploy_env.local:1 sets it too, and wins");
    let settings = project.read(SETTINGS);
    for line in [
        "DOCKER_IMAGE=local/app  # line 1",
        "A_ENV_NAME='prod env'  # line 2",
        "DOCKER_BUILD_ARGS='--network host'  # line 3",
    ] {
        assert!(settings.contains(line), "lacks {line:?}:\n{settings}");
    }
}

/// What only running the deploy env would tell is named with why, and a
/// setting it may set that way takes no later `${KEY:-literal}` either: bash
/// would keep the value it already has.
#[test]
fn vendor_names_what_it_cannot_know_and_takes_no_default_after_it() {
    const ENV: &str = ".ansible/scripts/ansible_deploy_env";
    const LOCAL: &str = ".ansible/scripts/ansible_deploy_env.local";
    let project = Project::new("deploy-env-unknown");
    project
        .write(
            ENV,
            "DOCKER_IMAGE=$(cat .ansible/image_name)\n\
             export DOCKER_IMAGE=${DOCKER_IMAGE:-corpusops/fallback}\n\
             [ -n \"$CI\" ] && A_ENV_NAME=ci\n\
             if [ -n \"$CI\" ]; then DOCKER_IMAGE_TAG=ci; fi\n\
             declare -x A_GIT_NAMESPACE=corpusops\n\
             readonly A_GIT_PROJECT=app\n\
             export A_ENV_NAME=${A_ENV_NAME:-dev}\n\
             DOCKER_IMAGE_TAG=${DOCKER_IMAGE_TAG-latest}\n\
             DOCKER_BUILD_ARGS=--pull\n\
             NO_GEN=1\n",
        )
        .write(LOCAL, "declare NO_GEN=\n");
    let out = project.xtask(&["vendor", "."]).run().ok();
    let unknown = "may already set it to a value not known without running the script";
    for line in [
        format!("took       DOCKER_BUILD_ARGS=--pull ({ENV}:9)"),
        format!("skipped    DOCKER_IMAGE ({ENV}:1): `$(cat .ansible/image_name)` runs a command"),
        format!("skipped    DOCKER_IMAGE ({ENV}:2): a default, and line 1 {unknown}"),
        format!("skipped    A_ENV_NAME ({ENV}:3): behind `&&`: it runs only when the command before it succeeds"),
        format!("skipped    DOCKER_IMAGE_TAG ({ENV}:4): inside the `if` of line 4: whether it runs depends on that condition"),
        format!("skipped    A_GIT_NAMESPACE ({ENV}:5): set with `declare`, whose options may change the value"),
        format!("skipped    A_GIT_PROJECT ({ENV}:6): set with `readonly`, which makes any later assignment of it fail"),
        format!("skipped    A_ENV_NAME ({ENV}:7): a default, and line 3 {unknown}"),
        format!("skipped    DOCKER_IMAGE_TAG ({ENV}:8): a default, and line 4 {unknown}"),
        format!("skipped    NO_GEN ({LOCAL}:1): set with `declare`"),
        format!("skipped    NO_GEN ({ENV}:10): {LOCAL}:1 sets it too, and wins"),
    ] {
        if !out.stdout().contains(&line) {
            out.fail(&format!("stdout lacks {line:?}"));
        }
    }
    let took = out.stdout().lines().filter(|l| l.trim_start().starts_with("took ")).count();
    assert_eq!(took, 1, "{}", out.stdout());
    let settings = project.read(SETTINGS);
    let values: Vec<&str> =
        settings.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect();
    assert_eq!(values, ["DOCKER_BUILD_ARGS=--pull  # line 9"], "{settings}");
}

#[test]
fn vendor_keeps_the_tool_out_of_a_non_rust_projects_context() {
    let project = Project::new("non-rust-context");
    project.write(".dockerignore", "node_modules\n");
    project.xtask(&["vendor", "."]).env("STAGES_DIR", "./ops/").run().ok();
    assert_eq!(
        project.read(".dockerignore"),
        "node_modules\n/target\n/ops/generated\n/xtask\n/Cargo.toml\n/Cargo.lock\n/.cargo\n"
    );
}

#[test]
fn a_rust_project_keeps_its_cargo_files_in_the_context() {
    let project = Project::new("rust-context");
    project
        .write("Cargo.toml", "[workspace]\nmembers = [\"app\"]\n")
        .write(".cargo/config.toml", "[build]\njobs = 2\n");
    project.xtask(&["vendor", "."]).run().ok();
    assert_eq!(project.read(".dockerignore"), "/target\n/.docker/generated\n");
}

// ------------------------------------------------------ context warnings

#[test]
fn a_re_include_line_silences_the_context_warning() {
    let project = two_stages("re-include");
    let fake = FakeEngine::new(&project);
    project.write(".git/HEAD", "ref: refs/heads/main\n").write("target/debug/x", "build");
    let warned = |ignore: &str, dir: &str| {
        project.write(".dockerignore", ignore);
        let out = project.xtask(&["stages", "0"]).env("PATH", fake.path()).run().ok();
        out.stderr().contains(&format!("the build context includes {dir}/"))
    };
    assert!(warned("", ".git") && warned("", "target"));
    assert!(!warned("!.git\n", ".git") && warned("!.git\n", "target"));
    assert!(!warned("/.git\n!/.git\n", ".git"));
    assert!(!warned("!target\n", "target") && !warned("!/target\n", "target"));
    assert!(warned("!.g*\n", ".git"), "a broad pattern is no re-include line");
}

// ------------------------------------------------------------ real build

/// The files under `/provision_dir` of `image`, read as verify reads an
/// image: `docker create`, then `docker export` of that container.
fn provision_dir_files(engine: Engine, image: &str) -> Vec<String> {
    let id = engine.docker(&["create", image, "/bin/true"]);
    let export = engine.command(&["export", &id]).output();
    // Removed before any assertion: no container is left behind.
    engine.docker(&["rm", "-f", &id]);
    let export = export.unwrap();
    assert!(export.status.success(), "docker export failed");
    let mut tar = Command::new("tar")
        .args(["-t"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        tar.stdin.take().unwrap().write_all(&export.stdout).unwrap();
    }
    let listing = tar.wait_with_output().unwrap();
    String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("provision_dir/").map(str::to_string))
        .filter(|l| !l.is_empty())
        .collect()
}

on_every_engine! {
    /// `ADD . /provision_dir` in a vendored non-Rust project: the stage image
    /// holds the code and none of the tool's files.
    fn a_vendored_projects_stage_image_holds_none_of_the_tools_files(builder: Builder) {
        let project = corpusops_files(Project::on("clean-context", builder));
        project.xtask(&["vendor", "."]).run().ok();
        project
            .write(".docker/Dockerfile.stage0", format!("FROM {BASE_IMAGE}\nADD . /provision_dir\n"))
            .write(".docker/Dockerfile.stage1", "RUN ls /provision_dir > /listing\n");
        for n in 2..5 {
            std::fs::remove_file(project.path(&format!(".docker/Dockerfile.stage{n}"))).unwrap();
        }
        let repo = builder.repo(&builder.named("clean-context"));
        project.xtask(&["stages", "0", "1"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        let files = provision_dir_files(builder.engine(), &repo.tag("latest_stage1"));
        assert!(files.iter().any(|f| f == "manage.py"), "the code is there: {files:?}");
        let tool: Vec<&String> = files
            .iter()
            .filter(|f| {
                ["xtask/", "Cargo.toml", "Cargo.lock", ".cargo/", ".docker/generated/"]
                    .iter()
                    .any(|t| f.starts_with(t) && f.as_str() != ".docker/generated/")
            })
            .collect();
        assert!(tool.is_empty(), "the stage image holds the tool's files: {tool:?}");
        assert!(Path::new(&project.path(".docker/generated/.lock")).exists());
    }
}

// ------------------------------------------------------------ bad input

/// A settings file that must be refused: exit 2, an `error:` line naming
/// the file and line, a line saying what to do, and nothing written or run.
fn refused(class: &str, contents: Option<&[u8]>, error: &str) {
    let project = two_stages(class);
    project.write("Dockerfile", "# committed\n");
    match contents {
        Some(bytes) => {
            project.write(SETTINGS, bytes);
        }
        None => std::fs::create_dir_all(project.path(SETTINGS)).unwrap(),
    }
    let fake = FakeEngine::new(&project);
    let before = project.files();
    for args in [&["dockerfile"][..], &["stages"], &["status"], &["verify"]] {
        let out = project.xtask(args).env("PATH", fake.path()).run().error(2, error);
        if !out.stdout().is_empty() || out.stderr().lines().count() != 2 {
            out.fail(&format!("[{class}] expected two lines on stderr and nothing on stdout"));
        }
    }
    assert_eq!(before, project.files(), "[{class}] a refused run wrote files");
    assert!(fake.take_calls().is_empty(), "[{class}] a refused run called the engine");
}

#[test]
fn bad_settings_files_are_refused_before_anything_is_written() {
    refused(
        "no-equals",
        Some(b"# team\nDOCKER_IMAGE=a/b\nDOCKER_IMAGE_TAG\n"),
        "error: .docker/stages.env:3: `DOCKER_IMAGE_TAG` is not a KEY=VALUE line",
    );
    refused(
        "unterminated",
        Some(b"A_ENV_NAME=\"prod\nDOCKER_IMAGE=a/b\n"),
        "error: .docker/stages.env:1: unterminated double quote",
    );
    refused(
        "unknown",
        Some(b"\n\nDOCKER_IMAG=a/b\n"),
        "error: .docker/stages.env:3: unknown setting `DOCKER_IMAG` (did you mean `DOCKER_IMAGE`?)",
    );
    refused(
        "twice",
        Some(b"DOCKER_IMAGE=a/b\nA_ENV_NAME=x\nexport DOCKER_IMAGE=c/d\n"),
        "error: .docker/stages.env:3: `DOCKER_IMAGE` is set twice, on lines 1 and 3",
    );
    refused(
        "not-utf8",
        Some(b"DOCKER_IMAGE=a/b\nA_ENV_NAME=caf\xe9\n"),
        "error: .docker/stages.env:2: not UTF-8 (invalid byte at column 15)",
    );
    refused("directory", None, "error: .docker/stages.env: is a directory");
}
