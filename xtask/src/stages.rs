//! `cargo xtask stages`: build the chosen stages in ascending order, each on
//! the image of the one before it, building (or pulling) missing ancestors
//! first; then, when no stage was chosen, the full image.

use std::collections::HashMap;
use std::fs;
use std::time::Instant;

use anyhow::Result;
use xshell::Shell;

use crate::context;
use crate::engine::{Engine, Word};
use crate::exit::{self, failure, input_error, interrupted};
use crate::freshness::{self, LABEL};
use crate::image::Image;
use crate::interrupt;
use crate::project::Project;
use crate::secrets::looks_secret;
use crate::selection;

pub(crate) const HELP: &str = "\
Build stages: each FROM the image of the stage before it.

Usage: cargo xtask stages [STAGE...] [--dry-run] [--push] [--pull] [--allow-secret-args]
                          [-- DOCKER-BUILD-ARGS...]

STAGE is an id (2), a name (stage2) or a range (1-3). Missing ancestors of a chosen
stage are built first. With no STAGE (and no STAGES_TO_BUILD): every stage, then the
full image from ./Dockerfile (unless NO_FULL_BUILD).

Options:
  --dry-run            print the engine commands, runnable from the project root; build nothing
  --push               push each tag right after it is built
  --pull               pull a missing parent from the registry before building it
  --allow-secret-args  allow build args whose names look like secrets
  -- ARGS              passed to every `docker build`
  -h, --help

Settings: STAGES_TO_BUILD, DOCKER_BUILD_ARGS, A_ENV_NAME, NO_GEN, NO_STAGES_BUILD,
NO_FULL_BUILD, DOCKER (see `cargo xtask --help`).
";

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Options {
    pub(crate) stages: Vec<String>,
    pub(crate) dry_run: bool,
    pub(crate) push: bool,
    pub(crate) pull: bool,
    pub(crate) allow_secret_args: bool,
    pub(crate) docker_args: Vec<String>,
}

/// What one run builds: these stages (each after its missing ancestors), then
/// the main Dockerfile under the tag `full`, if any.
pub(crate) struct Plan {
    pub(crate) stages: Vec<usize>,
    pub(crate) full: Option<String>,
}

pub(crate) fn run(sh: &Shell, project: &Project, options: &Options) -> Result<()> {
    let settings = &project.settings;
    let image = project.image(sh)?;
    let words = if options.stages.is_empty() {
        settings.stages_to_build.iter().cloned().collect()
    } else {
        options.stages.clone()
    };
    let everything = words.is_empty();
    let selected = if everything {
        (0..project.snippets.len()).collect()
    } else {
        selection::select(&words, &project.snippets)?
    };
    let plan = Plan {
        stages: if settings.no_stages_build { Vec::new() } else { selected },
        full: (everything && !settings.no_full_build).then(|| image.full()),
    };
    build(sh, project, options, &image, plan)
}

/// Regenerates the chain (unless `NO_GEN`) and carries out `plan`.
pub(crate) fn build(
    sh: &Shell,
    project: &Project,
    options: &Options,
    image: &Image,
    plan: Plan,
) -> Result<()> {
    let extra = build_args(project, options)?;
    // Every check that can refuse the run comes before anything is written.
    let engine = Engine::new(sh, &project.settings.engine, options.dry_run)?;
    // Which stage images exist matters only for a parent this run does not
    // build. A run that starts at stage 0 asks later, if ever, which saves an
    // engine call on the common `cargo xtask stages`; an engine that does not
    // answer is then found when its first command fails.
    let starts_at_zero = plan.stages.first().is_none_or(|&first| first == 0);
    let local = if starts_at_zero && !options.dry_run {
        None
    } else {
        match engine.local_tags(&image.name) {
            Ok(local) => Some(local),
            Err(err) if options.dry_run => {
                eprintln!("warning: {err:#}; planning as if no stage image exists");
                Some(HashMap::new())
            }
            Err(err) => return Err(err),
        }
    };
    let on_disk = if project.settings.no_gen { Some(chain_on_disk(project)?) } else { None };
    // Held until the last build: the builds read the chain files.
    let _lock = project.lock()?;
    let chain = match on_disk {
        Some(chain) => chain,
        None => {
            // Rendered once: the same texts are written and hashed for the labels.
            let chain = project.chain_texts(image);
            project.write(&chain)?;
            chain
        }
    };
    for warning in context::warnings(&project.root) {
        eprintln!("warning: {warning}");
    }
    interrupt::install();

    let mut pending: Vec<Option<usize>> = plan.stages.iter().map(|&s| Some(s)).collect();
    if plan.full.is_some() {
        pending.push(None);
    }
    let mut run = Run {
        project,
        options,
        engine: &engine,
        image,
        chain,
        extra,
        local,
        full: plan.full,
        done: HashMap::new(),
        rows: Vec::new(),
        pending,
        current: None,
    };
    let result = run.execute(&plan.stages).map_err(|err| run.explain(err));
    // An engine that is not there built nothing: no table for it.
    let no_engine = result.as_ref().is_err_and(|err| exit::code(err) == Some(exit::Code::Input));
    if !options.dry_run && !no_engine {
        run.print_summary();
    }
    result
}

