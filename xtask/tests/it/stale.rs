//! `cargo xtask stages --stale`, open ranges, and the closing line that names
//! the images a run leaves behind, on every engine.

use crate::status::{four_stages, states};
use crate::support::docker::BASE_IMAGE;
use crate::support::{FakeEngine, Project};

/// The tag a printed `docker build` command gives its image: the word after `-t`.
fn built_tag(command: &str) -> &str {
    let mut words = command.split_whitespace();
    words.find(|&w| w == "-t");
    words.next().unwrap_or("")
}

/// The stages (and `full`) a run's summary says it built.
fn built(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.ends_with("  built"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

on_every_engine! {
    fn stale_builds_exactly_what_is_not_fresh(builder: Builder) {
        let repo = builder.repo("stale");
        let project = Project::on("stale", builder);
        four_stages(&project);
        project.xtask(&["stages"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        project.snippet("Dockerfile.stage2", "ENV S2=2\n");

        let dry = project.xtask(&["stages", "--stale", "--dry-run"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        let printed = dry.stdout();
        let tags: Vec<&str> = printed.lines().map(built_tag).collect();
        assert_eq!(tags, [repo.tag("latest_stage2"), repo.tag("latest_stage3"), repo.tag("latest")]);

        let out = project.xtask(&["stages", "--stale"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        assert_eq!(built(&out.stderr()), ["2", "3", "full"]);
        assert_eq!(states(&project, &repo), ["fresh"; 5]);
        project
            .xtask(&["stages", "--stale"])
            .env("DOCKER_IMAGE", &repo.name)
            .run()
            .ok()
            .stderr_has("nothing is stale");
    }
}

on_every_engine! {
    fn rebuilding_one_stage_names_what_it_leaves_behind(builder: Builder) {
        let repo = builder.repo("behind");
        let project = Project::on("behind", builder);
        four_stages(&project);
        project.xtask(&["stages"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        // Nothing changed: the rebuild is cached, nothing is left behind.
        let out = project.xtask(&["stages", "1"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        assert!(!out.stderr().contains("now behind"), "{}", out.stderr());

        project.snippet("Dockerfile.stage1", "ENV S1=2\n");
        project
            .xtask(&["stages", "1"])
            .env("DOCKER_IMAGE", &repo.name)
            .run()
            .ok()
            .stderr_has("note: stage 2, stage 3 and the full image are now behind what this run rebuilt: run `cargo xtask stages --stale`");
        assert_eq!(
            states(&project, &repo),
            [
                "fresh",
                "fresh",
                "stale (parent rebuilt)",
                "stale (stage 2 below is stale)",
                "stale (Dockerfile changed)",
            ]
        );
    }
}

on_every_engine! {
    also_modern_legacy;
    fn a_missing_stage_below_a_present_one_does_not_count(builder: Builder) {
        let repo = builder.repo("stale-gap");
        let project = Project::on("stale-gap", builder);
        four_stages(&project);
        project.xtask(&["stages"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        builder.docker(&["image", "rm", &repo.tag("latest_stage1")]);
        assert_eq!(states(&project, &repo), ["fresh", "missing", "fresh", "fresh", "fresh"]);
        project
            .xtask(&["stages", "--stale", "--dry-run"])
            .env("DOCKER_IMAGE", &repo.name)
            .run()
            .ok()
            .stderr_has("nothing is stale");
    }
}

#[test]
fn open_ranges_build_through_the_last_stage() {
    let project = Project::new("open-range");
    project.stages(&["FROM busybox", "RUN 1", "RUN 2", "RUN 3"]);
    let fake = FakeEngine::new(&project);
    fake.images("open-range", &[("latest_stage0", "sha256:zero"), ("latest_stage1", "sha256:one")]);
    for range in ["2-", "stage2-"] {
        let out =
            project.xtask(&["stages", range, "--dry-run"]).env("PATH", fake.path()).run().ok();
        let printed = out.stdout();
        let tags: Vec<&str> = printed.lines().map(built_tag).collect();
        assert_eq!(tags, ["open-range:latest_stage2", "open-range:latest_stage3"], "{range}");
    }
}

#[test]
fn stale_with_stage_arguments_is_refused() {
    let project = Project::new("stale-args");
    project.stages(&["FROM busybox", "RUN 1"]);
    let fake = FakeEngine::new(&project);
    project
        .xtask(&["stages", "--stale", "1"])
        .env("PATH", fake.path())
        .run()
        .error(2, "--stale chooses the stages itself");
    assert_eq!(fake.take_calls(), Vec::<String>::new(), "nothing ran");
}

#[test]
fn stale_on_an_unreachable_engine_is_an_environment_error() {
    let project = Project::new("stale-unreachable");
    project.stages(&["FROM busybox", "RUN 1"]);
    project
        .xtask(&["stages", "--stale"])
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .run()
        .error(2, "the container engine is not reachable");
}

#[test]
fn each_parent_built_in_the_run_is_inspected_once() {
    let project = Project::new("parent-ids");
    project.stages(&["FROM busybox", "RUN 1", "RUN 2"]);
    let fake = FakeEngine::new(&project);
    project.xtask(&["stages"]).env("PATH", fake.path()).run().ok();
    let inspects = fake.take_calls().iter().filter(|c| c.starts_with("[image][inspect]")).count();
    assert_eq!(inspects, 2, "stages 0 and 1, for the labels of stages 1 and 2");
}

on_every_engine! {
    /// `stages 0 3` after a change below: stages 1 and 2 still sit on the old
    /// stage 0, and the run's closing note says so.
    fn a_gapped_selection_names_what_it_leaves_behind(builder: Builder) {
        let repo = builder.repo("gapped");
        let project = Project::on("gapped", builder);
        four_stages(&project);
        project.xtask(&["stages"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        project.snippet("Dockerfile.stage0", &format!("FROM {BASE_IMAGE}\nENV S0=2\n"));
        project
            .xtask(&["stages", "0", "3"])
            .env("DOCKER_IMAGE", &repo.name)
            .run()
            .ok()
            .stderr_has("note: stage 1, stage 2 and the full image are now behind what this run rebuilt");
    }
}

on_every_engine! {
    /// With NO_GEN the builds use the chain files on disk, and `--stale`
    /// judges against them: one run settles it.
    fn stale_with_no_gen_settles_after_one_run(builder: Builder) {
        let repo = builder.repo("stale-no-gen");
        let project = Project::on("stale-no-gen", builder);
        four_stages(&project);
        let stale = || {
            project
                .xtask(&["stages", "--stale"])
                .env("DOCKER_IMAGE", &repo.name)
                .env("NO_GEN", "1")
                .env("NO_FULL_BUILD", "1")
                .run()
                .ok()
        };
        project.xtask(&["stages"]).env("DOCKER_IMAGE", &repo.name).env("NO_FULL_BUILD", "1").run().ok();
        let chain = project.read(".docker/generated/Dockerfile.stage1");
        project.write(".docker/generated/Dockerfile.stage1", format!("{chain}ENV BY_HAND=1\n"));
        assert_eq!(built(&stale().stderr()), ["1", "2", "3"]);
        stale().stderr_has(
            "nothing is stale: every stage image is fresh (NO_FULL_BUILD: the full image is not judged)",
        );
    }
}

on_every_engine! {
    /// `stages 1 -- --no-cache` gives stage 1 a new image with the same key:
    /// the stages above it are `parent rebuilt`, and `--stale` builds them on
    /// it (the stale images carry the right key, on the wrong parent).
    fn stale_rebuilds_what_sits_on_a_parent_rebuilt_without_the_cache(builder: Builder) {
        let repo = builder.repo("stale-no-cache");
        let project = Project::on("stale-no-cache", builder);
        four_stages(&project);
        project.snippet("Dockerfile.stage1", "RUN echo 1 > /s1\n");
        project.xtask(&["stages"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        project.xtask(&["stages", "1", "--", "--no-cache"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        assert_eq!(
            states(&project, &repo),
            ["fresh", "fresh", "stale (parent rebuilt)", "stale (stage 2 below is stale)", "fresh"]
        );
        let out = project.xtask(&["stages", "--stale"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        assert_eq!(built(&out.stderr()), ["2", "3"]);
        assert_eq!(states(&project, &repo), ["fresh"; 5]);
    }
}
