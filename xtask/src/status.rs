//! `cargo xtask status`: each stage image, then the full image, compared with
//! what the current snippets and settings would generate and with the image
//! it was built on. [`survey`] is also what `stages --stale` acts on.

use anyhow::Result;
use xshell::Shell;

use crate::engine::{Engine, Listed};
use crate::freshness::{self, Expected, Present, State};
use crate::image::Image;
use crate::out::out;
use crate::project::Project;

pub(crate) const HELP: &str = "\
Show, for each stage and the full image, whether its image is fresh, stale (and why) or
missing, with its size and age as the engine reports them.

Usage: cargo xtask status

fresh: built by `cargo xtask stages` from the chain file the snippets generate now, on
the current parent image (the full image: from the current ./Dockerfile).
stale (...): every reason that applies: snippet changed (full image: Dockerfile changed),
parent rebuilt, stage K below is stale, not built by cargo xtask stages.
Code changes in the build context do not make a stage stale. Writes nothing.
`cargo xtask stages --stale` rebuilds what is not fresh.
";

/// What the engine holds for every stage and the full image, and the one
/// judgement of it.
pub(crate) struct Survey {
    /// The listing row of each stage's tag, if it exists.
    pub(crate) listed: Vec<Option<Listed>>,
    pub(crate) full_listed: Option<Listed>,
    pub(crate) stages: Vec<State>,
    pub(crate) full: State,
}

/// One engine call lists the repository's tags, one inspects the present
/// ones, whatever the number of stages. `expected`: what a build would use.
pub(crate) fn survey(
    engine: &Engine<'_>,
    image: &Image,
    expected: &Expected<'_>,
) -> Result<Survey> {
    let listing = engine.listing(image.repository())?;
    let find = |tag: &str| listing.iter().find(|row| row.tag == tag).cloned();
    let stages = expected.chain.len();
    let listed: Vec<Option<Listed>> =
        (0..stages).map(|n| find(&format!("{}_stage{n}", image.tag))).collect();
    let full_listed = find(&image.tag);

    let mut refs: Vec<String> =
        (0..stages).filter(|&n| listed[n].is_some()).map(|n| image.stage(n)).collect();
    if full_listed.is_some() {
        refs.push(image.full());
    }
    let mut inspected = engine.inspect(&refs)?.into_iter();
    let images: Vec<Option<Present>> =
        listed.iter().map(|row| row.as_ref().and_then(|_| inspected.next())).collect();
    let full_image = full_listed.as_ref().and_then(|_| inspected.next());

    let (stages, full) = freshness::judge(expected, &images, full_image.as_ref());
    Ok(Survey { listed, full_listed, stages, full })
}

pub(crate) fn run(sh: &Shell, project: &Project) -> Result<()> {
    let image = project.image(sh)?;
    let engine = Engine::new(sh, &project.settings.engine, false)?;
    // Judged against what `cargo xtask stages` would build now.
    let (chain, main) = (project.chain_to_build(&image)?, project.main_to_build()?);
    let words = project.settings.build_words()?;
    let survey = survey(&engine, &image, &Expected { chain: &chain, words: &words, main: &main })?;

    let mut rows = vec![["stage", "snippet", "image", "size", "age", "state"].map(String::from)];
    let shown = |listed: &Option<Listed>| match listed {
        Some(row) => (row.size.clone(), row.age.clone()),
        None => ("-".to_string(), "-".to_string()),
    };
    for (n, snippet) in project.snippets.iter().enumerate() {
        let (size, age) = shown(&survey.listed[n]);
        let state = survey.stages[n].to_string();
        rows.push([n.to_string(), snippet.display.clone(), image.stage(n), size, age, state]);
    }
    let (size, age) = shown(&survey.full_listed);
    let full = [
        "full".to_string(),
        "Dockerfile".to_string(),
        image.full(),
        size,
        age,
        survey.full.to_string(),
    ];
    rows.push(full);
    print_table(&rows)
}

fn print_table(rows: &[[String; 6]]) -> Result<()> {
    let widths: Vec<usize> =
        (0..6).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
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
