//! `cargo xtask stages`: build the chosen stages in ascending order, each on
//! the image of the one before it, building (or pulling) missing ancestors
//! first; then, when no stage was chosen, the full image. This file says what
//! the command line chooses; [`Session`] (in `ops`) carries the plan out.

use anyhow::Result;
use xshell::Shell;

use crate::model::image::Image;
use crate::model::plan::Plan;
use crate::model::selection;
use crate::ops::project::Project;
use crate::ops::session::{fresh_scope, BuildOptions, Session};
use crate::util::print::say;

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

/// The command line of `stages`: the stages named, and how to build them.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Options {
    pub(crate) stages: Vec<String>,
    pub(crate) build: BuildOptions,
}

pub(crate) fn run(sh: &Shell, project: &Project, options: &Options) -> Result<()> {
    let image = project.image(sh)?;
    // A refused selection comes before anything runs.
    let chosen =
        if options.build.stale { None } else { Some(chosen_plan(project, options, &image)?) };
    let mut session = Session::open(sh, project, &options.build, &image)?;
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
