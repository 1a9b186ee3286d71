//! The team cache: a stage whose key an image already has is not built
//! again. Taken from another tag of this repository on the engine (built
//! under another tag or branch), or with `--pull` from the registry by its
//! key tag; with `--push`, each stage built is pushed under its key tag too.
//! A key tag made for a moment is held by a [`TemporaryTag`], so no exit
//! path leaves it.

use std::time::Instant;

use anyhow::Result;

use super::run::{Made, Run};
use super::summary::Fate;
use crate::engine::{missing, Lookup, TemporaryTag};
use crate::model::keys;
use crate::model::plan::Target;
use crate::util::exit::failure;
use crate::util::print::say;

impl Run<'_> {
    /// Tags as stage `n` an image of this repository on the engine whose
    /// label carries `key` (built under another tag or branch), if there is
    /// one.
    pub(super) fn tag_by_key(&mut self, n: usize, key: &str) -> Result<bool> {
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
        let found = self.by_key.iter().flatten().find(|(_, present)| present.key() == Some(key));
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
    pub(super) fn pull_by_key(&mut self, n: usize, key: &str) -> Result<bool> {
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
        let guard = TemporaryTag::new(self.engine, &key_tag);
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

    /// Pushes stage `n` under its key tag too, `<repository>:stage<N>-<hex>`:
    /// tagged, pushed, untagged (the stage tag stays). A key tag that the
    /// registry already holds is pushed again harmlessly: same inputs.
    pub(super) fn push_key_tag(&mut self, n: usize, key: &str) -> Result<()> {
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
        let guard = TemporaryTag::new(self.engine, &key_tag);
        let pushed = self.engine.push(&key_tag)?;
        self.check_interrupted(&format!("while pushing {key_tag}"))?;
        if !pushed.status.success() {
            return Err(self.push_failed(&key_tag, &pushed.reason));
        }
        self.engine.untag(&key_tag)?;
        guard.disarm();
        Ok(())
    }
}
