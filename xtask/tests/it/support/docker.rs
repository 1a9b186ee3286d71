//! The real Docker engines, for the tests that build: the machine's dockerd
//! 20.10 (the first engine) and Docker 26 with buildx and the containerd image
//! store (the modern engine, started by `.ci/modern-engine`), each with a
//! busybox base image made locally (nothing can be pulled), and image names
//! each test owns.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, Once, OnceLock};

/// The locally imported base image every test snippet set builds on.
pub const BASE_IMAGE: &str = "xtask-test/busybox:latest";

/// Runs the first engine's docker with `args`; panics with its output when it fails.
pub fn docker(args: &[&str]) -> String {
    Engine::First.docker(args)
}

/// Whether the first engine's docker `args` succeeds, output discarded.
pub fn docker_ok(args: &[&str]) -> bool {
    Engine::First.docker_ok(args)
}

/// A Docker engine the tests drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The machine's engine (dockerd 20.10), reached as `docker` reaches it.
    First,
    /// Docker 26 with buildx and the containerd image store: a second dockerd
    /// with a socket of its own.
    Modern,
}

impl Engine {
    /// Its docker client with `args`, without running it.
    pub fn command(self, args: &[&str]) -> Command {
        self.ready();
        let mut command = match self {
            Engine::First => Command::new("docker"),
            Engine::Modern => {
                let modern = modern();
                let mut command = Command::new(&modern.client);
                command.envs(modern.env());
                command
            }
        };
        command.args(args);
        command
    }

    /// Runs its docker with `args`; panics with the output when it fails.
    pub fn docker(self, args: &[&str]) -> String {
        self.try_docker(args).unwrap_or_else(|failed| panic!("{self:?} engine: {failed}"))
    }

