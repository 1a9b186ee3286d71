//! Issue 7, point 1: the bad-input matrix. Every class of bad input, run
//! end to end on the real binary, must give exit 2, a first `error:` line
//! naming the offending file, stage or value, a second line saying what to do,
//! no panic text, nothing on stdout, the committed Dockerfile byte-for-byte
//! unchanged and no other file written, and no build, pull or push.
//!
//! One test per class (`class_NN_...`); each runs every variant of its class
//! through [`refused`]. Commands that need an engine run with a recording fake
//! `docker` first on PATH.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::support::{FakeEngine, Project};

/// A recognisable committed Dockerfile, which no refused run may touch.
const COMMITTED: &[u8] =
    b"# committed by hand for the bad-input matrix: a refused run must not touch it\nFROM committed:1\n";

/// Snippet files of `.docker/` and their bytes.
type Snippets<'a> = &'a [(&'a str, &'a [u8])];

/// Three good snippets, for classes where the snippets are not the problem.
const GOOD: Snippets<'static> = &[
    ("Dockerfile.stage0", b"FROM busybox\nARG A=1\n"),
    ("Dockerfile.stage1", b"RUN one\n"),
    ("Dockerfile.stage2", b"RUN two\n"),
];

/// One bad input: the project's snippets (in `.docker/`), the command line,
/// the settings, and what the two lines of the refusal must hold.
struct Bad<'a> {
    snippets: Snippets<'a>,
    args: &'a [&'a [u8]],
    env: &'a [(&'a str, &'a str)],
    /// Held by the `error:` line: it names the offending file, stage or value.
    error: &'a str,
    /// Held by the line after it: what to do.
    hint: &'a str,
}

impl Default for Bad<'_> {
    fn default() -> Self {
        Bad { snippets: GOOD, args: &[b"dockerfile"], env: &[], error: "", hint: "" }
    }
}

/// Runs one bad input in a project of its own and asserts the refusal.
fn refused(class: &str, bad: Bad<'_>) {
    let project = Project::new(class);
    project.write("Dockerfile", COMMITTED);
    for (file, text) in bad.snippets {
        project.write(&format!(".docker/{file}"), text);
    }
    let fake = FakeEngine::new(&project);
    let before = project.files();

    let mut run = project.xtask(&[]).env("PATH", fake.path());
    run.command.args(bad.args.iter().map(|a| OsStr::from_bytes(a)));
    for (name, value) in bad.env {
        run = run.env(name, *value);
    }
    let out = run.run().error(2, bad.error);

    // Exactly two lines (warnings aside): the error, then what to do.
    let stderr = out.stderr();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("warning: ")).collect();
    if lines.len() != 2 || !lines[0].starts_with("error: ") || !lines[1].contains(bad.hint) {
        out.fail(&format!(
            "[{class}] expected exactly `error: ...{}...` then a line holding {:?}",
            bad.error, bad.hint
        ));
    }
    if lines[1].starts_with("error") || lines[1].trim().is_empty() {
        out.fail(&format!("[{class}] the second line must say what to do"));
    }
    if !out.stdout().is_empty() {
        out.fail(&format!("[{class}] a refused run printed on stdout"));
    }
    if std::fs::read(project.path("Dockerfile")).unwrap() != COMMITTED {
        out.fail(&format!("[{class}] the committed Dockerfile changed"));
    }
    if project.files() != before {
        out.fail(&format!(
            "[{class}] a refused run wrote files: before {:?}, after {:?}",
            before.keys().collect::<Vec<_>>(),
            project.files().keys().collect::<Vec<_>>()
        ));
    }
    let changes: Vec<String> = fake
        .take_calls()
        .into_iter()
        .filter(|c| ["[build]", "[push]", "[pull]", "[tag]"].iter().any(|k| c.starts_with(k)))
        .collect();
    if !changes.is_empty() {
        out.fail(&format!("[{class}] a refused run ran the engine: {changes:?}"));
    }
    for name in ["pwned", "pwned2"] {
        assert!(!project.exists(name), "[{class}] `{name}` appeared: a value reached a shell");
    }
}

