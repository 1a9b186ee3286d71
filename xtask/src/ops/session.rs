//! Carrying out a build plan: a [`Session`] runs from its checks to its last
//! build, for `stages` and `verify`. Its children: `run` (the builds, stage
//! by stage, each on its parent), `team_cache` (stages taken by key: tagged
//! from another tag, pulled from the registry, key tags pushed) and
//! `summary` (the table at the end, and what the run left behind).

mod run;
mod summary;
mod team_cache;

use std::collections::HashMap;

use anyhow::Result;
use xshell::Shell;

use self::run::Run;
use self::summary::{Fate, Summary};
use crate::engine::Engine;
use crate::model::freshness;
use crate::model::image::Image;
use crate::model::keys;
use crate::model::plan::{names, plan_stale, Plan};
use crate::model::secrets::refuse_secrets;
use crate::ops::dockerignore;
use crate::ops::project::Project;
use crate::ops::survey;
use crate::settings::Settings;
use crate::util::exit;
use crate::util::print::say;
use crate::util::signals;

/// How a run builds: the options of `stages` (and those of them `verify`
/// takes) other than which stages.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct BuildOptions {
    /// Build what is not fresh (never together with named stages).
    pub(crate) stale: bool,
    pub(crate) dry_run: bool,
    pub(crate) push: bool,
    pub(crate) pull: bool,
    pub(crate) allow_secret_args: bool,
    pub(crate) docker_args: Vec<String>,
}

/// What `--stale` found fresh, which the settings may narrow: the line a
/// run prints when nothing is stale.
pub(crate) fn fresh_scope(settings: &Settings) -> &'static str {
    match (settings.no_stages_build, settings.no_full_build) {
        (false, false) => "every stage image and the full image are fresh",
        (false, true) => "every stage image is fresh (NO_FULL_BUILD: the full image is not judged)",
        (true, false) => {
            "the full image is fresh (NO_STAGES_BUILD: the stage images are not judged)"
        }
        (true, true) => "NO_STAGES_BUILD and NO_FULL_BUILD leave nothing to judge",
    }
}

/// A run from its checks to its last build: every check that can refuse it
/// comes before anything is written; the project lock is held from before
/// the chain is written to the last build, and a run that had to wait for
/// it asks the engine again what it had asked before (another run may have
/// rebuilt a stage meanwhile: it would judge and label by what was there).
pub(crate) struct Session<'a> {
    project: &'a Project,
    options: &'a BuildOptions,
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
        options: &'a BuildOptions,
        image: &'a Image,
    ) -> Result<Session<'a>> {
        let words = build_args(project, options)?;
        if !project.settings.no_gen {
            project.refuse_users_dockerfile(false)?;
        }
        let engine = Engine::new(sh, &project.settings.engine, options.dry_run)?;
        let builder_check = engine.start_builder_check(&words);
        let chain = project.chain_to_build(image)?;
        if let Some(check) = builder_check {
            check.finish()?;
        }
        Ok(Session { project, options, image, engine, words, chain, listed: None })
    }

    /// `--stale`: what `status` does not call fresh, judged against what
    /// this run would build; `None` when nothing is stale. The tags the
    /// survey listed are kept: the run needs them, and need not list again.
    pub(crate) fn stale_plan(&mut self) -> Result<Option<Plan>> {
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

/// `--build-arg APP_ENV_NAME=...`, `DOCKER_BUILD_ARGS` and the args after `--`,
/// with secret-looking build args refused unless allowed.
fn build_args(project: &Project, options: &BuildOptions) -> Result<Vec<String>> {
    if !options.allow_secret_args {
        refuse_secrets(&project.settings.docker_build_args()?, "DOCKER_BUILD_ARGS")?;
        refuse_secrets(&options.docker_args, "the arguments after --")?;
    }
    let mut words = project.settings.build_words()?;
    words.extend(options.docker_args.iter().cloned());
    Ok(words)
}
