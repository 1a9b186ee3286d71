//! Asking a registry whether it holds an image, without pulling it.

use anyhow::Result;

use super::{is_podman, Engine};

impl Engine<'_> {
    /// Whether the registry holds `reference`, asked without pulling
    /// (`manifest inspect`). `--insecure` lets it reach a plain-http registry
    /// such as a loopback one; the pull that follows a `Found` is the
    /// engine's, with its own checks. Podman cannot ask this way.
    pub(crate) fn lookup(&self, reference: &str) -> Result<Lookup> {
        if is_podman(&self.path) {
            return Ok(Lookup::Unknown("podman cannot ask a registry without pulling".into()));
        }
        let answer = self.query(&["manifest", "inspect", "--insecure", reference])?;
        Ok(match answer.ok {
            true => Lookup::Found,
            false if missing(&answer.error) => Lookup::Missing,
            false => Lookup::Unknown(answer.error),
        })
    }
}

/// What a registry says of a reference.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    Found,
    Missing,
    /// It could not be asked, and why.
    Unknown(String),
}

/// Whether an engine's error says the registry answered that it has no such
/// image (and not that it could not be reached).
pub(crate) fn missing(error: &str) -> bool {
    let error = error.to_ascii_lowercase();
    ["no such manifest", "manifest unknown", "not found"].iter().any(|m| error.contains(m))
        && !["connection refused", "no such host", "timeout", "i/o timeout"]
            .iter()
            .any(|m| error.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_image_is_told_from_a_registry_that_does_not_answer() {
        for said in [
            "no such manifest: 127.0.0.1:5000/ns/app:stage2-0123",
            "Error response from daemon: manifest for 127.0.0.1:5000/ns/app:stage2-0123 not found: manifest unknown: manifest unknown",
        ] {
            assert!(missing(said), "{said}");
        }
        for said in [
            "failed to configure transport: error pinging v2 registry: Get \"https://127.0.0.1:5998/v2/\": dial tcp 127.0.0.1:5998: connect: connection refused",
            "Error response from daemon: Get \"http://127.0.0.1:5000/v2/\": dial tcp 127.0.0.1:5000: connect: connection refused",
            "Error response from daemon: Get \"https://registry.example/v2/\": dial tcp: lookup registry.example: no such host",
            "unauthorized: authentication required",
        ] {
            assert!(!missing(said), "{said}");
        }
    }
}
