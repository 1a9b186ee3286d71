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
use crate::engine::{missing, Lookup, TemporaryTag, Word};
use crate::model::keys;
use crate::model::labels::{self, Present};
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
        // Built with this key, on the parent stage `n` would be built on now:
        // an image on another parent (the stale one itself, say, after its
        // parent was rebuilt) would be as stale as before.
        let parent = self.parent_now(n)?;
        let found = self.by_key.iter().flatten().find(|(_, present)| {
            present.key() == Some(key) && parent.as_ref().is_none_or(|now| built_on(present, now))
        });
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
        // The registry's stage may sit on another image of the parent stage
        // than the one here (built here, with the same key): on ours, it
        // would be stale. It is built here instead.
        let mut read = None;
        if let Some(now) = self.parent_now(n)? {
            let pulled = self.engine.inspect(std::slice::from_ref(&key_tag))?.pop();
            if !pulled.as_ref().is_some_and(|p| built_on(p, &now)) {
                say!(
                    "note: {key_tag} was built on another image of stage {}: building it here",
                    n - 1
                );
                self.current = None;
                return Ok(false);
            }
            read = pulled;
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
        self.done.insert(n, Made { key: key.to_string(), read });
        self.finish(target, tag, started, Fate::Pulled);
        Ok(true)
    }

    /// The key and creation time of the image stage `n` would be built on
    /// now, when there is one and they are known (a dry run cannot read the
    /// time of an image it has not built).
    fn parent_now(&mut self, n: usize) -> Result<Option<(String, String)>> {
        let Some(parent) = n.checked_sub(1) else { return Ok(None) };
        if !self.available(parent)? {
            return Ok(None);
        }
        Ok(match self.parent(parent)? {
            (key, Word::Plain(created)) => Some((key, created)),
            (_, Word::Shell(_)) => None,
        })
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

/// Whether `image`'s label says it was built on the parent `now` (its key
/// and creation time).
fn built_on(image: &Present, (key, created): &(String, String)) -> bool {
    let label = image.label.as_deref().map(labels::parse);
    label.and_then(|l| l.keyed_parent()).is_some_and(|p| p.key == key && p.created == created)
}
