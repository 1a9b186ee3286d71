//! `cargo xtask vendor DIR`: make another project (Rust or not) use this xtask.
//! Every step writes only what is missing, so a second run changes nothing,
//! and a file it cannot edit safely is explained instead of rewritten.
//!
//! This file: the help text, the order of the steps, and the report. Its
//! children do the steps: `cargo` (the crate, the lock file, the alias, the
//! workspace), `snippets` (the skeleton, or the project's own Dockerfile
//! adopted), `corpusops` (settings taken from a deploy env, the build
//! script's wrapper); `cargo_toml` edits Cargo's files by lines.

mod cargo;
mod cargo_toml;
mod corpusops;
mod snippets;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use self::cargo::{cargo_alias, copy_crate, copy_lock, tool_files, workspace};
use self::corpusops::{build_script, computed_settings, migrate_deploy_env};
use self::snippets::{adopt, adoption, skeleton};
use crate::settings::{self, Settings};
use crate::util::atomic_file;
use crate::util::exit::input_error;
use crate::util::print::out;

pub(crate) const HELP: &str = "\
Make the project in DIR (any project, Rust or not) use this xtask.

Usage: cargo xtask vendor DIR

What it writes in DIR, each only where missing, so running it again changes nothing:
  xtask/                 this tool's Cargo.toml and src/ (updated to this version)
  Cargo.lock             this tool's lock file, when DIR has none
  .cargo/config.toml     the alias: xtask = \"run --package xtask --\"
  Cargo.toml             a workspace with members = [\"xtask\"]; an existing workspace
                         gets \"xtask\" added to its members when that edit is safe
  .gitignore             a /target line
  .dockerignore          /target and /<stages dir>/generated; in a project that had no
                         Cargo.toml, also the /xtask, /Cargo.toml, /Cargo.lock and
                         /.cargo it created: none of it belongs in an image
  .docker/stages.env     the settings that .ansible/scripts/ansible_deploy_env(.local)
                         assigns literally (corpusops projects), when DIR has none;
                         those scripts are read, never run, and left as they are
  .docker/Dockerfile.stage0..4
                         a commented skeleton (in STAGES_DIR when set), only when DIR
                         has no snippets; existing snippets are never touched
  .docker/Dockerfile.stage0 and ./Dockerfile
                         instead of the skeleton, when DIR has no snippets and its own
                         ./Dockerfile: that file is adopted as stage 0 (as it is) and
                         ./Dockerfile regenerated from it; it then says how to split it

Where a file exists and cannot be edited safely (a package-only Cargo.toml, an
[alias] table without xtask), it prints the exact lines to add and still exits 0; so
it does for the wrapper that replaces .ansible/scripts/docker_build_stages.sh.
Refused, with nothing written (exit 2): DIR missing or not a folder, DIR/xtask
holding another crate, or a DIR/.docker/stages.env the xtask would refuse.

Options:
  -h, --help
";

/// What the run did, printed at the end: one line per file, what it read
/// from the deploy env, then what is left to do by hand.
#[derive(Default)]
struct Report {
    lines: Vec<String>,
    migration: Vec<String>,
    by_hand: Vec<String>,
}

impl Report {
    fn file(&mut self, status: &str, rel: &str, note: &str) {
        let note = if note.is_empty() { String::new() } else { format!(" ({note})") };
        self.lines.push(format!("  {status:<10} {rel}{note}"));
    }

    /// `created` or `changed` for a write that happened, `unchanged` otherwise.
    fn written(&mut self, existed: bool, changed: bool, rel: &str, note: &str) {
        let status = match (existed, changed) {
            (false, _) => "created",
            (true, true) => "changed",
            (true, false) => "unchanged",
        };
        self.file(status, rel, note);
    }
}

pub(crate) fn run(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        let what = if dir.exists() { "is not a directory" } else { "does not exist" };
        return Err(input_error(
            format!("{} {what}", dir.display()),
            "pass the folder of the project that should use the xtask: cargo xtask vendor DIR",
        ));
    }
    let source = source_dir()?;
    refuse_foreign_xtask(dir, &source)?;
    // DIR's own settings file, if any, is checked before anything is written;
    // the snippets go where it or the deploy env says.
    let has_settings = dir.join(settings::FILE).symlink_metadata().is_ok();
    let mut report = Report::default();
    let (file_settings, migrated) = if has_settings {
        (settings::read_file(dir)?, None)
    } else {
        let migrated = migrate_deploy_env(dir, &mut report);
        let values = migrated.iter().flat_map(|m| m.values.clone()).collect();
        (values, migrated)
    };
    let stages_dir = Settings::layered(&file_settings).stages_dir;
    let tool_files = tool_files(dir, &source)?;
    let adopted = adoption(dir, &stages_dir)?;

    copy_crate(&source, dir, &mut report)?;
    copy_lock(&source, dir, &mut report)?;
    cargo_alias(dir, &mut report)?;
    workspace(dir, &mut report)?;
    ignore(dir, ".gitignore", &["/target"], &mut report)?;
    let mut kept_out = vec!["/target".to_string(), format!("/{}/generated", clean(&stages_dir))];
    kept_out.extend(tool_files.iter().map(|f| f.to_string()));
    let kept_out: Vec<&str> = kept_out.iter().map(String::as_str).collect();
    ignore(dir, ".dockerignore", &kept_out, &mut report)?;
    match &migrated {
        Some(m) => write(dir, settings::FILE, &m.text, &mut report, "from the deploy env")?,
        None if has_settings => report.file("unchanged", settings::FILE, "yours is kept"),
        None => {}
    }
    match &adopted {
        Some(adopted) => adopt(dir, adopted, &mut report)?,
        None => skeleton(dir, &stages_dir, &mut report)?,
    }
    build_script(dir, &mut report, &computed_settings(dir));

    // `.` says little in a report read later: show where it really went.
    let shown = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    out!("Vendored the xtask into {}:", shown.display())?;
    for line in &report.lines {
        out!("{line}")?;
    }
    if !report.migration.is_empty() {
        out!("\nSettings read from the corpusops deploy env (never run, left as they are):")?;
        for line in &report.migration {
            out!("{line}")?;
        }
    }
    for task in &report.by_hand {
        out!("\nTo do by hand: {task}")?;
    }
    out!("\nNext, in {}:", shown.display())?;
    out!("  cargo xtask dockerfile   # writes ./Dockerfile from the snippets in {stages_dir}/")?;
    out!("  cargo xtask stages       # builds every stage, then the full image")?;
    Ok(())
}

