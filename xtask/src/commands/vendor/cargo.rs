//! The Cargo side of vendoring: the xtask's crate and lock file copied in,
//! the `cargo xtask` alias, the workspace that has the xtask as a member, and
//! which of those files a build context of DIR must not carry.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use super::cargo_toml::{add_member, line_key, Members, Toml};
use super::{push_line, read_text, same_dir, same_newlines, write, Report};

const ALIAS_LINE: &str = "xtask = \"run --package xtask --\"";

const WORKSPACE: &str = "\
[workspace]
members = [\"xtask\"]
resolver = \"2\"

# The xtask is compiled on every fresh clone, before its first run: nobody
# steps through it in a debugger (no debug info, its dependencies' included),
# and a first build has no incremental state to reuse, only to write. Cold
# `cargo build -p xtask` on 2 cores: 3.2 s instead of 4.7 s (bench/README.md).
[profile.dev]
debug = 0

[profile.dev.package.xtask]
incremental = false
";

/// What earlier versions of `vendor` wrote as the workspace: still the
/// tool's own file, brought up to date by `vendor`.
const FORMER_WORKSPACES: [&str; 1] = ["\
[workspace]
members = [\"xtask\"]
resolver = \"2\"

# The xtask is compiled on every fresh clone: no debug info keeps that build and
# its link step short, and nobody steps through it in a debugger.
[profile.dev.package.xtask]
debug = 0
"];

/// The crate's Cargo.toml and src/; its tests stay here, they need this
/// repository's fixtures.
pub(super) fn copy_crate(source: &Path, dir: &Path, report: &mut Report) -> Result<()> {
    write(dir, "xtask/Cargo.toml", &read_text(&source.join("Cargo.toml"))?, report, "")?;
    let mut sources = Vec::new();
    list_files(&source.join("src"), "", &mut sources)?;
    for rel in &sources {
        let text = read_text(&source.join("src").join(rel))?;
        write(dir, &format!("xtask/src/{rel}"), &text, report, "")?;
    }
    // Files an older version had are left alone (cargo ignores a module that
    // main.rs does not declare) but named, in case nobody else wrote them.
    let mut present = Vec::new();
    if !same_dir(&dir.join("xtask"), source) {
        list_files(&dir.join("xtask/src"), "", &mut present)?;
    }
    for rel in present.iter().filter(|rel| !sources.contains(rel)) {
        report.file("extra", &format!("xtask/src/{rel}"), "not part of this xtask: left as is");
    }
    Ok(())
}

/// Regular files under `dir`, as paths relative to it, sorted; hidden files
/// (editor and temp files) are not sources.
fn list_files(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else { return Ok(()) };
    let mut entries: Vec<_> = entries
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot list {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let rel = format!("{prefix}{name}");
        let path = entry.path();
        if path.is_dir() {
            list_files(&path, &format!("{rel}/"), out)?;
        } else if path.is_file() {
            out.push(rel);
        }
    }
    Ok(())
}

/// The lock file pins what the xtask was tested with, and lets it build
/// offline; DIR's own lock file wins, cargo adds the xtask's crates to it.
pub(super) fn copy_lock(source: &Path, dir: &Path, report: &mut Report) -> Result<()> {
    let lock = source.parent().map(|p| p.join("Cargo.lock")).filter(|p| p.is_file());
    let ours = match &lock {
        Some(lock) => Some(read_text(lock)?),
        None => None,
    };
    if dir.join("Cargo.lock").exists() {
        let theirs = fs::read_to_string(dir.join("Cargo.lock")).ok();
        let note = if theirs.is_some() && theirs == ours { "" } else { "yours is kept" };
        report.file("unchanged", "Cargo.lock", note);
        return Ok(());
    }
    match ours {
        Some(text) => write(dir, "Cargo.lock", &text, report, ""),
        None => {
            report.file("skipped", "Cargo.lock", "the xtask has none: cargo will make one");
            Ok(())
        }
    }
}

/// `.cargo/config.toml`'s alias: what makes `cargo xtask` work from any
/// subfolder of DIR.
pub(super) fn cargo_alias(dir: &Path, report: &mut Report) -> Result<()> {
    // Cargo still reads the old extensionless name when it is the only one.
    let rel = if !dir.join(".cargo/config.toml").exists() && dir.join(".cargo/config").is_file() {
        ".cargo/config"
    } else {
        ".cargo/config.toml"
    };
    let path = dir.join(rel);
    if !path.exists() {
        return write(dir, rel, &format!("[alias]\n{ALIAS_LINE}\n"), report, "");
    }
    let text = read_text(&path)?;
    let toml = Toml::new(&text);
    let table = toml.table("alias");
    let dotted = !toml.keys(toml.root(), "alias.xtask").is_empty();
    let in_table = table.is_some_and(|range| !toml.keys(range, "xtask").is_empty());
    if dotted || in_table {
        report.file("unchanged", rel, "has the xtask alias");
        return Ok(());
    }
    let root_alias = toml.lines[..toml.root().1]
        .iter()
        .any(|l| line_key(l).is_some_and(|k| k == "alias" || k.starts_with("alias.")));
    if table.is_some() || root_alias {
        report.file("unchanged", rel, "has aliases of its own: see below");
        let add = if table.is_some() {
            format!("add this line to the [alias] table of {rel}:\n\n{ALIAS_LINE}")
        } else {
            format!(
                "add this line to the top of {rel}, with its other aliases:\n\nalias.{ALIAS_LINE}"
            )
        };
        report.by_hand.push(add);
        return Ok(());
    }
    let mut new = text.clone();
    if !new.trim().is_empty() {
        push_line(&mut new, "");
    }
    push_line(&mut new, "[alias]");
    push_line(&mut new, ALIAS_LINE);
    write(dir, rel, &same_newlines(&text, new), report, "added the xtask alias")
}

pub(super) fn workspace(dir: &Path, report: &mut Report) -> Result<()> {
    let path = dir.join("Cargo.toml");
    if !path.exists() {
        return write(dir, "Cargo.toml", WORKSPACE, report, "");
    }
    let text = read_text(&path)?;
    if FORMER_WORKSPACES.contains(&text.as_str()) {
        return write(dir, "Cargo.toml", WORKSPACE, report, "an earlier version's: updated");
    }
    match add_member(&text) {
        Members::AlreadyThere => report.file("unchanged", "Cargo.toml", "xtask is a member"),
        Members::Edited(text) => write(dir, "Cargo.toml", &text, report, "added xtask to members")?,
        Members::ByHand(task) => {
            report.file("unchanged", "Cargo.toml", "not edited: see below");
            report.by_hand.push(task);
        }
    }
    Ok(())
}

/// The tool's own files that a build context of DIR must not carry: in a
/// project whose only Rust is the tool, the ones vendor creates (or created
/// on an earlier run). A Rust project keeps them: its Dockerfile may build
/// its workspace.
pub(super) fn tool_files(dir: &Path, source: &Path) -> Result<Vec<&'static str>> {
    let manifest = fs::read_to_string(dir.join("Cargo.toml")).ok();
    if manifest.as_deref().is_some_and(|m| m != WORKSPACE && !FORMER_WORKSPACES.contains(&m)) {
        return Ok(Vec::new());
    }
    let ours = |rel: &str, text: Option<String>| {
        let theirs = fs::read_to_string(dir.join(rel)).ok();
        theirs.is_none() && !dir.join(rel).exists() || (theirs.is_some() && theirs == text)
    };
    let lock =
        source.parent().map(|p| p.join("Cargo.lock")).and_then(|p| fs::read_to_string(p).ok());
    let alias = Some(format!("[alias]\n{ALIAS_LINE}\n"));
    let cargo_dir_ours = !dir.join(".cargo").exists()
        || (ours(".cargo/config.toml", alias)
            && fs::read_dir(dir.join(".cargo")).is_ok_and(|entries| entries.count() == 1));
    let mut files = vec!["/xtask", "/Cargo.toml"];
    if ours("Cargo.lock", lock) {
        files.push("/Cargo.lock");
    }
    if cargo_dir_ours {
        files.push("/.cargo");
    }
    Ok(files)
}
