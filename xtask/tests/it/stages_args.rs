//! `cargo xtask stages` at the argument level, with a recording fake engine
//! first on PATH: which commands run, in which order, with which words. What
//! those commands do is tested against the real engine in `stages.rs`.

use crate::support::{FakeEngine, Project};

fn three_stages(name: &str) -> Project {
    let project = Project::new(name);
    project.stages(&["FROM busybox\nARG A=1", "RUN one", "RUN two"]);
    project
}

/// Only the calls that change something: builds, pulls, pushes, tags.
fn changes(calls: Vec<String>) -> Vec<String> {
    let changing = ["[build]", "[push]", "[pull]", "[tag]", "[image][rm]"];
    calls.into_iter().filter(|c| changing.iter().any(|k| c.starts_with(k))).collect()
}

#[test]
fn dry_run_prints_what_a_real_run_executes() {
    let project = three_stages("dry-run");
    let fake = FakeEngine::new(&project);
    let args =
        ["stages", "--dry-run", "--push", "--", "--build-arg", "NOTE=it's \"quoted\" $(not run)"];
    let out = project
        .xtask(&args)
        .env("PATH", fake.path())
        .env("DOCKER_IMAGE", "localhost:5000/team/app:v1")
        .env("DOCKER_BUILD_ARGS", "--network host --label 'a b'")
        .env("A_ENV_NAME", "ci")
        .run()
        .ok();
    let printed = out.stdout();
    let count = |word: &str| printed.lines().filter(|l| l.starts_with(word)).count();
    assert_eq!(
        (
            count("docker build "),
            count("docker push "),
            count("docker tag "),
            count("docker image rm ")
        ),
        (4, 7, 3, 3),
        "4 builds, 4 pushes and each stage's key tag tagged, pushed, untagged:\n{printed}"
    );
    assert!(
        printed.contains(
            "$(docker image inspect --format '{{.Created}}' localhost:5000/team/app:v1_stage0)"
        ),
        "{printed}"
    );
    fake.take_calls();

    // The printed commands, run by a shell from the project root...
    fake.sh(&project.root, &printed);
    let from_dry_run = changes(fake.take_calls());
    assert!(!project.exists("not"), "a value reached a shell");

    // ...are exactly what the real run executes.
    let args: Vec<&str> = args.into_iter().filter(|a| *a != "--dry-run").collect();
    project
        .xtask(&args)
        .env("PATH", fake.path())
        .env("DOCKER_IMAGE", "localhost:5000/team/app:v1")
        .env("DOCKER_BUILD_ARGS", "--network host --label 'a b'")
        .env("A_ENV_NAME", "ci")
        .run()
        .ok();
    let from_real_run = changes(fake.take_calls());
    assert_eq!(from_dry_run, from_real_run);
    assert_eq!(from_real_run.len(), 17);
    assert!(from_real_run[0].starts_with(
        "[build][--force-rm][-t][localhost:5000/team/app:v1_stage0][-f][.docker/generated/Dockerfile.stage0][--label][xtask.stages=dockerfile=sha256:"
    ), "{}", from_real_run[0]);
    assert!(
        from_real_run[0].contains(";parent=;image=localhost:5000/team/app;key=sha256:"),
        "{}",
        from_real_run[0]
    );
    assert!(from_real_run[0].ends_with(
        "][--build-arg][APP_ENV_NAME=ci][--network][host][--label][a b][--build-arg][NOTE=it's \"quoted\" $(not run)][.]"
    ), "{}", from_real_run[0]);
    // Stage 1's label names stage 0 by its key and creation time.
    assert!(
        from_real_run[5].contains("@created-of-localhost_5000_team_app_v1_stage0;image=localhost:5000/team/app;key=sha256:"),
        "{}",
        from_real_run[5]
    );
    assert_eq!(from_real_run[1], "[push][localhost:5000/team/app:v1_stage0]");
    let key_tag = "localhost:5000/team/app:stage0-";
    assert!(from_real_run[2]
        .starts_with(&format!("[tag][localhost:5000/team/app:v1_stage0][{key_tag}")));
    assert!(from_real_run[3].starts_with(&format!("[push][{key_tag}")));
    assert!(from_real_run[4].starts_with(&format!("[image][rm][{key_tag}")));
    assert!(from_real_run[15].starts_with(
        "[build][--force-rm][-t][localhost:5000/team/app:v1][-f][Dockerfile][--label][xtask.stages=dockerfile=sha256:"
    ));
    assert!(from_real_run[15]
        .contains(";parent=;image=localhost:5000/team/app][--build-arg][APP_ENV_NAME=ci]"));
}