#[test]
fn class_01_unknown_flag() {
    for (args, error, hint) in [
        (
            &[&b"dockerfile"[..], b"--force"][..],
            "unknown option `--force` for `cargo xtask dockerfile`",
            "cargo xtask dockerfile --help",
        ),
        (&[b"dockerfile", b"--check", b"-x"], "unknown option `-x`", "--help"),
        (&[b"stages", b"--dry"], "unknown option `--dry` for `cargo xtask stages`", "--help"),
        (&[b"stages", b"1", b"--push-all"], "unknown option `--push-all`", "--help"),
        (&[b"status", b"--verbose"], "unknown option `--verbose`", "--help"),
    ] {
        refused("unknown-flag", Bad { args, error, hint, ..Bad::default() });
    }
}

#[test]
fn class_02_stray_argument() {
    for (args, error) in [
        (
            &[&b"dockerfile"[..], b"now"][..],
            "unexpected argument `now` for `cargo xtask dockerfile`",
        ),
        (&[b"dockerfile", b"--check", b"HEAD"], "unexpected argument `HEAD`"),
        (&[b"dockerfile", b"--", b"x"], "unexpected argument `--` for `cargo xtask dockerfile`"),
        (&[b"status", b"1"], "unexpected argument `1` for `cargo xtask status`"),
    ] {
        refused("stray-argument", Bad { args, error, hint: "--help", ..Bad::default() });
    }
}

#[test]
fn class_03_unknown_command() {
    for (args, error) in [
        (&[&b"dockerfiles"[..]][..], "unknown command `dockerfiles`"),
        (&[b"build", b"1"], "unknown command `build`"),
    ] {
        refused("unknown-command", Bad { args, error, hint: "--help", ..Bad::default() });
    }
}

#[test]
fn class_04_stage_id_neither_number_nor_name() {
    // The word given, and the part of it the error names.
    for (word, named) in [
        ("x", "x"),
        ("1.5", "1.5"),
        ("stage9", "stage9"),
        ("+1", "+1"),
        ("0x1", "0x1"),
        ("Stage1", "Stage1"),
        ("\u{ff11}", "\u{ff11}"),
        ("stage 1", "stage"),
        ("0,,nope", "nope"),
    ] {
        refused(
            "stage-id",
            Bad {
                args: &[b"stages", word.as_bytes()],
                error: &format!("unknown stage `{named}`"),
                hint: "stages are 0-2 (stage0, stage1, stage2)",
                ..Bad::default()
            },
        );
    }
    // The same through STAGES_TO_BUILD.
    refused(
        "stage-id-setting",
        Bad {
            args: &[b"stages"],
            env: &[("STAGES_TO_BUILD", "0,banana")],
            error: "unknown stage `banana`",
            hint: "stages are 0-2",
            ..Bad::default()
        },
    );
}

#[test]
fn class_05_reversed_range() {
    for (word, error, hint) in [
        ("2-0", "stage range 2-0 is reversed", "write it 0-2"),
        ("stage2-stage1", "stage range stage2-stage1 is reversed", "write it stage1-stage2"),
        ("2-1", "stage range 2-1 is reversed", "write it 1-2"),
    ] {
        refused(
            "reversed-range",
            Bad { args: &[b"stages", word.as_bytes()], error, hint, ..Bad::default() },
        );
    }
}

#[test]
fn class_06_out_of_range_stage_or_range() {
    for word in ["3", "7", "1-5", "0-3", "stage0-stage9", "99999999999999999999999"] {
        refused(
            "out-of-range",
            Bad {
                args: &[b"stages", word.as_bytes()],
                error: &format!("unknown stage `{word}`"),
                hint: "stages are 0-2",
                ..Bad::default()
            },
        );
    }
}

