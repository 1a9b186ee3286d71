//! `cargo xtask status`: each stage image compared with the chain file the
//! current snippets and settings would generate, and with its parent's image.

use anyhow::Result;
use xshell::Shell;

use crate::engine::Engine;
use crate::freshness::{self, LABEL};
use crate::out::out;
use crate::project::Project;

pub(crate) const HELP: &str = "\
Show, for each stage, whether its image is fresh, stale (and why) or missing.

Usage: cargo xtask status

fresh: built from the chain file the snippets generate now, on the current parent image.
stale: its snippet (or an ARG or setting it sees) changed, or its parent was rebuilt.
Code changes in the build context do not make a stage stale. Writes nothing.
";

pub(crate) fn run(sh: &Shell, project: &Project) -> Result<()> {
    let image = project.image(sh)?;
    let chain = project.chain_texts(&image);
    let engine = Engine::new(sh, &project.settings.engine, false)?;
    let local = engine.local_tags(&image.name)?;

    let tags: Vec<String> = (0..chain.len()).map(|n| image.stage(n)).collect();
    let present: Vec<String> = (0..chain.len())
        .filter(|n| local.contains_key(&format!("{}_stage{n}", image.tag)))
        .map(|n| tags[n].clone())
        .collect();
    let inspected = engine.inspect(&present, LABEL)?;
    let info = |n: usize| present.iter().position(|t| *t == tags[n]).and_then(|i| inspected.get(i));

    let mut rows = vec![[
        "stage".to_string(),
        "snippet".to_string(),
        "image".to_string(),
        "state".to_string(),
    ]];
    for (n, snippet) in project.snippets.iter().enumerate() {
        let label = info(n).map(|(_, label)| label.as_deref());
        let parent_id = n.checked_sub(1).and_then(info).map(|(id, _)| id.as_str());
        let state = freshness::state(label, &chain[n], parent_id);
        rows.push([n.to_string(), snippet.display.clone(), tags[n].clone(), state.describe()]);
    }
    print_table(&rows)
}

fn print_table(rows: &[[String; 4]]) -> Result<()> {
    let widths: Vec<usize> =
        (0..4).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
    for row in rows {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        out!("{}", line.trim_end())?;
    }
    Ok(())
}
