//! Comparing two images, as `verify` does: their config (the fields of
//! [`CONFIG`]) and their file trees (path, type, mode, owner, size, content,
//! link target; mtimes and the files the engine adds to containers are
//! ignored). One line per difference.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::engine::tar::{display, Entry, Kind};
use crate::engine::Engine;

/// Config fields compared, with the template that prints each on one line.
const CONFIG: [(&str, &str); 10] = [
    ("Env", "{{json .Config.Env}}"),
    ("Cmd", "{{json .Config.Cmd}}"),
    ("Entrypoint", "{{json .Config.Entrypoint}}"),
    ("WorkingDir", "{{json .Config.WorkingDir}}"),
    ("User", "{{json .Config.User}}"),
    ("ExposedPorts", "{{json .Config.ExposedPorts}}"),
    ("Volumes", "{{json .Config.Volumes}}"),
    ("StopSignal", "{{json .Config.StopSignal}}"),
    // Sorted by key; this tool's own label differs by design.
    (
        "Labels",
        "{{range $k, $v := .Config.Labels}}{{if ne $k \"xtask.stages\"}}{{json $k}}:{{json $v}} {{end}}{{end}}",
    ),
    ("OnBuild", "{{json .Config.OnBuild}}"),
];

/// Paths every container has from the engine, not from the Dockerfile.
const ENGINE_FILES: [&str; 4] = ["/.dockerenv", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];
const ENGINE_DIRS: [&str; 3] = ["/dev", "/proc", "/sys"];

/// Every difference between the images `chain` and `main`, one line each:
/// config fields first, then files by path.
pub(crate) fn differences(engine: &Engine<'_>, chain: &str, main: &str) -> Result<Vec<String>> {
    let mut differences = compare_config(&config(engine, chain)?, &config(engine, main)?);
    differences.extend(compare_trees(&tree(engine, chain)?, &tree(engine, main)?));
    Ok(differences)
}

fn config(engine: &Engine<'_>, image: &str) -> Result<Vec<String>> {
    let format: Vec<&str> = CONFIG
        .iter()
        .map(|(field, template)| match *field {
            "OnBuild" if !engine.keeps_onbuild() => "null",
            _ => *template,
        })
        .collect();
    let out = engine.inspect_format(&[image.to_string()], &format.join("\n"))?;
    Ok(out.split('\n').map(str::to_string).collect())
}

/// One line per config field whose values differ.
fn compare_config(chain: &[String], main: &[String]) -> Vec<String> {
    CONFIG
        .iter()
        .enumerate()
        .filter_map(|(i, (field, _))| {
            let a = chain.get(i).map_or("", |s| empty_as_blank(s));
            let b = main.get(i).map_or("", |s| empty_as_blank(s));
            (a != b).then(|| format!("config {field}: chain {} | main {}", shown(a), shown(b)))
        })
        .collect()
}

/// `null`, `[]`, `{}` and `""` all say "nothing here".
fn empty_as_blank(value: &str) -> &str {
    match value.trim() {
        "null" | "[]" | "{}" | "\"\"" => "",
        other => other,
    }
}

fn shown(value: &str) -> &str {
    if value.is_empty() {
        "(none)"
    } else {
        value
    }
}

/// Files by path; paths are bytes, as in the image.
type Tree = BTreeMap<Vec<u8>, Entry>;

fn tree(engine: &Engine<'_>, image: &str) -> Result<Tree> {
    let mut files = BTreeMap::new();
    engine.export(image, |entry| {
        let path = entry.path.as_slice();
        let engine_made = ENGINE_FILES.iter().any(|f| path == f.as_bytes())
            || ENGINE_DIRS.iter().any(|d| {
                path.strip_prefix(d.as_bytes())
                    .is_some_and(|rest| rest.is_empty() || rest[0] == b'/')
            });
        if !engine_made && path != b"/" {
            files.insert(entry.path.clone(), entry);
        }
    })?;
    Ok(files)
}

