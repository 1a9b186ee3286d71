//! The one place that talks to the container engine (`DOCKER`, default
//! `docker`; podman works too). Commands go through xshell as argument lists,
//! never through a shell. In dry-run mode every command that would change
//! something is printed, shell-quoted, instead of run.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::buildx;
use crate::model::image;
use crate::model::labels::{Present, LABEL};
use crate::tar;
use crate::util::exit::{input_error, interrupted};
use crate::util::print::{out, say};
use crate::util::shell_words::quote;
use crate::util::signals;

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

/// What became of an engine command that may fail without ending the run.
pub(crate) struct Outcome {
    pub(crate) status: ExitStatus,
    /// The first line of its error output, when it failed.
    pub(crate) reason: String,
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

    /// The tags of `repo` (in the form of [`image::canonical`], the one
    /// every engine's `image ls` filter understands) that exist locally, with
    /// their image ids (a
    /// [`Engine::listing`] without sizes and ages). This is also the check
    /// that the engine answers at all.
    pub(crate) fn local_tags(&self, repo: &str) -> Result<HashMap<String, String>> {
        let rows = self.list(repo, "{{.Repository}}\t{{.Tag}}\t{{.ID}}")?;
        Ok(rows.into_iter().map(|row| (row.tag, row.id)).collect())
    }

    /// The image id, creation time and value of [`LABEL`] of each of the
    /// existing images `refs`, in their order (one engine call for all).
    pub(crate) fn inspect(&self, refs: &[String]) -> Result<Vec<Present>> {
        let format = format!("{{{{.Id}}}}\t{{{{.Created}}}}\t{}", label_template(LABEL));
        let out = self.inspect_format(refs, &format)?;
        Ok(out.lines().filter(|line| !line.is_empty()).map(parse_present).collect())
    }

    /// Every tag of `repo` that exists locally, with the id, size and age
    /// the engine shows for it: one call, whatever the number of stages. An
    /// engine that does not answer is an environment error.
    pub(crate) fn listing(&self, repo: &str) -> Result<Vec<Listed>> {
        self.list(repo, "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}\t{{.CreatedSince}}")
    }

    /// `image ls` of `repo`, printing the fields of [`parse_listing`].
    fn list(&self, repo: &str, format: &str) -> Result<Vec<Listed>> {
        let answer = self.image_ls(&["--no-trunc", "--format", format, repo])?;
        Ok(parse_listing(&answer, repo))
    }

    /// The ids of the untagged images (that carry label `label`, if given)
    /// on which no other image is built: what `image ls --filter
    /// dangling=true` shows.
    pub(crate) fn dangling(&self, label: Option<&str>) -> Result<Vec<String>> {
        let mut args = vec!["--no-trunc", "--quiet", "--filter", "dangling=true"];
        let filter = label.map(|label| format!("label={label}"));
        if let Some(filter) = &filter {
            args.extend(["--filter", filter.as_str()]);
        }
        let answer = self.image_ls(&args)?;
        let mut ids: Vec<String> = answer.lines().map(normalize_id).collect();
        ids.retain(|id| !id.is_empty());
        ids.dedup();
        Ok(ids)
    }

    /// `image ls <args>`; an engine that does not answer is an environment
    /// error. The containerd image store fails a listing when an image in it
    /// is removed meanwhile (by another project's run, say: "failed to
    /// calculate size of image ...", "content digest ...: not found"): the
    /// listing is asked again.
    fn image_ls(&self, args: &[&str]) -> Result<String> {
        let mut all = vec!["image", "ls"];
        all.extend_from_slice(args);
        let mut attempts = 0;
        loop {
            let answer = self.query(&all)?;
            if answer.ok {
                return Ok(answer.stdout);
            }
            attempts += 1;
            let removed_meanwhile = answer.error.contains("failed to calculate size")
                || answer.error.contains("content digest");
            if !removed_meanwhile || attempts == 5 {
                return Err(unreachable(&self.program, "image ls", &answer.error));
            }
        }
    }

    /// Removes the images (or tags) `refs` in one engine call; returns the
    /// engine's refusals (conflicts with an image built on one, say), one
    /// line each, which name the image they are about. An engine that does
    /// not answer is an environment error.
    pub(crate) fn remove_images(&self, refs: &[String]) -> Result<Vec<String>> {
        let engine = &self.path;
        let out = cmd!(self.sh, "{engine} image rm {refs...}")
            .quiet()
            .ignore_status()
            .output()
            .with_context(|| format!("cannot run {}", self.program))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let refusals: Vec<String> =
            stderr.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
        let removed_any = !out.stdout.is_empty();
        if !out.status.success() && !removed_any && refusals.len() == 1 && refs.len() > 1 {
            // One line for many images: the engine itself did not answer.
            return Err(unreachable(&self.program, "image rm", &refusals[0]));
        }
        Ok(refusals)
    }

