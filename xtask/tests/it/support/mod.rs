//! Test helpers: a project in a fresh temp folder, the real xtask binary run in
//! it, and output that explains itself when an assertion fails.
// Each test file uses a different part of this module.
#![allow(dead_code)]

pub mod docker;
pub mod registry;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Settings the developer's own shell may hold; tests start without them.
const SETTINGS: [&str; 15] = [
    "STAGES_DIR",
    "DOCKER_IMAGE",
    "DOCKER_IMAGE_TAG",
    "A_GIT_NAMESPACE",
    "A_GIT_PROJECT",
    "DOCKER_BUILD_ARGS",
    "A_ENV_NAME",
    "STAGES_TO_BUILD",
    "NO_GEN",
    "NO_STAGES_BUILD",
    "NO_FULL_BUILD",
    "DOCKER",
    // Choose the builder: each test that builds sets them (see `Builder`).
    "DOCKER_BUILDKIT",
    "BUILDX_BUILDER",
    // Set by cargo for the test process; the xtask takes the root from it.
    "CARGO_MANIFEST_DIR",
];

/// Defines a test that runs once on each engine and builder, as
/// `<name>::legacy`, `<name>::buildkit` and `<name>::modern`; the body gets
/// the `Builder` as its one argument. Starting with `also_modern_legacy;`, it
/// runs as `<name>::modern_legacy` too (the legacy builder on the modern engine).
macro_rules! on_every_engine {
    (also_modern_legacy; $(#[doc = $doc:expr])* fn $name:ident($builder:ident: Builder) $body:block) => {
        on_every_engine! { @define [modern_legacy ModernLegacy] $(#[doc = $doc])* fn $name($builder) $body }
    };
    ($(#[doc = $doc:expr])* fn $name:ident($builder:ident: Builder) $body:block) => {
        on_every_engine! { @define [] $(#[doc = $doc])* fn $name($builder) $body }
    };
    (@define [$($extra:ident $variant:ident)?] $(#[doc = $doc:expr])* fn $name:ident($builder:ident) $body:block) => {
        $(#[doc = $doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($builder: crate::support::docker::Builder) $body

            #[test]
            fn legacy() {
                body(crate::support::docker::Builder::Legacy)
            }

            #[test]
            fn buildkit() {
                body(crate::support::docker::Builder::BuildKit)
            }

            #[test]
            fn modern() {
                body(crate::support::docker::Builder::Modern)
            }

            $(
                #[test]
                fn $extra() {
                    body(crate::support::docker::Builder::$variant)
                }
            )?
        }
    };
}

/// A project folder of its own, removed at the end of a passing test.
pub struct Project {
    pub root: PathBuf,
    /// The builder every `xtask` run of this project uses, if it builds.
    builder: Option<docker::Builder>,
}

impl Project {
    pub fn new(name: &str) -> Project {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let root =
            std::env::temp_dir().join(format!("xtask-test-{}-{n}", std::process::id())).join(name);
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        Project { root, builder: None }
    }

    /// The same, whose `xtask` runs build with `builder`.
    pub fn on(name: &str, builder: docker::Builder) -> Project {
        let mut project = Project::new(name);
        project.builder = Some(builder);
        project
    }

    /// Writes `.docker/<name>`.
    pub fn snippet(&self, name: &str, text: &str) -> &Project {
        self.write(&format!(".docker/{name}"), text)
    }

    /// Writes `stage0` .. `stageN` snippets from `texts`.
    pub fn stages(&self, texts: &[&str]) -> &Project {
        for (n, text) in texts.iter().enumerate() {
            self.snippet(&format!("Dockerfile.stage{n}"), text);
        }
        self
    }

    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> &Project {
        let path = self.root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
        self
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.root.join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.root.join(rel).exists()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Every file under the root (but `target/`), with its bytes.
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        collect(&self.root, &self.root, &mut out);
        out
    }

    /// The xtask binary, about to run in this project.
    pub fn xtask(&self, args: &[&str]) -> Run {
        self.command("", env!("CARGO_BIN_EXE_xtask"), args)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(self.root.parent().unwrap());
        }
    }
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap().to_string_lossy().to_string();
        if rel == "target" || rel == ".git" {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            out.insert(rel, fs::read(&path).unwrap_or_default());
        }
    }
}

/// A command about to run; its result explains itself on failure.
pub struct Run {
    pub command: Command,
    root: PathBuf,
}

impl Run {
    pub fn env(mut self, name: &str, value: impl Into<OsString>) -> Run {
        self.command.env(name, value.into());
        self
    }

    pub fn run(mut self) -> Out {
        let output =
            self.command.output().unwrap_or_else(|e| panic!("cannot run {:?}: {e}", self.command));
        Out { description: describe(&self.command, &self.root), output }
    }
}

fn describe(command: &Command, root: &Path) -> String {
    let envs: Vec<String> = command
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_string_lossy(), v?.to_string_lossy())))
        .collect();
    let listing: Vec<String> = {
        let mut files = BTreeMap::new();
        collect(root, root, &mut files);
        files.keys().cloned().collect()
    };
    format!(
        "command: {} {:?}\nenv: {}\ncwd: {}\nfiles: {}",
        command.get_program().to_string_lossy(),
        command.get_args().collect::<Vec<_>>(),
        envs.join(" "),
        root.display(),
        listing.join(" "),
    )
}

pub struct Out {
    description: String,
    pub output: Output,
}

impl Out {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).to_string()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).to_string()
    }

    pub fn fail(&self, why: &str) -> ! {
        panic!(
            "{why}\n{}\nstatus: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.description,
            self.output.status,
            self.stdout(),
            self.stderr()
        )
    }

    /// Asserts the exit code, and that no panic or backtrace reached the user.
    pub fn code(self, code: i32) -> Out {
        if self.output.status.code() != Some(code) {
            self.fail(&format!("expected exit code {code}"));
        }
        let all = format!("{}{}", self.stdout(), self.stderr());
        if all.contains("panicked")
            || all.contains("RUST_BACKTRACE")
            || all.contains("internal error")
        {
            self.fail("a panic reached the user");
        }
        self
    }

    pub fn ok(self) -> Out {
        self.code(0)
    }

    pub fn stdout_has(self, text: &str) -> Out {
        if !self.stdout().contains(text) {
            self.fail(&format!("stdout lacks {text:?}"));
        }
        self
    }

    pub fn stderr_has(self, text: &str) -> Out {
        if !self.stderr().contains(text) {
            self.fail(&format!("stderr lacks {text:?}"));
        }
        self
    }

    pub fn stderr_lacks(self, text: &str) -> Out {
        if self.stderr().contains(text) {
            self.fail(&format!("stderr has {text:?}"));
        }
        self
    }

    /// Asserts the error shape of the spec: a first line `error: ...` holding
    /// `text`, then a line saying what to do.
    pub fn error(self, code: i32, text: &str) -> Out {
        let out = self.code(code);
        let stderr = out.stderr();
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("warning: ")).collect();
        let first_error = lines.iter().position(|l| l.starts_with("error: "));
        match first_error {
            Some(i)
                if lines[i].contains(text)
                    && lines.get(i + 1).is_some_and(|l| !l.trim().is_empty()) =>
            {
                out
            }
            _ => out.fail(&format!("expected `error: ...{text}...` and a hint line")),
        }
    }
}

