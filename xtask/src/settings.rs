//! The settings: the environment variables users of the shell version already
//! set, else the team's settings file `.docker/stages.env`, else the defaults.
//! Read once; an empty value counts as unset, as `${VAR:-default}` does in the
//! script.
//!
//! The settings layer: it reads the environment and the files it is pointed
//! at (the settings file, a deploy env script), and imports nothing but
//! `util`. Everything else reads settings through [`Settings`].

pub(crate) mod deploy_env;
pub(crate) mod env_file;
mod sh_tokens;

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use anyhow::Result;

use crate::util::exit::input_error;
use crate::util::shell_words;

/// Every setting, in the order the help lists them. The one list: the settings
/// file accepts these and no other name, vendor migrates these, and the tests
/// clear these from the developer's environment.
pub(crate) const NAMES: [&str; 12] = [
    "STAGES_DIR",
    "DOCKER_IMAGE",
    "DOCKER_IMAGE_TAG",
    "A_GIT_NAMESPACE",
    "A_GIT_PROJECT",
    "DOCKER_BUILD_ARGS",
    "A_ENV_NAME",
    "STAGES_TO_BUILD",
    "NO_GEN",
    "NO_STAGES_BUILD",
    "NO_FULL_BUILD",
    "DOCKER",
];

/// The team's settings file, relative to the project root. It does not follow
/// `STAGES_DIR`, which it may itself set.
pub(crate) const FILE: &str = ".docker/stages.env";

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
    /// The environment over the project's settings file over the defaults.
    /// A bad settings file is refused here, before anything is written or run.
    pub(crate) fn load(root: &Path) -> Result<Settings> {
        let file = read_file(root)?;
        Ok(Settings::layered(&file))
    }

    /// The environment (a non-empty value wins) over `file`'s values.
    pub(crate) fn layered(file: &BTreeMap<String, String>) -> Settings {
        Settings::from_lookup(|name| {
            std::env::var(name).ok().filter(|v| !v.is_empty()).or_else(|| file.get(name).cloned())
        })
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

    /// The build words every build of the project gets from the settings:
    /// `--build-arg APP_ENV_NAME=<A_ENV_NAME>`, then `DOCKER_BUILD_ARGS`.
    pub(crate) fn build_words(&self) -> Result<Vec<String>> {
        let mut words = Vec::new();
        if let Some(env_name) = &self.env_name {
            words.push("--build-arg".to_string());
            words.push(format!("APP_ENV_NAME={env_name}"));
        }
        words.extend(self.docker_build_args()?);
        Ok(words)
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

/// The settings in `root`'s settings file, checked; none when it does not exist.
pub(crate) fn read_file(root: &Path) -> Result<BTreeMap<String, String>> {
    let path = root.join(FILE);
    let unreadable = |err: std::io::Error| {
        input_error(
            format!("{FILE}: cannot read it: {err}"),
            "fix the file's permissions, or remove it",
        )
    };
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        // A dangling symlink is a file someone meant to be there: say so.
        Err(err) if matches!(err.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            if path.symlink_metadata().is_ok() {
                return Err(unreadable(err));
            }
            return Ok(BTreeMap::new());
        }
        Err(err) if path.is_dir() => {
            return Err(input_error(
                format!("{FILE}: is a directory, not a settings file ({err})"),
                format!(
                    "remove it, or make it a file of KEY=VALUE lines; it may set {}",
                    NAMES.join(", ")
                ),
            ))
        }
        Err(err) => return Err(unreadable(err)),
    };
    let text = String::from_utf8(bytes).map_err(|err| {
        let at = err.utf8_error().valid_up_to();
        let bytes = err.as_bytes();
        let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
        let column = 1 + at - bytes[..at].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        input_error(
            format!("{FILE}:{line}: not UTF-8 (invalid byte at column {column})"),
            "save the settings file as UTF-8",
        )
    })?;
    check(&text)
        .map_err(|(line, message, hint)| input_error(format!("{FILE}:{line}: {message}"), hint))
}

/// The values of a settings file's text, or the line that is wrong, why, and
/// what to do.
pub(crate) fn check(text: &str) -> Result<BTreeMap<String, String>, (usize, String, String)> {
    let entries = env_file::parse(text).map_err(|e| {
        (
            e.line,
            e.message,
            "fix that line: KEY=VALUE, as in docker compose's env files".to_string(),
        )
    })?;
    let mut values = BTreeMap::new();
    let mut lines: BTreeMap<&str, usize> = BTreeMap::new();
    for entry in &entries {
        if !NAMES.contains(&entry.key.as_str()) {
            let nearest = nearest(&entry.key)
                .map(|name| format!(" (did you mean `{name}`?)"))
                .unwrap_or_default();
            return Err((
                entry.line,
                format!("unknown setting `{}`{nearest}", entry.key),
                format!("the settings are: {}", NAMES.join(", ")),
            ));
        }
        if let Some(first) = lines.insert(&entry.key, entry.line) {
            return Err((
                entry.line,
                format!("`{}` is set twice, on lines {first} and {}", entry.key, entry.line),
                "keep one of the two lines".to_string(),
            ));
        }
        values.insert(entry.key.clone(), entry.value.clone());
    }
    Ok(values)
}

/// The known setting closest to a misspelt `name`, if one is close enough to
/// be what was meant.
pub(crate) fn nearest(name: &str) -> Option<&'static str> {
    let upper = name.to_ascii_uppercase();
    NAMES
        .iter()
        .map(|known| (distance(&upper, known), *known))
        .filter(|(d, known)| *d <= 2.max(known.len() / 4))
        .min()
        .map(|(_, known)| known)
}

