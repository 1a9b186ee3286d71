//! The team stage cache: stage keys, key tags in a registry, and engines that
//! never build a stage another already built.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use crate::engine_failures::{real_docker, send, sleeping, wait_until, SIGINT};
use crate::support::docker::{Builder, Repo, BASE_IMAGE};
use crate::support::registry::Registry;
use crate::support::{FakeEngine, Project};

/// Four stages that each make a layer; every image carries `label`, so that
/// the containers of this test alone can be counted.
fn layered_stages(name: &str, builder: Builder, label: &str) -> Project {
    let project = Project::on(name, builder);
    project.stages(&[
        &format!("FROM {BASE_IMAGE}\nLABEL {label}=1\nRUN echo 0 > /s0"),
        "RUN echo 1 > /s1",
        "RUN echo 2 > /s2",
        "RUN echo 3 > /s3",
    ]);
    project
}

/// The rows of a run's summary table: (stage, outcome).
fn summary(stderr: &str) -> Vec<(String, String)> {
    let outcomes = ["built", "pulled", "tagged", "failed", "not built"];
    stderr
        .lines()
        .filter_map(|line| {
            let fate = outcomes.iter().find(|o| line.ends_with(&format!("  {o}")))?;
            let stage = line.split_whitespace().next()?;
            Some((stage.to_string(), fate.to_string()))
        })
        .collect()
}

fn rows(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(s, f)| (s.to_string(), f.to_string())).collect()
}

/// The state column of `status` (with its other columns, when `registry`).
fn states(project: &Project, image: &str, registry: bool) -> Vec<String> {
    let args: &[&str] = if registry { &["status", "--registry"] } else { &["status"] };
    let out = project.xtask(args).env("DOCKER_IMAGE", image).run().ok().stdout();
    out.lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.split("  ").filter(|c| !c.trim().is_empty()).collect();
            let from = if registry { cells.len() - 2 } else { cells.len() - 1 };
            cells[from..].iter().map(|c| c.trim()).collect::<Vec<_>>().join(" | ")
        })
        .collect()
}

on_every_engine! {
    /// `DOCKER_IMAGE_TAG=feature cargo xtask stages 3` after `main` was built:
    /// the needed parent, stage 2, is tagged from main's image; stage 3 is built.
    fn a_stage_built_under_another_tag_is_tagged_not_rebuilt(builder: Builder) {
        let label = format!("xtask-cache-{}", builder.named("tagged"));
        let repo = builder.repo("cache-tagged");
        let project = layered_stages("cache-tagged", builder, &label);
        let run = |tag: &str| {
            project.xtask(&["stages", "3"]).env("DOCKER_IMAGE", &repo.name).env("DOCKER_IMAGE_TAG", tag).run().ok()
        };
        run("main");
        let out = run("feature");
        assert_eq!(summary(&out.stderr()), rows(&[("2", "tagged"), ("3", "built")]), "{}", out.stderr());
        assert_eq!(repo.id("feature_stage2"), repo.id("main_stage2"), "the same image");
        let feature = format!("{}:feature", repo.name);
        assert_eq!(states(&project, &feature, false), ["missing", "missing", "fresh", "fresh", "missing"]);
    }
}

#[test]
fn dry_run_pull_prints_the_key_tag_pull_it_would_try_first() {
    let project = Project::new("cache-dry-run");
    project.stages(&["FROM busybox", "RUN 1", "RUN 2", "RUN 3"]);
    let fake = FakeEngine::new(&project);
    let out = project
        .xtask(&["stages", "3", "--pull", "--dry-run"])
        .env("PATH", fake.path())
        .env("DOCKER_IMAGE", "registry.example:5000/ns/app")
        .run()
        .ok();
    let printed = out.stdout();
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 4, "{printed}");
    let key_tag = lines[0].strip_prefix("docker pull ").unwrap_or_else(|| panic!("{printed}"));
    let hex = key_tag.strip_prefix("registry.example:5000/ns/app:stage2-").unwrap();
    assert_eq!(hex.len(), 32, "{key_tag}");
    assert_eq!(
        lines[1],
        format!("docker tag {key_tag} registry.example:5000/ns/app:latest_stage2")
    );
    assert_eq!(lines[2], format!("docker image rm {key_tag}"));
    // Stage 3 is built on the pulled stage 2, whose key its label names.
    assert!(lines[3].contains(&format!(";parent=sha256:{hex}")), "{}", lines[3]);
    // The real run asks the registry, without pulling, before it pulls.
    fake.take_calls();
    project
        .xtask(&["stages", "3", "--pull"])
        .env("PATH", fake.path())
        .env("DOCKER_IMAGE", "registry.example:5000/ns/app")
        .run()
        .ok();
    let calls = fake.take_calls();
    assert!(calls.contains(&format!("[manifest][inspect][--insecure][{key_tag}]")), "{calls:?}");
}