/// A file that must be byte-for-byte the expected one; `UPDATE_EXPECT=1`
/// (exactly, and never in CI) rewrites the expected file instead, so that a
/// stray value cannot turn every comparison into a rewrite.
pub fn assert_expected(expected: &Path, actual: &str) {
    if updating_expected_files() {
        fs::create_dir_all(expected.parent().unwrap()).unwrap();
        fs::write(expected, actual).unwrap();
        return;
    }
    let want = fs::read_to_string(expected).unwrap_or_else(|e| {
        panic!("{}: {e} (run with UPDATE_EXPECT=1 to create it)", expected.display())
    });
    if want != actual {
        panic!(
            "{} differs (UPDATE_EXPECT=1 rewrites it)\n--- expected ---\n{want}\n--- actual ---\n{actual}",
            expected.display()
        );
    }
}

/// Whether this run rewrites the expected files (see [`assert_expected`]).
pub fn updating_expected_files() -> bool {
    std::env::var_os("UPDATE_EXPECT").is_some_and(|v| v == "1") && std::env::var_os("CI").is_none()
}

/// A fake engine first on PATH, for argument-level tests: it records each
/// call, one line per call with every argument in brackets, answers `image
/// ls` from a file and `image inspect` with made-up ids and times.
/// Behaviour is tested against the real engine.
pub struct FakeEngine {
    pub dir: PathBuf,
}

impl FakeEngine {
    pub fn new(project: &Project) -> FakeEngine {
        let dir = project.root.parent().unwrap().join("fake-bin");
        fs::create_dir_all(&dir).unwrap();
        let script = r#"#!/bin/sh
log="$(dirname "$0")/calls.log"
line=""
for a in "$@"; do line="$line[$a]"; done
printf '%s\n' "$line" >> "$log"
case "$1 $2" in
  "image ls") cat "$(dirname "$0")/images" 2>/dev/null; exit 0 ;;
  "buildx inspect") cat "$(dirname "$0")/buildx"; exit 0 ;;
  # Each image is `id-of-<name>`, created at `created-of-<name>`, unlabelled.
  "image inspect")
    format="$4"; shift 4
    for ref in "$@"; do
      name=$(echo "$ref" | tr '/:' '__')
      case "$format" in
        '{{.Created}}') echo "created-of-$name" ;;
        *) printf 'sha256:id-of-%s\tcreated-of-%s\t\n' "$name" "$name" ;;
      esac
    done
    exit 0 ;;
