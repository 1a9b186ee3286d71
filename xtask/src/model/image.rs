//! The image name and tag every stage tag derives from, following the shell
//! script's settings, and the reference grammar docker itself enforces.

use std::path::Path;

use anyhow::Result;

use crate::settings::Settings;
use crate::util::exit::input_error;

/// Room a tag must leave for the `_stage<N>` suffix (docker allows 128 characters).
const STAGE_SUFFIX_ROOM: usize = "_stage9999".len();

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Image {
    /// Repository, with its registry if any: `host:5000/ns/app`.
    pub(crate) name: String,
    pub(crate) tag: String,
}

impl Image {
    /// The full image: `<image>:<tag>`.
    pub(crate) fn full(&self) -> String {
        format!("{}:{}", self.name, self.tag)
    }

    /// The image of stage `n`: `<image>:<tag>_stage<n>`.
    pub(crate) fn stage(&self, n: usize) -> String {
        format!("{}:{}", self.name, self.stage_tag(n))
    }

    /// The tag alone of stage `n`, as the engine lists it: `<tag>_stage<n>`.
    pub(crate) fn stage_tag(&self, n: usize) -> String {
        format!("{}_stage{n}", self.tag)
    }

    /// The registry the image is pushed to and pulled from: its name's
    /// first component when that is a host, else Docker Hub.
    pub(crate) fn registry(&self) -> &str {
        match self.name.split_once('/') {
            Some((first, _)) if is_domain(first) => first,
            _ => "docker.io",
        }
    }

    /// The repository in the one form labels record and names are compared
    /// in (see [`canonical`]).
    pub(crate) fn repository(&self) -> &str {
        canonical(&self.name)
    }
}

/// Docker Hub's names in their short form, as engines list them:
/// `docker.io/ns/app` and `index.docker.io/ns/app` are `ns/app`;
/// `docker.io/library/app` and `library/app` are `app`. Other names are
/// already in that form.
pub(crate) fn canonical(repository: &str) -> &str {
    let hub = ["docker.io/", "index.docker.io/"]
        .iter()
        .find_map(|domain| repository.strip_prefix(domain))
        .unwrap_or(repository);
    match hub.strip_prefix("library/") {
        Some(official) if !official.contains('/') => official,
        _ => hub,
    }
}

/// Whether the repository an engine lists (`listed`) is `repository`, in
/// whatever spelling either uses. Podman lists a local unqualified `ns/app`
/// as `localhost/ns/app`.
pub(crate) fn same_repository(listed: &str, repository: &str) -> bool {
    let (listed, repository) = (canonical(listed), canonical(repository));
    listed == repository || listed.strip_prefix("localhost/") == Some(repository)
}

/// The image from the settings, else the git remote `origin` (whose URL
/// `origin` reads, only when needed), else the project folder's name.
pub(crate) fn resolve(
    settings: &Settings,
    root: &Path,
    origin: impl FnOnce() -> Option<String>,
) -> Result<Image> {
    let default_tag = || settings.docker_image_tag.clone().unwrap_or_else(|| "latest".to_string());
    let (name, tag, source) = if let Some(image) = &settings.docker_image {
        let (name, tag) = split_tag(image).map_err(|why| invalid("DOCKER_IMAGE", image, &why))?;
        let tag = tag.map(str::to_string).unwrap_or_else(default_tag);
        (name.to_string(), tag, "DOCKER_IMAGE")
    } else if let Some(project) = &settings.git_project {
        let name = match &settings.git_namespace {
            Some(ns) => format!("{ns}/{project}"),
            None => project.clone(),
        };
        (name.to_ascii_lowercase(), default_tag(), "A_GIT_NAMESPACE/A_GIT_PROJECT")
    } else {
        let name = origin().as_deref().and_then(remote_path).unwrap_or_else(|| {
            sanitize(&root.file_name().map(|n| n.to_string_lossy()).unwrap_or_default())
        });
        (name, default_tag(), "the git remote or folder name")
    };
    // A value the user set is shown as set, not with a default tag added.
    let shown = settings.docker_image.clone().unwrap_or_else(|| format!("{name}:{tag}"));
    check_name(&name).map_err(|why| invalid(source, &shown, &why))?;
    check_tag(&tag).map_err(|why| invalid(source, &shown, &why))?;
    Ok(Image { name, tag })
}

fn invalid(source: &str, value: &str, why: &str) -> anyhow::Error {
    input_error(
        format!("invalid image reference `{value}` (from {source}): {why}"),
        "set DOCKER_IMAGE to a name such as registry.example.com:5000/team/app:v1",
    )
}

/// Splits `name[:tag]`; a digest is refused because stage tags derive from a tag.
fn split_tag(reference: &str) -> Result<(&str, Option<&str>), String> {
    if reference.contains('@') {
        return Err("a digest cannot name the stage images; give a tag".to_string());
    }
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    Ok(match reference[last_slash..].rfind(':') {
        Some(i) => (&reference[..last_slash + i], Some(&reference[last_slash + i + 1..])),
        None => (reference, None),
    })
}