    /// Runs its docker with `args`: its output, or what failed. Clean-up
    /// calls this, never [`Engine::docker`]: a panic in a `Drop` aborts.
    pub fn try_docker(self, args: &[&str]) -> Result<String, String> {
        let mut out = self.command(args).output().map_err(|e| format!("cannot run docker: {e}"))?;
        // The containerd store fails a listing when one of its images is
        // removed meanwhile (by another test): ask again.
        for _ in 0..5 {
            let said = String::from_utf8_lossy(&out.stderr);
            if !(said.contains("failed to calculate size") || said.contains("content digest")) {
                break;
            }
            out = self.command(args).output().map_err(|e| format!("cannot run docker: {e}"))?;
        }
        if !out.status.success() {
            return Err(format!(
                "docker {args:?} failed: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Whether docker `args` succeeds on it, output discarded.
    pub fn docker_ok(self, args: &[&str]) -> bool {
        self.command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Makes sure the engine answers and the base image exists. A test that
    /// needs the first engine fails here, saying how to get one, rather than
    /// skipping; the modern one is started here when it does not answer.
    fn ready(self) {
        static READY: [OnceLock<()>; 2] = [OnceLock::new(), OnceLock::new()];
        READY[self as usize].get_or_init(|| {
            let bare = |args: &[&str]| match self {
                Engine::First => Command::new("docker").args(args).output(),
                Engine::Modern => {
                    let modern = modern();
                    Command::new(&modern.client).args(args).envs(modern.env()).output()
                }
            };
            let answers = bare(&["info"]).is_ok_and(|o| o.status.success());
            if !answers {
                match self {
                    Engine::First => panic!(
                        "these tests need a running Docker engine and `docker info` fails.\n\
                         Start one: `sudo dockerd &` (add --storage-driver=vfs where overlay does not work),\n\
                         or install it first: `sudo apt-get install docker.io`. `.ci/run` does both."
                    ),
                    Engine::Modern => panic!(
                        "the modern engine started by .ci/modern-engine does not answer; \
                         run `bash .ci/modern-engine start` to see why (its log: {})",
                        modern().log.display()
                    ),
                }
            }
            let has_base = bare(&["image", "inspect", BASE_IMAGE]).is_ok_and(|o| o.status.success());
            if !has_base {
                import_busybox(self, bare);
            }
        });
    }

    /// Runs `script` with busybox sh in `image` and returns what it prints.
    pub fn run_in(self, image: &str, script: &str) -> String {
        self.docker(&["run", "--rm", "--entrypoint", "/bin/sh", image, "-c", script])
    }

    /// Every file of `image` with its type, mode, owner, size, content digest
    /// and link target: what a user would call "the same files".
    pub fn file_tree(self, image: &str) -> String {
        self.run_in(
            image,
            "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -name .dockerenv \
             -o -path /etc/hostname -o -path /etc/hosts -o -path /etc/resolv.conf \\) -prune \
             -o -print | sort | while read -r f; do \
               if [ -f \"$f\" ] && [ ! -L \"$f\" ]; then sum=$(md5sum < \"$f\"); else sum=-; fi; \
               echo \"$(stat -c '%N %f %u:%g %s' \"$f\") $sum\"; \
             done",
        )
    }
}

/// The modern engine as `.ci/modern-engine serve` reports it. That script
/// starts it unless it answers already (`.ci/run` starts it first), and stops
/// what it started when its stdin closes: when this test process ends.
struct Modern {
    client: PathBuf,
    host: String,
    config: String,
    log: PathBuf,
    /// Never dropped: its stdin closes with this process.
    _server: Mutex<Child>,
}

impl Modern {
    fn env(&self) -> [(&'static str, &str); 2] {
        [("DOCKER_HOST", self.host.as_str()), ("DOCKER_CONFIG", self.config.as_str())]
    }
}

fn modern() -> &'static Modern {
    static MODERN: OnceLock<Modern> = OnceLock::new();
    MODERN.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/modern-engine");
        let log =
            std::env::temp_dir().join(format!("xtask-modern-engine-{}.log", std::process::id()));
        let mut child = Command::new("bash")
            .arg(&script)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let mut env = HashMap::new();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line == "ready" => break,
                Some(Ok(line)) => {
                    if let Some((key, value)) = line.split_once('=') {
                        env.insert(key.to_string(), value.to_string());
                    }
                }
                _ => panic!(
                    "the modern engine (Docker 26, containerd image store) could not start:\n{}\n\
                     Run `bash .ci/modern-engine start` to see why; it needs Debian trixie's \
                     packages from deb.debian.org and root for dockerd.",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ),
            }
        }
        let get =
            |key: &str| env.get(key).cloned().unwrap_or_else(|| panic!("no {key} in {env:?}"));
        Modern {
            client: PathBuf::from(get("XTASK_MODERN_DOCKER")),
            host: get("DOCKER_HOST"),
            config: get("DOCKER_CONFIG"),
            log,
            _server: Mutex::new(child),
        }
    })
}

/// `docker import` of a rootfs holding a static busybox and its applets.
fn import_busybox(
    engine: Engine,
    docker: impl Fn(&[&str]) -> std::io::Result<std::process::Output>,
) {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or_else(|| {
            panic!("the tests need a static busybox for their base image: `sudo apt-get install busybox-static`")
        });
    let rootfs =
        std::env::temp_dir().join(format!("xtask-rootfs-{}-{engine:?}", std::process::id()));
    let bin = rootfs.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(rootfs.join("tmp")).unwrap();
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::copy(busybox, bin.join("busybox")).unwrap();
    let applets = Command::new(busybox).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&applets.stdout).lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
        }
    }
    let tarball = rootfs.with_extension("tar");
    let tar = Command::new("tar")
        .args(["-C", rootfs.to_str().unwrap(), "-cf", tarball.to_str().unwrap(), "."])
        .status()
        .unwrap();
    assert!(tar.success(), "tar of the busybox rootfs failed");
    let imported = docker(&[
        "import",
        "-c",
        "ENV PATH=/bin",
        "-c",
        "CMD [\"/bin/sh\"]",
        tarball.to_str().unwrap(),
        BASE_IMAGE,
    ])
    .unwrap();
    assert!(
        imported.status.success(),
        "{engine:?} engine: docker import of the busybox rootfs failed: {}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let _ = std::fs::remove_dir_all(rootfs);
    let _ = std::fs::remove_file(tarball);
}

/// A builder on an engine, as the xtask reaches it: an engine program
/// (`DOCKER`), `DOCKER_BUILDKIT`, and for the modern engine `DOCKER_HOST` and
/// `DOCKER_CONFIG`. Every test that builds runs on the first three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builder {
    /// The first engine's legacy builder: `docker` from PATH with `DOCKER_BUILDKIT=0`.
    Legacy,
    /// The first engine's BuildKit: a client that has it (Debian's 20.10
    /// `/usr/bin/docker` has it built in; docker 28 needs buildx), with
    /// `DOCKER_BUILDKIT=1`.
    BuildKit,
    /// The modern engine's default: `docker build` is buildx, images live in
    /// the containerd store.
    Modern,
    /// The legacy builder on the modern engine (`DOCKER_BUILDKIT=0`):
    /// deprecated there, still used.
    ModernLegacy,
}

