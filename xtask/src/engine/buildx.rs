//! Docker 23 and later build with buildx, through whichever buildx builder is
//! active. A builder of the `docker` driver builds inside the engine and sees
//! its images; the others (`docker-container`, `kubernetes`, `remote`, what
//! `docker/setup-buildx-action` makes the default in CI) build elsewhere, and
//! would look up the chain's `FROM <image>:<tag>_stage<N>` in a registry. They
//! are refused before the first build.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Result;

use crate::util::exit::input_error;

/// The builder `docker buildx inspect` reports as active.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Builder {
    pub(crate) name: String,
    pub(crate) driver: String,
}

/// The name and driver of the builder that `docker buildx inspect` printed
/// (its first `Name:` and `Driver:` lines: the node lines come later).
pub(crate) fn parse_inspect(text: &str) -> Option<Builder> {
    let field = |key: &str| {
        text.lines().find_map(|line| line.strip_prefix(key)).map(|value| value.trim().to_string())
    };
    Some(Builder { name: field("Name:")?, driver: field("Driver:")? })
}

/// The refusal for a builder that cannot see the engine's images, if it is one.
pub(crate) fn refusal(builder: &Builder) -> Option<anyhow::Error> {
    (builder.driver != "docker").then(|| {
        input_error(
            format!(
                "the buildx builder `{}` (driver {}) cannot see this engine's images: each stage's `FROM <image>:<tag>_stage<N>` would be looked up in a registry",
                builder.name, builder.driver
            ),
            "build with the engine's own builder: `docker buildx use default`, or BUILDX_BUILDER=default; in GitHub Actions, give docker/setup-buildx-action `driver: docker`",
        )
    })
}

/// Whether `docker build` of the engine program `program` goes through
/// buildx: a docker client (not podman), BuildKit not turned off with
/// `DOCKER_BUILDKIT=0`, and the buildx plugin where the docker CLI looks for
/// plugins. A client that finds no plugin builds with its own builder.
pub(crate) fn in_use(program: &Path) -> bool {
    let podman =
        program.file_name().is_some_and(|name| name.to_string_lossy().starts_with("podman"));
    if podman || buildkit_off(std::env::var("DOCKER_BUILDKIT").ok().as_deref()) {
        return false;
    }
    plugin_dirs().iter().any(|dir| dir.join("docker-buildx").is_file())
}

/// `DOCKER_BUILDKIT` read as the docker CLI reads it (Go's `ParseBool`).
fn buildkit_off(value: Option<&str>) -> bool {
    matches!(value, Some("0" | "f" | "F" | "false" | "FALSE" | "False"))
}

/// Where the docker CLI looks for plugins: the config folder's
/// `cli-plugins`, then the system folders.
fn plugin_dirs() -> Vec<PathBuf> {
    let config = std::env::var_os("DOCKER_CONFIG")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".docker")));
    let system = [
        "/usr/local/lib/docker/cli-plugins",
        "/usr/local/libexec/docker/cli-plugins",
        "/usr/lib/docker/cli-plugins",
        "/usr/libexec/docker/cli-plugins",
    ];
    config.map(|dir| dir.join("cli-plugins")).into_iter().chain(system.map(PathBuf::from)).collect()
}

/// The builder the build words name (`--builder NAME` or `--builder=NAME`),
/// which wins over `BUILDX_BUILDER` and the default.
pub(crate) fn named_builder(words: &[String]) -> Option<&str> {
    let mut words = words.iter().map(String::as_str);
    let mut named = None;
    while let Some(word) = words.next() {
        if word == "--builder" {
            named = words.next();
        } else if let Some(name) = word.strip_prefix("--builder=") {
            named = Some(name);
        }
    }
    named
}

/// `docker buildx inspect`, started early (it takes a tenth of a second) and
/// read before the first build. `BUILDX_BUILDER` reaches it from the
/// environment, as it reaches the builds.
pub(crate) struct Check(Child);

impl Check {
    pub(crate) fn start(program: &Path, builder: Option<&str>) -> Option<Check> {
        let child = Command::new(program)
            .args(["buildx", "inspect"])
            .args(builder)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .ok()?;
        Some(Check(child))
    }

    /// Refuses a builder that cannot see the engine's images, or a
    /// `BUILDX_BUILDER` that names none. Any other failure to ask (the engine
    /// does not answer, say) is left to the build, which reports it.
    pub(crate) fn finish(self) -> Result<()> {
        let Ok(out) = self.0.wait_with_output() else { return Ok(()) };
        if !out.status.success() {
            let said = String::from_utf8_lossy(&out.stderr);
            let said = said.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
            if said.contains("no builder") {
                return Err(input_error(
                    format!("buildx has no such builder: {said}"),
                    "set BUILDX_BUILDER to a builder `docker buildx ls` lists, or unset it",
                ));
            }
            return Ok(());
        }
        match parse_inspect(&String::from_utf8_lossy(&out.stdout)).as_ref().and_then(refusal) {
            Some(refused) => Err(refused),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `docker buildx inspect` printed for a builder of each driver
    /// (buildx 0.13, Docker 26), with `BUILDX_BUILDER` naming it.
    fn captured(driver: &str) -> &'static str {
        match driver {
            "docker" => include_str!("../../tests/fixtures/buildx/docker.txt"),
            "docker-container" => include_str!("../../tests/fixtures/buildx/docker-container.txt"),
            "kubernetes" => include_str!("../../tests/fixtures/buildx/kubernetes.txt"),
            "remote" => include_str!("../../tests/fixtures/buildx/remote.txt"),
            _ => unreachable!(),
        }
    }

    #[test]
    fn builders_that_cannot_see_local_images_are_refused_by_name_and_driver() {
        for (driver, name) in [
            ("docker-container", "probe-dc"),
            ("kubernetes", "probe-k8s"),
            ("remote", "probe-remote"),
        ] {
            let builder = parse_inspect(captured(driver)).unwrap();
            assert_eq!(builder, Builder { name: name.into(), driver: driver.into() });
            let err = refusal(&builder).unwrap();
            assert_eq!(
                err.to_string(),
                format!("the buildx builder `{name}` (driver {driver}) cannot see this engine's images: each stage's `FROM <image>:<tag>_stage<N>` would be looked up in a registry")
            );
        }
    }

    #[test]
    fn the_engines_own_builder_is_accepted() {
        let builder = parse_inspect(captured("docker")).unwrap();
        assert_eq!(builder, Builder { name: "default".into(), driver: "docker".into() });
        assert!(refusal(&builder).is_none());
        assert_eq!(parse_inspect("ERROR: no builder \"x\" found\n"), None);
    }

    #[test]
    fn a_builder_named_in_the_build_words_is_the_one_asked_about() {
        let words = |text: &str| text.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(named_builder(&words("--pull --builder farm --no-cache")), Some("farm"));
        assert_eq!(named_builder(&words("--builder=farm")), Some("farm"));
        assert_eq!(named_builder(&words("--builder a --builder=b")), Some("b"));
        assert_eq!(named_builder(&words("--build-arg BUILDER=x")), None);
    }

    #[test]
    fn docker_buildkit_is_read_as_the_cli_reads_it() {
        for off in ["0", "false", "False", "f"] {
            assert!(buildkit_off(Some(off)), "{off}");
        }
        for on in [None, Some("1"), Some("true"), Some("")] {
            assert!(!buildkit_off(on), "{on:?}");
        }
    }
}
