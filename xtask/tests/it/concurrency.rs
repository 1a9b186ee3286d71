//! Issue 7, point 4: concurrent runs. Several `xtask dockerfile` runs at once
//! on one project end with the files a single run writes and no temp file;
//! two `xtask stages` runs on different images at once (real engine) each
//! build their own stages, on their own parents, with their own tags.

use std::collections::BTreeMap;
use std::process::{Child, Command, Output, Stdio};

use crate::support::docker::{Builder, Repo, BASE_IMAGE};
use crate::support::Project;

const RUNS: usize = 8;
const STAGES: usize = 100;

fn write_snippets(project: &Project, variant: usize) {
    for n in 0..STAGES {
        let text = match n {
            0 => format!("FROM busybox\nARG V=v{variant}\n"),
            _ => format!("ENV S{n}=v{variant}\nRUN echo {n} \\\n  && echo v{variant}\n"),
        };
        project.snippet(&format!("Dockerfile.stage{n}"), &text);
    }
}

/// The real binary in `project`, started as a hook or a terminal would start
/// it, with every setting cleared but those in `env`.
fn xtask(project: &Project, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = project.xtask(args).command;
    command
        .env_remove("CARGO_MANIFEST_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

fn expect_success(output: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && !stderr.contains("panicked") && !stderr.contains("error:"),
        "{what}: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{stderr}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
    );
}

fn is_temp(rel: &str) -> bool {
    rel.rsplit('/').next().unwrap().ends_with(".xtask-tmp")
}

fn generated(project: &Project) -> BTreeMap<String, Vec<u8>> {
    project
        .files()
        .into_iter()
        .filter(|(rel, _)| rel == "Dockerfile" || rel.starts_with(".docker/generated/"))
        .collect()
}

#[test]
fn concurrent_dockerfile_runs_write_what_one_run_writes() {
    let project = Project::new("concurrent-gen");
    let env = [("DOCKER_IMAGE", "xtask-test/concurrent")];
    // What one run alone writes, for each variant of the snippets.
    let mut expected = Vec::new();
    for variant in [0, 1] {
        write_snippets(&project, variant);
        expect_success(&xtask(&project, &["dockerfile"], &env).output().unwrap(), "one run");
        expected.push(generated(&project));
    }
    // The chain, the main Dockerfile, generated/.gitignore, the project lock
    // and the digest of the Dockerfile last written.
    assert_eq!(expected[0].len(), STAGES + 4);

    // Each round changes every snippet, then starts the runs together.
    for round in 0..4 {
        let variant = round % 2;
        write_snippets(&project, variant);
        let children: Vec<Child> =
            (0..RUNS).map(|_| xtask(&project, &["dockerfile"], &env).spawn().unwrap()).collect();
        for (i, child) in children.into_iter().enumerate() {
            expect_success(&child.wait_with_output().unwrap(), &format!("round {round}, run {i}"));
        }
        let files = generated(&project);
        let temps: Vec<&String> = files.keys().filter(|rel| is_temp(rel)).collect();
        assert!(temps.is_empty(), "round {round}: temp files left behind: {temps:?}");
        assert!(
            files == expected[variant],
            "round {round}: the files differ from a single run's: {:?}",
            files
                .iter()
                .filter(|(rel, bytes)| expected[variant].get(*rel) != Some(bytes))
                .map(|(rel, _)| rel)
                .collect::<Vec<_>>()
        );
        let all_temps: Vec<String> = project.files().into_keys().filter(|r| is_temp(r)).collect();
        assert!(all_temps.is_empty(), "round {round}: temp files left behind: {all_temps:?}");
        expect_success(
            &xtask(&project, &["dockerfile", "--check"], &env).output().unwrap(),
            "the check after the round",
        );
    }
}

/// Stage 0 takes a build arg that differs between the two runs and records it
/// in the image, so a stage built on the other run's parent shows.
fn flavoured_snippets(project: &Project) {
    project.stages(&[
        &format!("FROM {BASE_IMAGE}\nARG FLAVOUR=none\nENV FLAVOUR=${{FLAVOUR}}\nCOPY a /a\n"),
        "ENV S1=1\nCOPY b /b\n",
        "ENV S2=1\n",
    ]);
    project.write("a", "a");
    project.write("b", "b");
}

/// The build words that choose a flavour, as the team's settings would give them.
fn flavour_args(flavour: &str) -> String {
    format!("--build-arg FLAVOUR={flavour}")
}

/// Checks that `repo` holds every stage and the full image, each with
/// `flavour` (checked when `check_content`), each stage's label naming its
/// own parent, and that `status` calls every stage fresh.
fn check_own_tags(project: &Project, repo: &Repo, flavour: &str, check_content: bool) {
    assert_eq!(repo.tags(), ["latest", "latest_stage0", "latest_stage1", "latest_stage2"]);
    if !check_content {
        return check_labels_and_status(project, repo, flavour);
    }
    for tag in ["latest_stage0", "latest_stage1", "latest_stage2", "latest"] {
        let env = repo.engine.docker(&[
            "image",
            "inspect",
            "--format",
            "{{json .Config.Env}}",
            &repo.tag(tag),
        ]);
        assert!(
            env.contains(&format!("\"FLAVOUR={flavour}\"")),
            "{}: built on another run's stage ({env})",
            repo.tag(tag)
        );
    }
    check_labels_and_status(project, repo, flavour);
}

fn check_labels_and_status(project: &Project, repo: &Repo, flavour: &str) {
    let inspect = |n: usize| {
        repo.engine.docker(&[
            "image",
            "inspect",
            "--format",
            "{{.Created}} {{index .Config.Labels \"xtask.stages\"}}",
            &repo.tag(&format!("latest_stage{n}")),
        ])
    };
    for n in 1..3 {
        let (label, parent) = (inspect(n), inspect(n - 1));
        let (parent_created, parent_label) = parent.split_once(' ').unwrap();
        let parent_key = parent_label.rsplit_once(";key=").unwrap().1;
        assert!(
            label.contains(&format!(";parent={parent_key}@{parent_created};")),
            "{} label {label}, parent {parent}",
            repo.tag(&format!("latest_stage{n}"))
        );
    }
    let status = project
        .xtask(&["status"])
        .env("DOCKER_IMAGE", &repo.name)
        .env("DOCKER_BUILD_ARGS", flavour_args(flavour))
        .run()
        .ok();
    let rows: Vec<String> = status.stdout().lines().skip(1).map(str::to_string).collect();
    assert_eq!(rows.len(), 4, "three stages and the full image: {}", status.stdout());
    assert!(rows[..3].iter().all(|r| r.trim_end().ends_with("fresh")), "{}", status.stdout());
}

/// Runs `stages` for both at once. `check_content`: whether each image must
/// hold its own flavour, which BuildKit 20.10 does not ensure for builds of
/// two projects at once (see the README's Builders section).
fn stages_at_once(runs: [(&Project, &Repo, &str); 2], check_content: bool) {
    let children: Vec<Child> = runs
        .iter()
        .map(|(project, repo, flavour)| {
            let args = flavour_args(flavour);
            let env = [("DOCKER_IMAGE", repo.name.as_str()), ("DOCKER_BUILD_ARGS", &args)];
            xtask(project, &["stages"], &env).spawn().unwrap()
        })
        .collect();
    for (child, (_, repo, _)) in children.into_iter().zip(&runs) {
        expect_success(&child.wait_with_output().unwrap(), &format!("stages for {}", repo.name));
    }
    for (project, repo, flavour) in runs {
        check_own_tags(project, repo, flavour, check_content);
    }
}

on_every_engine! {
    /// The same checkout, two images (say two flavours of one app) built at once.
    fn two_stages_runs_on_different_images_in_one_project(builder: Builder) {
        let (a, b) = (builder.repo("conc-same-a"), builder.repo("conc-same-b"));
        let project = Project::on("conc-same", builder);
        flavoured_snippets(&project);
        stages_at_once([(&project, &a, "same-a"), (&project, &b, "same-b")], true);
    }
}

on_every_engine! {
    fn two_stages_runs_in_different_projects(builder: Builder) {
        let (a, b) = (builder.repo("conc-apart-a"), builder.repo("conc-apart-b"));
        let (pa, pb) = (Project::on("conc-apart-a", builder), Project::on("conc-apart-b", builder));
        flavoured_snippets(&pa);
        flavoured_snippets(&pb);
        stages_at_once([(&pa, &a, "apart-a"), (&pb, &b, "apart-b")], builder != Builder::BuildKit);
    }
}

on_every_engine! {
    /// A run that waits for the project lock asks the engine again what it
    /// asked before: stages tagged meanwhile are there, not rebuilt.
    fn a_run_that_waited_for_the_lock_sees_what_changed_meanwhile(builder: Builder) {
        let repo = builder.repo("conc-waited");
        let project = Project::on("conc-waited", builder);
        project.stages(&[&format!("FROM {BASE_IMAGE}\nENV S0={}", repo.name), "ENV S1=1", "ENV S2=1"]);
        std::fs::create_dir_all(project.path(".docker/generated")).unwrap();
        let lock = std::fs::File::create(project.path(".docker/generated/.lock")).unwrap();
        lock.lock().unwrap();

        let mut command = xtask(&project, &["stages", "2"], &[("DOCKER_IMAGE", &repo.name)]);
        let mut run = command.spawn().unwrap();
        let stderr = run.stderr.take().unwrap();
        let (said, reader) = read_lines(stderr);
        crate::engine_failures::wait_until(std::time::Duration::from_secs(60), "the run never waited for the lock", || {
            said.lock().unwrap().contains("waiting for another `cargo xtask` run")
        });
        // Meanwhile another run makes stages 0 and 1 (by hand, here: no label
        // for the run to find them by).
        for n in 0..2 {
            builder.docker(&["tag", BASE_IMAGE, &repo.tag(&format!("latest_stage{n}"))]);
        }
        drop(lock);
        let status = run.wait().unwrap();
        reader.join().unwrap();
        let said = said.lock().unwrap().clone();
        assert!(status.success(), "{said}");
        let built: Vec<&str> = said.lines().filter(|l| l.ends_with("  built")).collect();
        assert_eq!(built.len(), 1, "stage 2 only:\n{said}");
        assert!(built[0].starts_with("2 "), "{said}");
    }
}

/// Collects what `pipe` says, as it comes, in the returned string.
fn read_lines(
    mut pipe: impl std::io::Read + Send + 'static,
) -> (std::sync::Arc<std::sync::Mutex<String>>, std::thread::JoinHandle<()>) {
    let said = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = said.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = pipe.read(&mut buf) {
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    (said, reader)
}
