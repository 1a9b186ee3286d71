//! `cargo xtask stages`: build the chosen stages in ascending order, each on
//! the image of the one before it, building (or pulling) missing ancestors
//! first; then, when no stage was chosen, the full image. Planning (what to
//! build) is [`Plan`]; the [`Run`] carries it out; [`Summary`] reports it.

use std::collections::HashMap;
use std::fmt;
use std::time::Instant;

use anyhow::{Context, Result};
use xshell::Shell;

use crate::engine::{missing, Engine, Lookup, Word};
use crate::model::freshness::{self, State};
use crate::model::image::Image;
use crate::model::keys;
use crate::model::labels::{self, Present, LABEL};
use crate::model::secrets::looks_secret;
use crate::model::selection;
use crate::ops::dockerignore;
use crate::ops::project::Project;
use crate::ops::survey;
use crate::util::exit::{self, failure, input_error, interrupted};
use crate::util::print::say;
use crate::util::signals;

pub(crate) const HELP: &str = "\
Build stages: each FROM the image of the stage before it.

Usage: cargo xtask stages [STAGE...] [--dry-run] [--push] [--pull] [--allow-secret-args]
                          [-- DOCKER-BUILD-ARGS...]
       cargo xtask stages --stale [--dry-run] [--push] [--pull] [--allow-secret-args]
                          [-- DOCKER-BUILD-ARGS...]

STAGE is an id (2), a name (stage2), a range (1-3) or an open range (3-: stage 3 through
the last). A missing ancestor of a chosen stage is tagged from an image of this repository
that has its key (built under another tag), or pulled by its key tag (--pull), else built.
With no STAGE (and no STAGES_TO_BUILD): every stage, then the full image from ./Dockerfile
(unless NO_FULL_BUILD). A stage named here is always built.

Options:
  --stale              build from the lowest stage `cargo xtask status` does not call fresh
                       through the last, then the full image if it is not fresh; a stage
                       whose key an image has is tagged (or pulled, with --pull) instead
  --dry-run            print the engine commands, runnable from the project root; build nothing
  --push               push each tag right after it is built, and each stage's key tag
                       <repository>:stage<N>-<key>
  --pull               look for missing stages' key tags in the registry, from the needed
                       parent down; pull the highest one found and build above it
  --allow-secret-args  allow build args whose names look like secrets
  -- ARGS              passed to every `docker build`
  -h, --help

Settings: STAGES_TO_BUILD, DOCKER_BUILD_ARGS, A_ENV_NAME, NO_GEN, NO_STAGES_BUILD,
NO_FULL_BUILD, DOCKER (see `cargo xtask --help`).
";

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Options {
    pub(crate) stages: Vec<String>,
    /// Build what is not fresh (never together with `stages`).
    pub(crate) stale: bool,
    pub(crate) dry_run: bool,
    pub(crate) push: bool,
    pub(crate) pull: bool,
    pub(crate) allow_secret_args: bool,
    pub(crate) docker_args: Vec<String>,
}

/// What a run builds, or a row of its summary: a stage or the full image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Target {
    Stage(usize),
    Full,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Stage(n) => write!(f, "stage {n}"),
            Target::Full => f.write_str("the full image"),
        }
    }
}

/// What one run builds: these stages (each after its missing ancestors), then
/// the main Dockerfile under the tag `full`, if any.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) stages: Vec<usize>,
    pub(crate) full: Option<String>,
}

impl Plan {
    /// Everything asked for, in build order.
    fn targets(&self) -> Vec<Target> {
        let mut targets: Vec<Target> = self.stages.iter().map(|&n| Target::Stage(n)).collect();
        if self.full.is_some() {
            targets.push(Target::Full);
        }
        targets
    }
}

pub(crate) fn run(sh: &Shell, project: &Project, options: &Options) -> Result<()> {
    let image = project.image(sh)?;
    // A refused selection comes before anything runs.
    let chosen = if options.stale { None } else { Some(chosen_plan(project, options, &image)?) };
    let mut session = Session::open(sh, project, options, &image)?;
    match chosen {
        Some(plan) => session.build(plan),
        None => match session.stale_plan()? {
            Some(plan) => session.build(plan),
            None => {
                say!("nothing is stale: {}", fresh_scope(&project.settings));
                Ok(())
            }
        },
    }
}

