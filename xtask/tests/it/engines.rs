//! The engines teams run today: buildx builders that cannot see the engine's
//! images are refused, and Docker Hub names in every spelling find the same
//! images, on every engine.

use crate::status::{four_stages, states};
use crate::support::{FakeEngine, Project};

#[test]
fn a_builder_that_cannot_see_local_images_is_refused_before_anything_is_written() {
    for (fixture, name, driver) in [
        ("docker-container.txt", "probe-dc", "docker-container"),
        ("kubernetes.txt", "probe-k8s", "kubernetes"),
        ("remote.txt", "probe-remote", "remote"),
    ] {
        let project = Project::new("buildx-refused");
        project.stages(&["FROM busybox", "RUN true"]);
        let fake = FakeEngine::new(&project);
        let config = fake.buildx(fixture);
        let before = project.files();
        project
            .xtask(&["stages", "1"])
            .env("PATH", fake.path())
            .env("DOCKER_CONFIG", &config)
            .run()
            .error(
                2,
                &format!(
                    "the buildx builder `{name}` (driver {driver}) cannot see this engine's images"
                ),
            )
            .stderr_has("docker buildx use default");
        assert_eq!(project.files(), before, "{driver}: nothing is written");
        let calls = fake.take_calls();
        assert!(calls.contains(&"[buildx][inspect]".to_string()), "{calls:?}");
        assert!(
            !calls.iter().any(|c| c.starts_with("[build]")),
            "{driver}: nothing is built: {calls:?}"
        );
    }
}

#[test]
fn the_builder_is_asked_once_per_run_and_only_where_buildx_builds() {
    let project = Project::new("buildx-once");
    project.stages(&["FROM busybox", "RUN 1", "RUN 2", "RUN 3"]);
    let fake = FakeEngine::new(&project);
    let config = fake.buildx("docker.txt");
    let asked = |calls: Vec<String>| calls.iter().filter(|c| c.starts_with("[buildx]")).count();

    let stages = || project.xtask(&["stages"]).env("PATH", fake.path());
    stages().env("DOCKER_CONFIG", &config).run().ok();
    let calls = fake.take_calls();
    assert_eq!(asked(calls.clone()), 1, "{calls:?}");
    assert_eq!(calls.iter().filter(|c| c.starts_with("[build]")).count(), 5, "{calls:?}");
    // Stage images go without buildx's default attestations, the full image keeps them.
    project
        .xtask(&["stages", "--dry-run"])
        .env("PATH", fake.path())
        .env("DOCKER_CONFIG", &config)
        .run()
        .ok()
        .stdout_has("BUILDX_NO_DEFAULT_ATTESTATIONS=1 docker build --force-rm -t buildx-once:latest_stage0 ")
        .stdout_has("\ndocker build --force-rm -t buildx-once:latest -f Dockerfile ");
    fake.take_calls();

    // The legacy builder, or no buildx plugin: `docker build` does not use buildx.
    stages().env("DOCKER_CONFIG", &config).env("DOCKER_BUILDKIT", "0").run().ok();
    assert_eq!(asked(fake.take_calls()), 0);
    stages().env("DOCKER_CONFIG", project.path("no-config")).run().ok();
    assert_eq!(asked(fake.take_calls()), 0);
}