/// `xtask stages ...` run in a process group of its own, as a terminal runs
/// a job, by `builder` with the engine program `docker`.
fn spawn(project: &Project, args: &[&str], image: &str, docker: &Path) -> std::process::Child {
    let mut command = project.xtask(args).env("DOCKER_IMAGE", image).env("DOCKER", docker).command;
    command.process_group(0).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    command.spawn().unwrap()
}

/// A `DOCKER` that is the real one, but for `<command> <image>` where the
/// image matches `image` (a shell `case` pattern): that one runs (when
/// `run_first`) and then hangs in `sleep <seconds>`, for a Ctrl-C to find it there.
fn hanging_engine(
    dir: &Path,
    builder: Builder,
    (command, image): (&str, &str),
    run_first: bool,
    seconds: u32,
) -> PathBuf {
    let real = real_docker(builder);
    let first = if run_first {
        format!("'{}' \"$@\" >&2 || exit $?", real.display())
    } else {
        String::new()
    };
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = {command} ]; then\n  case \"$2\" in\n    {image}) {first}\n      exec sleep {seconds} ;;\n  esac\nfi\nexec '{}' \"$@\"\n",
        real.display()
    );
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("docker-hanging");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Waits for `sleep <seconds>`, sends Ctrl-C to the job, and returns how it ended.
fn interrupt_at(child: std::process::Child, seconds: u32) -> Output {
    let pid = child.id() as i32;
    wait_until(Duration::from_secs(120), "the command to interrupt never ran", || {
        sleeping(seconds)
    });
    send(-pid, SIGINT);
    child.wait_with_output().unwrap()
}

