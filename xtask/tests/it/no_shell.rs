//! Issue 7, point 2: values never reach a shell. `$(...)`, backticks, `;`,
//! `&&`, `|` and quotes in DOCKER_IMAGE (refused), DOCKER_BUILD_ARGS,
//! A_ENV_NAME, the arguments after `--`, snippet contents, snippet file names,
//! STAGES_DIR, the DOCKER path and the settings file `.docker/stages.env`:
//! nothing is executed, the engine gets the exact words (recorded by a fake
//! `docker` first on PATH), and `--dry-run` output run by `sh` executes
//! exactly what a real run executes.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::settings_file::{two_stages, SETTINGS};
use crate::support::{FakeEngine, Project};

/// A file that only a shell running an injected command would create: an
/// absolute path no other test or run uses.
fn marker(test: &str) -> PathBuf {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    std::env::temp_dir().join(format!("xtask-pwned-{test}-{}-{nanos}", std::process::id()))
}

/// Asserts nothing was executed: no marker file, and no `pwned` file where a
/// relative `touch pwned` would land (the project root, the stages dir, the
/// chain folder, the test's own working directory).
fn nothing_ran(project: &Project, marker: &Path) {
    assert!(!marker.exists(), "{} exists: a value reached a shell", marker.display());
    let cwd = std::env::current_dir().unwrap();
    for dir in
        [project.root.clone(), project.path(".docker"), project.path(".docker/generated"), cwd]
    {
        for name in ["pwned", "pwned2", "pwned3"] {
            assert!(
                !dir.join(name).exists(),
                "{}/{name} exists: a value reached a shell",
                dir.display()
            );
        }
    }
}

/// The words of one recorded call: `[a][b c]` -> `["a", "b c"]`.
fn words(call: &str) -> Vec<String> {
    let inner = call.strip_prefix('[').and_then(|c| c.strip_suffix(']')).unwrap_or(call);
    inner.split("][").map(str::to_string).collect()
}

/// The calls that change something: builds, pushes, pulls.
fn changes(calls: Vec<String>) -> Vec<String> {
    calls
        .into_iter()
        .filter(|c| c.starts_with("[build]") || c.starts_with("[push]") || c.starts_with("[pull]"))
        .collect()
}

/// Runs `xtask stages <args> --dry-run`, pipes its stdout to `sh` from the
/// project root, then runs the same command for real: both must make the same
/// engine calls, and nothing else may run. Returns the real run's calls.
fn dry_run_then_real_run(
    project: &Project,
    fake: &FakeEngine,
    log: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    marker: &Path,
) -> Vec<String> {
    let take = || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let _ = std::fs::remove_file(log);
        changes(text.lines().map(str::to_string).collect())
    };
    let run = |dry: bool| {
        // `--dry-run` right after the command: after `--` it would go to docker.
        let mut all: Vec<&str> = args.to_vec();
        if dry {
            all.insert(1, "--dry-run");
        }
        let mut run = project.xtask(&all).env("PATH", fake.path());
        for (k, v) in env {
            run = run.env(k, *v);
        }
        run.run().ok()
    };
    let printed = run(true).stdout();
    assert!(take().is_empty(), "a dry run built something");
    nothing_ran(project, marker);
    fake.sh(&project.root, &printed);
    let from_dry_run = take();
    nothing_ran(project, marker);
    run(false);
    let from_real_run = take();
    nothing_ran(project, marker);
    assert_eq!(
        from_dry_run, from_real_run,
        "the dry run, run by sh, differs from the real run:\n{printed}"
    );
    assert!(!from_real_run.is_empty());
    from_real_run
}