/// Levenshtein distance: edits that turn `a` into `b`.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn every_known_name_is_read() {
        let default = format!("{:?}", Settings::from_lookup(|_| None));
        for name in NAMES {
            let set = Settings::from_lookup(|n| (n == name).then(|| "x".to_string()));
            assert_ne!(format!("{set:?}"), default, "{name} is accepted but never read");
        }
    }

    #[test]
    fn a_settings_file_gives_known_settings() {
        let values = check("# team\nexport DOCKER_IMAGE=ns/app\nNO_GEN=\n").unwrap();
        assert_eq!(values.get("DOCKER_IMAGE").map(String::as_str), Some("ns/app"));
        assert_eq!(values.get("NO_GEN").map(String::as_str), Some(""));
    }

    #[test]
    fn unknown_names_are_refused_with_the_nearest_one() {
        let (line, message, hint) = check("A_ENV_NAME=x\nDOCKER_IMAG=ns/app\n").unwrap_err();
        assert_eq!(line, 2);
        assert_eq!(message, "unknown setting `DOCKER_IMAG` (did you mean `DOCKER_IMAGE`?)");
        assert!(hint.contains("STAGES_DIR"), "{hint}");
        let (_, message, _) = check("COMPOSE_PROJECT_NAME=x").unwrap_err();
        assert_eq!(message, "unknown setting `COMPOSE_PROJECT_NAME`");
    }

    #[test]
    fn nearest_names() {
        assert_eq!(nearest("DOCKER_IMAG"), Some("DOCKER_IMAGE"));
        assert_eq!(nearest("docker_image_tag"), Some("DOCKER_IMAGE_TAG"));
        assert_eq!(nearest("STAGE_DIR"), Some("STAGES_DIR"));
        assert_eq!(nearest("NO_FULL_BUILDS"), Some("NO_FULL_BUILD"));
        assert_eq!(nearest("PATH"), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn a_name_given_twice_names_both_lines() {
        let (line, message, _) = check("DOCKER=podman\n\nDOCKER=docker\n").unwrap_err();
        assert_eq!((line, message.as_str()), (3, "`DOCKER` is set twice, on lines 1 and 3"));
    }

    #[test]
    fn syntax_errors_carry_their_line() {
        let (line, message, _) = check("A_ENV_NAME=x\nDOCKER_IMAGE='open\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(message.contains("unterminated single quote"), "{message}");
    }
}