    /// Whether image configs keep ONBUILD triggers. Podman builds OCI images
    /// by default, which drop them (with a warning), and its inspect output has
    /// no such field.
    pub(crate) fn keeps_onbuild(&self) -> bool {
        !is_podman(&self.path)
    }

    /// `image inspect --format <format>` of `images` (one line each, or more
    /// if the format prints more).
    pub(crate) fn inspect_format(&self, images: &[String], format: &str) -> Result<String> {
        let out = self.inspect_images(images, format, false)?;
        Ok(out.strip_suffix('\n').unwrap_or(&out).to_string())
    }

    /// [`Engine::inspect_format`] of images that may be removed meanwhile
    /// (by another run, say): those are left out of the answer, whose lines
    /// must then say which image each is about.
    pub(crate) fn inspect_present(&self, images: &[String], format: &str) -> Result<String> {
        self.inspect_images(images, format, true)
    }

    fn inspect_images(&self, images: &[String], format: &str, gone_ok: bool) -> Result<String> {
        if images.is_empty() {
            return Ok(String::new());
        }
        let mut args = vec!["image", "inspect", "--format", format];
        args.extend(images.iter().map(String::as_str));
        let answer = self.query(&args)?;
        let gone = gone_ok && is_gone(&answer.error);
        if !answer.ok && !gone {
            anyhow::bail!(
                "`{} image inspect {}` failed: {}",
                self.program,
                images.join(" "),
                answer.error
            );
        }
        Ok(answer.stdout)
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

    /// Every file of `image`, from a container created (never started) for it
    /// and exported as a tar stream. The container is removed however this
    /// ends: an error, a panic, or a Ctrl-C (which stops the export).
    pub(crate) fn export(&self, image: &str, each: impl FnMut(tar::Entry)) -> Result<()> {
        let engine = &self.path;
        let created = cmd!(self.sh, "{engine} create {image} /xtask-export")
            .quiet()
            .read()
            .with_context(|| format!("cannot create a container of {image} to read its files"))?;
        let id = created.lines().last().unwrap_or_default().trim().to_string();
        let container = Container { engine: self, id };
        self.read_export(&container.id, each)
            .with_context(|| format!("cannot read the files of {image}"))
    }

    fn read_export(&self, container: &str, each: impl FnMut(tar::Entry)) -> Result<()> {
        let engine = &self.path;
        let mut command: Command = cmd!(self.sh, "{engine} export {container}").into();
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn()?;
        // A Ctrl-C sent to the xtask alone reaches the export too, which ends
        // the stream; the caller's guards then clean up.
        signals::set_child(Some(child.id()));
        let stdout = child.stdout.take().context("no stdout")?;
        // Read to the end, whatever the tar says, before waiting: an export
        // left writing into a full pipe would never end.
        let parsed = tar::read_stream(std::io::BufReader::new(stdout), each);
        let output = child.wait_with_output();
        signals::set_child(None);
        if signals::interrupted() {
            return Err(interrupted(format!("interrupted while reading the files of {container}")));
        }
        // A tar error says more than the export's broken pipe that follows it.
        parsed?;
        let output = output?;
        if !output.status.success() {
            anyhow::bail!("{} export failed: {}", self.program, first_line(&output.stderr));
        }
        Ok(())
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
    pub(crate) fn start_builder_check(&self) -> Option<buildx::Check> {
        if self.buildx {
            buildx::Check::start(&self.path)
        } else {
            None
        }
    }

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

    /// Whether the registry holds `reference`, asked without pulling
    /// (`manifest inspect`). `--insecure` lets it reach a plain-http registry
    /// such as a loopback one; the pull that follows a `Found` is the
    /// engine's, with its own checks. Podman cannot ask this way.
    pub(crate) fn lookup(&self, reference: &str) -> Result<Lookup> {
        if is_podman(&self.path) {
            return Ok(Lookup::Unknown("podman cannot ask a registry without pulling".into()));
        }
        let answer = self.query(&["manifest", "inspect", "--insecure", reference])?;
        Ok(match answer.ok {
            true => Lookup::Found,
            false if missing(&answer.error) => Lookup::Missing,
            false => Lookup::Unknown(answer.error),
        })
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

/// Whether an engine's error says the image is not there (docker: "No such
/// image", podman: "image not known").
pub(crate) fn is_gone(error: &str) -> bool {
    let error = error.to_ascii_lowercase();
    error.contains("no such image") || error.contains("image not known")
}

/// What a registry says of a reference.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    Found,
    Missing,
    /// It could not be asked, and why.
    Unknown(String),
}

/// Whether an engine's error says the registry answered that it has no such
/// image (and not that it could not be reached).
pub(crate) fn missing(error: &str) -> bool {
    let error = error.to_ascii_lowercase();
    ["no such manifest", "manifest unknown", "not found"].iter().any(|m| error.contains(m))
        && !["connection refused", "no such host", "timeout", "i/o timeout"]
            .iter()
            .any(|m| error.contains(m))
}

/// A container made for `docker export`; dropping it runs `rm -f`, so no
/// exit path (error, panic unwinding, Ctrl-C) leaves it behind.
struct Container<'a> {
    engine: &'a Engine<'a>,
    id: String,
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let (engine, id) = (&self.engine.path, &self.id);
        let _ = cmd!(self.engine.sh, "{engine} rm -f {id}")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run();
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

/// Podman is recognised by its program name, even behind a path.
fn is_podman(path: &Path) -> bool {
    path.file_name().is_some_and(|name| name.to_string_lossy().starts_with("podman"))
}

/// Podman prints ids without the `sha256:` docker puts in front.
pub(crate) fn normalize_id(id: &str) -> String {
    let id = id.trim();
    if id.contains(':') || id.is_empty() {
        id.to_string()
    } else {
        format!("sha256:{id}")
    }
}

/// The template that prints the value of label `label`, or nothing: `index`
/// alone fails the whole call on an image without any label (an imported
/// base, say).
pub(crate) fn label_template(label: &str) -> String {
    format!("{{{{with .Config.Labels}}}}{{{{index . \"{label}\"}}}}{{{{end}}}}")
}

/// A line of [`Engine::inspect`]: id, creation time, label (if any).
fn parse_present(line: &str) -> Present {
    let mut fields = line.splitn(3, '\t');
    let id = normalize_id(fields.next().unwrap_or(""));
    let created = fields.next().unwrap_or("").trim().to_string();
    let label = fields.next().map(str::trim).filter(|v| !v.is_empty() && *v != "<no value>");
    Present { id, created, label: label.map(str::to_string) }
}

/// One row of [`Engine::listing`]: a tag of the repository, as the engine shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub(crate) tag: String,
    pub(crate) id: String,
    pub(crate) size: String,
    pub(crate) age: String,
}

/// `image ls` rows of `repo`, whichever way the engine spells it (see
/// [`image::same_repository`]). Podman lists every name of an image that
/// matches, so rows of other repositories sharing an image id are dropped.
fn parse_listing(text: &str, repo: &str) -> Vec<Listed> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let repository = fields.next()?;
            let (tag, id) = (fields.next()?, fields.next()?);
            let (size, age) = (fields.next().unwrap_or("-"), fields.next().unwrap_or("-"));
            let ours = image::same_repository(repository, repo);
            (ours && tag != "<none>").then(|| Listed {
                tag: tag.to_string(),
                id: normalize_id(id),
                size: size.to_string(),
                age: age.to_string(),
            })
        })
        .collect()
}