/// Docker's repository grammar: an optional `host[:port]` then lower-case
/// path components.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.len() > 255 {
        return Err("longer than 255 characters".to_string());
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let first = parts[0];
    if parts.len() > 1 && is_domain(first) {
        check_domain(first)?;
        parts.remove(0);
    }
    for part in parts {
        check_component(part)?;
    }
    Ok(())
}

/// Whether `first`, a name's first component followed by another, is a
/// registry host, as docker decides it.
fn is_domain(first: &str) -> bool {
    first.contains(['.', ':'])
        || first == "localhost"
        || first.chars().any(|c| c.is_ascii_uppercase())
}

fn check_domain(domain: &str) -> Result<(), String> {
    let bad = || Err(format!("`{domain}` is not a registry host[:port]"));
    // A bracketed IPv6 address holds colons of its own: the port, if any,
    // follows the closing bracket.
    let (host, port) = match domain.rfind(']') {
        Some(end) if domain.starts_with('[') => match &domain[end + 1..] {
            "" => (domain, None),
            rest => match rest.strip_prefix(':') {
                Some(port) => (&domain[..=end], Some(port)),
                None => return bad(),
            },
        },
        _ => match domain.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        },
    };
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return bad();
        }
    }
    if let Some(ip) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let ok =
            !ip.is_empty() && ip.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        return if ok { Ok(()) } else { bad() };
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if host.split('.').all(label_ok) {
        Ok(())
    } else {
        bad()
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn check_component(part: &str) -> Result<(), String> {
    let bad = || {
        Err(format!("`{part}` is not a valid name component (lower-case letters, digits, and . _ __ - between them)"))
    };
    let bytes = part.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(&bytes[0]) || !alnum(&bytes[bytes.len() - 1]) {
        return bad();
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(&bytes[i]) {
            i += 1;
            continue;
        }
        let sep_len = bytes[i..].iter().take_while(|b| !alnum(b)).count();
        let sep = &part[i..i + sep_len];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-');
        if !ok {
            return bad();
        }
        i += sep_len;
    }
    Ok(())
}

/// `[\w][\w.-]{0,127}`, leaving room for `_stage<N>`.
pub(crate) fn check_tag(tag: &str) -> Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let ok = tag.starts_with(word) && tag.chars().all(|c| word(c) || c == '.' || c == '-');
    if !ok {
        return Err(format!(
            "tag `{tag}` may hold only letters, digits, _ . - and must not start with . or -"
        ));
    }
    if tag.len() + STAGE_SUFFIX_ROOM > 128 {
        return Err(format!(
            "tag `{tag}` is too long to add _stage<N> to it (128 characters at most)"
        ));
    }
    Ok(())
}

/// `ns/project` from a remote URL (ssh, scp-like, http or https; nested groups
/// kept), lower-cased; `None` for a local path or `file://` remote.
fn remote_path(url: &str) -> Option<String> {
    let url = url.trim();
    let path = if let Some((scheme, rest)) = url.split_once("://") {
        if scheme.eq_ignore_ascii_case("file") {
            return None;
        }
        rest.split_once('/')?.1
    } else {
        // scp-like `[user@]host:path`; a colon after a slash means a local path.
        let (host, path) = url.split_once(':')?;
        if host.contains('/') || host.is_empty() {
            return None;
        }
        path
    };
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path).trim_matches('/');
    let parts: Vec<String> = path.split('/').filter(|p| !p.is_empty()).map(sanitize).collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Makes a folder or remote path component a valid name component: lower-case,
