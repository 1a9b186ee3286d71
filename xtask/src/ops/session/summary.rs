//! How a run reports itself: the table printed at its end (one row per
//! target pulled, tagged, built, failed or not built), and the images it
//! left behind (present stages above one it rebuilt).

use std::time::Instant;

use anyhow::Result;

use super::run::Run;
use crate::model::plan::Target;
use crate::util::print::say;

/// What became of one target of the run, as its summary row says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fate {
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
pub(super) struct Summary {
    rows: Vec<Row>,
}

impl Summary {
    pub(super) fn record(
        &mut self,
        target: Target,
        tag: String,
        started: Option<Instant>,
        fate: Fate,
    ) {
        let seconds = started.map_or(0.0, |s| s.elapsed().as_secs_f64());
        self.rows.push(Row { target, tag, seconds, fate });
    }

    pub(super) fn print(&mut self) {
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

impl Run<'_> {
    /// The images this run left behind: present stages above the lowest
    /// stage whose image it replaced, which it did not rebuild, and the full
    /// image when it did not rebuild it although the main Dockerfile changed.
    pub(super) fn behind(&mut self, dockerfile_changed: bool) -> Result<Vec<Target>> {
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
}