#[test]
fn hostile_image_names_are_refused_before_anything_runs() {
    let marker = marker("image");
    let m = marker.display();
    let project = Project::new("hostile-image");
    project.stages(&["FROM busybox", "RUN one"]);
    let fake = FakeEngine::new(&project);
    let values = [
        format!("$(touch {m})"),
        format!("`touch {m}`"),
        format!("ns/app;touch {m}"),
        format!("ns/app && touch {m}"),
        format!("ns/app|touch {m}"),
        format!("ns/app'$(touch {m})'"),
        format!("ns/app\"$(touch {m})\""),
        format!("ns/app:v1;touch {m}"),
        format!("ns/app:$(touch {m})"),
        format!("ns/app\ntouch {m}"),
    ];
    for value in &values {
        for args in [&["stages"][..], &["stages", "1", "--dry-run"], &["dockerfile"], &["status"]] {
            project
                .xtask(args)
                .env("PATH", fake.path())
                .env("DOCKER_IMAGE", value)
                .run()
                .error(2, "invalid image reference");
            nothing_ran(&project, &marker);
        }
    }
    for (name, value) in [
        ("DOCKER_IMAGE_TAG", format!("$(touch {m})")),
        ("DOCKER_IMAGE_TAG", format!("v1;touch {m}")),
        ("A_GIT_PROJECT", format!("`touch {m}`")),
        ("A_GIT_NAMESPACE", "ns;touch pwned".to_string()),
    ] {
        let mut run = project.xtask(&["stages"]).env("PATH", fake.path()).env(name, &value);
        if name == "A_GIT_NAMESPACE" {
            run = run.env("A_GIT_PROJECT", "app");
        }
        run.run().error(2, "invalid image reference");
        nothing_ran(&project, &marker);
    }
    // The engine program is a path or a name, never a command line.
    project
        .xtask(&["stages"])
        .env("PATH", fake.path())
        .env("DOCKER", format!("sh -c 'touch {m}'"))
        .run()
        .error(2, "not found");
    project
        .xtask(&["stages"])
        .env("PATH", fake.path())
        .env("DOCKER", format!("docker;touch {m}"))
        .run()
        .error(2, "not found");
    nothing_ran(&project, &marker);
    assert!(changes(fake.take_calls()).is_empty(), "a refused run called the engine");
    assert!(!project.exists("Dockerfile"), "a refused run wrote the Dockerfile");
}