/// What `--stale` found fresh, which the settings may narrow.
fn fresh_scope(settings: &crate::settings::Settings) -> &'static str {
    match (settings.no_stages_build, settings.no_full_build) {
        (false, false) => "every stage image and the full image are fresh",
        (false, true) => "every stage image is fresh (NO_FULL_BUILD: the full image is not judged)",
        (true, false) => {
            "the full image is fresh (NO_STAGES_BUILD: the stage images are not judged)"
        }
        (true, true) => "NO_STAGES_BUILD and NO_FULL_BUILD leave nothing to judge",
    }
}

/// The stages the command line (or `STAGES_TO_BUILD`) names.
fn chosen_plan(project: &Project, options: &Options, image: &Image) -> Result<Plan> {
    let settings = &project.settings;
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
    Ok(Plan {
        stages: if settings.no_stages_build { Vec::new() } else { selected },
        full: (everything && !settings.no_full_build).then(|| image.full()),
    })
}

fn plan_stale(
    stages: &[State],
    full: &State,
    no_stages_build: bool,
    no_full_build: bool,
    image: &Image,
) -> Option<Plan> {
    let first = freshness::first_stale(stages).filter(|_| !no_stages_build);
    let plan = Plan {
        stages: first.map(|first| (first..stages.len()).collect()).unwrap_or_default(),
        full: (*full != State::Fresh && !no_full_build).then(|| image.full()),
    };
    (!plan.targets().is_empty()).then_some(plan)
}

/// A run from its checks to its last build: every check that can refuse it
/// comes before anything is written; the project lock is held from before
/// the chain is written to the last build, and a run that had to wait for
/// it asks the engine again what it had asked before (another run may have
/// rebuilt a stage meanwhile: it would judge and label by what was there).
pub(crate) struct Session<'a> {
    project: &'a Project,
    options: &'a Options,
    image: &'a Image,
    engine: Engine<'a>,
    /// The build words: `APP_ENV_NAME`, `DOCKER_BUILD_ARGS`, the args after `--`.
    words: Vec<String>,
    /// The chain files the builds use (see [`Project::chain_to_build`]).
    chain: Vec<String>,
    /// The repository's tags and ids, once listed.
    listed: Option<HashMap<String, String>>,
}

