//! `cargo xtask prune`: this repository's untagged former images go; tagged
//! images, another project's images and containers stay. On every engine.

use crate::status::four_stages;
use crate::support::docker::{docker, docker_ok, Engine, Repo, BASE_IMAGE};
use crate::support::Project;

/// A container made (never started) on `image`, removed when dropped.
struct Container(String, Engine);

impl Container {
    fn on(engine: Engine, image: &str) -> Container {
        Container(engine.docker(&["create", image, "/bin/true"]), engine)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.1.docker_ok(&["rm", "-f", &self.0]);
    }
}

/// Builds every stage, then rebuilds after `rounds` changes of stage 1:
/// each round leaves former stages 1-2 and the full image untagged.
fn build_and_rebuild(project: &Project, repo: &Repo, rounds: usize) {
    // A first step of its own: prune removes former images with their untagged
    // parents, which must not be the legacy cache that other tests build on.
    project.stages(&[
        &format!("FROM {BASE_IMAGE}\nENV S0={}\n", repo.name),
        "ENV S1=1\n",
        "ENV S2=1\n",
    ]);
    project.xtask(&["stages"]).env("DOCKER_IMAGE", &repo.name).run().ok();
    for round in 0..rounds {
        project.snippet("Dockerfile.stage1", &format!("ENV S1=round{round}\n"));
        project.xtask(&["stages"]).env("DOCKER_IMAGE", &repo.name).run().ok();
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

fn ids(repo: &Repo) -> Vec<(String, Option<String>)> {
    repo.tags().into_iter().map(|tag| (tag.clone(), repo.id(&tag))).collect()
}

on_every_engine! {
    fn prune_removes_this_projects_former_images_only(builder: Builder) {
        let (a, b) = (builder.repo("prune-a"), builder.repo("prune-b"));
        let (pa, pb) = (Project::on("prune-a", builder), Project::on("prune-b", builder));
        build_and_rebuild(&pa, &a, 1);
        build_and_rebuild(&pb, &b, 1);
        let (tagged_a, tagged_b, dangling_b) = (ids(&a), ids(&b), sorted(b.dangling()));
        if !builder.keeps_former_images() {
            // The containerd store drops an image whose tag a rebuild takes.
            assert_eq!((a.dangling(), dangling_b), (vec![], vec![]));
            pa.xtask(&["prune"]).env("DOCKER_IMAGE", &a.name).run().ok().stdout_has("nothing to remove");
            assert_eq!((ids(&a), ids(&b)), (tagged_a, tagged_b));
            return;
        }
        assert!(!a.dangling().is_empty() && !dangling_b.is_empty(), "rebuilds leave former images");

        let dry = pa.xtask(&["prune", "--dry-run"]).env("DOCKER_IMAGE", &a.name).run().ok();
        assert!(dry.stdout().contains("would remove") && dry.stdout().contains("former stage 2"), "{}", dry.stdout());
        assert!(!a.dangling().is_empty(), "a dry run removes nothing");

        let out = pa.xtask(&["prune"]).env("DOCKER_IMAGE", &a.name).run().ok();
        let last = out.stdout().lines().last().unwrap_or("").to_string();
        assert!(last.starts_with("removed ") && last.contains(" images, "), "{}", out.stdout());
        assert_eq!(a.dangling(), Vec::<String>::new());
        assert_eq!((ids(&a), ids(&b), sorted(b.dangling())), (tagged_a, tagged_b, dangling_b), "tagged images and the other project stay");
        pa.xtask(&["prune"]).env("DOCKER_IMAGE", &a.name).run().ok().stdout_has("nothing to remove");
    }
}

on_every_engine! {
    also_modern_legacy;
    fn an_image_the_engine_will_not_remove_is_kept(builder: Builder) {
        let repo = builder.repo("prune-kept");
        let project = Project::on("prune-kept", builder);
        if !builder.keeps_former_images() {
            // The containerd store drops the former image even when a
            // container still runs on it: nothing is left to keep.
            four_stages(&project);
            project.xtask(&["stages"]).env("DOCKER_IMAGE", &repo.name).run().ok();
            let container = Container::on(builder.engine(), &repo.tag("latest_stage3"));
            project.snippet("Dockerfile.stage1", "ENV S1=changed\n");
            project.xtask(&["stages"]).env("DOCKER_IMAGE", &repo.name).run().ok();
            assert_eq!(repo.dangling(), Vec::<String>::new());
            project.xtask(&["prune"]).env("DOCKER_IMAGE", &repo.name).run().ok().stdout_has("nothing to remove");
            assert!(builder.docker_ok(&["container", "inspect", &container.0]), "the container stays");
            return;
        }
        build_and_rebuild(&project, &repo, 1);
        let former = repo.dangling();
        // A stopped container holds one former image: the engine refuses it,
        // and prune never removes a container.
        let container = Container::on(builder.engine(), &former[0]);
        let out = project.xtask(&["prune"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        assert!(out.stdout().contains(&format!("kept {} that the engine would not remove", "1 image")), "{}", out.stdout());
        assert!(builder.docker_ok(&["container", "inspect", &container.0]), "the container stays");
        assert_eq!(repo.dangling(), [former[0].clone()]);
    }
}

#[test]
fn verify_tags_of_finished_runs_go_too() {
    let repo = Repo::new("prune-verify");
    let project = Project::new("prune-verify");
    four_stages(&project);
    // A pid above any kernel's pid_max: its process is surely gone.
    let leftover = repo.tag("xtask-verify-99999999");
    let alive = repo.tag(&format!("xtask-verify-{}", std::process::id()));
    for tag in [&leftover, &alive] {
        docker(&["tag", BASE_IMAGE, tag]);
    }
    let out = project.xtask(&["prune"]).env("DOCKER_IMAGE", &repo.name).run().ok();
    assert!(out.stdout().contains("verify image (xtask-verify-99999999"), "{}", out.stdout());
    assert_eq!(repo.tags(), [format!("xtask-verify-{}", std::process::id())]);
    assert!(docker_ok(&["image", "inspect", BASE_IMAGE]), "only the tag went");
}

#[test]
fn nothing_to_remove_is_not_an_error() {
    let repo = Repo::new("prune-none");
    let project = Project::new("prune-none");
    four_stages(&project);
    project
        .xtask(&["prune"])
        .env("DOCKER_IMAGE", &repo.name)
        .run()
        .ok()
        .stdout_has("nothing to remove");
}

#[test]
fn bad_input_removes_nothing() {
    let project = Project::new("prune-bad");
    four_stages(&project);
    project
        .xtask(&["prune", "all"])
        .run()
        .error(2, "unexpected argument `all` for `cargo xtask prune`");
    project
        .xtask(&["prune"])
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .run()
        .error(2, "the container engine is not reachable");
}

on_every_engine! {
    /// An image built by hand `FROM` a stage image inherits its label: once
    /// untagged, it is no former image of this project, and prune leaves it.
    fn an_image_built_by_hand_on_a_stage_is_left_alone(builder: Builder) {
        let repo = builder.repo("prune-by-hand");
        let hand = builder.repo("prune-by-hand-mine");
        let project = Project::on("prune-by-hand", builder);
        four_stages(&project);
        project.xtask(&["stages", "1"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        let dir = project.path("by-hand");
        for content in ["one", "two"] {
            project.write("by-hand/Dockerfile", format!("FROM {}\nRUN echo {content} > /x\n", repo.tag("latest_stage1")));
            builder.docker(&["build", "-q", "-t", &hand.tag("v1"), dir.to_str().unwrap()]);
        }
        let former_hand = repo.dangling();
        // The containerd store drops an image whose tag a build takes.
        assert_eq!(former_hand.len(), usize::from(builder.keeps_former_images()), "{former_hand:?}");
        let out = project.xtask(&["prune"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        out.stdout_has("nothing to remove");
        assert_eq!(repo.dangling(), former_hand, "the image built by hand stays");
    }
}
