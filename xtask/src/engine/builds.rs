//! The engine commands a run streams to the terminal: build, push, pull,
//! tag, untag. Their output goes to our stderr as it comes; a failure is
//! reported with the line of the engine's error output that says why. In a
//! dry run each is printed, shell-quoted, instead.

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};

use anyhow::{Context, Result};
use xshell::cmd;

use super::{Engine, Word};
use crate::util::print::{out, say};
use crate::util::shell_words::quote;
use crate::util::signals;

/// What became of an engine command that may fail without ending the run.
pub(crate) struct Outcome {
    pub(crate) status: ExitStatus,
    /// The first line of its error output, when it failed.
    pub(crate) reason: String,
}

impl Engine<'_> {
    /// Runs `<engine> build ...` with its output streaming to the terminal.
    /// `--force-rm`: the legacy builder keeps the container of a failed step
    /// without it, and no command may leave a container behind (BuildKit
    /// makes none; podman's default is the same). A stage image is built
    /// without buildx's default attestations: in the containerd image store
    /// they give every rebuild, even one wholly from the cache, a new image
    /// id, and stage images are no release to attest.
    pub(crate) fn build(&self, words: &[Word], stage: bool) -> Result<Outcome> {
        let mut all = vec![Word::Plain("--force-rm".to_string())];
        all.extend_from_slice(words);
        let env: &[(&str, &str)] =
            if stage && self.buildx { &[("BUILDX_NO_DEFAULT_ATTESTATIONS", "1")] } else { &[] };
        self.stream(env, "build", &all)
    }

    /// Pushes `tag`; the caller decides what a failure means.
    pub(crate) fn push(&self, tag: &str) -> Result<Outcome> {
        self.stream(&[], "push", &[Word::Plain(tag.to_string())])
    }

    /// Pulls `tag`; in a dry run it is printed and assumed to succeed.
    pub(crate) fn pull(&self, tag: &str) -> Result<Outcome> {
        self.stream(&[], "pull", &[Word::Plain(tag.to_string())])
    }

    /// Gives the image `source` the tag `target`.
    pub(crate) fn tag(&self, source: &str, target: &str) -> Result<Outcome> {
        let words = [Word::Plain(source.to_string()), Word::Plain(target.to_string())];
        self.stream(&[], "tag", &words)
    }

    /// Removes the tag `tag` (the image stays under its other tags).
    pub(crate) fn untag(&self, tag: &str) -> Result<Outcome> {
        self.stream(&[], "image", &[Word::Plain("rm".to_string()), Word::Plain(tag.to_string())])
    }

    /// Runs `<engine> <subcommand> <words>` with `env` added to its
    /// environment, or prints it in a dry run.
    fn stream(&self, env: &[(&str, &str)], subcommand: &str, words: &[Word]) -> Result<Outcome> {
        let shown = self.show(env, subcommand, words);
        if self.dry_run {
            out!("{shown}")?;
            return Ok(Outcome { status: success(), reason: String::new() });
        }
        say!("$ {shown}");
        let args = plain(words)?;
        let engine = &self.path;
        let mut command: Command = cmd!(self.sh, "{engine} {subcommand} {args...}").into();
        command.envs(env.iter().copied());
        self.wait(command, &shown)
    }

    /// Spawns `command`, lets a Ctrl-C reach it, and waits for it. All its
    /// output goes to our stderr as it comes, keeping stdout for what the
    /// xtask itself reports; the reason a failure reports is picked from the
    /// tail of its error output.
    fn wait(&self, mut command: Command, shown: &str) -> Result<Outcome> {
        // Both through us, not our stderr itself: a reader that goes away
        // (`2>&1 | head -1`) would kill the engine's client with SIGPIPE
        // mid-build; here only the printing is lost.
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().with_context(|| format!("cannot run {shown}"))?;
        signals::set_child(Some(child.id()));
        let stdout = child.stdout.take();
        let copy = std::thread::spawn(move || {
            stdout.map(|o| tee(o, std::io::stderr()));
        });
        let stderr = child.stderr.take();
        let tee = std::thread::spawn(move || {
            stderr.map(|e| tee(e, std::io::stderr())).unwrap_or_default()
        });
        let status = child.wait();
        signals::set_child(None);
        let _ = copy.join();
        let reason = reason(&String::from_utf8_lossy(&tee.join().unwrap_or_default()));
        let status = status.with_context(|| format!("cannot wait for {shown}"))?;
        Ok(Outcome { status, reason })
    }

    fn show(&self, env: &[(&str, &str)], subcommand: &str, words: &[Word]) -> String {
        let mut shown = String::new();
        for (name, value) in env {
            shown.push_str(&format!("{name}={} ", quote(value)));
        }
        shown.push_str(&format!("{} {subcommand}", quote(&self.program)));
        for word in words {
            shown.push(' ');
            shown.push_str(&word.shown());
        }
        shown
    }
}

fn plain(words: &[Word]) -> Result<Vec<String>> {
    words
        .iter()
        .map(|word| match word {
            Word::Plain(word) => Ok(word.clone()),
            Word::Shell(text) => {
                Err(anyhow::anyhow!("cannot run shell text {text} without a shell"))
            }
        })
        .collect()
}

#[cfg(unix)]
fn success() -> ExitStatus {
    std::os::unix::process::ExitStatusExt::from_raw(0)
}