/// With `NO_GEN`, the builds use the chain files as they are on disk.
fn chain_on_disk(project: &Project) -> Result<Vec<String>> {
    (0..project.snippets.len())
        .map(|n| {
            let file = project.chain_file(n);
            fs::read_to_string(project.root.join(&file)).map_err(|err| {
                input_error(
                    format!("NO_GEN is set but {file} cannot be read: {err}"),
                    "run without NO_GEN once, or `cargo xtask dockerfile`, to generate the chain",
                )
            })
        })
        .collect()
}

/// `--build-arg APP_ENV_NAME=...`, `DOCKER_BUILD_ARGS` and the args after `--`,
/// with secret-looking build args refused unless allowed.
fn build_args(project: &Project, options: &Options) -> Result<Vec<String>> {
    let settings = &project.settings;
    let from_setting = settings.docker_build_args()?;
    if !options.allow_secret_args {
        refuse_secrets(&from_setting, "DOCKER_BUILD_ARGS")?;
        refuse_secrets(&options.docker_args, "the arguments after --")?;
    }
    let mut args = Vec::new();
    if let Some(env_name) = &settings.env_name {
        args.push("--build-arg".to_string());
        args.push(format!("APP_ENV_NAME={env_name}"));
    }
    args.extend(from_setting);
    args.extend(options.docker_args.iter().cloned());
    Ok(args)
}