/// anything docker refuses becomes `-`.
fn sanitize(raw: &str) -> String {
    let lower = raw.to_lowercase();
    let mut out = String::new();
    let mut sep = String::new();
    for c in lower.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if !sep.is_empty() && !out.is_empty() {
                let ok = matches!(sep.as_str(), "." | "_" | "__") || sep.chars().all(|c| c == '-');
                out.push_str(if ok { &sep } else { "-" });
            }
            sep.clear();
            out.push(c);
        } else {
            sep.push(if matches!(c, '.' | '_' | '-') { c } else { '-' });
        }
    }
    if out.is_empty() {
        "app".to_string()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(vars: &[(&str, &str)], origin: Option<&str>) -> Result<Image> {
        let vars: Vec<(String, String)> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let settings = Settings::from_lookup(|name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        });
        resolve(&settings, Path::new("/work/My Project_"), || origin.map(str::to_string))
    }

    fn full(vars: &[(&str, &str)], origin: Option<&str>) -> String {
        image(vars, origin).unwrap().full()
    }

    #[test]
    fn docker_image_with_registry_port_and_tag() {
        let img = image(
            &[("DOCKER_IMAGE", "host:5000/ns/app:v1"), ("DOCKER_IMAGE_TAG", "ignored")],
            None,
        )
        .unwrap();
        assert_eq!((img.name.as_str(), img.tag.as_str()), ("host:5000/ns/app", "v1"));
        assert_eq!(img.stage(2), "host:5000/ns/app:v1_stage2");
        assert_eq!(img.stage_tag(2), "v1_stage2");
        assert_eq!(img.registry(), "host:5000");
        assert_eq!(image(&[("DOCKER_IMAGE", "ns/app")], None).unwrap().registry(), "docker.io");
        assert_eq!(full(&[("DOCKER_IMAGE", "host:5000/ns/app")], None), "host:5000/ns/app:latest");
        assert_eq!(
            full(&[("DOCKER_IMAGE", "ns/app"), ("DOCKER_IMAGE_TAG", "dev")], None),
            "ns/app:dev"
        );
        assert_eq!(full(&[("DOCKER_IMAGE", "localhost/app")], None), "localhost/app:latest");
        assert_eq!(full(&[("DOCKER_IMAGE", "[::1]:5000/app")], None), "[::1]:5000/app:latest");
    }

    #[test]
    fn bracketed_ipv6_registries_with_or_without_a_port() {
        assert_eq!(full(&[("DOCKER_IMAGE", "[::1]/app")], None), "[::1]/app:latest");
        assert_eq!(full(&[("DOCKER_IMAGE", "[::1]:5000/app:v1")], None), "[::1]:5000/app:v1");
        assert_eq!(
            full(&[("DOCKER_IMAGE", "[2001:db8::1]/ns/app")], None),
            "[2001:db8::1]/ns/app:latest"
        );
        for bad in
            ["[::1]x/app", "[::1]:/app", "[]/app", "[::1]:50000000/app", "[fe80::1%eth0]/app"]
        {
            assert!(image(&[("DOCKER_IMAGE", bad)], None).is_err(), "{bad}");
        }
    }

    #[test]
    fn namespace_and_project() {
        assert_eq!(
            full(&[("A_GIT_NAMESPACE", "MyCorp"), ("A_GIT_PROJECT", "Site")], None),
            "mycorp/site:latest"
        );
        assert_eq!(full(&[("A_GIT_PROJECT", "site")], Some("git@x:a/b.git")), "site:latest");
    }

    #[test]
    fn git_remotes() {
        let cases = [
            ("git@gitlab.com:MyCorp/MyProject.git", "mycorp/myproject"),
            ("ssh://git@gitlab.com:2222/group/sub/project.git", "group/sub/project"),
            ("https://gitlab.com/group/sub/sub2/project", "group/sub/sub2/project"),
            ("http://user@host/ns/app.git/", "ns/app"),
        ];
        for (url, name) in cases {
            assert_eq!(full(&[], Some(url)), format!("{name}:latest"), "{url}");
        }
        for local in ["/srv/git/app.git", "../app", "file:///srv/app.git", "C/x:y"] {
            assert_eq!(full(&[], Some(local)), "my-project:latest", "{local}");
        }
        assert_eq!(full(&[], None), "my-project:latest");
    }

    #[test]
    fn invalid_references_are_refused() {
        for bad in [
            "Ns/App",
            "ns/app:",
            "a b",
            "app;rm -rf /",
            "$(id)/app",
            "`x`",
            "ns//app",
            "app@sha256:ab",
            "-app",
            "ns/app:-x",
            "host:port/app",
        ] {
            let err = image(&[("DOCKER_IMAGE", bad)], None).unwrap_err();
            assert!(err.to_string().starts_with("invalid image reference"), "{bad}: {err}");
        }
        let long = format!("app:{}", "t".repeat(120));
        assert!(image(&[("DOCKER_IMAGE", &long)], None).is_err());
    }

    #[test]
    fn docker_hub_names_in_every_spelling_are_one_repository() {
        for (spelling, short) in [
            ("docker.io/ns/app", "ns/app"),
            ("index.docker.io/ns/app", "ns/app"),
            ("docker.io/library/app", "app"),
            ("library/app", "app"),
            ("index.docker.io/library/app", "app"),
            ("ns/app", "ns/app"),
            ("app", "app"),
            // Nested paths under library/ and other registries keep their names.
            ("docker.io/library/ns/app", "library/ns/app"),
            ("registry.example.com/library/app", "registry.example.com/library/app"),
            ("localhost:5000/app", "localhost:5000/app"),
        ] {
            assert_eq!(canonical(spelling), short, "{spelling}");
            assert!(same_repository(spelling, short) && same_repository(short, spelling));
        }
        assert!(same_repository("localhost/ns/app", "docker.io/ns/app"), "podman's local prefix");
        assert!(!same_repository("ns/app", "ns/app2"));
        assert!(!same_repository("other.io/ns/app", "ns/app"));
        let img = image(&[("DOCKER_IMAGE", "docker.io/library/app:v1")], None).unwrap();
        assert_eq!(
            (img.stage(0).as_str(), img.repository()),
            ("docker.io/library/app:v1_stage0", "app")
        );
    }

    #[test]
    fn sanitized_names() {
        assert_eq!(sanitize(".tmpAbC_123"), "tmpabc_123");
        assert_eq!(sanitize("a..b--c__d___e"), "a-b--c__d-e");
        assert_eq!(sanitize("%%%"), "app");
    }
}