impl<'a> Session<'a> {
    pub(crate) fn open(
        sh: &'a Shell,
        project: &'a Project,
        options: &'a Options,
        image: &'a Image,
    ) -> Result<Session<'a>> {
        let words = build_args(project, options)?;
        if !project.settings.no_gen {
            project.refuse_users_dockerfile(false)?;
        }
        let engine = Engine::new(sh, &project.settings.engine, options.dry_run)?;
        let builder_check = engine.start_builder_check();
        let chain = project.chain_to_build(image)?;
        if let Some(check) = builder_check {
            check.finish()?;
        }
        Ok(Session { project, options, image, engine, words, chain, listed: None })
    }

    /// `--stale`: what `status` does not call fresh, judged against what
    /// this run would build; `None` when nothing is stale. The tags the
    /// survey listed are kept: the run needs them, and need not list again.
    fn stale_plan(&mut self) -> Result<Option<Plan>> {
        let settings = &self.project.settings;
        let main = self.project.main_to_build()?;
        let expected = freshness::Expected { chain: &self.chain, words: &self.words, main: &main };
        let survey = survey::survey(&self.engine, self.image, &expected)?;
        let plan = plan_stale(
            &survey.stages,
            &survey.full,
            settings.no_stages_build,
            settings.no_full_build,
            self.image,
        );
        let listed = survey.listed.into_iter().chain([survey.full_listed]).flatten();
        self.listed = Some(listed.map(|row| (row.tag, row.id)).collect());
        Ok(plan)
    }

    /// The repository's tags and ids. In a dry run an engine that does not
    /// answer is planned around: as if no stage image existed.
    fn list(&self) -> Result<HashMap<String, String>> {
        match self.engine.local_tags(self.image.repository()) {
            Ok(local) => Ok(local),
            Err(err) if self.options.dry_run => {
                say!("warning: {err:#}; planning as if no stage image exists");
                Ok(HashMap::new())
            }
            Err(err) => Err(err),
        }
    }

    /// Regenerates the chain (unless `NO_GEN`) and carries out `plan`.
    pub(crate) fn build(mut self, mut plan: Plan) -> Result<()> {
        let last = self.project.snippets.len().saturating_sub(1);
        // Which stage images exist matters for a parent this run does not
        // build, and for the stages above the run that its rebuilds leave
        // behind. A run of every stage asks later, if ever, which saves an
        // engine call on the common `cargo xtask stages`; an engine that does
        // not answer is then found when its first command fails.
        let every_stage = plan.stages.iter().copied().eq(0..=last);
        let mut local = match self.listed.take() {
            Some(listed) => Some(listed),
            None if every_stage && !self.options.dry_run => None,
            None => Some(self.list()?),
        };
        // Held until the last build: the builds read the chain files.
        let lock = self.project.lock()?;
        if lock.waited && self.options.stale {
            let Some(now) = self.stale_plan()? else {
                say!("nothing is stale: {}", fresh_scope(&self.project.settings));
                return Ok(());
            };
            (plan, local) = (now, self.listed.take());
        } else if lock.waited && local.is_some() {
            local = Some(self.list()?);
        }
        let Session { project, options, image, engine, words, chain, .. } = self;
        let main = if plan.full.is_some() { project.main_to_build()? } else { String::new() };
        let dockerfile_changed = !project.settings.no_gen && project.write(&chain)?;
        for warning in dockerignore::warnings(&project.root) {
            say!("warning: {warning}");
        }
        signals::install();

        let mut run = Run {
            project,
            options,
            engine: &engine,
            image,
            expected: keys::chain(&chain, &words),
            chain,
            main,
            words,
            local,
            pending: plan.targets(),
            full: plan.full,
            done: HashMap::new(),
            present: HashMap::new(),
            by_key: None,
            registry_down: false,
            summary: Summary::default(),
            current: None,
        };
        let result = run.execute(&plan.stages).map_err(|err| run.explain(err));
        // An engine that is not there built nothing: no table for it.
        let no_engine =
            result.as_ref().is_err_and(|err| exit::code(err) == Some(exit::Code::Input));
        if !options.dry_run && !no_engine {
            let not_built = std::mem::take(&mut run.pending);
            for target in not_built {
                let tag = run.tag(target);
                run.summary.record(target, tag, None, Fate::NotBuilt);
            }
            run.summary.print();
        }
        result?;
        let behind = run.behind(dockerfile_changed)?;
        if !behind.is_empty() {
            say!(
                "note: {} {} now behind what this run rebuilt: run `cargo xtask stages --stale` to bring {} up to date",
                names(&behind),
                if behind.len() == 1 { "is" } else { "are" },
                if behind.len() == 1 { "it" } else { "them" },
            );
        }
        Ok(())
    }
}

