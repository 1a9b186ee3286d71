//! The review's points, end to end (issue 10): verify with a file name that is
//! not UTF-8, no container left behind by verify however it ends, a closed
//! stdout, `cargo xtask` alone, and a heredoc under ONBUILD.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::engine_failures::real_docker;
use crate::support::docker::{Builder, Repo, BASE_IMAGE};
use crate::support::Project;

/// Containers carrying `label`: the snippets below put it on their images, so
/// every container made from them (a build step's, verify's export) has it,
/// and tests running side by side do not count each other's.
fn containers(builder: Builder, label: &str) -> Vec<String> {
    let ids = builder.docker(&["ps", "-aq", "--filter", &format!("label={label}")]);
    ids.lines().map(str::to_string).collect()
}

/// Those of them that verify created to export an image (command `/xtask-export`).
fn export_containers(builder: Builder, label: &str) -> Vec<String> {
    let filter = format!("label={label}");
    let rows = builder.docker(&[
        "ps",
        "-a",
        "--no-trunc",
        "--filter",
        &filter,
        "--format",
        "{{.ID}} {{.Command}}",
    ]);
    rows.lines().filter(|row| row.contains("/xtask-export")).map(str::to_string).collect()
}

fn labelled_base(label: &str) -> String {
    format!("FROM {BASE_IMAGE}\nLABEL {label}=1")
}

#[test]
fn no_command_prints_the_help() {
    let project = Project::new("review-no-command");
    let out = project.xtask(&[]).run().ok();
    assert!(
        out.stdout().starts_with("cargo xtask: build Docker images in stages"),
        "{}",
        out.stdout()
    );
}

#[test]
fn onbuild_heredoc_body_is_not_an_instruction() {
    let project = Project::new("review-onbuild-heredoc");
    project.stages(&["FROM a", "ONBUILD RUN <<EOF\nFROM x\nEOF"]);
    project.xtask(&["dockerfile"]).run().ok();
    assert!(project.read("Dockerfile").contains("ONBUILD RUN <<EOF\nFROM x\nEOF\n"));
}

