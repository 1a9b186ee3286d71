//! `cargo xtask prune`: removes the untagged images that earlier builds of
//! this project's image repository left behind (every rebuild leaves its
//! former image untagged), found by the `image=` field of their label, and
//! the temporary tags of `verify` runs whose process is gone. Finding and
//! removing them is [`ops::leftovers`](crate::ops::leftovers); this file says
//! what was done.

use anyhow::Result;
use xshell::Shell;

use crate::engine::{short_id, Engine};
use crate::ops::leftovers::{candidates, remove, remove_left_parents, Candidate};
use crate::ops::project::Project;
use crate::util::byte_size::{human_size, Notation};
use crate::util::print::out;

pub(crate) const HELP: &str = "\
Remove the untagged images that earlier builds of this project's image left behind.

Usage: cargo xtask prune [--dry-run]

Every rebuild of a stage or of the full image leaves its former image untagged. prune
removes those of this image repository (found by the label `cargo xtask stages` adds),
and the temporary tags of `cargo xtask verify` runs that are no longer running. It lists
each image (id, the stage it was, size as the engine reports it, shared layers included)
and a total. Never a tagged image, another repository's image, or a container; an image
the engine will not remove (a tagged image is built on it) is kept.

Options:
  --dry-run   list what would be removed; remove nothing
  -h, --help
";

pub(crate) fn run(sh: &Shell, project: &Project, dry_run: bool) -> Result<()> {
    let image = project.image(sh)?;
    // Removal goes through `remove_images`, which prune skips in a dry run.
    let engine = Engine::new(sh, &project.settings.engine, false)?;
    let mut found = candidates(&engine, project, &image)?;
    // Never beside a build of this project: what a build just untagged is
    // the former image of a stage, and its new image may not be tagged yet.
    let lock = project.lock()?;
    if lock.waited {
        found = candidates(&engine, project, &image)?;
    }
    let (known, candidates) = found;
    if candidates.is_empty() {
        return out!(
            "nothing to remove: no untagged image of {} left by earlier builds",
            image.name
        );
    }

    let mut report = Report { dry_run, ..Report::default() };
    let (removed, kept) =
        if dry_run { (candidates, Vec::new()) } else { remove(&engine, candidates)? };
    for (candidate, reason) in &kept {
        report.kept(candidate, reason);
    }
    for candidate in &removed {
        report.removed(candidate);
    }
    if !dry_run {
        for candidate in &remove_left_parents(&engine, &image.name, &known, removed)? {
            report.removed(candidate);
        }
    }
    // Printed once the work is done: a reader that goes away loses lines, not removals.
    for line in &report.lines {
        out!("{line}")?;
    }
    out!("{}", report.total())
}

/// What prune did, as lines to print, and its totals.
#[derive(Default)]
struct Report {
    dry_run: bool,
    lines: Vec<String>,
    removed: usize,
    removed_size: u64,
    kept: usize,
}

impl Report {
    fn removed(&mut self, candidate: &Candidate) {
        let verb = if self.dry_run { "would remove" } else { "removed" };
        let (short, what) = (short_id(&candidate.id), &candidate.what);
        self.lines.push(format!(
            "{verb}  {short}  {what}  {}",
            human_size(candidate.size, Notation::Docker)
        ));
        self.removed += 1;
        self.removed_size += candidate.size;
    }

    fn kept(&mut self, candidate: &Candidate, reason: &str) {
        let (short, what) = (short_id(&candidate.id), &candidate.what);
        self.lines.push(format!(
            "kept     {short}  {what}  {}  ({reason})",
            human_size(candidate.size, Notation::Docker)
        ));
        self.kept += 1;
    }

    fn total(&self) -> String {
        let plural = |n: usize| if n == 1 { "image" } else { "images" };
        let verb = if self.dry_run { "would remove" } else { "removed" };
        let kept = if self.kept > 0 {
            format!("; kept {} {} that the engine would not remove", self.kept, plural(self.kept))
        } else {
            String::new()
        };
        let (removed, size) = (self.removed, human_size(self.removed_size, Notation::Docker));
        format!("{verb} {removed} {}, {size}{kept}", plural(removed))
    }
}
