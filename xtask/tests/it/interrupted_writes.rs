//! Issue 7, point 3: interrupted writes. `xtask dockerfile` is killed with
//! SIGKILL at random moments while it regenerates a few hundred snippets, many
//! times; after every kill the main Dockerfile and each chain file is, whole,
//! either the old or the new content. Temp files a killed run leaves behind
//! are never taken for snippets, and are removed once stale.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::Project;

const STAGES: usize = 300;
const ITERATIONS: usize = 100;
const TEMP_SUFFIX: &str = ".xtask-tmp";
const IMAGE: &str = "xtask-test/killed";

/// A small xorshift generator: reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn from_time_or_env() -> Rng {
        let seed =
            std::env::var("XTASK_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(
                || SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1,
            );
        println!("seed {seed} (XTASK_KILL_SEED={seed} repeats this run)");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The snippets of one variant: the two differ in every file, and in length.
fn write_snippets(project: &Project, variant: usize) {
    let word = ["old", "new-and-longer"][variant];
    for n in 0..STAGES {
        let text = if n == 0 {
            format!("FROM busybox\nARG VARIANT={word}\nENV S0={word}\n")
        } else {
            let extra =
                if variant == 1 { format!("LABEL stage{n}=\"{word}\"\n") } else { String::new() };
            format!(
                "# stage {n}, {word}\nENV S{n}={word}\nRUN echo {n} {word} \\\n  && test -n \"$VARIANT\"\n{extra}"
            )
        };
        project.snippet(&format!("Dockerfile.stage{n}"), &text);
    }
}