fn refuse_secrets(words: &[String], source: &str) -> Result<()> {
    let mut words = words.iter();
    while let Some(word) = words.next() {
        let arg = match word.strip_prefix("--build-arg") {
            Some("") => words.next().map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        let Some(arg) = arg else { continue };
        let name = arg.split_once('=').map_or(arg, |(name, _)| name);
        if looks_secret(name) {
            return Err(input_error(
                format!("build arg {name} (from {source}) looks like a secret, and build args are recorded in the image history"),
                "pass secrets when the container starts; --allow-secret-args builds anyway",
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Built,
    Pulled,
    Failed,
    NotBuilt,
}

struct Row {
    /// `None` for the full image.
    stage: Option<usize>,
    tag: String,
    seconds: f64,
    outcome: Outcome,
}

struct Run<'a> {
    project: &'a Project,
    options: &'a Options,
    engine: &'a Engine<'a>,
    image: &'a Image,
    chain: Vec<String>,
    extra: Vec<String>,
    /// The tag of the full image, when this run builds it.
    full: Option<String>,
    /// Stage tags that existed before the run (`<tag>_stage<N>`), with their
    /// ids; `None` until first needed.
    local: Option<HashMap<String, String>>,
    /// Stages built or pulled in this run, with their id once read.
    done: HashMap<usize, Option<String>>,
    rows: Vec<Row>,
    /// What was asked for and is not done yet (`None`: the full image).
    pending: Vec<Option<usize>>,
    /// The stage (`None`: the full image) being pulled or built, with its
    /// tag and description, for errors that come from the engine mid-run.
    current: Option<(Option<usize>, String, String)>,
}

impl Run<'_> {
    fn execute(&mut self, stages: &[usize]) -> Result<()> {
        for &stage in stages {
            if stage > 0 {
                self.ensure(stage - 1)?;
                self.warn_if_parent_is_older(stage);
            }
            self.build_stage(stage)?;
        }
        if let Some(tag) = self.full.clone() {
            self.build_full(tag)?;
        }
        Ok(())
    }

    /// Makes the image of stage `n` available: it exists, or it is pulled
    /// (with `--pull`), or it is built on its own parent made available first.
    fn ensure(&mut self, n: usize) -> Result<()> {
        if self.done.contains_key(&n) || self.local_id(n)?.is_some() {
            return Ok(());
        }
        if self.options.pull && self.pull(n)? {
            return Ok(());
        }
        if n > 0 {
            self.ensure(n - 1)?;
        }
        self.build_stage(n)
    }

    /// The id stage `n`'s image had before the run, if it existed.
    fn local_id(&mut self, n: usize) -> Result<Option<String>> {
        let tag = format!("{}_stage{n}", self.image.tag);
        Ok(self.local_tags()?.get(&tag).cloned())
    }

    /// The stage tags that exist locally; asking is also the check that the
    /// engine answers (an environment error, exit 2, when it does not).
    fn local_tags(&mut self) -> Result<&HashMap<String, String>> {
        if self.local.is_none() {
            self.local = Some(self.engine.local_tags(&self.image.name)?);
        }
        Ok(self.local.get_or_insert_with(HashMap::new))
    }

    fn pull(&mut self, n: usize) -> Result<bool> {
        let tag = self.image.stage(n);
        self.current = Some((Some(n), tag.clone(), format!("pulling {tag}")));
        self.check_interrupted(&format!("before pulling {tag}"))?;
        let started = Instant::now();
        let outcome = self.engine.pull(&tag)?;
        self.check_interrupted(&format!("while pulling {tag}"))?;
        if !outcome.status.success() {
            eprintln!("note: cannot pull {tag} ({}): building it", outcome.reason);
            return Ok(false);
        }
        self.finish(Some(n), tag, started, Outcome::Pulled);
        Ok(true)
    }

    /// Warns when stage `stage` builds on a parent this run did not rebuild
    /// although it rebuilt something below it.
    fn warn_if_parent_is_older(&self, stage: usize) {
        let parent = stage - 1;
        if self.done.contains_key(&parent) {
            return;
        }
        if let Some(&below) = self.done.keys().filter(|&&n| n < parent).max() {
            eprintln!(
                "warning: stage {stage} builds on the existing image of stage {parent}, which still holds the old stage {below}: run `cargo xtask stages {below}-{stage}` to rebuild them all"
            );
        }
    }

    fn build_stage(&mut self, n: usize) -> Result<()> {
        let tag = self.image.stage(n);
        let last = self.project.snippets.len() - 1;
        let snippet = &self.project.snippets[n].display;
        eprintln!("stage {n}/{last} {snippet} -> {tag}");
        self.current = Some((Some(n), tag.clone(), format!("stage {n} ({snippet})")));
        let parent = if n == 0 { Word::Plain(String::new()) } else { self.parent_id(n - 1)? };
        let chain = &self.chain[n];
        let label = match parent {
            Word::Plain(id) => {
                Word::Plain(format!("{LABEL}={}", freshness::label_value(chain, &id)))
            }
            // Double quotes, so that the shell runs the `$(...)` inside.
            Word::Shell(id) => {
                Word::Shell(format!("\"{LABEL}={}\"", freshness::label_value(chain, &id)))
            }
        };
        let mut words = vec![
            plain("-t"),
            plain(&tag),
            plain("-f"),
            plain(&self.project.chain_file(n)),
            plain("--label"),
            label,
        ];
        self.build(&mut words, Some(n), tag, &format!("stage {n} ({snippet})"))
    }

    fn build_full(&mut self, tag: String) -> Result<()> {
        eprintln!("full image Dockerfile -> {tag}");
        self.current = Some((None, tag.clone(), "the full image (Dockerfile)".to_string()));
        let mut words = vec![plain("-t"), plain(&tag), plain("-f"), plain("Dockerfile")];
        self.build(&mut words, None, tag, "the full image (Dockerfile)")
    }

    /// Runs one build (then its push), recording what happened.
    fn build(
        &mut self,
        words: &mut Vec<Word>,
        stage: Option<usize>,
        tag: String,
        what: &str,
    ) -> Result<()> {
        words.extend(self.extra.iter().map(|w| plain(w)));
        words.push(plain("."));
        // A Ctrl-C between two builds stops the run before the next one.
        self.check_interrupted(&format!("before building {what}"))?;
        let started = Instant::now();
        let built = self.engine.build(words)?;
        self.check_interrupted(&format!("while building {what}"))?;
        if !built.status.success() {
            // A build that fails at once may mean no engine at all: asking
            // which images exist tells (exit 2 if it does not answer).
            self.local_tags()?;
            self.finish(stage, tag, started, Outcome::Failed);
            let not_built = self.not_built();
            let reason =
                if built.reason.is_empty() { String::new() } else { format!(": {}", built.reason) };
            return Err(failure(
                format!(
                    "{what} failed: {} build exited with {}{reason}",
                    self.engine.program(),
                    built.status
                ),
                format!("not built: {not_built}; fix it and run the same command again"),
            ));
        }
        self.finish(stage, tag.clone(), started, Outcome::Built);
        if self.options.push {
            let pushed = self.engine.push(&tag)?;
            self.check_interrupted(&format!("while pushing {tag}"))?;
            if !pushed.status.success() {
                return Err(failure(
                    format!("pushing {tag} failed: {}", pushed.reason),
                    format!(
                        "log in to the registry (`{} login`) or check DOCKER_IMAGE; not built: {}",
                        self.engine.program(),
                        self.not_built()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn finish(&mut self, stage: Option<usize>, tag: String, started: Instant, outcome: Outcome) {
        self.current = None;
        if let (Some(n), true) = (stage, outcome != Outcome::Failed) {
            self.done.insert(n, None);
        }
        self.pending.retain(|p| *p != stage);
        self.rows.push(Row { stage, tag, seconds: started.elapsed().as_secs_f64(), outcome });
    }

    /// The image id of stage `n` for its child's label: known, read from the
    /// engine, or (dry run) the shell text that would read it.
    fn parent_id(&mut self, n: usize) -> Result<Word> {
        match self.done.get(&n) {
            Some(Some(id)) => Ok(Word::Plain(id.clone())),
            Some(None) if self.engine.dry_run => {
                Ok(Word::Shell(self.engine.image_id_expression(&self.image.stage(n))))
            }
            Some(None) => {
                let id = self.engine.image_id(&self.image.stage(n))?;
                self.done.insert(n, Some(id.clone()));
                Ok(Word::Plain(id))
            }
            None => match self.local_id(n)? {
                Some(id) => Ok(Word::Plain(id)),
                // Only when the engine could not be asked (a dry run).
                None => Ok(Word::Shell(self.engine.image_id_expression(&self.image.stage(n)))),
            },
        }
    }

    /// An error without an exit code of its own, met mid-run (the engine
    /// stopped answering, say): the current stage failed, exit 1.
    fn explain(&mut self, err: anyhow::Error) -> anyhow::Error {
        if exit::code(&err).is_some() {
            return err;
        }
        let what = match self.current.take() {
            Some((stage, tag, what)) => {
                self.finish(stage, tag, Instant::now(), Outcome::Failed);
                what
            }
            None => "the run".to_string(),
        };
        failure(
            format!("{what} failed: {err:#}"),
            format!(
                "not built: {}; check that the engine still answers (`{} info`)",
                self.not_built(),
                self.engine.program()
            ),
        )
    }

    fn check_interrupted(&mut self, what: &str) -> Result<()> {
        if interrupt::interrupted() {
            return Err(interrupted(format!(
                "interrupted {what}; not built: {}",
                self.not_built()
            )));
        }
        Ok(())
    }

    fn not_built(&self) -> String {
        if self.pending.is_empty() {
            return "nothing else".to_string();
        }
        let names: Vec<String> = self
            .pending
            .iter()
            .map(|p| match p {
                Some(n) => format!("stage {n}"),
                None => "the full image".to_string(),
            })
            .collect();
        names.join(", ")
    }

    fn print_summary(&mut self) {
        for stage in std::mem::take(&mut self.pending) {
            let tag = match stage {
                Some(n) => self.image.stage(n),
                None => self.full.clone().unwrap_or_default(),
            };
            self.rows.push(Row { stage, tag, seconds: 0.0, outcome: Outcome::NotBuilt });
        }
        if self.rows.is_empty() {
            eprintln!("nothing to build");
            return;
        }
        self.rows.sort_by_key(|row| row.stage.unwrap_or(usize::MAX));
        let width = self.rows.iter().map(|r| r.tag.len()).max().unwrap_or(5).max(5);
        eprintln!("\n{:<5}  {:<width$}  {:>7}  outcome", "stage", "image", "seconds");
        for row in &self.rows {
            let stage = row.stage.map_or_else(|| "full".to_string(), |n| n.to_string());
            let outcome = match row.outcome {
                Outcome::Built => "built",
                Outcome::Pulled => "pulled",
                Outcome::Failed => "failed",
                Outcome::NotBuilt => "not built",
            };
            eprintln!("{stage:<5}  {:<width$}  {:>7.1}  {outcome}", row.tag, row.seconds);
        }
    }
}

fn plain(word: &str) -> Word {
    Word::Plain(word.to_string())
}

#[cfg(test)]
mod tests {
    use super::refuse_secrets;

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn secret_build_args_in_every_spelling() {
        for args in [
            "--build-arg DB_PASSWORD=x",
            "--build-arg=github_token=x",
            "--build-arg API_KEY",
            "--pull --build-arg a=1 --build-arg MY_SECRET=2",
        ] {
            let err = refuse_secrets(&words(args), "DOCKER_BUILD_ARGS").unwrap_err().to_string();
            assert!(err.contains("(from DOCKER_BUILD_ARGS) looks like a secret"), "{args}: {err}");
        }
        assert!(
            refuse_secrets(&words("--build-arg APP_ENV_NAME=prod --label TOKEN=x"), "x").is_ok()
        );
    }
}
