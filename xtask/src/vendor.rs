//! `cargo xtask vendor DIR`: make another project (Rust or not) use this xtask.
//! Every step writes only what is missing, so a second run changes nothing,
//! and a file it cannot edit safely is explained instead of rewritten.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cargo_toml::{add_member, line_key, Members, Toml};
use crate::model::generate::{self, Source, GENERATED_BY};
use crate::ops::project;
use crate::settings::{self, Settings};
use crate::settings::{deploy_env, env_file};
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

Where a file exists and cannot be edited safely (a package-only Cargo.toml, an
[alias] table without xtask), it prints the exact lines to add and still exits 0; so
it does for the wrapper that replaces .ansible/scripts/docker_build_stages.sh.
Refused, with nothing written (exit 2): DIR missing or not a folder, DIR/xtask
holding another crate, or a DIR/.docker/stages.env the xtask would refuse.

Options:
  -h, --help
";

const ALIAS_LINE: &str = "xtask = \"run --package xtask --\"";

const WORKSPACE: &str = "\
[workspace]
members = [\"xtask\"]
resolver = \"2\"

# The xtask is compiled on every fresh clone: no debug info keeps that build and
# its link step short, and nobody steps through it in a debugger.
[profile.dev.package.xtask]
debug = 0
";

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

/// The corpusops scripts vendor reads settings from, the one that wins first.
const DEPLOY_ENVS: [&str; 2] =
    [".ansible/scripts/ansible_deploy_env.local", ".ansible/scripts/ansible_deploy_env"];

/// The corpusops build script the xtask replaces.
const BUILD_SCRIPT: &str = ".ansible/scripts/docker_build_stages.sh";

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
    build_script(dir, &mut report);

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
    // modules tell it apart from another crate named xtask.
    let older = ["src/stages.rs", "src/generate.rs"].iter().all(|f| target.join(f).is_file());
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

/// The crate's Cargo.toml and src/; its tests stay here, they need this
/// repository's fixtures.
fn copy_crate(source: &Path, dir: &Path, report: &mut Report) -> Result<()> {
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
fn copy_lock(source: &Path, dir: &Path, report: &mut Report) -> Result<()> {
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

/// `.cargo/config.toml`'s alias: what makes `cargo xtask` work from any
/// subfolder of DIR.
fn cargo_alias(dir: &Path, report: &mut Report) -> Result<()> {
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

fn workspace(dir: &Path, report: &mut Report) -> Result<()> {
    let path = dir.join("Cargo.toml");
    if !path.exists() {
        return write(dir, "Cargo.toml", WORKSPACE, report, "");
    }
    match add_member(&read_text(&path)?) {
        Members::AlreadyThere => report.file("unchanged", "Cargo.toml", "xtask is a member"),
        Members::Edited(text) => write(dir, "Cargo.toml", &text, report, "added xtask to members")?,
        Members::ByHand(task) => {
            report.file("unchanged", "Cargo.toml", "not edited: see below");
            report.by_hand.push(task);
        }
    }
    Ok(())
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

/// The tool's own files that a build context of DIR must not carry: in a
/// project whose only Rust is the tool, the ones vendor creates (or created
/// on an earlier run). A Rust project keeps them: its Dockerfile may build
/// its workspace.
fn tool_files(dir: &Path, source: &Path) -> Result<Vec<&'static str>> {
    let manifest = fs::read_to_string(dir.join("Cargo.toml")).ok();
    if manifest.as_deref().is_some_and(|m| m != WORKSPACE) {
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

/// What vendor takes from the deploy env: the settings file's text and values.
struct Migrated {
    text: String,
    values: BTreeMap<String, String>,
}

/// Reads the known settings that the corpusops deploy env scripts assign
/// literally, never running them; notes what it took, what it skipped and
/// why. None when there is no script, or nothing to take.
fn migrate_deploy_env(dir: &Path, report: &mut Report) -> Option<Migrated> {
    // Per setting: its value when known, and the file and line that decide it.
    let mut decided: BTreeMap<String, (Option<String>, &str, usize)> = BTreeMap::new();
    let mut others: Vec<String> = Vec::new();
    let (mut skipped, mut notes) = (Vec::new(), Vec::new());
    for rel in DEPLOY_ENVS {
        let path = dir.join(rel);
        if path.symlink_metadata().is_err() {
            continue;
        }
        let text = match fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) => {
                let link = fs::read_link(&path)
                    .map(|to| format!("; it links to {}", to.display()))
                    .unwrap_or_default();
                notes.push(format!("  unreadable {rel}: skipped ({err}{link})"));
                continue;
            }
        };
        let script = deploy_env::read(&text);
        for a in &script.assignments {
            if let Err(why) = &a.value {
                skipped.push(format!("  skipped    {} ({rel}:{}): {why}", a.key, a.line));
            }
        }
        for (key, settled) in script.settled {
            let (value, line) = match settled {
                // Set but empty is no setting: as if the script left it unset.
                deploy_env::Settled::Known(value, _) if value.is_empty() => continue,
                deploy_env::Settled::Known(value, line) => (Some(value), line),
                // Named above, with why; it still wins over the next file.
                deploy_env::Settled::Unknown(line) => (None, line),
            };
            match decided.get(&key) {
                Some((_, winner, at)) => {
                    if value.is_some() {
                        skipped.push(format!(
                            "  skipped    {key} ({rel}:{line}): {winner}:{at} sets it too, and wins"
                        ));
                    }
                }
                None => {
                    decided.insert(key, (value, rel, line));
                }
            }
        }
        others
            .extend(script.others.into_iter().filter(|o| !others.contains(o)).collect::<Vec<_>>());
    }
    let taken: BTreeMap<String, (String, &str, usize)> = decided
        .into_iter()
        .filter_map(|(key, (value, rel, line))| Some((key, (value?, rel, line))))
        .collect();
    if !others.is_empty() {
        notes.push(format!("  ignored    {} (not settings of the xtask)", others.join(", ")));
    }
    for (key, (value, rel, line)) in &taken {
        let value = env_file::quote(value);
        report.migration.push(format!("  took       {key}={value} ({rel}:{line})"));
    }
    report.migration.extend(skipped);
    report.migration.extend(notes);
    if taken.is_empty() {
        if !report.migration.is_empty() {
            report.migration.push(format!("  nothing to take: {} not written", settings::FILE));
        }
        return None;
    }
    let mut text = String::from(SETTINGS_HEADER);
    for rel in DEPLOY_ENVS {
        let from: Vec<_> = taken.iter().filter(|(_, (_, r, _))| *r == rel).collect();
        if from.is_empty() {
            continue;
        }
        text.push_str(&format!("\n# Taken by `cargo xtask vendor` from {rel}:\n"));
        for (key, (value, _, line)) in from {
            text.push_str(&format!("{key}={}  # line {line}\n", env_file::quote(value)));
        }
    }
    let values = taken.into_iter().map(|(k, (v, _, _))| (k, v)).collect();
    Some(Migrated { text, values })
}

const SETTINGS_HEADER: &str = "\
# Settings of `cargo xtask` that the whole team shares (committed).
# The environment overrides them: DOCKER_IMAGE=ns/app:dev cargo xtask stages
# Syntax of docker compose's env files; nothing in here is expanded or run.
# Accepted names: see `cargo xtask --help`.
";

/// corpusops' build script stays (other scripts and habits call it): the two
/// lines that make it run the xtask are printed, never written.
fn build_script(dir: &Path, report: &mut Report) {
    let path = dir.join(BUILD_SCRIPT);
    if path.symlink_metadata().is_err() {
        return;
    }
    if fs::read_to_string(&path).is_ok_and(|text| text.contains("exec cargo xtask stages")) {
        report.file("unchanged", BUILD_SCRIPT, "runs the xtask");
        return;
    }
    report.file("unchanged", BUILD_SCRIPT, "left as it is: see below");
    report.by_hand.push(format!(
        "replace {BUILD_SCRIPT} with this two-line wrapper, so whatever calls it runs the xtask:\n\n{WRAPPER}"
    ));
}

const WRAPPER: &str = "#!/bin/sh\ncd \"$(dirname \"$0\")/../..\" && exec cargo xtask stages \"$@\"";

/// A commented skeleton for a project without snippets; a project that has
/// any keeps them exactly as they are.
/// Whether DIR has snippets already (ones the tool would refuse are still
/// the user's snippets).
fn has_snippets(dir: &Path, stages_dir: &str) -> bool {
    dir.join(stages_dir).is_dir()
        && project::discover_snippets(dir, stages_dir).map_or(true, |s| !s.is_empty())
}

fn skeleton(dir: &Path, stages_dir: &str, report: &mut Report) -> Result<()> {
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
struct Adopted {
    stage0: String,
    text: String,
    main: String,
}

/// When DIR has no snippets and a root Dockerfile that this tool did not
/// write, that Dockerfile is adopted: checked here, before anything is
/// written, as the tool checks a snippet.
fn adoption(dir: &Path, stages_dir: &str) -> Result<Option<Adopted>> {
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
fn adopt(dir: &Path, adopted: &Adopted, report: &mut Report) -> Result<()> {
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
