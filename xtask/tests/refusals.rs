//! Bad input: exit 2, a one-line `error:` naming the file, stage or value, a
//! line saying what to do, no panic, and nothing written.

mod support;

use support::Project;

const COMMITTED: &str = "# the committed Dockerfile, which a refused run must not touch\n";

/// A project with a committed Dockerfile and the given snippets.
fn project(name: &str, snippets: &[(&str, &[u8])]) -> Project {
    let project = Project::new(name);
    project.write("Dockerfile", COMMITTED);
    for (file, text) in snippets {
        project.write(&format!(".docker/{file}"), text);
    }
    project
}

/// Runs `dockerfile` and asserts the refusal and that nothing was written.
fn refused(project: &Project, args: &[&str], message: &str) {
    let before = project.files();
    project.xtask(args).run().error(2, message);
    assert_eq!(project.read("Dockerfile"), COMMITTED, "the Dockerfile was touched");
    assert_eq!(project.files(), before, "a refused run wrote files");
}

#[test]
fn unknown_flag_and_stray_argument() {
    let p = project("flags", &[("Dockerfile.stage0", b"FROM a\n")]);
    refused(
        &p,
        &["dockerfile", "--force"],
        "unknown option `--force` for `cargo xtask dockerfile`",
    );
    refused(&p, &["dockerfile", "now"], "unexpected argument `now`");
    refused(&p, &["dockerfiles"], "unknown command `dockerfiles`");
}

#[test]
fn stages_dir_missing() {
    let p = project("no-dir", &[]);
    refused(&p, &["dockerfile"], "stages dir .docker does not exist");
    let out = p
        .xtask(&["dockerfile"])
        .env("STAGES_DIR", "elsewhere")
        .run()
        .error(2, "stages dir elsewhere does not exist");
    assert!(out.stderr().contains("STAGES_DIR"), "the hint names the setting");
}

#[test]
fn no_snippets() {
    let p = project("empty", &[("Dockerfile.stage0~", b"FROM a\n"), ("README", b"x")]);
    refused(&p, &["dockerfile"], "no snippets in .docker");
    refused(&p, &["dockerfile", "--check"], "no snippets in .docker");
}

#[test]
fn non_utf8_snippet() {
    let p = project(
        "latin1",
        &[("Dockerfile.stage0", b"FROM a\n"), ("Dockerfile.stage1", b"RUN echo caf\xe9\n")],
    );
    refused(&p, &["dockerfile"], ".docker/Dockerfile.stage1 is not UTF-8");
}

#[test]
fn parser_directive_outside_the_top_of_snippet_0() {
    let p = project(
        "directive-late",
        &[("Dockerfile.stage0", b"FROM a\n# syntax=docker/dockerfile:1\n")],
    );
    refused(
        &p,
        &["dockerfile"],
        ".docker/Dockerfile.stage0:2: parser directive `syntax` below the top",
    );
    let p = project(
        "directive-other",
        &[("Dockerfile.stage0", b"FROM a\n"), ("Dockerfile.stage1", b"# escape=`\nRUN x\n")],
    );
    refused(
        &p,
        &["dockerfile"],
        ".docker/Dockerfile.stage1:1: parser directive `escape` in a snippet other than the first",
    );
}

#[test]
fn stage_name_disagrees_with_position() {
    let p =
        project("gap", &[("Dockerfile.stage0", b"FROM a\n"), ("Dockerfile.stage2", b"RUN x\n")]);
    refused(&p, &["dockerfile"], ".docker/Dockerfile.stage2 says it is stage 2 but it is stage 1");
}

#[test]
fn two_snippets_claim_one_stage() {
    let p = project(
        "twice",
        &[
            ("Dockerfile.stage0", b"FROM a\n"),
            ("Dockerfile.stage1", b"RUN x\n"),
            ("Dockerfile.stage01", b"RUN y\n"),
        ],
    );
    refused(
        &p,
        &["dockerfile"],
        ".docker/Dockerfile.stage01 and .docker/Dockerfile.stage1 both say they are stage 1",
    );
}

#[test]
fn from_in_a_later_snippet() {
    let p = project(
        "late-from",
        &[("Dockerfile.stage0", b"FROM a\n"), ("Dockerfile.stage1", b"RUN x \\\n  from b\n")],
    );
    p.xtask(&["dockerfile"]).run().ok();
    let p = project(
        "late-from2",
        &[("Dockerfile.stage0", b"FROM a\n"), ("Dockerfile.stage1", b"RUN x\nfrom b\n")],
    );
    refused(
        &p,
        &["dockerfile"],
        ".docker/Dockerfile.stage1:2: FROM in stage 1: the chain supplies it",
    );
}

#[test]
fn copy_from_a_build_stage_of_another_snippet() {
    let stage0: &[u8] = b"FROM a AS builder\nRUN make\nFROM b\n";
    let p = project(
        "copy-from",
        &[("Dockerfile.stage0", stage0), ("Dockerfile.stage1", b"COPY --from=builder /out /app\n")],
    );
    refused(
        &p,
        &["dockerfile"],
        ".docker/Dockerfile.stage1:1: `builder` names a build stage of .docker/Dockerfile.stage0",
    );
    let p = project(
        "mount-from",
        &[
            ("Dockerfile.stage0", stage0),
            ("Dockerfile.stage1", b"RUN --mount=type=bind,from=builder,target=/b true\n"),
        ],
    );
    refused(&p, &["dockerfile"], "`builder` names a build stage");
}

#[test]
fn snippet_ending_mid_instruction() {
    let p = project(
        "dangling",
        &[("Dockerfile.stage0", b"FROM a\nRUN x \\\n"), ("Dockerfile.stage1", b"RUN y\n")],
    );
    refused(
        &p,
        &["dockerfile"],
        ".docker/Dockerfile.stage0:2: the snippet ends inside a continued RUN instruction",
    );
    let p = project("heredoc", &[("Dockerfile.stage0", b"FROM a\nRUN <<EOF\necho\n")]);
    refused(&p, &["dockerfile"], "heredoc `EOF` is never terminated");
}

#[test]
fn first_snippet_without_from() {
    let p = project("no-from", &[("Dockerfile.stage0", b"RUN x\n")]);
    refused(&p, &["dockerfile"], ".docker/Dockerfile.stage0 has no FROM");
}

#[test]
fn invalid_image_reference() {
    let p = project("bad-image", &[("Dockerfile.stage0", b"FROM a\n")]);
    for bad in ["App", "ns/app;touch pwned", "$(touch pwned)", "a b", "ns/app@sha256:00"] {
        let out = p
            .xtask(&["dockerfile"])
            .env("DOCKER_IMAGE", bad)
            .run()
            .error(2, "invalid image reference");
        assert!(out.stderr().contains("DOCKER_IMAGE"), "{bad}");
        assert_eq!(p.read("Dockerfile"), COMMITTED);
        assert!(!p.exists("pwned"));
    }
}

#[test]
fn onbuild_and_secret_args_warn_but_generate() {
    let p = project(
        "warnings",
        &[
            ("Dockerfile.stage0", b"FROM a\nARG API_TOKEN\nONBUILD RUN x\n"),
            ("Dockerfile.stage1", b"RUN y\n"),
        ],
    );
    p.xtask(&["dockerfile"])
        .run()
        .ok()
        .stderr_has("warning: .docker/Dockerfile.stage0:2: ARG API_TOKEN looks like a secret")
        .stderr_has("warning: .docker/Dockerfile.stage0:3: ONBUILD in stage 0");
}