#[test]
fn dry_run_into_a_closed_pipe_exits_0_quietly() {
    let repo = Repo::new("review-pipe");
    let project = Project::new("review-pipe");
    let texts: Vec<String> = (0..300)
        .map(|n| if n == 0 { format!("FROM {BASE_IMAGE}") } else { format!("RUN echo {n}") })
        .collect();
    project.stages(&texts.iter().map(String::as_str).collect::<Vec<_>>());
    // Long lines: far more than a pipe buffer, so the writes after `head`
    // exits do fail.
    let padding = format!("--build-arg PAD={}", "x".repeat(500));
    let mut command = project
        .xtask(&["stages", "--dry-run"])
        .env("DOCKER_IMAGE", &repo.name)
        .env("DOCKER_BUILD_ARGS", &padding)
        .command;
    let mut xtask = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let head = Command::new("head")
        .arg("-1")
        .stdin(xtask.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let out = xtask.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(head.stdout.iter().filter(|&&b| b == b'\n').count(), 1);
    assert!(
        out.status.code() == Some(0) && stderr.is_empty(),
        "exit {:?}, stderr:\n{stderr}",
        out.status
    );
}

on_every_engine! {
    fn verify_names_a_non_utf8_file_escaped(builder: Builder) {
        let name = builder.named("review-bytes");
        let repo = builder.repo(&name);
        let project = Project::on(&name, builder);
        project.stages(&[
            &format!("FROM {BASE_IMAGE}"),
            "ONBUILD RUN touch \"/$(printf 'bad\\377')\"",
            "ENV DONE=1",
        ]);
        let out = project
            .xtask(&["verify"])
            .env("DOCKER_IMAGE", &repo.name)
            .run()
            .error(1, "the chain and the main Dockerfile differ");
        assert!(out.stdout().contains("file /bad\\xff: only in the chain"), "{}", out.stdout());
    }
}

/// verify agrees, differs or fails (a build step exits 1): no container of its
/// images stays, the export's or a failed build step's.
fn verify_leaves_no_container(builder: Builder, case: &str, later: &str, code: i32) {
    let name = builder.named(&format!("review-containers-{case}"));
    let label = format!("xtask-review-{}-{name}", std::process::id());
    let repo = builder.repo(&name);
    let project = Project::on(&name, builder);
    project.stages(&[&labelled_base(&label), later, "ENV DONE=1"]);
    project.xtask(&["verify"]).env("DOCKER_IMAGE", &repo.name).run().code(code);
    assert_eq!(containers(builder, &label), Vec::<String>::new());
}

on_every_engine! {
    fn verify_that_agrees_leaves_no_container(builder: Builder) {
        verify_leaves_no_container(builder, "agree", "ENV A=1", 0);
    }
}

on_every_engine! {
    fn verify_that_differs_leaves_no_container(builder: Builder) {
        verify_leaves_no_container(builder, "differ", "ONBUILD RUN touch /x", 1);
    }
}

on_every_engine! {
    fn verify_whose_build_fails_leaves_no_container(builder: Builder) {
        verify_leaves_no_container(builder, "fail", "RUN false", 1);
    }
}

on_every_engine! {
    /// A Ctrl-C while verify reads an image's files removes the export
    /// container and the temporary tag.
    fn interrupted_verify_removes_its_container_and_tag(builder: Builder) {
        interrupted_verify(builder, "review-interrupt", 1);
    }
}

on_every_engine! {
    /// A second Ctrl-C, sent once the first has reached the export, still
    /// lets verify remove its container and its temporary tag.
    fn verify_interrupted_twice_removes_its_container_and_tag(builder: Builder) {
        interrupted_verify(builder, "review-interrupt-twice", 2);
    }
}

/// verify, stopped by `signals` SIGINTs while it reads the chain image's
/// files: exit 130, and neither the export container nor the temporary tag
/// stays. The export holds its stream open until the last signal, so the
/// signals reach verify while it reads, however busy the machine.
fn interrupted_verify(builder: Builder, name: &str, signals: u32) {
    let name = builder.named(name);
    let label = format!("xtask-review-{}-{name}", std::process::id());
    let repo = builder.repo(&name);
    let project = Project::on(&name, builder);
    project.stages(&[&labelled_base(&label), "RUN echo data > /data"]);
    let export = HeldExport::new(&project, builder, signals);
    let mut command = project.xtask(&["verify"]).env("DOCKER_IMAGE", &repo.name).command;
    export.apply(&mut command);
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    export.wait_for(&mut child, "exported");
    // Not a build step's container: the export's.
    assert_eq!(export_containers(builder, &label).len(), 1, "no export container");
    for n in 1..=signals {
        interrupt(child.id());
        if n < signals {
            // The xtask has taken this one and passed it on to the export.
            export.wait_for(&mut child, &format!("interrupt {n}"));
        }
    }
    let status = child.wait().unwrap();
    let stderr = stderr.join().unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted while reading the files of"), "{stderr}");
    assert_eq!(containers(builder, &label), Vec::<String>::new(), "{stderr}");
    assert!(!repo.tags().iter().any(|t| t.contains("verify")), "{:?}", repo.tags());
}

/// A `DOCKER` wrapper around the builder's docker whose `export` writes the
/// whole stream, then holds it open until it has been sent `signals`
/// SIGINTs, and ends as an interrupted export does. It says what happened
/// on a fifo, so the test waits for states, never for a time.
struct HeldExport {
    program: PathBuf,
    fifo: PathBuf,
    real: PathBuf,
    signals: u32,
    events: mpsc::Receiver<String>,
}

impl HeldExport {
    fn new(project: &Project, builder: Builder, signals: u32) -> HeldExport {
        let dir = project.root.parent().unwrap().join("held-export");
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("events");
        let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success(), "mkfifo {}", fifo.display());
        // Read and write: no writer's close ends the reading.
        let reading = std::fs::OpenOptions::new().read(true).write(true).open(&fifo).unwrap();
        let (send, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(reading).lines() {
                let Ok(line) = line else { return };
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        let program = dir.join("docker");
        std::fs::write(&program, HELD_EXPORT).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        HeldExport { program, fifo, real: real_docker(builder), signals, events }
    }

    fn apply(&self, command: &mut Command) {
        command
            .env("DOCKER", &self.program)
            .env("XTASK_TEST_DOCKER", &self.real)
            .env("XTASK_TEST_EVENTS", &self.fifo)
            .env("XTASK_TEST_SIGNALS", self.signals.to_string());
    }

    /// Waits until the export says `event`; fails if the xtask ends first
    /// or nothing comes within a generous deadline.
    fn wait_for(&self, child: &mut Child, event: &str) {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            match self.events.recv_timeout(Duration::from_secs(1)) {
                Ok(said) if said == event => return,
                Ok(said) => panic!("the export said {said:?} before {event:?}"),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(err) => panic!("waiting for {event:?}: {err}"),
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("verify ended ({status}) before the export said {event:?}");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the export did not say {event:?} within 300 s");
            }
        }
    }
}

const HELD_EXPORT: &str = r#"#!/bin/sh
[ "$1" = export ] || exec "$XTASK_TEST_DOCKER" "$@"
got=0
trap 'got=$((got + 1)); echo "interrupt $got" > "$XTASK_TEST_EVENTS"
      if [ "$got" -ge "$XTASK_TEST_SIGNALS" ]; then kill "$holder"; exit 130; fi' INT
"$XTASK_TEST_DOCKER" "$@" || exit
# The stream is written; it stays open while this shell runs (the sleep it
# waits on holds none of its files).
sleep 600 </dev/null >/dev/null 2>&1 &
holder=$!
echo exported > "$XTASK_TEST_EVENTS"
while [ "$got" -lt "$XTASK_TEST_SIGNALS" ] && kill -0 "$holder" 2>/dev/null; do
  wait "$holder"
done
exit 1
"#;

/// SIGINT to the xtask alone, as `kill -INT` does.
fn interrupt(pid: u32) {
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    let pid = i32::try_from(pid).unwrap();
    assert!(pid > 1);
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { kill(pid, 2) }, 0);
}

