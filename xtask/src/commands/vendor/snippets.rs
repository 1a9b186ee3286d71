//! The snippets of a vendored project: a commented skeleton for a project
//! without any, or its own root Dockerfile adopted as stage 0. Snippets a
//! project has are never touched.

use std::path::Path;

use anyhow::Result;

use super::{clean, read_text, write, Report};
use crate::model::generate::{self, Source, GENERATED_BY};
use crate::ops::project;
use crate::util::exit::input_error;

/// The stage skeleton: valid as it is (stage 0 alone has instructions), and
/// each snippet says what its stage is for.
const SKELETON: [(&str, &str); 5] = [
    (
        "Dockerfile.stage0",
        "\
# Stage 0: the base image, and the code injected into it.
# Pick the base image here, or per build: cargo xtask stages -- --build-arg BASE_IMAGE=...
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
ARG APP_DIR=/srv/app
WORKDIR ${APP_DIR}
COPY . ${APP_DIR}/
",
    ),
    (
        "Dockerfile.stage1",
        "\
# Stage 1: code injection + OS packages and setup.
# Inject only what this layer needs, so code edits do not redo it, for example:
#   COPY .docker/apt.txt /tmp/apt.txt
#   RUN apt-get update \\
#       && xargs apt-get install -y --no-install-recommends < /tmp/apt.txt \\
#       && rm -rf /var/lib/apt/lists/*
",
    ),
    (
        "Dockerfile.stage2",
        "\
# Stage 2: code injection + app packages (virtualenv, composer, bundler, cargo).
# Copy the dependency manifests first, so this layer survives code edits, for example:
#   COPY requirements.txt ./
#   RUN python3 -m venv /venv && /venv/bin/pip install --no-cache-dir -r requirements.txt
# or composer.json + composer.lock and `composer install --no-dev`, Gemfile +
# Gemfile.lock and `bundle install`, Cargo.toml + Cargo.lock and `cargo fetch`.
",
    ),
    (
        "Dockerfile.stage3",
        "\
# Stage 3 (final): code injection + app setup, for example:
#   COPY . ./
#   RUN python3 manage.py collectstatic --noinput
#   EXPOSE 8000
#   CMD [\"gunicorn\", \"app.wsgi\"]
",
    ),
    (
        "Dockerfile.stage4",
        "\
# Stage 4 (post final): cleanup of what the running image does not need, for example:
#   RUN rm -rf /root/.cache /tmp/*
",
    ),
];

/// Whether DIR has snippets already (ones the tool would refuse are still
/// the user's snippets).
fn has_snippets(dir: &Path, stages_dir: &str) -> bool {
    dir.join(stages_dir).is_dir()
        && project::discover_snippets(dir, stages_dir).map_or(true, |s| !s.is_empty())
}

/// A commented skeleton for a project without snippets; a project that has
/// any keeps them exactly as they are.
pub(super) fn skeleton(dir: &Path, stages_dir: &str, report: &mut Report) -> Result<()> {
    if has_snippets(dir, stages_dir) {
        report.file("unchanged", &format!("{stages_dir}/"), "has snippets: left as they are");
        return Ok(());
    }
    for (name, text) in SKELETON {
        write(dir, &format!("{stages_dir}/{name}"), text, report, "")?;
    }
    Ok(())
}

/// DIR's own Dockerfile, about to become its stage 0, and what it generates.
pub(super) struct Adopted {
    stage0: String,
    text: String,
    main: String,
}

/// When DIR has no snippets and a root Dockerfile that this tool did not
/// write, that Dockerfile is adopted: checked here, before anything is
/// written, as the tool checks a snippet.
pub(super) fn adoption(dir: &Path, stages_dir: &str) -> Result<Option<Adopted>> {
    let path = dir.join("Dockerfile");
    if has_snippets(dir, stages_dir) || !path.is_file() {
        return Ok(None);
    }
    let text = read_text(&path)?;
    if text.contains(GENERATED_BY) {
        return Ok(None);
    }
    let stage0 = format!("{}/Dockerfile.stage0", clean(stages_dir));
    let source = Source { display: &stage0, text: &text };
    let stages = generate::analyze(&[source], stages_dir).map_err(|err| {
        input_error(
            format!("cannot adopt ./Dockerfile as {stage0}: {err:#}"),
            format!("fix it, or move its instructions into {stages_dir}/Dockerfile.stage* by hand and run vendor again"),
        )
    })?;
    Ok(Some(Adopted { main: stages.main_dockerfile(), stage0, text }))
}

/// Makes DIR's Dockerfile its stage 0 and regenerates the main Dockerfile
/// from it: the same instructions, under the generated header. Nothing of
/// the user's is lost.
pub(super) fn adopt(dir: &Path, adopted: &Adopted, report: &mut Report) -> Result<()> {
    let stage0 = &adopted.stage0;
    write(dir, stage0, &adopted.text, report, "your ./Dockerfile, adopted as stage 0")?;
    write(
        dir,
        "Dockerfile",
        &adopted.main,
        report,
        &format!("generated from {stage0}: the same instructions"),
    )?;
    report.by_hand.push(format!(
        "split {stage0} into stages: cut it at instruction boundaries into Dockerfile.stage1, \
         Dockerfile.stage2, ... beside it (the code injection and the expensive package steps \
         first, the steps that change most last; a `COPY --from=<build stage>` stays in the \
         snippet that declares that stage), run `cargo xtask dockerfile`, then \
         `cargo xtask verify`: it proves the chain still builds what the main Dockerfile builds"
    ));
    Ok(())
}