fn unreachable(program: &str, command: &str, error: &str) -> anyhow::Error {
    input_error(
        format!("the container engine is not reachable ({program} {command} failed: {error})"),
        "start it (`sudo systemctl start docker`, or `sudo dockerd &`), or set DOCKER to a running engine",
    )
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
    fn ids_are_normalized() {
        assert_eq!(normalize_id("abc\n"), "sha256:abc");
        assert_eq!(normalize_id("sha256:abc"), "sha256:abc");
    }

    fn parse_local_tags(text: &str, repo: &str) -> HashMap<String, String> {
        parse_listing(text, repo).into_iter().map(|row| (row.tag, row.id)).collect()
    }

    #[test]
    fn local_tags_of_one_repository() {
        let text = "ns/app\tv1_stage0\tsha256:a\nlocalhost/ns/app\tv1_stage1\tb\nlocalhost/other\tv1_stage2\tsha256:a\nns/app\t<none>\tsha256:c\n";
        let tags = parse_local_tags(text, "ns/app");
        assert_eq!(tags.len(), 2);
        assert_eq!(tags["v1_stage0"], "sha256:a");
        assert_eq!(tags["v1_stage1"], "sha256:b");
        assert!(parse_local_tags("127.0.0.1:5000/x\tt\tsha256:d\n", "127.0.0.1:5000/x")
            .contains_key("t"));
        // The containerd store and podman list Docker Hub names in full.
        let hub = "docker.io/library/app\tv1_stage0\tsha256:e\napp\tv1_stage1\tsha256:f\n";
        assert_eq!(parse_local_tags(hub, "app").len(), 2);
        assert_eq!(parse_local_tags(hub, "library/app").len(), 2);
    }

    #[test]
    fn listing_with_size_and_age() {
        let text =
            "ns/app\tv1_stage0\tsha256:a\t1.98MB\t2 minutes ago\nother\tv1\tsha256:b\t1MB\tnow\n";
        let rows = parse_listing(text, "ns/app");
        assert_eq!(
            rows,
            [Listed {
                tag: "v1_stage0".into(),
                id: "sha256:a".into(),
                size: "1.98MB".into(),
                age: "2 minutes ago".into()
            }]
        );
    }

    #[test]
    fn inspected_images_with_and_without_a_label() {
        assert_eq!(
            parse_present("sha256:a\t2026-12-01T10:00:00.1Z\tdockerfile=sha256:00;parent="),
            Present {
                id: "sha256:a".into(),
                created: "2026-12-01T10:00:00.1Z".into(),
                label: Some("dockerfile=sha256:00;parent=".into())
            }
        );
        // Podman prints ids bare, and the time its own way.
        let podman = parse_present("b\t2026-12-01 10:00:00.1 +0000 UTC\t");
        assert_eq!((podman.id.as_str(), podman.label), ("sha256:b", None));
    }

    #[test]
    fn a_missing_image_is_told_from_a_registry_that_does_not_answer() {
        for said in [
            "no such manifest: 127.0.0.1:5000/ns/app:stage2-0123",
            "Error response from daemon: manifest for 127.0.0.1:5000/ns/app:stage2-0123 not found: manifest unknown: manifest unknown",
        ] {
            assert!(missing(said), "{said}");
        }
        for said in [
            "failed to configure transport: error pinging v2 registry: Get \"https://127.0.0.1:5998/v2/\": dial tcp 127.0.0.1:5998: connect: connection refused",
            "Error response from daemon: Get \"http://127.0.0.1:5000/v2/\": dial tcp 127.0.0.1:5000: connect: connection refused",
            "Error response from daemon: Get \"https://registry.example/v2/\": dial tcp: lookup registry.example: no such host",
            "unauthorized: authentication required",
        ] {
            assert!(!missing(said), "{said}");
        }
    }

    #[test]
    fn podman_is_told_apart() {
        assert!(is_podman(Path::new("/usr/bin/podman")));
        assert!(is_podman(Path::new("podman-remote")));
        assert!(!is_podman(Path::new("/usr/bin/docker")));
    }

    #[test]
    fn failed_build_reasons_from_real_engine_output() {
        let cases = [
            (
                include_str!("../tests/fixtures/build-errors/legacy-run.txt"),
                "The command '/bin/sh -c false' returned a non-zero code: 1",
            ),
            (
                include_str!("../tests/fixtures/build-errors/unset-run.txt"),
                "The command '/bin/sh -c false' returned a non-zero code: 1",
            ),
            (
                include_str!("../tests/fixtures/build-errors/legacy-copy.txt"),
                "COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist",
            ),
            (
                include_str!("../tests/fixtures/build-errors/unset-copy.txt"),
                "COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist",
            ),
            (
                include_str!("../tests/fixtures/build-errors/buildkit-run.txt"),
                "executor failed running [/bin/sh -c false]: exit code: 1",
            ),
            (
                include_str!("../tests/fixtures/build-errors/buildkit-copy.txt"),
                "\"/missing.txt\" not found: not found",
            ),
            (
                include_str!("../tests/fixtures/build-errors/nobuildx.txt"),
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

    #[test]
    fn programs_are_found_on_path() {
        assert!(find_program("sh").is_some());
        assert!(find_program("/bin/sh").is_some());
        assert!(find_program("surely-not-a-program-xtask").is_none());
        assert!(find_program("./missing/docker").is_none());
    }
}