#[test]
fn class_07_stages_dir_missing() {
    for args in [&[&b"dockerfile"[..]][..], &[b"dockerfile", b"--check"], &[b"stages"]] {
        refused(
            "no-stages-dir",
            Bad {
                snippets: &[],
                args,
                error: "stages dir .docker does not exist",
                hint: "create .docker/Dockerfile.stage0, or set STAGES_DIR",
                ..Bad::default()
            },
        );
    }
    refused(
        "no-stages-dir-setting",
        Bad {
            env: &[("STAGES_DIR", "elsewhere")],
            error: "stages dir elsewhere does not exist",
            hint: "set STAGES_DIR",
            ..Bad::default()
        },
    );
}

#[test]
fn class_08_no_snippets() {
    let leftovers: Snippets<'_> = &[
        ("Dockerfile.stage0~", b"FROM a\n"),
        ("Dockerfile.stage0.swp", b"FROM a\n"),
        ("Dockerfile.stage0.orig", b"FROM a\n"),
        ("Dockerfile.stage0.bak", b"FROM a\n"),
        ("README", b"not a snippet\n"),
        ("stage0.Dockerfile", b"FROM a\n"),
        ("generated/Dockerfile.stage0", b"FROM a\n"),
    ];
    for args in [&[&b"dockerfile"[..]][..], &[b"dockerfile", b"--check"], &[b"stages"]] {
        refused(
            "no-snippets",
            Bad {
                snippets: leftovers,
                args,
                error: "no snippets in .docker",
                hint: "add .docker/Dockerfile.stage0",
                ..Bad::default()
            },
        );
    }
}

#[test]
fn class_09_non_utf8_snippet() {
    let latin1: Snippets<'_> =
        &[("Dockerfile.stage0", b"FROM a\n"), ("Dockerfile.stage1", b"RUN echo caf\xe9\n")];
    for args in [&[&b"dockerfile"[..]][..], &[b"dockerfile", b"--check"], &[b"stages", b"0"]] {
        refused(
            "non-utf8",
            Bad {
                snippets: latin1,
                args,
                error: ".docker/Dockerfile.stage1 is not UTF-8 (invalid byte at offset 12)",
                hint: "save the snippet as UTF-8",
                ..Bad::default()
            },
        );
    }
    // A UTF-16 snippet with a byte order mark, as some Windows editors save.
    refused(
        "utf16",
        Bad {
            snippets: &[("Dockerfile.stage0", b"\xff\xfeF\0R\0O\0M\0 \0a\0\n\0")],
            error: ".docker/Dockerfile.stage0 is not UTF-8",
            hint: "save the snippet as UTF-8",
            ..Bad::default()
        },
    );
}

#[test]
fn class_10_non_utf8_snippet_file_name() {
    let project = Project::new("non-utf8-name");
    project.write("Dockerfile", COMMITTED);
    project.write(".docker/Dockerfile.stage0", "FROM a\n");
    let name = OsStr::from_bytes(b"Dockerfile.caf\xe9");
    std::fs::write(project.path(".docker").join(name), "RUN x\n").unwrap();
    let before = project.files();
    project.xtask(&["dockerfile"]).run().error(2, "snippet file name").stderr_has("rename it");
    assert_eq!(std::fs::read(project.path("Dockerfile")).unwrap(), COMMITTED);
    assert_eq!(project.files(), before);
}