#[test]
fn missing_ancestors_are_built_down_to_the_nearest_existing_one() {
    let project = Project::new("ancestors");
    project.stages(&["FROM busybox", "RUN 1", "RUN 2", "RUN 3", "RUN 4"]);
    let fake = FakeEngine::new(&project);
    fake.images(
        "ns/app",
        &[
            ("latest_stage0", "sha256:zero"),
            ("latest_stage1", "sha256:one"),
            ("latest_stage4", "sha256:four"),
        ],
    );
    let out = project
        .xtask(&["stages", "3"])
        .env("PATH", fake.path())
        .env("DOCKER_IMAGE", "ns/app")
        .run()
        .ok();
    let builds = changes(fake.take_calls());
    assert_eq!(builds.len(), 2, "{builds:?}");
    assert!(
        builds[0].starts_with("[build][--force-rm][-t][ns/app:latest_stage2]")
            && builds[0].contains("@created-of-ns_app_latest_stage1;image=ns/app;key=sha256:")
    );
    assert!(builds[1].starts_with("[build][--force-rm][-t][ns/app:latest_stage3]"));
    let summary = out.stderr();
    assert!(
        summary.contains("stage 2/4 .docker/Dockerfile.stage2 -> ns/app:latest_stage2"),
        "{summary}"
    );
    assert!(summary.contains("ns/app:latest_stage3") && summary.contains("built"), "{summary}");
}

#[test]
fn a_later_stage_on_an_older_parent_gets_a_warning() {
    let project = Project::new("older-parent");
    project.stages(&["FROM busybox", "RUN 1", "RUN 2", "RUN 3"]);
    let fake = FakeEngine::new(&project);
    let existing: Vec<(String, String)> =
        (0..4).map(|n| (format!("latest_stage{n}"), format!("sha256:{n}"))).collect();
    let existing: Vec<(&str, &str)> =
        existing.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    fake.images("ns/app", &existing);
    project
        .xtask(&["stages", "1", "3"])
        .env("PATH", fake.path())
        .env("DOCKER_IMAGE", "ns/app")
        .run()
        .ok()
        .stderr_has("warning: stage 3 builds on the existing image of stage 2, which still holds the old stage 1: run `cargo xtask stages 1-3`");
}

#[test]
fn a_failed_build_names_the_stage_and_stops() {
    let project = three_stages("failure");
    let fake = FakeEngine::new(&project);
    fake.fail_on("latest_stage1");
    let out = project
        .xtask(&["stages"])
        .env("PATH", fake.path())
        .env("DOCKER_IMAGE", "ns/app")
        .run()
        .error(
            1,
            "stage 1 (.docker/Dockerfile.stage1) failed: docker build exited with exit status: 3",
        )
        .stderr_has("not built: stage 2, the full image");
    let builds = changes(fake.take_calls());
    assert_eq!(builds.len(), 2, "nothing is built after the failure: {builds:?}");
    let summary = out.stderr();
    for row in ["ns/app:latest_stage0", "failed", "not built", "ns/app:latest "] {
        assert!(summary.contains(row), "summary lacks {row}:\n{summary}");
    }
}