/// `stage 3, stage 4 and the full image`.
fn names(targets: &[Target]) -> String {
    let names: Vec<String> = targets.iter().map(Target::to_string).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// `--build-arg APP_ENV_NAME=...`, `DOCKER_BUILD_ARGS` and the args after `--`,
/// with secret-looking build args refused unless allowed.
fn build_args(project: &Project, options: &Options) -> Result<Vec<String>> {
    if !options.allow_secret_args {
        refuse_secrets(&project.settings.docker_build_args()?, "DOCKER_BUILD_ARGS")?;
        refuse_secrets(&options.docker_args, "the arguments after --")?;
    }
    let mut words = project.settings.build_words()?;
    words.extend(options.docker_args.iter().cloned());
    Ok(words)
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

/// What became of one target of the run, as its summary row says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Built,
    Pulled,
    Tagged,
    Failed,
    NotBuilt,
}

struct Row {
    target: Target,
    tag: String,
    seconds: f64,
    fate: Fate,
}

/// The table printed at the end of a run: one row per stage pulled, built,
/// failed or not built, then the full image.
#[derive(Default)]
struct Summary {
    rows: Vec<Row>,
}

impl Summary {
    fn record(&mut self, target: Target, tag: String, started: Option<Instant>, fate: Fate) {
        let seconds = started.map_or(0.0, |s| s.elapsed().as_secs_f64());
        self.rows.push(Row { target, tag, seconds, fate });
    }

    fn print(&mut self) {
        if self.rows.is_empty() {
            say!("nothing to build");
            return;
        }
        self.rows.sort_by_key(|row| row.target);
        let width = self.rows.iter().map(|r| r.tag.len()).max().unwrap_or(5).max(5);
        say!("\n{:<5}  {:<width$}  {:>7}  outcome", "stage", "image", "seconds");
        for row in &self.rows {
            let target = match row.target {
                Target::Stage(n) => n.to_string(),
                Target::Full => "full".to_string(),
            };
            let fate = match row.fate {
                Fate::Built => "built",
                Fate::Pulled => "pulled",
                Fate::Tagged => "tagged",
                Fate::Failed => "failed",
                Fate::NotBuilt => "not built",
            };
            say!("{target:<5}  {:<width$}  {:>7.1}  {fate}", row.tag, row.seconds);
        }
    }
}

/// The target being pulled or built, for errors the engine raises mid-run.
struct Current {
    target: Target,
    tag: String,
    what: String,
}

/// A stage image this run made (built, pulled or tagged).
struct Made {
    /// The key its label carries.
    key: String,
    /// Its id and creation time, once read from the engine: its child's
    /// label needs the time, [`Run::behind`] the id.
    read: Option<Present>,
}

/// Carries out a [`Plan`].
struct Run<'a> {
    project: &'a Project,
    options: &'a Options,
    engine: &'a Engine<'a>,
    image: &'a Image,
    chain: Vec<String>,
    /// The key of each stage built from the current chain on current parents.
    expected: Vec<String>,
    /// The main Dockerfile's text, when this run builds the full image.
    main: String,
    words: Vec<String>,
    /// The tag of the full image, when this run builds it.
    full: Option<String>,
    /// Stage tags that existed before the run (`<tag>_stage<N>`), with their
    /// ids; `None` until first needed.
    local: Option<HashMap<String, String>>,
    /// Stages this run made.
    done: HashMap<usize, Made>,
    /// Stage images from before the run that a stage of it builds on, as inspected.
    present: HashMap<usize, Present>,
    /// This repository's stage tags on the engine and their images, once
    /// inspected to find one by its key.
    by_key: Option<Vec<(String, Present)>>,
    /// Whether the registry failed to answer a `--pull` lookup.
    registry_down: bool,
    summary: Summary,
    /// What was asked for and is not done yet.
    pending: Vec<Target>,
    current: Option<Current>,
}