impl Builder {
    pub fn engine(self) -> Engine {
        match self {
            Builder::Legacy | Builder::BuildKit => Engine::First,
            Builder::Modern | Builder::ModernLegacy => Engine::Modern,
        }
    }

    /// The engine program the xtask is given as `DOCKER`.
    pub fn program(self) -> String {
        match self {
            Builder::Legacy => "docker".to_string(),
            Builder::BuildKit => buildkit_client().to_string(),
            Builder::Modern | Builder::ModernLegacy => {
                self.engine().ready();
                modern().client.to_string_lossy().into_owned()
            }
        }
    }

    /// The value of `DOCKER_BUILDKIT` for this builder, if it sets one: the
    /// modern engine builds with buildx when it is unset, as a fresh install does.
    pub fn flag(self) -> Option<&'static str> {
        match self {
            Builder::Legacy | Builder::ModernLegacy => Some("0"),
            Builder::BuildKit => Some("1"),
            Builder::Modern => None,
        }
    }

    /// Gives `command` (the xtask, or docker by hand) this builder's engine
    /// program and environment.
    pub fn apply(self, command: &mut Command) {
        command.env("DOCKER", self.program()).env_remove("DOCKER_BUILDKIT");
        if let Some(flag) = self.flag() {
            command.env("DOCKER_BUILDKIT", flag);
        }
        if self.engine() == Engine::Modern {
            command.envs(modern().env());
        }
    }

    /// A name of its own for each builder's run of a test, which run side by
    /// side: `name-modern`.
    pub fn named(self, name: &str) -> String {
        let builder = match self {
            Builder::Legacy => "legacy",
            Builder::BuildKit => "buildkit",
            Builder::Modern => "modern",
            Builder::ModernLegacy => "modern-legacy",
        };
        format!("{name}-{builder}")
    }

    /// docker with `args` on this builder (a build by hand, say); panics
    /// with its output when it fails.
    pub fn docker(self, args: &[&str]) -> String {
        let mut command = Command::new(self.program());
        self.apply(&mut command);
        let out = command.args(args).output().expect("cannot run docker");
        if !out.status.success() {
            panic!(
                "{self:?}: docker {args:?} failed: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Whether docker `args` succeeds on this builder's engine.
    pub fn docker_ok(self, args: &[&str]) -> bool {
        self.engine().docker_ok(args)
    }

    /// An image repository of this test on this builder's engine.
    pub fn repo(self, name: &str) -> Repo {
        Repo::on(self.engine(), format!("xtask-test/{name}-{}", unique()))
    }

    /// A repository of one path component, as Docker Hub's official images
    /// have: `<name>-<pid>-<n>`.
    pub fn repo_without_namespace(self, name: &str) -> Repo {
        Repo::on(self.engine(), format!("{name}-{}", unique()))
    }

    /// `other`'s repository on this builder's engine: the same name on a
    /// second machine.
    pub fn repo_like(self, other: &Repo) -> Repo {
        Repo::on(self.engine(), other.name.clone())
    }

    /// The same, under a registry host: `<host>/xtask-test/<name>-<pid>-<n>`.
    pub fn repo_at(self, host: &str, name: &str) -> Repo {
        Repo::on(self.engine(), format!("{host}/xtask-test/{name}-{}", unique()))
    }

    pub fn run_in(self, image: &str, script: &str) -> String {
        self.engine().run_in(image, script)
    }

    pub fn file_tree(self, image: &str) -> String {
        self.engine().file_tree(image)
    }

    /// Whether an overwritten tag leaves the former image behind, untagged:
    /// not in the containerd image store with BuildKit, which drops it.
    pub fn keeps_former_images(self) -> bool {
        self != Builder::Modern
    }
}

/// The docker client that drives the first engine's BuildKit:
/// `XTASK_TEST_BUILDKIT_DOCKER`, else Debian's `/usr/bin/docker`, else
/// `docker`. Checked once with a real build, so that a client without
/// BuildKit fails here, saying what to install.
fn buildkit_client() -> &'static str {
    static CLIENT: OnceLock<String> = OnceLock::new();
    CLIENT.get_or_init(|| {
        Engine::First.ready();
        let client = std::env::var("XTASK_TEST_BUILDKIT_DOCKER").ok().unwrap_or_else(|| {
            let debian = "/usr/bin/docker";
            if Path::new(debian).exists() { debian } else { "docker" }.to_string()
        });
        // Exported to nowhere, so that the probe leaves no image or tag behind
        // (and `--output` alone is refused by the legacy builder).
        let mut probe = Command::new(&client)
            .args(["build", "-o", "type=tar,dest=/dev/null", "-"])
            .env("DOCKER_BUILDKIT", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {client}: {e}"));
        use std::io::Write;
        let dockerfile = format!("FROM {BASE_IMAGE}\nLABEL probe=1\n");
        probe.stdin.take().unwrap().write_all(dockerfile.as_bytes()).unwrap();
        let out = probe.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        // BuildKit numbers its steps (`#1 [internal] load build definition`).
        if !out.status.success() || !said.contains("#1 ") {
            panic!(
                "the BuildKit tests need a docker client with BuildKit, and \
                 `DOCKER_BUILDKIT=1 {client} build` does not use it ({}):\n{said}\n\
                 Install Debian's docker.io (its 20.10 client has BuildKit built in) or buildx, \
                 or set XTASK_TEST_BUILDKIT_DOCKER to such a client.",
                out.status
            );
        }
        client
    })
}

/// An image repository owned by one test on one engine; its tags are
/// removed when dropped.
pub struct Repo {
    pub name: String,
    pub engine: Engine,
}

impl Repo {
    /// `xtask-test/<name>-<pid>-<n>` on the first engine, so that tests
    /// running side by side and repeated runs never collide.
    pub fn new(name: &str) -> Repo {
        Builder::Legacy.repo(name)
    }

    /// A name no other run uses (see [`unique`]): nothing to clean first.
    fn on(engine: Engine, name: String) -> Repo {
        engine.ready();
        sweep_at_exit(engine);
        Repo { name, engine }
    }

    pub fn tag(&self, tag: &str) -> String {
        format!("{}:{tag}", self.name)
    }

    /// The image id of `name:tag`, if it exists.
    pub fn id(&self, tag: &str) -> Option<String> {
        let out = self
            .engine
            .command(&["image", "inspect", "--format", "{{.Id}}", &self.tag(tag)])
            .output()
            .unwrap();
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The tags of this repository that exist, sorted.
    pub fn tags(&self) -> Vec<String> {
        let out = self.engine.docker(&["image", "ls", "--format", "{{.Tag}}", &self.name]);
        let mut tags: Vec<String> =
            out.lines().map(str::to_string).filter(|t| t != "<none>").collect();
        tags.sort();
        tags
    }

    /// The untagged images without children whose label says they were
    /// built for this repository (what rebuilds leave behind).
    pub fn dangling(&self) -> Vec<String> {
        let args = [
            "image",
            "ls",
            "--no-trunc",
            "--quiet",
            "--filter",
            "dangling=true",
            "--filter",
            "label=xtask.stages",
        ];
        let ids = self.engine.try_docker(&args).unwrap_or_default();
        let mut ids: Vec<&str> = ids.lines().filter(|l| !l.is_empty()).collect();
        ids.dedup();
        if ids.is_empty() {
            return Vec::new();
        }
        let mut args = vec![
            "image",
            "inspect",
            "--format",
            "{{.Id}} {{index .Config.Labels \"xtask.stages\"}}",
        ];
        args.extend(&ids);
        // Another test may remove one of them meanwhile: read what is left.
        let Ok(out) = self.engine.command(&args).output() else { return Vec::new() };
        let mine = format!("image={}", self.name);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| line.split_once(' '))
            .filter(|(_, label)| label.split(';').any(|field| field == mine))
            .map(|(id, _)| id.to_string())
            .collect()
    }

    /// Removes the repository's tags and former images, but not the untagged
    /// parents they leave (`--no-prune`): see [`sweep_at_exit`].
    pub fn remove_all(&self) {
        let engine = self.engine;
        // A pulled image is also named by its digest, which outlives its tags.
        let format = "{{.Tag}} {{.Digest}}";
        let listed = engine
            .try_docker(&["image", "ls", "--digests", "--format", format, &self.name])
            .unwrap_or_default();
        let mut refs = vec!["rmi", "-f", "--no-prune"];
        let named: Vec<String> = listed
            .lines()
            .filter_map(|line| line.split_once(' '))
            .flat_map(|(tag, digest)| {
                let tag = (tag != "<none>").then(|| self.tag(tag));
                let digest = (digest != "<none>").then(|| format!("{}@{digest}", self.name));
                tag.into_iter().chain(digest)
            })
            .collect();
        if !named.is_empty() {
            refs.extend(named.iter().map(String::as_str));
            let _ = engine.docker_ok(&refs);
        }
        // Former images, and any image whose label names this repository
        // that another removal left dangling: until none is left. Build
        // steps with children wait for `remove_orphans`.
        for _ in 0..5 {
            let left = self.dangling();
            if left.is_empty() {
                break;
            }
            for id in left {
                let _ = engine.docker_ok(&["rmi", "--no-prune", &id]);
            }
        }
    }
}

impl Drop for Repo {
    fn drop(&mut self) {
        self.remove_all();
    }
}

/// The legacy builder's cache is made of untagged intermediate images, which
/// tests with the same first steps share (`FROM <base>` then `ENV S0=1`).
/// Removing one test's images with their parents would remove intermediates
/// that another test's build is about to reuse ("failed to get digest"), so
/// a test removes its own images only (`--no-prune`), and the intermediates
/// left on an engine are removed once, when the test process exits, after
/// every test.
fn sweep_at_exit(engine: Engine) {
    static REGISTERED: Once = Once::new();
    static USED: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];
    extern "C" {
        fn atexit(callback: extern "C" fn()) -> i32;
    }
    extern "C" fn sweep() {
        for engine in [Engine::First, Engine::Modern] {
            if USED[engine as usize].load(Ordering::SeqCst) {
                remove_orphans(engine);
            }
        }
    }
    USED[engine as usize].store(true, Ordering::SeqCst);
    // SAFETY: registers a plain function, once; it runs at exit, after the tests.
    REGISTERED.call_once(|| unsafe {
        atexit(sweep);
    });
}

/// Whether `id` is built on `base`, following `parents` (untagged images).
fn descends(parents: &HashMap<String, String>, base: &str, id: &str) -> bool {
    let mut id = id.to_string();
    for _ in 0..10_000 {
        match parents.get(&id) {
            Some(parent) if parent == base => return true,
            Some(parent) => id = parent.clone(),
            None => return false,
        }
    }
    false
}

/// Removes the untagged images built on the tests' base image that no image
/// is built on any more, children first, until none is left.
fn remove_orphans(engine: Engine) {
    loop {
        // Every untagged image, intermediate ones included (`dangling=true`
        // leaves out those that have children).
        let Ok(listed) =
            engine.try_docker(&["image", "ls", "-a", "--no-trunc", "--format", "{{.ID}} {{.Tag}}"])
        else {
            return;
        };
        let ids: Vec<&str> = listed.lines().filter_map(|l| l.strip_suffix(" <none>")).collect();
        if ids.is_empty() {
            return;
        }
        let mut args = vec!["image", "inspect", "--format", "{{.Id}} {{.Parent}}"];
        args.extend(&ids);
        let Ok(out) = engine.command(&args).output() else { return };
        let parents: HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(id, p)| (id.to_string(), p.to_string())))
            .collect();
        let Ok(base) = engine.try_docker(&["image", "inspect", "--format", "{{.Id}}", BASE_IMAGE])
        else {
            return;
        };
        // Only descendants of the tests' own base: nothing else on the engine.
        let ours = |id: &str| descends(&parents, &base, id);
        let has_child = |id: &str| parents.values().any(|p| p == id);
        let leaves: Vec<&str> =
            ids.iter().copied().filter(|id| ours(id) && !has_child(id)).collect();
        if leaves.is_empty() {
            return;
        }
        let mut args = vec!["rmi", "--no-prune"];
        args.extend(&leaves);
        if !engine.docker_ok(&args) {
            return;
        }
    }
}

/// `<pid>-<salt>-<n>`: unique within this run, and (the salt is the time the
/// run started) across runs that had the same pid.
fn unique() -> String {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    static SALT: OnceLock<u32> = OnceLock::new();
    let salt = SALT.get_or_init(|| {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        now.subsec_micros() % 100_000
    });
    format!("{}-{salt}-{}", std::process::id(), COUNT.fetch_add(1, Ordering::Relaxed))
}

/// Runs `script` with busybox sh in `image` on the first engine.
pub fn run_in(image: &str, script: &str) -> String {
    Engine::First.run_in(image, script)
}
