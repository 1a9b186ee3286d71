//! The engine failing mid-run, and Ctrl-C, on the real engine and both
//! builders. The tool exits 1 (130 when interrupted) with a one-line reason;
//! tags of stages built before stay, nothing after is tagged.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::docker::{Builder, Repo, BASE_IMAGE};
use crate::support::Project;

/// The real docker program of `builder`, as a path.
pub(crate) fn real_docker(builder: Builder) -> PathBuf {
    let program = PathBuf::from(builder.program());
    if program.is_absolute() {
        return program;
    }
    let path = std::env::var_os("PATH").unwrap();
    std::env::split_paths(&path)
        .map(|dir| dir.join(&program))
        .find(|p| p.is_file())
        .expect("docker on PATH")
}

/// A `DOCKER` wrapper around the real docker that behaves like a daemon
/// stopped after the first build: from then on, builds (or, with
/// `everything`, all calls) talk to a socket nobody listens on.
fn stopping_engine(dir: &Path, everything: bool, builder: Builder) -> PathBuf {
    let real = real_docker(builder);
    let down_applies = if everything { "true" } else { "[ \"$1\" = build ]" };
    let script = format!(
        r#"#!/bin/sh
dir="$(dirname "$0")"
if [ -e "$dir/down" ] && {down_applies}; then
  DOCKER_HOST=unix:///nonexistent/xtask-test.sock exec '{real}' "$@"
fi
if [ "$1" = build ]; then
  '{real}' "$@"
  status=$?
  touch "$dir/down"
  exit $status
fi
exec '{real}' "$@"
"#,
        real = real.display()
    );
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("docker-stopping");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn three_stages(project: &Project, stage1: &str) {
    project.stages(&[&format!("FROM {BASE_IMAGE}\nENV S0=1\n"), stage1, "ENV S2=1\n"]);
}

/// The one `error:` line of `stderr`, asserting there is exactly one, followed by
/// a line saying what to do, and no panic or backtrace.
fn one_error_line(stderr: &str) -> String {
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "a panic reached the user:\n{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    let errors: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "expected one `error:` line:\n{stderr}");
    let hint = lines.get(errors[0] + 1).copied().unwrap_or_default();
    assert!(!hint.trim().is_empty(), "no line saying what to do after the error:\n{stderr}");
    lines[errors[0]].to_string()
}

on_every_engine! {
    fn daemon_stopping_after_the_first_build(builder: Builder) {
        let repo = builder.repo("daemon-stops");
        let project = Project::on("daemon-stops", builder);
        three_stages(&project, "ENV S1=1\n");
        let engine = stopping_engine(&project.root.parent().unwrap().join("engine"), false, builder);
        let out = project
            .xtask(&["stages"])
            .env("DOCKER_IMAGE", &repo.name)
            .env("DOCKER", &engine)
            .run()
            .error(1, "stage 1 (.docker/Dockerfile.stage1) failed")
            .stderr_has("not built: stage 2, the full image");
        one_error_line(&out.stderr());
        assert_eq!(repo.tags(), ["latest_stage0"], "stage 0 stays, nothing after it is tagged");
    }
}

on_every_engine! {
    /// A daemon that stops for good: every call after the first build fails,
    /// including the one that reads the new stage's id for its child's label.
    fn daemon_gone_for_every_call_after_the_first_build(builder: Builder) {
        let repo = builder.repo("daemon-gone");
        let project = Project::on("daemon-gone", builder);
        three_stages(&project, "ENV S1=1\n");
        let engine = stopping_engine(&project.root.parent().unwrap().join("engine"), true, builder);
        let out =
            project.xtask(&["stages"]).env("DOCKER_IMAGE", &repo.name).env("DOCKER", &engine).run();
        let stderr = out.stderr();
        let error = one_error_line(&stderr);
        assert_eq!(
            out.output.status.code(),
            Some(1),
            "a daemon failing mid-run is a failed build (exit 1), not bad input:\n{stderr}"
        );
        assert!(error.contains("stage 1 (.docker/Dockerfile.stage1) failed"), "{error}");
        assert_eq!(repo.tags(), ["latest_stage0"], "stage 0 stays, nothing after it is tagged");
    }
}

/// Sends `signal` to `pid`, or to the process group `-pid`, with kill(2).
/// Not `/bin/kill -INT -<pgid>`: procps-ng 4.0.2 (Debian 12) reads `-12345`
/// as `-1` and signals every process on the machine, the engine included.
pub(crate) fn send(pid: i32, signal: i32) {
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    assert!(pid.abs() > 1, "refusing to signal {pid}");
    // SAFETY: kill(2) with a pid or process group of our own child.
    let sent = unsafe { kill(pid, signal) };
    assert_eq!(sent, 0, "kill({pid}, {signal}) failed");
}

pub(crate) const SIGINT: i32 = 2;
const SIGKILL: i32 = 9;

/// `xtask stages` started in a process group of its own, as a terminal
/// starts a foreground job, with its stderr collected as it comes.
struct Running {
    child: Child,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

fn start_stages(project: &Project, repo: &Repo) -> Running {
    let mut command = project.xtask(&["stages"]).env("DOCKER_IMAGE", &repo.name).command;
    command.process_group(0).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut pipe = child.stderr.take().unwrap();
    let sink = stderr.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = pipe.read(&mut buf) {
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    Running { child, stderr, reader: Some(reader) }
}

/// Polls `done` every 50 ms until it holds; panics with `what` after `limit`.
pub(crate) fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what} (waited {limit:?})");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether a process on this machine runs `sleep <seconds>`: the build step
/// of the test, which runs as a host process on every engine and builder.
pub(crate) fn sleeping(seconds: u32) -> bool {
    let wanted = format!("sleep\0{seconds}\0");
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .is_ok_and(|cmdline| cmdline.ends_with(wanted.as_bytes()))
    })
}

