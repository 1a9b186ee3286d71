//! `cargo xtask vendor DIR`: what it writes into projects of several shapes,
//! that a second run changes nothing, and that the vendored copy works there:
//! built offline, from any subfolder, against the real Docker engine.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::support::docker::BASE_IMAGE;
use crate::support::{FakeEngine, Project};

const ALIAS: &str = "[alias]\nxtask = \"run --package xtask --\"\n";
const SKELETON: [&str; 5] = [
    "Dockerfile.stage0",
    "Dockerfile.stage1",
    "Dockerfile.stage2",
    "Dockerfile.stage3",
    "Dockerfile.stage4",
];

/// The xtask package these tests vendor.
fn source(rel: &str) -> Vec<u8> {
    fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

/// Vendors into the project, runs it again, and checks the second run
/// changed no byte and says so. Returns the first run's stdout.
fn vendor_twice(project: &Project) -> String {
    let first = project.xtask(&["vendor", "."]).run().ok().stdout();
    let before = project.files();
    let again = project.xtask(&["vendor", "."]).run().ok();
    for word in ["created", "changed"] {
        if again.stdout().contains(&format!("  {word} ")) {
            again.fail(&format!("the second vendor run says {word}"));
        }
    }
    assert_eq!(digests(&before), digests(&project.files()), "the second vendor run changed files");
    first
}

/// A digest of each file, so a failure lists names rather than bytes.
fn digests(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<&str, u64> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    files
        .iter()
        .map(|(name, bytes)| {
            let mut hasher = DefaultHasher::new();
            bytes.hash(&mut hasher);
            (name.as_str(), hasher.finish())
        })
        .collect()
}

/// A small Django app, before it vendors the tool.
fn django_app(project: Project) -> Project {
    project
        .write("manage.py", "import sys\n")
        .write("requirements.txt", "django==5.0\n")
        .write("shop/settings.py", "DEBUG = False\n")
        .write(".gitignore", "*.pyc\n__pycache__");
    project
}

#[test]
fn a_python_web_app_gets_the_tool() {
    let project = django_app(Project::new("django-app"));
    let out = vendor_twice(&project);
    for line in [
        "created    Cargo.toml",
        "changed    .gitignore",
        "cargo xtask dockerfile",
        "cargo xtask stages",
    ] {
        assert!(out.contains(line), "stdout lacks {line:?}:\n{out}");
    }

    assert_eq!(fs::read(project.path("xtask/Cargo.toml")).unwrap(), source("Cargo.toml"));
    assert_eq!(fs::read(project.path("xtask/src/main.rs")).unwrap(), source("src/main.rs"));
    assert_eq!(fs::read(project.path("Cargo.lock")).unwrap(), source("../Cargo.lock"));
    assert!(!project.exists("xtask/tests"), "the tests need this repository's fixtures");
    assert_eq!(project.read(".cargo/config.toml"), ALIAS);
    // The workspace this repository builds the xtask with: its cold build
    // settings travel with it.
    assert_eq!(fs::read(project.path("Cargo.toml")).unwrap(), source("../Cargo.toml"));
    assert_eq!(project.read(".gitignore"), "*.pyc\n__pycache__\n/target\n");
    assert_eq!(
        project.read(".dockerignore"),
        "/target\n/.docker/generated\n/xtask\n/Cargo.toml\n/Cargo.lock\n/.cargo\n",
        "the tool stays out of the images of a project whose only Rust it is"
    );
    for name in SKELETON {
        assert!(project.read(&format!(".docker/{name}")).starts_with("# Stage "), "{name}");
    }

    // The real thing, from a subfolder, offline: the alias, the lock file and
    // the root found through CARGO_MANIFEST_DIR.
    project.cargo("shop", &["xtask", "dockerfile"]).run().ok();
    project.cargo("shop", &["xtask", "dockerfile", "--check"]).run().ok();
    assert!(project.read("Dockerfile").contains("FROM ${BASE_IMAGE}"));
    assert!(project.exists(".docker/generated/Dockerfile.stage4"));
    project.cargo("", &["build", "--offline", "-p", "xtask"]).run().ok();
    assert_eq!(fs::read(project.path("Cargo.lock")).unwrap(), source("../Cargo.lock"));
}

on_every_engine! {
    /// A vendored project builds its stage 0 from the skeleton's snippets,
    /// its code in and `target/` out. (`cargo xtask` inside a vendored copy is
    /// `a_python_web_app_gets_the_tool`: here the tool's own binary runs, so
    /// that each engine does not compile the vendored copy again.)
    fn a_vendored_python_app_builds_stage_0(builder: Builder) {
        let project = django_app(Project::on("django-app", builder));
        project.xtask(&["vendor", "."]).run().ok();
        let repo = builder.repo("vendored");
        project.write("target/debug/junk", "build output");
        project
            .xtask(&["stages", "0", "--", "--build-arg", &format!("BASE_IMAGE={BASE_IMAGE}")])
            .env("DOCKER_IMAGE", &repo.name)
            .run()
            .ok();
        assert_eq!(repo.tags(), ["latest_stage0"]);
        assert_eq!(
            builder.run_in(
                &repo.tag("latest_stage0"),
                "cat /srv/app/requirements.txt; test -e /srv/app/target || echo no target"
            ),
            "django==5.0\nno target",
            "stage 0 injects the code, and .dockerignore keeps target/ out"
        );
    }
}

/// A project vendored by an earlier version upgrades: the workspace that
/// version wrote is the tool's, replaced by this one's, and the tool's files
/// stay out of the build context.
#[test]
fn an_earlier_versions_workspace_is_updated() {
    let project = django_app(Project::new("upgrade"));
    let former = "[workspace]\nmembers = [\"xtask\"]\nresolver = \"2\"\n\n\
        # The xtask is compiled on every fresh clone: no debug info keeps that build and\n\
        # its link step short, and nobody steps through it in a debugger.\n\
        [profile.dev.package.xtask]\ndebug = 0\n";
    project.write("Cargo.toml", former);
    vendor_twice(&project);
    assert_eq!(fs::read(project.path("Cargo.toml")).unwrap(), source("../Cargo.toml"));
    assert!(project.read(".dockerignore").contains("/xtask\n/Cargo.toml\n"));
}

#[test]
fn a_rust_workspace_gets_xtask_added_to_its_members() {
    let project = Project::new("rust-workspace");
    let lock = "# This file is automatically @generated by Cargo.\nversion = 4\n\n\
                [[package]]\nname = \"app\"\nversion = \"0.1.0\"\n";
    project
        .write("Cargo.toml", "[workspace]\n# the crates\nmembers = [\"app\"]\nresolver = \"2\"\n")
        .write("Cargo.lock", lock)
        .write(
            "app/Cargo.toml",
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        )
        .write("app/src/main.rs", "fn main() {}\n")
        .write(".gitignore", "target/\n");
    let out = vendor_twice(&project);
    assert!(!out.contains("To do by hand"), "{out}");
    assert_eq!(
        project.read("Cargo.toml"),
        "[workspace]\n# the crates\nmembers = [\"app\", \"xtask\"]\nresolver = \"2\"\n"
    );
    assert_eq!(project.read(".gitignore"), "target/\n", "target/ was already ignored");
    assert_eq!(project.read("Cargo.lock"), lock, "the project's own lock file is kept");

    project.cargo("app/src", &["xtask", "dockerfile"]).run().ok();
    project.cargo("", &["build", "--offline", "--workspace"]).run().ok();
    assert!(project.read("Cargo.lock").contains("name = \"xshell\""));
}

#[test]
fn a_package_only_cargo_toml_gets_the_lines_to_add() {
    let project = Project::new("rust-package");
    let manifest = "[package]\nname = \"tool\"\nversion = \"0.1.0\"\nedition = \"2021\"\n";
    project.write("Cargo.toml", manifest).write("src/main.rs", "fn main() {}\n");
    let out = vendor_twice(&project);
    let lines = "add these lines to it, so that `cargo xtask` finds the xtask:\n\n\
                 [workspace]\nmembers = [\"xtask\"]\n";
    assert!(out.contains(lines), "{out}");
    assert_eq!(project.read("Cargo.toml"), manifest, "a package's manifest is not edited");
    assert_eq!(project.read(".cargo/config.toml"), ALIAS);

    // The printed lines are all it takes.
    project.write("Cargo.toml", format!("{manifest}\n[workspace]\nmembers = [\"xtask\"]\n"));
    project.cargo("src", &["xtask", "dockerfile", "--help"]).run().ok().stdout_has("--check");
    project
        .xtask(&["vendor", "."])
        .run()
        .ok()
        .stdout_has("unchanged  Cargo.toml (xtask is a member)");
}

#[test]
fn existing_snippets_are_never_touched() {
    let project = Project::new("has-snippets");
    project
        .stages(&["FROM alpine:3\r\nCOPY . /app", "RUN echo hi\n"])
        .snippet("Dockerfile.stage1~", "an editor's leftover\n")
        .write("Dockerfile", "# generated earlier\n");
    let snippets: BTreeMap<String, Vec<u8>> =
        project.files().into_iter().filter(|(name, _)| name.starts_with(".docker/")).collect();
    let out = vendor_twice(&project);
    assert!(out.contains("has snippets: left as they are"), "{out}");
    let after: BTreeMap<String, Vec<u8>> =
        project.files().into_iter().filter(|(name, _)| name.starts_with(".docker/")).collect();
    assert_eq!(snippets, after, "the snippets changed");
    assert_eq!(project.read("Dockerfile"), "# generated earlier\n");
}

#[test]
fn the_skeleton_goes_to_stages_dir() {
    let project = Project::new("stages-dir");
    project.write(".docker/README", "not a snippet\n");
    let out = project.xtask(&["vendor", "."]).env("STAGES_DIR", "ops/stages").run().ok().stdout();
    for name in SKELETON {
        assert!(project.exists(&format!("ops/stages/{name}")), "{name}:\n{out}");
        assert!(!project.exists(&format!(".docker/{name}")), "{name}:\n{out}");
    }
    // The skeleton is valid as it is.
    project.xtask(&["dockerfile"]).env("STAGES_DIR", "ops/stages").run().ok();
}

#[test]
fn a_projects_own_dockerfile_is_adopted_as_stage_0() {
    let project = Project::new("adopted");
    let own = "# syntax=docker/dockerfile:1\nFROM php:8\r\nCOPY . /app\nRUN make\n";
    project.write("Dockerfile", own);
    let out = project.xtask(&["vendor", "."]).env("STAGES_DIR", "ops/stages").run().ok().stdout();
    assert!(
        out.contains(
            "created    ops/stages/Dockerfile.stage0 (your ./Dockerfile, adopted as stage 0)"
        ),
        "{out}"
    );
    assert!(out.contains("`cargo xtask verify`: it proves the chain still builds what the main Dockerfile builds"), "{out}");
    assert_eq!(project.read("ops/stages/Dockerfile.stage0"), own, "nothing of the user's is lost");
    assert!(!project.exists("ops/stages/Dockerfile.stage1"), "no skeleton beside it:\n{out}");
    let main = project.read("Dockerfile");
    assert!(
        main.starts_with("# syntax=docker/dockerfile:1\n# Generated by `cargo xtask dockerfile`"),
        "{main}"
    );
    assert!(
        main.ends_with(
            "# --- ops/stages/Dockerfile.stage0 ---\nFROM php:8\nCOPY . /app\nRUN make\n"
        ),
        "{main}"
    );
    // Vendoring again changes nothing; the tool now owns ./Dockerfile.
    let files = project.files();
    project.xtask(&["vendor", "."]).env("STAGES_DIR", "ops/stages").run().ok();
    assert_eq!(project.files(), files);
    project.xtask(&["dockerfile", "--check"]).env("STAGES_DIR", "ops/stages").run().ok();
    let fake = FakeEngine::new(&project);
    project
        .xtask(&["stages", "--dry-run"])
        .env("STAGES_DIR", "ops/stages")
        .env("PATH", fake.path())
        .run()
        .ok();
    assert_eq!(project.read("Dockerfile"), main);
}

#[test]
fn a_dockerfile_that_cannot_be_adopted_stops_vendor_before_it_writes() {
    let project = Project::new("not-adopted");
    project.write("Dockerfile", b"FROM php:8\nRUN echo \xff\n");
    let before = project.files();
    project.xtask(&["vendor", "."]).run().error(2, "Dockerfile");
    assert_eq!(project.files(), before);
}

#[test]
fn cargo_config_and_ignore_files_are_appended_to_or_explained() {
    let project = Project::new("configs");
    project
        .write(".cargo/config.toml", "[build]\njobs = 2")
        .write(".dockerignore", "node_modules\r\n.git\r\n")
        .write(".gitignore", "/target/\n");
    vendor_twice(&project);
    assert_eq!(project.read(".cargo/config.toml"), format!("[build]\njobs = 2\n\n{ALIAS}"));
    assert_eq!(
        project.read(".dockerignore"),
        "node_modules\r\n.git\r\n/target\r\n/.docker/generated\r\n/xtask\r\n/Cargo.toml\r\n/Cargo.lock\r\n",
        "a .cargo/ of the project's own stays in the context"
    );
    assert_eq!(project.read(".gitignore"), "/target/\n");

    let other = Project::new("aliases");
    let config = "[alias]\nb = \"build\"\n";
    other.write(".cargo/config.toml", config);
    other
        .xtask(&["vendor", "."])
        .run()
        .ok()
        .stdout_has("add this line to the [alias] table of .cargo/config.toml:\n\n")
        .stdout_has("\nxtask = \"run --package xtask --\"\n");
    assert_eq!(other.read(".cargo/config.toml"), config);
}

#[test]
fn refusals_write_nothing() {
    let project = Project::new("refusals");
    project.write("file.txt", "x\n");
    project.xtask(&["vendor", "missing"]).run().error(2, "missing does not exist");
    project.xtask(&["vendor", "file.txt"]).run().error(2, "file.txt is not a directory");

    project.write("xtask/Cargo.toml", "[package]\nname = \"xtask\"\nversion = \"9.0.0\"\n");
    let before = project.files();
    project.xtask(&["vendor", "."]).run().error(2, "xtask exists and is not this xtask");
    assert_eq!(before, project.files());
}