/// Two files that only this tool's layered source tree has together.
const LAYERED_MARKERS: [&str; 2] = ["src/commands/stages.rs", "src/model/generate.rs"];

/// The running xtask's package: where cargo says it is (`cargo run` sets
/// CARGO_MANIFEST_DIR), else where it was compiled from.
fn source_dir() -> Result<PathBuf> {
    let runtime = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let compiled = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    runtime
        .into_iter()
        .chain([compiled.clone()])
        .find(|dir| dir.join("Cargo.toml").is_file() && dir.join("src/main.rs").is_file())
        .ok_or_else(|| {
            input_error(
                format!("cannot find the xtask's sources in {}", compiled.display()),
                "run `cargo xtask vendor DIR` from a project that has the xtask/ folder",
            )
        })
}

/// DIR/xtask may be a crate of DIR's own: copying over it would destroy it.
fn refuse_foreign_xtask(dir: &Path, source: &Path) -> Result<()> {
    let target = dir.join("xtask");
    if !target.exists() || same_dir(&target, source) {
        return Ok(());
    }
    let ours = read_text(&source.join("Cargo.toml"))?;
    let identity =
        ours.lines().find(|l| l.starts_with("description")).unwrap_or("name = \"xtask\"");
    let theirs = fs::read_to_string(target.join("Cargo.toml")).unwrap_or_default();
    let empty = target.read_dir().is_ok_and(|mut entries| entries.next().is_none());
    // An older copy of this tool may describe itself differently: its
    // modules tell it apart from another crate named xtask, in the flat
    // layout of earlier versions or in the layered one.
    let layouts = [["src/stages.rs", "src/generate.rs"], LAYERED_MARKERS];
    let older = layouts.iter().any(|files| files.iter().all(|f| target.join(f).is_file()));
    if empty || older || theirs.lines().any(|l| l == identity) {
        return Ok(());
    }
    Err(input_error(
        format!("{} exists and is not this xtask (its Cargo.toml differs)", target.display()),
        "move that folder away (or merge by hand) and run `cargo xtask vendor` again",
    ))
}

fn same_dir(a: &Path, b: &Path) -> bool {
    matches!((fs::canonicalize(a), fs::canonicalize(b)), (Ok(a), Ok(b)) if a == b)
}

fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Writes `contents` to `rel` under `dir` and reports it.
fn write(dir: &Path, rel: &str, contents: &str, report: &mut Report, note: &str) -> Result<()> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let existed = path.exists();
    let changed = atomic_file::ensure_file(&path, contents)?;
    report.written(existed, changed, rel, note);
    Ok(())
}

fn push_line(text: &mut String, line: &str) {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line);
    text.push('\n');
}

/// `new` with CRLF line ends when the file it extends, `old`, has them.
fn same_newlines(old: &str, new: String) -> String {
    if old.contains("\r\n") {
        new.replace("\r\n", "\n").replace('\n', "\r\n")
    } else {
        new
    }
}

/// Adds each of `lines` that `rel` lacks. Build output never belongs in git
/// or in a Docker build context (a project's target/ easily weighs
/// gigabytes), and neither do the chain files or, in a project whose only Rust
/// is the tool, the tool.
fn ignore(dir: &Path, rel: &str, lines: &[&str], report: &mut Report) -> Result<()> {
    let path = dir.join(rel);
    let text = if path.exists() { read_text(&path)? } else { String::new() };
    let same = |have: &str, want: &str| {
        let norm = |l: &str| {
            let l = l.trim().trim_start_matches("./").trim_start_matches("**/");
            l.trim_start_matches('/').trim_end_matches('/').to_string()
        };
        norm(have) == norm(want)
    };
    let missing: Vec<&str> =
        lines.iter().copied().filter(|want| !text.lines().any(|l| same(l, want))).collect();
    if missing.is_empty() {
        report.file("unchanged", rel, &format!("already ignores {}", lines.join(", ")));
        return Ok(());
    }
    let mut new = text.clone();
    for line in &missing {
        push_line(&mut new, line);
    }
    let note =
        if text.is_empty() { String::new() } else { format!("added {}", missing.join(", ")) };
    write(dir, rel, &same_newlines(&text, new), report, &note)
}

/// `STAGES_DIR` as a path from the root: `./ops/` is `ops`.
fn clean(stages_dir: &str) -> &str {
    let dir = stages_dir.trim_start_matches("./").trim_end_matches('/');
    if dir.is_empty() {
        "."
    } else {
        dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The markers of the layered layout are files of this very tree.
    #[test]
    fn the_layered_markers_exist() {
        let package = Path::new(env!("CARGO_MANIFEST_DIR"));
        for file in LAYERED_MARKERS {
            assert!(package.join(file).is_file(), "{file}");
        }
    }
}
