//! `cargo xtask stages` and `status` against the real Docker engine, on a
//! busybox base image the tests import themselves.

use crate::support::docker::BASE_IMAGE;
use crate::support::Project;

/// Three stages with ARGs declared in one stage and used in later ones, a
/// bare ARG inheriting a default, and the backtick escape directive.
fn args_and_escape(project: &Project) {
    project.stages(&[
        &format!(
            "# escape=`\nARG BASE={BASE_IMAGE}\nFROM ${{BASE}}\nARG APP_ENV_NAME=none\nARG GREETING=\"hello there\"\nARG DIR=/data\n\
             RUN mkdir -p ${{DIR}} && echo \"${{GREETING}}\" `\n    > ${{DIR}}/greeting && echo \"$APP_ENV_NAME\" > ${{DIR}}/env0\n"
        ),
        "ARG SUFFIX=one\nARG GREETING\nRUN echo \"${GREETING}-${SUFFIX}\" > ${DIR}/s1 `\n && echo C:\\app > ${DIR}/path && echo \"$APP_ENV_NAME\" > ${DIR}/env1\n",
        "ARG SUFFIX=two\nRUN echo \"${GREETING}-${SUFFIX}-${DIR}\" > ${DIR}/s2 && echo \"$APP_ENV_NAME\" > ${DIR}/env2\nCMD [\"cat\", \"/data/s2\"]\n",
    ]);
}

on_every_engine! {
    fn every_stage_then_the_full_image_with_the_same_files(builder: Builder) {
        let repo = builder.repo("full");
        let project = Project::on("full", builder);
        args_and_escape(&project);
        let out = project
            .xtask(&["stages"])
            .env("DOCKER_IMAGE", &repo.name)
            .env("A_ENV_NAME", "ci")
            .run()
            .ok();
        assert_eq!(repo.tags(), ["latest", "latest_stage0", "latest_stage1", "latest_stage2"]);
        for row in ["latest_stage2", "built", "seconds"] {
            assert!(out.stderr().contains(row), "summary lacks {row}");
        }

        let chain = builder.file_tree(&repo.tag("latest_stage2"));
        let main = builder.file_tree(&repo.tag("latest"));
        assert_eq!(chain, main, "the chain and the main Dockerfile made different files");
        assert!(chain.contains("/data/s2"), "{chain}");
        // s1 and s2 depend on the builder (a bare ARG keeps its value in BuildKit
        // and empties it in the legacy builder): the tree comparison covers them.
        assert_eq!(
            builder.run_in(
                &repo.tag("latest_stage2"),
                "cat /data/greeting /data/path /data/env0 /data/env1 /data/env2"
            ),
            "hello there\nC:app\nci\nci\nci"
        );
    }
}

on_every_engine! {
    fn one_stage_from_nothing_builds_its_ancestors_only(builder: Builder) {
        let repo = builder.repo("ancestors");
        let project = Project::on("ancestors", builder);
        project.stages(&[
            &format!("FROM {BASE_IMAGE}\nCOPY a /a"),
            "COPY b /b",
            "COPY c /c",
            "COPY d /d",
            "COPY e /e",
        ]);
        for f in ["a", "b", "c", "d", "e"] {
            project.write(f, f);
        }
        project.xtask(&["stages", "3"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        assert_eq!(repo.tags(), ["latest_stage0", "latest_stage1", "latest_stage2", "latest_stage3"]);

        let stage3 = repo.id("latest_stage3").unwrap();
        project.write("d", "changed code");
        project.xtask(&["stages", "stage4"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        assert_eq!(repo.id("latest_stage3").unwrap(), stage3, "stage 4 alone must not rebuild stage 3");
        assert_eq!(builder.run_in(&repo.tag("latest_stage4"), "cat /d /e"), "de");
    }
}

on_every_engine! {
    also_modern_legacy;
    fn a_failing_stage_stops_the_chain_and_names_itself(builder: Builder) {
        let repo = builder.repo("failing");
        let project = Project::on("failing", builder);
        project.stages(&[
            &format!("FROM {BASE_IMAGE}"),
            "RUN echo about to fail && exit 7",
            "RUN echo never",
        ]);
        project
            .xtask(&["stages"])
            .env("DOCKER_IMAGE", &repo.name)
            .run()
            .error(1, "stage 1 (.docker/Dockerfile.stage1) failed: ")
            .stderr_has("not built: stage 2, the full image")
            .stderr_has("about to fail");
        assert_eq!(repo.tags(), ["latest_stage0"]);
    }
}

on_every_engine! {
    fn status_follows_snippet_changes_and_parent_rebuilds(builder: Builder) {
        let repo = builder.repo("status");
        let project = Project::on("status", builder);
        project.stages(&[&format!("FROM {BASE_IMAGE}\nENV S0=1"), "ENV S1=1", "ENV S2=1"]);
        let status = |p: &Project| {
            let out = p.xtask(&["status"]).env("DOCKER_IMAGE", &repo.name).run().ok();
            out.stdout()
                .lines()
                .skip(1)
                .map(|l| l.split("  ").filter(|c| !c.is_empty()).last().unwrap().trim().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(status(&project), ["missing", "missing", "missing", "missing"]);
        project.xtask(&["stages", "1"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        assert_eq!(status(&project), ["fresh", "fresh", "missing", "missing"]);
        project.xtask(&["stages", "2"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        assert_eq!(status(&project), ["fresh", "fresh", "fresh", "missing"]);

        project.snippet("Dockerfile.stage1", "ENV S1=2\n");
        assert_eq!(
            status(&project),
            ["fresh", "stale (snippet changed)", "stale (stage 1 below is stale)", "missing"]
        );
        let files_before = project.files();
        project.xtask(&["stages", "1"]).env("DOCKER_IMAGE", &repo.name).run().ok();
        assert_eq!(status(&project), ["fresh", "fresh", "stale (parent rebuilt)", "missing"]);
        project
            .xtask(&["status"])
            .env("DOCKER_IMAGE", &repo.name)
            .run()
            .ok()
            .stdout_has(".docker/Dockerfile.stage2");
        assert_ne!(files_before, project.files(), "stages regenerates the chain");
        let files_after = project.files();
        status(&project);
        assert_eq!(files_after, project.files(), "status writes nothing");
    }
}

on_every_engine! {
    fn image_names_with_a_registry_port_and_tag(builder: Builder) {
        let registry_repo = builder.repo_at("localhost:5000", "port");
        let name = registry_repo.name.clone();
        let project = Project::on("port", builder);
        project.stages(&[&format!("FROM {BASE_IMAGE}"), "ENV X=1"]);
        project.xtask(&["stages", "1"]).env("DOCKER_IMAGE", format!("{name}:v2")).run().ok();
        assert_eq!(registry_repo.tags(), ["v2_stage0", "v2_stage1"]);
        assert!(project
            .read(".docker/generated/Dockerfile.stage1")
            .contains(&format!("\nFROM {name}:v2_stage0\n")));
    }
}