#[test]
fn class_11_parser_directive_outside_the_top_of_snippet_0() {
    let cases: &[(Snippets<'_>, &str, &str)] = &[
        (
            &[("Dockerfile.stage0", b"FROM a\n# syntax=docker/dockerfile:1\n")],
            ".docker/Dockerfile.stage0:2: parser directive `syntax` below the top",
            "move `# syntax=docker/dockerfile:1` to the very top of .docker/Dockerfile.stage0",
        ),
        (
            &[("Dockerfile.stage0", b"# a comment first\n# escape=`\nFROM a\n")],
            ".docker/Dockerfile.stage0:2: parser directive `escape` below the top",
            "to the very top",
        ),
        (
            &[("Dockerfile.stage0", b"\n# check=skip=all\nFROM a\n")],
            ".docker/Dockerfile.stage0:2: parser directive `check` below the top",
            "to the very top",
        ),
        (
            &[("Dockerfile.stage0", b"FROM a\n"), ("Dockerfile.stage1", b"# escape=`\nRUN x\n")],
            ".docker/Dockerfile.stage1:1: parser directive `escape` in a snippet other than the first",
            "move `# escape=`` to the top of .docker/Dockerfile.stage0",
        ),
        (
            &[
                ("Dockerfile.stage0", b"# syntax=docker/dockerfile:1\nFROM a\n"),
                ("Dockerfile.stage1", b"RUN x\n"),
                ("Dockerfile.stage2", b"# SYNTAX=docker/dockerfile:1\nRUN y\n"),
            ],
            ".docker/Dockerfile.stage2:1: parser directive `syntax` in a snippet other than the first",
            "to the top of .docker/Dockerfile.stage0",
        ),
    ];
    for (snippets, error, hint) in cases {
        refused("directive", Bad { snippets, error, hint, ..Bad::default() });
    }
}

#[test]
fn class_12_invalid_or_repeated_directive() {
    let cases: &[(Snippets<'_>, &str, &str)] = &[
        (
            &[("Dockerfile.stage0", b"# escape=x\nFROM a\n")],
            ".docker/Dockerfile.stage0:1: invalid escape character `x`",
            "use `# escape=\\`",
        ),
        (
            &[("Dockerfile.stage0", b"# check=a\n# CHECK=b\nFROM a\n")],
            ".docker/Dockerfile.stage0:2: parser directive `check` is given twice",
            "keep one of them",
        ),
    ];
    for (snippets, error, hint) in cases {
        refused("bad-directive", Bad { snippets, error, hint, ..Bad::default() });
    }
}

#[test]
fn class_13_stage_name_disagrees_with_its_position() {
    let cases: &[(Snippets<'_>, &str, &str)] = &[
        (
            &[("Dockerfile.stage0", b"FROM a\n"), ("Dockerfile.stage2", b"RUN x\n")],
            ".docker/Dockerfile.stage2 says it is stage 2 but it is stage 1 in natural order",
            "rename it Dockerfile.stage1",
        ),
        (
            &[("Dockerfile.stage1", b"FROM a\n"), ("Dockerfile.stage2", b"RUN x\n")],
            ".docker/Dockerfile.stage1 says it is stage 1 but it is stage 0",
            "rename it Dockerfile.stage0",
        ),
        (
            // `base` sorts before `stage0`, which is then at position 1.
            &[("Dockerfile.base", b"FROM a\n"), ("Dockerfile.stage0", b"RUN x\n")],
            ".docker/Dockerfile.stage0 says it is stage 0 but it is stage 1",
            "rename it Dockerfile.stage1",
        ),
    ];
    for (snippets, error, hint) in cases {
        refused("name-vs-position", Bad { snippets, error, hint, ..Bad::default() });
        refused(
            "name-vs-position-stages",
            Bad { snippets, args: &[b"stages"], error, hint, ..Bad::default() },
        );
    }
}

#[test]
fn class_14_two_snippets_claim_one_stage() {
    let cases: &[(Snippets<'_>, &str)] = &[
        (
            &[
                ("Dockerfile.stage0", b"FROM a\n"),
                ("Dockerfile.stage1", b"RUN x\n"),
                ("Dockerfile.stage01", b"RUN y\n"),
            ],
            ".docker/Dockerfile.stage01 and .docker/Dockerfile.stage1 both say they are stage 1",
        ),
        (
            &[("Dockerfile.stage0", b"FROM a\n"), ("Dockerfile.stage00", b"RUN y\n")],
            ".docker/Dockerfile.stage0 and .docker/Dockerfile.stage00 both say they are stage 0",
        ),
    ];
    for (snippets, error) in cases {
        refused(
            "claimed-twice",
            Bad { snippets, error, hint: "rename one of them", ..Bad::default() },
        );
    }
}

#[test]
fn class_15_from_in_a_later_snippet() {
    let cases: &[(Snippets<'_>, &str)] = &[
        (
            &[("Dockerfile.stage0", b"FROM a\n"), ("Dockerfile.stage1", b"FROM b\nRUN x\n")],
            ".docker/Dockerfile.stage1:1: FROM in stage 1: the chain supplies it",
        ),
        (
            &[("Dockerfile.stage0", b"FROM a\n"), ("Dockerfile.stage1", b"RUN x\n  from b AS c\n")],
            ".docker/Dockerfile.stage1:2: FROM in stage 1",
        ),
        (
            &[
                ("Dockerfile.stage0", b"FROM a\n"),
                ("Dockerfile.stage1", b"RUN x \\\n  && y\n"),
                ("Dockerfile.stage2", b"# comment\r\n\r\nFrom b\r\n"),
            ],
            ".docker/Dockerfile.stage2:3: FROM in stage 2",
        ),
    ];
    for (snippets, error) in cases {
        refused("late-from", Bad { snippets, error, hint: "remove it: stage", ..Bad::default() });
    }
}

#[test]
fn class_16_copy_or_mount_from_a_build_stage_of_another_snippet() {
    let stage0: &[u8] = b"FROM a AS builder\nRUN make\nFROM b AS runtime\n";
    for (later, error) in [
        (&b"COPY --from=builder /out /app\n"[..], ".docker/Dockerfile.stage1:1: `builder` names a build stage of .docker/Dockerfile.stage0"),
        (b"RUN true\nCOPY --from=BUILDER /out /app\n", ".docker/Dockerfile.stage1:2: `BUILDER` names a build stage"),
        (b"COPY --from=0 /out /app\n", ".docker/Dockerfile.stage1:1: `0` names a build stage"),
        (b"ADD --from=builder /out /app\n", ".docker/Dockerfile.stage1:1: `builder` names a build stage"),
        (b"RUN --mount=type=bind,from=builder,target=/b true\n", ".docker/Dockerfile.stage1:1: `builder` names a build stage"),
        (b"RUN --mount=type=cache,target=/c,from=runtime true\n", ".docker/Dockerfile.stage1:1: `runtime` names a build stage"),
    ] {
        refused(
            "copy-from",
            Bad {
                snippets: &[("Dockerfile.stage0", stage0), ("Dockerfile.stage1", later)],
                error,
                hint: "copy what you need into the image in the snippet that declares the build stage",
                ..Bad::default()
            },
        );
    }
}

#[test]
fn class_17_first_snippet_without_from() {
    refused(
        "no-from",
        Bad {
            snippets: &[("Dockerfile.stage0", b"RUN x\n"), ("Dockerfile.stage1", b"RUN y\n")],
            error: ".docker/Dockerfile.stage0 has no FROM",
            hint: "add `FROM <base image>`",
            ..Bad::default()
        },
    );
}

#[test]
fn class_18_snippet_ends_inside_an_instruction() {
    let cases: &[(Snippets<'_>, &str, &str)] = &[
        (
            &[("Dockerfile.stage0", b"FROM a\nRUN x \\\n"), ("Dockerfile.stage1", b"RUN y\n")],
            ".docker/Dockerfile.stage0:2: the snippet ends inside a continued RUN instruction",
            "remove the trailing",
        ),
        (
            &[("Dockerfile.stage0", b"FROM a\n"), ("Dockerfile.stage1", b"RUN <<EOF\necho\n")],
            ".docker/Dockerfile.stage1:1: heredoc `EOF` is never terminated",
            "end it with a line that is exactly `EOF`",
        ),
    ];
    for (snippets, error, hint) in cases {
        refused("ends-inside", Bad { snippets, error, hint, ..Bad::default() });
    }
}

#[test]
fn class_19_invalid_image_reference() {
    let values = [
        "App",
        "ns/app;touch pwned",
        "$(touch pwned)",
        "`touch pwned`",
        "ns/app && touch pwned",
        "ns/app|touch pwned",
        "ns/app'\"",
        "a b",
        "ns/app\ntouch pwned",
        "ns/app@sha256:00",
        "ns//app",
        "ns/app:",
        "-app",
    ];
    for value in values {
        for args in [&[&b"dockerfile"[..]][..], &[b"stages"], &[b"stages", b"0", b"--dry-run"]] {
            refused(
                "bad-image",
                Bad {
                    args,
                    env: &[("DOCKER_IMAGE", value)],
                    error: "invalid image reference",
                    hint: "set DOCKER_IMAGE to a name such as",
                    ..Bad::default()
                },
            );
        }
    }
    // The value is named (with the default tag it would get), and so are
    // where it came from and the offending part.
    refused(
        "bad-image-named",
        Bad {
            env: &[("DOCKER_IMAGE", "ns/app;touch pwned")],
            error: "invalid image reference `ns/app;touch pwned` (from DOCKER_IMAGE): `app;touch pwned` is not a valid name component",
            hint: "DOCKER_IMAGE",
            ..Bad::default()
        },
    );
    for (name, value, error) in [
        (
            "DOCKER_IMAGE_TAG",
            "$(touch pwned)",
            "invalid image reference `bad-image-tag:$(touch pwned)`",
        ),
        ("DOCKER_IMAGE_TAG", "a;touch pwned", "invalid image reference"),
        ("A_GIT_PROJECT", "app;touch pwned", "(from A_GIT_NAMESPACE/A_GIT_PROJECT)"),
    ] {
        refused(
            "bad-image-tag",
            Bad {
                args: &[b"stages"],
                env: &[(name, value)],
                error,
                hint: "set DOCKER_IMAGE",
                ..Bad::default()
            },
        );
    }
}

#[test]
fn class_20_secret_build_arg_after_double_dash() {
    for (args, name) in [
        (&[&b"stages"[..], b"--", b"--build-arg", b"DB_PASSWORD=hunter2"][..], "DB_PASSWORD"),
        (&[b"stages", b"0", b"--", b"--build-arg=github_token=x"], "github_token"),
        (&[b"stages", b"--", b"--no-cache", b"--build-arg", b"My_Api_Key"], "My_Api_Key"),
        (&[b"stages", b"--", b"--build-arg", b"SSH_PRIVATE_KEY=x"], "SSH_PRIVATE_KEY"),
        (&[b"stages", b"--", b"--build-arg", b"aws_secret_access=x"], "aws_secret_access"),
        (&[b"stages", b"--", b"--build-arg", b"npm_passwd=x"], "npm_passwd"),
        (&[b"stages", b"--", b"--build-arg", b"GIT_CREDENTIALS=x"], "GIT_CREDENTIALS"),
        (&[b"stages", b"--dry-run", b"--", b"--build-arg", b"TOKEN=x"], "TOKEN"),
        (&[b"verify", b"--", b"--build-arg", b"TOKEN=x"], "TOKEN"),
    ] {
        refused(
            "secret-passthrough",
            Bad {
                args,
                error: &format!(
                    "build arg {name} (from the arguments after --) looks like a secret"
                ),
                hint: "pass secrets when the container starts; --allow-secret-args builds anyway",
                ..Bad::default()
            },
        );
    }
}

#[test]
fn class_21_secret_build_arg_from_docker_build_args() {
    for (value, name) in [
        ("--build-arg DB_PASSWORD=hunter2", "DB_PASSWORD"),
        ("--network host --build-arg=github_token=x", "github_token"),
        ("--build-arg 'API_KEY=a b'", "API_KEY"),
        ("--build-arg \"Secret_Thing\"", "Secret_Thing"),
    ] {
        for args in [&[&b"stages"[..]][..], &[b"stages", b"1", b"--dry-run"]] {
            refused(
                "secret-setting",
                Bad {
                    args,
                    env: &[("DOCKER_BUILD_ARGS", value)],
                    error: &format!(
                        "build arg {name} (from DOCKER_BUILD_ARGS) looks like a secret"
                    ),
                    hint: "--allow-secret-args",
                    ..Bad::default()
                },
            );
        }
    }
}

#[test]
fn class_22_unterminated_quote_in_docker_build_args() {
    for (value, why) in [
        ("--label 'a b", "unterminated single quote"),
        ("--label \"a b", "unterminated double quote"),
        ("--label \"a \\\"", "unterminated double quote"),
        ("--no-cache \\", "backslash at the end"),
    ] {
        refused(
            "build-args-quote",
            Bad {
                args: &[b"stages"],
                env: &[("DOCKER_BUILD_ARGS", value)],
                error: &format!("DOCKER_BUILD_ARGS cannot be split into words: {why}"),
                hint: "close the quote",
                ..Bad::default()
            },
        );
    }
}

#[test]
fn class_23_engine_program_missing() {
    for (program, args) in [
        ("/nonexistent/docker", &[&b"stages"[..]][..]),
        ("/nonexistent/docker", &[b"stages", b"1", b"--dry-run"]),
        ("no-such-engine-xtask", &[b"stages", b"0"]),
        ("docker; touch pwned", &[b"stages"]),
        ("/nonexistent/docker", &[b"status"]),
    ] {
        refused(
            "engine-missing",
            Bad {
                args,
                env: &[("DOCKER", program)],
                error: &format!("engine program `{program}` not found"),
                hint: "set DOCKER to the engine program",
                ..Bad::default()
            },
        );
    }
}

#[test]
fn class_24_engine_unreachable() {
    // An engine program that answers like a docker CLI whose daemon is down.
    let project = Project::new("engine-down-bin");
    project.write(
        "docker",
        "#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' >&2\nexit 1\n",
    );
    let program = project.path("docker");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let program = program.to_string_lossy().to_string();
    // A stage whose parent the run does not build: the engine is asked which
    // images exist before anything is written.
    refused(
        "engine-down",
        Bad {
            args: &[b"stages", b"2"],
            env: &[("DOCKER", &program)],
            error: "the container engine is not reachable",
            hint: "start it",
            ..Bad::default()
        },
    );
    // A run from stage 0 skips that call (it costs a process on every run);
    // the first build's failure finds the engine gone, and the answer is the
    // same: exit 2, the engine named, no build summary.
    let project = Project::new("engine-down-from-zero");
    project.stages(&["FROM busybox", "RUN one"]);
    let out = project
        .xtask(&["stages"])
        .env("DOCKER", &program)
        .run()
        .error(2, "the container engine is not reachable")
        .stderr_has("start it");
    assert!(!out.stderr().contains("outcome"), "no summary for an engine that is not there");
}

#[test]
fn class_25_non_utf8_argument() {
    for args in [&[&b"stages"[..], b"\xff"][..], &[b"stages", b"--", b"--label", b"\xfe"]] {
        refused(
            "non-utf8-arg",
            Bad { args, error: "is not UTF-8", hint: "in UTF-8", ..Bad::default() },
        );
    }
}

#[test]
fn class_26_no_gen_without_a_chain() {
    refused(
        "no-gen",
        Bad {
            args: &[b"stages", b"1"],
            env: &[("NO_GEN", "1")],
            error: "NO_GEN is set but .docker/generated/Dockerfile.stage0 cannot be read",
            hint: "run without NO_GEN once",
            ..Bad::default()
        },
    );
}
