//! `cargo xtask verify`: the chain must produce what the main Dockerfile
//! produces. Builds every chain stage and the main Dockerfile (under a
//! temporary tag), then compares the last stage's image with it: config and
//! file tree (see [`ops::compare`](crate::ops::compare)).

use anyhow::Result;
use xshell::Shell;

use crate::engine::{Engine, TemporaryTag};
use crate::model::plan::Plan;
use crate::ops::compare;
use crate::ops::project::Project;
use crate::ops::session::{BuildOptions, Session};
use crate::util::exit::failure;
use crate::util::print::{out, say};

pub(crate) const HELP: &str = "\
Build the chain and the main Dockerfile, and compare the two images.

Usage: cargo xtask verify [--allow-secret-args] [-- DOCKER-BUILD-ARGS...]

Builds every stage of the chain, as `cargo xtask stages` would (STAGES_TO_BUILD,
NO_STAGES_BUILD and NO_FULL_BUILD do not apply), and ./Dockerfile under a temporary tag
(removed afterwards), with the same build args. Then compares the last stage's image with
it: config (Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Volumes, StopSignal,
Labels other than this tool's, OnBuild) and files (path, type, mode, owner, size, content,
link target; mtimes and the files the engine adds to containers are ignored).
One line per difference; exit 1 when they differ, 0 when they agree.
";

pub(crate) fn run(sh: &Shell, project: &Project, options: &BuildOptions) -> Result<()> {
    let image = project.image(sh)?;
    let engine = Engine::new(sh, &project.settings.engine, false)?;
    let last = project.snippets.len() - 1;
    let chain_tag = image.stage(last);
    let main_tag = format!("{}:xtask-verify-{}", image.name, std::process::id());
    let session = Session::open(sh, project, options, &image)?;
    // From the first build on, the temporary tag goes however the run ends.
    let _cleanup = TemporaryTag::new(&engine, &main_tag);
    let plan = Plan { stages: (0..=last).collect(), full: Some(main_tag.clone()) };
    session.build(plan)?;

    say!("comparing {chain_tag} (the chain) with the main Dockerfile's image");
    let differences = compare::differences(&engine, &chain_tag, &main_tag)?;
    // A reader that goes away early stops the printing, never the verdict.
    let _ = differences.iter().try_for_each(|line| out!("{line}"));
    if differences.is_empty() {
        out!("the chain ({chain_tag}) and the main Dockerfile agree: same config, same files")?;
        return Ok(());
    }
    Err(failure(
        format!(
            "the chain and the main Dockerfile differ in {} place{} (listed above)",
            differences.len(),
            if differences.len() == 1 { "" } else { "s" }
        ),
        "look for ONBUILD in a middle snippet, an ARG the chain does not see, or a snippet that depends on the stage before it being built in the same Dockerfile",
    ))
}
