//! `cargo xtask verify` on the real engine: the chain agrees with the main
//! Dockerfile, or each difference is named.

use crate::support::docker::{Builder, BASE_IMAGE};
use crate::support::Project;

on_every_engine! {
    fn agreeing_chain_with_args_across_stages(builder: Builder) {
        let repo = builder.repo("verify-agree");
        let project = Project::on("verify-agree", builder);
        project.stages(&[
            &format!("FROM {BASE_IMAGE}\nARG VERSION=1\nARG APP_DIR=/app\nWORKDIR $APP_DIR\nCOPY code.txt ./"),
            "ARG LEVEL=info\nENV LEVEL=$LEVEL\nEXPOSE 8000",
            "RUN echo \"$VERSION $LEVEL\" > version.txt\nUSER 1000:1000\nCMD [\"cat\", \"version.txt\"]",
        ]);
        project.write("code.txt", "code");
        let out = project
            .xtask(&["verify", "--", "--build-arg", "VERSION=9"])
            .env("DOCKER_IMAGE", &repo.name)
            .run()
            .ok()
            .stdout_has("agree");
        assert!(out.stdout().contains(&format!("{}:latest_stage2", repo.name)));
        assert_eq!(
            repo.tags(),
            ["latest_stage0", "latest_stage1", "latest_stage2"],
            "the temporary tag is removed"
        );
    }
}

on_every_engine! {
    also_modern_legacy;
    fn onbuild_in_a_middle_snippet_diverges(builder: Builder) {
        let repo = builder.repo("verify-onbuild");
        let project = Project::on("verify-onbuild", builder);
        project.stages(&[&format!("FROM {BASE_IMAGE}"), "ONBUILD RUN touch /triggered", "ENV DONE=1"]);
        let out = project
            .xtask(&["verify"])
            .env("DOCKER_IMAGE", &repo.name)
            .run()
            .stderr_has("warning: .docker/Dockerfile.stage1:1: ONBUILD in stage 1")
            .error(1, "the chain and the main Dockerfile differ in 2 places");
        let stdout = out.stdout();
        assert!(stdout.contains("file /triggered: only in the chain"), "{stdout}");
        assert!(
            stdout.contains("config OnBuild: chain (none) | main [\"RUN touch /triggered\"]"),
            "{stdout}"
        );
        assert!(!repo.tags().iter().any(|t| t.contains("verify")), "the temporary tag is removed");
    }
}

on_every_engine! {
    /// A chain file without the ARG re-declarations (edited by hand, built with
    /// NO_GEN) does not see the build arg: verify names the file that differs.
    fn a_chain_missing_an_arg_redeclaration_diverges(builder: Builder) {
        let repo = builder.repo("verify-arg");
        let project = Project::on("verify-arg", builder);
        project.stages(&[
            &format!("FROM {BASE_IMAGE}\nARG FLAVOUR=plain"),
            "RUN echo \"$FLAVOUR\" > /flavour",
        ]);
        project.xtask(&["dockerfile"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        let chain = project.read(".docker/generated/Dockerfile.stage1");
        assert!(chain.contains("\nARG FLAVOUR=plain\n"), "{chain}");
        project
            .write(".docker/generated/Dockerfile.stage1", chain.replace("\nARG FLAVOUR=plain\n", "\n"));

        let out = project
            .xtask(&["verify", "--", "--build-arg", "FLAVOUR=spicy"])
            .env("DOCKER_IMAGE", &repo.name)
            .env("NO_GEN", "1")
            .run()
            .error(1, "differ in 1 place (listed above)");
        assert_eq!(out.stdout().trim(), "file /flavour: size 1 | 6");
    }
}

on_every_engine! {
    /// The repository's own example snippets build on a local base image (nothing
    /// can be pulled here), and their chain agrees with the main Dockerfile.
    fn the_example_snippets_build_and_agree(builder: Builder) {
        let repo = builder.repo("example");
        let project = Project::on("example", builder);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for entry in std::fs::read_dir(root.join(".docker")).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                project.write(&format!(".docker/{name}"), std::fs::read(&path).unwrap());
            }
        }
        for file in ["Cargo.toml", "Cargo.lock", ".dockerignore"] {
            project.write(file, std::fs::read(root.join(file)).unwrap());
        }
        let out = project
            .xtask(&["verify", "--", "--build-arg", &format!("BASE_IMAGE={BASE_IMAGE}")])
            .env("DOCKER_IMAGE", &repo.name)
            .env("A_ENV_NAME", "ci")
            .run()
            .ok()
            .stdout_has("agree");
        assert!(out.stderr().contains("stage 4/4 .docker/Dockerfile.stage4"));
        let env =
            builder.run_in(&repo.tag("latest_stage4"), "cat /etc/app/env && ls /srv/app");
        assert!(env.starts_with("APP_ENV_NAME=ci\n"), "{env}");
        assert!(env.contains("Cargo.toml"), "{env}");
    }
}

/// A BuildKit-only feature in a snippet (a cache mount, which the legacy
/// builder refuses) builds through the chain and agrees with the main
/// Dockerfile. The cache is the builder's, not the image's: neither image
/// holds what was written there, and both hold what was copied out of it.
fn a_cache_mount_builds_and_agrees(builder: Builder) {
    let repo = builder.repo("verify-cache-mount");
    let project = Project::on("verify-cache-mount", builder);
    project.stages(&[
        &format!("FROM {BASE_IMAGE}"),
        "RUN --mount=type=cache,target=/var/cache/app \\\n    echo cached > /var/cache/app/data && cp /var/cache/app/data /kept",
        "RUN test ! -e /var/cache/app/data && cat /kept",
    ]);
    project.xtask(&["verify"]).env("DOCKER_IMAGE", &repo.name).run().ok().stdout_has("agree");
    assert_eq!(
        builder.run_in(
            &repo.tag("latest_stage2"),
            "cat /kept; test -e /var/cache/app/data || echo clean"
        ),
        "cached\nclean"
    );
}

#[test]
fn a_cache_mount_builds_and_agrees_on_buildkit() {
    a_cache_mount_builds_and_agrees(Builder::BuildKit);
}

#[test]
fn a_cache_mount_builds_and_agrees_on_the_modern_engine() {
    a_cache_mount_builds_and_agrees(Builder::Modern);
}
