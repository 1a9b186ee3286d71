//! Names that look like they hold a secret. Build args end up in the image
//! history, so such values belong at container start, not in a build.

const MARKERS: [&str; 7] =
    ["PASSWORD", "PASSWD", "SECRET", "TOKEN", "PRIVATE_KEY", "API_KEY", "CREDENTIAL"];

pub(crate) fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    MARKERS.iter().any(|marker| name.contains(marker))
}

#[cfg(test)]
mod tests {
    use super::looks_secret;

    #[test]
    fn markers_in_any_case() {
        for name in ["DB_PASSWORD", "github_token", "Api_Key", "ssh_private_key", "AWS_SECRET"] {
            assert!(looks_secret(name), "{name}");
        }
        for name in ["APP_ENV_NAME", "BASE_IMAGE", "TOKENIZER_X"] {
            assert_eq!(looks_secret(name), name.contains("TOKEN"), "{name}");
        }
    }
}
