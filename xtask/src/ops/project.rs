//! The project the xtask works on: its root, its settings, its snippets read
//! and checked, and where the generated files go.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;
use xshell::{cmd, Shell};

use crate::model::generate::{self, Source, Stages, GENERATED_BY};
use crate::model::image::{self, Image};
use crate::model::snippets::{self, Snippet};
use crate::settings::Settings;
use crate::util::atomic_file;
use crate::util::exit::input_error;
use crate::util::print::say;
use crate::util::sha256;

/// The project's lock, held until dropped. `waited`: another run held it
/// first, so what the engine said before it was taken may be out of date.
pub(crate) struct Lock {
    _file: fs::File,
    pub(crate) waited: bool,
}

/// In the generated folder: the digest of the main Dockerfile as this tool
/// last wrote it.
const MAIN_RECORD: &str = "Dockerfile.sha256";

pub(crate) struct Project {
    pub(crate) root: PathBuf,
    pub(crate) settings: Settings,
    pub(crate) snippets: Vec<Snippet>,
    pub(crate) stages: Stages,
}

/// The project root: the parent of the xtask package when run by cargo (from
/// any subfolder), else the current directory.
pub(crate) fn root() -> Result<PathBuf> {
    if let Some(manifest_dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        if let Some(parent) = Path::new(&manifest_dir).parent() {
            return Ok(parent.to_path_buf());
        }
    }
    std::env::current_dir().map_err(|err| {
        input_error(format!("cannot read the current directory: {err}"), "cd to your project")
    })
}

