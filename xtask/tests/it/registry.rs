//! Sharing stage images through a real local registry: `--push` and `--pull`.

use crate::support::docker::{Builder, BASE_IMAGE};
use crate::support::registry::Registry;
use crate::support::Project;

fn four_stages(name: &str, builder: Builder) -> Project {
    let project = Project::on(name, builder);
    project.stages(&[
        &format!("FROM {BASE_IMAGE}\nCOPY a /a"),
        "COPY b /b",
        "COPY c /c",
        "COPY d /d",
    ]);
    for f in ["a", "b", "c", "d"] {
        project.write(f, f);
    }
    project
}

on_every_engine! {
    /// One machine pushes stages 0-2; another, with none of them, builds stage 3
    /// by pulling stage 2 only, by its key tag.
    fn push_then_pull_only_what_is_missing(builder: Builder) {
        let registry = Registry::start();
        let repo = builder.repo_at(&registry.host, "shared");
        let project = four_stages("shared", builder);
        let out =
            project.xtask(&["stages", "0-2", "--push"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        let stderr = out.stderr();
        let pushes: Vec<&str> =
            stderr.lines().filter(|l| l.starts_with("$ ") && l.contains(" push ")).collect();
        assert_eq!(pushes.len(), 6, "three stage tags and three key tags:\n{stderr}");
        assert!(pushes[1].contains(&format!("{}:stage0-", repo.name)), "{pushes:?}");
        assert_eq!(repo.tags(), ["latest_stage0", "latest_stage1", "latest_stage2"], "key tags are not kept");

        repo.remove_all();
        assert!(repo.tags().is_empty());
        let out = project.xtask(&["stages", "3", "--pull"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        assert_eq!(
            repo.tags(),
            ["latest_stage2", "latest_stage3"],
            "stages 0 and 1 must not appear locally"
        );
        let summary = out.stderr();
        let pulls: Vec<&str> =
            summary.lines().filter(|l| l.starts_with("$ ") && l.contains(" pull ")).collect();
        assert_eq!(pulls.len(), 1, "{summary}");
        assert!(pulls[0].contains(&format!("{}:stage2-", repo.name)), "{summary}");
        assert!(
            summary.lines().any(|l| l.contains("latest_stage2") && l.ends_with("pulled")),
            "{summary}"
        );
        assert!(
            summary.lines().any(|l| l.contains("latest_stage3") && l.ends_with("built")),
            "{summary}"
        );

        let status = project.xtask(&["status"]).env("DOCKER_IMAGE", &repo.name).run().ok().stdout();
        let states: Vec<&str> =
            status.lines().skip(1).map(|l| l.rsplit("  ").next().unwrap().trim()).collect();
        assert_eq!(states, ["missing", "missing", "fresh", "fresh", "missing"], "{status}");
    }
}

on_every_engine! {
    also_modern_legacy;
    /// Nothing of the project in the registry: every missing stage is built,
    /// with no word about the lookups.
    fn a_registry_without_the_keys_means_building(builder: Builder) {
        let registry = Registry::start();
        let repo = builder.repo_at(&registry.host, "fallback");
        let project = four_stages("fallback", builder);
        project
            .xtask(&["stages", "1", "--pull"])
            .env("DOCKER_IMAGE", &repo.name)
            .run()
            .ok()
            .stderr_lacks("warning:");
        assert_eq!(repo.tags(), ["latest_stage0", "latest_stage1"]);
    }
}

on_every_engine! {
    fn a_failed_push_stops_the_run_and_names_the_tag(builder: Builder) {
        // Nothing listens on port 1.
        let repo = builder.repo_at("127.0.0.1:1", "push-fails");
        let project = four_stages("push-fails", builder);
        project
            .xtask(&["stages", "0", "1", "--push"])
            .env("DOCKER_IMAGE", &repo.name)
            .run()
            .error(1, &format!("pushing {}:latest_stage0 failed:", repo.name))
            .stderr_has("run the same command again (what was built stays tagged here)")
            .stderr_has("not built: stage 1");
        assert_eq!(repo.tags(), ["latest_stage0"]);
        assert!(!builder.docker_ok(&["image", "inspect", &repo.tag("latest_stage1")]));
    }
}