impl Running {
    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until the stage 1 build runs its `RUN` step.
    fn wait_for_stage1(&mut self, seconds: u32) {
        wait_until(Duration::from_secs(120), "the stage 1 build never ran its step", || {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("xtask ended before stage 1 ran: {status}\n{}", self.stderr());
            }
            sleeping(seconds)
        });
    }

    /// Waits for the end, at most `limit` after now (killed past that), and
    /// for the last of its output.
    fn wait(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let signalled = Instant::now();
        let mut status = None;
        let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until(limit, "still running after Ctrl-C", || {
                status = self.child.try_wait().unwrap();
                status.is_some()
            })
        }));
        if ended.is_err() {
            send(-(self.child.id() as i32), SIGKILL);
            let _ = self.child.wait();
            panic!("still running {limit:?} after Ctrl-C:\n{}", self.stderr());
        }
        let took = signalled.elapsed();
        // The stderr pipe closes once the xtask and docker have both ended.
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        (status.unwrap(), took)
    }
}

fn ctrl_c(to_group: bool, name: &str, builder: Builder) {
    // A step no other test runs, so that its process is told apart.
    let seconds = 3000 + u32::from(to_group) * 10 + builder as u32;
    let repo = builder.repo(name);
    let project = Project::on(name, builder);
    three_stages(&project, &format!("RUN sleep {seconds}\n"));
    let mut running = start_stages(&project, &repo);
    running.wait_for_stage1(seconds);

    // A terminal's Ctrl-C goes to the whole foreground process group (the
    // xtask is its leader); `kill <pid>` reaches the xtask only, which must
    // pass it on to docker.
    let pid = running.child.id() as i32;
    send(if to_group { -pid } else { pid }, SIGINT);
    // A deadline only a run that never stops misses: how fast it stops
    // depends on the machine, and is printed, not asserted.
    let (status, took) = running.wait(Duration::from_secs(120));
    let stderr = running.stderr();
    // The build was stopped, not left running in the engine.
    wait_until(Duration::from_secs(20), "the stage 1 step still runs after Ctrl-C", || {
        !sleeping(seconds)
    });

    assert_eq!(status.code(), Some(130), "expected exit 130 after Ctrl-C, got {status}:\n{stderr}");
    let error = one_error_line(&stderr);
    assert!(error.contains("interrupted"), "the error line must say it was interrupted: {error}");
    assert_eq!(
        repo.tags(),
        ["latest_stage0"],
        "stage 0 stays, stage 1 and later are not tagged:\n{stderr}"
    );
    // The legacy builder's daemon removes the step's container once it has
    // stopped it, a moment after the client is gone.
    let ancestor = format!("ancestor={}", repo.tag("latest_stage0"));
    wait_until(Duration::from_secs(20), "the interrupted build left a container", || {
        builder.docker(&["ps", "-aq", "--filter", &ancestor]).is_empty()
    });
    println!("stopped {took:?} after SIGINT with {status}; {error}");
}

on_every_engine! {
    fn ctrl_c_to_the_process_group_stops_the_build(builder: Builder) {
        ctrl_c(true, "ctrl-c-group", builder);
    }
}

on_every_engine! {
    fn sigint_to_the_xtask_alone_is_passed_on_to_docker(builder: Builder) {
        ctrl_c(false, "ctrl-c-pid", builder);
    }
}