#[cfg(windows)]
fn success() -> ExitStatus {
    std::os::windows::process::ExitStatusExt::from_raw(0)
}

/// How much of an engine's error output is kept to find the reason in: the
/// reason is near the end, and a long build must not grow our memory.
const TAIL: usize = 64 * 1024;

/// Copies `from` to `out` (our stderr) as it comes, to its end even when
/// `out` is closed; returns the last [`TAIL`] bytes.
fn tee(mut from: impl Read, mut out: impl Write) -> Vec<u8> {
    let mut buf = [0u8; 8192];
    let mut tail = Vec::new();
    while let Ok(n @ 1..) = from.read(&mut buf) {
        let _ = out.write_all(&buf[..n]);
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 2 * TAIL {
            tail.drain(..tail.len() - TAIL);
        }
    }
    if tail.len() > TAIL {
        tail.drain(..tail.len() - TAIL);
    }
    tail
}

/// The line of an engine's error output that says what failed: BuildKit's
/// `ERROR:` line (or a step's `#N ERROR:`), the legacy builder's `The command
/// ... returned a non-zero code`, else the last line that is not a URL, a hint
/// or blank. Prefixes that only say "error" are dropped: the caller says it.
fn reason(text: &str) -> String {
    let lines: Vec<&str> =
        text.split(['\n', '\r']).map(str::trim).filter(|l| !l.is_empty()).collect();
    let error = |line: &str| {
        let line = line.strip_prefix('#').map_or(line, |rest| {
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits > 0 {
                rest[digits..].trim_start()
            } else {
                line
            }
        });
        // BuildKit says `ERROR:`, the docker client `error:`, podman `Error:`.
        ["ERROR:", "error:", "Error:"]
            .iter()
            .find_map(|prefix| line.strip_prefix(prefix))
            .map(|rest| rest.trim().to_string())
            .filter(|rest| !rest.is_empty())
    };
    // A `#N ERROR` step line and the final `ERROR: failed to solve` say the
    // same; the final one comes last and wins.
    if let Some(found) = lines.iter().rev().find_map(|line| error(line)) {
        return found;
    }
    let legacy =
        |l: &&&str| l.starts_with("The command '") && l.contains("returned a non-zero code");
    if let Some(line) = lines.iter().rev().find(legacy) {
        return line.to_string();
    }
    let noise = |l: &&&str| {
        l.starts_with("http://")
            || l.starts_with("https://")
            || l.starts_with("------")
            || l.starts_with("DEPRECATED:")
            || l.starts_with("Install the buildx component")
            || l.starts_with("BuildKit is currently disabled")
            || l.starts_with("environment-variable")
            || l.starts_with("View build details:")
            || l.to_ascii_lowercase().starts_with("hint:")
    };
    lines.iter().rev().find(|l| !noise(l)).map_or_else(String::new, |l| l.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_build_reasons_from_real_engine_output() {
        let cases = [
            (
                include_str!("../../tests/fixtures/build-errors/legacy-run.txt"),
                "The command '/bin/sh -c false' returned a non-zero code: 1",
            ),
            (
                include_str!("../../tests/fixtures/build-errors/unset-run.txt"),
                "The command '/bin/sh -c false' returned a non-zero code: 1",
            ),
            (
                include_str!("../../tests/fixtures/build-errors/legacy-copy.txt"),
                "COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist",
            ),
            (
                include_str!("../../tests/fixtures/build-errors/unset-copy.txt"),
                "COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist",
            ),
            (
                include_str!("../../tests/fixtures/build-errors/buildkit-run.txt"),
                "executor failed running [/bin/sh -c false]: exit code: 1",
            ),
            (
                include_str!("../../tests/fixtures/build-errors/buildkit-copy.txt"),
                "\"/missing.txt\" not found: not found",
            ),
            (
                include_str!("../../tests/fixtures/build-errors/nobuildx.txt"),
                "BuildKit is enabled but the buildx component is missing or broken.",
            ),
        ];
        for (output, expected) in cases {
            assert_eq!(reason(output), expected, "{output}");
        }
    }

    #[test]
    fn newer_buildkit_and_podman_reasons() {
        let buildx = "#5 [2/2] RUN false\n#5 ERROR: process \"/bin/sh -c false\" did not complete successfully: exit code: 1\n------\n > [2/2] RUN false:\n------\nDockerfile:2\n--------------------\nERROR: failed to solve: process \"/bin/sh -c false\" did not complete successfully: exit code: 1\n\nView build details: docker-desktop://dashboard/build/x\n";
        assert_eq!(
            reason(buildx),
            "failed to solve: process \"/bin/sh -c false\" did not complete successfully: exit code: 1"
        );
        assert_eq!(
            reason("STEP 2/2: RUN false\nError: building at STEP \"RUN false\": exit status 1\n"),
            "building at STEP \"RUN false\": exit status 1"
        );
        assert_eq!(reason("something broke\n\nhttps://docs.docker.com/x\n\n"), "something broke");
        assert_eq!(reason(""), "");
    }

    #[test]
    fn only_a_bounded_tail_is_kept() {
        let long = vec![b'x'; 3 * TAIL + 10];
        let tail = tee(&[&long[..], b"\nERROR: the reason\n"].concat()[..], std::io::sink());
        assert!(tail.len() <= TAIL);
        assert_eq!(reason(&String::from_utf8_lossy(&tail)), "the reason");
    }
}