/// `xtask dockerfile` in `root`, as a pre-commit hook would start it.
fn dockerfile(root: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .arg("dockerfile")
        .args(args)
        .current_dir(root)
        .env_remove("CARGO_MANIFEST_DIR")
        .env_remove("STAGES_DIR")
        .env("DOCKER_IMAGE", IMAGE)
        .env("GIT_CEILING_DIRECTORIES", root.parent().unwrap())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

fn is_temp(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap();
    name.starts_with('.') && name.ends_with(TEMP_SUFFIX)
}

/// The generated files (main Dockerfile, chain, `.gitignore`), temp files and
/// the project lock (an empty file, never rewritten) aside.
fn outputs(project: &Project) -> BTreeMap<String, Vec<u8>> {
    generated(project.files())
}

fn generated(files: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    files
        .into_iter()
        .filter(|(rel, _)| {
            (rel == "Dockerfile" || rel.starts_with(".docker/generated/"))
                && !is_temp(rel)
                && rel != ".docker/generated/.lock"
        })
        .collect()
}

fn temps(project: &Project) -> Vec<String> {
    project.files().into_keys().filter(|rel| is_temp(rel)).collect()
}

#[test]
fn sigkill_at_random_moments_never_tears_a_file() {
    let started = Instant::now();
    let mut rng = Rng::from_time_or_env();
    let project = Project::new("killed");

    // Both complete outputs, from runs left to finish, and how long a run takes.
    let mut expected = Vec::new();
    let mut longest = Duration::ZERO;
    for variant in [0, 1] {
        write_snippets(&project, variant);
        let t = Instant::now();
        assert!(dockerfile(&project.root, &[]).status().unwrap().success());
        longest = longest.max(t.elapsed());
        expected.push(outputs(&project));
    }
    assert_eq!(
        expected[0].len(),
        STAGES + 3,
        "the Dockerfile, the chain, .gitignore and the digest of the Dockerfile last written"
    );
    assert_eq!(expected[0].keys().collect::<Vec<_>>(), expected[1].keys().collect::<Vec<_>>());
    for (rel, old) in &expected[0] {
        if rel != ".docker/generated/.gitignore" {
            assert_ne!(old, &expected[1][rel], "{rel} must differ between the variants");
        }
    }
    // Kills land in 0..window; the window follows the machine's load, so that
    // about half of them hit a running regeneration.
    let mut window = (longest.as_micros() as u64).max(1_000);
    println!("a full regeneration takes {longest:?}; kills start in 0..{window}us");

    let (mut killed_running, mut mixed, mut most_temps) = (0, 0, 0);
    for i in 0..ITERATIONS {
        let variant = (i + 1) % 2;
        write_snippets(&project, variant);
        let delay = Duration::from_micros(rng.below(window));
        let mut child = dockerfile(&project.root, &[]).spawn().unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            killed_running += 1;
            window = window * 11 / 10;
        } else {
            window = (window * 9 / 10).max(1_000);
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let files = project.files();
        let names: Vec<String> = files.keys().cloned().collect();
        let now = generated(files);
        assert_eq!(
            now.keys().collect::<Vec<_>>(),
            expected[0].keys().collect::<Vec<_>>(),
            "iteration {i} (delay {delay:?}): a generated file is missing or unexpected"
        );
        let mut seen = [false, false];
        for (rel, bytes) in &now {
            let which = expected.iter().position(|e| &e[rel] == bytes);
            match which {
                Some(v) => seen[v] |= expected[1 - v][rel] != *bytes,
                None => panic!(
                    "iteration {i} (delay {delay:?}): {rel} is torn: neither the old nor the new content ({} bytes):\n{}",
                    bytes.len(),
                    String::from_utf8_lossy(bytes)
                ),
            }
        }
        if seen == [true, true] {
            mixed += 1;
        }
        // Anything else in the project is a snippet, a temp file or the lock.
        for rel in &names {
            assert!(
                now.contains_key(rel)
                    || rel.starts_with(".docker/Dockerfile.stage")
                    || is_temp(rel)
                    || rel == ".docker/generated/.lock",
                "iteration {i}: unexpected file {rel}"
            );
        }
        most_temps = most_temps.max(names.iter().filter(|rel| is_temp(rel)).count());
    }
    println!(
        "{ITERATIONS} kills: {killed_running} while running, {mixed} left old and new files side by side, at most {most_temps} temp files left; final window {window}us"
    );
    assert!(
        killed_running >= ITERATIONS / 4 && mixed >= ITERATIONS / 10,
        "too few kills landed while the tool wrote ({killed_running} while running, {mixed} mid-write): the test proves nothing"
    );

    // The next clean run: the snippets are what they are, and no temp file is
    // taken for one.
    let last = (ITERATIONS) % 2;
    let before = temps(&project);
    println!("temp files left by killed runs: {}", before.len());
    let out = project.xtask(&["dockerfile"]).env("DOCKER_IMAGE", IMAGE).run().ok();
    assert!(
        out.stdout().contains(&format!("({STAGES} snippets from .docker)")),
        "{}",
        out.stdout()
    );
    assert_eq!(outputs(&project), expected[last], "a clean run after the kills");
    project.xtask(&["dockerfile", "--check"]).env("DOCKER_IMAGE", IMAGE).run().ok();
    let main = project.read("Dockerfile");
    assert!(!main.contains(TEMP_SUFFIX), "a temp file was read as a snippet");
    // Their writers are gone, so the clean run removed them.
    assert_eq!(temps(&project), Vec::<String>::new(), "temp files of killed runs were left");
    assert_eq!(outputs(&project), expected[last]);
    println!("done in {:?}", started.elapsed());
}

/// Temp files named as the tool names them, left in every folder it writes to
/// (even when the stages dir is the project root), are never read as snippets:
/// fresh ones are left alone, stale ones removed.
#[test]
fn leftover_temp_files_are_never_snippets() {
    for stages_dir in [".docker", "."] {
        let project = Project::new("leftovers");
        let dir = |rel: &str| {
            if stages_dir == "." {
                rel.to_string()
            } else {
                format!("{stages_dir}/{rel}")
            }
        };
        project.write(&dir("Dockerfile.stage0"), "FROM busybox\n");
        project.write(&dir("Dockerfile.stage1"), "RUN one\n");
        let evil = "FROM evil\nRUN touch pwned\n";
        // Named after a live process (this test), as a run going on would be.
        let live = std::process::id();
        let planted = [
            format!(".Dockerfile.{live}.0.xtask-tmp"),
            dir(&format!(".Dockerfile.stage1.{live}.1.xtask-tmp")),
            dir(&format!("generated/.Dockerfile.stage0.{live}.2.xtask-tmp")),
            dir(&format!("generated/.Dockerfile.stage7.{live}.3.xtask-tmp")),
        ];
        for rel in &planted {
            project.write(rel, evil);
        }
        // Named after a process that is gone: a killed run's.
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        gone.wait().unwrap();
        let dead = [
            format!(".Dockerfile.{}.0.xtask-tmp", gone.id()),
            dir(&format!("generated/.Dockerfile.stage0.{}.1.xtask-tmp", gone.id())),
        ];
        for rel in &dead {
            project.write(rel, evil);
        }
        let run = || {
            let out = project
                .xtask(&["dockerfile"])
                .env("STAGES_DIR", stages_dir)
                .env("DOCKER_IMAGE", IMAGE)
                .run()
                .ok();
            assert!(out.stdout().contains("(2 snippets from"), "{}", out.stdout());
            let main = project.read("Dockerfile");
            assert!(!main.contains("evil") && !main.contains(TEMP_SUFFIX), "{main}");
        };
        run();
        for rel in &planted {
            assert!(project.exists(rel), "a fresh temp file ({rel}) may belong to a live run");
        }
        for rel in &dead {
            assert!(!project.exists(rel), "the writer of {rel} is gone: it must be removed");
        }
        project
            .xtask(&["dockerfile", "--check"])
            .env("STAGES_DIR", stages_dir)
            .env("DOCKER_IMAGE", IMAGE)
            .run()
            .ok();
        let old = SystemTime::now() - Duration::from_secs(120);
        for rel in &planted {
            fs::File::options()
                .write(true)
                .open(project.path(rel))
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        run();
        let left: Vec<&String> = planted.iter().filter(|rel| project.exists(rel)).collect();
        // The tool writes in the project root and the chain folder; a temp
        // file in the stages dir proper is not one of its own.
        let own: Vec<&&String> =
            left.iter().filter(|rel| stages_dir == "." || !rel.starts_with(".docker/.D")).collect();
        assert!(own.is_empty(), "stale temp files were left ({stages_dir}): {own:?}");
    }
}
