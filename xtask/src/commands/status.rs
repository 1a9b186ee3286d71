//! `cargo xtask status`: each stage image, then the full image, compared with
//! what the current snippets and settings would generate and with the image
//! it was built on, as a table. The survey itself is
//! [`ops::survey`](crate::ops::survey), which `stages --stale` acts on too.

use anyhow::Result;
use xshell::Shell;

use crate::engine::{Engine, Listed};
use crate::model::freshness::Expected;
use crate::model::keys;
use crate::ops::project::Project;
use crate::ops::survey::{in_registry, survey};
use crate::util::print::out;

pub(crate) const HELP: &str = "\
Show, for each stage and the full image, whether its image is fresh, stale (and why) or
missing, with its size and age as the engine reports them.

Usage: cargo xtask status [--registry]

Options:
  --registry   add a column saying whether the registry holds each stage's key tag
               (yes, no, or ? when it cannot be asked), asked without pulling
  -h, --help

fresh: built by `cargo xtask stages` with the key the snippets and settings give now (on
this machine or another, under any tag), on the image its parent tag holds now (the full
image: from the current ./Dockerfile).
stale (...): every reason that applies: snippet changed (full image: Dockerfile changed),
parent rebuilt, stage K below is stale, not built by cargo xtask stages.
Code changes in the build context do not make a stage stale. With NO_GEN, stages are
judged against the chain files on disk. Writes nothing.
`cargo xtask stages --stale` rebuilds what is not fresh.
";

pub(crate) fn run(sh: &Shell, project: &Project, registry: bool) -> Result<()> {
    let image = project.image(sh)?;
    let engine = Engine::new(sh, &project.settings.engine, false)?;
    // Judged against what `cargo xtask stages` would build now.
    let (chain, main) = (project.chain_to_build(&image)?, project.main_to_build()?);
    let words = project.settings.build_words()?;
    let survey = survey(&engine, &image, &Expected { chain: &chain, words: &words, main: &main })?;
    let in_registry = if registry {
        Some(in_registry(&engine, &image, &keys::chain(&chain, &words))?)
    } else {
        None
    };

    let mut header = vec!["stage", "snippet", "image", "size", "age"];
    header.extend(in_registry.is_some().then_some("registry"));
    header.push("state");
    let mut rows = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    let shown = |listed: &Option<Listed>| match listed {
        Some(row) => (row.size.clone(), row.age.clone()),
        None => ("-".to_string(), "-".to_string()),
    };
    for (n, snippet) in project.snippets.iter().enumerate() {
        let (size, age) = shown(&survey.listed[n]);
        let mut row = vec![n.to_string(), snippet.display.clone(), image.stage(n), size, age];
        row.extend(in_registry.as_ref().map(|answers| answers[n].to_string()));
        row.push(survey.stages[n].to_string());
        rows.push(row);
    }
    let (size, age) = shown(&survey.full_listed);
    let mut full = vec!["full".to_string(), "Dockerfile".to_string(), image.full(), size, age];
    // The full image has no key: it is never taken from the cache.
    full.extend(in_registry.is_some().then(|| "-".to_string()));
    full.push(survey.full.to_string());
    rows.push(full);
    print_table(&rows)
}

fn print_table(rows: &[Vec<String>]) -> Result<()> {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> =
        (0..columns).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        out!("{}", line.trim_end())?;
    }
    Ok(())
}
