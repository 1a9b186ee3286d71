//! Build-context hygiene, as `.dockerignore` decides it: every build sends
//! the project root to the engine, and a forgotten `target/` or `.git/` can
//! make that gigabytes per stage.

use std::fs;
use std::path::Path;

use crate::util::byte_size::{human_size, Notation};

/// Folders that never belong in an image build context.
const HEAVY: [&str; 2] = ["target", ".git"];

/// A warning for each heavy folder under `root` that `.dockerignore` lets
/// into the context, with its size and the line that keeps it out. A folder
/// re-included on purpose (corpusops' stage 4 snapshots `.git`) is not warned
/// about.
pub(crate) fn warnings(root: &Path) -> Vec<String> {
    let ignore = fs::read_to_string(root.join(".dockerignore")).unwrap_or_default();
    HEAVY
        .iter()
        .filter(|dir| root.join(dir).is_dir() && !ignored(&ignore, dir) && !wanted(&ignore, dir))
        .map(|dir| {
            let size = human_size(dir_size(&root.join(dir)), Notation::Warning);
            format!("the build context includes {dir}/ ({size}), sent with every build: add `/{dir}` to .dockerignore, or `!/{dir}` if the image needs it")
        })
        .collect()
}

/// Whether `.dockerignore` says the folder `name` belongs in the context: a
/// re-include line `!name` or `!/name` exactly. A broader `!` pattern that
/// happens to match is no such statement.
fn wanted(dockerignore: &str, name: &str) -> bool {
    dockerignore.lines().map(str::trim).any(|line| {
        line.strip_prefix('!').is_some_and(|p| p.strip_prefix('/').unwrap_or(p) == name)
    })
}

/// Whether a `.dockerignore` text excludes the top-level folder `name`. Only
/// whole-folder patterns count (`target`, `/target/`, `target/**`, `*`); a
/// later `!` pattern for it lets it back in.
fn ignored(dockerignore: &str, name: &str) -> bool {
    let mut excluded = false;
    for line in dockerignore.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (negated, pattern) = match line.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let pattern = pattern.trim_start_matches('/');
        let pattern = pattern.strip_suffix("/**").unwrap_or(pattern).trim_end_matches('/');
        let pattern = pattern.strip_prefix("**/").unwrap_or(pattern);
        if glob::Pattern::new(pattern).is_ok_and(|p| p.matches(name)) {
            excluded = !negated;
        }
    }
    excluded
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => dir_size(&entry.path()),
            Ok(t) if t.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_patterns() {
        for text in ["target", "/target", "target/", "/target/**", "**/target", "*", "tar*\n# c"] {
            assert!(ignored(text, "target"), "{text}");
        }
        for text in ["", "target/debug", "targets", "!target", "target\n!target", "src/target"] {
            assert!(!ignored(text, "target"), "{text}");
        }
        assert!(ignored("/.git\n", ".git"));
    }

    #[test]
    fn an_explicit_re_include_says_the_folder_is_wanted() {
        for text in ["!.git", "!/.git", "  !/.git  ", "/.git\n!.git", "*\n!/.git\n"] {
            assert!(wanted(text, ".git"), "{text}");
        }
        for text in ["", ".git", "!.git/", "!.gitignore", "!*", "!.g*", "# !.git", "!/target"] {
            assert!(!wanted(text, ".git"), "{text}");
        }
        assert!(wanted("!target\r\n", "target"));
    }
}