/// Runs `command` with stdout and stderr into a pipe whose reader is
/// already gone, as `2>&1 | head -0` leaves them.
fn into_a_closed_pipe(mut command: Command) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let stderr = writer.try_clone().unwrap();
    command.stdin(Stdio::null()).stdout(writer).stderr(stderr);
    let status = command.status().unwrap();
    std::process::Output { status, stdout: Vec::new(), stderr: Vec::new() }
}

on_every_engine! {
    /// `cargo xtask stages 2>&1 | head -1`: the run builds everything it
    /// would have built and exits 0; only the printing is lost.
    fn stages_into_a_closed_pipe_finish_their_work(builder: Builder) {
        let repo = builder.repo("review-closed-stages");
        let project = Project::on("review-closed-stages", builder);
        project.stages(&[&format!("FROM {BASE_IMAGE}\nRUN echo 0 > /s0"), "RUN echo 1 > /s1"]);
        let command = project.xtask(&["stages"]).env("DOCKER_IMAGE", &repo.name).command;
        let out = into_a_closed_pipe(command);
        assert_eq!(out.status.code(), Some(0), "{:?}", out.status);
        assert_eq!(repo.tags(), ["latest", "latest_stage0", "latest_stage1"]);
    }
}

on_every_engine! {
    /// `set -o pipefail; cargo xtask verify | head -1`: a check whose reader
    /// goes away still fails when the images differ.
    fn verify_into_a_closed_pipe_keeps_its_failure(builder: Builder) {
        let name = builder.named("review-closed-verify");
        let repo = builder.repo(&name);
        let project = Project::on(&name, builder);
        project.stages(&[&format!("FROM {BASE_IMAGE}"), "ONBUILD RUN touch /x", "ENV DONE=1"]);
        let command = project.xtask(&["verify"]).env("DOCKER_IMAGE", &repo.name).command;
        let out = into_a_closed_pipe(command);
        assert_eq!(out.status.code(), Some(1), "{:?}", out.status);
        assert!(!repo.tags().iter().any(|t| t.contains("verify")), "the temporary tag is removed");
    }
}
