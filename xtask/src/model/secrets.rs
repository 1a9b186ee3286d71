//! Names that look like they hold a secret. Build args end up in the image
//! history, so such values belong at container start, not in a build.

use anyhow::Result;

use crate::util::exit::input_error;

const MARKERS: [&str; 7] =
    ["PASSWORD", "PASSWD", "SECRET", "TOKEN", "PRIVATE_KEY", "API_KEY", "CREDENTIAL"];

pub(crate) fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    MARKERS.iter().any(|marker| name.contains(marker))
}

/// Refuses (exit 2) the build args among `words` (from `source`, as the
/// error names it) whose names look like secrets, in every spelling of
/// `--build-arg`.
pub(crate) fn refuse_secrets(words: &[String], source: &str) -> Result<()> {
    let mut words = words.iter();
    while let Some(word) = words.next() {
        let arg = match word.strip_prefix("--build-arg") {
            Some("") => words.next().map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        let Some(arg) = arg else { continue };
        let name = arg.split_once('=').map_or(arg, |(name, _)| name);
        if looks_secret(name) {
            return Err(input_error(
                format!("build arg {name} (from {source}) looks like a secret, and build args are recorded in the image history"),
                "pass secrets when the container starts; --allow-secret-args builds anyway",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{looks_secret, refuse_secrets};

    #[test]
    fn markers_in_any_case() {
        for name in ["DB_PASSWORD", "github_token", "Api_Key", "ssh_private_key", "AWS_SECRET"] {
            assert!(looks_secret(name), "{name}");
        }
        for name in ["APP_ENV_NAME", "BASE_IMAGE", "TOKENIZER_X"] {
            assert_eq!(looks_secret(name), name.contains("TOKEN"), "{name}");
        }
    }

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn secret_build_args_in_every_spelling() {
        for args in [
            "--build-arg DB_PASSWORD=x",
            "--build-arg=github_token=x",
            "--build-arg API_KEY",
            "--pull --build-arg a=1 --build-arg MY_SECRET=2",
        ] {
            let err = refuse_secrets(&words(args), "DOCKER_BUILD_ARGS").unwrap_err().to_string();
            assert!(err.contains("(from DOCKER_BUILD_ARGS) looks like a secret"), "{args}: {err}");
        }
        assert!(
            refuse_secrets(&words("--build-arg APP_ENV_NAME=prod --label TOKEN=x"), "x").is_ok()
        );
    }
}