#[test]
fn docker_build_args_are_split_like_sh_without_running_one() {
    let marker = marker("build-args");
    let m = marker.display();
    let project = Project::new("build-args");
    project.stages(&["FROM busybox", "RUN one"]);
    let fake = FakeEngine::new(&project);
    let setting = format!(
        r#"--label "a b"  --build-arg 'X=$(touch {m})' --build-arg "Y=\`touch {m}\`" --build-arg Z=1\;touch\ {m} --label "q\"uote" --label it\'s --build-arg H=$HOME --build-arg "D=\$HOME" --build-arg U=$(id) --build-arg E= '' --label "a"'b'c\ d --label 'back\slash' --label "and && or || pipe | semi ;"	--no-cache"#
    );
    let expected: Vec<String> = [
        "--label",
        "a b",
        "--build-arg",
        &format!("X=$(touch {m})"),
        "--build-arg",
        &format!("Y=`touch {m}`"),
        "--build-arg",
        &format!("Z=1;touch {m}"),
        "--label",
        "q\"uote",
        "--label",
        "it's",
        "--build-arg",
        "H=$HOME",
        "--build-arg",
        "D=$HOME",
        "--build-arg",
        "U=$(id)",
        "--build-arg",
        "E=",
        "",
        "--label",
        "abc d",
        "--label",
        "back\\slash",
        "--label",
        "and && or || pipe | semi ;",
        "--no-cache",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    let calls = dry_run_then_real_run(
        &project,
        &fake,
        &fake.dir.join("calls.log"),
        &["stages", "1"],
        &[("DOCKER_IMAGE", "localhost:5000/ns/app:v1"), ("DOCKER_BUILD_ARGS", &setting)],
        &marker,
    );
    assert_eq!(calls.len(), 2, "{calls:?}");
    for call in &calls {
        let words = words(call);
        // build --force-rm -t TAG -f FILE --label LABEL, then the setting's words, then the context.
        assert_eq!(&words[8..words.len() - 1], &expected[..], "{call}");
        assert_eq!(words.last().unwrap(), ".");
    }
    nothing_ran(&project, &marker);
}

#[test]
fn env_name_and_passthrough_args_arrive_as_exact_words() {
    let marker = marker("passthrough");
    let m = marker.display();
    let project = Project::new("passthrough");
    project.stages(&["FROM busybox", "RUN one", "RUN two"]);
    let fake = FakeEngine::new(&project);
    let env_name = format!("$(touch {m}); `touch {m}` && touch {m} | 'q' \"d\"");
    let passthrough = [
        "--build-arg".to_string(),
        format!("P=$(touch {m})"),
        "--label".to_string(),
        format!("`touch {m}`"),
        ";".to_string(),
        format!("touch {m}"),
        "&&".to_string(),
        "|".to_string(),
        "'".to_string(),
        "\"".to_string(),
        "$HOME".to_string(),
        "a\\b".to_string(),
        "*".to_string(),
        "~".to_string(),
        "#not a comment".to_string(),
        String::new(),
    ];
    let mut args: Vec<&str> = vec!["stages", "2", "--"];
    args.extend(passthrough.iter().map(String::as_str));
    let calls = dry_run_then_real_run(
        &project,
        &fake,
        &fake.dir.join("calls.log"),
        &args,
        &[("A_ENV_NAME", &env_name), ("DOCKER_IMAGE", "ns/app")],
        &marker,
    );
    assert_eq!(calls.len(), 3, "{calls:?}");
    let mut expected = vec!["--build-arg".to_string(), format!("APP_ENV_NAME={env_name}")];
    expected.extend(passthrough.iter().cloned());
    for call in &calls {
        let words = words(call);
        assert_eq!(&words[8..words.len() - 1], &expected[..], "{call}");
    }
    // `*` and `~` were not expanded by anyone.
    assert!(calls[0].contains("][*][~][#not a comment][]"), "{}", calls[0]);
    nothing_ran(&project, &marker);
}

#[test]
fn snippet_contents_are_copied_never_run() {
    let marker = marker("contents");
    let m = marker.display();
    let project = Project::new("contents");
    let stage0 = format!("FROM busybox\n# $(touch {m}) `touch {m}`\nLABEL x=\"$(touch {m})\"\n");
    let stage1 = format!(
        "RUN echo $(touch {m}) `touch {m}`; touch {m} && touch {m} | cat\nENV A='; touch {m}' B=\"`touch {m}`\"\n"
    );
    project.stages(&[&stage0, &stage1, "RUN <<EOF\ntouch pwned; $(touch pwned)\nEOF\n"]);
    let fake = FakeEngine::new(&project);
    project.xtask(&["dockerfile"]).run().ok();
    nothing_ran(&project, &marker);
    let main = project.read("Dockerfile");
    for line in stage0.lines().chain(stage1.lines()) {
        assert!(main.contains(&format!("{line}\n")), "{line:?} is not verbatim in:\n{main}");
    }
    assert!(main.contains("RUN <<EOF\ntouch pwned; $(touch pwned)\nEOF\n"), "{main}");
    assert!(project.read(".docker/generated/Dockerfile.stage1").contains(&stage1));
    project.xtask(&["dockerfile", "--check"]).run().ok();
    let calls = dry_run_then_real_run(
        &project,
        &fake,
        &fake.dir.join("calls.log"),
        &["stages"],
        &[("DOCKER_IMAGE", "ns/app")],
        &marker,
    );
    assert_eq!(calls.len(), 4, "three stages and the full image: {calls:?}");
    project.xtask(&["status"]).env("PATH", fake.path()).env("DOCKER_IMAGE", "ns/app").run().ok();
    nothing_ran(&project, &marker);
}

/// `Dockerfile.$(touch pwned)` is a valid snippet name: it starts with
/// `Dockerfile`. A set whose names are shell text (`$(...)`, backticks, `;`,
/// quotes, `&&`, `|`), with a plain `Dockerfile` first (it sorts first, being
/// shortest): generated, built by a dry run piped to sh and for real, and
/// addressed by name.
#[test]
fn snippet_file_names_with_shell_text() {
    let marker = marker("names");
    let project = Project::new("names");
    // Stage words are separated by spaces or commas, so only the names
    // without spaces can be given on the command line.
    let names = [
        "Dockerfile",
        "Dockerfile.$(id>pwned)",
        "Dockerfile.$(touch pwned)",
        "Dockerfile.`id>pwned2`",
        "Dockerfile.a;id>pwned",
        "Dockerfile.b'q\"uote",
        "Dockerfile.c && touch pwned3 | x",
    ];
    project.snippet(names[0], "FROM busybox\nARG A=1\n");
    for (n, name) in names.iter().enumerate().skip(1) {
        project.snippet(name, &format!("RUN echo {n}\n"));
    }
    let fake = FakeEngine::new(&project);
    project.xtask(&["dockerfile"]).env("DOCKER_IMAGE", "ns/app").run().ok();
    nothing_ran(&project, &marker);
    let main = project.read("Dockerfile");
    for (n, name) in names.iter().enumerate().skip(1) {
        let marker_line = format!("# --- .docker/{name} ---\nRUN echo {n}\n");
        assert!(main.contains(&marker_line), "{marker_line:?} not in:\n{main}");
        assert!(project.exists(&format!(".docker/generated/Dockerfile.stage{n}")));
    }

    // Every stage, by the dry run piped to sh and for real.
    let calls = dry_run_then_real_run(
        &project,
        &fake,
        &fake.dir.join("calls.log"),
        &["stages"],
        &[("DOCKER_IMAGE", "ns/app")],
        &marker,
    );
    assert_eq!(calls.len(), names.len() + 1, "{calls:?}");
    for (n, call) in calls.iter().take(names.len()).enumerate() {
        let words = words(call);
        assert_eq!(
            &words[..6],
            [
                "build",
                "--force-rm",
                "-t",
                &format!("ns/app:latest_stage{n}"),
                "-f",
                &format!(".docker/generated/Dockerfile.stage{n}")
            ],
        );
    }

    // Stages addressed by those names, alone and as a range.
    let calls = dry_run_then_real_run(
        &project,
        &fake,
        &fake.dir.join("calls.log"),
        &["stages", "$(id>pwned)"],
        &[("DOCKER_IMAGE", "ns/app")],
        &marker,
    );
    let tags: Vec<String> = calls.iter().map(|c| words(c)[3].clone()).collect();
    assert_eq!(tags, ["ns/app:latest_stage0", "ns/app:latest_stage1"]);
    let calls = dry_run_then_real_run(
        &project,
        &fake,
        &fake.dir.join("calls.log"),
        &["stages", "$(id>pwned)-a;id>pwned"],
        &[("DOCKER_IMAGE", "ns/app")],
        &marker,
    );
    let tags: Vec<String> = calls.iter().map(|c| words(c)[3].clone()).collect();
    let range: Vec<String> = (0..=4).map(|n| format!("ns/app:latest_stage{n}")).collect();
    assert_eq!(tags, range);
    let status = project
        .xtask(&["status"])
        .env("PATH", fake.path())
        .env("DOCKER_IMAGE", "ns/app")
        .run()
        .ok();
    assert!(status.stdout().contains(".docker/Dockerfile.$(id>pwned)"), "{}", status.stdout());
    project
        .xtask(&["stages", "`id>pwned2`"])
        .env("PATH", fake.path())
        .env("STAGES_TO_BUILD", "c && touch pwned3 | x")
        .run()
        .ok();
    nothing_ran(&project, &marker);
}

/// STAGES_DIR and the DOCKER path hold shell text; the chain file paths and
/// the engine path reach the engine, and the printed commands, as exact words.
#[test]
fn stages_dir_and_engine_path_with_shell_text() {
    let marker = marker("paths");
    let project = Project::new("paths");
    let dir = "d;touch pwned $(touch pwned2)";
    project.write(&format!("{dir}/Dockerfile.stage0"), "FROM busybox\n");
    project.write(&format!("{dir}/Dockerfile.stage1"), "RUN one\n");
    let fake = FakeEngine::new(&project);
    // The fake engine again, under a folder whose name is shell text.
    let engine_dir = project.root.parent().unwrap().join("eng `touch pwned3` $(touch pwned)");
    std::fs::create_dir_all(&engine_dir).unwrap();
    let engine = engine_dir.join("docker");
    std::fs::copy(fake.dir.join("docker"), &engine).unwrap();
    let engine_text = engine.to_string_lossy().to_string();

    let calls = dry_run_then_real_run(
        &project,
        &fake,
        &engine_dir.join("calls.log"),
        &["stages", "1"],
        &[("STAGES_DIR", dir), ("DOCKER", &engine_text), ("DOCKER_IMAGE", "ns/app")],
        &marker,
    );
    assert_eq!(calls.len(), 2, "{calls:?}");
    for (n, call) in calls.iter().enumerate() {
        assert_eq!(words(call)[5], format!("{dir}/generated/Dockerfile.stage{n}"), "{call}");
    }
    assert!(project.exists(&format!("{dir}/generated/Dockerfile.stage1")));
    assert!(fake.take_calls().is_empty(), "the engine on PATH ran instead of DOCKER");
    nothing_ran(&project, &marker);
    for dir in [engine_dir.clone(), project.path(dir)] {
        for name in ["pwned", "pwned2", "pwned3"] {
            assert!(!dir.join(name).exists(), "{}/{name}: a value reached a shell", dir.display());
        }
    }
    let _ = std::fs::remove_dir_all(engine_dir);
}

/// The settings file is read like the environment: its values are words,
/// never shell text.
#[test]
fn hostile_values_in_the_settings_file_stay_literal() {
    let project = two_stages("hostile-file");
    let fake = FakeEngine::new(&project);
    let marker = std::env::temp_dir().join(format!("xtask-pwned-file-{}", std::process::id()));
    let m = marker.display();
    project.write(
        SETTINGS,
        format!(
            "DOCKER_BUILD_ARGS=--label a=$(touch {m}) --label `touch {m}` $HOME\n\
             A_ENV_NAME=\"$(touch {m});touch pwned\"\n\
             DOCKER_IMAGE_TAG='v1'\n"
        ),
    );
    project
        .xtask(&["stages", "1"])
        .env("PATH", fake.path())
        .env("DOCKER_IMAGE", "t/app")
        .run()
        .ok();
    let builds: Vec<String> =
        fake.take_calls().into_iter().filter(|c| c.starts_with("[build]")).collect();
    let words = format!(
        "[--build-arg][APP_ENV_NAME=$(touch {m});touch pwned][--label][a=$(touch][{m})][--label][`touch][{m}`][$HOME]"
    );
    assert!(
        !builds.is_empty() && builds.iter().all(|b| b.contains(&words)),
        "{builds:#?}\nwant {words}"
    );
    assert!(!marker.exists() && !project.exists("pwned"), "a value reached a shell");
}

#[test]
fn a_hostile_image_name_in_the_settings_file_is_refused() {
    let project = two_stages("hostile-image-file");
    let fake = FakeEngine::new(&project);
    project.write(SETTINGS, "DOCKER_IMAGE=ns/app;touch pwned\nDOCKER_IMAGE_TAG=`touch pwned`\n");
    project
        .xtask(&["stages"])
        .env("PATH", fake.path())
        .run()
        .error(2, "invalid image reference `ns/app;touch pwned`");
    assert!(fake.take_calls().is_empty() && !project.exists("pwned"));
}