impl Run<'_> {
    fn execute(&mut self, stages: &[usize]) -> Result<()> {
        for &stage in stages {
            if stage > 0 {
                self.ensure(stage - 1)?;
                self.warn_if_parent_is_older(stage);
            }
            // A stage named on the command line is always built: that is how
            // new code gets in. One that `--stale` chose is taken by its key
            // when an image has it.
            if self.options.stale {
                let key = self.key_on_parent(stage);
                if self.tag_by_key(stage, &key)?
                    || (self.options.pull && self.pull_by_key(stage, &key)?)
                {
                    continue;
                }
            }
            self.build_stage(stage)?;
        }
        if let Some(tag) = self.full.clone() {
            self.build_full(tag)?;
        }
        Ok(())
    }

    fn tag(&self, target: Target) -> String {
        match target {
            Target::Stage(n) => self.image.stage(n),
            Target::Full => self.full.clone().unwrap_or_else(|| self.image.full()),
        }
    }

    /// Makes the image of stage `n` available. From `n` downwards, the first
    /// stage that is there, or whose key an image of this repository on the
    /// engine carries (then tagged), or (with `--pull`) whose key tag the
    /// registry holds (then pulled), is the base; the stages above it are
    /// built. Keys are those the current snippets give.
    fn ensure(&mut self, n: usize) -> Result<()> {
        let mut m = n;
        let base = loop {
            if self.available(m)? {
                break Some(m);
            }
            let key = self.expected[m].clone();
            if self.tag_by_key(m, &key)? || (self.options.pull && self.pull_by_key(m, &key)?) {
                break Some(m);
            }
            if m == 0 {
                break None;
            }
            m -= 1;
        };
        for stage in base.map_or(0, |b| b + 1)..=n {
            self.build_stage(stage)?;
        }
        Ok(())
    }

    /// Whether stage `n`'s image is there: made by this run, or tagged before it.
    fn available(&mut self, n: usize) -> Result<bool> {
        Ok(self.done.contains_key(&n) || self.local_id(n)?.is_some())
    }

    /// The key stage `n` gets when built on its parent as it is now (the key
    /// the current snippets give when the parent is not there).
    fn key_on_parent(&self, n: usize) -> String {
        let Some(parent) = n.checked_sub(1) else { return self.expected[0].clone() };
        let parent_key = match (self.done.get(&parent), self.present.get(&parent)) {
            (Some(made), _) => made.key.clone(),
            (None, Some(present)) => {
                present_key(present).unwrap_or(&self.expected[parent]).to_string()
            }
            (None, None) => self.expected[parent].clone(),
        };
        keys::key(Some(&parent_key), &self.chain[n], &self.words)
    }

    /// The id stage `n`'s image had before the run, if it existed.
    fn local_id(&mut self, n: usize) -> Result<Option<String>> {
        let tag = self.image.stage_tag(n);
        Ok(self.local_tags()?.get(&tag).cloned())
    }

    /// The stage tags that exist locally; asking is also the check that the
    /// engine answers (an environment error, exit 2, when it does not).
    fn local_tags(&mut self) -> Result<&HashMap<String, String>> {
        if self.local.is_none() {
            self.local = Some(self.engine.local_tags(self.image.repository())?);
        }
        Ok(self.local.get_or_insert_with(HashMap::new))
    }

    /// Tags as stage `n` an image of this repository on the engine whose
    /// label carries `key` (built under another tag or branch), if there is
    /// one.
    fn tag_by_key(&mut self, n: usize, key: &str) -> Result<bool> {
        if self.by_key.is_none() {
            let image = self.image;
            let refs: Vec<String> = self
                .local_tags()?
                .keys()
                .filter(|tag| tag.contains("_stage"))
                .map(|tag| format!("{}:{tag}", image.name))
                .collect();
            let inspected = self.engine.inspect(&refs)?;
            self.by_key = Some(refs.into_iter().zip(inspected).collect());
        }
        let found =
            self.by_key.iter().flatten().find(|(_, present)| present_key(present) == Some(key));
        let Some((source, present)) = found.map(|(r, p)| (r.clone(), p.clone())) else {
            return Ok(false);
        };
        let tag = self.image.stage(n);
        self.start(Target::Stage(n), &tag, format!("tagging {source} as {tag}"));
        let started = Instant::now();
        let tagged = self.engine.tag(&source, &tag)?;
        if !tagged.status.success() {
            return Err(failure(
                format!("tagging {source} as {tag} failed: {}", tagged.reason),
                format!("not built: {}", self.not_built()),
            ));
        }
        self.done.insert(n, Made { key: key.to_string(), read: Some(present) });
        self.finish(Target::Stage(n), tag, started, Fate::Tagged);
        Ok(true)
    }

    /// With `--pull`: pulls stage `n`'s key tag from the registry when it
    /// holds it, and tags it as stage `n`. A registry that does not answer
    /// is named once, and not asked again: the run builds here. A dry run
    /// prints the pull and plans as if it succeeds.
    fn pull_by_key(&mut self, n: usize, key: &str) -> Result<bool> {
        if self.registry_down {
            return Ok(false);
        }
        let key_tag = format!("{}:{}", self.image.name, keys::tag(n, key));
        if !self.engine.dry_run {
            match self.engine.lookup(&key_tag)? {
                Lookup::Found => {}
                Lookup::Missing => return Ok(false),
                // Podman cannot ask: the pull tells.
                Lookup::Unknown(_) if self.engine.is_podman() => {}
                Lookup::Unknown(why) => return Ok(self.note_registry_down(&why)),
            }
        }
        let target = Target::Stage(n);
        let tag = self.image.stage(n);
        self.start(target, &tag, format!("pulling {key_tag}"));
        self.check_interrupted(&format!("before pulling {key_tag}"))?;
        let started = Instant::now();
        // The key tag goes however this ends: a stage is tagged whole or not at all.
        let guard = Untag { engine: self.engine, tag: &key_tag };
        let pulled = self.engine.pull(&key_tag)?;
        self.check_interrupted(&format!("while pulling {key_tag}"))?;
        if !pulled.status.success() {
            if !missing(&pulled.reason) {
                self.note_registry_down(&pulled.reason);
            }
            self.current = None;
            return Ok(false);
        }
        let tagged = self.engine.tag(&key_tag, &tag)?;
        if !tagged.status.success() {
            return Err(failure(
                format!("tagging {key_tag} as {tag} failed: {}", tagged.reason),
                format!("not built: {}", self.not_built()),
            ));
        }
        self.engine.untag(&key_tag)?;
        guard.disarm();
        self.done.insert(n, Made { key: key.to_string(), read: None });
        self.finish(target, tag, started, Fate::Pulled);
        Ok(true)
    }

    /// Says once that the registry does not answer; the run builds here.
    fn note_registry_down(&mut self, why: &str) -> bool {
        say!(
            "warning: cannot pull from the registry {} ({why}): building here",
            self.image.registry()
        );
        self.registry_down = true;
        false
    }

    /// Warns when stage `stage` builds on a parent this run did not rebuild
    /// although it rebuilt something below it.
    fn warn_if_parent_is_older(&self, stage: usize) {
        let parent = stage - 1;
        if self.done.contains_key(&parent) {
            return;
        }
        if let Some(&below) = self.done.keys().filter(|&&n| n < parent).max() {
            say!(
                "warning: stage {stage} builds on the existing image of stage {parent}, which still holds the old stage {below}: run `cargo xtask stages {below}-{stage}` to rebuild them all"
            );
        }
    }

    fn build_stage(&mut self, n: usize) -> Result<()> {
        let tag = self.image.stage(n);
        let last = self.project.snippets.len() - 1;
        let snippet = &self.project.snippets[n].display;
        let what = format!("stage {n} ({snippet})");
        self.progress(&format!("stage {n}/{last} {snippet} -> {tag}"));
        self.start(Target::Stage(n), &tag, what.clone());
        let parent = if n == 0 { None } else { Some(self.parent(n - 1)?) };
        let parent_key = parent.as_ref().map(|(key, _)| key.as_str());
        let key = keys::key(parent_key, &self.chain[n], &self.words);
        let label = self.stage_label(n, parent.as_ref(), &key);
        let mut words = vec![
            plain("-t"),
            plain(&tag),
            plain("-f"),
            plain(&self.project.chain_file(n)),
            plain("--label"),
            label,
        ];
        self.build(&mut words, Target::Stage(n), tag, &what)?;
        self.done.insert(n, Made { key: key.clone(), read: None });
        if self.options.push {
            self.push_key_tag(n, &key)?;
        }
        Ok(())
    }

    /// A line before each build. A dry run prints none: its commands are
    /// its whole output, and `--dry-run | head -1` leaves stderr empty.
    fn progress(&self, line: &str) {
        if !self.engine.dry_run {
            say!("{line}");
        }
    }

    fn build_full(&mut self, tag: String) -> Result<()> {
        let what = "the full image (Dockerfile)".to_string();
        self.progress(&format!("full image Dockerfile -> {tag}"));
        self.start(Target::Full, &tag, what.clone());
        let value = labels::full_label(&self.main, self.image.repository());
        let label = Word::Plain(format!("{LABEL}={value}"));
        let mut words = vec![
            plain("-t"),
            plain(&tag),
            plain("-f"),
            plain("Dockerfile"),
            plain("--label"),
            label,
        ];
        self.build(&mut words, Target::Full, tag, &what)
    }

    /// The `--label` value of stage `n`, with key `key`, built on `parent`
    /// (its key and creation time).
    fn stage_label(&self, n: usize, parent: Option<&(String, Word)>, key: &str) -> Word {
        let repository = self.image.repository();
        let value = |created: &str| {
            let parent = parent.map(|(key, _)| labels::Parent { key, created });
            format!("{LABEL}={}", labels::stage_label(&self.chain[n], parent, repository, key))
        };
        match parent {
            // Double quotes, so that the shell runs the `$(...)` inside; the
            // repository name and the keys hold no character a shell expands.
            Some((_, Word::Shell(created))) => Word::Shell(format!("\"{}\"", value(created))),
            Some((_, Word::Plain(created))) => Word::Plain(value(created)),
            None => Word::Plain(value("")),
        }
    }

    /// Runs one build (then its push), recording what happened.
    fn build(
        &mut self,
        words: &mut Vec<Word>,
        target: Target,
        tag: String,
        what: &str,
    ) -> Result<()> {
        words.extend(self.words.iter().map(|w| plain(w)));
        words.push(plain("."));
        // A Ctrl-C between two builds stops the run before the next one.
        self.check_interrupted(&format!("before building {what}"))?;
        let started = Instant::now();
        let built = self.engine.build(words, target != Target::Full)?;
        self.check_interrupted(&format!("while building {what}"))?;
        if !built.status.success() {
            // A first build that fails may mean no engine at all: asking
            // which images exist tells (exit 2 if it does not answer). Once
            // the engine has built something in this run, a failure is the
            // build's (exit 1), even if the engine then went away.
            if self.done.is_empty() {
                self.local_tags()?;
            }
            self.finish(target, tag, started, Fate::Failed);
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
        self.finish(target, tag.clone(), started, Fate::Built);
        if self.options.push {
            let pushed = self.engine.push(&tag)?;
            self.check_interrupted(&format!("while pushing {tag}"))?;
            if !pushed.status.success() {
                return Err(self.push_failed(&tag, &pushed.reason));
            }
        }
        Ok(())
    }

    /// Pushes stage `n` under its key tag too, `<repository>:stage<N>-<hex>`:
    /// tagged, pushed, untagged (the stage tag stays). A key tag that the
    /// registry already holds is pushed again harmlessly: same inputs.
    fn push_key_tag(&mut self, n: usize, key: &str) -> Result<()> {
        let tag = self.image.stage(n);
        let key_tag = format!("{}:{}", self.image.name, keys::tag(n, key));
        let tagged = self.engine.tag(&tag, &key_tag)?;
        if !tagged.status.success() {
            return Err(failure(
                format!("tagging {tag} as {key_tag} failed: {}", tagged.reason),
                format!("not built: {}", self.not_built()),
            ));
        }
        // Removed however this ends, the push's failure or Ctrl-C included.
        let guard = Untag { engine: self.engine, tag: &key_tag };
        let pushed = self.engine.push(&key_tag)?;
        self.check_interrupted(&format!("while pushing {key_tag}"))?;
        if !pushed.status.success() {
            return Err(self.push_failed(&key_tag, &pushed.reason));
        }
        self.engine.untag(&key_tag)?;
        guard.disarm();
        Ok(())
    }

    /// A push that failed: exit 1, everything built stays tagged here, and
    /// the same command pushes it once the registry answers again.
    fn push_failed(&self, tag: &str, reason: &str) -> anyhow::Error {
        failure(
            format!("pushing {tag} failed: {reason}"),
            format!(
                "log in to the registry (`{} login`) or check DOCKER_IMAGE, then run the same command again (what was built stays tagged here); not built: {}",
                self.engine.program(),
                self.not_built()
            ),
        )
    }

    fn start(&mut self, target: Target, tag: &str, what: String) {
        self.current = Some(Current { target, tag: tag.to_string(), what });
    }

    fn finish(&mut self, target: Target, tag: String, started: Instant, fate: Fate) {
        self.current = None;
        self.pending.retain(|p| *p != target);
        self.summary.record(target, tag, Some(started), fate);
    }

    /// The key and creation time of stage `n`'s image, for its child's
    /// label: made by this run (its time read from the engine, or in a dry
    /// run the shell text that reads it), or there before the run.
    fn parent(&mut self, n: usize) -> Result<(String, Word)> {
        let tag = self.image.stage(n);
        if let Some(made) = self.done.get(&n) {
            let key = made.key.clone();
            if let Some(read) = &made.read {
                return Ok((key, Word::Plain(read.created.clone())));
            }
            if self.engine.dry_run {
                return Ok((key, Word::Shell(self.engine.created_expression(&tag))));
            }
            let read = self.engine.inspect(&[tag])?.pop().context("no image")?;
            let created = read.created.clone();
            self.done.insert(n, Made { key: key.clone(), read: Some(read) });
            return Ok((key, Word::Plain(created)));
        }
        if self.local_id(n)?.is_none() {
            // Only when the engine could not be asked (a dry run).
            return Ok((
                self.expected[n].clone(),
                Word::Shell(self.engine.created_expression(&tag)),
            ));
        }
        let present = match self.present.get(&n) {
            Some(present) => present.clone(),
            None => {
                let present = self.engine.inspect(&[tag])?.pop().context("no image")?;
                self.present.insert(n, present.clone());
                present
            }
        };
        // A parent labelled before keys (or not by this tool) is taken for
        // what the snippets give now; `status` judges it on its own.
        let key = present_key(&present).unwrap_or(&self.expected[n]).to_string();
        Ok((key, Word::Plain(present.created)))
    }

    /// The images this run left behind: present stages above the lowest
    /// stage whose image it replaced, which it did not rebuild, and the full
    /// image when it did not rebuild it although the main Dockerfile changed.
    fn behind(&mut self, dockerfile_changed: bool) -> Result<Vec<Target>> {
        if self.options.dry_run || self.done.is_empty() {
            return Ok(Vec::new());
        }
        let mut behind = Vec::new();
        // Without the listing the run covered the whole chain: nothing above.
        if self.local.is_some() {
            self.read_done_ids()?;
        }
        if let Some(local) = &self.local {
            let replaced = self
                .done
                .iter()
                .filter(|(n, made)| {
                    let before = local.get(&self.image.stage_tag(**n));
                    made.read.as_ref().map(|read| &read.id) != before
                })
                .map(|(n, _)| *n)
                .min();
            if let Some(low) = replaced {
                let above = low + 1..self.chain.len();
                behind.extend(above.filter(|m| {
                    !self.done.contains_key(m) && local.contains_key(&self.image.stage_tag(*m))
                }));
            }
        }
        let mut behind: Vec<Target> = behind.into_iter().map(Target::Stage).collect();
        let full_built = self.full.as_deref() == Some(self.image.full().as_str());
        let image = self.image;
        if dockerfile_changed && !full_built && self.local_tags()?.contains_key(&image.tag) {
            behind.push(Target::Full);
        }
        Ok(behind)
    }

    /// Reads the ids of the stages this run made that are not read yet, in
    /// one engine call.
    fn read_done_ids(&mut self) -> Result<()> {
        let unread: Vec<usize> =
            self.done.iter().filter(|(_, made)| made.read.is_none()).map(|(&n, _)| n).collect();
        let tags: Vec<String> = unread.iter().map(|&n| self.image.stage(n)).collect();
        for (n, read) in unread.into_iter().zip(self.engine.inspect(&tags)?) {
            if let Some(made) = self.done.get_mut(&n) {
                made.read = Some(read);
            }
        }
        Ok(())
    }

    /// An error without an exit code of its own, met mid-run (the engine
    /// stopped answering, say): the current target failed, exit 1.
    fn explain(&mut self, err: anyhow::Error) -> anyhow::Error {
        if exit::code(&err).is_some() {
            return err;
        }
        let what = match self.current.take() {
            Some(Current { target, tag, what }) => {
                self.finish(target, tag, Instant::now(), Fate::Failed);
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
        if signals::interrupted() {
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
        let names: Vec<String> = self.pending.iter().map(Target::to_string).collect();
        names.join(", ")
    }
}

/// The key in the label of `present`, if it has one.
fn present_key(present: &Present) -> Option<&str> {
    present.label.as_deref().and_then(|label| labels::parse(label).key)
}

/// A tag made for a moment (a key tag, pulled or pushed); dropping it
/// removes it quietly, so that no exit path (an error, Ctrl-C) leaves it.
struct Untag<'a> {
    engine: &'a Engine<'a>,
    tag: &'a str,
}

impl Untag<'_> {
    /// The tag was removed as the run went: nothing left to do.
    fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for Untag<'_> {
    fn drop(&mut self) {
        if !self.engine.dry_run {
            self.engine.remove(self.tag);
        }
    }
}

fn plain(word: &str) -> Word {
    Word::Plain(word.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::freshness::Reason;

    #[test]
    fn stale_plans_start_at_the_first_stage_that_is_not_fresh() {
        let image = Image { name: "ns/app".into(), tag: "v1".into() };
        let (f, m) = (State::Fresh, State::Missing);
        let s = State::Stale(vec![Reason::ParentRebuilt]);
        let plan = |stages: &[State], full: &State, no_full| {
            plan_stale(stages, full, false, no_full, &image).map(|p| p.targets())
        };
        let all_fresh = [f.clone(), f.clone(), f.clone()];
        assert_eq!(plan(&all_fresh, &f, false), None);
        assert_eq!(
            plan(&[f.clone(), s.clone(), f.clone()], &f, false),
            Some(vec![Target::Stage(1), Target::Stage(2)])
        );
        assert_eq!(plan(&all_fresh, &m, false), Some(vec![Target::Full]));
        assert_eq!(plan(&all_fresh, &m, true), None);
        // A missing stage below a present one does not count.
        assert_eq!(
            plan(&[m.clone(), f.clone(), m.clone()], &f, false),
            Some(vec![Target::Stage(2)])
        );
    }

    #[test]
    fn targets_are_named_in_one_line() {
        assert_eq!(names(&[Target::Stage(4)]), "stage 4");
        assert_eq!(
            names(&[Target::Stage(3), Target::Stage(4), Target::Full]),
            "stage 3, stage 4 and the full image"
        );
        assert!(Target::Stage(usize::MAX) < Target::Full);
    }

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
