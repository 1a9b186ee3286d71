//! `cargo xtask status`: every stage and the full image, with every reason
//! that applies, on every engine.

use crate::support::docker::{Repo, BASE_IMAGE};
use crate::support::Project;

/// Four cheap stages and their full image.
pub fn four_stages(project: &Project) {
    project.stages(&[
        &format!("FROM {BASE_IMAGE}\nENV S0=1\n"),
        "ENV S1=1\n",
        "ENV S2=1\n",
        "ENV S3=1\n",
    ]);
}

/// The state column of `cargo xtask status`, one entry per row (stages, then full).
pub fn states(project: &Project, repo: &Repo) -> Vec<String> {
    let out = project.xtask(&["status"]).env("DOCKER_IMAGE", &repo.name).run().ok();
    out.stdout()
        .lines()
        .skip(1)
        .map(|line| {
            let at = line
                .find(" missing")
                .or_else(|| line.find(" fresh"))
                .or_else(|| line.find(" stale"));
            line[at.map_or(0, |at| at + 1)..].trim().to_string()
        })
        .collect()
}

on_every_engine! {
    fn a_middle_snippet_change_shows_on_every_row_above_it(builder: Builder) {
        let repo = builder.repo("status-middle");
        let project = Project::on("status-middle", builder);
        four_stages(&project);
        project.xtask(&["stages"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        assert_eq!(states(&project, &repo), ["fresh"; 5]);

        project.snippet("Dockerfile.stage2", "ENV S2=2\n");
        assert_eq!(
            states(&project, &repo),
            [
                "fresh",
                "fresh",
                "stale (snippet changed)",
                "stale (stage 2 below is stale)",
                "stale (Dockerfile changed)",
            ]
        );
    }
}

on_every_engine! {
    also_modern_legacy;
    fn rows_carry_the_full_image_size_and_age(builder: Builder) {
        let repo = builder.repo("status-columns");
        let project = Project::on("status-columns", builder);
        four_stages(&project);
        project.xtask(&["stages", "0"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        let out = project.xtask(&["status"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        let printed = out.stdout();
        let lines: Vec<&str> = printed.lines().collect();
        assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["stage", "snippet", "image", "size", "age", "state"]);
        let stage0: Vec<&str> = lines[1].split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
        assert!(stage0[3].ends_with('B') && stage0[4].ends_with(" ago"), "{stage0:?}");
        let full: Vec<&str> = lines[5].split_whitespace().collect();
        assert_eq!(full, ["full", "Dockerfile", &repo.tag("latest"), "-", "-", "missing"]);
    }
}

on_every_engine! {
    fn a_stage_built_by_hand_is_not_ours(builder: Builder) {
        let repo = builder.repo("status-hand");
        let project = Project::on("status-hand", builder);
        four_stages(&project);
        project.xtask(&["stages"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        let tag = repo.tag("latest_stage2");
        let chain = project.path(".docker/generated/Dockerfile.stage2");
        let root = project.root.to_str().unwrap();
        builder.docker(&["build", "-q", "-t", &tag, "-f", chain.to_str().unwrap(), root]);
        assert_eq!(
            states(&project, &repo),
            [
                "fresh",
                "fresh",
                "stale (not built by cargo xtask stages)",
                "stale (parent rebuilt, stage 2 below is stale)",
                "fresh",
            ]
        );
    }
}

#[test]
fn a_repository_without_images_is_all_missing() {
    let repo = Repo::new("status-none");
    let project = Project::new("status-none");
    four_stages(&project);
    assert_eq!(states(&project, &repo), ["missing"; 5]);
}

#[test]
fn an_unreachable_engine_is_an_environment_error() {
    let project = Project::new("status-unreachable");
    four_stages(&project);
    project
        .xtask(&["status"])
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .run()
        .error(2, "the container engine is not reachable");
}
