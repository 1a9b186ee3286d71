//! `cargo xtask status`: each stage image, then the full image, compared with
//! what the current snippets and settings would generate and with the image
//! it was built on. [`survey`] is also what `stages --stale` acts on.

use anyhow::Result;
use xshell::Shell;

use crate::engine::{Engine, Listed, Lookup};
use crate::model::freshness::{self, Expected, State};
use crate::model::image::Image;
use crate::model::keys;
use crate::model::labels::Present;
use crate::ops::project::Project;
use crate::util::print::{out, say};

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
    let listed: Vec<Option<Listed>> = (0..stages).map(|n| find(&image.stage_tag(n))).collect();
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

/// Whether the registry holds each stage's current key tag, asked without
/// pulling: `yes`, `no`, or `?` with one line saying why it could not be asked.
fn in_registry(engine: &Engine<'_>, image: &Image, keys: &[String]) -> Result<Vec<&'static str>> {
    let mut answers = Vec::with_capacity(keys.len());
    let mut unknown = None;
    for (n, key) in keys.iter().enumerate() {
        let key_tag = format!("{}:{}", image.name, keys::tag(n, key));
        answers.push(match engine.lookup(&key_tag)? {
            Lookup::Found => "yes",
            Lookup::Missing => "no",
            Lookup::Unknown(why) => {
                unknown.get_or_insert(why);
                "?"
            }
        });
    }
    if let Some(why) = unknown {
        say!("note: cannot ask the registry {} ({why}): its column says ?", image.registry());
    }
    Ok(answers)
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
