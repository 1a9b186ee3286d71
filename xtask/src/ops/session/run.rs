//! The builds of a run, stage by stage: each stage on the image of the one
//! before it, missing ancestors first (taken from the team cache when an
//! image has their key, else built), then the full image; each build
//! labelled with what it was built from, and every failure or Ctrl-C turned
//! into an error that says what was not built.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{Context, Result};

use super::summary::{Fate, Summary};
use super::BuildOptions;
use crate::engine::{Engine, Word};
use crate::model::image::Image;
use crate::model::keys;
use crate::model::labels::{self, Present, LABEL};
use crate::model::plan::Target;
use crate::ops::project::Project;
use crate::util::exit::{self, failure, interrupted};
use crate::util::print::say;
use crate::util::signals;

/// The target being pulled or built, for errors the engine raises mid-run.
pub(super) struct Current {
    pub(super) target: Target,
    pub(super) tag: String,
    pub(super) what: String,
}

/// A stage image this run made (built, pulled or tagged).
pub(super) struct Made {
    /// The key its label carries.
    pub(super) key: String,
    /// Its id and creation time, once read from the engine: its child's
    /// label needs the time, [`Run::behind`] the id.
    pub(super) read: Option<Present>,
}

/// Carries out a [`Plan`](crate::model::plan::Plan).
pub(super) struct Run<'a> {
    pub(super) project: &'a Project,
    pub(super) options: &'a BuildOptions,
    pub(super) engine: &'a Engine<'a>,
    pub(super) image: &'a Image,
    pub(super) chain: Vec<String>,
    /// The key of each stage built from the current chain on current parents.
    pub(super) expected: Vec<String>,
    /// The main Dockerfile's text, when this run builds the full image.
    pub(super) main: String,
    pub(super) words: Vec<String>,
    /// The tag of the full image, when this run builds it.
    pub(super) full: Option<String>,
    /// Stage tags that existed before the run (`<tag>_stage<N>`), with their
    /// ids; `None` until first needed.
    pub(super) local: Option<HashMap<String, String>>,
    /// Stages this run made.
    pub(super) done: HashMap<usize, Made>,
    /// Stage images from before the run that a stage of it builds on, as inspected.
    pub(super) present: HashMap<usize, Present>,
    /// This repository's stage tags on the engine and their images, once
    /// inspected to find one by its key.
    pub(super) by_key: Option<Vec<(String, Present)>>,
    /// Whether the registry failed to answer a `--pull` lookup.
    pub(super) registry_down: bool,
    pub(super) summary: Summary,
    /// What was asked for and is not done yet.
    pub(super) pending: Vec<Target>,
    pub(super) current: Option<Current>,
}

impl Run<'_> {
    pub(super) fn execute(&mut self, stages: &[usize]) -> Result<()> {
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

    pub(super) fn tag(&self, target: Target) -> String {
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
    pub(super) fn available(&mut self, n: usize) -> Result<bool> {
        Ok(self.done.contains_key(&n) || self.local_id(n)?.is_some())
    }

    /// The key stage `n` gets when built on its parent as it is now (the key
    /// the current snippets give when the parent is not there).
    fn key_on_parent(&self, n: usize) -> String {
        let Some(parent) = n.checked_sub(1) else { return self.expected[0].clone() };
        let parent_key = match (self.done.get(&parent), self.present.get(&parent)) {
            (Some(made), _) => made.key.clone(),
            (None, Some(present)) => present.key().unwrap_or(&self.expected[parent]).to_string(),
            (None, None) => self.expected[parent].clone(),
        };
        keys::key(Some(&parent_key), &self.chain[n], &self.words)
    }

    /// The id stage `n`'s image had before the run, if it existed.
    pub(super) fn local_id(&mut self, n: usize) -> Result<Option<String>> {
        let tag = self.image.stage_tag(n);
        Ok(self.local_tags()?.get(&tag).cloned())
    }

    /// The stage tags that exist locally; asking is also the check that the
    /// engine answers (an environment error, exit 2, when it does not).
    pub(super) fn local_tags(&mut self) -> Result<&HashMap<String, String>> {
        if self.local.is_none() {
            self.local = Some(self.engine.local_tags(self.image.repository())?);
        }
        Ok(self.local.get_or_insert_with(HashMap::new))
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

    /// A push that failed: exit 1, everything built stays tagged here, and
    /// the same command pushes it once the registry answers again.
    pub(super) fn push_failed(&self, tag: &str, reason: &str) -> anyhow::Error {
        failure(
            format!("pushing {tag} failed: {reason}"),
            format!(
                "log in to the registry (`{} login`) or check DOCKER_IMAGE, then run the same command again (what was built stays tagged here); not built: {}",
                self.engine.program(),
                self.not_built()
            ),
        )
    }

    pub(super) fn start(&mut self, target: Target, tag: &str, what: String) {
        self.current = Some(Current { target, tag: tag.to_string(), what });
    }

    pub(super) fn finish(&mut self, target: Target, tag: String, started: Instant, fate: Fate) {
        self.current = None;
        self.pending.retain(|p| *p != target);
        self.summary.record(target, tag, Some(started), fate);
    }

    /// The key and creation time of stage `n`'s image, for its child's
    /// label: made by this run (its time read from the engine, or in a dry
    /// run the shell text that reads it), or there before the run.
    pub(super) fn parent(&mut self, n: usize) -> Result<(String, Word)> {
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
        let key = present.key().unwrap_or(&self.expected[n]).to_string();
        Ok((key, Word::Plain(present.created)))
    }

    /// An error without an exit code of its own, met mid-run (the engine
    /// stopped answering, say): the current target failed, exit 1.
    pub(super) fn explain(&mut self, err: anyhow::Error) -> anyhow::Error {
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

    pub(super) fn check_interrupted(&mut self, what: &str) -> Result<()> {
        if signals::interrupted() {
            return Err(interrupted(format!(
                "interrupted {what}; not built: {}",
                self.not_built()
            )));
        }
        Ok(())
    }

    pub(super) fn not_built(&self) -> String {
        if self.pending.is_empty() {
            return "nothing else".to_string();
        }
        let names: Vec<String> = self.pending.iter().map(Target::to_string).collect();
        names.join(", ")
    }
}

fn plain(word: &str) -> Word {
    Word::Plain(word.to_string())
}