#[test]
fn settings_choose_what_is_built() {
    let project = three_stages("settings");
    let fake = FakeEngine::new(&project);
    let run = |vars: &[(&str, &str)], args: &[&str]| {
        let mut run = project.xtask(args).env("PATH", fake.path()).env("DOCKER_IMAGE", "ns/app:v1");
        for (k, v) in vars {
            run = run.env(k, *v);
        }
        run.run().ok();
        changes(fake.take_calls())
            .iter()
            .map(|c| c.split("][").nth(3).unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        run(&[("STAGES_TO_BUILD", "0, 2")], &["stages"]),
        ["ns/app:v1_stage0", "ns/app:v1_stage1", "ns/app:v1_stage2"]
    );
    assert_eq!(
        run(&[("STAGES_TO_BUILD", "2")], &["stages", "stage1"]),
        ["ns/app:v1_stage0", "ns/app:v1_stage1"]
    );
    assert_eq!(run(&[("NO_STAGES_BUILD", "1")], &["stages"]), ["ns/app:v1"]);
    assert_eq!(run(&[("NO_STAGES_BUILD", "1")], &["stages", "1"]), Vec::<String>::new());
    assert_eq!(
        run(&[("NO_FULL_BUILD", "y")], &["stages"]),
        ["ns/app:v1_stage0", "ns/app:v1_stage1", "ns/app:v1_stage2"]
    );
    assert_eq!(run(&[("DOCKER_IMAGE_TAG", "ignored")], &["stages", "0"]), ["ns/app:v1_stage0"]);
}

#[test]
fn no_gen_builds_the_chain_on_disk() {
    let project = three_stages("no-gen");
    let fake = FakeEngine::new(&project);
    project
        .xtask(&["stages", "0"])
        .env("PATH", fake.path())
        .env("NO_GEN", "1")
        .run()
        .error(2, "NO_GEN is set but .docker/generated/Dockerfile.stage0 cannot be read");
    project.xtask(&["dockerfile"]).run().ok();
    project.snippet("Dockerfile.stage0", "FROM changed\n");
    project.xtask(&["stages", "0"]).env("PATH", fake.path()).env("NO_GEN", "1").run().ok();
    assert!(!project.read(".docker/generated/Dockerfile.stage0").contains("changed"));
    project.xtask(&["stages", "0"]).env("PATH", fake.path()).run().ok();
    assert!(project.read(".docker/generated/Dockerfile.stage0").contains("FROM changed"));
}

#[test]
fn pull_takes_the_key_tag_the_registry_holds_or_builds() {
    let project = three_stages("pull");
    let fake = FakeEngine::new(&project);
    let pull = || {
        project
            .xtask(&["stages", "2", "--pull"])
            .env("PATH", fake.path())
            .env("DOCKER_IMAGE", "ns/app")
            .run()
            .ok()
    };
    pull();
    let calls = fake.take_calls();
    let lookup =
        calls.iter().find(|c| c.starts_with("[manifest][inspect][--insecure][ns/app:stage1-"));
    let key_tag = lookup
        .unwrap_or_else(|| panic!("{calls:?}"))
        .rsplit('[')
        .next()
        .unwrap()
        .trim_end_matches(']')
        .to_string();
    let calls = changes(calls);
    assert_eq!(
        calls[..3],
        [
            format!("[pull][{key_tag}]"),
            format!("[tag][{key_tag}][ns/app:latest_stage1]"),
            format!("[image][rm][{key_tag}]"),
        ]
    );
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert!(calls[3].starts_with("[build][--force-rm][-t][ns/app:latest_stage2]"));

    // The registry fails the pull: one warning naming it, and everything is built here.
    fake.fail_on("pull ns/app");
    let out = pull();
    let calls = changes(fake.take_calls());
    let kinds: Vec<&str> = calls.iter().map(|c| c.split(']').next().unwrap()).collect();
    assert_eq!(kinds, ["[pull", "[build", "[build", "[build"], "{calls:?}");
    out.stderr_has(
        "warning: cannot pull from the registry docker.io (fake failure): building here",
    );
}

#[test]
fn engine_missing_or_unreachable() {
    let project = three_stages("engine");
    project
        .xtask(&["stages"])
        .env("DOCKER", "/nonexistent/docker")
        .run()
        .error(2, "engine program `/nonexistent/docker` not found")
        .stderr_has("set DOCKER");
    project
        .xtask(&["stages", "0"])
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .run()
        .error(2, "the container engine is not reachable")
        .stderr_has("start it");
    let out = project
        .xtask(&["stages", "1", "--dry-run"])
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .run()
        .ok();
    let out = out.stderr_has("planning as if no stage image exists").stdout_has("latest_stage0");
    assert_eq!(out.stdout().lines().count(), 2);
}

#[test]
fn secret_looking_build_args_are_refused() {
    let project = three_stages("secrets");
    let fake = FakeEngine::new(&project);
    project
        .xtask(&["stages"])
        .env("PATH", fake.path())
        .env("DOCKER_BUILD_ARGS", "--build-arg DB_PASSWORD=hunter2")
        .run()
        .error(2, "build arg DB_PASSWORD (from DOCKER_BUILD_ARGS) looks like a secret");
    project
        .xtask(&["stages", "--", "--build-arg=github_token=x"])
        .env("PATH", fake.path())
        .run()
        .error(2, "build arg github_token (from the arguments after --) looks like a secret")
        .stderr_has("--allow-secret-args");
    assert!(changes(fake.take_calls()).is_empty());
    project
        .xtask(&["stages", "0", "--allow-secret-args", "--", "--build-arg", "API_KEY=x"])
        .env("PATH", fake.path())
        .run()
        .ok();
}

#[test]
fn unknown_stages_are_refused_before_anything_runs() {
    let project = three_stages("unknown");
    let fake = FakeEngine::new(&project);
    for (stage, message, hint) in [
        ("7", "unknown stage `7`", "stages are 0-2"),
        ("stage9", "unknown stage `stage9`", "stages are 0-2"),
        ("x-1", "unknown stage `x-1`", "stages are 0-2"),
        ("2-0", "stage range 2-0 is reversed", "write it 0-2"),
    ] {
        project
            .xtask(&["stages", stage])
            .env("PATH", fake.path())
            .run()
            .error(2, message)
            .stderr_has(hint);
    }
    project
        .xtask(&["stages"])
        .env("PATH", fake.path())
        .env("STAGES_TO_BUILD", "0 5")
        .run()
        .error(2, "unknown stage `5`");
    assert!(fake.take_calls().is_empty());
}

#[test]
fn a_heavy_build_context_gets_a_warning() {
    let project = three_stages("context");
    let fake = FakeEngine::new(&project);
    project.write("target/debug/big", vec![0u8; 2_000]);
    project.write(".git/objects/x", vec![0u8; 20]);
    project.write(".dockerignore", "# build output\n/.git\n");
    project
        .xtask(&["stages", "0"])
        .env("PATH", fake.path())
        .run()
        .ok()
        .stderr_has("warning: the build context includes target/ (2.0 KB), sent with every build: add `/target` to .dockerignore")
        .stderr_lacks(".git/");
    project.write(".dockerignore", "/.git\ntarget/\n");
    project
        .xtask(&["stages", "0"])
        .env("PATH", fake.path())
        .run()
        .ok()
        .stderr_lacks("build context");
}

#[test]
fn the_engine_program_comes_from_docker() {
    let project = three_stages("engine-program");
    let fake = FakeEngine::new(&project);
    std::fs::copy(fake.dir.join("docker"), fake.dir.join("podman")).unwrap();
    let out = project
        .xtask(&["stages", "0", "--dry-run"])
        .env("PATH", fake.path())
        .env("DOCKER", "podman")
        .run()
        .ok();
    assert!(out.stdout().starts_with("podman build --force-rm -t "), "{}", out.stdout());
    assert_eq!(
        fake.take_calls()[0],
        "[image][ls][--no-trunc][--format][{{.Repository}}\t{{.Tag}}\t{{.ID}}][engine-program]"
    );

    let path = fake.dir.join("docker");
    let out = project.xtask(&["stages", "0"]).env("DOCKER", &path).run().ok();
    assert!(
        out.stderr().contains(&format!(
            "$ {} build --force-rm -t engine-program:latest_stage0",
            path.display()
        )),
        "{}",
        out.stderr()
    );
    assert_eq!(changes(fake.take_calls()).len(), 1);
}

/// The image listing costs a process: a run from stage 0 through the last
/// needs no parent it does not build and leaves no stage above behind, and
/// skips it; any other run asks once.
#[test]
fn image_listing_only_when_a_parent_may_exist() {
    let project = three_stages("listing");
    let fake = FakeEngine::new(&project);
    let listings = |args: &[&str]| {
        project.xtask(args).env("PATH", fake.path()).run().ok();
        fake.take_calls().iter().filter(|c| c.starts_with("[image][ls]")).count()
    };
    assert_eq!(listings(&["stages"]), 0);
    assert_eq!(listings(&["stages", "0-2"]), 0);
    assert_eq!(listings(&["stages", "0-1"]), 1);
    assert_eq!(listings(&["stages", "2"]), 1);
    assert_eq!(listings(&["stages", "0", "2"]), 1);
}
