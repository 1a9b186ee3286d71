//! The real Docker engine, for the tests that build: a busybox base image made
//! locally (nothing can be pulled), and image names each test owns.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

/// The locally imported base image every test snippet set builds on.
pub const BASE_IMAGE: &str = "xtask-test/busybox:latest";

/// Runs docker with `args`; panics with its output when it fails.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("cannot run docker");
    if !out.status.success() {
        panic!("docker {args:?} failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether docker `args` succeeds, output discarded.
pub fn docker_ok(args: &[&str]) -> bool {
    Command::new("docker")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes sure an engine answers and the base image exists. A test that needs
/// docker fails here, saying how to get one, rather than skipping.
pub fn engine() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        if !docker_ok(&["info"]) {
            panic!(
                "these tests need a running Docker engine and `docker info` fails.\n\
                 Start one: `sudo dockerd &` (add --storage-driver=vfs where overlay does not work),\n\
                 or install it first: `sudo apt-get install docker.io`. `.ci/run` does both."
            );
        }
        if !docker_ok(&["image", "inspect", BASE_IMAGE]) {
            import_busybox();
        }
    });
}

/// `docker import` of a rootfs holding a static busybox and its applets.
fn import_busybox() {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or_else(|| {
            panic!("the tests need a static busybox for their base image: `sudo apt-get install busybox-static`")
        });
    let rootfs = std::env::temp_dir().join(format!("xtask-rootfs-{}", std::process::id()));
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
    let mut tar = Command::new("tar")
        .args(["-C", rootfs.to_str().unwrap(), "-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let status = Command::new("docker")
        .args(["import", "-c", "ENV PATH=/bin", "-c", "CMD [\"/bin/sh\"]", "-", BASE_IMAGE])
        .stdin(tar.stdout.take().unwrap())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(
        status.success() && tar.wait().unwrap().success(),
        "docker import of the busybox rootfs failed"
    );
    let _ = std::fs::remove_dir_all(rootfs);
}

/// One of Docker's two builders, as the xtask reaches it: an engine program
/// (`DOCKER`) and `DOCKER_BUILDKIT`. Every test that builds runs on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builder {
    /// The legacy builder: `docker` from PATH with `DOCKER_BUILDKIT=0`.
    Legacy,
    /// BuildKit: a client that has it (Debian's 20.10 `/usr/bin/docker` has it
    /// built in; docker 28 needs buildx), with `DOCKER_BUILDKIT=1`.
    BuildKit,
}

impl Builder {
    /// The engine program the xtask is given as `DOCKER`.
    pub fn program(self) -> String {
        match self {
            Builder::Legacy => "docker".to_string(),
            Builder::BuildKit => buildkit_client().to_string(),
        }
    }

    /// The value of `DOCKER_BUILDKIT` for this builder.
    pub fn flag(self) -> &'static str {
        match self {
            Builder::Legacy => "0",
            Builder::BuildKit => "1",
        }
    }

    /// `docker` with `args` on this builder (a build by hand); panics with its
    /// output when it fails.
    pub fn docker(self, args: &[&str]) -> String {
        let out = Command::new(self.program())
            .args(args)
            .env("DOCKER_BUILDKIT", self.flag())
            .output()
            .expect("cannot run docker");
        if !out.status.success() {
            panic!(
                "{self:?}: docker {args:?} failed: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

/// The docker client that drives BuildKit: `XTASK_TEST_BUILDKIT_DOCKER`, else
/// Debian's `/usr/bin/docker`, else `docker`. Checked once with a real build,
/// so that a client without BuildKit fails here, saying what to install.
fn buildkit_client() -> &'static str {
    static CLIENT: OnceLock<String> = OnceLock::new();
    CLIENT.get_or_init(|| {
        engine();
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

/// An image repository owned by one test; its tags are removed when dropped.
pub struct Repo {
    pub name: String,
}

impl Repo {
    /// `xtask-test/<name>-<pid>-<n>`, so that tests running side by side (the
    /// same test on both builders, too) and repeated runs never collide.
    pub fn new(name: &str) -> Repo {
        Repo::named(format!("xtask-test/{name}-{}", unique()))
    }

    /// The same, under a registry host: `<host>/xtask-test/<name>-<pid>-<n>`.
    pub fn at(host: &str, name: &str) -> Repo {
        Repo::named(format!("{host}/xtask-test/{name}-{}", unique()))
    }

    fn named(name: String) -> Repo {
        engine();
        let repo = Repo { name };
        repo.remove_all();
        *LIVE.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        repo
    }

    pub fn tag(&self, tag: &str) -> String {
        format!("{}:{tag}", self.name)
    }

    /// The image id of `name:tag`, if it exists.
    pub fn id(&self, tag: &str) -> Option<String> {
        let out = Command::new("docker")
            .args(["image", "inspect", "--format", "{{.Id}}", &self.tag(tag)])
            .output()
            .unwrap();
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The tags of this repository that exist, sorted.
    pub fn tags(&self) -> Vec<String> {
        let out = docker(&["image", "ls", "--format", "{{.Tag}}", &self.name]);
        let mut tags: Vec<String> =
            out.lines().map(str::to_string).filter(|t| t != "<none>").collect();
        tags.sort();
        tags
    }

    /// The untagged images whose label says they were built for this
    /// repository (what rebuilds leave behind), oldest last.
    pub fn dangling(&self) -> Vec<String> {
        self.labelled(true)
    }

    /// The images whose label names this repository: only the untagged ones
    /// without children (`dangling`), or every one.
    fn labelled(&self, dangling: bool) -> Vec<String> {
        let mut args = vec!["image", "ls", "--no-trunc", "--quiet"];
        if dangling {
            args.extend(["--filter", "dangling=true"]);
        } else {
            args.push("--all");
        }
        args.extend(["--filter", "label=xtask.stages"]);
        let ids = docker(&args);
        let ids: Vec<&str> = ids.lines().filter(|l| !l.is_empty()).collect();
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
        let out = Command::new("docker").args(&args).output().unwrap();
        let mine = format!(";image={}", self.name);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|line| line.ends_with(&mine))
            .filter_map(|line| line.split(' ').next().map(str::to_string))
            .collect()
    }

    /// Removes every tag of the repository and the untagged images its
    /// rebuilds left.
    /// Removes the repository's tags and former images, but not the untagged
    /// parents they leave (`--no-prune`): see [`LIVE`].
    pub fn remove_all(&self) {
        for tag in self.tags() {
            let _ = docker_ok(&["rmi", "-f", "--no-prune", &self.tag(&tag)]);
        }
        // A pulled image is also named by its digest, which outlives its tags.
        let format = "{{.Repository}}@{{.Digest}}";
        for reference in
            docker(&["image", "ls", "--digests", "--format", format, &self.name]).lines()
        {
            if !reference.ends_with("@<none>") {
                let _ = docker_ok(&["rmi", "--no-prune", reference]);
            }
        }
        // Former images, and any image whose label names this repository that
        // another removal left untagged meanwhile: until none is left.
        for _ in 0..5 {
            let left = self.labelled(false);
            if left.is_empty() {
                break;
            }
            for id in left {
                let _ = docker_ok(&["rmi", "--no-prune", &id]);
            }
        }
    }
}

impl Drop for Repo {
    fn drop(&mut self) {
        self.remove_all();
        let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
        *live -= 1;
        if *live == 0 {
            remove_orphans();
        }
    }
}

/// How many `Repo`s exist: every test that builds holds one while it builds.
/// The legacy builder's cache is made of untagged intermediate images, which
/// tests with the same first steps share (`FROM <base>` then `ENV S0=1`).
/// Removing one test's images with their parents would remove intermediates
/// that another test's build is about to reuse ("failed to get digest"), so
/// they are removed only when no test holds a `Repo`: the count is held
/// (and new `Repo`s wait) meanwhile.
static LIVE: Mutex<usize> = Mutex::new(0);

/// Whether `id` is built on `base`, following `parents` (untagged images).
fn descends(parents: &std::collections::HashMap<String, String>, base: &str, id: &str) -> bool {
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
fn remove_orphans() {
    loop {
        // Every untagged image, intermediate ones included (`dangling=true`
        // leaves out those that have children).
        let listed = docker(&["image", "ls", "-a", "--no-trunc", "--format", "{{.ID}} {{.Tag}}"]);
        let ids: Vec<&str> = listed.lines().filter_map(|l| l.strip_suffix(" <none>")).collect();
        if ids.is_empty() {
            return;
        }
        let mut args = vec!["image", "inspect", "--format", "{{.Id}} {{.Parent}}"];
        args.extend(&ids);
        let out = Command::new("docker").args(&args).output().unwrap();
        let parents: std::collections::HashMap<String, String> =
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.split_once(' ').map(|(id, p)| (id.to_string(), p.to_string())))
                .collect();
        let base = docker(&["image", "inspect", "--format", "{{.Id}}", BASE_IMAGE]);
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
        if !docker_ok(&args) {
            return;
        }
    }
}

fn unique() -> String {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    format!("{}-{}", std::process::id(), COUNT.fetch_add(1, Ordering::Relaxed))
}

/// Runs `script` with busybox sh in `image` and returns what it prints.
pub fn run_in(image: &str, script: &str) -> String {
    docker(&["run", "--rm", "--entrypoint", "/bin/sh", image, "-c", script])
}

/// Every file of `image` with its type, mode, owner, size, content digest and
/// link target: what a user would call "the same files".
pub fn file_tree(image: &str) -> String {
    run_in(
        image,
        "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -name .dockerenv \
         -o -path /etc/hostname -o -path /etc/hosts -o -path /etc/resolv.conf \\) -prune \
         -o -print | sort | while read -r f; do \
           if [ -f \"$f\" ] && [ ! -L \"$f\" ]; then sum=$(md5sum < \"$f\"); else sum=-; fi; \
           echo \"$(stat -c '%N %f %u:%g %s' \"$f\") $sum\"; \
         done",
    )
}
