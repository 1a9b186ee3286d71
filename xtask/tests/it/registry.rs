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
    also_modern_legacy;
    /// One machine pushes stages 0-2; another, with none of them, builds stage 3
    /// by pulling stage 2 only.
    fn push_then_pull_only_what_is_missing(builder: Builder) {
        let registry = Registry::start();
        let repo = builder.repo_at(&registry.host, "shared");
        let project = four_stages("shared", builder);
        let out =
            project.xtask(&["stages", "0-2", "--push"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        let pushes = out.stderr().matches(&format!("$ {} push ", builder.program())).count();
        assert_eq!(pushes, 3, "{}", out.stderr());

        repo.remove_all();
        assert!(repo.tags().is_empty());
        let out = project.xtask(&["stages", "3", "--pull"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        assert_eq!(
            repo.tags(),
            ["latest_stage2", "latest_stage3"],
            "stages 0 and 1 must not appear locally"
        );
        let summary = out.stderr();
        let pull = format!("$ {} pull {}:latest_stage2", builder.program(), repo.name);
        assert!(summary.contains(&pull), "{summary}");
        assert!(!summary.contains("latest_stage1 "), "stage 1 is neither pulled nor built:\n{summary}");
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
    fn a_failed_pull_falls_back_to_building(builder: Builder) {
        let registry = Registry::start();
        let repo = builder.repo_at(&registry.host, "fallback");
        let project = four_stages("fallback", builder);
        project
            .xtask(&["stages", "1", "--pull"])
            .env("DOCKER_IMAGE", &repo.name)
            .run()
            .ok()
            .stderr_has(&format!("note: cannot pull {}:latest_stage0 (", repo.name))
            .stderr_has("): building it");
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
            .stderr_has("not built: stage 1");
        assert_eq!(repo.tags(), ["latest_stage0"]);
        assert!(!builder.docker_ok(&["image", "inspect", &repo.tag("latest_stage1")]));
    }
}
