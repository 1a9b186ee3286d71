//! The layering, checked: each folder of `src/` is a layer, and a layer
//! imports only itself and the layers below it (`crate::<layer>` paths); a
//! command never imports another command. `main.rs` and `cli.rs` sit on
//! top and may import anything.

use std::fs;
use std::path::{Path, PathBuf};

/// From the bottom up.
const LAYERS: [&str; 6] = ["util", "settings", "model", "engine", "ops", "commands"];

fn rank(layer: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == layer)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The paths after each `crate::` in `code`, as `a` or `a::b` (a group
/// `crate::{a, b::c}` gives each of its members).
fn crate_paths(code: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
    };
    let path = |s: &str| -> String {
        let first = ident(s);
        match s[first.len()..].strip_prefix("::").map(ident) {
            Some(second) if !second.is_empty() => format!("{first}::{second}"),
            _ => first,
        }
    };
    let mut paths = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                paths.extend(group.split(',').map(str::trim).map(path));
            }
            None => paths.push(path(rest)),
        }
    }
    paths.retain(|p| !p.is_empty());
    paths
}

#[test]
fn layers_import_only_downwards() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap().with_extension("");
        let parts: Vec<String> =
            rel.components().map(|c| c.as_os_str().to_string_lossy().to_string()).collect();
        let Some(own) = rank(&parts[0]) else { continue };
        let text = fs::read_to_string(file).unwrap();
        let code: String =
            text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
        for path in crate_paths(&code) {
            let mut names = path.split("::");
            let layer = names.next().unwrap_or("");
            let Some(theirs) = rank(layer) else { continue };
            let other_command = layer == "commands"
                && parts.len() > 1
                && names.next().is_some_and(|command| command != parts[1]);
            if theirs > own || other_command {
                wrong.push(format!("{} imports crate::{path}", rel.display()));
            }
        }
    }
    assert!(files.len() > 40, "the sources were not found in {}", src.display());
    assert!(wrong.is_empty(), "imports against the layering:\n{}", wrong.join("\n"));
}

#[test]
fn paths_after_crate_are_found() {
    let code = "use crate::ops::session::{A, B};\nuse crate::{engine, commands::stages::X};";
    assert_eq!(crate_paths(code), ["ops::session", "engine", "commands::stages"]);
}