on_every_engine! {
    /// `docker.io/ns/app`, `docker.io/library/app` and `library/app` name the
    /// images engines list as `ns/app` and `app`: status, ancestors, the
    /// closing note and prune find them whichever spelling a run uses.
    fn docker_hub_names_in_every_spelling_find_the_same_images(builder: Builder) {
        let repo = builder.repo("hub");
        let project = Project::on("hub", builder);
        four_stages(&project);
        let hub = format!("docker.io/{}", repo.name);
        project.xtask(&["stages", "0-2"]).env("DOCKER_IMAGE", format!("{hub}:latest")).run().ok();
        assert_eq!(repo.tags(), ["latest_stage0", "latest_stage1", "latest_stage2"]);
        let stage2 = repo.id("latest_stage2");
        for spelling in [repo.name.as_str(), hub.as_str()] {
            let status = project.xtask(&["status"]).env("DOCKER_IMAGE", spelling).run().ok().stdout();
            let states: Vec<&str> =
                status.lines().skip(1).map(|l| l.rsplit("  ").next().unwrap().trim()).collect();
            assert_eq!(states, ["fresh", "fresh", "fresh", "missing", "missing"], "{spelling}:\n{status}");
        }
        let out = project.xtask(&["stages", "3"]).env("DOCKER_IMAGE", &hub).run().ok();
        let stderr = out.stderr();
        let built: Vec<&str> = stderr.lines().filter(|l| l.ends_with("  built")).collect();
        assert_eq!(built.len(), 1, "only stage 3 is built:\n{stderr}");
        assert_eq!(repo.id("latest_stage2"), stage2);

        project.snippet("Dockerfile.stage2", "ENV S2=changed\n");
        project
            .xtask(&["stages", "2"])
            .env("DOCKER_IMAGE", &hub)
            .run()
            .ok()
            .stderr_has("note: stage 3 is now behind what this run rebuilt");
        assert_eq!(
            states(&project, &repo)[..4],
            ["fresh", "fresh", "fresh", "stale (parent rebuilt)"]
        );
        project.xtask(&["stages", "--stale"]).env("DOCKER_IMAGE", &hub).run().ok();
        assert_eq!(states(&project, &repo), ["fresh"; 5]);
        if builder.keeps_former_images() {
            project
                .xtask(&["prune", "--dry-run"])
                .env("DOCKER_IMAGE", &hub)
                .run()
                .ok()
                .stdout_has("former stage 3");
        }
    }
}

on_every_engine! {
    /// Docker Hub's official images: `docker.io/library/app` and `library/app`
    /// are `app`.
    fn official_image_names_find_the_same_images(builder: Builder) {
        // One path component, as official images have: `xtask-test-official-<pid>-<n>`.
        let official = builder.repo_without_namespace("xtask-test-official");
        let app = official.name.clone();
        let project = Project::on("official", builder);
        four_stages(&project);
        project
            .xtask(&["stages", "1"])
            .env("DOCKER_IMAGE", format!("docker.io/library/{app}"))
            .run()
            .ok();
        assert_eq!(official.tags(), ["latest_stage0", "latest_stage1"]);
        let status =
            project.xtask(&["status"]).env("DOCKER_IMAGE", format!("library/{app}")).run().ok().stdout();
        assert!(status.lines().nth(2).is_some_and(|row| row.ends_with("fresh")), "{status}");
    }
}

/// A real docker-container builder (created, never started: it would need an
/// image from a registry), chosen with `BUILDX_BUILDER`: refused, naming it,
/// before anything is written.
#[test]
fn buildx_builder_chosen_with_buildx_builder_is_refused_on_the_modern_engine() {
    let builder = crate::support::docker::Builder::Modern;
    let name = format!("xtask-test-dc-{}", std::process::id());
    builder.docker(&["buildx", "create", "--name", &name, "--driver", "docker-container"]);
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            crate::support::docker::Builder::Modern.docker_ok(&["buildx", "rm", &self.0]);
        }
    }
    let _remove = Remove(name.clone());
    let project = Project::on("buildx-real", builder);
    project.stages(&["FROM busybox", "RUN true"]);
    let before = project.files();
    project.xtask(&["stages"]).env("BUILDX_BUILDER", &name).run().error(
        2,
        &format!(
            "the buildx builder `{name}` (driver docker-container) cannot see this engine's images"
        ),
    );
    assert_eq!(project.files(), before);
    // Named in the build words, the builder is the one asked about.
    project
        .xtask(&["stages", "--", "--builder", &name])
        .run()
        .error(2, &format!("the buildx builder `{name}` (driver docker-container)"));
    assert_eq!(project.files(), before);
    project
        .xtask(&["stages", "--dry-run"])
        .env("BUILDX_BUILDER", "xtask-test-no-such-builder")
        .run()
        .error(2, "buildx has no such builder");
}
