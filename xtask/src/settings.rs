//! The environment variables users of the shell version already set. Read once;
//! an empty value counts as unset, as `${VAR:-default}` does in the script.

use anyhow::Result;

use crate::exit::input_error;
use crate::shell_words;

#[derive(Debug, Default, Clone)]
pub(crate) struct Settings {
    /// Snippet folder relative to the project root (`STAGES_DIR`, default `.docker`).
    pub(crate) stages_dir: String,
    pub(crate) docker_image: Option<String>,
    pub(crate) docker_image_tag: Option<String>,
    pub(crate) git_namespace: Option<String>,
    pub(crate) git_project: Option<String>,
    docker_build_args: Option<String>,
    /// `A_ENV_NAME`, passed as `--build-arg APP_ENV_NAME=...`.
    pub(crate) env_name: Option<String>,
    pub(crate) stages_to_build: Option<String>,
    pub(crate) no_gen: bool,
    pub(crate) no_stages_build: bool,
    pub(crate) no_full_build: bool,
    /// The engine program (`DOCKER`, default `docker`).
    pub(crate) engine: String,
}

impl Settings {
    pub(crate) fn from_env() -> Settings {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Settings {
        let get = |name: &str| lookup(name).filter(|value| !value.is_empty());
        Settings {
            stages_dir: get("STAGES_DIR").unwrap_or_else(|| ".docker".to_string()),
            docker_image: get("DOCKER_IMAGE"),
            docker_image_tag: get("DOCKER_IMAGE_TAG"),
            git_namespace: get("A_GIT_NAMESPACE"),
            git_project: get("A_GIT_PROJECT"),
            docker_build_args: get("DOCKER_BUILD_ARGS"),
            env_name: get("A_ENV_NAME"),
            stages_to_build: get("STAGES_TO_BUILD"),
            no_gen: get("NO_GEN").is_some(),
            no_stages_build: get("NO_STAGES_BUILD").is_some(),
            no_full_build: get("NO_FULL_BUILD").is_some(),
            engine: get("DOCKER").unwrap_or_else(|| "docker".to_string()),
        }
    }

    /// The words of `DOCKER_BUILD_ARGS`, split as a shell would, never run by one.
    pub(crate) fn docker_build_args(&self) -> Result<Vec<String>> {
        let Some(raw) = &self.docker_build_args else { return Ok(Vec::new()) };
        shell_words::split(raw).map_err(|why| {
            input_error(
                format!("DOCKER_BUILD_ARGS cannot be split into words: {why}"),
                "close the quote, or escape it with a backslash",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Settings;

    #[test]
    fn empty_means_unset() {
        let s = Settings::from_lookup(|name| match name {
            "STAGES_DIR" | "NO_GEN" => Some(String::new()),
            "NO_FULL_BUILD" => Some("1".into()),
            "DOCKER_BUILD_ARGS" => Some(r#"--network host --label "a b""#.into()),
            _ => None,
        });
        assert_eq!(s.stages_dir, ".docker");
        assert!(!s.no_gen && s.no_full_build);
        assert_eq!(s.engine, "docker");
        assert_eq!(s.docker_build_args().unwrap(), ["--network", "host", "--label", "a b"]);
    }
}