/// One line per path that is missing on one side or differs.
fn compare_trees(chain: &Tree, main: &Tree) -> Vec<String> {
    let mut lines = Vec::new();
    for (path, a) in chain {
        let path_bytes = path;
        let path = display(path);
        match main.get(path_bytes) {
            None => lines.push(format!("file {path}: only in the chain")),
            Some(b) => {
                let what = entry_differences(a, b);
                if !what.is_empty() {
                    lines.push(format!("file {path}: {}", what.join(", ")));
                }
            }
        }
    }
    for path in main.keys().filter(|p| !chain.contains_key(*p)) {
        lines.push(format!("file {}: only in the main Dockerfile", display(path)));
    }
    lines
}

fn entry_differences(a: &Entry, b: &Entry) -> Vec<String> {
    let mut what = Vec::new();
    if a.kind != b.kind {
        what.push(format!("type {} | {}", kind(a.kind), kind(b.kind)));
    }
    if a.mode != b.mode {
        what.push(format!("mode {:04o} | {:04o}", a.mode, b.mode));
    }
    if (a.uid, a.gid) != (b.uid, b.gid) {
        what.push(format!("owner {}:{} | {}:{}", a.uid, a.gid, b.uid, b.gid));
    }
    if a.size != b.size {
        what.push(format!("size {} | {}", a.size, b.size));
    }
    if a.digest != b.digest && a.size == b.size {
        what.push("content".to_string());
    }
    if a.link != b.link {
        let link = |l: &Option<Vec<u8>>| l.as_deref().map_or("(none)".to_string(), display);
        what.push(format!("link target {} | {}", link(&a.link), link(&b.link)));
    }
    what
}

fn kind(kind: Kind) -> String {
    match kind {
        Kind::File => "file".to_string(),
        Kind::HardLink => "hard link".to_string(),
        Kind::Symlink => "symlink".to_string(),
        Kind::CharDevice => "character device".to_string(),
        Kind::BlockDevice => "block device".to_string(),
        Kind::Directory => "directory".to_string(),
        Kind::Fifo => "fifo".to_string(),
        Kind::Other(flag) => format!("type {}", flag as char),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::labels::LABEL;

    fn entry(path: &str, mode: u32, digest: &str) -> Entry {
        Entry {
            path: path.as_bytes().to_vec(),
            kind: Kind::File,
            mode,
            uid: 0,
            gid: 0,
            size: 3,
            digest: Some(digest.to_string()),
            link: None,
        }
    }

    #[test]
    fn config_differences_name_the_field() {
        let chain: Vec<String> =
            ["[\"A=1\"]", "null", "null", "\"/app\"", "\"\"", "{}", "null", "\"\"", "", "[]"]
                .map(String::from)
                .to_vec();
        let mut main = chain.clone();
        main[0] = "[\"A=2\"]".to_string();
        main[9] = "[\"RUN touch /x\"]".to_string();
        main[1] = "[]".to_string();
        assert_eq!(
            compare_config(&chain, &main),
            [
                "config Env: chain [\"A=1\"] | main [\"A=2\"]",
                "config OnBuild: chain (none) | main [\"RUN touch /x\"]"
            ]
        );
        assert!(CONFIG[8].1.contains(LABEL));
    }

    #[test]
    fn tree_differences_name_the_path() {
        let tree = |entries: Vec<Entry>| -> Tree {
            entries.into_iter().map(|e| (e.path.clone(), e)).collect()
        };
        let mut bad = entry("/", 0o644, "x");
        bad.path = b"/bad\xffname".to_vec();
        let chain = tree(vec![entry("/a", 0o644, "x"), bad, entry("/only-chain", 0o644, "x")]);
        let main = tree(vec![entry("/a", 0o755, "y"), entry("/only-main", 0o644, "x")]);
        assert_eq!(
            compare_trees(&chain, &main),
            [
                "file /a: mode 0644 | 0755, content",
                "file /bad\\xffname: only in the chain",
                "file /only-chain: only in the chain",
                "file /only-main: only in the main Dockerfile"
            ]
        );
    }
}
