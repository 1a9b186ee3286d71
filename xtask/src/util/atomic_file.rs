//! Writing generated files: only when their bytes change, through a temp file
//! and a rename, so a killed or refused run never leaves a half-written file.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

use crate::util::signals;

/// Temp files end with this; their names start with a dot, so they never look
/// like snippets (`Dockerfile*`).
const TEMP_SUFFIX: &str = ".xtask-tmp";

/// A temp file older than this was left by a killed run: no live run keeps
/// one for more than the moment between writing and renaming it.
const STALE_TEMP_AGE: Duration = Duration::from_secs(60);

/// Writes `contents` to `path` unless it already holds exactly that.
/// Returns whether the file changed.
pub(crate) fn ensure_file(path: &Path, contents: &str) -> Result<bool> {
    if fs::read(path).is_ok_and(|old| old == contents.as_bytes()) {
        return Ok(false);
    }
    let temp = temp_path(path);
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&temp)?;
        file.write_all(contents.as_bytes())?;
        // Keep the mode the file had, as an editor would.
        if let Ok(meta) = fs::metadata(path) {
            file.set_permissions(meta.permissions())?;
        }
        drop(file);
        fs::rename(&temp, path)
    };
    write()
        .inspect_err(|_| {
            let _ = fs::remove_file(&temp);
        })
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(true)
}

/// Removes `path` if it exists.
pub(crate) fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != ErrorKind::NotFound => {
            Err(err).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// The pid in a temp file name: `.<name>.<pid>.<n>.xtask-tmp`.
fn writer(temp_name: &str) -> Option<u32> {
    let mut parts = temp_name.strip_suffix(TEMP_SUFFIX)?.rsplit('.');
    parts.next()?;
    parts.next()?.parse().ok()
}

fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{}.{n}{TEMP_SUFFIX}", std::process::id()))
}

/// Removes temp files that killed runs left in `dir`: those whose writer is
/// gone, and (where that cannot be asked) those old enough that no live run
/// can still be writing them.
pub(crate) fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with('.') && name.ends_with(TEMP_SUFFIX)) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > STALE_TEMP_AGE);
        if old || writer(&name).is_some_and(|pid| !signals::process_alive(pid)) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_carry_their_writer() {
        let temp = temp_path(Path::new("/p/Dockerfile.stage1"));
        let name = temp.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(writer(&name), Some(std::process::id()));
        assert!(signals::process_alive(std::process::id()));
        assert_eq!(writer(".x.xtask-tmp"), None);
    }

    #[test]
    fn writes_only_changes_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("xtask-files-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("Dockerfile");
        assert!(ensure_file(&file, "a\n").unwrap());
        assert!(!ensure_file(&file, "a\n").unwrap());
        assert!(ensure_file(&file, "b\n").unwrap());
        assert_eq!(fs::read_to_string(&file).unwrap(), "b\n");
        let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["Dockerfile"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