/// Lists the snippets of `stages_dir` (relative to `root`) in stage order:
/// its regular files that [`snippets::is_snippet`] names snippets.
pub(crate) fn discover_snippets(root: &Path, stages_dir: &str) -> Result<Vec<Snippet>> {
    let dir = root.join(stages_dir);
    if !dir.is_dir() {
        return Err(input_error(
            format!("stages dir {stages_dir} does not exist in {}", root.display()),
            format!("create {stages_dir}/Dockerfile.stage0, or set STAGES_DIR to the folder of your snippets"),
        ));
    }
    // Listed with read_dir and matched with glob's patterns: glob::glob itself
    // skips names that are not UTF-8, and such a snippet must be refused, not lost.
    // The main Dockerfile is an output, even when STAGES_DIR is the root.
    let in_root = same_file(&dir, root);
    let unreadable = |err: std::io::Error| {
        input_error(format!("cannot list {stages_dir}: {err}"), "fix the folder's permissions")
    };

    let mut names = Vec::new();
    for entry in fs::read_dir(&dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        let Some(file_name) = path.file_name() else { continue };
        let Some(name) = file_name.to_str() else {
            if file_name.as_encoded_bytes().starts_with(b"Dockerfile") {
                return Err(input_error(
                    format!("snippet file name {} is not UTF-8", path.display()),
                    "rename it with UTF-8 characters only",
                ));
            }
            continue;
        };
        if snippets::is_snippet(name, in_root) && path.is_file() {
            names.push(name.to_string());
        }
    }
    snippets::order(names, stages_dir)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

impl Project {
    /// Finds, reads and checks the snippets; prints generation warnings.
    pub(crate) fn load(root: PathBuf, settings: Settings) -> Result<Project> {
        let snippets = discover_snippets(&root, &settings.stages_dir)?;
        let texts = snippets
            .iter()
            .map(|s| read_snippet(&root.join(&settings.stages_dir).join(&s.file_name), &s.display))
            .collect::<Result<Vec<String>>>()?;
        let sources: Vec<Source<'_>> = snippets
            .iter()
            .zip(&texts)
            .map(|(s, text)| Source { display: &s.display, text })
            .collect();
        let stages = generate::analyze(&sources, &settings.stages_dir)?;
        for warning in &stages.warnings {
            say!("warning: {warning}");
        }
        Ok(Project { root, settings, snippets, stages })
    }

    pub(crate) fn main_dockerfile_path(&self) -> PathBuf {
        self.root.join("Dockerfile")
    }

    fn generated_dir(&self) -> PathBuf {
        self.root.join(&self.settings.stages_dir).join("generated")
    }

    /// The chain file of stage `n`, relative to the root, as commands show it.
    pub(crate) fn chain_file(&self, n: usize) -> String {
        format!("{}/generated/Dockerfile.stage{n}", self.settings.stages_dir)
    }

    /// The image the settings, the git remote or the folder name give.
    pub(crate) fn image(&self, sh: &Shell) -> Result<Image> {
        let root = &self.root;
        let origin = || {
            cmd!(sh, "git -C {root} config --get remote.origin.url")
                .quiet()
                .ignore_stderr()
                .read()
                .ok()
        };
        image::resolve(&self.settings, &self.root, origin)
    }

    /// The chain file text of every stage for `image`.
    pub(crate) fn chain_texts(&self, image: &Image) -> Vec<String> {
        (0..self.stages.len())
            .map(|n| self.stages.chain_file(n, &image.stage(n.saturating_sub(1))))
            .collect()
    }

    /// The chain files the builds use: those the snippets generate now, or
    /// with `NO_GEN` the files on disk.
    pub(crate) fn chain_to_build(&self, image: &Image) -> Result<Vec<String>> {
        if !self.settings.no_gen {
            return Ok(self.chain_texts(image));
        }
        (0..self.snippets.len())
            .map(|n| {
                let file = self.chain_file(n);
                fs::read_to_string(self.root.join(&file)).map_err(|err| {
                    input_error(
                        format!("NO_GEN is set but {file} cannot be read: {err}"),
                        "run without NO_GEN once, or `cargo xtask dockerfile`, to generate the chain",
                    )
                })
            })
            .collect()
    }

    /// The main Dockerfile the full image is built from: generated now, or
    /// with `NO_GEN` the file on disk.
    pub(crate) fn main_to_build(&self) -> Result<String> {
        if !self.settings.no_gen {
            return Ok(self.stages.main_dockerfile());
        }
        fs::read_to_string(self.main_dockerfile_path()).map_err(|err| {
            input_error(
                format!("NO_GEN is set but Dockerfile cannot be read: {err}"),
                "run without NO_GEN once, or `cargo xtask dockerfile`, to generate it",
            )
        })
    }

    /// Waits for, then holds until the returned lock is dropped, the
    /// project's lock: the chain files name one image, so two runs with
    /// different settings must not rewrite them under each other's builds.
    /// The engine's lock goes with the process, however it ends.
    pub(crate) fn lock(&self) -> Result<Lock> {
        let generated = self.generated_dir();
        let path = generated.join(".lock");
        let file = fs::create_dir_all(&generated)
            .and_then(|()| {
                fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)
            })
            .map_err(|err| {
                input_error(
                    format!("cannot open {}: {err}", path.display()),
                    "check the folder's permissions",
                )
            })?;
        let waited = matches!(file.try_lock(), Err(fs::TryLockError::WouldBlock));
        if waited {
            say!(
                "waiting for another `cargo xtask` run in this project to finish (it holds {})",
                path.display()
            );
            file.lock().map_err(|err| {
                input_error(
                    format!("cannot lock {}: {err}", path.display()),
                    "remove the file if no run is going on",
                )
            })?;
        }
        Ok(Lock { _file: file, waited })
    }

    /// Writes the chain (`chain`, from [`Project::chain_texts`]) and the main
    /// Dockerfile, each only if it changed, and removes chain files of stages
    /// that no longer exist. Returns whether the main Dockerfile changed.
    pub(crate) fn write(&self, chain: &[String]) -> Result<bool> {
        let generated = self.generated_dir();
        fs::create_dir_all(&generated).map_err(|err| {
            input_error(
                format!("cannot create {}: {err}", generated.display()),
                "check the folder's permissions",
            )
        })?;
        atomic_file::remove_stale_temps(&generated);
        atomic_file::remove_stale_temps(&self.root);
        atomic_file::ensure_file(&generated.join(".gitignore"), "*\n")?;
        for (n, text) in chain.iter().enumerate() {
            atomic_file::ensure_file(&self.root.join(self.chain_file(n)), text)?;
        }
        self.remove_old_chain_files(&generated)?;
        // What this tool last wrote, to tell a hand edit from a snippet change.
        let record = generated.join(MAIN_RECORD);
        let main = self.stages.main_dockerfile();
        let before = fs::read(self.main_dockerfile_path()).ok();
        let changed = atomic_file::ensure_file(&self.main_dockerfile_path(), &main)?;
        let written_last = fs::read_to_string(&record).ok();
        // A Dockerfile of the user's own was already named (`--force`).
        let generated_before = before
            .as_deref()
            .is_some_and(|text| String::from_utf8_lossy(text).contains(GENERATED_BY));
        if let (true, true, Some(before), Some(written)) =
            (changed, generated_before, before, written_last)
        {
            if sha256::hex_digest(&before) != written.trim() {
                say!(
                    "warning: rewrote ./Dockerfile, which was edited since `cargo xtask` wrote it: edit the snippets in {}/ instead",
                    self.settings.stages_dir
                );
            }
        }
        atomic_file::ensure_file(&record, &format!("{}\n", sha256::hex_digest(main.as_bytes())))?;
        Ok(changed)
    }

    /// Refuses (exit 2) to go on when the root Dockerfile is the user's own:
    /// one without the generated header, which writing would replace. With
    /// `force` it is replaced, with a warning.
    pub(crate) fn refuse_users_dockerfile(&self, force: bool) -> Result<()> {
        let Ok(text) = fs::read(self.main_dockerfile_path()) else { return Ok(()) };
        if String::from_utf8_lossy(&text).contains(GENERATED_BY) {
            return Ok(());
        }
        if force {
            say!(
                "warning: replacing ./Dockerfile, which `cargo xtask dockerfile` did not write (--force): its old content is in git"
            );
            return Ok(());
        }
        Err(input_error(
            "./Dockerfile is your own (it has no \"# Generated by `cargo xtask dockerfile`\" header), and this would replace it",
            format!(
                "adopt it: `cargo xtask vendor .` makes it {}/Dockerfile.stage0 and regenerates ./Dockerfile from it; or `cargo xtask dockerfile --force` replaces it",
                self.settings.stages_dir
            ),
        ))
    }

    fn remove_old_chain_files(&self, generated: &Path) -> Result<()> {
        let Ok(entries) = fs::read_dir(generated) else { return Ok(()) };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let stage = name.to_str().and_then(|n| n.strip_prefix("Dockerfile.stage"));
            let old = stage.is_some_and(|n| {
                !n.is_empty()
                    && n.bytes().all(|b| b.is_ascii_digit())
                    && n.parse().map_or(true, |n: usize| n >= self.stages.len())
            });
            if old {
                atomic_file::remove_file(&entry.path())?;
            }
        }
        Ok(())
    }
}

fn read_snippet(path: &Path, display: &str) -> Result<String> {
    let bytes = fs::read(path).map_err(|err| {
        input_error(format!("cannot read {display}: {err}"), "fix the file's permissions")
    })?;
    String::from_utf8(bytes).map_err(|err| {
        let at = err.utf8_error().valid_up_to();
        input_error(
            format!("{display} is not UTF-8 (invalid byte at offset {at})"),
            "save the snippet as UTF-8",
        )
    })
}