esac
case "$*" in
  *"$(cat "$(dirname "$0")/fail" 2>/dev/null || echo no-failure-set)"*) echo "fake failure" >&2; exit 3 ;;
esac
exit 0
"#;
        let path = dir.join("docker");
        fs::write(&path, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        FakeEngine { dir }
    }

    /// `image ls` answers with these tags of `repo` and their ids.
    pub fn images(&self, repo: &str, lines: &[(&str, &str)]) -> &FakeEngine {
        let text: String = lines.iter().map(|(tag, id)| format!("{repo}\t{tag}\t{id}\n")).collect();
        fs::write(self.dir.join("images"), text).unwrap();
        self
    }

    /// Makes buildx look installed, its `buildx inspect` answering with the
    /// captured output `fixture` (a file of `tests/fixtures/buildx/`); returns
    /// the `DOCKER_CONFIG` folder whose `cli-plugins` holds the plugin.
    pub fn buildx(&self, fixture: &str) -> PathBuf {
        let captured =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/buildx").join(fixture);
        fs::copy(captured, self.dir.join("buildx")).unwrap();
        let config = self.dir.join("docker-config");
        fs::create_dir_all(config.join("cli-plugins")).unwrap();
        fs::write(config.join("cli-plugins/docker-buildx"), "#!/bin/sh\nexit 1\n").unwrap();
        config
    }

    /// Any call whose arguments contain `text` fails with exit status 3.
    pub fn fail_on(&self, text: &str) -> &FakeEngine {
        fs::write(self.dir.join("fail"), text).unwrap();
        self
    }

    /// The recorded calls, and forgets them.
    pub fn take_calls(&self) -> Vec<String> {
        let log = self.dir.join("calls.log");
        let text = fs::read_to_string(&log).unwrap_or_default();
        let _ = fs::remove_file(log);
        text.lines().map(str::to_string).collect()
    }

    /// Runs `script` (printed commands) with `sh` in `root`, the fake engine
    /// first on PATH; panics when it fails.
    pub fn sh(&self, root: &Path, script: &str) {
        let status = Command::new("sh")
            .args(["-c", script])
            .current_dir(root)
            .env("PATH", self.path())
            .status()
            .unwrap();
        assert!(status.success(), "the printed commands failed in sh:\n{script}");
    }

    /// PATH with the fake engine first.
    pub fn path(&self) -> OsString {
        let mut paths = vec![self.dir.clone()];
        paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
        std::env::join_paths(paths).unwrap()
    }
}

impl Project {
    /// `program` run in the folder `rel` of the project (`""`: the root),
    /// without the settings of the developer's shell, as `xtask` runs.
    pub fn command(&self, rel: &str, program: &str, args: &[&str]) -> Run {
        let mut command = Command::new(program);
        command.args(args).current_dir(self.root.join(rel));
        for name in SETTINGS {
            command.env_remove(name);
        }
        // Keep git from finding a repository above the temp folder.
        command.env("GIT_CEILING_DIRECTORIES", self.root.parent().unwrap());
        if let Some(builder) = self.builder {
            builder.apply(&mut command);
        }
        Run { command, root: self.root.clone() }
    }
}

/// Makes sure `program --version` runs; a test that needs it fails here,
/// saying how to install it, rather than skipping.
pub fn require(program: &str, install: &str) {
    let runs = Command::new(program).arg("--version").output().is_ok_and(|o| o.status.success());
    if !runs {
        panic!(
            "these tests need `{program}` and `{program} --version` fails.\nInstall it: {install}"
        );
    }
}

impl Project {
    /// `cargo` in the folder `rel` of a project that has vendored the xtask:
    /// offline (the vendored lock file must be enough), and with one target
    /// dir for every test, so the dependencies compile once.
    pub fn cargo(&self, rel: &str, args: &[&str]) -> Run {
        require("cargo", "https://rustup.rs");
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("vendored");
        // Each vendored copy compiles anew (its path is its package's id):
        // no debug info and no incremental state make that cheaper; neither
        // changes what is tested.
        self.command(rel, "cargo", args)
            .env("CARGO_TARGET_DIR", target)
            .env("CARGO_NET_OFFLINE", "true")
            .env("CARGO_INCREMENTAL", "0")
            .env("CARGO_PROFILE_DEV_DEBUG", "0")
    }
}