on_every_engine! {
    /// Ctrl-C while a key tag is pushed, then while one is pulled: no key tag
    /// stays, no stage is half tagged, no container is left.
    fn ctrl_c_during_a_push_or_a_pull_leaves_no_key_tag(builder: Builder) {
        let label = format!("xtask-cache-{}", builder.named("interrupted"));
        let registry = Registry::start();
        let repo = builder.repo_at(&registry.host, "cache-interrupted");
        let project = layered_stages("cache-interrupted", builder, &label);
        let fake = project.root.parent().unwrap().join("engine");
        let seconds = 4100 + builder as u32;

        let pushing = hanging_engine(&fake, builder, ("push", "*:stage0-*"), false, seconds);
        let out = interrupt_at(spawn(&project, &["stages", "0", "--push"], &repo.name, &pushing), seconds);
        assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(repo.tags(), ["latest_stage0"], "the stage stays, its key tag goes");

        // Stage 0 in the registry by its key tag, and not here.
        project.xtask(&["stages", "0", "--push"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        repo.remove_all();
        let pulling = hanging_engine(&fake, builder, ("pull", "*:stage0-*"), true, seconds + 10);
        let out = interrupt_at(spawn(&project, &["stages", "1", "--pull"], &repo.name, &pulling), seconds + 10);
        assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(repo.tags(), Vec::<String>::new(), "pulled, but neither kept nor tagged");
        let containers = builder.docker(&["ps", "-aq", "--filter", &format!("label={label}")]);
        assert_eq!(containers, "");
    }
}

/// Runs `stages` with `args` on both machines at once; both must succeed.
fn at_once(runs: [(&Project, &str); 2], args: &[&str]) {
    let children: Vec<_> = runs
        .iter()
        .map(|(project, image)| {
            let mut command = project.xtask(args).env("DOCKER_IMAGE", image).command;
            command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Two machines, two engines, one registry: dockerd 20.10 (A) and Docker 26
/// with the containerd store (B) never build a stage the other built.
#[test]
fn two_engines_share_stages_through_one_registry() {
    let (a, b) = (Builder::Legacy, Builder::Modern);
    let label = format!("xtask-cache-two-engines-{}", std::process::id());
    let mut registry = Registry::start();
    let repo_a = a.repo_at(&registry.host, "team");
    let repo_b: Repo = b.repo_like(&repo_a);
    let path = repo_a.name.split_once('/').unwrap().1.to_string();
    let (pa, pb) = (layered_stages("team-a", a, &label), layered_stages("team-b", b, &label));
    let (main, feature) = (format!("{}:main", repo_a.name), format!("{}:feature", repo_a.name));
    let ps =
        |builder: Builder| builder.docker(&["ps", "-aq", "--filter", &format!("label={label}")]);

    // A builds everything and pushes it, key tags included.
    pa.xtask(&["stages", "--push"]).env("DOCKER_IMAGE", &main).run().ok();
    let pushed = registry.tags(&path);
    assert_eq!(pushed.iter().filter(|t| t.starts_with("stage")).count(), 4, "{pushed:?}");
    assert_eq!(states(&pb, &feature, true)[..4], ["yes | missing"; 4]);

    // B, on another tag, builds stage 3 by pulling stage 2 only.
    let out = pb.xtask(&["stages", "3", "--pull"]).env("DOCKER_IMAGE", &feature).run().ok();
    assert_eq!(
        summary(&out.stderr()),
        rows(&[("2", "pulled"), ("3", "built")]),
        "{}",
        out.stderr()
    );
    assert_eq!(repo_b.tags(), ["feature_stage2", "feature_stage3"]);
    assert_eq!(states(&pb, &feature, false), ["missing", "missing", "fresh", "fresh", "missing"]);

    // A snippet changes; A pushes first, B's --stale --pull takes it.
    for project in [&pa, &pb] {
        project.snippet("Dockerfile.stage3", "RUN echo 3 changed > /s3\n");
    }
    assert_eq!(states(&pb, &feature, true)[3], "no | stale (snippet changed)");
    pa.xtask(&["stages", "--stale", "--push"]).env("DOCKER_IMAGE", &main).run().ok();
    let out = pb.xtask(&["stages", "--stale", "--pull"]).env("DOCKER_IMAGE", &feature).run().ok();
    assert_eq!(
        summary(&out.stderr()),
        rows(&[("3", "pulled"), ("full", "built")]),
        "{}",
        out.stderr()
    );
    assert_eq!(states(&pb, &feature, false), ["missing", "missing", "fresh", "fresh", "fresh"]);

    // The registry dies: B builds here with one warning; A's push fails and
    // loses nothing, and the same command succeeds once it is back.
    registry.stop();
    let other = format!("{}:other", repo_a.name);
    let out = pb.xtask(&["stages", "1", "--pull"]).env("DOCKER_IMAGE", &other).run().ok();
    let stderr = out.stderr();
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains(&format!("cannot pull from the registry {}", registry.host)));
    assert_eq!(summary(&out.stderr()), rows(&[("0", "built"), ("1", "built")]));
    pa.snippet("Dockerfile.stage2", "RUN echo 2 changed > /s2\n");
    let push = ["stages", "2", "--push"];
    pa.xtask(&push)
        .env("DOCKER_IMAGE", &main)
        .run()
        .error(1, "pushing ")
        .stderr_has("run the same command again");
    assert!(repo_a.tags().contains(&"main_stage2".to_string()));
    registry.restart();
    pa.xtask(&push).env("DOCKER_IMAGE", &main).run().ok();
    assert!(registry.tags(&path).contains(&"main_stage2".to_string()));

    // Both push the same keys at once: both succeed.
    pb.snippet("Dockerfile.stage2", "RUN echo 2 changed > /s2\n");
    let (a_tag, b_tag) = (format!("{}:a-side", repo_a.name), format!("{}:b-side", repo_a.name));
    at_once([(&pa, &a_tag), (&pb, &b_tag)], &["stages", "--push"]);
    let keys_now = registry.tags(&path).into_iter().filter(|t| t.starts_with("stage")).count();
    assert_eq!(
        keys_now,
        4 + 1 + 2,
        "first keys, stage 3's new one, stages 2-3 after stage 2 changed"
    );
    assert_eq!(
        (ps(a), ps(b)),
        (String::new(), String::new()),
        "no container left on either engine"
    );
}
