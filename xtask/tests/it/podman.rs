//! `DOCKER=podman`: the same commands on another engine. Podman names local
//! images `localhost/<name>`, prints ids without `sha256:` and builds OCI
//! images that drop ONBUILD; the xtask must not care.

use std::process::{Command, Stdio};

use crate::support::Project;

fn podman(args: &[&str]) -> (bool, String) {
    let out = Command::new("podman").args(args).output().unwrap_or_else(|e| {
        panic!("this test needs podman: `sudo apt-get install podman` (.ci/run does it): {e}")
    });
    (out.status.success(), String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `podman image ls ARGS`. A listing can fail while another podman process
/// removes an image (containers/podman#24800, #12582): the other test's
/// clean-up does. Asked again until it answers, a few times at most; the
/// error is podman's last stderr.
fn podman_images(args: &[&str]) -> Result<String, String> {
    let mut last = String::new();
    for _ in 0..5 {
        let out = Command::new("podman").args(["image", "ls"]).args(args).output();
        match out {
            Ok(out) if out.status.success() => {
                return Ok(String::from_utf8_lossy(&out.stdout).trim().to_string());
            }
            Ok(out) => last = String::from_utf8_lossy(&out.stderr).into_owned(),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!("podman image ls {args:?} kept failing: {last}"))
}

/// Podman's own busybox base image, imported like the docker one.
fn base_image() -> &'static str {
    let base = "xtask-test/busybox:latest";
    if !podman(&["image", "exists", base]).0 {
        let rootfs =
            std::env::temp_dir().join(format!("xtask-podman-rootfs-{}", std::process::id()));
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("needs busybox-static");
        let applets = Command::new("/bin/busybox").arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&applets.stdout).lines().filter(|a| *a != "busybox") {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        let mut tar = Command::new("tar")
            .args(["-C", rootfs.to_str().unwrap(), "-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let status = Command::new("podman")
            .args(["import", "-c", "ENV PATH=/bin", "-", base])
            .stdin(tar.stdout.take().unwrap())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success() && tar.wait().unwrap().success(), "podman import failed");
        let _ = std::fs::remove_dir_all(rootfs);
    }
    base
}

/// A container made for a test, removed when dropped, however the test ends.
struct PodmanContainer(String);

impl Drop for PodmanContainer {
    fn drop(&mut self) {
        podman(&["rm", "-f", &self.0]);
    }
}

struct PodmanRepo(String);

impl Drop for PodmanRepo {
    fn drop(&mut self) {
        // Never a panic here: this may run while a failed test unwinds.
        let tags =
            podman_images(&["--format", "{{.Repository}}:{{.Tag}}", &self.0]).unwrap_or_default();
        for tag in tags.lines() {
            podman(&["rmi", "-f", tag]);
        }
    }
}

#[test]
fn stages_status_and_verify_on_podman() {
    let repo = PodmanRepo(format!("xtask-test/podman-{}", std::process::id()));
    let project = Project::new("podman");
    project.stages(&[
        &format!("FROM {}\nARG GREETING=hi", base_image()),
        "RUN echo \"$GREETING\" > /greeting",
        "CMD [\"cat\", \"/greeting\"]",
    ]);
    let run = |args: &[&str]| {
        project.xtask(args).env("DOCKER", "podman").env("DOCKER_IMAGE", &repo.0).run()
    };

    run(&["stages", "1"]).ok().stderr_has("$ podman build --force-rm -t");
    let tags = podman_images(&["--format", "{{.Repository}}:{{.Tag}}", &repo.0]).unwrap();
    let mut tags: Vec<&str> = tags.lines().collect();
    tags.sort();
    assert_eq!(
        tags,
        [
            format!("localhost/{}:latest_stage0", repo.0),
            format!("localhost/{}:latest_stage1", repo.0)
        ]
    );

    let status = run(&["status"]).ok().stdout();
    let states: Vec<&str> =
        status.lines().skip(1).map(|l| l.rsplit("  ").next().unwrap().trim()).collect();
    assert_eq!(states, ["fresh", "fresh", "missing", "missing"], "{status}");

    run(&["stages", "2"]).ok();
    let cmd = podman(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Cmd}}",
        &format!("{}:latest_stage2", repo.0),
    ])
    .1;
    assert_eq!(cmd, r#"["cat","/greeting"]"#);
    // `podman run` cannot start containers in this sandbox (rlimits), but
    // builds and `podman export` work: verify reads the files that way.
    run(&["verify"]).ok().stdout_has("agree");
}

/// On podman, prune counts as kept what the engine keeps (its refusal does
/// not name the image), and finds a verify run's leftover tag under podman's
/// own name for it, `localhost/...`.
#[test]
fn prune_on_podman() {
    let repo = PodmanRepo(format!("xtask-test/podman-prune-{}", std::process::id()));
    let project = Project::new("podman-prune");
    let run = |args: &[&str]| {
        project.xtask(args).env("DOCKER", "podman").env("DOCKER_IMAGE", &repo.0).run()
    };
    // The former stage 0 is what round one tagged. (A listing of dangling
    // images would also show the other podman test's.)
    let mut former = String::new();
    for round in ["one", "two"] {
        project.stages(&[&format!("FROM {}\nRUN echo {round} > /round", base_image())]);
        run(&["stages", "0"]).ok();
        if former.is_empty() {
            let stage0 = format!("{}:latest_stage0", repo.0);
            former = podman(&["image", "inspect", "--format", "{{.Id}}", &stage0]).1;
        }
    }
    assert!(!former.is_empty(), "round one tagged stage 0");
    let (made, id) = podman(&["create", &former, "/bin/true"]);
    assert!(made, "podman create");
    let container = PodmanContainer(id);
    let leftover = format!("{}:xtask-verify-99999999", repo.0);
    podman(&["tag", &format!("{}:latest_stage0", repo.0), &leftover]);

    let out = run(&["prune"]).ok().stdout();
    drop(container);
    assert!(out.contains("verify image (xtask-verify-99999999, its process is gone)"), "{out}");
    assert!(out.contains("kept 1 image that the engine would not remove"), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("kept ") && l.contains("image is in use by a container")),
        "{out}"
    );
    assert!(!podman(&["image", "exists", &leftover]).0, "the leftover tag is gone");
    // The container is gone: the former image goes now.
    run(&["prune"]).ok().stdout_has("removed 1 image");
}
