//! The engine layer: the one place that talks to the container engine
//! (`DOCKER`, default `docker`; podman works too). Commands go through xshell
//! as argument lists, never through a shell. In dry-run mode every command
//! that would change something is printed, shell-quoted, instead of run.
//! It knows the model's types (a label, an image name) and `util`; it never
//! imports `ops` or `commands`, and nothing above it runs the engine itself.
//!
//! Here: the [`Engine`] (finding the program, quiet queries, what a dry run
//! prints). Its children: `images` (image ls, inspect, rm), `builds` (build,
//! push, pull, tag: streamed to the terminal), `registry` (asking a registry
//! without pulling), `export` (an image's files), `buildx` and `tar`.

mod builds;
pub(crate) mod buildx;
mod export;
mod images;
mod registry;
pub(crate) mod tar;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

pub(crate) use images::{is_gone, label_template, normalize_id, short_id, Listed};
pub(crate) use registry::{missing, Lookup};

use crate::util::exit::input_error;
use crate::util::shell_words::quote;

/// One word of an engine command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Word {
    Plain(String),
    /// Shell text, printed as is: only a dry run makes these (a parent id
    /// read with `$(docker image inspect ...)` when it is not built yet).
    Shell(String),
}

impl Word {
    fn shown(&self) -> String {
        match self {
            Word::Plain(word) => quote(word),
            Word::Shell(text) => text.clone(),
        }
    }
}

pub(crate) struct Engine<'a> {
    sh: &'a Shell,
    /// As the user gave it, for printed commands.
    program: String,
    /// Resolved on PATH, for running.
    path: PathBuf,
    pub(crate) dry_run: bool,
    /// Whether `docker build` goes through buildx (see [`buildx::in_use`]).
    buildx: bool,
}

/// What a read-only engine command said.
struct Answer {
    ok: bool,
    stdout: String,
    /// The first line of its error output.
    error: String,
}

impl<'a> Engine<'a> {
    /// Finds the engine program; a missing one is an environment error.
    pub(crate) fn new(sh: &'a Shell, program: &str, dry_run: bool) -> Result<Engine<'a>> {
        let path = find_program(program).ok_or_else(|| {
            input_error(
                format!("engine program `{program}` not found"),
                "install Docker (Debian: `apt-get install docker.io`), or set DOCKER to the engine program (docker, podman or a path)",
            )
        })?;
        let buildx = buildx::in_use(&path);
        Ok(Engine { sh, program: program.to_string(), path, dry_run, buildx })
    }

    /// Whether the engine is podman.
    pub(crate) fn is_podman(&self) -> bool {
        is_podman(&self.path)
    }

    /// How printed commands name the engine.
    pub(crate) fn program(&self) -> &str {
        &self.program
    }

    /// Whether image configs keep ONBUILD triggers. Podman builds OCI images
    /// by default, which drop them (with a warning), and its inspect output has
    /// no such field.
    pub(crate) fn keeps_onbuild(&self) -> bool {
        !is_podman(&self.path)
    }

    /// Runs a read-only engine command quietly and returns what it said.
    fn query(&self, args: &[&str]) -> Result<Answer> {
        let engine = &self.path;
        let out = cmd!(self.sh, "{engine} {args...}")
            .quiet()
            .ignore_status()
            .output()
            .with_context(|| format!("cannot run {}", self.program))?;
        Ok(Answer {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            error: first_line(&out.stderr),
        })
    }

    /// Removes `tag`, ignoring failures: for temporary tags.
    pub(crate) fn remove(&self, tag: &str) {
        let engine = &self.path;
        let _ = cmd!(self.sh, "{engine} rmi {tag}").quiet().ignore_stdout().ignore_stderr().run();
    }

    /// The shell text a dry run prints where it needs the creation time of
    /// `tag`, which this run would have built first.
    pub(crate) fn created_expression(&self, tag: &str) -> String {
        format!(
            "$({} image inspect --format '{{{{.Created}}}}' {})",
            quote(&self.program),
            quote(tag)
        )
    }

    /// Starts asking buildx which builder `docker build` would use, when it
    /// goes through buildx; [`buildx::Check::finish`] reads the answer.
    /// `words`: the build words, whose `--builder` (if any) names the builder.
    pub(crate) fn start_builder_check(&self, words: &[String]) -> Option<buildx::Check> {
        if self.buildx {
            buildx::Check::start(&self.path, buildx::named_builder(words))
        } else {
            None
        }
    }
}

/// A tag made for a moment (a key tag pulled or pushed, `verify`'s image of
/// the main Dockerfile); dropping it removes it quietly, so that no exit
/// path (an error, Ctrl-C) leaves it. A dry run made none: it removes none.
pub(crate) struct TemporaryTag<'a> {
    engine: &'a Engine<'a>,
    tag: &'a str,
}

impl<'a> TemporaryTag<'a> {
    pub(crate) fn new(engine: &'a Engine<'a>, tag: &'a str) -> TemporaryTag<'a> {
        TemporaryTag { engine, tag }
    }

    /// The tag was removed as the run went: nothing left to do.
    pub(crate) fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for TemporaryTag<'_> {
    fn drop(&mut self) {
        if !self.engine.dry_run {
            self.engine.remove(self.tag);
        }
    }
}

/// Podman is recognised by its program name, even behind a path.
fn is_podman(path: &Path) -> bool {
    path.file_name().is_some_and(|name| name.to_string_lossy().starts_with("podman"))
}

fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no error output").to_string()
}

/// `program` as a path, or looked up on PATH like a shell would.
fn find_program(program: &str) -> Option<PathBuf> {
    let is_file = |p: &Path| p.is_file();
    if program.contains('/') {
        let path = PathBuf::from(program);
        return is_file(&path).then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| is_file(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_is_told_apart() {
        assert!(is_podman(Path::new("/usr/bin/podman")));
        assert!(is_podman(Path::new("podman-remote")));
        assert!(!is_podman(Path::new("/usr/bin/docker")));
    }

    #[test]
    fn programs_are_found_on_path() {
        assert!(find_program("sh").is_some());
        assert!(find_program("/bin/sh").is_some());
        assert!(find_program("surely-not-a-program-xtask").is_none());
        assert!(find_program("./missing/docker").is_none());
    }
}
